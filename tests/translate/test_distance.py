"""Distance to the target: the oracle reads each pair's mean target, the gap closed is scaled
between the mean predictor (0) and the oracle (1)."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.translate.distance import distance_table, gap_closed, pair_means


def test_pair_means_average_each_pairs_clips_only() -> None:
    rows = [{"object": "pen", "action": "up"}, {"object": "knife", "action": "up"},
            {"object": "pen", "action": "up"}]  # fmt: skip
    targets = np.array([[[1.0, 3.0]], [[5.0, 5.0]], [[3.0, 1.0]]])  # (3, T=1, D=2)
    out = pair_means(targets, rows)
    assert out.shape == targets.shape
    np.testing.assert_allclose(out[0], [[2.0, 2.0]])
    np.testing.assert_allclose(out[2], [[2.0, 2.0]])
    np.testing.assert_allclose(out[1], [[5.0, 5.0]])


def test_gap_closed_runs_from_the_baseline_to_the_oracle() -> None:
    assert gap_closed(model=25.0, baseline=25.0, oracle=5.0) == pytest.approx(0.0)
    assert gap_closed(model=5.0, baseline=25.0, oracle=5.0) == pytest.approx(1.0)
    assert gap_closed(model=10.0, baseline=25.0, oracle=5.0) == pytest.approx(0.75)
    assert gap_closed(model=30.0, baseline=25.0, oracle=5.0) == pytest.approx(-0.25)
    assert gap_closed(model=3.0, baseline=4.0, oracle=4.0) is None


def test_distance_table_gives_mean_and_std_over_runs() -> None:
    def run(model: float) -> dict:
        dist = {"model": model, "train mean": 20.0, "random train clip": 40.0, "oracle": 0.0}
        return {"heldout": {"clips": 7, "cosine_x100": dist, "gap_closed": 1 - model / 20.0}}

    table = distance_table([run(2.0), run(4.0)])
    assert "| heldout | 7 | model | 3.0 ± 1.0 | 0.85 ± 0.05 |" in table
    assert "| heldout | 7 | train mean | 20.0 ± 0.0 |  |" in table

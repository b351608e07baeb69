"""The sync study: evaluation draws, accuracy on known embeddings, and a tiny end-to-end run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xmodal.evaluation.studies.sync import (
    EnergyBaseline,
    SyncStudyConfig,
    draw_samples,
    evaluate_embeddings,
    random_baseline,
    run_study,
)


def test_draws_are_valid_and_reproducible():
    draws = draw_samples([80, 100, 40], max_offset=15, k_max=15, per_clip=20, seed=0)
    assert draws == draw_samples([80, 100, 40], 15, 15, 20, 0)
    assert draws[2] == []  # 40 windows: too short for any offset with K = 15
    for n, clip in zip([80, 100], draws[:2], strict=False):
        assert len(clip) == 20
        for d, start in clip:
            assert -15 <= d <= 15 and 0 <= start <= n - abs(d) - 30 - 15


def test_perfect_and_random_embeddings(rng):
    perfect = [(e, e.copy()) for e in (rng.standard_normal((90, 16)) for _ in range(5))]
    draws = draw_samples([90] * 5, 15, 15, 10, seed=1)
    result = evaluate_embeddings(perfect, draws, (5, 15), 15)
    assert result["accuracy"] == {5: 1.0, 15: 1.0} and result["n"] == 50
    noise = [(rng.standard_normal((90, 16)), rng.standard_normal((90, 16))) for _ in range(5)]
    chance = evaluate_embeddings(noise, draws, (5, 15), 15)["accuracy"]
    assert max(chance.values()) < 0.35
    rand = random_baseline(draws, (5, 15), 15, seed=0)
    assert 0.0 <= rand[5] < 0.35 and rand[5] == rand[15]


def test_energy_baseline_windows():
    import torch

    model = EnergyBaseline()
    video = torch.zeros(2, 5, 8, 8)
    video[0, 2] = -50.0  # the third frame is the darkest (most open)
    v = model.encode_video(video)
    assert v.shape == (2, 5) and v[0].argmax() == 2
    torch.testing.assert_close(v[1], torch.zeros(5))  # a still mouth carries no information
    audio = torch.zeros(3, 1, 13, 20)
    audio[:, 0, 0, 8:12] = 1.0  # energy in the third frame's MFCC frames
    assert model.encode_audio(audio)[0].argmax() == 2


@pytest.mark.slow
def test_quick_study_end_to_end(tmp_path):
    from xmodal.data.talking import TalkingConfig, generate

    data = tmp_path / "talk"
    generate(
        data,
        TalkingConfig(size=12, seed=0, speakers=6, resolution=48, min_words=3, max_words=4),
        workers=2,
        progress=False,
    )
    cfg = SyncStudyConfig.quick(seeds=2, steps=3, objectives=("multiway", "syncnet"))
    out = tmp_path / "report"
    results = run_study(data, out, cfg, progress=False)
    saved = json.loads((out / "results.json").read_text())
    assert saved["ks"] == [5, 7, 9, 11, 13, 15]
    assert saved["dataset"]["test_speakers"] == 1 and saved["dataset"]["train_speakers"] == 4
    mw = saved["objectives"]["multiway"]["accuracy"]["5"]
    assert len(mw["values"]) == 2 and mw["mean"] == pytest.approx(np.mean(mw["values"]))
    assert 0.0 <= mw["mean"] <= 1.0
    assert saved["baselines"]["random"]["chance"] == pytest.approx(91 / 961)
    assert set(saved["targets"]) == {"multiway_k5", "multiway_k15"}
    assert saved["n_draws"] == 2 * cfg.samples_per_clip
    report = (out / "report.md").read_text()
    assert "| Multi-way matching |" in report and "| SyncNet |" in report and "K=15" in report
    assert (out / "accuracy_vs_k.png").stat().st_size > 1000
    # a rerun reuses the finished runs instead of training again
    weights = out / "runs" / "multiway-s1" / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    again = run_study(data, out, cfg, progress=False)
    assert weights.stat().st_mtime_ns == stamp
    assert (
        again["objectives"]["multiway"]["accuracy"] == results["objectives"]["multiway"]["accuracy"]
    )

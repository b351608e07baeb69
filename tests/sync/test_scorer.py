"""The lip-sync scorer on toy clips whose audio bands are a noisy function of the lips."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.sync.scorer import (
    LipScorer,
    audio_inputs,
    circular_nulls,
    default_scorer,
    stack_context,
    video_inputs,
    with_change,
)
from xmodal.sync.train import LipTrainConfig, fit_lip_scorer

pytest.importorskip("torch")


def toy_clip(seed: int, n: int = 160, lead: int = 0):
    """Smooth random lips (n, 9) and bands (n, 40) carrying the lips; the audio leads by
    ``lead`` frames (the sound of lip frame i sits at audio frame i - lead)."""
    rng = np.random.default_rng(seed)
    raw = rng.standard_normal((n + 40, 9))
    kernel = np.ones(3) / 3
    lips = np.stack([np.convolve(raw[:, c], kernel, "same") for c in range(9)], 1)  # (n + 40, 9)
    mix = np.random.default_rng(99).standard_normal((9, 40))  # the same "voice" for every clip
    bands = lips @ mix + 0.5 * rng.standard_normal((n + 40, 40))
    return lips[20 : 20 + n], bands[20 + lead : 20 + lead + n]


@pytest.fixture(scope="module")
def scorer() -> LipScorer:
    clips = [toy_clip(s) for s in range(6)]
    return fit_lip_scorer(clips, LipTrainConfig(steps=60, seed=0), threshold=3.0)


def test_inputs_shapes_and_context():
    x = np.arange(12, dtype=float).reshape(6, 2)
    ctx = stack_context(x, 1)
    assert ctx.shape == (6, 6)
    np.testing.assert_array_equal(ctx[0], [0, 1, 0, 1, 2, 3])  # the edge repeats
    np.testing.assert_array_equal(ctx[3], [4, 5, 6, 7, 8, 9])
    z = with_change(x)
    assert (
        z.shape == (6, 4) and np.allclose(z[:, :2].mean(0), 0) and np.allclose(z[:, :2].std(0), 1)
    )
    lips = np.ones((10, 9))
    lips[4] = np.nan
    v, ok = video_inputs(lips)
    assert v.shape == (10, 90) and np.isfinite(v).all()
    assert ok.tolist() == [True, True, False, False, False, False, False, True, True, True]
    assert audio_inputs(np.zeros((7, 40))).shape == (7, 400)


@pytest.mark.parametrize("lead", [-6, 0, 4])
def test_a_trained_scorer_recovers_an_unseen_clips_offset(scorer, lead):
    ev = scorer.evidence(*toy_clip(100, lead=lead))
    assert ev.offset == lead
    assert ev.curve.shape == (31,) and int(np.argmax(ev.curve)) == lead + 15
    assert ev.confidence > 3.0 and ev.windows == 160 - 30


def test_unrelated_audio_gets_a_low_confidence(scorer):
    lips, _ = toy_clip(100)
    _, other = toy_clip(101)
    assert scorer.evidence(lips, other).confidence < scorer.evidence(*toy_clip(100)).confidence / 3


def test_nulls_rotate_the_audio_by_a_second_or_more(scorer):
    v, a, keep = scorer.embed(*toy_clip(100))
    null = circular_nulls(v, a, keep, 15, count=5)
    assert null.shape == (5,) and (null >= 0).all()
    assert circular_nulls(v[:40], a[:40], keep[:10], 15).size == 0  # too short to rotate


def test_save_and_load_round_trip(scorer, tmp_path):
    path = scorer.save(tmp_path / "m" / "lips")
    assert path.name == "lips.npz" and (tmp_path / "m" / "lips.json").is_file()
    back = LipScorer.load(path)
    assert back.threshold == 3.0 and back.max_offset == 15 and back.info["windows"] > 0
    lips, bands = toy_clip(100, lead=2)
    np.testing.assert_allclose(back.evidence(lips, bands).curve, scorer.evidence(lips, bands).curve)


def test_a_subset_of_lip_signals(tmp_path):
    clips = [toy_clip(s) for s in range(4)]
    subset = fit_lip_scorer(clips, LipTrainConfig(steps=30, signals=(0, 7)), threshold=2.0)
    assert subset.video_w.shape == (20, 8)  # 2 signals x 2 (value, change) x 5 frames
    back = LipScorer.load(subset.save(tmp_path / "lips"))
    assert back.signals == (0, 7)
    assert back.evidence(*toy_clip(100, lead=3)).offset == 3
    with pytest.raises(ValueError, match="signals"):
        LipTrainConfig(signals=(9,))


def test_too_short_for_any_window(scorer):
    lips, bands = toy_clip(100, n=30)
    with pytest.raises(ValueError, match="no 0.2 s window"):
        scorer.evidence(lips, bands)


def test_the_shipped_model_loads():
    shipped = default_scorer()
    assert shipped.video_w.shape == (90, 8) and shipped.audio_w.shape == (400, 8)
    assert len(shipped.info["trained_on"]) == 19 and 0 < shipped.threshold < 10
    assert not any(n.startswith(("tk19", "tk26", "tk27", "tk28", "tk29", "tk30"))
                   for n in shipped.info["trained_on"])  # fmt: skip
    t = shipped.thresholds()  # a floor below the threshold: low-confidence answers exist
    assert 0 < t.floor < t.clear == shipped.threshold and t.agree_bonus == 0.5

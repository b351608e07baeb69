"""The real-footage sync study: injection by trimming, scoring, flags, methods on toy clips."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.evaluation.studies.sync_real import (
    SyncRealConfig,
    _confidences,
    _flags,
    _score,
    select_clips,
    shifted,
    swapped,
)
from xmodal.evaluation.studies.sync_real.methods import (
    METHODS,
    ApertureEnergy,
    AudioToLips,
)
from xmodal.sync.clip import LipClip
from xmodal.sync.cues import log_energy


def _clip(n_frames=100, seed=0):
    rng = np.random.default_rng(seed)
    return LipClip("c.mp4", rng.standard_normal((n_frames, 9)).astype(np.float32),
                   (0.1 * rng.standard_normal(n_frames * 640)).astype(np.float32))  # fmt: skip


def test_shifted_trims_audio_or_video():
    clip = _clip()
    lips, bands = shifted(clip, 4)  # the audio leads: its first 4 frames are cut
    assert lips.shape == (100, 9) and bands.shape == (96, 40)
    lips, bands = shifted(clip, -3)  # the audio lags: the first 3 video frames are cut
    assert lips.shape == (97, 9) and bands.shape == (100, 40)
    np.testing.assert_array_equal(lips, clip.lips[3:])
    lips, bands = swapped(clip, _clip(40, seed=1))  # a shorter donor is looped to length
    assert bands.shape == (100, 40)


def test_select_clips_puts_second_set_first(tmp_path):
    for name in ("tk01.mp4", "tk02.mp4", "tk16.mpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    chosen = select_clips(tmp_path, SyncRealConfig(dev=("tk*",), second=("tk16*",)))
    assert [p.name for p in chosen["dev"]] == ["tk01.mp4", "tk02.mp4"]
    assert [p.name for p in chosen["second"]] == ["tk16.mpg"]
    frozen = select_clips(tmp_path, SyncRealConfig(dev=("tk*",), second=("tk1*",),
                                                   frozen=("tk02*", "tk16*")))  # fmt: skip
    assert [p.name for p in frozen["frozen"]] == ["tk02.mp4", "tk16.mpg"]  # frozen wins
    assert [p.name for p in frozen["dev"]] == ["tk01.mp4"] and frozen["second"] == []


def test_score_relative_and_absolute():
    rows = [{"clip": "a", "kind": "shift", "k": k, "offset": k + 2, "confidence": 5.0}
            for k in (-3, 0, 3)]  # fmt: skip
    rows += [{"clip": "b", "kind": "shift", "k": k, "offset": o, "confidence": 1.0}
             for k, o in ((-3, -3), (0, 0), (3, 9))]  # fmt: skip
    s = _score(rows, (-3, 0, 3))
    assert s["relative"] == pytest.approx(5 / 6) and s["absolute"] == pytest.approx(2 / 6)
    assert s["mae_absolute"] == pytest.approx((2 + 2 + 2 + 0 + 0 + 6) / 6)
    assert s["per_clip"]["a"]["est0"] == 2 and s["per_clip"]["b"]["relative"] == pytest.approx(
        2 / 3
    )


def test_flags_and_leave_one_out_confidences():
    rows = [
        {"clip": "a", "kind": "shift", "k": 0, "confidence": 4.0},
        {"clip": "a", "kind": "shift", "k": 3, "confidence": 1.0},
        {"clip": "a", "kind": "swap", "donor": "b", "confidence": 0.5},
        {"clip": "b", "kind": "shift", "k": 0, "confidence": 3.0},
        {"clip": "b", "kind": "swap", "donor": "a", "confidence": 3.5},
    ]
    f = _flags(rows, {"a": 2.0, "b": 2.0})
    assert f["in_sync_matching"] == 1.0 and f["copies_matching"] == pytest.approx(2 / 3)
    assert f["swaps_flagged"] == 0.5 and f["n_swaps"] == 2
    assert f["auc"] == pytest.approx(4 / 6)
    pos, neg = _confidences(rows, exclude="b")
    assert pos == [4.0, 1.0] and neg == []  # every swap involves b


def _toy(seed, n=150, lead=0):
    """Lips whose inner aperture drives the loudness of the audio bands."""
    rng = np.random.default_rng(seed)
    raw = np.convolve(rng.standard_normal(n + 40), np.ones(3) / 3, "same")
    lips = np.zeros((n + 40, 9))
    lips[:, 0] = raw
    lips[:, 4] = raw
    bands = np.log(np.exp(raw)[:, None] * np.ones(40) + 0.05 * rng.random((n + 40, 40)))
    return lips[20 : 20 + n], bands[20 + lead : 20 + lead + n]


@pytest.mark.parametrize("lead", [-5, 0, 7])
def test_correlation_methods_recover_a_toy_offset(lead):
    assert ApertureEnergy(15).estimate(*_toy(0, lead=lead)).offset == lead
    ridge = AudioToLips(15).fit([_toy(s) for s in range(1, 4)])
    est = ridge.estimate(*_toy(0, lead=lead))
    assert est.offset == lead and est.confidence > 3
    assert log_energy(np.log(np.full((2, 40), 0.5))) == pytest.approx(np.log(20.0))


def test_every_method_is_named_and_config_checks():
    assert {"aperture-energy", "multiway", "multiway-pixels"} <= set(METHODS)
    with pytest.raises(ValueError, match="methods"):
        SyncRealConfig(methods=("nope",))
    with pytest.raises(ValueError, match="inside"):
        SyncRealConfig(offsets=(-15, 0))
    assert SyncRealConfig(offsets=(3, -3)).offsets == (-3, 0, 3)  # sorted, 0 added

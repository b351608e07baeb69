"""Offset estimation and sync accuracy on hand-made embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.evaluation.sync import (
    balanced_threshold,
    chance_accuracy,
    frames_to_ms,
    relative_absolute_accuracy,
    roc_curve,
    shift_windows,
    sync_accuracy,
)
from xmodal.sync.offsets import (
    estimate_offset,
    log_softmax_curve,
    null_zscore,
    offset_distances,
    offset_scores,
    pairwise_distances,
    peak_prominence,
    valid_windows,
)


def _audio_leading_by(d: int, n: int = 80, dim: int = 8, seed: int = 0):
    """Video and audio embeddings where the audio leads the video by ``d`` windows:
    the audio window ``i - d`` carries what the video shows at window ``i``."""
    rng = np.random.default_rng(seed)
    content = rng.standard_normal((n + 40, dim))
    video = content[20 : 20 + n]  # video[i] = content[20 + i]
    audio = content[20 + d : 20 + d + n]  # audio[j] = content[20 + d + j]
    # audio[i - d] = content[20 + i] = video[i]
    return video, audio


def test_pairwise_distances_match_brute_force(rng):
    v, a = rng.standard_normal((6, 4)), rng.standard_normal((9, 4))
    expected = np.array([[np.linalg.norm(x - y) for y in a] for x in v])
    np.testing.assert_allclose(pairwise_distances(v, a), expected, atol=1e-9)


def test_offset_distances_layout(rng):
    v, a = rng.standard_normal((40, 3)), rng.standard_normal((40, 3))
    d = offset_distances(v, a, max_offset=5)
    assert d.shape == (40 - 10, 11)
    assert list(valid_windows(40, 40, 5)) == list(range(5, 35))
    # row r is video window 5 + r, column k is offset k - 5: audio window i - (k - 5)
    r, k = 7, 2
    i, o = 5 + r, k - 5
    assert d[r, k] == pytest.approx(np.linalg.norm(v[i] - a[i - o]))


@pytest.mark.parametrize("d", [-12, -3, 0, 1, 7, 15])
def test_injected_offset_is_recovered_with_its_sign(d):
    video, audio = _audio_leading_by(d)
    offset, confidence, curve = estimate_offset(offset_distances(video, audio, 15), k=5)
    assert offset == d  # positive = the audio leads
    assert curve.shape == (31,)
    assert curve[d + 15] == pytest.approx(0.0, abs=1e-6)
    assert confidence == pytest.approx(np.median(curve) - curve.min())
    assert confidence > 1.0


@pytest.mark.parametrize("d", [-9, 0, 4, 15])
def test_shift_windows_injects_the_offset(d):
    video, audio = _audio_leading_by(0)
    v, a = shift_windows(video, audio, d)
    offset, _, _ = estimate_offset(offset_distances(v, a, 15), k=7, start=2)
    assert offset == d


def test_estimate_uses_only_the_k_windows_from_start():
    dists = np.ones((10, 7))
    dists[:, 3] = 0.5  # most rows: offset 0
    dists[4:7, 3] = 1.0
    dists[4:7, 6] = 0.0  # rows 4..6: offset +3
    assert estimate_offset(dists, k=3, start=4)[0] == 3
    assert estimate_offset(dists, k=3, start=0)[0] == 0
    offset, conf, curve = estimate_offset(dists)  # all rows
    assert offset == 0
    np.testing.assert_allclose(curve, dists.mean(0))
    assert conf == pytest.approx(1.0 - 0.65)


def test_estimate_rejects_too_few_windows():
    with pytest.raises(ValueError, match="only 4 are available"):
        estimate_offset(np.zeros((4, 31)), k=5)
    with pytest.raises(ValueError, match="2M\\+1"):
        estimate_offset(np.zeros((4, 30)), k=1)


def test_short_clip_has_no_windows(rng):
    assert offset_distances(
        rng.standard_normal((20, 2)), rng.standard_normal((20, 2)), 15
    ).shape == (
        0,
        31,
    )


def test_sync_accuracy_and_chance():
    assert sync_accuracy([0, 2, -5, 7], [1, 0, -5, 9]) == pytest.approx(0.5)
    assert sync_accuracy([3], [5], tolerance=2) == 1.0
    with pytest.raises(ValueError):
        sync_accuracy([], [])
    # 31 offsets; interior truths have 3 hits, the two ends 2: (29 * 3 + 2 * 2) / 31^2
    assert chance_accuracy(15) == pytest.approx(91 / 961)
    assert chance_accuracy(15, tolerance=0) == pytest.approx(1 / 31)


@pytest.mark.parametrize("d", [-7, 0, 4])
def test_offset_scores_peak_at_the_injected_offset(d):
    video, audio = _audio_leading_by(d, dim=16)
    scores = offset_scores(video, audio, max_offset=10)  # (n, 21)
    n = len(valid_windows(len(video), len(audio), 10))
    assert scores.shape == (n, 21)
    i, k = 3, 10 + d  # row 3 is video window 13; column k is offset d
    assert scores[i, k] == pytest.approx(video[13] @ audio[13 - d])
    curve = log_softmax_curve(scores)
    assert int(np.argmax(curve)) - 10 == d
    assert np.all(curve <= 0) and np.exp(curve).sum() <= 1 + 1e-9


def test_log_softmax_curve_keeps_only_chosen_windows():
    scores = np.array([[0.0, 5.0, 0.0], [9.0, 0.0, 0.0]])
    only_first = log_softmax_curve(scores, np.array([True, False]))
    assert int(np.argmax(only_first)) == 1
    assert only_first[1] == pytest.approx(5 - np.log(np.exp(5) + 2))
    assert np.isnan(log_softmax_curve(scores, np.array([False, False]))).all()
    assert peak_prominence(np.array([0.0, 1.0, 4.0])) == pytest.approx(3.0)


def test_relative_and_absolute_accuracy():
    # a clip published 2 frames off: consistent (relative) but not absolutely right
    rel, ab = relative_absolute_accuracy({-3: -1, 0: 2, 3: 5, 6: 7})
    assert rel == [True, True, True, True] and ab == [False, False, False, True]
    rel, ab = relative_absolute_accuracy({0: 0, 5: None})
    assert rel == [True, False] and ab == [True, False]
    with pytest.raises(ValueError, match="shift 0"):
        relative_absolute_accuracy({1: 1})


def test_roc_and_balanced_threshold():
    roc = roc_curve(np.array([3.0, 4.0, 5.0]), np.array([0.0, 1.0, 2.0]))
    assert roc["auc"] == 1.0 and roc["tpr"][-1] == 1.0 and roc["fpr"][-1] == 1.0
    assert roc_curve(np.array([1.0]), np.array([1.0]))["auc"] == 0.5
    assert balanced_threshold(np.array([3.0, 4.0, 5.0]), np.array([0.0, 1.0, 2.0])) == 2.5
    # cuts at 1.25, 2.5 and 3.75 all reach balanced accuracy 0.75: the widest gap (2 to 3) wins
    t = balanced_threshold(np.array([1.5, 3.0, 4.0, 5.0]), np.array([0.0, 1.0, 2.0, 3.5]))
    assert t == pytest.approx(2.5)
    assert null_zscore(5.0, np.array([1.0, 3.0])) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        null_zscore(1.0, np.array([1.0]))


def test_frames_to_ms():
    assert frames_to_ms(1) == 40.0 and frames_to_ms(-3) == -120.0

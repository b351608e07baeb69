"""Sync accuracy and the studies' measures: pure functions on offsets, signals and scores.

The offset maths a check runs (windows, sign convention, per-offset curves, confidence) is
:mod:`xmodal.sync.offsets`; this module measures methods over many clips: accuracy within a
tolerance, chance, injected shifts, the lip-signal baseline's lag correlations, ROC.
"""

from __future__ import annotations

import numpy as np

from xmodal.sync.offsets import DEFAULT_MAX_OFFSET, FPS


def sync_accuracy(pred: np.ndarray, true: np.ndarray, tolerance: int = 1) -> float:
    """Fraction of predictions within ``tolerance`` frames of the true offset.

    Args:
        pred: (N,) predicted offsets in frames.
        true: (N,) true offsets in frames.
        tolerance: the largest error that still counts as correct (the paper's ±1 frame).

    Returns:
        Accuracy in [0, 1].
    """
    p = np.asarray(pred, dtype=np.float64).ravel()
    t = np.asarray(true, dtype=np.float64).ravel()
    if p.shape != t.shape or p.size == 0:
        raise ValueError(f"pred and true must be equal-length and non-empty: {p.shape} {t.shape}")
    return float(np.mean(np.abs(p - t) <= tolerance))


def shift_windows(
    video_emb: np.ndarray, audio_emb: np.ndarray, offset: int
) -> tuple[np.ndarray, np.ndarray]:
    """Inject a known offset by trimming: the returned pair has true offset ``offset``.

    With ``offset > 0`` the audio is made to lead (its first ``offset`` windows are dropped);
    with ``offset < 0`` it is made to lag (the first ``-offset`` video windows are dropped).
    Trimming instead of padding keeps every window real.

    Args:
        video_emb: (Tv, D) in-sync video embeddings (or any per-window array).
        audio_emb: (Ta, D) in-sync audio embeddings.
        offset: the offset to inject, in frames.

    Returns:
        ``(video, audio)`` views whose pairing at offset ``offset`` is the original one.
    """
    if offset >= 0:
        return video_emb, audio_emb[offset:]
    return video_emb[-offset:], audio_emb


def chance_accuracy(max_offset: int = DEFAULT_MAX_OFFSET, tolerance: int = 1) -> float:
    """Accuracy of a uniformly random offset when the true offsets are uniform over the range.

    Args:
        max_offset: the searched range is ``-max_offset..max_offset``.
        tolerance: frames of error that still count as correct.

    Returns:
        Expected accuracy (``3/31`` in the interior, less at the range ends), averaged over
        true offsets.
    """
    offsets = np.arange(-max_offset, max_offset + 1)
    hits = np.abs(offsets[:, None] - offsets[None, :]) <= tolerance  # (2M+1, 2M+1)
    return float(hits.mean())


def relative_absolute_accuracy(
    estimates: dict[int, int | None], tolerance: int = 1
) -> tuple[list[bool], list[bool]]:
    """Per injected shift ``k``: is ``est(k) - est(0)`` within ``tolerance`` of ``k`` (relative),
    and ``est(k)`` itself (absolute, for clips published in sync)?

    Args:
        estimates: injected shift -> estimated offset (None: no estimate, counted wrong); must
            hold shift 0.

    Returns:
        ``(relative hits, absolute hits)`` in the order of ``sorted(estimates)``.
    """
    if 0 not in estimates:
        raise ValueError("estimates must include the unshifted clip (shift 0)")
    base = estimates[0]
    rel, ab = [], []
    for k in sorted(estimates):
        e = estimates[k]
        rel.append(e is not None and base is not None and abs(e - base - k) <= tolerance)
        ab.append(e is not None and abs(e - k) <= tolerance)
    return rel, ab


def roc_curve(positive: np.ndarray, negative: np.ndarray) -> dict[str, object]:
    """ROC of a score that should be higher for positives.

    Returns:
        ``{"auc", "thresholds", "tpr", "fpr"}``: the area under the curve (ties count half)
        and the curve's points, thresholds decreasing.
    """
    p = np.asarray(positive, dtype=np.float64)
    n = np.asarray(negative, dtype=np.float64)
    if p.size == 0 or n.size == 0:
        raise ValueError("roc_curve needs positives and negatives")
    auc = float(((p[:, None] > n[None, :]) + 0.5 * (p[:, None] == n[None, :])).mean())
    thresholds = np.unique(np.r_[p, n])[::-1]
    tpr = [(p >= t).mean() for t in thresholds]
    fpr = [(n >= t).mean() for t in thresholds]
    return {"auc": auc, "thresholds": thresholds.tolist(), "tpr": tpr, "fpr": fpr}


def balanced_threshold(positive: np.ndarray, negative: np.ndarray) -> float:
    """The threshold (``score >= t`` is positive) that maximises (TPR + TNR) / 2.

    Among equally good thresholds the widest gap is used and the threshold is put halfway
    between the two scores around it.
    """
    p = np.sort(np.asarray(positive, dtype=np.float64))
    n = np.sort(np.asarray(negative, dtype=np.float64))
    if p.size == 0 or n.size == 0:
        raise ValueError("balanced_threshold needs positives and negatives")
    scores = np.unique(np.r_[p, n])
    cuts = np.r_[scores[0] - 1.0, (scores[:-1] + scores[1:]) / 2, scores[-1] + 1.0]
    gaps = np.r_[np.inf, np.diff(scores), np.inf]
    balanced = np.array([((p >= c).mean() + (n < c).mean()) / 2 for c in cuts])
    best = np.flatnonzero(np.isclose(balanced, balanced.max()))
    return float(cuts[best[np.argmax(gaps[best])]])


def frames_to_ms(frames: float) -> float:
    """An offset in 25 fps frames, in milliseconds."""
    return 1000.0 * frames / FPS

"""Audio-visual offset estimation and sync accuracy: pure functions on embedding arrays.

Windows: video window ``i`` is the 5 video frames ``i..i+4`` (25 fps); audio window ``i`` is the
20 MFCC frames ``4i..4i+19`` (100/s), i.e. the same 0.2 s. Both streams give one embedding per
window, ``video_emb (Tv, D)`` and ``audio_emb (Ta, D)``.

Sign convention (the one of the widely used SyncNet tool, ``offset = vshift - argmin``): an
offset ``o`` pairs video window ``i`` with audio window ``i - o``.

- ``o > 0``: the audio **leads** (comes early): the sound of what the lips do at frame ``i`` is
  already in the audio at frame ``i - o``. Fix by delaying the audio ``o`` frames.
- ``o < 0``: the audio **lags** (comes late). Fix by advancing the audio ``-o`` frames.
- one frame is 40 ms at 25 fps.

Confidence is ``median(curve) - min(curve)`` over the ``2 * max_offset + 1`` candidate offsets,
in the units of the embedding distance: 0 means "no offset stands out"; it is comparable only
between runs of the same model.

Unlike the SyncNet tool, which pads the audio with zeros at the clip edges, only video windows
whose every candidate audio window exists are used, so edges never bias the curve.
"""

from __future__ import annotations

import numpy as np

FPS = 25
"""Analysis frame rate: offsets are counted in frames of this rate."""

WINDOW_FRAMES = 5
"""Video frames per window (0.2 s at 25 fps)."""

DEFAULT_MAX_OFFSET = 15
"""Offsets are searched over ``[-15, 15]`` frames (±0.6 s)."""


def pairwise_distances(video_emb: np.ndarray, audio_emb: np.ndarray) -> np.ndarray:
    """Euclidean distance between every video and every audio window.

    Args:
        video_emb: (Tv, D) video window embeddings.
        audio_emb: (Ta, D) audio window embeddings.

    Returns:
        (Tv, Ta) float64 distances.
    """
    v = np.asarray(video_emb, dtype=np.float64)
    a = np.asarray(audio_emb, dtype=np.float64)
    if v.ndim != 2 or a.ndim != 2 or v.shape[1] != a.shape[1]:
        raise ValueError(f"expected (Tv, D) and (Ta, D) embeddings, got {v.shape} and {a.shape}")
    sq = (v**2).sum(1)[:, None] + (a**2).sum(1)[None, :] - 2.0 * v @ a.T  # (Tv, Ta)
    return np.sqrt(np.maximum(sq, 0.0))


def valid_windows(n_video: int, n_audio: int, max_offset: int = DEFAULT_MAX_OFFSET) -> range:
    """Video windows whose every candidate audio window ``i - o`` (``|o| <= max_offset``) exists.

    Args:
        n_video: number of video windows Tv.
        n_audio: number of audio windows Ta.
        max_offset: largest offset searched, in frames.

    Returns:
        ``range(max_offset, min(Tv, Ta - max_offset))`` (empty when the clip is too short).
    """
    return range(max_offset, max(max_offset, min(n_video, n_audio - max_offset)))


def offset_distances(
    video_emb: np.ndarray, audio_emb: np.ndarray, max_offset: int = DEFAULT_MAX_OFFSET
) -> np.ndarray:
    """Distance of each video window to the audio window at every candidate offset.

    Args:
        video_emb: (Tv, D) video window embeddings.
        audio_emb: (Ta, D) audio window embeddings (same window grid as the video).
        max_offset: offsets ``-max_offset..max_offset`` frames are tried.

    Returns:
        (n_windows, 2 * max_offset + 1): row ``r`` is video window ``i = max_offset + r``
        (see :func:`valid_windows`), column ``k`` is offset ``o = k - max_offset``, and the
        entry is ``||video_emb[i] - audio_emb[i - o]||``. ``n_windows`` is 0 when the clip is
        shorter than ``2 * max_offset + 1`` windows.
    """
    if max_offset < 0:
        raise ValueError(f"max_offset must be >= 0, got {max_offset}")
    full = pairwise_distances(video_emb, audio_emb)  # (Tv, Ta)
    rows = np.arange(len(valid_windows(full.shape[0], full.shape[1], max_offset)))
    i = rows + max_offset  # (n,) video windows
    offsets = np.arange(-max_offset, max_offset + 1)  # (2M+1,)
    j = i[:, None] - offsets[None, :]  # (n, 2M+1) audio windows
    return full[i[:, None], j]  # (n, 2M+1)


def estimate_offset(
    dists: np.ndarray, k: int | None = None, start: int = 0
) -> tuple[int, float, np.ndarray]:
    """Average the per-offset distances over ``k`` consecutive windows and pick the minimum.

    Args:
        dists: (n_windows, 2M+1) from :func:`offset_distances`.
        k: number of consecutive windows averaged (the paper's K); None averages all windows.
        start: first row used.

    Returns:
        ``(offset, confidence, curve)``: ``offset = argmin(curve) - M`` frames (the sign
        convention of the module docstring), ``confidence = median(curve) - min(curve)``, and
        ``curve`` (2M+1,) the mean distance at offsets ``-M..M``.

    Raises:
        ValueError: fewer than ``start + k`` windows, or a malformed array.
    """
    d = np.asarray(dists, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] % 2 != 1:
        raise ValueError(f"expected (n_windows, 2M+1) distances, got shape {d.shape}")
    n = d.shape[0] - start if k is None else k
    if n < 1 or start < 0 or start + n > d.shape[0]:
        raise ValueError(
            f"need windows {start}..{start + n - 1} but only {d.shape[0]} are available"
        )
    curve = d[start : start + n].mean(axis=0)  # (2M+1,)
    m = d.shape[1] // 2
    best = int(np.argmin(curve))
    confidence = float(np.median(curve) - curve[best])
    return best - m, confidence, curve


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


# ----------------------------------------------------------------------------- multi-way scores


def offset_scores(
    video_emb: np.ndarray, audio_emb: np.ndarray, max_offset: int = DEFAULT_MAX_OFFSET
) -> np.ndarray:
    """Dot-product score of each video window with the audio window at every candidate offset.

    Same windows and columns as :func:`offset_distances` (row ``r`` is video window
    ``max_offset + r``, column ``k`` offset ``k - max_offset``), but a similarity: higher means
    more alike.

    Args:
        video_emb: (Tv, D) video embeddings.
        audio_emb: (Ta, D) audio embeddings on the same frame grid.
        max_offset: offsets ``-max_offset..max_offset`` frames are tried.

    Returns:
        (n_windows, 2 * max_offset + 1) float64 scores.
    """
    v = np.asarray(video_emb, dtype=np.float64)
    a = np.asarray(audio_emb, dtype=np.float64)
    if v.ndim != 2 or a.ndim != 2 or v.shape[1] != a.shape[1]:
        raise ValueError(f"expected (Tv, D) and (Ta, D) embeddings, got {v.shape} and {a.shape}")
    i = np.asarray(valid_windows(len(v), len(a), max_offset))  # (n,) video windows
    j = i[:, None] - np.arange(-max_offset, max_offset + 1)[None, :]  # (n, 2M+1) audio windows
    return np.einsum("nd,nkd->nk", v[i], a[j]) if len(i) else np.zeros((0, 2 * max_offset + 1))


def log_softmax_curve(scores: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """The multi-way evidence per offset: the log-softmax over offsets, averaged over windows.

    Args:
        scores: (n, 2M+1) from :func:`offset_scores`.
        keep: (n,) bool, the windows to average (default: all).

    Returns:
        (2M+1,) mean log-probability of each offset (higher is likelier); NaN without windows.
    """
    s = np.asarray(scores, dtype=np.float64)
    if keep is not None:
        s = s[np.asarray(keep, dtype=bool)]
    if len(s) == 0:
        return np.full(scores.shape[1], np.nan)
    s = s - s.max(axis=1, keepdims=True)
    logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))  # (n, 2M+1)
    return logp.mean(axis=0)


def peak_prominence(curve: np.ndarray) -> float:
    """``max(curve) - median(curve)``: how far the best offset stands out of a score curve."""
    c = np.asarray(curve, dtype=np.float64)
    return float(np.nanmax(c) - np.nanmedian(c))


def null_zscore(value: float, null: np.ndarray) -> float:
    """How many standard deviations ``value`` lies above a null distribution.

    Args:
        value: the statistic measured on the real pairing.
        null: (n,) the same statistic on pairings known to be unrelated (n >= 2).

    Returns:
        ``(value - mean(null)) / std(null)`` (the std floored at 1e-6).
    """
    n = np.asarray(null, dtype=np.float64)
    if n.size < 2:
        raise ValueError(f"a null distribution needs at least 2 values, got {n.size}")
    return float((value - n.mean()) / max(float(n.std()), 1e-6))


def lag_correlations(
    video_signal: np.ndarray, audio_signal: np.ndarray, max_offset: int = DEFAULT_MAX_OFFSET
) -> np.ndarray:
    """Pearson correlation of a per-frame video signal with an audio signal at every offset.

    Entry ``k`` (offset ``o = k - max_offset``) correlates ``video[i]`` with ``audio[i - o]``
    over the frames ``i`` of :func:`valid_windows` where both are finite: the same pairing and
    sign as :func:`offset_distances` (a positive offset: the audio leads).

    Args:
        video_signal: (Tv,) e.g. the lip aperture per frame (NaN where unknown).
        audio_signal: (Ta,) e.g. the audio log-energy per frame.
        max_offset: offsets ``-max_offset..max_offset`` frames are tried.

    Returns:
        (2 * max_offset + 1,) correlations, NaN where fewer than 3 frames pair up or a signal
        is constant.
    """
    v = np.asarray(video_signal, dtype=np.float64).ravel()
    a = np.asarray(audio_signal, dtype=np.float64).ravel()
    i = np.asarray(valid_windows(len(v), len(a), max_offset))
    if len(i) == 0:
        return np.full(2 * max_offset + 1, np.nan)
    x = np.repeat(v[i][:, None], 2 * max_offset + 1, axis=1)  # (n, 2M+1)
    y = a[i[:, None] - np.arange(-max_offset, max_offset + 1)[None, :]]  # (n, 2M+1)
    ok = np.isfinite(x) & np.isfinite(y)
    count = ok.sum(axis=0)  # (2M+1,)
    x, y = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = x.sum(0) / count, y.sum(0) / count
        dx, dy = np.where(ok, x - mx, 0.0), np.where(ok, y - my, 0.0)
        sxx, syy = (dx * dx).sum(0), (dy * dy).sum(0)
        r = (dx * dy).sum(0) / np.sqrt(sxx * syy)
    flat = (sxx <= 1e-12 * np.maximum(1.0, count)) | (syy <= 1e-12 * np.maximum(1.0, count))
    return np.where((count >= 3) & ~flat, np.clip(r, -1.0, 1.0), np.nan)


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

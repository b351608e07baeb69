"""Audio-visual offsets: windows, per-offset curves and confidence, pure functions on arrays.

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

What measures a method over many clips (accuracy, chance, ROC) is in
:mod:`xmodal.evaluation.sync`.
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

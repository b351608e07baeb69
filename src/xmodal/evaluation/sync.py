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

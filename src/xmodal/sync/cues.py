"""Training-free cues of audio-visual sync: one lip signal correlated with one audio signal.

The cue :func:`jaw_energy_cue` (the jaw opening against the frame-to-frame change of the
audio's log-energy, the best single pair on the development clips in docs/sync.md) is the
second view :mod:`xmodal.sync.decide` checks the lip model against: it needs no training, so
it cannot share the model's blind spots of training data.
"""

from __future__ import annotations

import numpy as np

from xmodal.sync.offsets import DEFAULT_MAX_OFFSET, null_zscore, valid_windows
from xmodal.sync.scorer import NULL_COUNT, NULL_SHIFT

INNER, JAW = 0, 4  # columns of LIP_SIGNALS: the inner-lip aperture, the jaw opening


def lag_correlations(
    video_signal: np.ndarray, audio_signal: np.ndarray, max_offset: int = DEFAULT_MAX_OFFSET
) -> np.ndarray:
    """Pearson correlation of a per-frame video signal with an audio signal at every offset.

    Entry ``k`` (offset ``o = k - max_offset``) correlates ``video[i]`` with ``audio[i - o]``
    over the frames ``i`` of :func:`~xmodal.sync.offsets.valid_windows` where both are finite:
    the same pairing and sign as :func:`~xmodal.sync.offsets.offset_distances` (a positive
    offset: the audio leads).

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


def log_energy(bands: np.ndarray) -> np.ndarray:
    """(Ta, 40) log-mel bands -> (Ta,) log of the summed band energies."""
    b = np.asarray(bands, np.float64)
    top = b.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(b - top).sum(axis=1, keepdims=True)))[:, 0]


def change(x: np.ndarray) -> np.ndarray:
    """Frame-to-frame change of a signal (0 for the first frame)."""
    return np.r_[0.0, np.diff(x)] if len(x) else x


def correlation_estimate(
    video: np.ndarray, audio: np.ndarray, max_offset: int = DEFAULT_MAX_OFFSET
) -> tuple[int, float]:
    """The offset of the lag correlations' peak, and its z-score against the same signals with
    the audio rotated by a second or more (NaN when it cannot be measured)."""
    curve = lag_correlations(video, audio, max_offset)
    if not np.isfinite(curve).any():
        return 0, float("nan")
    peak = float(np.nanmax(curve))
    n = len(audio)
    null = []
    if n >= 2 * NULL_SHIFT + 2:
        for s in np.unique(np.linspace(NULL_SHIFT, n - NULL_SHIFT, NULL_COUNT).round().astype(int)):
            c = lag_correlations(video, np.roll(audio, s), max_offset)
            if np.isfinite(c).any():
                null.append(np.nanmax(c))
    conf = null_zscore(peak, np.asarray(null)) if len(null) >= 2 else float("nan")
    return int(np.nanargmax(curve)) - max_offset, conf


def jaw_energy_cue(
    lips: np.ndarray, bands: np.ndarray, max_offset: int = DEFAULT_MAX_OFFSET
) -> tuple[int, float]:
    """The jaw opening (``lips[:, JAW]``) against the change of the audio log-energy: its best
    offset (positive: the audio leads) and confidence (:func:`correlation_estimate`)."""
    return correlation_estimate(lips[:, JAW], change(log_energy(bands)), max_offset)

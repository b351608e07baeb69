"""Score a clip's lips against its audio at every offset: inputs, the shipped model, confidence.

Inputs (:func:`video_inputs`, :func:`audio_inputs`): each per-frame signal is standardised over
the clip (zero mean, unit variance), its frame-to-frame change is appended, and the 5 frames
``t - 2 .. t + 2`` are concatenated (edges repeat the first or last frame).

:class:`LipScorer` holds the two linear maps of a trained :class:`~xmodal.models.lip_sync.LipSync`
as NumPy arrays (no torch at check time) and turns a clip into:

- the **curve**: for every offset ``o`` in ``-M..M``, the mean over video windows of the
  log-softmax (over offsets) of the dot product of video window ``i`` and audio window
  ``i - o`` (:func:`xmodal.sync.offsets.log_softmax_curve`); the offset is its argmax, so a
  positive offset means the audio leads (the sign convention of :mod:`xmodal.sync.offsets`);
- the **confidence**: the curve's prominence (max - median) as a z-score against the same
  prominence with the audio rotated by 1 s or more (:func:`circular_nulls`): the audio's own
  statistics, but no relation to these lips. Near 0: no offset stands out more than it does for
  unrelated audio.

The shipped model (``xmodal/sync/weights/lips.npz`` and ``lips.json``) was trained with
``xmodal sync train`` on the 15 camera clips tk01-tk15 of the shared talking-head media (the
command is in ``lips.json`` and docs/sync.md); its threshold on the confidence was chosen on
the same clips, leave-one-video-out.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.sync.decide import Thresholds
from xmodal.sync.offsets import (
    DEFAULT_MAX_OFFSET,
    log_softmax_curve,
    null_zscore,
    offset_scores,
    peak_prominence,
    valid_windows,
)

CONTEXT = 2  # frames on each side of a window's centre
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_THRESHOLD = 2.35  # the shipped model's: chosen on tk01-tk15 leave-one-video-out
NULL_SHIFT = 25  # rotations of the audio by at least 1 s make the null pairings
NULL_COUNT = 40  # null pairings per clip (40 flagged more swaps than 12 on dev, same in-sync)


def standardise(x: np.ndarray) -> np.ndarray:
    """Per-column z-score over the rows that are finite; NaN stays NaN."""
    x = np.asarray(x, np.float64)
    mean = np.nanmean(x, axis=0) if np.isfinite(x).any() else np.zeros(x.shape[1])
    std = np.nanstd(x, axis=0) if np.isfinite(x).any() else np.ones(x.shape[1])
    return (x - mean) / (np.nan_to_num(std) + 1e-8)


def with_change(x: np.ndarray) -> np.ndarray:
    """(T, C) -> (T, 2C): standardised values and standardised frame-to-frame changes."""
    z = standardise(x)
    change = np.vstack([np.zeros((min(1, len(z)), z.shape[1])), np.diff(z, axis=0)])
    return np.hstack([z, standardise(change)])


def stack_context(x: np.ndarray, context: int = CONTEXT) -> np.ndarray:
    """(T, C) -> (T, (2 context + 1) C): frames t - context .. t + context side by side."""
    n = len(x)
    padded = np.pad(x, ((context, context), (0, 0)), mode="edge") if n else x
    return np.hstack([padded[j : j + n] for j in range(2 * context + 1)])


def select_signals(lips: np.ndarray, signals: tuple[int, ...] | None) -> np.ndarray:
    """The chosen columns of (T, 9) lip signals (all of them for None)."""
    return lips if signals is None else np.asarray(lips)[:, list(signals)]


def video_inputs(lips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs of the lip signals.

    Args:
        lips: (T, C) lip signals (C = 9, or the chosen ones), NaN where the face is lost.

    Returns:
        ``(inputs, ok)``: (T, 10 C) float64 (lost frames read as the clip mean) and (T,) bool,
        True where every frame of the 5-frame window has a face.
    """
    lost = np.isnan(lips).any(axis=1)
    x = np.nan_to_num(with_change(lips))
    ok = ~stack_context(lost[:, None].astype(float)).any(axis=1) if len(lips) else np.zeros(0, bool)
    return stack_context(x), ok


def audio_inputs(bands: np.ndarray) -> np.ndarray:
    """Model inputs of the log-mel bands: (T, 40) -> (T, 400)."""
    return stack_context(np.nan_to_num(with_change(bands)))


def circular_nulls(
    video_emb: np.ndarray,
    audio_emb: np.ndarray,
    keep: np.ndarray,
    max_offset: int,
    count: int = NULL_COUNT,
    min_shift: int = NULL_SHIFT,
) -> np.ndarray:
    """Prominences of the curve with the audio embeddings rotated by ``min_shift`` frames or more.

    Args:
        video_emb: (T, E) video embeddings.
        audio_emb: (Ta, E) audio embeddings.
        keep: (n_windows,) windows to average (see :func:`LipScorer.curve`).
        max_offset: the search range.
        count: rotations tried, evenly spaced in ``min_shift .. Ta - min_shift``.
        min_shift: the smallest rotation in frames.

    Returns:
        (k,) prominences, k <= count (empty when the clip is too short to rotate).
    """
    n = len(audio_emb)
    if n < 2 * min_shift + 2:
        return np.zeros(0)
    shifts = np.unique(np.linspace(min_shift, n - min_shift, count).round().astype(int))
    out = []
    for s in shifts:
        scores = offset_scores(video_emb, np.roll(audio_emb, s, axis=0), max_offset)
        out.append(peak_prominence(log_softmax_curve(scores, keep)))
    return np.asarray(out)


@dataclass
class Evidence:
    """What a scorer found in one clip.

    Attributes:
        offset: argmax of the curve, in frames (positive: the audio leads).
        curve: (2M+1,) mean log-probability of each offset ``-M..M``.
        prominence: ``max(curve) - median(curve)``.
        confidence: the prominence as a z-score against rotated audio (NaN when too short).
        windows: video windows averaged.
    """

    offset: int
    curve: np.ndarray
    prominence: float
    confidence: float
    windows: int


@dataclass
class LipScorer:
    """The linear lip and audio embeddings of a trained lip-sync model, as NumPy arrays."""

    video_w: np.ndarray  # (Dv, E)
    video_b: np.ndarray  # (E,)
    audio_w: np.ndarray  # (Da, E)
    audio_b: np.ndarray  # (E,)
    max_offset: int = DEFAULT_MAX_OFFSET
    threshold: float = DEFAULT_THRESHOLD  # least score for a clear offset
    signals: tuple[int, ...] | None = None  # columns of the lip signals used (None: all)
    info: dict[str, Any] = field(default_factory=dict)  # how it was trained
    # least score for any answer (a low-confidence one below `threshold`; below the floor: not
    # matching); None: the threshold (a clear offset or none, as before floors existed)
    floor: float | None = None
    agree_bonus: float = 0.0  # added to the confidence when the training-free cue agrees

    def thresholds(self) -> Thresholds:
        """How this model's evidence becomes an answer (:mod:`xmodal.sync.decide`)."""
        floor = self.threshold if self.floor is None else min(self.floor, self.threshold)
        return Thresholds(clear=self.threshold, floor=floor, agree_bonus=self.agree_bonus)

    def embed(self, lips: np.ndarray, bands: np.ndarray) -> tuple[np.ndarray, ...]:
        """``(video_emb (T, E), audio_emb (Ta, E), keep (n_windows,))`` of a clip."""
        v_in, ok = video_inputs(select_signals(lips, self.signals))
        v = v_in @ self.video_w + self.video_b  # (T, E)
        a = audio_inputs(bands) @ self.audio_w + self.audio_b  # (Ta, E)
        rows = np.asarray(valid_windows(len(v), len(a), self.max_offset), dtype=int)
        return v, a, ok[rows] if len(rows) else np.zeros(0, bool)

    def evidence(self, lips: np.ndarray, bands: np.ndarray, nulls: bool = True) -> Evidence:
        """Offset, curve and confidence of lips (T, 9) against audio bands (Ta, 40).

        Raises:
            ValueError: no window has a face and every candidate audio window.
        """
        v, a, keep = self.embed(lips, bands)
        scores = offset_scores(v, a, self.max_offset)  # (n, 2M+1)
        if not keep.any():
            raise ValueError(
                f"no 0.2 s window with a visible face and audio at every offset of "
                f"±{self.max_offset} frames ({len(v)} video frames, {len(a)} audio frames)"
            )
        curve = log_softmax_curve(scores, keep)
        prominence = peak_prominence(curve)
        null = circular_nulls(v, a, keep, self.max_offset) if nulls else np.zeros(0)
        confidence = null_zscore(prominence, null) if len(null) >= 2 else float("nan")
        offset = int(np.argmax(curve)) - self.max_offset
        return Evidence(offset, curve, prominence, confidence, int(keep.sum()))

    # ------------------------------------------------------------------------- files

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``<path>.npz`` (weights) and ``<path>.json`` (max_offset, threshold, floor,
        agree_bonus, signals, info)."""
        from xmodal.utils import atomic_path, write_json

        base = Path(path).with_suffix("")
        with atomic_path(base.with_suffix(".npz")) as tmp, open(tmp, "wb") as f:
            np.savez(
                f, **{k: getattr(self, k) for k in ("video_w", "video_b", "audio_w", "audio_b")}
            )
        meta = {
            "max_offset": self.max_offset,
            "threshold": self.threshold,
            "floor": self.floor,
            "agree_bonus": self.agree_bonus,
            "signals": None if self.signals is None else list(self.signals),
            "info": self.info,
        }
        write_json(base.with_suffix(".json"), meta)
        return base.with_suffix(".npz")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LipScorer:
        """Read a scorer written by :meth:`save` (``path`` with or without ``.npz``)."""
        base = Path(path).with_suffix("")
        meta = json.loads(base.with_suffix(".json").read_text())
        with np.load(base.with_suffix(".npz")) as w:
            arrays = {k: w[k] for k in ("video_w", "video_b", "audio_w", "audio_b")}
        threshold, signals = meta.get("threshold"), meta.get("signals")
        return cls(
            **arrays,
            max_offset=int(meta["max_offset"]),
            threshold=DEFAULT_THRESHOLD if threshold is None else float(threshold),
            signals=None if signals is None else tuple(int(i) for i in signals),
            info=meta.get("info", {}),
            floor=None if meta.get("floor") is None else float(meta["floor"]),
            agree_bonus=float(meta.get("agree_bonus") or 0.0),
        )


def default_scorer() -> LipScorer:
    """The lip-sync model that ships with xmodal (``xmodal/sync/weights/lips``)."""
    path = WEIGHTS_DIR / "lips.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the shipped sync model is missing; reinstall xmodal")
    return LipScorer.load(path)

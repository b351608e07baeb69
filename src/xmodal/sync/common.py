"""What the sync checks and trainers share: the result of a check, the installed model's place.

:class:`SyncCheck` is what :func:`xmodal.sync.check.check_video` (lip model) and
:func:`xmodal.sync.syncnet.check_with_syncnet` (SyncNet) return; :func:`too_short` refuses a clip
too short for the offset search; :func:`default_model_dir` is where ``--install`` puts a trained
model and where ``xmodal sync check`` looks for one; a lip model's weights are ``LIPS_FILE``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xmodal.sync.clip import SyncCheckError
from xmodal.sync.offsets import FPS, WINDOW_FRAMES

SHIPPED = "shipped"  # SyncCheck.model of the lip model that ships with xmodal
LIPS_FILE = "lips.npz"  # a lip model's weights in a model directory (beside lips.json)


@dataclass
class SyncCheck:
    """The result of a sync check (:func:`xmodal.sync.check.check_video`).

    Attributes:
        video: the checked file.
        offset_frames: the offset in 25 fps frames (positive: the audio leads), given with a
            clear or a low confidence (``level``); None when the lips do not match the audio.
        best_offset: the curve's best offset, also when it is not clear.
        confidence: the lip model's z-score (see :mod:`xmodal.sync.check`); for a SyncNet run the
            SyncNet tool's ``median - min`` distance.
        threshold: least confidence for a clear offset (None: every offset counts as clear).
        reason: why the offset is not clear, or why there is none ("" when it is clear).
        offsets: the candidate offsets ``-M..M``.
        curve: the evidence at each offset (``curve_kind``).
        curve_kind: ``"log-probability"`` (higher is likelier) or ``"distance"`` (lower is).
        windows: 0.2 s windows averaged.
        face_frames: ``[first, last]`` analysis frames with the face.
        model: ``"shipped"`` or the model's directory.
        model_data: what the model was trained on.
        fps: the analysis frame rate (25).
        warnings: things the user should know.
        level: ``"clear"``, ``"low"`` (an offset with low confidence) or ``"none"`` (not
            matching: no offset) (:mod:`xmodal.sync.decide`).
        score: the confidence plus the agreement bonus, which ``level`` reads (NaN: SyncNet).
        cue_offset: the training-free cue's best offset (None: no cue was run).
        cue_confidence: its z-score against rotated audio.
        views_agree: whether the cue's offset is within a frame of the model's (None: no cue).
        floor: least score for any answer (None: the threshold).
    """

    video: str
    offset_frames: int | None
    best_offset: int
    confidence: float
    threshold: float | None
    reason: str
    offsets: list[int]
    curve: list[float]
    curve_kind: str
    windows: int
    face_frames: list[int]
    model: str
    model_data: str
    fps: int = FPS
    warnings: list[str] = field(default_factory=list)
    level: str = ""  # "" -> "clear" or "none" from offset_frames (__post_init__)
    score: float = float("nan")
    cue_offset: int | None = None
    cue_confidence: float | None = None
    views_agree: bool | None = None
    floor: float | None = None

    def __post_init__(self) -> None:
        if not self.level:
            self.level = "none" if self.offset_frames is None else "clear"

    @property
    def clear(self) -> bool:
        """Whether the offset is clear (not low-confidence, not missing)."""
        return self.level == "clear"

    @property
    def offset_ms(self) -> float | None:
        """The offset in milliseconds (40 ms per frame), None when there is none."""
        return None if self.offset_frames is None else 1000.0 * self.offset_frames / self.fps

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (with ``offset_ms`` and ``clear``)."""
        return {**asdict(self), "offset_ms": self.offset_ms, "clear": self.clear}

    def summary(self) -> str:
        """Human-readable lines."""
        o = self.offset_frames
        if o is None:
            head = f"offset      no clear offset: {self.reason}"
        elif self.level == "low":
            head = (f"offset      {o:+d} frames ({self.offset_ms:+.0f} ms at {self.fps} fps), "
                    f"LOW CONFIDENCE: {self.reason}")  # fmt: skip
        elif o > 0:
            head = (
                f"offset      {o:+d} frames ({self.offset_ms:+.0f} ms at {self.fps} fps): the "
                f"audio leads (comes early): delay it by {self.offset_ms:.0f} ms"
            )
        elif o < 0:
            head = (
                f"offset      {o:+d} frames ({self.offset_ms:+.0f} ms at {self.fps} fps): the "
                f"audio lags (comes late): advance it by {-self.offset_ms:.0f} ms"
            )
        else:
            head = f"offset      +0 frames (+0 ms at {self.fps} fps): in sync"
        if self.threshold is None:
            conf = f"confidence  {self.confidence:.3f} (median - min distance; higher is surer)"
        else:
            floor = "" if self.floor is None else f", any answer >= {self.floor:.2f}"
            conf = (
                f"confidence  {self.confidence:.2f}, score {self.score:.2f} (a clear offset needs "
                f">= {self.threshold:.2f}{floor}; best offset {self.best_offset:+d})"
            )
        lines = [head, conf]
        if self.cue_offset is not None:
            verdict = "agrees" if self.views_agree else "disagrees"
            lines.append(f"second view jaw x audio energy (no training): {self.cue_offset:+d} "
                         f"frames, confidence {self.cue_confidence:.2f}: {verdict}")  # fmt: skip
        lines += [
            f"windows     {self.windows} (face frames {self.face_frames[0]}-{self.face_frames[1]})",
            f"model       {self.model} (trained on {self.model_data})",
        ]
        return "\n".join(lines + [f"warning: {w}" for w in self.warnings])


def default_model_dir() -> Path:
    """``$XMODAL_SYNC_MODEL`` or ``~/.cache/xmodal/sync-model`` (where ``--install`` puts one)."""
    env = os.environ.get("XMODAL_SYNC_MODEL")
    return Path(env) if env else Path.home() / ".cache" / "xmodal" / "sync-model"


def too_short(
    path: Path, frames: int, max_offset: int, min_windows: int, what: str = "too short"
) -> None:
    """Raise :class:`SyncCheckError` when ``frames`` cannot hold ``min_windows`` windows."""
    need = min_windows + 2 * max_offset + WINDOW_FRAMES - 1
    if frames < need:
        raise SyncCheckError(
            f"{path}: {what} ({frames} frames = {frames / FPS:.2f} s at {FPS} fps); a "
            f"±{max_offset}-frame search over {min_windows} windows needs at least {need} "
            f"frames ({need / FPS:.2f} s)"
        )

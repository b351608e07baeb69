"""Who is speaking: whether the face seen in a video segment says the segment's words.

A segment with speech and one face is speaking when that face's lips move with the sound: the
sync job's lip model (:mod:`xmodal.sync`, the model ``xmodal sync check`` ships) reads the lip
signals of the segment's 25 fps frames against its audio and answers clear, low confidence, or
"the lips do not match this audio" (:func:`xmodal.sync.decide.decide`, thresholds calibrated on
held-out videos and swapped audio). The first two mean the face speaks; the last that someone
else does (a voice-over, a person off screen) or nobody does.

The video is decoded once more, whole, as grey frames at 25 fps, and the face's 68 landmarks are
tracked through it (the lip model needs every frame, not the few ingest samples). A file with
several faces at once is not decided (the tracker follows one face), nor a segment without
speech or shorter than the model needs: those faces keep ``speaking = None``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from xmodal.library.records import Face

MIN_WINDOWS = 5  # 0.2 s windows with the face a segment needs (sync check's own minimum)
SPEAKING_LEVELS = ("clear", "low")
"""The lip model's answers that mean the face speaks (``benchmarks/bench_speaking.py``)."""


def decidable(text: str, faces: Sequence[Face] | None) -> bool:
    """Whether a segment's speaker can be decided: it has speech and exactly one face."""
    return bool(text.strip()) and faces is not None and len(faces) == 1


def mark_speakers(faces: Sequence[list[Face] | None], speaks: Sequence[bool | None]) -> None:
    """Record each decided answer on its segment's (one) face, in place."""
    for seen, said in zip(faces, speaks, strict=True):
        if said is not None and seen:
            seen[0].speaking = said


def lips_and_sound(path: str | os.PathLike[str]) -> Any | None:
    """The whole file's lip signals and audio (:class:`~xmodal.sync.clip.LipClip`), or None when
    it has no single face to follow (none, several) or no sound."""
    from xmodal.features.face import FaceError
    from xmodal.sync.clip import SyncCheckError, read_lip_clip

    try:
        return read_lip_clip(Path(path))
    except (FaceError, SyncCheckError):
        return None


def segment_level(clip: Any, start: float, end: float, scorer: Any) -> str | None:
    """The lip model's answer for the face of ``clip`` in ``[start, end)``: ``"clear"``,
    ``"low"`` or ``"none"`` (:mod:`xmodal.sync.decide`); None when there is too little face or
    time to tell."""
    from xmodal.sync.check import check_clip
    from xmodal.sync.clip import SAMPLE_RATE, LipClip, SyncCheckError
    from xmodal.sync.offsets import FPS

    a, b = int(round(start * FPS)), int(round(end * FPS))
    lips = clip.lips[a:b]
    audio = clip.audio[int(round(start * SAMPLE_RATE)) : int(round(end * SAMPLE_RATE))]
    if len(lips) == 0 or np.isnan(lips[:, 0]).all():
        return None
    try:
        return str(check_clip(LipClip(clip.path, lips, audio), scorer, MIN_WINDOWS)["level"])
    except SyncCheckError:  # too short, or the face visible too briefly
        return None


def segment_speaks(clip: Any, start: float, end: float, scorer: Any) -> bool | None:
    """Whether the face of ``clip`` speaks in ``[start, end)``: the lip model's answer is one of
    :data:`SPEAKING_LEVELS` (None: too little face or time to tell)."""
    level = segment_level(clip, start, end, scorer)
    return None if level is None else level in SPEAKING_LEVELS


def speaking_segments(
    path: str | os.PathLike[str],
    spans: Sequence[tuple[float, float]],
    ask: Sequence[bool],
    scorer: Any | None = None,
) -> list[bool | None]:
    """For each segment ``spans[i]`` with ``ask[i]`` (speech and one face): whether that face
    speaks; None where not asked or not decidable (see the module docstring)."""
    out: list[bool | None] = [None] * len(spans)
    if not any(ask):
        return out
    clip = lips_and_sound(path)
    if clip is None:
        return out
    if scorer is None:
        from xmodal.sync.scorer import default_scorer

        scorer = default_scorer()
    for i, ((a, b), wanted) in enumerate(zip(spans, ask, strict=True)):
        if wanted:
            out[i] = segment_speaks(clip, a, b, scorer)
    return out

"""Fix a video's sync: write a copy with its audio shifted by a measured offset."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from xmodal.evaluation.sync import FPS
from xmodal.sync.clip import SyncCheckError


def shift_audio(
    audio: np.ndarray, offset_frames: float, sample_rate: int, fps: float = FPS
) -> np.ndarray:
    """Shift a waveform to undo an offset, keeping its length (silence fills the gap).

    Args:
        audio: (N,) samples.
        offset_frames: the measured offset (positive: the audio leads, so it is delayed).
        sample_rate: samples per second.
        fps: the frame rate the offset is counted in.

    Returns:
        (N,) shifted samples.
    """
    n = int(round(offset_frames * sample_rate / fps))
    out = np.zeros_like(audio)
    if n >= 0:
        out[n:] = audio[: len(audio) - n] if n < len(audio) else audio[:0]
    else:
        out[: len(audio) + n] = audio[-n:]
    return out


def fix_video(
    path: str | os.PathLike[str], out: str | os.PathLike[str], offset_frames: float
) -> Path:
    """Write a copy of a video with its audio shifted by ``offset_frames`` (25 fps frames).

    The picture is re-encoded (H.264) at the source's average frame rate and the audio (AAC)
    at its own sample rate, downmixed to mono; nothing is written if anything fails.

    Returns:
        The output path.

    Raises:
        SyncCheckError: ``out`` is the input, or the input lacks a video or audio stream.
    """
    from xmodal.media import probe, read_audio, read_video, write_mp4

    path, out = Path(path), Path(out)
    if out.resolve() == path.resolve():
        raise SyncCheckError(f"{out}: --fix must write a new file, not overwrite the input")
    info = probe(path)
    if info.audio is None or info.video is None:
        raise SyncCheckError(f"{path}: needs both a video and an audio stream to fix")
    rate = info.audio.sample_rate
    frames = read_video(path)  # (T, H, W, 3)
    audio = shift_audio(read_audio(path, rate), offset_frames, rate)
    write_mp4(out, frames, info.video.fps or FPS, audio, rate)
    return out

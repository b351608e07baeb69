"""Fix a video's sync: write a copy with its audio shifted by a measured offset."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from xmodal.sync.clip import SyncCheckError
from xmodal.sync.offsets import FPS


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


def _rgb_frames(path: Path) -> Iterator[np.ndarray]:
    """Every decoded frame of a video, (H, W, 3) uint8 RGB in display orientation, one at a
    time (what :func:`xmodal.media.read_video` returns without ``fps``, never all in memory)."""
    from xmodal import media

    with media._open_input(path, None, "read_video") as container:
        stream = media._video_stream(container)
        if stream is None:
            raise media.MediaError(path, "no video stream")
        stream.thread_type = "AUTO"
        rotation = 0
        for i, (frame, _, _) in enumerate(media._timeline(container, stream)):
            rotation = media._rotation(frame) if i == 0 else rotation
            yield media._to_rgb(frame, None, rotation)


def fix_video(
    path: str | os.PathLike[str], out: str | os.PathLike[str], offset_frames: float
) -> Path:
    """Write a copy of a video with its audio shifted by ``offset_frames`` (25 fps frames).

    The picture is re-encoded (H.264) at the source's average frame rate, frame by frame as it
    is decoded (a long video is never held in memory), and the audio (AAC) at its own sample
    rate, downmixed to mono; nothing is written if anything fails.

    Returns:
        The output path.

    Raises:
        SyncCheckError: ``out`` is the input, or the input lacks a video or audio stream.
    """
    from xmodal.media import probe, read_audio, write_mp4

    path, out = Path(path), Path(out)
    if out.resolve() == path.resolve():
        raise SyncCheckError(f"{out}: --fix must write a new file, not overwrite the input")
    info = probe(path)
    if info.audio is None or info.video is None:
        raise SyncCheckError(f"{path}: needs both a video and an audio stream to fix")
    rate = info.audio.sample_rate
    audio = shift_audio(read_audio(path, rate), offset_frames, rate)
    write_mp4(out, _rgb_frames(path), info.video.fps or FPS, audio, rate, threads=0)
    return out

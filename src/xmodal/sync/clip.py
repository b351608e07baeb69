"""A real clip as sync reads it: lip signals per 25 fps frame and the 16 kHz audio.

:func:`read_lip_clip` decodes the video once, as grayscale frames on a 25 fps timeline (frame
``k`` shows time ``k / 25``: the latest frame whose timestamp is at most that; the luma plane
is used directly, no colour conversion), and as each frame is decoded the face's 68
landmarks are tracked in every frame (:mod:`xmodal.features.landmarks`) and turned into the
nine lip signals. The audio is decoded as 16 kHz mono from the file's start.

:func:`audio_bands` turns audio into 40 log-mel bands per 25 fps frame (the 40 ms around the
frame's time), the audio side of every estimator.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.sync.offsets import FPS

SAMPLE_RATE = 16000
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640
N_BANDS = 40
# 8-bit pixel formats whose first plane is the luma (grey) image
_LUMA_FIRST = frozenset(
    {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv411p", "yuv410p"}
    | {"yuv440p", "yuvj440p", "nv12", "nv21", "gray"}
)
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg"})


class SyncCheckError(ValueError):
    """The video cannot be checked: no audio track, too short, no model."""


@dataclass
class LipClip:
    """What sync reads from one video.

    Attributes:
        path: the video.
        lips: (T, 9) float32 lip signals per 25 fps frame (``LIP_SIGNALS``), NaN where the face
            is lost.
        audio: (N,) float32 16 kHz mono audio from the file's start.
        faces: how many persistent faces the detection passes found (sync needs 1).
    """

    path: str
    lips: np.ndarray
    audio: np.ndarray
    faces: int = 1

    @property
    def n_frames(self) -> int:
        return len(self.lips)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the arrays to an ``.npz`` file (atomically)."""
        from xmodal.utils import atomic_path

        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, lips=self.lips, audio=self.audio, faces=self.faces, path=self.path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LipClip:
        with np.load(path) as d:
            return cls(str(d["path"]), d["lips"], d["audio"], int(d["faces"]))


def _luma(frame: object, rotation: int) -> np.ndarray:
    """The (H, W) uint8 grey image of a decoded frame, turned for display."""
    if frame.format.name in _LUMA_FIRST:  # type: ignore[attr-defined]
        plane = frame.planes[0]  # type: ignore[attr-defined]
        y = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        image = y[:, : frame.width].copy()  # type: ignore[attr-defined]
    else:
        image = frame.to_ndarray(format="gray")  # type: ignore[attr-defined]
    if rotation:
        image = np.ascontiguousarray(np.rot90(image, k=-(rotation // 90)))
    return image


def gray_frames(
    path: str | os.PathLike[str], fps: float = FPS, max_seconds: float | None = None
) -> Iterator[np.ndarray]:
    """Grayscale frames of a video on a constant-rate timeline, decoded as they are consumed.

    Frame ``k`` shows time ``k / fps``: the latest frame whose timestamp is at most that (the
    first frame for earlier times), as :func:`xmodal.media.read_video` with ``fps``. FFmpeg
    decodes with its own threads; a Python decoding thread was measured slower (it contends
    with the landmark tracker for the interpreter lock: 0.73-0.79 s against 0.52-0.66 s for
    tracking an 8 s clip).

    Yields:
        (H, W) uint8 frames in display orientation.

    Raises:
        MediaError: unreadable file or no video stream.
    """
    from xmodal import media

    path = Path(path)
    end = math.inf if max_seconds is None else max_seconds
    with media._open_input(path, None, "read_video") as container:
        stream = media._video_stream(container)
        if stream is None:
            raise media.MediaError(path, "no video stream")
        media._check_truncated(container, path)
        stream.thread_type = "AUTO"
        count, rotation = 0, 0
        for i, (frame, _, t_next) in enumerate(media._timeline(container, stream)):
            rotation = media._rotation(frame) if i == 0 else rotation
            repeats = max(0, math.ceil((min(t_next, end) - 1e-6) * fps) - count)
            if repeats:
                image = _luma(frame, rotation)
                for _ in range(repeats):
                    yield image
                count += repeats
            if count >= end * fps - 1e-6:
                break


def probe_picture_and_sound(path: Path) -> Any:
    """Probe a file that sync will read; returns its :class:`~xmodal.media.MediaInfo`.

    Raises:
        MediaError: unreadable file or no video stream.
        SyncCheckError: no audio track.
    """
    from xmodal.media import MediaError, probe

    info = probe(path)
    if info.video is None:
        raise MediaError(path, "no video stream")
    if info.audio is None:
        raise SyncCheckError(f"{path}: no audio track; sync needs both sound and picture")
    return info


def read_lip_clip(
    path: str | os.PathLike[str], max_seconds: float | None = None, progress: bool = False
) -> LipClip:
    """Track the face of a video and read its lip signals and audio.

    Args:
        path: a video with one speaking face and its sound.
        max_seconds: read only the first N seconds.
        progress: show a progress bar over the frames (on stderr, once the tracking has taken
            over two seconds).

    Returns:
        The :class:`LipClip`.

    Raises:
        MediaError: unreadable file, no video stream.
        SyncCheckError: no audio track.
        FaceError: no face, several faces, or the ``face`` extra is missing.
    """
    from tqdm.auto import tqdm

    from xmodal.features.landmarks import dlib_models, lip_signals, track_landmarks
    from xmodal.media import MediaError, read_audio

    path = Path(path)
    info = probe_picture_and_sound(path)
    dlib_models()  # loaded before the progress bar starts its clock
    seconds = min(info.duration or math.inf, max_seconds or math.inf)
    frames = tqdm(
        gray_frames(path, FPS, max_seconds),
        total=None if math.isinf(seconds) else math.ceil(seconds * FPS),
        desc="faces",
        unit="frame",
        disable=not progress,
        delay=2.0,
        leave=False,
    )
    faces = track_landmarks(frames)
    if len(faces.points) == 0:
        raise MediaError(path, "no video frames")
    faces.face_track()  # FaceError: no face, or several
    audio = read_audio(path, SAMPLE_RATE, end=max_seconds)
    return LipClip(str(path), lip_signals(faces), audio)


def audio_bands(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """Log-mel energies in 40 bands per 25 fps frame.

    A 1024-sample (64 ms) window every 10 ms, 40 mel bands from 50 Hz to 8 kHz; frame ``t``
    averages the 10 ms frames centred at ``40t - 20 .. 40t + 10`` ms. Frames past the audio's
    end repeat its last value.

    Args:
        audio: (N,) float32 16 kHz mono.
        n_frames: T, video frames to cover.

    Returns:
        (T, 40) float32 ``log(power + 1e-8)``.
    """
    import librosa

    x = np.asarray(audio, np.float32)
    if len(x) < 1024:
        x = np.pad(x, (0, 1024 - len(x)))
    mel = librosa.feature.melspectrogram(
        y=x, sr=SAMPLE_RATE, n_fft=1024, hop_length=160, n_mels=N_BANDS, fmin=50, fmax=8000
    )  # (40, F), frame f centred at 10 f ms
    log_mel = np.log(mel.T + 1e-8)  # (F, 40)
    starts = np.clip(4 * np.arange(n_frames) - 2, 0, len(log_mel) - 1)
    stops = np.clip(4 * np.arange(n_frames) + 2, starts + 1, len(log_mel))
    cums = np.vstack([np.zeros((1, N_BANDS)), np.cumsum(log_mel, axis=0)])  # (F + 1, 40)
    return ((cums[stops] - cums[starts]) / (stops - starts)[:, None]).astype(np.float32)


def find_videos(paths: list[str | os.PathLike[str]] | str | os.PathLike[str]) -> list[Path]:
    """Video files among ``paths``: files as given, folders searched recursively (sorted)."""
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    found: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            found += sorted(
                p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
            )
        elif item.is_file():
            found.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or directory")
    return found

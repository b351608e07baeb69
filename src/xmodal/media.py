"""Media I/O on PyAV: probe, decode and encode video and audio.

Every failure caused by the input file raises :class:`MediaError` naming the path and what is
wrong; PyAV/FFmpeg exceptions never escape this module. FFmpeg's own log output is dropped.

Conventions:
    video arrays are ``(T, H, W, 3)`` uint8 RGB in display orientation (rotation metadata
    applied); sizes are given as ``(H, W)``;
    audio arrays are ``(N,)`` float32 mono in ``[-1, 1]``;
    times are in seconds from the start of the container.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.logging
import numpy as np

from xmodal.utils import atomic_path

# PyAV's default (None) drops FFmpeg's log entirely. ERROR would still print decoder complaints
# through Python logging, and PyAV warns that its log callback can deadlock threaded decoding.
av.logging.set_level(None)

RAW_SUFFIXES = frozenset({".raw", ".pcm"})
RAW_SAMPLE_FORMATS = frozenset(  # FFmpeg's raw PCM demuxers
    "u8 s8 s16le s16be s24le s24be s32le s32be f32le f32be f64le f64be alaw mulaw".split()
)
X264_PRESETS = tuple("ultrafast superfast veryfast faster fast medium slow slower veryslow".split())
_EPS = 1e-4  # seconds; timestamp comparisons tolerate rounding of time bases


class MediaError(Exception):
    """Bad media input. ``str(e) == f"{path}: {reason}"``.

    Attributes:
        path: the offending file.
        reason: what is wrong with it, in words.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (self.path, self.reason))


@dataclass(frozen=True)
class RawAudioFormat:
    """How to read headerless PCM (``.raw``/``.pcm``): nothing in the file says it."""

    sample_rate: int = 16000  # samples per second
    channels: int = 1  # interleaved channels
    sample_format: str = "s16le"  # FFmpeg raw demuxer name: s16le, f32le, u8, ...

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.channels < 1:
            raise ValueError(f"channels must be >= 1, got {self.channels}")
        if self.sample_format not in RAW_SAMPLE_FORMATS:
            valid = ", ".join(sorted(RAW_SAMPLE_FORMATS))
            raise ValueError(f"unknown sample_format {self.sample_format!r}; one of: {valid}")


@dataclass(frozen=True)
class VideoStreamInfo:
    """The first real video stream (attached cover pictures do not count)."""

    width: int  # display width, after rotation
    height: int  # display height, after rotation
    fps: float  # average frame rate
    n_frames: int | None  # from the header or counted packets; None if unknown
    duration: float | None  # seconds
    codec: str
    rotation: int  # clockwise degrees applied for display (0, 90, 180, 270), like the rotate tag


@dataclass(frozen=True)
class AudioStreamInfo:
    """The first audio stream."""

    sample_rate: int
    channels: int
    duration: float | None  # seconds
    codec: str


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` found in a file."""

    path: Path
    format_name: str
    duration: float | None  # seconds; computed from packet timestamps when the header lacks it
    video: VideoStreamInfo | None
    audio: AudioStreamInfo | None

    @property
    def has_video(self) -> bool:
        return self.video is not None

    @property
    def has_audio(self) -> bool:
        return self.audio is not None


# ----------------------------------------------------------------------------- opening, errors


def _check_file(path: Path, raw: RawAudioFormat | None, what: str) -> None:
    """Fail early, in words, on inputs FFmpeg would describe badly."""
    if not path.exists():
        raise MediaError(path, "no such file")
    if path.is_dir():
        raise MediaError(path, "is a directory, not a media file")
    if not os.access(path, os.R_OK):
        raise MediaError(path, "permission denied")
    if path.stat().st_size == 0:
        raise MediaError(path, "empty file")
    if raw is None and path.suffix.lower() in RAW_SUFFIXES:
        raise MediaError(
            path,
            f"headerless raw PCM ({path.suffix}): nothing in it says its sample rate, channels or "
            f"sample format; pass them, e.g. {what}(path, raw=RawAudioFormat(sample_rate=16000, "
            "channels=1, sample_format='s16le'))",
        )


def _reason(err: Exception, decoding: bool) -> str:
    message = getattr(err, "strerror", None) or str(err)
    if isinstance(err, av.error.InvalidDataError):
        if decoding:
            return f"corrupt or truncated media data ({message})"
        return f"not a readable media file: unknown format, corrupt or truncated ({message})"
    return f"cannot read media ({message})"


@contextlib.contextmanager
def _open_input(
    path: Path, raw: RawAudioFormat | None, what: str
) -> Iterator[av.container.InputContainer]:
    """Open ``path`` for reading; PyAV errors inside the block become :class:`MediaError`."""
    _check_file(path, raw, what)
    fmt, options = None, None
    if raw is not None:
        fmt = raw.sample_format
        options = {"sample_rate": str(raw.sample_rate), "channels": str(raw.channels)}
    try:
        container = av.open(str(path), format=fmt, options=options)
    except (av.FFmpegError, OSError) as err:
        raise MediaError(path, _reason(err, decoding=False)) from None
    try:
        yield container
    except (av.FFmpegError, OSError) as err:
        raise MediaError(path, _reason(err, decoding=True)) from None
    finally:
        container.close()


def _check_truncated(container: av.container.InputContainer, path: Path) -> None:
    """Raise if the container's own index points past the end of the file (a cut download)."""
    size = path.stat().st_size
    for stream in container.streams:
        entries = stream.index_entries
        last = entries[len(entries) - 1] if len(entries) else None
        if last is not None and last.pos >= 0 and last.pos + last.size > size:
            expected = last.pos + last.size
            raise MediaError(
                path, f"truncated file: its index expects {expected} bytes, has {size}"
            )


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The first video stream that is not an attached picture (cover art)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _audio_stream(container: av.container.InputContainer) -> av.audio.stream.AudioStream | None:
    return container.streams.audio[0] if container.streams.audio else None


def _t0(container: av.container.InputContainer) -> float:
    """The container's start time in seconds (timestamps are reported relative to it)."""
    return container.start_time / 1e6 if container.start_time is not None else 0.0


def _stream_duration(stream: av.stream.Stream) -> float | None:
    if stream.duration is None or stream.duration <= 0 or stream.time_base is None:
        return None
    return float(stream.duration * stream.time_base)


def _seek(container: av.container.InputContainer, stream: av.stream.Stream, start: float) -> None:
    """Seek to the keyframe at or before ``start`` (seconds); decoding from 0 if that fails."""
    if start <= 0 or stream.time_base is None:
        return
    with contextlib.suppress(av.FFmpegError):
        container.seek(int((start + _t0(container)) / stream.time_base), stream=stream)


def _validate_range(start: float, end: float | None) -> None:
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    if end is not None and end <= start:
        raise ValueError(f"end ({end}) must be after start ({start})")


# ----------------------------------------------------------------------------- probe


def probe(path: str | os.PathLike[str], *, raw: RawAudioFormat | None = None) -> MediaInfo:
    """Describe a media file's container, first video stream and first audio stream.

    Demuxes (without decoding) the whole file only when the header has no duration; decodes
    one video frame to read the display rotation.

    Args:
        path: the file.
        raw: the format of a headerless ``.raw``/``.pcm`` file.

    Returns:
        A :class:`MediaInfo`; attached cover pictures are not reported as video.

    Raises:
        MediaError: missing, empty, unreadable or truncated file, or no audio/video stream.
    """
    path = Path(path)
    with _open_input(path, raw, "probe") as container:
        video, audio = _video_stream(container), _audio_stream(container)
        if video is None and audio is None:
            raise MediaError(path, "no video or audio stream")
        _check_truncated(container, path)
        duration = container.duration / 1e6 if container.duration is not None else None
        scan = duration is None  # demux every packet for the extents the header lacks
        t0, first_frame = _t0(container), None
        ends: dict[int, float] = {}  # stream index -> end time (s)
        counts: dict[int, int] = {}  # stream index -> packets
        for packet in container.demux([s for s in (video, audio) if s is not None]):
            if first_frame is None and packet.stream is video:
                first_frame = next(iter(video.decode(packet)), None)
            if packet.pts is not None and packet.time_base is not None:
                end = float((packet.pts + (packet.duration or 0)) * packet.time_base) - t0
                ends[packet.stream.index] = max(ends.get(packet.stream.index, 0.0), end)
                counts[packet.stream.index] = counts.get(packet.stream.index, 0) + 1
            if not scan and (video is None or first_frame is not None):
                break
        if video is not None and first_frame is None:  # the decoder may hold it until flushed
            first_frame = next(iter(video.decode(None)), None)
        if scan and ends:
            duration = max(ends.values())

        def stream_duration(stream: av.stream.Stream) -> float | None:
            return _stream_duration(stream) or (ends.get(stream.index) if scan else None)

        video_info = audio_info = None
        if video is not None:
            rotation = _rotation(first_frame)
            width, height = video.codec_context.width, video.codec_context.height
            if rotation % 180:
                width, height = height, width
            n_frames = video.frames or (counts.get(video.index) if scan else None) or None
            rate = video.average_rate or video.guessed_rate or video.base_rate
            v_duration = stream_duration(video)
            fps = float(rate) if rate else (n_frames / v_duration if n_frames and v_duration else 0)
            video_info = VideoStreamInfo(
                width, height, fps, n_frames, v_duration, video.codec_context.name, rotation
            )
        if audio is not None:
            codec = audio.codec_context
            audio_info = AudioStreamInfo(
                codec.sample_rate, codec.channels, stream_duration(audio), codec.name
            )
        return MediaInfo(path, container.format.name, duration, video_info, audio_info)


# ----------------------------------------------------------------------------- video


def _rotation(frame: av.VideoFrame | None) -> int:
    """Clockwise degrees to turn a decoded frame for display, from its display matrix."""
    if frame is None:
        return 0
    # PyAV reports the matrix's counter-clockwise angle in [-180, 180].
    return int(round(-frame.rotation / 90.0)) % 4 * 90


def _to_rgb(frame: av.VideoFrame, size: tuple[int, int] | None, rotation: int) -> np.ndarray:
    """swscale resize + RGB conversion, then the display rotation. Returns ``(H, W, 3)``."""
    quarter_turns = rotation // 90
    if size is None:
        image = frame.to_ndarray(format="rgb24")  # (h, w, 3), coded orientation
    else:
        height, width = size if quarter_turns % 2 == 0 else size[::-1]
        image = frame.reformat(
            width=width, height=height, format="rgb24", interpolation="AREA"
        ).to_ndarray()
    if quarter_turns:
        image = np.ascontiguousarray(np.rot90(image, k=-quarter_turns))  # clockwise turns
    return image


def _timeline(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> Iterator[tuple[av.VideoFrame, float, float]]:
    """Yield ``(frame, t, t_next)``: each decoded frame and the span (s) until the next one."""
    t0, time_base = _t0(container), stream.time_base
    rate = stream.average_rate or stream.guessed_rate
    step = 1.0 / float(rate) if rate else 0.04  # for frames without pts or duration
    prev, prev_t, prev_dur = None, 0.0, step
    for frame in container.decode(stream):
        if frame.pts is not None:
            t = float(frame.pts * time_base) - t0
        else:
            t = prev_t + step if prev is not None else 0.0
        if prev is not None:
            yield prev, prev_t, t
        prev, prev_t = frame, t
        prev_dur = float(frame.duration * time_base) if frame.duration else step
    if prev is not None:
        yield prev, prev_t, prev_t + prev_dur


def read_video(
    path: str | os.PathLike[str],
    fps: float | None = None,
    size: tuple[int, int] | None = None,
    *,
    start: float = 0.0,
    end: float | None = None,
    max_frames: int | None = None,
) -> np.ndarray:
    """Decode video frames as RGB in display orientation.

    With ``fps`` the output frame ``k`` shows time ``t_k = start + k / fps``: the latest frame
    whose timestamp is ``<= t_k`` (the first frame for times before it). Up- and down-sampling
    therefore follow the timestamps and never drift, also for variable frame rates. Output
    times stop before ``end`` or the end of the last frame.

    Args:
        path: the file.
        fps: output frame rate; None returns every decoded frame in ``[start, end)``.
        size: output ``(H, W)`` in display orientation; None keeps the native size.
        start: first time (s).
        end: stop before this time (s); None reads to the end.
        max_frames: stop after this many output frames.

    Returns:
        ``(T, H, W, 3)`` uint8 RGB.

    Raises:
        MediaError: bad file, or no video stream (an attached cover picture is not one).
    """
    _validate_range(start, end)
    if fps is not None and fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if size is not None and (len(size) != 2 or min(size) < 1):
        raise ValueError(f"size must be (H, W) with positive sides, got {size}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    path = Path(path)
    limit = max_frames if max_frames is not None else math.inf
    with _open_input(path, None, "read_video") as container:
        stream = _video_stream(container)
        if stream is None:
            raise MediaError(path, "no video stream")
        _check_truncated(container, path)
        stream.thread_type = "AUTO"
        _seek(container, stream, start)
        out: list[np.ndarray] = []  # (H, W, 3) each; a repeated frame is the same array
        rotation = 0
        for i, (frame, t, t_next) in enumerate(_timeline(container, stream)):
            rotation = _rotation(frame) if i == 0 else rotation
            if end is not None and t >= end - _EPS:
                break
            if fps is None:
                repeats = int(t >= start - _EPS)
            else:  # the targets start + k / fps before t_next not yet covered
                stop = t_next if end is None else min(t_next, end)
                repeats = max(0, math.ceil((stop - _EPS - start) * fps) - len(out))
            repeats = int(min(repeats, limit - len(out)))
            if repeats:
                out += [_to_rgb(frame, size, rotation)] * repeats
            if len(out) >= limit:
                break
        if out:
            return np.stack(out)  # (T, H, W, 3)
        height, width = size or (stream.codec_context.height, stream.codec_context.width)
        if size is None and rotation % 180:
            height, width = width, height
        return np.zeros((0, height, width, 3), dtype=np.uint8)


# ----------------------------------------------------------------------------- audio


def _mono(resampler: av.AudioResampler | None, frame: av.AudioFrame | None) -> list[np.ndarray]:
    """Resample ``frame`` (None flushes) and average its channels: ``(C, n)`` -> ``(n,)`` each."""
    if resampler is None:
        return []
    return [out.to_ndarray().mean(axis=0) for out in resampler.resample(frame)]


def read_audio(
    path: str | os.PathLike[str],
    sample_rate: int = 16000,
    *,
    start: float = 0.0,
    end: float | None = None,
    raw: RawAudioFormat | None = None,
) -> np.ndarray:
    """Decode the first audio stream, resampled and downmixed (channel mean) to mono.

    Trailing encoder padding past the stream's declared end (AAC writes whole 1024-sample
    frames) is trimmed, so lengths match what was encoded.

    Args:
        path: any container with audio (WAV, FLAC, MP3, MP4, WebM, ...).
        sample_rate: output rate (Hz).
        start: first time (s).
        end: stop at this time (s); None reads to the end.
        raw: the format of headerless PCM; required for ``.raw``/``.pcm`` files.

    Returns:
        ``(N,)`` float32 mono in ``[-1, 1]``.

    Raises:
        MediaError: bad file, headerless PCM without ``raw``, or no audio stream.
    """
    _validate_range(start, end)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    path = Path(path)
    with _open_input(path, raw, "read_audio") as container:
        stream = _audio_stream(container)
        if stream is None:
            raise MediaError(path, "no audio stream")
        _check_truncated(container, path)
        stream.thread_type = "AUTO"
        t0 = _t0(container)
        _seek(container, stream, start - 0.25)  # decoders need pre-roll (AAC overlap, Opus)
        chunks: list[np.ndarray] = []  # (n,) mono pieces
        resampler, setup = None, None
        first_time = last_frame_dur = None
        for frame in container.decode(stream):
            if first_time is None:
                first_time = frame.time - t0 if frame.time is not None else 0.0
            last_frame_dur = frame.samples / frame.sample_rate
            if setup != (frame.format.name, frame.layout.name, frame.sample_rate):
                chunks += _mono(resampler, None)  # the input changed mid-stream: start anew
                setup = (frame.format.name, frame.layout.name, frame.sample_rate)
                # Keep the layout and average channels: swresample's "mono" downmix weighs
                # stereo at 0.707 each, which leaves [-1, 1] for in-phase channels.
                resampler = av.AudioResampler(format="fltp", rate=sample_rate)
            chunks += _mono(resampler, frame)
            if end is not None and frame.time is not None and frame.time - t0 > end:
                break
        chunks += _mono(resampler, None)
        audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)

        first_time = first_time or 0.0
        declared = _stream_duration(stream)
        if declared is not None and last_frame_dur is not None:
            declared_end = declared + float((stream.start_time or 0) * stream.time_base) - t0
            overshoot = first_time + len(audio) / sample_rate - declared_end
            if 0 < overshoot < last_frame_dur:  # padding inside the last frame only
                audio = audio[: max(0, round((declared_end - first_time) * sample_rate))]
        if start > first_time:
            audio = audio[round((start - first_time) * sample_rate) :]
        if end is not None:
            audio = audio[: max(0, round((end - max(start, first_time)) * sample_rate))]
        return np.clip(audio, -1.0, 1.0).astype(np.float32, copy=False)


# ----------------------------------------------------------------------------- writing


def _checked_audio(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Validate ``(N,)`` mono audio for writing; returns it as float32 clipped to [-1, 1]."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"audio must be (N,) mono, got shape {audio.shape}")
    if not np.isfinite(audio).all():
        raise ValueError("audio contains NaN or inf")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    return np.clip(audio, -1.0, 1.0)


def write_mp4(
    path: str | os.PathLike[str],
    frames: np.ndarray | Iterable[np.ndarray],
    fps: float,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    *,
    crf: int = 23,
    preset: str = "veryfast",
    threads: int = 1,
) -> None:
    """Write an H.264 (yuv420p) + AAC MP4 atomically (a temp name, renamed when complete).

    Odd heights/widths are padded by one repeated row/column (4:2:0 chroma needs even sizes).

    Args:
        path: destination ``.mp4``.
        frames: ``(T, H, W, 3)`` uint8 RGB, T >= 1; or an iterable of ``(H, W, 3)`` uint8 RGB
            frames of one size, encoded as they come (a long video never sits in memory).
        fps: frame rate.
        audio: ``(N,)`` float mono in ``[-1, 1]`` (clipped), or None for a silent clip.
        sample_rate: rate of ``audio`` (Hz).
        crf: x264 constant rate factor (0 lossless .. 51 worst).
        preset: x264 speed preset.
        threads: encoder threads (1 suits many clips written by parallel workers; 0 lets
            FFmpeg choose).
    """
    if isinstance(frames, np.ndarray):
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
            raise ValueError(f"frames must be (T, H, W, 3) with T >= 1, got shape {frames.shape}")
        images: Iterator[np.ndarray] = iter(frames)
        first = frames[0]
    else:
        images = iter(frames)
        first = next(images, None)
        if first is None:
            raise ValueError("frames must hold at least one frame")
        images = itertools.chain([first], images)
    first = np.asarray(first)
    if first.ndim != 3 or first.shape[-1] != 3:
        raise ValueError(f"each frame must be (H, W, 3), got shape {first.shape}")
    if first.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 RGB, got {first.dtype}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if not 0 <= crf <= 51:
        raise ValueError(f"crf must be in 0..51, got {crf}")
    if preset not in X264_PRESETS:
        raise ValueError(f"unknown x264 preset {preset!r}; one of: {', '.join(X264_PRESETS)}")
    if audio is not None:
        audio = _checked_audio(audio, sample_rate)
    height, width, _ = first.shape
    pad_h, pad_w = height % 2, width % 2

    rate = Fraction(fps).limit_denominator(1001)
    with (
        atomic_path(path) as tmp,
        av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as container,
    ):
        video = container.add_stream("libx264", rate=rate)
        video.width, video.height = width + pad_w, height + pad_h
        video.pix_fmt = "yuv420p"
        # mbtree off: x264's assembly for macroblock-tree rate control is not deterministic in
        # the PyAV 18 wheels (one input, several streams), and generated worlds must be
        # byte-stable; with it off (or with asm=0) every encode of the same frames is identical.
        video.options = {"crf": str(crf), "preset": preset, "x264-params": "mbtree=0"}
        video.codec_context.thread_count = threads
        sound = None
        if audio is not None:
            # The "fast" coder costs ~40% less CPU than FFmpeg's default (twoloop) for speech.
            sound = container.add_stream("aac", rate=sample_rate, options={"aac_coder": "fast"})
            sound.layout = "mono"
        for i, image in enumerate(images):  # (H, W, 3)
            image = np.asarray(image)
            if image.shape != first.shape or image.dtype != np.uint8:
                raise ValueError(
                    f"frame {i} is {image.shape} {image.dtype}, the first {first.shape} uint8"
                )
            if pad_h or pad_w:
                image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts, frame.time_base = i, 1 / rate
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            for offset in range(0, len(audio), 1024):
                chunk = audio[offset : offset + 1024][None, :]  # (1, n) planar mono
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                frame.sample_rate, frame.pts = sample_rate, offset
                frame.time_base = Fraction(1, sample_rate)
                container.mux(sound.encode(frame))
            container.mux(sound.encode(None))


def write_wav(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int = 16000) -> None:
    """Write ``(N,)`` float mono in ``[-1, 1]`` (clipped) as a 16-bit PCM WAV, atomically."""
    import soundfile

    audio = _checked_audio(audio, sample_rate)
    with atomic_path(path, suffix=".wav") as tmp:
        soundfile.write(tmp, audio, sample_rate, subtype="PCM_16", format="WAV")

"""Playback for every file: which ones a browser plays as they are, and proxies for the rest.

Chromium plays H.264/AV1/VP9 with AAC/MP3/Opus/FLAC in MP4, VP8/VP9/AV1 with Opus/Vorbis in
WebM, and MP3, AAC, FLAC, WAV (PCM) and Ogg (Opus, Vorbis, FLAC) audio (:func:`playable`). Any
other file (MPEG-4 Part 2 in AVI, MPEG-1/2, HEVC in MKV, WMV, AIFF, ...) is served through a
**proxy**: H.264 (x264, ``ultrafast``) + AAC in an MP4 with its index up front, at most
:data:`PROXY_MAX_HEIGHT` lines, or AAC in MP4 audio for a recording, made with PyAV (whose
wheels ship both encoders) on the first play and kept in a cache under the library
(:class:`ProxyCache`) within a size budget, the least recently played evicted first. The
original stays downloadable (``/media/{id}?original=1``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

PROXY_MAX_HEIGHT = 720
PROXY_CRF = 26
PROXY_AUDIO_RATE = 48000
_MP4 = "mov,mp4,m4a,3gp,3g2,mj2"
_PLAYABLE: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # FFmpeg demuxer name -> (video codecs, audio codecs) Chromium plays in that container
    _MP4: (
        frozenset({"h264", "av1", "vp9"}),
        frozenset({"aac", "mp3", "mp3float", "opus", "flac"}),
    ),
    "matroska,webm": (frozenset({"vp8", "vp9", "av1"}), frozenset({"opus", "vorbis"})),
    "mp3": (frozenset(), frozenset({"mp3", "mp3float"})),
    "aac": (frozenset(), frozenset({"aac"})),
    "flac": (frozenset(), frozenset({"flac"})),
    "ogg": (frozenset(), frozenset({"opus", "vorbis", "flac"})),
    "wav": (frozenset(), frozenset({"pcm_u8", "pcm_s16le", "pcm_s24le", "pcm_f32le"})),
}
_WEBM_SUFFIXES = (".webm",)  # a Matroska file plays only as WebM (by its suffix and codecs)


def playable(info: Any, path: Path | None = None) -> bool:
    """Whether Chromium plays a probed file (:class:`xmodal.media.MediaInfo`) as it is."""
    codecs = _PLAYABLE.get(info.format_name)
    if codecs is None:
        return False
    if info.format_name == "matroska,webm" and (path or info.path).suffix.lower() not in (
        _WEBM_SUFFIXES
    ):
        return False
    video_ok, audio_ok = codecs
    if info.video is not None and info.video.codec not in video_ok:
        return False
    return info.audio is None or info.audio.codec in audio_ok


class Playback:
    """What to serve for a library file: the file itself when a browser plays it, else its
    proxy from ``cache`` (made on first play). Probes are remembered per file and mtime."""

    def __init__(self, cache: ProxyCache) -> None:
        self.cache = cache
        self._known: dict[tuple[str, float], tuple[bool, Any]] = {}

    def needs_proxy(self, path: Path) -> tuple[bool, Any]:
        """``(needs a proxy, probe info)`` of a file (probed once per modification time;
        ``(False, None)`` for a file that is not media)."""
        from xmodal.media import MediaError, probe

        key = (str(path), path.stat().st_mtime)
        if key not in self._known:
            try:
                info = probe(path)
                self._known[key] = (not playable(info, path), info)
            except MediaError:  # not media (a note): served as it is, never probed again
                self._known[key] = (False, None)
        return self._known[key]

    def serve(self, entry_id: str, path: Path) -> tuple[Path, bool]:
        """``(file to serve, whether it is a proxy)``; a file no proxy can be made of (or that
        is not media) is served as it is (it stays downloadable)."""
        from xmodal.media import MediaError

        proxy, info = self.needs_proxy(path)
        if not proxy:
            return path, False
        try:
            return self.cache.get(entry_id, path, info).path, True
        except MediaError:
            return path, False


@dataclass(frozen=True)
class Proxy:
    """A proxy: its file, and the seconds making it took (0 when it was cached)."""

    path: Path
    seconds: float


def make_proxy(source: Path, target: Path, info: Any | None = None) -> str:
    """Transcode ``source`` to a browser-playable MP4 at ``target`` (atomically).

    Video: H.264 ``yuv420p``, scaled to at most :data:`PROXY_MAX_HEIGHT` lines (even sizes),
    the source's rotation applied, ``ultrafast`` preset; audio: AAC at 48 kHz (stereo or
    mono as the source). ``+faststart`` puts the index first so playback starts at once.

    Returns:
        The proxy's media type (``video/mp4`` or ``audio/mp4``).

    Raises:
        MediaError: the source cannot be decoded.
    """
    import av

    from xmodal.media import MediaError, probe
    from xmodal.utils import atomic_path

    info = info or probe(source)
    has_video = info.video is not None
    try:
        with (
            av.open(str(source)) as inp,
            atomic_path(target) as tmp,
            av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out,
        ):
            vin = inp.streams.video[0] if has_video else None
            ain = inp.streams.audio[0] if info.audio is not None else None
            vout = aout = None
            if vin is not None:
                vin.thread_type = "AUTO"
                width, height = _proxy_size(info.video.width, info.video.height)
                rate = Fraction(info.video.fps or 25).limit_denominator(1001)
                vout = out.add_stream("libx264", rate=rate)
                vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
                vout.options = {"preset": "ultrafast", "crf": str(PROXY_CRF),
                                "tune": "fastdecode"}  # fmt: skip
                vout.codec_context.time_base = Fraction(1, 90000)
            if ain is not None:
                layout = "mono" if info.audio.channels == 1 else "stereo"
                aout = out.add_stream("aac", rate=PROXY_AUDIO_RATE)
                aout.layout = layout
                resampler = av.AudioResampler(format="fltp", layout=layout,
                                              rate=PROXY_AUDIO_RATE)  # fmt: skip
            streams = [s for s in (vin, ain) if s is not None]
            for packet in inp.demux(*streams):
                for frame in _decode(packet):
                    if isinstance(frame, av.VideoFrame) and vout is not None:
                        _mux_video(out, vout, frame, info.video.rotation)
                    elif isinstance(frame, av.AudioFrame) and aout is not None:
                        for piece in resampler.resample(frame):
                            out.mux(aout.encode(piece))
            if vout is not None:
                out.mux(vout.encode(None))
            if aout is not None:
                for piece in resampler.resample(None):
                    out.mux(aout.encode(piece))
                out.mux(aout.encode(None))
    except av.FFmpegError as e:
        raise MediaError(source, f"cannot make a playable copy ({e})") from None
    return "video/mp4" if has_video else "audio/mp4"


def _decode(packet: Any) -> list[Any]:
    """A packet's frames; a damaged packet gives none (the proxy keeps the rest)."""
    import av

    try:
        return list(packet.decode())
    except av.FFmpegError:
        return []


def _proxy_size(width: int, height: int) -> tuple[int, int]:
    """Display size scaled to at most :data:`PROXY_MAX_HEIGHT` lines, both even."""
    if height > PROXY_MAX_HEIGHT:
        width, height = round(width * PROXY_MAX_HEIGHT / height), PROXY_MAX_HEIGHT
    return max(2, width - width % 2), max(2, height - height % 2)


def _mux_video(out: Any, stream: Any, frame: Any, rotation: int) -> None:
    """Scale (and rotate for display) one decoded frame and encode it."""
    import av

    if rotation % 360:
        image = frame.to_ndarray(format="rgb24")  # (H, W, 3) as stored
        image = np.ascontiguousarray(np.rot90(image, k=-(rotation // 90)))  # clockwise
        rotated = av.VideoFrame.from_ndarray(image, format="rgb24")
        rotated.pts, rotated.time_base = frame.pts, frame.time_base
        frame = rotated
    scaled = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
    if frame.pts is not None and frame.time_base is not None:
        scaled.pts = int(round(frame.pts * frame.time_base * 90000))
        scaled.time_base = Fraction(1, 90000)
    out.mux(stream.encode(scaled))


class ProxyCache:
    """Proxies on disk under ``root`` within ``budget_bytes`` (least recently played evicted).

    One proxy per entry id (``ROOT/<id>.mp4``, or ``.m4a`` for a recording); concurrent
    requests for the same entry wait for one transcode. A proxy in use is never evicted by the
    request that made it.
    """

    def __init__(self, root: str | os.PathLike[str], budget_bytes: int) -> None:
        if budget_bytes < 0:
            raise ValueError(f"the proxy cache budget must be >= 0 bytes, got {budget_bytes}")
        self.root = Path(root)
        self.budget = int(budget_bytes)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def path(self, entry_id: str, video: bool = True) -> Path:
        """Where an entry's proxy is (whether or not it exists)."""
        return self.root / f"{entry_id}{'.mp4' if video else '.m4a'}"

    def get(
        self,
        entry_id: str,
        source: Path,
        info: Any,
        make: Callable[[Path, Path, Any], str] = make_proxy,
    ) -> Proxy:
        """The entry's proxy, made now if it is not cached (then the cache is trimmed)."""
        with self._guard:
            lock = self._locks.setdefault(entry_id, threading.Lock())
        with lock:
            target = self.path(entry_id, info.video is not None)
            if target.is_file() and target.stat().st_mtime >= source.stat().st_mtime:
                os.utime(target)  # recently played
                return Proxy(target, 0.0)
            t0 = time.perf_counter()
            make(source, target, info)
            seconds = time.perf_counter() - t0
            self.trim(keep=target)
            return Proxy(target, seconds)

    def files(self) -> list[Path]:
        """The cached proxies."""
        if not self.root.is_dir():
            return []
        return [p for p in self.root.iterdir() if p.suffix in (".mp4", ".m4a") and p.is_file()]

    def size(self) -> int:
        """Bytes the cached proxies take."""
        return sum(p.stat().st_size for p in self.files())

    def trim(self, keep: Path | None = None) -> list[Path]:
        """Evict the least recently played proxies until the cache fits its budget.

        Returns:
            The proxies removed.
        """
        files = sorted(self.files(), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        removed = []
        for p in files:
            if total <= self.budget:
                break
            if keep is not None and p == keep:
                continue
            total -= p.stat().st_size
            p.unlink(missing_ok=True)
            removed.append(p)
        return removed

    def remove(self, entry_id: str) -> None:
        """Drop an entry's proxy (its entry was removed)."""
        for video in (True, False):
            self.path(entry_id, video).unlink(missing_ok=True)

"""Pictures of entries: a JPEG per video segment and a waveform per recording, made at ingest.

A video segment's thumbnail is the frame nearest its middle among the frames ingest already
decodes for the segment's vector (no second decode), scaled to at most
:data:`THUMB_MAX_SIDE` pixels and saved as JPEG. A recording's picture is its waveform: the
peak amplitude per slice of time, drawn as :data:`WAVE_BARS` bars in an SVG, from the audio
ingest decodes anyway. Both live under the library's own directory (:func:`library_data_dir`),
never beside the user's files::

    ROOT/<id[:2]>/<id>/seg-00003.jpg        segment 3 of a video entry
    ROOT/<id[:2]>/<id>/face-00003-01.jpg    face 1 of segment 3 (:data:`FACE_SIDE` square)
    ROOT/<id[:2]>/<id>/wave.svg             an audio entry

Files are written atomically; removing an entry removes its folder (:meth:`Thumbnails.remove`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

THUMB_MAX_SIDE = 320  # pixels of a thumbnail's longer side (cards show them at about 300)
THUMB_QUALITY = 80  # JPEG quality
WAVE_BARS = 96  # bars of a recording's waveform
WAVE_SLICE_S = 0.05  # seconds of audio per peak sample accumulated during ingest
FACE_SIDE = 96  # pixels of a face picture's side
FACE_MARGIN = 0.3  # a face picture shows this much of the face box's side around it


def library_data_dir(location: str, name: str, data_home: Path | None = None) -> Path:
    """A folder of a library's own files (``name``: ``thumbnails``, ``proxies``):
    ``LIBRARY_DIR/name`` for a LanceDB directory; for a PostgreSQL library, a folder of the
    user's data directory named by a digest of its location (:attr:`Store.location`: the URL
    without its password, and the schema)."""
    if "://" not in location:
        return Path(location) / name
    digest = hashlib.sha256(location.encode("utf-8")).hexdigest()[:16]
    if data_home is None:
        data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "xmodal" / name / f"pg-{digest}"


def pick_frame(frames: np.ndarray) -> np.ndarray:
    """The frame nearest a segment's middle among its sampled frames ``(k, H, W, 3)``."""
    return frames[len(frames) // 2]


def face_crop(frame: np.ndarray, box: Sequence[float], side: int = FACE_SIDE) -> np.ndarray:
    """A ``(side, side, 3)`` square around a face box (``x0, y0, x1, y1`` as frame fractions),
    with :data:`FACE_MARGIN` around it, padded with black where it leaves the frame."""
    import cv2

    h, w = frame.shape[:2]
    x0, y0, x1, y1 = box[0] * w, box[1] * h, box[2] * w, box[3] * h
    half = max(x1 - x0, y1 - y0) * (0.5 + FACE_MARGIN)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    a, b = round(cx - half), round(cy - half)
    n = max(1, round(2 * half))
    out = np.zeros((n, n, 3), np.uint8)
    ya, yb, xa, xb = max(0, b), min(h, b + n), max(0, a), min(w, a + n)
    if ya < yb and xa < xb:
        out[ya - b : yb - b, xa - a : xb - a] = frame[ya:yb, xa:xb]
    return cv2.resize(out, (side, side), interpolation=cv2.INTER_AREA)


def jpeg_bytes(frame: np.ndarray, max_side: int = THUMB_MAX_SIDE) -> bytes:
    """A JPEG of an ``(H, W, 3)`` uint8 RGB frame, scaled down to ``max_side`` if larger."""
    import cv2

    h, w = frame.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    bgr = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


def peaks(wave: np.ndarray, sample_rate: int, slice_s: float = WAVE_SLICE_S) -> np.ndarray:
    """Peak absolute amplitude per ``slice_s`` of a mono wave: ``(ceil(N / slice),)``."""
    step = max(1, round(slice_s * sample_rate))
    n = -(-len(wave) // step)
    if n == 0:
        return np.zeros(0, np.float32)
    padded = np.zeros(n * step, np.float32)
    padded[: len(wave)] = np.abs(wave)
    return padded.reshape(n, step).max(axis=1)


def waveform_svg(envelope: np.ndarray, bars: int = WAVE_BARS) -> str:
    """An SVG of ``bars`` bars from a peak envelope (each bar the max of its share), scaled so
    the loudest bar fills the height; silence draws a flat line."""
    env = np.asarray(envelope, np.float32)
    edges = np.linspace(0, len(env), bars + 1).round().astype(int)
    heights = np.array(
        [env[a:b].max() if b > a else 0.0 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    )
    top = float(heights.max()) if heights.size else 0.0
    heights = heights / top if top > 1e-4 else np.zeros_like(heights)
    width, height = bars * 3, 40
    rects = []
    for i, v in enumerate(heights):
        h = max(1.0, float(v) * (height - 2))
        rects.append(f'<rect x="{i * 3}" y="{(height - h) / 2:.1f}" width="2" height="{h:.1f}" '
                     'rx="1"/>')  # fmt: skip
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="none" fill="#fff" fill-opacity="0.8">{"".join(rects)}</svg>'
    )


@dataclass
class Pictures:
    """What ingest draws of one file, before it is committed.

    Attributes:
        jpegs: ``(segment index, JPEG bytes)`` of a video's segments.
        faces: ``(segment index, face index, JPEG bytes)`` of the faces seen in them.
        envelope: a recording's peak amplitudes, one per :data:`WAVE_SLICE_S` (appended chunk
            by chunk as the audio is decoded).
        wave: the recording's waveform SVG (:meth:`finish`); None for video.
        seen: the faces of each segment, when they were looked for while drawing
            (``library reindex --faces``); None otherwise.
    """

    jpegs: list[tuple[int, bytes]] = field(default_factory=list)
    faces: list[tuple[int, int, bytes]] = field(default_factory=list)
    envelope: list[np.ndarray] = field(default_factory=list)
    wave: str | None = None
    seen: list[Any] | None = None

    def add_frames(
        self, frames: Sequence[np.ndarray | None], indices: Sequence[int] | None = None
    ) -> None:
        """Thumbnails of segments' sampled frames (``frames[i]``: ``(k, H, W, 3)`` or None),
        for the segments ``indices`` (default: all)."""
        for i in range(len(frames)) if indices is None else indices:
            stack = frames[i]
            if stack is not None and len(stack):
                self.jpegs.append((i, jpeg_bytes(pick_frame(stack))))

    def finish(self, video: bool) -> None:
        """Draw a recording's waveform from its envelope (video keeps its thumbnails only)."""
        if not video and self.envelope:
            self.wave = waveform_svg(np.concatenate(self.envelope))
        self.envelope = []

    def __bool__(self) -> bool:
        return bool(self.jpegs) or self.wave is not None


class Thumbnails:
    """A library's picture folder (see the module docstring for its layout)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def folder(self, entry_id: str) -> Path:
        """The folder of one entry's pictures."""
        return self.root / entry_id[:2] / entry_id

    def segment_path(self, entry_id: str, segment: int) -> Path:
        """Where segment ``segment``'s thumbnail is (whether or not it exists)."""
        return self.folder(entry_id) / f"seg-{int(segment):05d}.jpg"

    def face_path(self, entry_id: str, segment: int, face: int) -> Path:
        """Where face ``face`` of segment ``segment`` is pictured (whether or not it exists)."""
        return self.folder(entry_id) / f"face-{int(segment):05d}-{int(face):02d}.jpg"

    def wave_path(self, entry_id: str) -> Path:
        """Where an audio entry's waveform is (whether or not it exists)."""
        return self.folder(entry_id) / "wave.svg"

    def write_segments(self, entry_id: str, jpegs: Sequence[tuple[int, bytes]]) -> None:
        """Save ``(segment, jpeg)`` thumbnails of an entry (atomically, each)."""
        for segment, data in jpegs:
            _write(self.segment_path(entry_id, segment), data)

    def write_wave(self, entry_id: str, svg: str) -> None:
        """Save an audio entry's waveform."""
        _write(self.wave_path(entry_id), svg.encode("utf-8"))

    def write(self, entry_id: str, pictures: Pictures) -> None:
        """Save what ingest drew of an entry."""
        self.write_segments(entry_id, pictures.jpegs)
        for segment, face, data in pictures.faces:
            _write(self.face_path(entry_id, segment, face), data)
        if pictures.wave is not None:
            self.write_wave(entry_id, pictures.wave)

    def picture(self, entry_id: str, segment: int | None) -> Path | None:
        """The picture a card shows: the segment's thumbnail (or the entry's first one), else
        the waveform; None when there is none."""
        folder = self.folder(entry_id)
        if segment is not None and (p := self.segment_path(entry_id, segment)).is_file():
            return p
        if (wave := self.wave_path(entry_id)).is_file():
            return wave
        first = sorted(folder.glob("seg-*.jpg")) if folder.is_dir() else []
        return first[0] if first else None

    def has(self, entry_id: str) -> bool:
        """Whether an entry has any picture."""
        folder = self.folder(entry_id)
        return folder.is_dir() and any(folder.iterdir())

    def remove(self, entry_id: str) -> None:
        """Delete an entry's pictures (nothing to do when it has none)."""
        shutil.rmtree(self.folder(entry_id), ignore_errors=True)


def _write(path: Path, data: bytes) -> None:
    from xmodal.utils import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)

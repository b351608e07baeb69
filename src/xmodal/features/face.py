"""Face detection, tracking and mouth crops for audio-visual sync on real footage.

Faces are found with OpenCV's frontal-face Haar cascade (shipped in ``opencv-python-headless``
4.x as ``cv2.data.haarcascades``; no download) every few frames, linked into tracks by box
overlap, interpolated and smoothed in between, and the mouth is cut from the lower middle of
the face box:

    faces = track_faces(frames)                 # list[FaceTrack]
    track = single_face_track(faces, len(frames))   # FaceError if none or several
    boxes = track.boxes_per_frame(len(frames))  # (T, 4) x0, y0, x1, y1
    mouths = crop_mouths(frames, mouth_boxes(boxes))   # (T, 32, 32) uint8 grayscale

The synthetic talking-head world does not need Haar: it stores where it drew each mouth.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MOUTH_CENTER_Y = 0.78
"""Mouth centre as a fraction of the Haar face box height, from its top."""

MOUTH_SIDE = 0.5
"""Side of the square mouth crop as a fraction of the face box width."""

DEFAULT_CROP = 32
"""Mouth crops are resized to this many pixels square."""


class FaceError(ValueError):
    """No usable face: none found, or several faces and no way to choose."""


@dataclass
class FaceTrack:
    """One face followed over time.

    Attributes:
        frames: the frame indices where the detector found this face (increasing).
        boxes: (len(frames), 4) float boxes ``x0, y0, x1, y1`` in pixels, one per entry.
    """

    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)

    @property
    def n_detections(self) -> int:
        """Number of frames where the detector found this face."""
        return len(self.frames)

    def boxes_per_frame(self, n_frames: int, smooth: int = 7) -> np.ndarray:
        """Boxes for every frame: linear interpolation between detections, held at the ends,
        then a centred moving average to remove detector jitter.

        Args:
            n_frames: T, the number of frames of the clip.
            smooth: moving-average width in frames (1 disables smoothing).

        Returns:
            (T, 4) float64 boxes ``x0, y0, x1, y1``.
        """
        if not self.frames:
            raise FaceError("empty face track")
        known = np.asarray(self.frames, dtype=np.float64)  # (n,)
        values = np.stack(self.boxes).astype(np.float64)  # (n, 4)
        t = np.arange(n_frames, dtype=np.float64)
        out = np.stack([np.interp(t, known, values[:, c]) for c in range(4)], axis=1)  # (T, 4)
        if smooth > 1 and n_frames > 1:
            pad = smooth // 2
            padded = np.pad(out, ((pad, pad), (0, 0)), mode="edge")  # (T + 2 pad, 4)
            kernel = np.ones(smooth) / smooth
            out = np.stack(
                [np.convolve(padded[:, c], kernel, mode="valid")[:n_frames] for c in range(4)],
                axis=1,
            )  # (T, 4)
        return out


@functools.lru_cache(maxsize=1)
def _cascade() -> Any:
    try:
        import cv2
    except ImportError:
        raise FaceError(
            "face detection needs OpenCV: pip install 'xmodal[vision]' "
            "(opencv-python-headless>=4.9,<5)"
        ) from None
    path = f"{cv2.data.haarcascades}haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise FaceError(f"cannot load the Haar cascade {path}; reinstall opencv-python-headless")
    return cascade


def detect_faces(
    frame: np.ndarray, min_size: float = 0.1, max_side: int = 320, min_neighbors: int = 5
) -> list[np.ndarray]:
    """Frontal faces in one frame.

    Args:
        frame: (H, W, 3) uint8 RGB or (H, W) uint8 grayscale.
        min_size: smallest face side as a fraction of the frame's shorter side.
        max_side: the frame is downscaled so its longer side is at most this (speed); boxes
            are returned in the original frame's pixels.
        min_neighbors: the cascade's ``minNeighbors`` (higher = fewer false positives).

    Returns:
        Boxes ``np.array([x0, y0, x1, y1])`` (float64), largest first.
    """
    import cv2

    img = np.asarray(frame)
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W[, 3]) uint8 frame, got {img.dtype} {img.shape}")
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img  # (H, W)
    scale = min(1.0, max_side / max(gray.shape))
    if scale < 1.0:
        size = (round(gray.shape[1] * scale), round(gray.shape[0] * scale))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    side = max(12, int(min_size * min(gray.shape)))
    found = _cascade().detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=min_neighbors, minSize=(side, side)
    )
    boxes = [np.array([x, y, x + w, y + h], dtype=np.float64) / scale for (x, y, w, h) in found]
    return sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``x0, y0, x1, y1`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def track_faces(
    frames: np.ndarray,
    detect_every: int = 5,
    iou_threshold: float = 0.3,
    max_missed: int = 4,
    **detect_kwargs: Any,
) -> list[FaceTrack]:
    """Detect faces every ``detect_every`` frames and link them into tracks by overlap.

    A detection joins the live track whose last box overlaps it most (IoU above
    ``iou_threshold``); otherwise it starts a new track. A track dies after ``max_missed``
    detection passes without a match.

    Args:
        frames: (T, H, W, 3) uint8 RGB.
        detect_every: run the detector on every n-th frame.
        iou_threshold: least overlap to continue a track.
        max_missed: detection passes a track may miss before it ends.
        **detect_kwargs: passed to :func:`detect_faces`.

    Returns:
        Every track, most detections first.
    """
    if detect_every < 1:
        raise ValueError(f"detect_every must be >= 1, got {detect_every}")
    steps = range(0, len(frames), detect_every)
    passes = [(t, detect_faces(frames[t], **detect_kwargs)) for t in steps]
    return link_detections(passes, iou_threshold, max_missed)


def link_detections(
    passes: list[tuple[int, list[np.ndarray]]], iou_threshold: float = 0.3, max_missed: int = 4
) -> list[FaceTrack]:
    """Link the boxes of successive detection passes into tracks by overlap.

    A detection joins the live track whose last box overlaps it most (IoU above
    ``iou_threshold``); otherwise it starts a new track. A track dies after ``max_missed``
    passes without a match.

    Args:
        passes: ``(frame index, boxes found there)`` per detection pass, in frame order.
        iou_threshold: least overlap to continue a track.
        max_missed: detection passes a track may miss before it ends.

    Returns:
        Every track, most detections first.
    """
    tracks: list[FaceTrack] = []
    live: list[tuple[FaceTrack, int]] = []  # (track, passes missed)
    for t, found in passes:
        matched: set[int] = set()
        next_live: list[tuple[FaceTrack, int]] = []
        for track, missed in live:
            last = track.boxes[-1]
            scores = [(box_iou(last, b), j) for j, b in enumerate(found) if j not in matched]
            best = max(scores, default=(0.0, -1))
            if best[0] >= iou_threshold:
                track.frames.append(t)
                track.boxes.append(found[best[1]])
                matched.add(best[1])
                next_live.append((track, 0))
            elif missed + 1 <= max_missed:
                next_live.append((track, missed + 1))
        for j, box in enumerate(found):
            if j not in matched:
                track = FaceTrack([t], [box])
                tracks.append(track)
                next_live.append((track, 0))
        live = next_live
    return sorted(tracks, key=lambda tr: -tr.n_detections)


def single_face_track(
    tracks: list[FaceTrack],
    n_frames: int,
    detect_every: int = 5,
    min_presence: float = 0.3,
    needs: str = "a frontal face at least a tenth of the frame's shorter side",
) -> FaceTrack:
    """The one persistent face of a clip.

    A track is persistent when the detector found it in at least ``min_presence`` of the
    detection passes (at least 2 passes when there were several); brief false positives are
    ignored.

    Args:
        tracks: from :func:`track_faces`.
        n_frames: T, the clip's number of frames.
        detect_every: the ``detect_every`` used for ``tracks``.
        min_presence: least fraction of detection passes a persistent track is found in.
        needs: what the detector needs, for the "no face" message.

    Returns:
        The single persistent track.

    Raises:
        FaceError: no persistent face, or more than one.
    """
    passes = max(1, -(-n_frames // detect_every))
    needed = max(1 if passes == 1 else 2, int(np.ceil(min_presence * passes)))
    persistent = [tr for tr in tracks if tr.n_detections >= needed]
    if not persistent:
        seen = f"; only brief detections in {len(tracks)} place(s)" if tracks else ""
        raise FaceError(
            f"no face found (the detector needs {needs}, visible in a third of the frames{seen})"
        )
    if len(persistent) > 1:
        raise FaceError(
            f"{len(persistent)} faces found; sync check needs exactly one speaking face "
            "(crop the video to the speaker)"
        )
    return persistent[0]


def mouth_boxes(face_boxes: np.ndarray) -> np.ndarray:
    """Square mouth boxes from Haar face boxes (lower middle of the face).

    Args:
        face_boxes: (T, 4) ``x0, y0, x1, y1`` face boxes.

    Returns:
        (T, 4) square mouth boxes of side ``MOUTH_SIDE * face width`` centred at
        ``MOUTH_CENTER_Y`` of the face height.
    """
    f = np.asarray(face_boxes, dtype=np.float64).reshape(-1, 4)  # (T, 4)
    cx = (f[:, 0] + f[:, 2]) / 2
    cy = f[:, 1] + MOUTH_CENTER_Y * (f[:, 3] - f[:, 1])
    half = MOUTH_SIDE * (f[:, 2] - f[:, 0]) / 2
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)  # (T, 4)


def crop_mouths(frames: np.ndarray, boxes: np.ndarray, size: int = DEFAULT_CROP) -> np.ndarray:
    """Cut and resize one box per frame to a grayscale square (outside the frame reads as edge).

    Args:
        frames: (T, H, W, 3) uint8 RGB or (T, H, W) uint8 grayscale.
        boxes: (T, 4) ``x0, y0, x1, y1`` boxes in pixels (floats allowed).
        size: output side in pixels.

    Returns:
        (T, size, size) uint8 grayscale crops.
    """
    import cv2

    frames = np.asarray(frames)
    boxes = np.asarray(boxes, dtype=np.float64)
    if len(frames) != len(boxes):
        raise ValueError(f"{len(frames)} frames but {len(boxes)} boxes")
    out = np.empty((len(frames), size, size), dtype=np.uint8)
    for t, (frame, box) in enumerate(zip(frames, boxes, strict=True)):
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame  # (H, W)
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"empty crop box {box.tolist()} at frame {t}")
        h, w = gray.shape
        pad = max(0, -x0, -y0, x1 - w, y1 - h)
        if pad:
            gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        region = gray[y0 + pad : y1 + pad, x0 + pad : x1 + pad]  # (y1 - y0, x1 - x0)
        shrink = region.shape[0] > size or region.shape[1] > size
        out[t] = cv2.resize(
            region, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        )
    return out

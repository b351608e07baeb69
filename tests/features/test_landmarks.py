"""dlib face landmarks: finding, tracking and losing a real face (scikit-image's astronaut)."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.features.face import FaceError, box_iou
from xmodal.features.landmarks import (
    CROP_H,
    CROP_W,
    LIP_SIGNALS,
    detect_faces_hog,
    lip_signals,
    mouth_crops,
    predictor_path,
    track_landmarks,
)

pytest.importorskip("dlib")
pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")

# Eileen Collins' face in skimage.data.astronaut() (512 x 512), measured by hand.
ASTRONAUT_FACE = np.array([176.0, 66.0, 272.0, 162.0])


@pytest.fixture(scope="module")
def gray() -> np.ndarray:
    rgb = skimage_data.astronaut()
    return (rgb @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)  # (512, 512)


def _pan(image: np.ndarray, n: int, step: int = 2, size: int = 320) -> list[np.ndarray]:
    return [image[20 : 20 + size, 40 + step * t : 40 + step * t + size] for t in range(n)]


def test_predictor_ships_in_the_wheel():
    path = predictor_path()
    assert path.name == "shape_predictor_68_face_landmarks.dat"
    assert path.stat().st_size > 90_000_000


def test_hog_finds_the_astronaut(gray):
    boxes = detect_faces_hog(gray)
    assert len(boxes) == 1 and box_iou(boxes[0], ASTRONAUT_FACE) > 0.5
    assert box_iou(detect_faces_hog(gray, face_side=96.0)[0], ASTRONAUT_FACE) > 0.5
    assert detect_faces_hog(np.full((240, 320), 128, np.uint8)) == []


def test_landmarks_follow_a_panning_face(gray):
    frames = _pan(gray, 30)
    faces = track_landmarks(iter(frames), rescan_every=10)
    assert faces.points.shape == (30, 68, 2) and faces.found.all()
    assert [t for t, _ in faces.passes] == [0, 10, 20]
    track = faces.face_track()
    assert track.n_detections == 3
    # the face moves 2 px left per frame in the crop: so do its landmarks
    nose = faces.points[:, 30, 0]  # (30,)
    assert np.polyfit(np.arange(30), nose, 1)[0] == pytest.approx(-2.0, abs=0.3)
    # landmarks sit on the face: the mouth inside the lower half of the hand-measured box
    mouth = faces.points[0, 48:68].mean(0) + np.array([40, 20])
    x0, y0, x1, y1 = ASTRONAUT_FACE
    assert x0 < mouth[0] < x1 and (y0 + y1) / 2 < mouth[1] < y1 + 10


def test_lip_signals_are_finite_and_scale_free(gray):
    import cv2

    frames = _pan(gray, 12)
    signals = lip_signals(track_landmarks(frames, rescan_every=5))
    assert signals.shape == (12, len(LIP_SIGNALS)) and np.isfinite(signals).all()
    big = [cv2.resize(f, (480, 480), interpolation=cv2.INTER_CUBIC) for f in frames]
    big_signals = lip_signals(track_landmarks(big, rescan_every=5))
    # distances over the eye distance do not depend on the face size (within 0.03 eye distances)
    np.testing.assert_allclose(big_signals[:, :7].mean(0), signals[:, :7].mean(0), atol=0.03)


def test_a_face_that_leaves_is_marked_lost(gray):
    blank = np.full((320, 320), 90, np.uint8)
    frames = _pan(gray, 10) + [blank] * 15 + _pan(gray, 10)
    faces = track_landmarks(frames, rescan_every=5, retry_every=5)
    found = faces.found
    assert found[:10].all() and not found[10:25].any() and found[25:].all()
    signals = lip_signals(faces)
    assert np.isnan(signals[10:25]).all() and np.isfinite(signals[26:]).all()
    assert np.isnan(signals[25, 8])  # no motion measured across the gap
    crops = mouth_crops(faces)
    assert crops.shape == (35, CROP_H, CROP_W) and crops[12].max() == 0 and crops[3].max() > 0


def test_no_face_and_two_faces(gray):
    with pytest.raises(FaceError, match="no face found"):
        track_landmarks([np.full((240, 320), 128, np.uint8)] * 30, rescan_every=10).face_track()
    face = gray[40:240, 120:320]  # (200, 200)
    two = np.concatenate([face, np.full((200, 80), 200, np.uint8), face], axis=1)
    with pytest.raises(FaceError, match="2 faces found"):
        track_landmarks([two] * 30, rescan_every=10).face_track()

"""Haar face detection, tracking and mouth crops on a real photo (scikit-image's astronaut)."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.features.face import (
    FaceError,
    FaceTrack,
    box_iou,
    crop_mouths,
    detect_faces,
    mouth_boxes,
    single_face_track,
    track_faces,
)

pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")

# Eileen Collins' face in skimage.data.astronaut() (512 x 512), measured by hand.
ASTRONAUT_FACE = np.array([176.0, 66.0, 272.0, 162.0])


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut()  # bundled in the scikit-image wheel, no download


def test_haar_finds_the_astronaut_face(astronaut):
    boxes = detect_faces(astronaut)
    assert len(boxes) == 1
    assert box_iou(boxes[0], ASTRONAUT_FACE) > 0.7
    gray = astronaut.mean(axis=2).astype(np.uint8)
    assert box_iou(detect_faces(gray)[0], ASTRONAUT_FACE) > 0.7


def test_no_face_in_a_flat_image():
    assert detect_faces(np.full((240, 320, 3), 128, np.uint8)) == []


def _pan(image: np.ndarray, n: int, step: int = 2, size: int = 320) -> np.ndarray:
    """A video panning over ``image``: (n, size, size, 3)."""
    return np.stack([image[40 : 40 + size, 40 + step * t : 40 + step * t + size] for t in range(n)])


def test_tracking_follows_one_face(astronaut):
    frames = _pan(astronaut, 21)
    tracks = track_faces(frames, detect_every=5)
    track = single_face_track(tracks, len(frames), detect_every=5)
    assert track.frames == [0, 5, 10, 15, 20]
    boxes = track.boxes_per_frame(len(frames), smooth=1)
    assert boxes.shape == (21, 4)
    # the face moves left by 2 px per frame in the panning window
    expected = ASTRONAUT_FACE - np.array([40, 40, 40, 40])
    assert box_iou(boxes[0], expected) > 0.6
    assert box_iou(boxes[20], expected - np.array([40, 0, 40, 0])) > 0.6
    # between detections the box is interpolated
    np.testing.assert_allclose(boxes[2], boxes[0] + 0.4 * (boxes[5] - boxes[0]))


def test_two_faces_are_refused(astronaut):
    face = astronaut[30:200, 140:310]  # (170, 170, 3)
    frame = np.concatenate([face, np.full((170, 60, 3), 200, np.uint8), face], axis=1)
    frames = np.stack([frame] * 10)
    tracks = track_faces(frames, detect_every=3)
    with pytest.raises(FaceError, match="2 faces found"):
        single_face_track(tracks, len(frames), detect_every=3)


def test_no_face_is_refused():
    frames = np.zeros((10, 120, 160, 3), np.uint8)
    with pytest.raises(FaceError, match="no face found"):
        single_face_track(track_faces(frames), len(frames))


def test_brief_false_positives_are_not_a_face():
    real = FaceTrack([0, 5, 10, 15, 20, 25], [np.array([10.0, 10, 50, 50])] * 6)
    blip = FaceTrack([15], [np.array([100.0, 10, 140, 50])])
    assert single_face_track([real, blip], 30) is real


def test_mouth_box_geometry():
    box = mouth_boxes(np.array([[100.0, 50.0, 200.0, 150.0]]))[0]
    np.testing.assert_allclose(box, [125.0, 103.0, 175.0, 153.0])  # centre (150, 128), side 50


def test_crop_mouths_cuts_and_resizes():
    frame = np.zeros((60, 80), np.uint8)
    frame[20:40, 30:50] = 200  # a bright square
    frames = np.stack([frame, frame])
    crops = crop_mouths(frames, np.array([[30.0, 20.0, 50.0, 40.0], [20.0, 10.0, 60.0, 50.0]]), 8)
    assert crops.shape == (2, 8, 8) and crops.dtype == np.uint8
    assert (crops[0] == 200).all()  # exactly the square
    assert crops[1][3:5, 3:5].min() == 200 and crops[1][0, 0] == 0  # square in the middle
    # a box running off the frame repeats the edge instead of failing
    edge = crop_mouths(frames[:1], np.array([[-10.0, -10.0, 10.0, 10.0]]), 4)
    assert (edge == 0).all()
    rgb = np.repeat(frames[..., None], 3, axis=-1)
    np.testing.assert_array_equal(crop_mouths(rgb, np.array([[30.0, 20, 50, 40]] * 2), 8)[0], 200)

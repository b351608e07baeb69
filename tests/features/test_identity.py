"""dlib face descriptors per library segment, face tracks and clustering, on real talking heads
(``../shared/media/talking``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xmodal.features.identity import (
    DEFAULT_THRESHOLD,
    FACE_DIM,
    FaceDescriber,
    FaceSeen,
    cluster_descriptors,
)

pytest.importorskip("dlib")
pytest.importorskip("cv2")

SAME_MAN = ("tk19_syncnet_example.avi", "tk20_syncnet_example_adelay200ms.avi")
OTHER_MAN = "tk26_astorfi_sample_video.mp4"  # elderly man, 480 x 360


def _segment(path: Path, start: float = 0.0, n: int = 4, seconds: float = 5.0) -> np.ndarray:
    """The ``n`` frames the library samples from the window ``[start, start + seconds)``:
    centres of equal sub-spans, the shorter side at most 256 pixels."""
    from xmodal.media import probe, read_video

    info = probe(path)
    w, h = info.video.width, info.video.height
    scale = 256 / min(w, h)
    size = None if scale >= 1 else (round(h * scale), round(w * scale))
    fps = n / seconds
    return read_video(path, fps=fps, size=size, start=start + 0.5 / fps, end=start + seconds)


@pytest.fixture(scope="module")
def talking(shared_media: Path) -> Path:
    folder = shared_media / "talking"
    if not all((folder / name).is_file() for name in (*SAME_MAN, OTHER_MAN)):
        pytest.skip(f"talking-head clips not found in {folder}")
    return folder


@pytest.fixture(scope="module")
def faces(talking: Path) -> dict[str, list[FaceSeen]]:
    describer = FaceDescriber()
    return {name: describer.describe(_segment(talking / name)) for name in (*SAME_MAN, OTHER_MAN)}


def test_one_talking_head_is_one_track_of_four_frames(faces):
    for name, seen in faces.items():
        assert len(seen) == 1, name
        face = seen[0]
        assert face.descriptor.shape == (FACE_DIM,) and face.descriptor.dtype == np.float32
        assert face.boxes.shape == (len(face.frames), 4)
        assert face.score > 0 and face.size >= 40
    anchor = faces[SAME_MAN[0]][0]
    assert anchor.frames == (0, 1, 2, 3)
    assert len(faces[OTHER_MAN][0].frames) >= 3  # he turns away at times
    # the anchor's face is about 130 px of the 224 px frame, centred, upper half
    assert 110 < anchor.size < 150
    x0, y0, x1, y1 = anchor.boxes.mean(0)
    assert 0.05 < x0 < x1 < 0.95 and 0.0 <= y0 < 0.2 and 0.6 < y1 < 0.9


def test_boxes_are_fractions_of_the_frame(faces):
    for seen in faces.values():
        for face in seen:
            assert np.all((face.boxes >= 0) & (face.boxes <= 1))
            assert np.all(face.boxes[:, 2] > face.boxes[:, 0])
            assert np.all(face.boxes[:, 3] > face.boxes[:, 1])


def test_same_man_is_closer_than_the_threshold_and_another_man_farther(faces):
    a, b = (faces[name][0].descriptor for name in SAME_MAN)
    other = faces[OTHER_MAN][0].descriptor
    same = float(np.linalg.norm(a - b))
    different = float(np.linalg.norm(a - other))
    assert same < 0.3 < DEFAULT_THRESHOLD  # the same video stream, re-muxed
    assert different > DEFAULT_THRESHOLD + 0.2


def test_best_view_describes_each_track_once_and_all_views_every_sighting(talking, monkeypatch):
    """views="best" describes one sighting per track (the cost is the descriptor), views="all"
    every sighting and takes their mean; both follow the one face through the four frames."""
    frames = _segment(talking / SAME_MAN[0])
    calls = []
    original = FaceDescriber._describe

    def counted(frame: np.ndarray, sighting) -> np.ndarray:
        calls.append(sighting.frame)
        return original(frame, sighting)

    monkeypatch.setattr(FaceDescriber, "_describe", staticmethod(counted))
    (best,) = FaceDescriber(views="best").describe(frames)
    assert len(calls) == 1 and best.frames == (0, 1, 2, 3)
    calls.clear()
    (every,) = FaceDescriber(views="all").describe(frames)
    assert calls == [0, 1, 2, 3] and every.frames == (0, 1, 2, 3)
    assert float(np.linalg.norm(best.descriptor - every.descriptor)) < 0.2
    with pytest.raises(ValueError, match="views"):
        FaceDescriber(views="some")


def test_clustering_three_clips_of_two_people(faces, talking):
    later = FaceDescriber().describe(_segment(talking / SAME_MAN[0], start=5.0))
    x = np.stack([faces[SAME_MAN[0]][0].descriptor, faces[OTHER_MAN][0].descriptor,
                  faces[SAME_MAN[1]][0].descriptor, later[0].descriptor])  # fmt: skip
    assert cluster_descriptors(x).tolist() == [0, 1, 0, 0]
    assert cluster_descriptors(x, method="whispers").tolist() == [0, 1, 0, 0]


def test_cluster_edge_cases():
    assert cluster_descriptors(np.zeros((0, FACE_DIM))).tolist() == []
    assert cluster_descriptors(np.zeros((1, FACE_DIM))).tolist() == [0]
    rng = np.random.default_rng(0)
    people = rng.normal(0, 1, (3, FACE_DIM)) * 0.1  # (3, 128) about 1.4 apart
    x = people[[2, 0, 2, 1, 0]] + rng.normal(0, 0.002, (5, FACE_DIM))  # (5, 128)
    assert cluster_descriptors(x).tolist() == [0, 1, 0, 2, 1]  # numbered by first appearance
    with pytest.raises(ValueError, match="128"):
        cluster_descriptors(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="method"):
        cluster_descriptors(x, method="kmeans")


def test_blank_noise_has_no_face():
    noise = np.random.default_rng(0).integers(0, 256, (2, 256, 256, 3), dtype=np.uint8)
    assert FaceDescriber().describe(noise) == []


def test_bad_input_says_what_is_wrong():
    describer = FaceDescriber()
    with pytest.raises(ValueError, match="uint8"):
        describer.describe(np.zeros((2, 64, 64, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        describer.describe(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        describer.describe(np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(ValueError, match="link_distance"):
        FaceDescriber(link_distance=0)
    with pytest.raises(ValueError, match="link_iou"):
        FaceDescriber(link_iou=0)

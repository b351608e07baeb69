"""The checks both storage backends run, so they refuse the same input with the same message:
a model against a library (:func:`check_compatible`), a schema version (:func:`check_migratable`),
a batch to write (:func:`check_batch`), vectors and faces to set (:func:`check_vectors`,
:func:`check_faces`), and queries
(:func:`check_query`, :func:`check_text_query`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence

import numpy as np

from xmodal.library.records import (
    SCHEMA_VERSION,
    Entry,
    Face,
    LibraryError,
    LibraryMeta,
    Segment,
    check_face_list,
)


def check_compatible(stored: LibraryMeta, wanted: LibraryMeta, location: str) -> None:
    """Raise :class:`LibraryError` unless ``wanted`` may write into a library holding ``stored``.

    Spaces of ``wanted`` that the library lacks are fine (they are added); a space whose width
    differs, or another model id, is refused with the reindex instruction.
    """
    reindex = "run `xmodal library reindex` to re-embed the library with the new model"
    if stored.model_id != wanted.model_id:
        raise LibraryError(
            f"library at {location} holds vectors of model {stored.model_id!r}, "
            f"not {wanted.model_id!r}: {reindex}"
        )
    for space, width in wanted.spaces.items():
        have = stored.spaces.get(space)
        if have is not None and have != width:
            raise LibraryError(
                f"library at {location} stores {have}-d vectors in space {space!r}, "
                f"the model gives {width}-d: a library never mixes widths; {reindex}"
            )


def check_migratable(location: str, found: int, migrations: Collection[int]) -> None:
    """Raise :func:`schema_error` unless a library at schema version ``found`` is current or
    ``migrations`` (the versions a backend can migrate from) lead to the current version."""
    steps = range(found, SCHEMA_VERSION)
    if found > SCHEMA_VERSION or any(v not in migrations for v in steps):
        raise schema_error(location, found)


def schema_error(location: str, found: int) -> LibraryError:
    """The error for a library whose schema version this code cannot read or migrate."""
    if found > SCHEMA_VERSION:
        return LibraryError(
            f"library at {location} has schema version {found}, newer than version "
            f"{SCHEMA_VERSION} that this xmodal reads: upgrade xmodal"
        )
    return LibraryError(
        f"library at {location} has schema version {found}; this xmodal uses version "
        f"{SCHEMA_VERSION} and has no migration from {found}: ingest your files into a new "
        "library (another --library or --db) and remove the old one"
    )


def validate_upsert(meta: LibraryMeta, entry: Entry, segments: list[Segment]) -> None:
    """Check that ``segments`` belong to ``entry`` and their vectors fit the library's spaces."""
    seen: set[int] = set()
    for seg in segments:
        if seg.entry_id != entry.id:
            raise ValueError(
                f"segment {seg.index} belongs to entry {seg.entry_id[:12]}…, not {entry.id[:12]}…"
            )
        if seg.index in seen:
            raise ValueError(f"entry {entry.path}: segment index {seg.index} appears twice")
        seen.add(seg.index)
        for space, vec in seg.vectors.items():
            width = meta.spaces.get(space)
            if width is None:
                raise ValueError(
                    f"entry {entry.path}: unknown space {space!r}; the library has "
                    f"{sorted(meta.spaces)}"
                )
            if vec.shape != (width,):
                raise ValueError(
                    f"entry {entry.path}: space {space!r} takes {width}-d vectors, "
                    f"segment {seg.index} has {vec.shape[0]}-d"
                )


def check_batch(
    meta: LibraryMeta, items: Iterable[tuple[Entry, list[Segment]]]
) -> list[tuple[Entry, list[Segment]]]:
    """Check a batch of :meth:`Store.upsert_entries` (each entry once, each as
    :func:`validate_upsert`); returns it as a list."""
    items = list(items)
    ids = [e.id for e, _ in items]
    if len(set(ids)) != len(ids):
        raise ValueError("the same entry id appears twice in one batch")
    for entry, segs in items:
        validate_upsert(meta, entry, segs)
    return items


def check_vectors(meta: LibraryMeta, space: str, vectors: np.ndarray) -> tuple[np.ndarray, int]:
    """Check :meth:`Store.set_vectors` input; returns ``(vectors as float32, the space's
    width)`` (the row count is checked against the entry's segments by the store)."""
    width = meta.spaces.get(space)
    if width is None:
        raise ValueError(f"unknown space {space!r}; the library has {sorted(meta.spaces)}")
    vecs = np.ascontiguousarray(vectors, dtype=np.float32)
    if not np.isfinite(vecs).all():
        raise ValueError(f"vectors for space {space!r} have NaN or inf values")
    return vecs, width


def cleared_spaces(old: LibraryMeta, new: LibraryMeta) -> list[str]:
    """The spaces of ``new`` whose stored vectors :meth:`Store.reset_meta` clears: all of them
    when the model changed, else those that are new or changed width."""
    return [
        s for s, w in new.spaces.items() if old.model_id != new.model_id or old.spaces.get(s) != w
    ]


def check_text_query(query: str, k: int) -> bool:
    """Check a full-text query; False when it has no word (its answer is empty)."""
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return re.search(r"\w", query) is not None


def check_query(meta: LibraryMeta, space: str, vector: np.ndarray, k: int) -> np.ndarray:
    """Validate a vector query; returns the query as a (D,) float32 array."""
    if space not in meta.spaces:
        raise ValueError(f"unknown space {space!r}; the library has {sorted(meta.spaces)}")
    q = np.ascontiguousarray(vector, dtype=np.float32)
    if q.shape != (meta.spaces[space],):
        raise ValueError(
            f"space {space!r} takes {meta.spaces[space]}-d queries, got shape {q.shape}"
        )
    if not np.isfinite(q).all() or not np.any(q):
        raise ValueError("query vector must be finite and non-zero")
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return q


def check_faces(path: str, n_segments: int, faces: Sequence[list[Face] | None]) -> None:
    """Check :meth:`Store.set_faces`'s argument: one list (or None) of faces per segment."""
    if len(faces) != n_segments:
        raise ValueError(f"entry {path}: {n_segments} segments but faces for {len(faces)}")
    for f in faces:
        if f is not None:
            try:
                check_face_list(f)
            except ValueError as e:
                raise ValueError(f"entry {path}: {e}") from None

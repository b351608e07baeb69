"""The memory library's storage layer: one small protocol and the factory.

A library holds **entries** (one per ingested file or note, identified by the SHA-256 of its
content) and their **segments** (time spans of an entry, each with one vector per embedding
space and the transcript words spoken in it); the records are in :mod:`xmodal.library.records`.
Two backends implement :class:`Store`:

* :class:`~xmodal.library.lancedb.LanceStore` — the embedded default, a directory
  (``$XDG_DATA_HOME/xmodal/library``, i.e. ``~/.local/share/xmodal/library``, or ``--library``);
* :class:`~xmodal.library.postgres.PostgresStore` — PostgreSQL + pgvector, chosen by a
  URL (``--db`` or ``XMODAL_DATABASE_URL``) for a shared server or a library that outgrows one
  machine.

Both are checked by the same contract test suite. The contract, for code built on top:

* ``upsert_entry(entry, segments)`` is atomic: after it returns, or after a crash at any point
  inside it, readers see either the old version of the entry with all its old segments, or the
  new version with all its new segments — never a mix, never an entry without its segments.
* Vector search is cosine similarity (``Hit.score`` in [-1, 1]); callers pass L2-normalised
  vectors (the store compares directions either way). Segments without a vector in a space are
  not candidates in that space.
* Full-text search matches segments (by their ``text``) and entries (by their transcript or
  note, ``Entry.text``); every word of the query must occur (stemmed, case-folded, English stop
  words ignored). A whole-entry hit (``Hit.segment is None``) is returned only for entries none
  of whose segments is already in the list. ``Hit.score`` there is the backend's relevance
  (BM25 for LanceDB, ``ts_rank`` for PostgreSQL): compare ranks, not scores, across backends.
  Fusing vector and text results (reciprocal rank fusion) is done above the store.
* A video segment may carry visual tags (``Segment.tags``, ``None`` when never tagged) and
  their words (``Segment.tag_text``); :meth:`Store.search_tags` matches any query word among
  them, and ``Filters.tags`` keeps segments with one of the given tag words.
* Reads are thread-safe and run beside a writer (see :class:`Store`); ``tests/library/
  test_store_contract.py`` checks it with threads searching while others ingest and remove.
* :class:`Filters` apply to both searches identically: modality set, ``since <= created <=
  until`` (inclusive, epoch seconds, on the entry's *created* time) and a path glob with
  :func:`fnmatch.fnmatchcase` semantics (``*`` also crosses ``/``).
* A video segment may carry the faces seen in it (``Segment.faces``, ``None`` when never
  looked at), replaced with :meth:`Store.set_faces`; the library's people are one JSON document
  (:meth:`Store.people`, :meth:`Store.set_people`) that :mod:`xmodal.library.people` keeps.
* A library records its embedding model id and the width of every space (:class:`LibraryMeta`).
  Opening it for a model with another id or width raises :class:`LibraryError` telling the user
  to run ``xmodal library reindex`` (which calls :meth:`Store.reset_meta` then
  :meth:`Store.set_vectors` per entry). A library written by an older schema version is
  migrated when a migration exists, else refused with a message naming both versions.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from xmodal.library.records import Entry, Face, Filters, Hit, LibraryError, LibraryMeta, Segment

if TYPE_CHECKING:
    from xmodal.library.lancedb import LanceStoreConfig
    from xmodal.library.postgres import PostgresStoreConfig

DATABASE_URL_ENV = "XMODAL_DATABASE_URL"


# ----------------------------------------------------------------------------- protocol


@runtime_checkable
class Store(Protocol):
    """A library's storage. Open one with :func:`open_store`; use it as a context manager.

    Threads: reads (``get_entry``, ``has_entry``, ``find_by_path``, ``iter_entries``,
    ``segments``, ``search_vector``, ``search_text``, ``search_tags``, ``stats``, ``meta``) may
    run from any number of threads at once, beside writes; writes through one store take turns
    (the store's write lock) and never make readers wait. A reader sees each entry as it was
    committed, with exactly its segments, never half-written.
    """

    @property
    def location(self) -> str:
        """Where the library lives (a directory, or the database URL without password)."""
        ...

    def meta(self) -> LibraryMeta:
        """The library's model id and spaces; :class:`LibraryError` if not initialised."""
        ...

    def init(self, meta: LibraryMeta) -> None:
        """Create the library for ``meta``, or check an existing one against it (adding spaces
        it lacks). A different model id or space width raises :class:`LibraryError`."""
        ...

    def reset_meta(self, meta: LibraryMeta) -> list[str]:
        """Adopt a new model (the first step of ``xmodal library reindex``).

        Spaces absent from ``meta`` are dropped; the vectors of every space that is new,
        changed width, or (if the model id changed) all spaces, are cleared. Entries, segments
        and text stay. Returns the spaces to refill with :meth:`set_vectors`.
        """
        ...

    def upsert_entry(self, entry: Entry, segments: list[Segment]) -> None:
        """Insert or replace an entry with all its segments, atomically."""
        ...

    def upsert_entries(self, items: Iterable[tuple[Entry, list[Segment]]]) -> None:
        """Insert or replace several entries; the batch becomes visible at once (faster than
        one call per entry; ingest commits in batches of tens to hundreds)."""
        ...

    def get_entry(self, entry_id: str) -> Entry | None:
        """The entry with this id, or ``None``."""
        ...

    def has_entry(self, entry_id: str) -> bool:
        """Whether an entry with this id exists."""
        ...

    def find_by_path(self, path: str) -> Entry | None:
        """The entry stored under this absolute path (the latest added if several), or None."""
        ...

    def update_path(self, entry_id: str, new_path: str) -> bool:
        """Record that an entry's file moved; False if the id is unknown."""
        ...

    def remove_entry(self, entry_id: str) -> bool:
        """Delete an entry and its segments; False if the id is unknown."""
        ...

    def iter_entries(self) -> Iterator[Entry]:
        """Every entry, in path order."""
        ...

    def segments(self, entry_id: str) -> list[Segment]:
        """An entry's segments in index order, with their vectors ([] if unknown)."""
        ...

    def set_vectors(self, entry_id: str, space: str, vectors: np.ndarray) -> None:
        """Replace one space's vectors of an entry's segments, atomically.

        Args:
            entry_id: the entry.
            space: a space of the library.
            vectors: (S, D) float32, row i for the i-th segment in index order
                (as :meth:`segments` lists them).
        """
        ...

    def clear_vectors(self, space: str) -> None:
        """Remove every vector of a space (segments and text stay)."""
        ...

    def set_faces(self, entry_id: str, faces: Sequence[list[Face] | None]) -> None:
        """Replace the faces of an entry's segments, atomically: one list (``None``: never
        looked at) per segment in index order. ``KeyError`` for an unknown entry."""
        ...

    def iter_faces(self) -> Iterator[tuple[Entry, int, float, float, list[Face]]]:
        """Every segment with faces: ``(entry, segment index, start, end, faces)``, in path
        and segment order (one scan of the faces, not of the vectors)."""
        ...

    def people(self) -> dict[str, Any]:
        """The library's people, as :meth:`set_people` last wrote them (``{}``: none yet).
        What the document holds is :mod:`xmodal.library.people`'s business."""
        ...

    def set_people(self, people: dict[str, Any]) -> None:
        """Replace the library's people document (JSON-ready), atomically."""
        ...

    def search_vector(
        self, space: str, vector: np.ndarray, k: int = 10, filters: Filters | None = None
    ) -> list[Hit]:
        """The ``k`` segments most similar (cosine) to ``vector`` (D,) in ``space``, best first."""
        ...

    def search_text(self, query: str, k: int = 10, filters: Filters | None = None) -> list[Hit]:
        """Full-text matches of ``query`` in segment texts and entry texts, best first."""
        ...

    def search_tags(self, query: str, k: int = 10, filters: Filters | None = None) -> list[Hit]:
        """Full-text matches of ``query`` in segments' ``tag_text``, best first; ``Hit.space`` is
        ``"tags"``. Unlike :meth:`search_text`, *any* word may match (tag words are a bag, and
        a sentence says more than any tag): segments matching more, and rarer, words rank
        higher. Stemming and stop words as in :meth:`search_text`."""
        ...

    def stats(self) -> dict[str, Any]:
        """Counts and sizes.

        Keys: ``backend``, ``location``, ``schema_version``, ``model_id``, ``spaces``
        (name -> width), ``entries``, ``entries_by_modality`` (every modality, 0 included),
        ``segments``, ``vectors`` (space -> segments with a vector there), ``duration_s``
        (sum of entry durations), ``size_bytes`` (on disk; ``None`` if unknown).
        """
        ...

    def optimize(self) -> None:
        """Compact storage and bring indexes up to date; call after a batch of writes."""
        ...

    def close(self) -> None:
        """Release files and connections."""
        ...

    def __enter__(self) -> Store: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


# ----------------------------------------------------------------------------- factory


def default_library_dir() -> Path:
    """``$XDG_DATA_HOME/xmodal/library`` (``~/.local/share/xmodal/library`` by default)."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "xmodal" / "library"


def open_store(
    library_dir: str | os.PathLike[str] | None = None,
    db_url: str | None = None,
    *,
    meta: LibraryMeta | None = None,
    lance_config: LanceStoreConfig | None = None,
    postgres_config: PostgresStoreConfig | None = None,
) -> Store:
    """Open a library.

    The backend is chosen by, in order: ``db_url`` (PostgreSQL), ``library_dir`` (LanceDB),
    the ``XMODAL_DATABASE_URL`` environment variable (PostgreSQL), then the default directory
    :func:`default_library_dir` (LanceDB).

    Args:
        library_dir: a LanceDB library directory (``--library``).
        db_url: a PostgreSQL URL (``--db``), e.g. ``postgresql://user@host:5432/db``.
        meta: the model the caller will write with. Given: the library is created if needed
            and checked against it (:meth:`Store.init`). Omitted (read-only use such as
            search): a library that does not exist yet raises :class:`LibraryError`.
        lance_config: options of the LanceDB backend.
        postgres_config: options of the PostgreSQL backend.

    Returns:
        The open store (a context manager).
    """
    if db_url and library_dir is not None:
        raise LibraryError("give either a library directory (--library) or a database (--db)")
    url = db_url or (None if library_dir is not None else os.environ.get(DATABASE_URL_ENV))
    store: Store
    if url:
        from xmodal.library.postgres import PostgresStore

        store = PostgresStore(url, create=meta is not None, config=postgres_config)
    else:
        from xmodal.library.lancedb import LanceStore

        path = Path(library_dir) if library_dir is not None else default_library_dir()
        store = LanceStore(path, create=meta is not None, config=lance_config)
    if meta is not None:
        try:
            store.init(meta)
        except BaseException:
            store.close()
            raise
    return store

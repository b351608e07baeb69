"""The memory library: entries, segments and their vectors in a store, ingest and search.

Layout (arrows point one way, no cycles; ``tests/library/test_layout.py`` checks it):

* :mod:`~xmodal.library.records` — entries, segments, hits, filters, the library's meta;
  :mod:`~xmodal.library.columns` — how both backends lay them out in columns;
  :mod:`~xmodal.library.checks` — the checks both backends run on input;
  :mod:`~xmodal.library.ranking` — ranking inside a store; :mod:`~xmodal.library.calibration` —
  tuning an approximate index;
* :mod:`~xmodal.library.store` — the storage protocol and :func:`open_store`, over two backends
  that load on use: :mod:`xmodal.library.lancedb` (embedded, a directory) and
  :mod:`xmodal.library.postgres` (PostgreSQL + pgvector), each split into store, schema,
  search and index;
* :mod:`~xmodal.library.notes`, :mod:`~xmodal.library.dates` — reading notes and dates;
  :mod:`~xmodal.library.joint` — the narrow interface to a trained joint space;
  :mod:`~xmodal.library.tagging` — a video segment's visual tags and their vector;
  :mod:`~xmodal.library.embed` — files and queries to vectors;
* :mod:`~xmodal.library.ingest`, :mod:`~xmodal.library.search`, :mod:`~xmodal.library.export`,
  :mod:`~xmodal.library.watch` — the jobs; :mod:`~xmodal.library.library` — the facade the CLI
  and the server call.

``import xmodal.library`` loads no backend and no model.
"""

from xmodal.library.library import IngestReport, Library, SearchResult
from xmodal.library.records import (
    FTS_SPACE,
    SCHEMA_VERSION,
    TAGS_LIST,
    Entry,
    Filters,
    Hit,
    LibraryError,
    LibraryMeta,
    Segment,
    content_id,
)
from xmodal.library.store import DATABASE_URL_ENV, Store, default_library_dir, open_store

__all__ = [
    "DATABASE_URL_ENV",
    "FTS_SPACE",
    "SCHEMA_VERSION",
    "TAGS_LIST",
    "Entry",
    "Filters",
    "Hit",
    "IngestReport",
    "Library",
    "LibraryError",
    "LibraryMeta",
    "SearchResult",
    "Segment",
    "Store",
    "content_id",
    "default_library_dir",
    "open_store",
]

"""The memory library: entries, segments and their vectors in a store, ingest and search.

The storage API (:mod:`xmodal.library.store`) is re-exported here; it imports no backend, so
``import xmodal.library`` stays light. Backends load on :func:`open_store`:
``xmodal.library.lancedb_store`` (embedded, a directory) and ``xmodal.library.postgres_store``
(PostgreSQL + pgvector).
"""

from xmodal.library.library import IngestReport, Library, SearchResult
from xmodal.library.store import (
    DATABASE_URL_ENV,
    FTS_SPACE,
    SCHEMA_VERSION,
    Entry,
    Filters,
    Hit,
    LibraryError,
    LibraryMeta,
    Segment,
    Store,
    content_id,
    default_library_dir,
    open_store,
)

__all__ = [
    "DATABASE_URL_ENV",
    "FTS_SPACE",
    "SCHEMA_VERSION",
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

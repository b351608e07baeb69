"""The server library backend: PostgreSQL + pgvector, through psycopg 3.

:mod:`~xmodal.library.postgres.store` holds the store, :mod:`~xmodal.library.postgres.schema`
its tables, :mod:`~xmodal.library.postgres.search` the queries,
:mod:`~xmodal.library.postgres.index` the calibration of HNSW search. ``psycopg`` loads when a
store opens.
"""

from xmodal.library.postgres.config import PostgresStoreConfig
from xmodal.library.postgres.store import PostgresStore, redact_url

__all__ = ["PostgresStore", "PostgresStoreConfig", "redact_url"]

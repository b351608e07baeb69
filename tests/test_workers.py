"""Worker processes leave with their parent: the pool helper itself, then the long commands that
use it (``xmodal library add``, ``xmodal data objects``), each killed with SIGKILL while its
workers run. Nothing may be alive 5 s later."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xmodal.workers import worker_pool

GRACE_S = 5.0


def _pid(_: object = None) -> int:
    time.sleep(0.2)  # long enough that one worker cannot take every job
    return os.getpid()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _children(pid: int) -> set[int]:
    """Every live process whose parent is ``pid``."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.add(int(stat.parent.name))
    return out


def _kill_and_check(parent: subprocess.Popen, workers: set[int]) -> None:
    """SIGKILL ``parent``; every one of ``workers`` must be gone within ``GRACE_S``."""
    assert workers and parent.pid not in workers
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(30)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    left = sorted(w for w in workers if _alive(w))
    for w in left:  # do not leave them to the next test
        os.kill(w, signal.SIGKILL)
    assert left == [], f"{len(left)} of {len(workers)} workers outlived their parent"


def _wait_children(parent: subprocess.Popen, n: int, timeout: float = 240) -> set[int]:
    """The parent's child processes once at least ``n`` run (fails if it exits first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert parent.poll() is None, "the command ended before its workers were seen"
        kids = _children(parent.pid)
        if len(kids) >= n:
            time.sleep(0.5)  # let the pool finish starting (and its helpers)
            return kids | _children(parent.pid)
        time.sleep(0.1)
    raise AssertionError(f"no {n} workers within {timeout} s")


def check_no_worker_survives(parent: subprocess.Popen, printed: bool = False, n: int = 2) -> None:
    """Once ``parent`` runs its ``n`` workers (``printed``: it prints their pids on one line;
    else its child processes), SIGKILL it and check that none of them outlives it."""
    try:
        if printed:
            workers = {int(x) for x in parent.stdout.readline().split()}
            assert len(workers) == n
        else:
            workers = _wait_children(parent, n)
        _kill_and_check(parent, workers)
    finally:
        parent.kill()
        parent.wait(30)


def test_pool_runs_work_in_its_workers() -> None:
    with worker_pool(2) as pool:
        pids = set(pool.map(_pid, range(6)))
    assert len(pids) == 2 and os.getpid() not in pids
    with pytest.raises(ValueError, match="spawn', 'fork' or 'auto"):
        worker_pool(1, start="forkserver")  # type: ignore[arg-type]


def test_auto_forks_a_single_threaded_process_and_spawns_a_threaded_one(tmp_path: Path) -> None:
    """A forked worker sees the parent's module state (``MARK``); a spawned one starts fresh."""
    script = tmp_path / "auto.py"
    script.write_text(
        "import threading\n"
        "import xmodal.workers as w\n"
        "def mark(_):\n"
        "    return getattr(w, 'MARK', 0)\n"
        "if __name__ == '__main__':\n"
        "    w.MARK = 1\n"
        "    print(threading.active_count())\n"
        "    with w.worker_pool(1, start='auto') as pool:\n"
        "        print(pool.submit(mark, 0).result())\n"
        "    stop = threading.Event()\n"
        "    threading.Thread(target=stop.wait, daemon=True).start()\n"
        "    print(threading.active_count())\n"
        "    with w.worker_pool(1, start='auto') as pool:\n"
        "        print(pool.submit(mark, 0).result())\n"
        "    stop.set()\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    assert out == ["1", "1", "2", "0"]  # one thread: forked; two: spawned


@pytest.mark.parametrize("start", ["spawn", "fork"])
def test_workers_exit_when_their_parent_is_killed(start: str) -> None:
    script = (
        "import time\n"
        "from tests.test_workers import _pid\n"
        "from xmodal.workers import worker_pool\n"
        f"pool = worker_pool(2, start={start!r})\n"
        "print(*set(pool.map(_pid, range(8))), flush=True)\n"
        "time.sleep(600)\n"
    )
    root = Path(__file__).resolve().parents[1]
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=root
    )
    check_no_worker_survives(parent, printed=True)


def _command(args: list[str], tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data-home"), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "xmodal", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_library_add_killed_leaves_no_worker(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    for i in range(40):
        (notes / f"n{i:02d}.md").write_text(f"Note {i}: " + "words to embed. " * 200)
    parent = _command(
        ["library", "add", str(notes), "--library", str(tmp_path / "lib"), "--workers", "2",
         "--no-progress", "--no-transcribe"],
        tmp_path,
    )  # fmt: skip
    check_no_worker_survives(parent)


@pytest.mark.slow
def test_data_objects_killed_leaves_no_worker(tmp_path: Path) -> None:
    parent = _command(
        ["data", "objects", "--out", str(tmp_path / "world"), "--size", "400", "--workers", "2",
         "--no-progress"],
        tmp_path,
    )  # fmt: skip
    check_no_worker_survives(parent)

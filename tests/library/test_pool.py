"""The search threads: an encoding pool with its own torch threads, lists run side by side."""

from __future__ import annotations

import threading

import pytest
import torch

from xmodal.library.pool import PoolConfig, SearchPool


def test_pool_config_defaults_and_checks() -> None:
    from xmodal.utils import default_workers

    assert PoolConfig().resolved() == (default_workers(), 1, 4 * default_workers())
    assert PoolConfig(encode_workers=3, encode_threads=2, list_workers=5).resolved() == (3, 2, 5)
    for bad in ({"encode_workers": 0}, {"encode_threads": 0}, {"list_workers": 0}):
        with pytest.raises(ValueError, match="must be >= 1"):
            PoolConfig(**bad)


def test_encoding_threads_have_their_own_torch_threads() -> None:
    before = torch.get_num_threads()
    pool = SearchPool(PoolConfig(encode_workers=2, encode_threads=3))
    try:

        def where() -> tuple[str, int]:
            return threading.current_thread().name, torch.get_num_threads()

        name, threads = pool.encode(where)
        assert name.startswith("xmodal-encode") and threads == 3
        assert torch.get_num_threads() == before  # the caller's setting is untouched
        with pytest.raises(ZeroDivisionError):
            pool.encode(lambda: 1 / 0)
    finally:
        pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        pool.encode(where)


def test_lists_run_side_by_side() -> None:
    pool = SearchPool(PoolConfig(encode_workers=1, list_workers=3))
    barrier = threading.Barrier(3, timeout=10)  # passes only if all three run at once
    try:
        jobs = [pool.submit_list(barrier.wait) for _ in range(3)]
        assert sorted(job.result(timeout=20) for job in jobs) == [0, 1, 2]
    finally:
        pool.close()


def _torch_threads() -> int:
    return torch.get_num_threads()


def _pid() -> int:
    import os

    return os.getpid()


def test_encoding_processes_run_apart_with_their_own_torch_threads() -> None:
    import os

    pool = SearchPool(PoolConfig(encode_workers=2, encode_threads=2, processes=True))
    try:
        workers = pool.start()
        assert len(workers) == 2 and os.getpid() not in workers
        assert pool.encode(_pid) in workers and pool.encode(_torch_threads) == 2
    finally:
        pool.close()


def test_encoding_processes_exit_when_their_parent_is_killed() -> None:
    """A server killed with SIGKILL leaves no encoding process behind (they watch their
    parent and leave within a second)."""
    import subprocess
    import sys

    from tests.test_workers import check_no_worker_survives

    script = (
        "from xmodal.library.pool import PoolConfig, SearchPool\n"
        "pool = SearchPool(PoolConfig(encode_workers=2, processes=True))\n"
        "print(*pool.start(), flush=True)\n"
        "import time; time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    check_no_worker_survives(parent, printed=True)

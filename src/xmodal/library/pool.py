"""The threads a library searches with: a query-encoding pool and a pool for the ranked lists.

A search spends its CPU in two places: *encoding* the query (a sentence encoder, a frame
encoder, speech recognition; torch, CPU-bound) and the *ranked lists* (vector and full-text
lookups in the store; mostly waiting on LanceDB's or PostgreSQL's own threads). Many searches
at once should keep every core busy without oversubscribing it, so:

* encoding runs in ``encode_workers`` workers (default: one per core), each running torch with
  ``encode_threads`` intra-op threads (default 1: on a small machine one thread per worker is
  faster than several fighting for the cores). Extra searches queue here, in order, rather than
  slowing each other down. The workers are threads (torch's thread setting is per thread, so
  the caller's is untouched), or, with ``processes``, worker processes: a short query's
  encoding is mostly Python dispatching small torch operations, which holds the GIL, so only
  processes encode several queries truly at once (the server uses them). A worker process
  exits by itself within a second once its parent is gone, even after a ``kill -9``
  (:func:`xmodal.workers.worker_pool`);
* a query's lists run side by side in ``list_workers`` threads (its full-text lists start
  while the query is still being encoded), so one search costs about its encoding plus its
  slowest list, not the sum.

The lists always run in threads: LanceDB and psycopg do their work outside the GIL.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

from xmodal.workers import worker_pool

T = TypeVar("T")


@dataclass(frozen=True)
class PoolConfig:
    """How many threads a library searches with.

    Attributes:
        encode_workers: query-encoding threads (None: one per core).
        encode_threads: torch intra-op threads of each encoding worker.
        list_workers: threads running ranked lists (None: 4 per encoding worker).
        processes: encode in worker processes instead of threads (for a long-running server:
            they start once, in a few seconds each, and encode in parallel).
    """

    encode_workers: int | None = None
    encode_threads: int = 1
    list_workers: int | None = None
    processes: bool = False

    def __post_init__(self) -> None:
        for name in ("encode_workers", "list_workers"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be >= 1 (or None for the default), got {value}")
        if int(self.encode_threads) < 1:
            raise ValueError(f"encode_threads must be >= 1, got {self.encode_threads}")

    def resolved(self) -> tuple[int, int, int]:
        """``(encode_workers, encode_threads, list_workers)`` with the defaults filled in."""
        from xmodal.utils import default_workers

        encode = int(self.encode_workers or default_workers())
        return encode, int(self.encode_threads), int(self.list_workers or 4 * encode)


def _set_torch_threads(n: int) -> None:
    """Torch intra-op threads of the calling thread (a no-op without torch)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return
    torch.set_num_threads(n)


def _init_encoder(threads: int, initializer: Callable[..., Any] | None, initargs: tuple) -> None:
    """Set up an encoding worker process: torch threads, then the caller's setup."""
    _set_torch_threads(threads)
    if initializer is not None:
        initializer(*initargs)


def _ready(hold_s: float = 0.0) -> int:
    time.sleep(hold_s)  # long enough that one worker cannot take every start-up job
    return os.getpid()


class SearchPool:
    """The two pools of :mod:`this module <xmodal.library.pool>`, started on first use.

    Thread-safe; :meth:`close` waits for running work and stops the workers.

    Args:
        config: how many workers, of which kind.
        initializer: with ``processes``, run once in each worker process (e.g. load the
            encoders), with ``initargs``; both must be picklable.
        initargs: its arguments.
    """

    def __init__(
        self,
        config: PoolConfig | None = None,
        initializer: Callable[..., Any] | None = None,
        initargs: tuple = (),
    ) -> None:
        self.config = config or PoolConfig()
        self.encode_workers, self.encode_threads, self.list_workers = self.config.resolved()
        self.processes = self.config.processes
        self._initializer, self._initargs = initializer, initargs
        self._lock = threading.Lock()
        self._encode: Executor | None = None
        self._lists: ThreadPoolExecutor | None = None
        self._closed = False

    def _pools(self) -> tuple[Executor, ThreadPoolExecutor]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the search pool was closed")
            if self._encode is None:
                self._encode = self._new_encoder_pool()
            if self._lists is None:
                self._lists = ThreadPoolExecutor(
                    self.list_workers, thread_name_prefix="xmodal-lists"
                )
            return self._encode, self._lists

    def _new_encoder_pool(self) -> Executor:
        if not self.processes:
            return ThreadPoolExecutor(
                self.encode_workers,
                thread_name_prefix="xmodal-encode",
                initializer=_set_torch_threads,
                initargs=(self.encode_threads,),
            )
        return worker_pool(
            self.encode_workers,
            start="spawn",  # torch and fork do not mix
            initializer=_init_encoder,
            initargs=(self.encode_threads, self._initializer, self._initargs),
        )

    def start(self) -> list[int]:
        """Start every encoding worker now (and run the initializer in each) instead of on the
        first searches; returns the worker processes' ids ([] for threads)."""
        encode, _ = self._pools()
        if not self.processes:
            return []
        ready: set[int] = set()
        deadline = time.monotonic() + 600
        while len(ready) < self.encode_workers and time.monotonic() < deadline:
            jobs = [encode.submit(_ready, 0.2) for _ in range(self.encode_workers)]
            ready.update(job.result() for job in jobs)  # a worker answers once it is set up
        return sorted(ready)

    def encode(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` in an encoding worker and wait for it (its exception is re-raised).

        With processes, ``fn`` and its arguments must be picklable; a worker that died (out of
        memory, killed) is replaced and the call made once more.
        """
        try:
            return self._pools()[0].submit(fn, *args, **kwargs).result()
        except BrokenProcessPool:
            with self._lock:
                broken, self._encode = self._encode, None
            if broken is not None:
                broken.shutdown(wait=False, cancel_futures=True)
            return self._pools()[0].submit(fn, *args, **kwargs).result()

    def submit_list(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        """Start a ranked list in a list thread."""
        return self._pools()[1].submit(fn, *args, **kwargs)

    def close(self) -> None:
        """Stop the workers (running work finishes first)."""
        with self._lock:
            self._closed = True
            pools, self._encode, self._lists = (self._encode, self._lists), None, None
        for pool in pools:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

"""The threads a library searches with: a query-encoding pool and a pool for the ranked lists.

A search spends its CPU in two places: *encoding* the query (a sentence encoder, a frame
encoder, speech recognition; torch, CPU-bound) and the *ranked lists* (vector and full-text
lookups in the store; mostly waiting on LanceDB's or PostgreSQL's own threads). Many searches
at once should keep every core busy without oversubscribing it, so:

* encoding runs in ``encode_workers`` threads (default: one per core), each running torch with
  ``encode_threads`` intra-op threads (default 1: on a small machine one thread per worker is
  faster than several fighting for the cores; torch's setting is per thread, so it does not
  change the caller's). Extra searches queue here, in order, rather than slowing each other down;
* a query's lists run side by side in ``list_workers`` threads (its full-text list starts
  while the query is still being encoded), so one search costs about its encoding plus its
  slowest list, not the sum.

Threads, not processes: the encoders' weights are shared, nothing is copied per query, and no
worker can outlive the program. Torch, the tokenizers, LanceDB and psycopg release the GIL in
their heavy parts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class PoolConfig:
    """How many threads a library searches with.

    Attributes:
        encode_workers: query-encoding threads (None: one per core).
        encode_threads: torch intra-op threads of each encoding thread.
        list_workers: threads running ranked lists (None: 4 per encoding thread).
    """

    encode_workers: int | None = None
    encode_threads: int = 1
    list_workers: int | None = None

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


class SearchPool:
    """The two thread pools of :mod:`this module <xmodal.library.pool>`, started on first use.

    Thread-safe; :meth:`close` waits for running work and stops the threads.
    """

    def __init__(self, config: PoolConfig | None = None) -> None:
        self.config = config or PoolConfig()
        self.encode_workers, self.encode_threads, self.list_workers = self.config.resolved()
        self._lock = threading.Lock()
        self._encode: ThreadPoolExecutor | None = None
        self._lists: ThreadPoolExecutor | None = None
        self._closed = False

    def _pools(self) -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the search pool was closed")
            if self._encode is None or self._lists is None:
                self._encode = ThreadPoolExecutor(
                    self.encode_workers,
                    thread_name_prefix="xmodal-encode",
                    initializer=_set_torch_threads,
                    initargs=(self.encode_threads,),
                )
                self._lists = ThreadPoolExecutor(
                    self.list_workers, thread_name_prefix="xmodal-lists"
                )
            return self._encode, self._lists

    def encode(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` in an encoding thread and wait for it (its exception is re-raised)."""
        return self._pools()[0].submit(fn, *args, **kwargs).result()

    def submit_list(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        """Start a ranked list in a list thread."""
        return self._pools()[1].submit(fn, *args, **kwargs)

    def close(self) -> None:
        """Stop the threads (running work finishes first)."""
        with self._lock:
            self._closed = True
            pools, self._encode, self._lists = (self._encode, self._lists), None, None
        for pool in pools:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

"""One process pool for the whole package, whose workers leave with their parent.

A :class:`~concurrent.futures.ProcessPoolExecutor` cleans up its workers when its parent exits
normally, but not when the parent is killed (``kill -9``, the out-of-memory killer, a closed
terminal's SIGHUP to a process that ignores it): the workers are re-parented and live on,
each with its models in memory. Workers of :func:`worker_pool` watch their parent instead: a
daemon thread checks every ``WATCH_S`` seconds that the parent is still the process that
started them, and ends the worker when it is not. A poll rather than Linux's parent-death signal
because that signal fires when the parent *thread* that started a worker exits, and pools here
start workers from short-lived threads (a server's request threads).

Usage::

    with worker_pool(4, initializer=load_models, initargs=(config,)) as pool:
        for result in pool.map(work, jobs):
            ...

``start="auto"`` forks only a process that runs no Python thread but its main one. A forked
child inherits every lock as it was, and a lock another thread held (a server's event loop, an
executor, a writer to stdout) is never released there. Worse, the child clears the other
threads' state at once, thread-local objects included: CI hung there, in a child freeing a
PyAV scaler that a server thread had cached, whose condition variable waited for threads the
fork had not copied. A process that has started threads gets spawned workers instead. (Native
pools are not counted: numpy's BLAS starts one on import and is fork-safe, and counting them
would take fork, and with it scripts without a ``__main__`` guard, from everyone.)
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Literal

WATCH_S = 0.5
"""How often a worker checks that its parent is alive (it leaves within this long)."""


def python_threads() -> int:
    """The threads of this process that have run Python: those of :mod:`threading`, and those a
    library started that called into Python (they have a frame too)."""
    import sys

    return max(threading.active_count(), len(sys._current_frames()))


def worker_pool(
    workers: int,
    *,
    start: Literal["spawn", "fork", "auto"] = "spawn",
    initializer: Callable[..., Any] | None = None,
    initargs: tuple = (),
) -> ProcessPoolExecutor:
    """A process pool whose workers exit by themselves once this process is gone.

    Args:
        workers: worker processes.
        start: how workers start: ``"spawn"`` (a fresh interpreter; needed once torch has run
            threads here), ``"fork"`` (at once, and scripts without a ``__main__`` guard
            work; falls back to spawn where fork does not exist) or ``"auto"`` (fork while
            this process runs one Python thread, else spawn: a threaded process's fork can hang).
        initializer: run once in each worker after the watch starts (picklable, with
            ``initargs``).
        initargs: its arguments.
    """
    import multiprocessing

    if start not in ("spawn", "fork", "auto"):
        raise ValueError(f"start must be 'spawn', 'fork' or 'auto', got {start!r}")
    if start == "auto":
        start = "fork" if python_threads() == 1 else "spawn"
    if start == "fork" and "fork" not in multiprocessing.get_all_start_methods():
        start = "spawn"  # pragma: no cover - platforms without fork
    return ProcessPoolExecutor(
        int(workers),
        mp_context=multiprocessing.get_context(start),
        initializer=_start_worker,
        initargs=(os.getpid(), initializer, initargs),
    )


def _start_worker(parent: int, initializer: Callable[..., Any] | None, initargs: tuple) -> None:
    """A worker's first step: the parent watch, then the caller's initializer."""
    threading.Thread(target=watch_parent, args=(parent,), daemon=True, name="xmodal-watch").start()
    if initializer is not None:
        initializer(*initargs)


def watch_parent(parent: int, every_s: float = WATCH_S) -> None:
    """End this process as soon as ``parent`` is no longer its parent (it died, and this
    process was re-parented). Runs forever; start it in a daemon thread."""
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(every_s)

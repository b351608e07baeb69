"""One writer at a time: the write lock of a store and of the library facade.

Readers (searches, lookups) never take it: both backends let readers run beside a writer and
see only what was committed (LanceDB: versioned tables and the ``gen`` swap; PostgreSQL:
transactions). Writers take turns, so two threads never interleave the steps of one write.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class _Locked(Protocol):
    _write_lock: Any  # a threading.RLock (re-entrant: a write may call another)


def serialized(method: Callable[..., T]) -> Callable[..., T]:
    """Run ``method`` holding ``self._write_lock``."""

    @functools.wraps(method)
    def locked(self: _Locked, *args: Any, **kwargs: Any) -> T:
        with self._write_lock:
            return method(self, *args, **kwargs)

    return locked

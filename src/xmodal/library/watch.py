"""Follow folders and ingest new and changed files (``xmodal library add --watch``).

A polling watcher (no extra dependency, works on network and container file systems): every
``interval`` seconds it lists the folders with the same rules as ingest (hidden files skipped,
only media and notes), and a file whose (size, modification time) differs from what was last
ingested is added once it has *settled* — unchanged across two polls, so a file still being
copied is not read half-written. Deleted files are not removed from the library (memories
outlive their files; a moved file is found again by its content hash); ``xmodal library
remove`` removes entries.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from xmodal.library.embed import MEDIA_SUFFIXES
from xmodal.library.ingest import IngestReport
from xmodal.library.notes import NOTE_SUFFIXES

if TYPE_CHECKING:
    from xmodal.library.library import Library

Signature = tuple[int, int]  # (size in bytes, modification time in ns)


class Watcher:
    """Tracks files under some folders and says which are new or changed and settled.

    Args:
        paths: folders (walked recursively) and files.
        baseline: treat the files present now as already ingested (True), or report every
            file on the first settled poll (False).
    """

    def __init__(self, paths: Iterable[str | os.PathLike[str]], baseline: bool = True) -> None:
        self.paths = [Path(p).expanduser().resolve() for p in paths]
        self._suffixes = set(NOTE_SUFFIXES) | set(MEDIA_SUFFIXES)
        self.known: dict[Path, Signature] = self.scan() if baseline else {}
        self._previous: dict[Path, Signature] = dict(self.known)

    def scan(self) -> dict[Path, Signature]:
        """The signature of every watched file now."""
        found: dict[Path, Signature] = {}
        for root_path in self.paths:
            if root_path.is_file():
                self._add(found, root_path)
                continue
            for root, dirs, names in os.walk(root_path):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for name in names:
                    path = Path(root) / name
                    if not name.startswith(".") and path.suffix.lower() in self._suffixes:
                        self._add(found, path)
        return found

    @staticmethod
    def _add(found: dict[Path, Signature], path: Path) -> None:
        try:
            st = path.stat()
        except OSError:  # deleted between listing and stat
            return
        found[path] = (st.st_size, st.st_mtime_ns)

    def poll(self) -> list[Path]:
        """Files that are new or changed since last reported and unchanged since the last poll.

        Returns:
            Sorted paths; they count as known from now on.
        """
        current = self.scan()
        ready = sorted(
            p
            for p, sig in current.items()
            if self.known.get(p) != sig and self._previous.get(p) == sig
        )
        for p in ready:
            self.known[p] = current[p]
        for gone in set(self.known) - set(current):
            del self.known[gone]  # a file created again later is new again
        self._previous = current
        return ready


def watch(
    lib: Library,
    paths: Iterable[str | os.PathLike[str]],
    *,
    interval: float = 2.0,
    stop: threading.Event | None = None,
    on_report: Callable[[list[Path], IngestReport], None] | None = None,
    workers: int | None = None,
    max_polls: int | None = None,
) -> None:
    """Poll ``paths`` every ``interval`` seconds and add what is new or changed, until ``stop``
    is set (or ``max_polls`` polls, or Ctrl-C in the caller).

    The files present when it starts count as already ingested (run ``lib.add`` first).

    Args:
        lib: the library to add to.
        paths: folders and files to follow.
        interval: seconds between polls.
        stop: set it to end the loop (from another thread).
        on_report: called with the files and the :class:`IngestReport` of each ingest.
        workers: worker processes per ingest.
        max_polls: stop after this many polls (None: until ``stop``).
    """
    if interval <= 0:
        raise ValueError(f"interval must be > 0, got {interval}")
    stop = stop or threading.Event()
    watcher = Watcher(paths)
    polls = 0
    while not stop.is_set() and (max_polls is None or polls < max_polls):
        if stop.wait(interval):
            break
        polls += 1
        ready = watcher.poll()
        if ready:
            report = lib.add(ready, progress=False, workers=workers)
            if on_report is not None:
                on_report(ready, report)

"""Ingest: files and folders -> library entries with timestamped, embedded segments.

What happens to each file (``Library.add`` drives it):

1. **Discover.** Folders are walked recursively (hidden files and folders skipped). Video and
   audio are recognised by suffix (:data:`MEDIA_SUFFIXES`), notes by :data:`NOTE_SUFFIXES`
   (text, Markdown, PDF, Word, HTML); a folder file with another suffix is probed by content
   and taken when it decodes as audio or video, else *ignored* (listed with the reason in
   :attr:`IngestReport.ignored_files`), while a file named explicitly with an unknown suffix
   is always tried and reported if it is not media.
2. **Hash.** A file stored at its path with its modification time is *unchanged* and not even
   read (the quick check rsync does). Otherwise the entry id is the SHA-256 of the bytes. A
   known id at a new path is a *move* (only the path is updated, nothing is decoded); a known
   id whose old file still exists with the same content is a *duplicate* (skipped); a known
   path with a new id is a *changed* file (re-embedded, its old entry removed); anything else
   is *new*.
3. **Embed** in worker processes (:class:`~xmodal.library.embed.Embedder`: windows of
   ``segment_seconds`` with frozen video/audio/text vectors, the transcript, the joint vector;
   notes as paragraphs). A big note is read here and embedded in parts across the workers
   (:func:`xmodal.library.tasks.split_notes`), joined again before its commit.
4. **Commit** in the parent process, in batches (``commit_every`` entries or
   ``commit_seconds``), each entry with all its segments through the store's atomic
   ``upsert_entries``. A ``kill -9`` loses at most the files in flight; a rerun skips
   committed entries by hash, so counts come out exact with no duplicate.

Failures (corrupt, truncated, unsupported, unreadable files) never stop the run: they are
collected as ``(path, reason)`` in :class:`IngestReport.failed`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xmodal.library.dates import parse_when
from xmodal.library.discover import classify, discover, hash_files
from xmodal.library.embed import (
    AUDIO_SPACE,
    JOINT_SPACE,
    MEDIA_SUFFIXES,
    PRIMARY_SPACE,
    TEXT_SPACE,
    VIDEO_SPACE,
    Embedder,
    IngestConfig,
    parse_model_id,
    windows,
)
from xmodal.library.notes import NOTE_SUFFIXES, chunk_note, front_matter_date, split_front_matter
from xmodal.library.records import content_id
from xmodal.library.speaking import decidable, mark_speakers
from xmodal.library.store import Store
from xmodal.library.tasks import Done, Task, run_tasks, split_notes
from xmodal.library.thumbs import Thumbnails
from xmodal.types import Modality

__all__ = [
    "AUDIO_SPACE", "JOINT_SPACE", "MEDIA_SUFFIXES", "NOTE_SUFFIXES", "PRIMARY_SPACE",
    "TEXT_SPACE", "VIDEO_SPACE", "Done", "Embedder", "IngestConfig", "IngestReport", "Task",
    "chunk_note", "discover", "front_matter_date", "ingest", "parse_model_id", "parse_when",
    "reindex", "split_front_matter", "windows",
]  # fmt: skip


@dataclass
class IngestReport:
    """What an ingest (or reindex) did. Paths are absolute strings.

    Attributes:
        added: files embedded and stored for the first time.
        updated: files whose content changed at a known path (re-embedded, old entry removed);
            for a reindex, the entries re-embedded.
        moved: known content at a new path (path updated, nothing embedded).
        unchanged: files already in the library as they are.
        duplicates: ``(path, path of the identical file already in the library)``.
        failed: ``(path, reason)`` of files that could not be ingested.
        ignored: how many files inside folders were not taken (``len(ignored_files)``).
        ignored_files: ``(path, reason)`` of those files: neither notes nor media (by suffix,
            or by content when the suffix is unknown), or images.
        seconds: wall time.
    """

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    ignored: int = 0
    ignored_files: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """False when files failed and none was ingested, moved or already there."""
        done = self.added or self.updated or self.moved or self.unchanged or self.duplicates
        return bool(done) or not self.failed

    def summary(self) -> str:
        """One line: ``3 added, 1 updated, 0 moved, 5 unchanged, 0 duplicates, 1 failed``."""
        parts = [
            f"{len(self.added)} added",
            f"{len(self.updated)} updated",
            f"{len(self.moved)} moved",
            f"{len(self.unchanged)} unchanged",
            f"{len(self.duplicates)} duplicates",
            f"{len(self.failed)} failed",
        ]
        if self.ignored:
            parts.append(f"{self.ignored} ignored")
        return ", ".join(parts) + f" in {self.seconds:.1f} s"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (lists of paths; ``failed`` and ``ignored_files`` as
        ``{"path", "reason"}`` rows)."""
        return {
            "added": self.added,
            "updated": self.updated,
            "moved": self.moved,
            "unchanged": self.unchanged,
            "duplicates": [{"path": p, "same_as": q} for p, q in self.duplicates],
            "failed": [{"path": p, "reason": r} for p, r in self.failed],
            "ignored": self.ignored,
            "ignored_files": [{"path": p, "reason": r} for p, r in self.ignored_files],
            "seconds": round(self.seconds, 3),
        }


# ----------------------------------------------------------------------------- ingest


class Committer:
    """Buffers finished entries and writes them to the store in atomic batches, then their
    pictures (``thumbs``; a crash in between leaves an entry without pictures, which
    ``library reindex --thumbnails`` draws)."""

    def __init__(self, store: Store, config: IngestConfig, thumbs: Thumbnails | None = None):
        self.store = store
        self.config = config
        self.thumbs = thumbs
        self.buffer: list[Done] = []
        self.last = time.monotonic()

    def add(self, done: Done) -> None:
        self.buffer.append(done)
        due = time.monotonic() - self.last >= self.config.commit_seconds
        if len(self.buffer) >= self.config.commit_every or due:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            self.last = time.monotonic()
            return
        now = time.time()
        items = []
        for done in self.buffer:
            assert done.entry is not None and done.segments is not None
            old = done.task.replaces
            if old is not None and old != done.entry.id:
                current = self.store.get_entry(old)
                if current is not None and current.path == done.entry.path:
                    self.store.remove_entry(old)  # the file changed: its old content is gone
                    if self.thumbs is not None:
                        self.thumbs.remove(old)
            if done.task.entry is None:
                done.entry.added = now
            items.append((done.entry, done.segments))
        self.store.upsert_entries(items)
        if self.thumbs is not None:
            for done in self.buffer:
                if done.pictures:
                    self.thumbs.write(done.entry.id, done.pictures)  # type: ignore[union-attr]
        self.buffer.clear()
        self.last = time.monotonic()


def _worker_count(workers: int | None, tasks: Sequence[Task]) -> int:
    """Worker processes for ``tasks``: ``workers`` (default: every core), at least 1, and no
    more than there are tasks."""
    from xmodal.utils import default_workers

    count = default_workers() if workers is None else int(workers)
    return min(max(1, count), max(1, len(tasks)))


def quick_check(store: Store, files: list[Path], report: IngestReport) -> list[Path]:
    """Report files stored at their path with their modification time as unchanged without
    reading them (as rsync does); returns the files that need hashing."""
    known = {e.path: e.modified for e in store.iter_entries()}
    todo = []
    for f in files:
        modified = known.get(str(f))
        try:
            same = modified is not None and f.stat().st_mtime == modified
        except OSError:
            same = False
        if same:
            report.unchanged.append(str(f))
        else:
            todo.append(f)
    return todo


def plan(store: Store, ids: dict[Path, str], report: IngestReport) -> list[Task]:
    """Decide what each hashed file needs (see the module docstring, step 2).

    Moves are applied to the store here; returns the tasks to embed.
    """
    seen: dict[str, str] = {}  # id -> path that owns it in this run
    unknown: list[tuple[Path, str]] = []
    for path, cid in ids.items():  # known content first: moves free their old paths
        spath = str(path)
        existing = store.get_entry(cid)
        if existing is None:
            unknown.append((path, cid))
            continue
        if existing.path == spath:
            report.unchanged.append(spath)
            seen[cid] = spath
            continue
        if cid in seen:
            report.duplicates.append((spath, seen[cid]))
            continue
        seen[cid] = spath
        old = Path(existing.path)
        old_id = ids.get(old)
        if old_id is None and old.is_file():
            try:
                old_id = content_id(old)
            except OSError:
                old_id = None
        stale = store.find_by_path(spath)  # what this path held before, if anything
        if stale is not None and stale.id != cid:
            store.remove_entry(stale.id)
        if old_id == cid:
            report.duplicates.append((spath, existing.path))
            seen[cid] = existing.path
        else:
            store.update_path(cid, spath)
            report.moved.append(spath)
    tasks = []
    for path, cid in unknown:
        spath = str(path)
        if cid in seen:
            report.duplicates.append((spath, seen[cid]))
            continue
        seen[cid] = spath
        previous = store.find_by_path(spath)
        tasks.append(Task(spath, cid, classify(path) is Modality.TEXT,
                          replaces=previous.id if previous else None))  # fmt: skip
    return tasks


def ingest(
    store: Store,
    embedder: Embedder,
    paths: Iterable[str | os.PathLike[str]],
    *,
    workers: int | None = None,
    progress: bool = True,
    thumbs: Thumbnails | None = None,
) -> IngestReport:
    """Add files and folders to a library (module docstring: what happens to each file).

    Args:
        store: an open store initialised for ``embedder.meta()``.
        embedder: the encoders.
        paths: files and folders.
        workers: worker processes (default: every core; 1 runs in this process).
        progress: show a progress bar.
        thumbs: where the media's pictures go (None: none are kept).

    Returns:
        The :class:`IngestReport`.
    """
    t0 = time.perf_counter()
    report = IngestReport()
    files, report.failed, report.ignored_files = discover(paths)
    report.ignored = len(report.ignored_files)
    files = quick_check(store, files, report)
    ids, unreadable = hash_files(files)
    report.failed += unreadable
    tasks = plan(store, ids, report)
    tasks, entries = split_notes(tasks, embedder, report.failed)
    if workers is not None and int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    workers = _worker_count(workers, tasks)
    committer = Committer(store, embedder.config, thumbs)

    def on_done(done: Done) -> None:
        if done.entry is None:
            report.failed.append((done.task.path, done.error or "unknown error"))
            return
        committer.add(done)
        (report.updated if done.task.replaces else report.added).append(done.task.path)

    try:
        run_tasks(tasks, embedder, workers, on_done, progress, entries=entries)
    finally:
        committer.flush()  # keep what finished, also when interrupted
    if tasks:
        store.optimize()
    report.failed.sort()
    report.seconds = time.perf_counter() - t0
    return report


def reindex_tasks(store: Store, embedder: Embedder, force: bool) -> list[Task]:
    """Tasks re-embedding every entry (``force``), those missing a required space, and videos
    never tagged (a library written before tags) when the embedder tags."""
    tasks = []
    for entry in store.iter_entries():
        segs = store.segments(entry.id)
        have = set().union(*(s.vectors for s in segs)) if segs else set()
        untagged = (
            embedder.tagger is not None
            and entry.modality is Modality.VIDEO
            and any(s.tags is None for s in segs)
        )
        if not force and segs and embedder.required_spaces(entry.modality) <= have and not untagged:
            continue
        spans = tuple((s.start, s.end) for s in segs) or None
        texts = tuple(s.text for s in segs) or None
        tags = tuple((None if s.tags is None else tuple(s.tags), s.tag_text) for s in segs) or None
        places = tuple(s.place for s in segs) or None
        tasks.append(Task(entry.path, entry.id, entry.modality is Modality.TEXT, spans=spans,
                          texts=texts, entry=entry, tags=tags, places=places))  # fmt: skip
    return tasks


def reindex(
    store: Store,
    embedder: Embedder,
    *,
    force: bool = False,
    workers: int | None = None,
    progress: bool = True,
    thumbs: Thumbnails | None = None,
) -> IngestReport:
    """Re-embed a library for ``embedder`` (its model may differ from the stored one).

    Adopts the new meta (:meth:`Store.reset_meta`), then re-embeds every entry whose vectors
    were cleared or are incomplete (all of them with ``force``), keeping segment spans and
    transcripts (no speech recognition). Resumable: a rerun re-embeds only what is missing.
    Entries whose media file is gone get their text vectors only and are reported in
    ``failed``.
    """
    t0 = time.perf_counter()
    report = IngestReport()
    cleared = store.reset_meta(embedder.meta())
    tasks, _ = split_notes(reindex_tasks(store, embedder, force or bool(cleared)), embedder,
                           report.failed)  # fmt: skip
    workers = _worker_count(workers, tasks)
    committer = Committer(store, embedder.config, thumbs)

    def on_done(done: Done) -> None:
        if done.error is not None:
            report.failed.append((done.task.path, done.error))
        if done.entry is not None:
            committer.add(done)
            if done.error is None:
                report.updated.append(done.task.path)

    try:
        run_tasks(tasks, embedder, workers, on_done, progress, desc="reindex")
    finally:
        committer.flush()
    store.optimize()
    report.failed.sort()
    report.seconds = time.perf_counter() - t0
    return report


def draw_pictures(
    store: Store,
    embedder: Embedder,
    thumbs: Thumbnails,
    *,
    force: bool = False,
    workers: int | None = None,
    progress: bool = True,
    faces: bool = False,
) -> IngestReport:
    """Draw the pictures of stored videos and recordings that have none (all with ``force``):
    a library ingested before thumbnails (``library reindex --thumbnails``). Only the frames
    and audio the pictures need are decoded; vectors and transcripts are untouched.

    With ``faces``, look for the faces of stored videos never looked at (all with ``force``)
    instead: a library ingested before faces, or with ``--no-faces`` (``reindex --faces``).
    Their faces are stored (:meth:`Store.set_faces`) with their pictures.

    Returns:
        The report: ``updated`` the entries drawn, ``failed`` those whose file is missing or
        unreadable.
    """
    t0 = time.perf_counter()
    report = IngestReport()
    tasks = []
    for e in store.iter_entries():
        if e.modality is Modality.TEXT or (faces and e.modality is not Modality.VIDEO):
            continue
        segments = store.segments(e.id)
        todo = force or (all(s.faces is None for s in segments) if faces else not thumbs.has(e.id))
        if todo:
            spans = tuple((s.start, s.end) for s in segments)
            tasks.append(Task(e.path, e.id, False, spans=spans, entry=e, draw=True, faces=faces))
    workers = _worker_count(workers, tasks)

    def on_done(done: Done) -> None:
        if done.error is not None or done.pictures is None:
            report.failed.append((done.task.path, done.error or "nothing to draw"))
            return
        if faces:
            if done.pictures.seen is None:
                report.failed.append((done.task.path, "no video to look for faces in"))
                return
            store.set_faces(done.task.entry_id, done.pictures.seen)
        thumbs.write(done.task.entry_id, done.pictures)
        report.updated.append(done.task.path)

    run_tasks(tasks, embedder, workers, on_done, progress, desc="faces" if faces else "thumbnails")
    report.failed.sort()
    report.seconds = time.perf_counter() - t0
    return report


def decide_speaking(
    store: Store,
    embedder: Embedder,
    *,
    force: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> IngestReport:
    """Decide who speaks in stored videos (``library reindex --speaking``): in every segment with
    speech and one face whose ``speaking`` is undecided (all such segments with ``force``),
    whether that face says the words (:mod:`xmodal.library.speaking`). Vectors, transcripts and
    the other faces are untouched.

    Returns:
        The report: ``updated`` the entries looked at, ``failed`` those whose file is missing.
    """
    t0 = time.perf_counter()
    report = IngestReport()
    tasks = []
    for e in store.iter_entries():
        if e.modality is not Modality.VIDEO:
            continue
        segments = store.segments(e.id)
        ask = tuple(
            decidable(s.text, s.faces) and (force or s.faces[0].speaking is None)  # type: ignore[index]
            for s in segments
        )
        if any(ask):
            spans = tuple((s.start, s.end) for s in segments)
            tasks.append(Task(e.path, e.id, False, spans=spans, entry=e, ask=ask))
    workers = _worker_count(workers, tasks)

    def on_done(done: Done) -> None:
        if done.error is not None or done.speaking is None:
            report.failed.append((done.task.path, done.error or "nothing to decide"))
            return
        segments = store.segments(done.task.entry_id)
        if len(segments) != len(done.speaking):
            report.failed.append((done.task.path, "its segments changed while deciding"))
            return
        faces = [s.faces for s in segments]
        mark_speakers(faces, done.speaking)
        store.set_faces(done.task.entry_id, faces)
        report.updated.append(done.task.path)

    run_tasks(tasks, embedder, workers, on_done, progress, desc="speaking")
    report.failed.sort()
    report.seconds = time.perf_counter() - t0
    return report

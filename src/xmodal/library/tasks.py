"""How ingest's work runs: one task per file (or per part of a big note), embedded in this
process or in a pool of worker processes, finished tasks handed back one whole file at a time.

:func:`run_task` turns one :class:`Task` into a :class:`Done` (bad input becomes its
``error``, never an exception). :func:`split_notes` cuts big notes into parts that the workers
embed in parallel, and :func:`run_tasks` joins the parts again (:class:`Parts`) before handing
a note over, so a note is committed whole or not at all. :mod:`xmodal.library.ingest` decides
what to run and commits what comes back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, replace
from pathlib import Path

from xmodal.features.tags import Tag
from xmodal.library.embed import MEDIA_SUFFIXES, Embedder, IngestConfig
from xmodal.library.records import Entry, LibraryError, Segment
from xmodal.library.thumbs import Pictures
from xmodal.workers import worker_pool


@dataclass(frozen=True)
class Task:
    """One file to embed.

    Attributes:
        path: the file.
        entry_id: its content hash.
        note: a note (else media).
        replaces: id of the entry stored at this path before (a changed file).
        spans: reindex: the stored segment spans to keep.
        texts: reindex: the stored segment texts (transcripts / note chunks); a part of a big
            note: its chunks.
        entry: reindex: the stored entry (its fields are kept).
        tags: reindex: the stored segments' ``(tags, tag_text)``, kept when the file is gone.
        places: the note chunks' places in their document (with ``texts``).
        first: a part of a big note: its first chunk's segment index.
        parts: how many parts the note was split into (1: not split).
        draw: only draw the stored media's pictures (``spans``: its segments).
        faces: with ``draw``, look for the faces in its video too.
        ask: only decide who speaks in the stored video's segments where this is true
            (``spans``: its segments; :mod:`xmodal.library.speaking`).
    """

    path: str
    entry_id: str
    note: bool
    replaces: str | None = None
    spans: tuple[tuple[float, float], ...] | None = None
    texts: tuple[str, ...] | None = None
    entry: Entry | None = None
    tags: tuple[tuple[tuple[Tag, ...] | None, str], ...] | None = None
    places: tuple[str, ...] | None = None
    first: int = 0
    parts: int = 1
    draw: bool = False
    faces: bool = False
    ask: tuple[bool, ...] | None = None


@dataclass
class Done:
    """A finished :class:`Task`: the entry and segments (and a media file's pictures), or why
    it failed."""

    task: Task
    entry: Entry | None = None
    segments: list[Segment] | None = None
    error: str | None = None
    pictures: Pictures | None = None
    speaking: list[bool | None] | None = None


def run_task(embedder: Embedder, task: Task) -> Done:
    """Embed one task, turning bad input into ``Done.error`` (never raises for a bad file)."""
    from xmodal.media import MediaError

    path = Path(task.path)
    try:
        if task.ask is not None:
            from xmodal.library.speaking import speaking_segments

            if not path.exists():
                return Done(task, error="file is missing")
            speaks = speaking_segments(path, task.spans or (), task.ask)
            return Done(task, task.entry, [], speaking=speaks)
        if task.draw:
            if not path.exists():
                return Done(task, error="file is missing")
            pictures = embedder.draw(path, task.spans or (), faces=task.faces)
            return Done(task, task.entry, [], pictures=pictures)
        if task.entry is not None and not path.exists():
            if task.texts is None:
                return Done(task, error="file is missing")
            n = len(task.texts)
            spans = task.spans or ((0.0, 0.0),) * n
            kept = task.tags or ((None, ""),) * n
            places = task.places or ("",) * n
            rows = zip(spans, task.texts, kept, places, strict=True)
            stored = [
                Segment(
                    task.entry_id,
                    task.first + i,
                    a,
                    b,
                    t,
                    {},
                    None if g is None else list(g),
                    words,
                    place,
                )  # fmt: skip
                for i, ((a, b), t, (g, words), place) in enumerate(rows)
            ]
            segs = embedder.text_only_segments(task.entry_id, stored)
            return Done(task, task.entry, segs, error=None if task.note else "file is missing")
        pictures = None
        if task.note:
            entry, segs = embedder.embed_note(path, task.entry_id, task.texts, task.places,
                                              task.first)  # fmt: skip
        else:
            pictures = Pictures()
            entry, segs = embedder.embed_media(path, task.entry_id, task.spans, task.texts,
                                               pictures)  # fmt: skip
    except MediaError as e:
        if not task.note and path.suffix.lower() not in MEDIA_SUFFIXES:
            kind = f"'{path.suffix}'" if path.suffix else "without a suffix"
            return Done(task, error=f"unsupported file type {kind}: not a video, audio or "
                                    f"note file ({e.reason})")  # fmt: skip
        return Done(task, error=e.reason)
    except (OSError, ValueError, RuntimeError) as e:  # e.g. a decoder or encoder rejecting it
        return Done(task, error=f"{type(e).__name__}: {e}")
    if task.entry is not None:  # reindex keeps the stored entry's fields
        entry = task.entry
    return Done(task, entry, segs, pictures=pictures)


_WORKER: Embedder | None = None


def _init_worker(config: IngestConfig, joint_dir: str | None) -> None:
    global _WORKER
    import torch

    torch.set_num_threads(1)  # one process per core already
    _WORKER = Embedder(config, joint_dir)


def _work(task: Task) -> Done:
    assert _WORKER is not None
    return run_task(_WORKER, task)


BIG_NOTE_BYTES = 256 * 1024
"""Notes larger than this are read here and embedded in parts across the workers."""
PART_CHUNKS = 32
"""Chunks per part of a split note (about 48 KB of text, a few seconds of one core)."""


def split_notes(
    tasks: Sequence[Task], embedder: Embedder, failed: list[tuple[str, str]]
) -> tuple[list[Task], dict[str, Entry]]:
    """Split big notes into parts of :data:`PART_CHUNKS` chunks that workers embed in parallel.

    A new note over :data:`BIG_NOTE_BYTES` is read in this process (a bad one goes to
    ``failed``); a reindexed note (its chunks known) is split when it has more chunks than a
    part. :func:`run_tasks` joins the parts again, so a note is committed whole or not at all.

    Returns:
        ``(tasks, entries)``: the tasks with big notes replaced by their parts, and the entries
        read here (by id) for :func:`run_tasks`.
    """
    from xmodal.media import MediaError

    out: list[Task] = []
    entries: dict[str, Entry] = {}
    for task in tasks:
        texts, places = task.texts, task.places
        if task.note and texts is None:
            path = Path(task.path)
            try:
                if path.stat().st_size <= BIG_NOTE_BYTES:
                    out.append(task)
                    continue
                entry, chunks, chunk_places = embedder.read_note(path, task.entry_id)
            except MediaError as e:
                failed.append((task.path, e.reason))
                continue
            except OSError as e:
                failed.append((task.path, f"cannot read: {e.strerror or e}"))
                continue
            entries[task.entry_id] = entry
            texts, places = tuple(chunks), tuple(chunk_places)
        if not task.note or texts is None or len(texts) <= PART_CHUNKS:
            out.append(task)
            continue
        places = places or ("",) * len(texts)
        n = -(-len(texts) // PART_CHUNKS)
        for k in range(n):
            cut = slice(k * PART_CHUNKS, (k + 1) * PART_CHUNKS)
            spans = None if task.spans is None else task.spans[cut]
            tags = None if task.tags is None else task.tags[cut]
            out.append(replace(task, texts=texts[cut], places=places[cut], spans=spans, tags=tags,
                               first=k * PART_CHUNKS, parts=n))  # fmt: skip
    return out, entries


class Parts:
    """Joins the parts of split notes (:func:`split_notes`) into one :class:`Done` each."""

    def __init__(self, entries: dict[str, Entry] | None = None) -> None:
        self.entries = entries or {}
        self.waiting: dict[tuple[str, str], list[Done]] = {}

    def add(self, done: Done) -> Done | None:
        """The whole note's Done once its last part is in, else None."""
        task = done.task
        if task.parts == 1:
            return done
        got = self.waiting.setdefault((task.path, task.entry_id), [])
        got.append(done)
        if len(got) < task.parts:
            return None
        del self.waiting[(task.path, task.entry_id)]
        whole = replace(task, texts=None, places=None, spans=None, tags=None, first=0, parts=1)
        errors = [d.error for d in got if d.error is not None]
        if any(d.entry is None for d in got):
            return Done(whole, error=errors[0] if errors else "unknown error")
        segments = sorted((s for d in got for s in d.segments or ()), key=lambda s: s.index)
        entry = task.entry or self.entries.get(task.entry_id) or got[0].entry
        return Done(whole, entry, segments, error=errors[0] if errors else None)


def run_tasks(
    tasks: Sequence[Task],
    embedder: Embedder,
    workers: int,
    on_done: Callable[[Done], None],
    progress: bool = True,
    desc: str = "ingest",
    entries: dict[str, Entry] | None = None,
) -> None:
    """Run tasks in this process (``workers == 1``) or in a pool of worker processes.

    Results are handed to ``on_done`` in the calling thread as they finish (any order); the
    parts of a split note (:func:`split_notes`; ``entries``: the entries read for them) are
    handed over once, joined, when the last one is done.
    """
    from tqdm.auto import tqdm

    files = sum(1 for t in tasks if t.first == 0)
    parts = sum(1 for t in tasks if t.parts > 1)
    bar = tqdm(total=files, unit="file", desc=desc, disable=not progress, dynamic_ncols=True)
    failed = parts_done = 0
    joiner = Parts(entries)

    def handle(done: Done) -> None:
        nonlocal failed, parts_done
        if done.task.parts > 1:
            parts_done += 1
            bar.set_postfix_str(f"note parts {parts_done}/{parts}", refresh=False)
        whole = joiner.add(done)
        if whole is None:
            bar.refresh()
            return
        on_done(whole)
        failed += whole.error is not None and whole.entry is None
        bar.update()
        if failed:
            bar.set_postfix(failed=failed)

    from concurrent.futures.process import BrokenProcessPool

    try:
        if workers <= 1 or len(tasks) <= 1:
            for task in tasks:
                handle(run_task(embedder, task))
            return
        joint_dir = None
        if embedder.has_joint:
            joint_dir = str(embedder.joint_dir or embedder.joint.run_dir)  # type: ignore[union-attr]
        queue = iter(tasks)
        with worker_pool(  # torch and fork do not mix: spawn
            workers, start="spawn", initializer=_init_worker, initargs=(embedder.config, joint_dir)
        ) as pool:
            pending: set[Future] = set()
            try:
                while True:
                    while len(pending) < 2 * workers:
                        task = next(queue, None)
                        if task is None:
                            break
                        pending.add(pool.submit(_work, task))
                    if not pending:
                        break
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        handle(future.result())
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    except BrokenProcessPool:
        raise LibraryError(
            "a worker process died (out of memory?); what finished is saved: run the same "
            "command again to resume, with fewer --workers"
        ) from None
    finally:
        bar.close()

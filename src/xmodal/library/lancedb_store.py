"""The embedded library backend: LanceDB tables in a directory, no server.

Layout of a library directory::

    meta.lance      key -> JSON: "library" (LibraryMeta), "index" (tuned ANN search parameters)
    entries.lance   one row per entry (+ ``gen``, see below); full-text index on ``text``
    segments.lance  one row per segment: entry id, ``gen``, index, start/end, text, the entry's
                    modality/created/path (copied so filters run inside the vector search),
                    ``written`` time, the visual tags (``tags`` JSON, NULL when untagged;
                    ``tag_text`` with a full-text index; ``tag_terms`` ``|word|...|`` for the
                    tag filter), and one fixed-size float32 vector column per space
                    (``v_<space>``, NULL where a segment has no vector in that space)

**Crash safety without multi-table transactions.** Each write batch gets a fresh generation id
``gen``. Its segment rows are appended first, then its entry rows are upserted in *one* commit
carrying that ``gen``, then the entries' older segments are deleted. A segment is visible only
when its entry exists with the same ``gen``, so a crash before the entry commit leaves invisible
orphans, and a crash after it leaves invisible stale rows: readers always see an entry with
exactly the segments it was committed with. Orphans older than ``orphan_grace_s`` (so a
concurrent writer's in-flight rows are spared) are deleted when a library is opened and by
:meth:`LanceStore.optimize`. Moves (``update_path``) and ``set_vectors`` go through the same
swap, so they are atomic too.

**Search.** Below ``index_threshold`` vectors a space is searched exactly (flat scan).
:meth:`LanceStore.optimize` builds an IVF_SQ index (8-bit scalar quantisation, cosine) above
it, then *calibrates* it on the library's own vectors: 64 queries (see
:func:`~xmodal.library.store.calibration_queries`) are answered exactly (numpy, streamed in
batches) and by the index at growing ``nprobes`` (with a
refine step re-ranking 2x candidates on full vectors) until recall@10 reaches
``recall_target``; the chosen parameters are kept in ``meta``. The index is rebuilt and
re-calibrated once the space has doubled; rows added since are appended by compaction (and
searched exactly until then). Filters become a SQL ``where`` evaluated before the vector search
(prefilter); glob classes ``[...]`` and any row that fails the reference check
(:meth:`Filters.matches`) are removed afterwards, fetching more until ``k`` hits survive.
Full text uses LanceDB's native FTS (BM25, English stemming, stop words); rows written since the
last :meth:`optimize` are searched unindexed, so results are always current.

One writer at a time per library (readers may run beside it).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import numpy as np

from xmodal.library.store import (
    CALIBRATION_SEED,
    FTS_SPACE,
    SCHEMA_VERSION,
    TAGS_LIST,
    Entry,
    Filters,
    Hit,
    LibraryError,
    LibraryMeta,
    Segment,
    calibrate,
    calibration_queries,
    check_compatible,
    check_query,
    fetch_until,
    glob_to_like,
    merge_text_hits,
    rank_vector_hits,
    schema_error,
    space_column,
    tag_terms_column,
    tags_from_json,
    tags_json,
    validate_upsert,
)
from xmodal.types import Modality


@dataclass
class LanceStoreConfig:
    """Options of the LanceDB backend."""

    index_threshold: int = 4096
    """A space gets an ANN index from this many vectors on (exact search below)."""
    partition_rows: int = 4096
    """Target vectors per IVF partition."""
    recall_target: float = 0.97
    """recall@10 the calibrated search parameters must reach (against exact search)."""
    calibration_queries: int = 64
    """Queries used to calibrate an index."""
    orphan_grace_s: float = 600.0
    """Unreferenced segment rows younger than this are left alone (a writer may be mid-batch)."""
    read_consistency_s: float | None = 1.0
    """How stale this handle's view of other processes' writes may get (None: never refresh)."""
    compact_every: int = 256
    """Compact the tables after this many write batches (0: only in optimize())."""
    prune_after_s: float = 3600.0
    """optimize() deletes the files of table versions older than this."""

    def __post_init__(self) -> None:
        if self.index_threshold < 256:
            raise ValueError("index_threshold must be >= 256 (IVF training needs data)")
        if self.partition_rows < 256:
            raise ValueError("partition_rows must be >= 256")
        if not 0.0 < self.recall_target <= 1.0:
            raise ValueError("recall_target must be in (0, 1]")
        if self.calibration_queries < 1:
            raise ValueError("calibration_queries must be >= 1")
        if self.orphan_grace_s < 0 or self.prune_after_s < 0 or self.compact_every < 0:
            raise ValueError("orphan_grace_s, prune_after_s and compact_every must be >= 0")
        if self.read_consistency_s is not None and self.read_consistency_s < 0:
            raise ValueError("read_consistency_s must be >= 0 or None")


META, ENTRIES, SEGMENTS = "meta", "entries", "segments"
_SEG_HIT_COLUMNS = ["entry_id", "gen", "idx", "start", "end", "text", "tags"]
_TAG_COLUMNS = ("tags", "tag_text", "tag_terms")  # schema version 2


def _q(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _num(value: float) -> str:
    return f"{value:.6f}"


def _in_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(_q(v) for v in values) + ")"


def _entries_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()),
            ("gen", pa.string()),
            ("path", pa.string()),
            ("modality", pa.string()),
            ("created", pa.float64()),
            ("modified", pa.float64()),
            ("duration", pa.float64()),
            ("text", pa.string()),
            ("tags", pa.list_(pa.string())),
            ("added", pa.float64()),
        ]
    )


def _segments_schema(spaces: dict[str, int]) -> Any:
    import pyarrow as pa

    fields = [
        ("entry_id", pa.string()),
        ("gen", pa.string()),
        ("idx", pa.int32()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("text", pa.string()),
        ("modality", pa.string()),
        ("created", pa.float64()),
        ("path", pa.string()),
        ("written", pa.float64()),
        ("tags", pa.string()),
        ("tag_text", pa.string()),
        ("tag_terms", pa.string()),
    ]
    fields += [(space_column(s), pa.list_(pa.float32(), w)) for s, w in spaces.items()]
    return pa.schema(fields)


def _entry_from_row(row: dict[str, Any]) -> Entry:
    return Entry(
        id=row["id"],
        path=row["path"],
        modality=Modality(row["modality"]),
        created=row["created"],
        modified=row["modified"],
        duration=row["duration"],
        text=row["text"] or "",
        tags=list(row["tags"] or []),
        added=row["added"],
    )


class _EntriesView:
    """The entries table of one version held in memory (Arrow), for joining search hits.

    Its size is about that of the stored transcripts and notes; rows become ``Entry`` objects
    only when a search returns them.
    """

    def __init__(self, version: int, table: Any) -> None:
        self.version = version
        self._table = table
        self._by_id = {eid: i for i, eid in enumerate(table["id"].to_pylist())}
        self._gens = table["gen"].to_pylist()
        self._cache: dict[int, Entry] = {}

    def get(self, entry_id: str, gen: str | None = None) -> Entry | None:
        """The entry, if present (and committed with ``gen`` when given)."""
        i = self._by_id.get(entry_id)
        if i is None or (gen is not None and self._gens[i] != gen):
            return None
        if i not in self._cache:
            self._cache[i] = _entry_from_row(self._table.slice(i, 1).to_pylist()[0])
        return self._cache[i]


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
        self._view: _EntriesView | None = None
        self._batches = 0
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
        if version != SCHEMA_VERSION:
            steps = range(version, SCHEMA_VERSION)
            if version > SCHEMA_VERSION or any(v not in self.MIGRATIONS for v in steps):
                raise schema_error(str(self.path), version)
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
        self._entries = self._db.create_table(ENTRIES, schema=_entries_schema())
        self._segments = self._db.create_table(SEGMENTS, schema=_segments_schema(meta.spaces))
        self._entries.create_index("text", config=FTS())
        self._segments.create_index("text", config=FTS())
        self._segments.create_index("tag_text", config=FTS())
        self._write_meta_rows({"library": meta.to_json(), "index": {}})  # last: marks it complete
        self._meta, self._index = meta, {}

    def reset_meta(self, meta: LibraryMeta) -> list[str]:
        """Adopt a new model; returns the spaces whose vectors were cleared (see Store).

        The columns change before the meta does: a crash in between leaves the old model id
        over emptied columns (run the reindex again), never old vectors under a new model id.
        """
        old = self.meta()
        meta = replace(meta, schema_version=SCHEMA_VERSION)
        cleared = [
            s
            for s, w in meta.spaces.items()
            if old.model_id != meta.model_id or old.spaces.get(s) != w
        ]
        self._reconcile_columns(meta, force=cleared)
        self._write_meta(meta)
        self._meta = meta
        return cleared

    def _reconcile_columns(self, meta: LibraryMeta, force: Collection[str] = ()) -> None:
        """Make the vector columns match ``meta``: add missing ones, drop stale or forced ones
        (recreated empty), forget index parameters of dropped columns. Idempotent."""
        import pyarrow as pa

        want = {space_column(s): (s, w) for s, w in meta.spaces.items()}
        have = {f.name: f.type.list_size for f in self._segments.schema if f.name.startswith("v_")}
        drop = [
            c for c, w in have.items() if c not in want or want[c][1] != w or want[c][0] in force
        ]
        if drop:
            self._segments.drop_columns(drop)
        add = [
            pa.field(c, pa.list_(pa.float32(), w))
            for c, (_, w) in want.items()
            if c not in have or c in drop
        ]
        if add:
            self._segments.add_columns(add)
        index = {
            s: p
            for s, p in self._index.items()
            if space_column(s) in want and space_column(s) not in drop
        }
        if index != self._index:
            self._index = index
            self._write_meta_rows({"index": index})

    # ------------------------------------------------------------------ writing

    def upsert_entry(self, entry: Entry, segments: list[Segment]) -> None:
        """Insert or replace one entry with all its segments, atomically."""
        self.upsert_entries([(entry, segments)])

    def upsert_entries(self, items: Iterable[tuple[Entry, list[Segment]]]) -> None:
        """Insert or replace several entries; the whole batch becomes visible in one commit."""
        import pyarrow as pa

        meta = self.meta()
        items = list(items)
        ids = [e.id for e, _ in items]
        if len(set(ids)) != len(ids):
            raise ValueError("the same entry id appears twice in one batch")
        for entry, segs in items:
            validate_upsert(meta, entry, segs)
        if not items:
            return
        gen = uuid.uuid4().hex
        seg_table = self._segment_table([(e, s) for e, segs in items for s in segs], gen)
        entry_table = pa.Table.from_pylist(
            [self._entry_row(e, gen) for e, _ in items], schema=_entries_schema()
        )
        self._swap(ids, gen, entry_table, seg_table)

    def _swap(self, ids: list[str], gen: str, entry_table: Any, seg_table: Any) -> None:
        """Make ``entry_table`` (rows with ``gen``) and ``seg_table`` the entries' new state."""
        if seg_table.num_rows:
            self._write_segments(seg_table)
        self._write_entries(entry_table)
        self._segments.delete(f"entry_id IN {_in_list(ids)} AND gen != {_q(gen)}")
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

    def _entry_row(self, e: Entry, gen: str) -> dict[str, Any]:
        return {
            "id": e.id,
            "gen": gen,
            "path": e.path,
            "modality": e.modality.value,
            "created": e.created,
            "modified": e.modified,
            "duration": e.duration,
            "text": e.text,
            "tags": e.tags,
            "added": e.added,
        }

    def _segment_table(self, rows: list[tuple[Entry, Segment]], gen: str) -> Any:
        """Segment rows as an Arrow table (vectors stacked per space, NULL where missing)."""
        import pyarrow as pa

        columns: dict[str, Any] = {
            "entry_id": [e.id for e, _ in rows],
            "gen": [gen] * len(rows),
            "idx": [s.index for _, s in rows],
            "start": [s.start for _, s in rows],
            "end": [s.end for _, s in rows],
            "text": [s.text for _, s in rows],
            "modality": [e.modality.value for e, _ in rows],
            "created": [e.created for e, _ in rows],
            "path": [e.path for e, _ in rows],
            "written": [time.time()] * len(rows),
            "tags": [tags_json(s.tags) for _, s in rows],
            "tag_text": [s.tag_text for _, s in rows],
            "tag_terms": [tag_terms_column(s.tag_text) for _, s in rows],
        }
        for space, width in self.meta().spaces.items():
            mat = np.zeros((len(rows), width), dtype=np.float32)  # (S, D)
            missing = np.ones(len(rows), dtype=bool)
            for i, (_, s) in enumerate(rows):
                if (vec := s.vectors.get(space)) is not None:
                    mat[i], missing[i] = vec, False
            columns[space_column(space)] = pa.FixedSizeListArray.from_arrays(
                pa.array(mat.reshape(-1)), width, mask=pa.array(missing)
            )
        return pa.table(columns, schema=self._segments.schema)

    def _entry_arrow(self, entry_id: str) -> Any:
        return self._entries.search().where(f"id = {_q(entry_id)}").limit(1).to_arrow()

    def _segment_arrow(self, entry_id: str, gen: str) -> Any:
        table = self._segments.search().where(f"entry_id = {_q(entry_id)} AND gen = {_q(gen)}")
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

    def set_vectors(self, entry_id: str, space: str, vectors: np.ndarray) -> None:
        """Replace one space's vectors of an entry's segments (rows in segment index order)."""
        import pyarrow as pa

        width = self.meta().spaces.get(space)
        if width is None:
            raise ValueError(
                f"unknown space {space!r}; the library has {sorted(self.meta().spaces)}"
            )
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        if not np.isfinite(vecs).all():
            raise ValueError(f"vectors for space {space!r} have NaN or inf values")
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

    def clear_vectors(self, space: str) -> None:
        """Remove every vector of a space (the column is recreated empty)."""
        if space not in self.meta().spaces:
            raise ValueError(
                f"unknown space {space!r}; the library has {sorted(self.meta().spaces)}"
            )
        self._reconcile_columns(self.meta(), force={space})

    def remove_entry(self, entry_id: str) -> bool:
        """Delete an entry (it disappears in one commit) and then its segments."""
        if not self.has_entry(entry_id):
            return False
        self._entries.delete(f"id = {_q(entry_id)}")
        self._segments.delete(f"entry_id = {_q(entry_id)}")
        return True

    # ------------------------------------------------------------------ reading

    def get_entry(self, entry_id: str) -> Entry | None:
        """The entry with this id, or None."""
        self.meta()
        rows = self._entry_arrow(entry_id).to_pylist()
        return _entry_from_row(rows[0]) if rows else None

    def has_entry(self, entry_id: str) -> bool:
        """Whether an entry with this id exists."""
        self.meta()
        return self._entries.count_rows(f"id = {_q(entry_id)}") > 0

    def find_by_path(self, path: str) -> Entry | None:
        """The entry at this path (the latest added if several), or None."""
        self.meta()
        rows = self._entries.search().where(f"path = {_q(str(path))}").to_arrow().to_pylist()
        if not rows:
            return None
        return _entry_from_row(max(rows, key=lambda r: (r["added"], r["id"])))

    def iter_entries(self) -> Iterator[Entry]:
        """Every entry, in path order."""
        self.meta()
        rows = self._entries.to_arrow().to_pylist()
        for row in sorted(rows, key=lambda r: (r["path"], r["id"])):
            yield _entry_from_row(row)

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
            out.append(
                Segment(
                    entry_id,
                    row["idx"],
                    row["start"],
                    row["end"],
                    row["text"] or "",
                    vectors,
                    tags_from_json(row["tags"]),
                    row["tag_text"] or "",
                )  # fmt: skip
            )
        return out

    def _entries_view(self) -> _EntriesView:
        version = self._entries.version
        if self._view is None or self._view.version != version:
            self._view = _EntriesView(version, self._entries.to_arrow())
        return self._view

    @staticmethod
    def _where(filters: Filters) -> tuple[str | None, bool]:
        """SQL for the filters on ``modality``/``created``/``path`` (both tables have them).

        Returns ``(where or None, exact)``; not exact means post-filtering is needed.
        """
        parts, exact = [], True
        if filters.modalities is not None:
            mods = sorted(m.value for m in filters.modalities)
            parts.append(f"modality IN {_in_list(mods)}")
        if filters.since is not None:
            parts.append(f"created >= {_num(filters.since)}")
        if filters.until is not None:
            parts.append(f"created <= {_num(filters.until)}")
        if filters.path_glob is not None:
            like, exact = glob_to_like(filters.path_glob)
            parts.append(f"path LIKE {_q(like)} ESCAPE '\\'")
        return (" AND ".join(parts) or None), exact

    @staticmethod
    def _where_tags(filters: Filters, where: str | None) -> str | None:
        """``where`` plus the tag filter (segments only: entries have no tags)."""
        if filters.tags is None:
            return where
        words = [re.sub(r"([\\%_])", r"\\\1", w) for w in sorted(filters.tags)]
        any_tag = " OR ".join(f"tag_terms LIKE {_q('%|' + w + '|%')} ESCAPE '\\'" for w in words)
        return f"({where}) AND ({any_tag})" if where else f"({any_tag})"

    def search_vector(
        self, space: str, vector: np.ndarray, k: int = 10, filters: Filters | None = None
    ) -> list[Hit]:
        """The ``k`` segments most similar (cosine) to ``vector`` in ``space``, best first."""
        q = check_query(self.meta(), space, vector, k)
        filters = filters or Filters()
        where, exact = self._where(filters)
        where = self._where_tags(filters, where)
        col = space_column(space)
        params = self._index.get(space)

        def run(limit: int) -> tuple[int, list[Any]]:
            rows = self._nearest(q, col, limit, where, params).to_pylist()
            return len(rows), self._join(rows, filters, lambda r: 1.0 - r["_distance"])

        return rank_vector_hits(fetch_until(k, exact, run), k, space)

    def _nearest(
        self, q: np.ndarray, col: str, limit: int, where: str | None, params: dict | None
    ) -> Any:
        """Run one (prefiltered) cosine vector query on the segments table; an Arrow table.

        Uses LanceDB's async query builder on the table's async handle when available: one
        hand-off to LanceDB's event loop instead of several (~1.5 ms of a ~7 ms query).
        """
        from lancedb.table import AsyncTable

        inner = getattr(self._segments, "_table", None)
        fast = isinstance(inner, AsyncTable)
        if fast:  # async builders prefilter by default
            query = inner.query().nearest_to(q).column(col)
        else:  # pragma: no cover - a LanceDB without the async handle
            query = self._segments.search(q, vector_column_name=col)
        query = query.distance_type("cosine").select([*_SEG_HIT_COLUMNS, "_distance"]).limit(limit)
        if where:
            query = query.where(where) if fast else query.where(where, prefilter=True)
        if params:
            query = query.nprobes(params["nprobes"]).refine_factor(params["refine_factor"])
        if fast:
            from lancedb.background_loop import LOOP

            return LOOP.run(query.to_arrow())
        return query.to_arrow()  # pragma: no cover

    def _join(
        self, rows: list[dict[str, Any]], filters: Filters, score: Callable[[dict[str, Any]], float]
    ) -> list[tuple[Entry, int, float, float, str, float]]:
        """Keep segment rows whose entry is committed with their gen and passes the filters."""
        view = self._entries_view()
        out = []
        for r in rows:
            entry = view.get(r["entry_id"], r["gen"])
            if entry is not None and filters.matches(entry):
                tags = tags_from_json(r["tags"])
                out.append((entry, r["idx"], r["start"], r["end"], r["text"] or "", score(r), tags))
        return out

    def search_text(self, query: str, k: int = 10, filters: Filters | None = None) -> list[Hit]:
        """Full-text matches in segment texts and entry texts (every word must occur)."""
        return self._full_text(query, "text", k, filters)

    def search_tags(self, query: str, k: int = 10, filters: Filters | None = None) -> list[Hit]:
        """Full-text matches in segments' tag words (any word)."""
        return self._full_text(query, "tag_text", k, filters)

    def _full_text(self, query: str, column: str, k: int, filters: Filters | None) -> list[Hit]:
        from lancedb.query import FullTextOperator, MatchQuery

        self.meta()
        if int(k) < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if not re.search(r"\w", query):
            return []
        filters = filters or Filters()
        where, exact = self._where(filters)
        seg_where = self._where_tags(filters, where)
        any_word = column != "text"  # tags: any word (see Store.search_tags)
        operator = FullTextOperator.OR if any_word else FullTextOperator.AND
        match = MatchQuery(query, column, operator=operator)

        def fts(table: Any, columns: list[str], limit: int, where: str | None) -> list[Any]:
            b = table.search(match, query_type="fts").select([*columns, "_score"]).limit(limit)
            if where:
                b = b.where(where, prefilter=True)
            return b.to_arrow().to_pylist()

        def run_segments(limit: int) -> tuple[int, list[Any]]:
            rows = fts(self._segments, _SEG_HIT_COLUMNS, limit, seg_where)
            return len(rows), self._join(rows, filters, lambda r: r["_score"])

        def run_entries(limit: int) -> tuple[int, list[Any]]:
            rows = fts(self._entries, ["id"], limit, where)
            view = self._entries_view()
            kept = [(view.get(r["id"]), r["_score"]) for r in rows]
            return len(rows), [(e, s) for e, s in kept if e is not None and filters.matches(e)]

        seg_hits = fetch_until(k, exact, run_segments)
        if column != "text" or filters.tags is not None:  # entries have no tags
            return merge_text_hits(seg_hits, [], k, TAGS_LIST if column != "text" else FTS_SPACE)
        entry_hits = fetch_until(k, exact, run_entries)
        return merge_text_hits(seg_hits, entry_hits, k)

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
            self._segments.delete(f"gen = {_q(gen)} AND entry_id IN {_in_list(sorted(ids))}")
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
                    f"{col} IS NOT NULL AND gen = {_q(gen)} AND entry_id IN {_in_list(sorted(ids))}"
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

    def optimize(self) -> None:
        """Drop orphans, compact, prune old versions, and build/refresh indexes."""
        from lancedb.index import Bitmap, BTree

        meta = self.meta()
        self._cleanup_orphans(self.config.orphan_grace_s)
        self._compact(self.config.prune_after_s)
        if self._segments.count_rows():  # scalar indexes speed up lookups and filters
            indexed = {tuple(i.columns) for i in self._segments.list_indices()}
            for col, config in (
                ("entry_id", BTree()),
                ("modality", Bitmap()),
                ("created", BTree()),
            ):
                if (col,) not in indexed:
                    self._segments.create_index(col, config=config)
        for space in meta.spaces:
            self._maybe_index(space)

    def _maybe_index(self, space: str) -> None:
        from lancedb.index import IvfSq

        col = space_column(space)
        n = self._segments.count_rows(f"{col} IS NOT NULL")
        info = self._index.get(space)
        if n < self.config.index_threshold or (info is not None and n < 2 * info["rows"]):
            return
        partitions = max(1, n // self.config.partition_rows)
        self._segments.create_index(
            col, config=IvfSq(distance_type="cosine", num_partitions=partitions), replace=True
        )
        self._index[space] = self._calibrate(space, n, partitions)
        self._write_meta_rows({"index": self._index})

    def _vector_batches(self, col: str) -> Iterator[tuple[list[str], np.ndarray]]:
        """Stream ``(keys, vectors (B, D))`` of every stored vector in a column."""
        query = self._segments.search().where(f"{col} IS NOT NULL").select(["entry_id", "idx", col])
        for batch in query.to_batches(65536):
            vec = batch.column(col)
            width = vec.type.list_size
            values = vec.values.to_numpy(zero_copy_only=False)
            mat = values[vec.offset * width : (vec.offset + len(vec)) * width].reshape(-1, width)
            keys = [
                f"{e}:{i}"
                for e, i in zip(
                    batch.column("entry_id").to_pylist(),
                    batch.column("idx").to_pylist(),
                    strict=True,
                )
            ]
            yield keys, mat.astype(np.float32, copy=False)

    def _calibrate(self, space: str, n: int, partitions: int) -> dict[str, Any]:
        """The cheapest (nprobes, refine_factor) reaching ``recall_target`` (see module doc)."""
        col = space_column(space)
        rng = np.random.default_rng(CALIBRATION_SEED)
        nq = min(self.config.calibration_queries, n)
        picks = np.sort(rng.choice(n, size=nq, replace=False))
        seeds, seen = [], 0
        for _, mat in self._vector_batches(col):
            inside = picks[(picks >= seen) & (picks < seen + len(mat))]
            seeds.extend(mat[inside - seen])
            seen += len(mat)
        queries = calibration_queries(np.stack(seeds))  # (nq, D)
        best_s = np.full((nq, 0), -np.inf, np.float32)
        best_k = np.empty((nq, 0), dtype=object)
        for keys, mat in self._vector_batches(col):  # exact top 10, streamed
            sims = queries @ mat.T / np.maximum(np.linalg.norm(mat, axis=1), 1e-12)  # (nq, B)
            all_s = np.concatenate([best_s, sims], axis=1)
            all_k = np.concatenate([best_k, np.broadcast_to(np.array(keys, object), sims.shape)], 1)
            top = np.argsort(-all_s, axis=1)[:, :10]
            best_s = np.take_along_axis(all_s, top, axis=1)
            best_k = np.take_along_axis(all_k, top, axis=1)

        def search(setting: tuple[int, int], i: int) -> set[str]:
            rows = (
                self._segments.search(queries[i], vector_column_name=col)
                .distance_type("cosine")
                .select(["entry_id", "idx", "_distance"])
                .nprobes(setting[0])
                .refine_factor(setting[1])
                .limit(10)
                .to_arrow()
                .to_pylist()
            )
            return {f"{r['entry_id']}:{r['idx']}" for r in rows}

        ladder = sorted({max(1, math.ceil(partitions / d)) for d in (16, 8, 4, 2, 1)})
        settings = [(p, 2) for p in ladder] + [(partitions, 10)]
        truth = [set(row) for row in best_k]
        (nprobes, refine), recall = calibrate(settings, truth, search, self.config.recall_target)
        return {
            "rows": n,
            "partitions": partitions,
            "nprobes": nprobes,
            "refine_factor": refine,
            "calibrated_recall_at_10": recall,
        }

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
    add = [pa.field(c, pa.string()) for c in _TAG_COLUMNS if c not in have]
    if add:
        store._segments.add_columns(add)
    store._segments.create_index("tag_text", config=FTS(), replace=True)


LanceStore.MIGRATIONS = {1: _migrate_1_to_2}

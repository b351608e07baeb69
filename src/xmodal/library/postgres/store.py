"""The server library store: PostgreSQL + pgvector, through psycopg 3.

For a library shared by several machines or larger than one disk: any PostgreSQL 13+ with the
``vector`` extension (pgvector; 0.8+ recommended for filtered search), managed or self-hosted,
Citus for scale-out. Select it with ``--db URL`` or ``XMODAL_DATABASE_URL``. The tables are in
:mod:`~xmodal.library.postgres.schema`, the queries in :mod:`~xmodal.library.postgres.search`.

Every write is one transaction, so an entry and its segments appear and change together.

**Threads.** Writes go through one connection, one at a time (the store's write lock); reads
take a connection from a pool (``psycopg_pool``, up to ``max_connections``), so any number of
threads search at once, beside a writer, each seeing only committed rows.
:meth:`PostgresStore.optimize` calibrates ``hnsw.ef_search`` per space on the library's own
vectors until recall@10 reaches ``recall_target`` (kept in ``meta``;
:mod:`~xmodal.library.postgres.index`).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
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
from xmodal.library.columns import space_column, tag_terms_column, tags_from_json
from xmodal.library.locks import serialized
from xmodal.library.postgres.config import PostgresStoreConfig
from xmodal.library.postgres.index import calibrate_ef_search
from xmodal.library.postgres.schema import (
    ENTRY_COLS,
    HNSW_MAX_DIM,
    N_ENTRY,
    add_face_columns,
    add_place_columns,
    add_space,
    add_tag_columns,
    create_tables,
    entry_from_row,
    entry_select,
    table,
)
from xmodal.library.postgres.search import search_text, search_vector
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
)
from xmodal.types import Modality


def redact_url(url: str) -> str:
    """``postgresql://user@host:port/db`` without the password (for messages)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as a placeholder
        return "<unparsable database URL>"
    user = f"{info['user']}@" if info.get("user") else ""
    port = f":{info['port']}" if info.get("port") else ""
    return f"postgresql://{user}{info.get('host', '')}{port}/{info.get('dbname', '')}"


class PostgresStore:
    """A library in a PostgreSQL database (see the module docstring)."""

    MIGRATIONS: ClassVar[dict[int, Callable[[PostgresStore], None]]] = {}
    """Schema migrations: ``MIGRATIONS[v](store)`` upgrades version ``v`` to ``v + 1`` (it runs
    inside a transaction together with the version bump). ``1 -> 2`` adds the tag columns
    (existing segments read as untagged: ``tags`` NULL)."""

    def __init__(
        self, url: str, *, create: bool = False, config: PostgresStoreConfig | None = None
    ) -> None:
        """Connect to ``url``; without ``create`` the library must already exist there."""
        import psycopg

        self.config = config or PostgresStoreConfig()
        self._url = url
        self._meta: LibraryMeta | None = None
        self._closed = False
        self._index: dict[str, dict[str, Any]] = {}
        self._iterative = False
        self._write_lock = threading.RLock()  # the writer's connection: one write at a time
        self._readers_lock = threading.Lock()
        self._pool: Any = None  # reader connections (psycopg_pool.ConnectionPool), on first read
        try:
            self._conn = psycopg.connect(
                url, autocommit=True, connect_timeout=self.config.connect_timeout_s
            )
        except psycopg.Error as exc:
            raise LibraryError(
                f"cannot connect to PostgreSQL at {redact_url(url)}: {str(exc).strip()}"
            ) from None
        try:
            self._open(create)
        except BaseException:
            self._conn.close()
            raise

    @property
    def location(self) -> str:
        """The database URL (no password) and schema."""
        return f"{redact_url(self._url)} (schema {self.config.schema})"

    # ------------------------------------------------------------------ plumbing

    def _t(self, name: str) -> Any:
        return table(self.config.schema, name)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Any]:
        """A cursor inside one transaction on the writer's connection (under the write lock);
        connection failures become LibraryError."""
        import psycopg

        try:
            with self._write_lock, self._conn.transaction(), self._conn.cursor() as cur:
                yield cur
        except psycopg.OperationalError as exc:
            raise LibraryError(f"{self.location}: {str(exc).strip()}") from exc

    @contextlib.contextmanager
    def _read_tx(self) -> Iterator[Any]:
        """A cursor inside one transaction on a pooled reader connection (any thread, any
        number at once, up to ``max_connections``); failures become LibraryError."""
        import psycopg

        try:
            with self._readers().connection() as conn, conn.transaction(), conn.cursor() as cur:
                yield cur
        except psycopg.OperationalError as exc:
            raise LibraryError(f"{self.location}: {str(exc).strip()}") from exc

    def _readers(self) -> Any:
        """The reader connections' pool, opened on first use (after the ``vector`` type
        exists, which every connection registers)."""
        if self._closed:
            raise LibraryError(f"library at {self.location} was closed")
        with self._readers_lock:
            if self._pool is None:
                from pgvector.psycopg import register_vector
                from psycopg_pool import ConnectionPool

                self._pool = ConnectionPool(
                    self._url,
                    min_size=1,
                    max_size=self.config.max_connections,
                    kwargs={"autocommit": True, "connect_timeout": self.config.connect_timeout_s},
                    configure=register_vector,
                    timeout=self.config.pool_timeout_s,
                    name=f"xmodal-{self.config.schema}",
                    open=False,
                )
                self._pool.open(wait=True, timeout=self.config.connect_timeout_s)
            return self._pool

    def _open(self, create: bool) -> None:
        import psycopg
        from pgvector.psycopg import register_vector

        with self._tx() as cur:
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cur.fetchone()
            cur.execute("SELECT to_regclass(%s)", (f"{self.config.schema}.meta",))
            exists = cur.fetchone()[0] is not None
        if not exists and not create:
            raise LibraryError(
                f"no library in {self.location}: ingest files first (`xmodal library add "
                "--db ...`), or point --db at an existing one"
            )
        if row is None:
            try:
                with self._tx() as cur:
                    cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
                    cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
                    row = cur.fetchone()
            except psycopg.Error as exc:
                raise LibraryError(
                    f"{self.location}: the pgvector extension is not available "
                    f"({str(exc).strip()}); install pgvector on the server or ask its admin to "
                    "run CREATE EXTENSION vector"
                ) from None
        version = tuple(int(x) for x in re.findall(r"\d+", row[0])[:2])
        self._iterative = version >= (0, 8)
        register_vector(self._conn)
        if exists:
            self._load_meta()

    def _load_meta(self) -> None:
        from psycopg import sql

        with self._tx() as cur:
            cur.execute(sql.SQL("SELECT key, value FROM {}").format(self._t("meta")))
            values = dict(cur.fetchall())
        if "library" not in values:
            raise LibraryError(f"library in {self.location} has no meta row: it is damaged")
        meta = LibraryMeta.from_json(values["library"])
        self._index = values.get("index", {})
        version = meta.schema_version
        check_migratable(self.location, version, self.MIGRATIONS)
        while version < SCHEMA_VERSION:
            with self._conn.transaction():
                self.MIGRATIONS[version](self)
                version += 1
                self._write_meta(replace(meta, schema_version=version))
        self._meta = replace(meta, schema_version=version)

    def _write_meta(self, meta: LibraryMeta) -> None:
        """Record ``meta`` (as is, schema version included)."""
        self._write_meta_value("library", meta.to_json())

    def _write_meta_value(self, key: str, value: Any) -> None:
        from psycopg import sql
        from psycopg.types.json import Jsonb

        with self._tx() as cur:
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} (key, value) VALUES (%s, %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
                ).format(self._t("meta")),
                (key, Jsonb(value)),
            )

    def _drop_space(self, cur: Any, space: str) -> None:
        from psycopg import sql

        if self._index.pop(space, None) is not None:
            self._write_meta_value("index", self._index)
        cur.execute(
            sql.SQL("ALTER TABLE {} DROP COLUMN IF EXISTS {}").format(
                self._t("segments"), sql.Identifier(space_column(space))
            )
        )

    # ------------------------------------------------------------------ meta

    def meta(self) -> LibraryMeta:
        """The library's model id and spaces."""
        if self._closed:
            raise LibraryError(f"library at {self.location} was closed")
        if self._meta is None:
            raise LibraryError(f"library in {self.location} is not initialised")
        return self._meta

    @serialized
    def init(self, meta: LibraryMeta) -> None:
        """Create the library for ``meta`` or check the existing one (adding new spaces)."""

        if self._meta is not None:
            check_compatible(self._meta, meta, self.location)
            missing = {s: w for s, w in meta.spaces.items() if s not in self._meta.spaces}
            if missing:
                merged = replace(self._meta, spaces={**self._meta.spaces, **missing})
                with self._conn.transaction(), self._tx() as cur:
                    for space, width in missing.items():
                        add_space(cur, self.config.schema, space, width, self.config.hnsw_m,
                          self.config.hnsw_ef_construction)  # fmt: skip
                    self._write_meta(merged)
                self._meta = merged
            return
        meta = replace(meta, schema_version=SCHEMA_VERSION)
        with self._conn.transaction(), self._tx() as cur:
            create_tables(cur, self.config.schema)
            for space, width in meta.spaces.items():
                add_space(cur, self.config.schema, space, width, self.config.hnsw_m,
                          self.config.hnsw_ef_construction)  # fmt: skip
            self._write_meta(meta)
        self._meta = meta

    @serialized
    def reset_meta(self, meta: LibraryMeta) -> list[str]:
        """Adopt a new model; returns the spaces whose vectors were cleared (see Store)."""
        old = self.meta()
        meta = replace(meta, schema_version=SCHEMA_VERSION)
        cleared = cleared_spaces(old, meta)
        with self._conn.transaction(), self._tx() as cur:
            for space in old.spaces:
                if space not in meta.spaces or space in cleared:
                    self._drop_space(cur, space)
            for space in cleared:
                add_space(cur, self.config.schema, space, meta.spaces[space], self.config.hnsw_m,
                          self.config.hnsw_ef_construction)  # fmt: skip
            self._write_meta(meta)
        self._meta = meta
        return cleared

    # ------------------------------------------------------------------ writing

    def upsert_entry(self, entry: Entry, segments: list[Segment]) -> None:
        """Insert or replace one entry with all its segments, in one transaction."""
        self.upsert_entries([(entry, segments)])

    @serialized
    def upsert_entries(self, items: Iterable[tuple[Entry, list[Segment]]]) -> None:
        """Insert or replace several entries in one transaction."""
        from psycopg import sql

        meta = self.meta()
        items = check_batch(meta, items)
        if not items:
            return
        ids = [e.id for e, _ in items]
        with self._tx() as cur:
            cur.execute(
                sql.SQL("DELETE FROM {} WHERE entry_id = ANY(%s)").format(self._t("segments")),
                (ids,),
            )
            self._write_segments(cur, [(e, s) for e, segs in items for s in segs])
            self._write_entries(cur, [e for e, _ in items])

    def _write_segments(self, cur: Any, rows: list[tuple[Entry, Segment]]) -> None:
        from psycopg import sql
        from psycopg.types.json import Jsonb

        if not rows:
            return
        spaces = list(self.meta().spaces)
        cols = ["entry_id", "idx", "start_s", "end_s", "text", "tags", "tag_text", "tag_terms",
                "place", "faces", *map(space_column, spaces)]  # fmt: skip
        statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT BINARY)").format(
            self._t("segments"), sql.SQL(", ").join(map(sql.Identifier, cols))
        )
        with cur.copy(statement) as copy:
            copy.set_types(["text", "int4", "float8", "float8", "text", "jsonb", "text", "text",
                            "text", "jsonb", *["vector"] * len(spaces)])  # fmt: skip
            for e, s in rows:
                tags = None if s.tags is None else Jsonb([t.to_json() for t in s.tags])
                faces = None if s.faces is None else Jsonb([f.to_json() for f in s.faces])
                copy.write_row(
                    (e.id, s.index, s.start, s.end, s.text, tags, s.tag_text,
                     tag_terms_column(s.tag_text), s.place, faces,
                     *(s.vectors.get(sp) for sp in spaces))
                )  # fmt: skip

    def _write_entries(self, cur: Any, entries: list[Entry]) -> None:
        from psycopg import sql

        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in ENTRY_COLS[1:]
        )
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}").format(
            self._t("entries"),
            sql.SQL(", ").join(map(sql.Identifier, ENTRY_COLS)),
            sql.SQL(", ").join(sql.Placeholder() * len(ENTRY_COLS)),
            updates,
        )
        cur.executemany(
            query,
            [
                (
                    e.id,
                    e.path,
                    e.modality.value,
                    e.created,
                    e.modified,
                    e.duration,
                    e.text,
                    e.tags,
                    e.added,
                    e.encoding,
                )
                for e in entries
            ],
        )

    @serialized
    def update_path(self, entry_id: str, new_path: str) -> bool:
        """Record that an entry's file moved."""
        from pathlib import Path

        from psycopg import sql

        self.meta()
        if not Path(str(new_path)).is_absolute():
            raise ValueError(f"entry path must be absolute, got {new_path!r}")
        with self._tx() as cur:
            cur.execute(
                sql.SQL("UPDATE {} SET path = %s WHERE id = %s").format(self._t("entries")),
                (str(new_path), entry_id),
            )
            return cur.rowcount > 0

    @serialized
    def remove_entry(self, entry_id: str) -> bool:
        """Delete an entry and (by cascade) its segments."""
        from psycopg import sql

        self.meta()
        with self._tx() as cur:
            cur.execute(
                sql.SQL("DELETE FROM {} WHERE id = %s").format(self._t("entries")), (entry_id,)
            )
            return cur.rowcount > 0

    def _lock_segments(self, cur: Any, entry_id: str) -> tuple[str, list[int]]:
        """Lock an entry's row for this transaction; its path and its segments' indices in
        order. ``KeyError`` for an unknown entry."""
        from psycopg import sql

        cur.execute(
            sql.SQL("SELECT path FROM {} WHERE id = %s FOR UPDATE").format(self._t("entries")),
            (entry_id,),
        )
        row = cur.fetchone()
        if row is None:
            raise KeyError(f"no entry {entry_id} in {self.location}")
        cur.execute(
            sql.SQL("SELECT idx FROM {} WHERE entry_id = %s ORDER BY idx").format(
                self._t("segments")
            ),
            (entry_id,),
        )
        return row[0], [r[0] for r in cur.fetchall()]

    @serialized
    def set_vectors(self, entry_id: str, space: str, vectors: np.ndarray) -> None:
        """Replace one space's vectors of an entry's segments (rows in segment index order)."""
        from psycopg import sql

        vecs, width = check_vectors(self.meta(), space, vectors)
        with self._tx() as cur:
            path, idxs = self._lock_segments(cur, entry_id)
            if vecs.shape != (len(idxs), width):
                raise ValueError(
                    f"entry {path}: expected ({len(idxs)}, {width}) vectors for space "
                    f"{space!r}, got {vecs.shape}"
                )
            cur.executemany(
                sql.SQL("UPDATE {} SET {} = %s WHERE entry_id = %s AND idx = %s").format(
                    self._t("segments"), sql.Identifier(space_column(space))
                ),
                [(v, entry_id, i) for v, i in zip(vecs, idxs, strict=True)],
            )

    @serialized
    def set_faces(self, entry_id: str, faces: Sequence[list[Face] | None]) -> None:
        """Replace the faces of an entry's segments (one list, or None, per segment in index
        order), in one transaction."""
        from psycopg import sql
        from psycopg.types.json import Jsonb

        self.meta()
        with self._tx() as cur:
            path, idxs = self._lock_segments(cur, entry_id)
            check_faces(path, len(idxs), faces)
            cur.executemany(
                sql.SQL("UPDATE {} SET faces = %s WHERE entry_id = %s AND idx = %s").format(
                    self._t("segments")
                ),
                [
                    (None if f is None else Jsonb([x.to_json() for x in f]), entry_id, i)
                    for f, i in zip(faces, idxs, strict=True)
                ],
            )

    def iter_faces(self) -> Iterator[tuple[Entry, int, float, float, list[Face]]]:
        """Every segment with faces, in path and segment order."""
        from psycopg import sql

        self.meta()
        with self._read_tx() as cur:
            cur.execute(
                sql.SQL(
                    "SELECT {}, s.idx, s.start_s, s.end_s, s.faces FROM {} s "
                    "JOIN {} e ON e.id = s.entry_id "
                    "WHERE s.faces IS NOT NULL AND s.faces <> '[]'::jsonb "
                    "ORDER BY e.path, e.id, s.idx"
                ).format(entry_select(), self._t("segments"), self._t("entries"))
            )
            rows = cur.fetchall()
        for row in rows:
            idx, start, end, faces = row[N_ENTRY:]
            yield entry_from_row(row), idx, start, end, faces_from_json(faces) or []

    def people(self) -> dict[str, Any]:
        """The library's people as last written by :meth:`set_people` (``{}``: none yet)."""
        from psycopg import sql

        self.meta()
        with self._read_tx() as cur:
            cur.execute(
                sql.SQL("SELECT value FROM {} WHERE key = 'people'").format(self._t("meta"))
            )
            row = cur.fetchone()
        return dict(row[0]) if row is not None else {}

    @serialized
    def set_people(self, people: dict[str, Any]) -> None:
        """Replace the library's people (a JSON-ready dict), atomically."""
        self.meta()
        self._write_meta_value("people", people)

    @serialized
    def clear_vectors(self, space: str) -> None:
        """Remove every vector of a space (the column and its index are recreated empty)."""
        meta = self.meta()
        if space not in meta.spaces:
            raise ValueError(f"unknown space {space!r}; the library has {sorted(meta.spaces)}")
        with self._tx() as cur:
            self._drop_space(cur, space)
            add_space(cur, self.config.schema, space, meta.spaces[space], self.config.hnsw_m,
                          self.config.hnsw_ef_construction)  # fmt: skip

    # ------------------------------------------------------------------ reading

    def _entries_where(self, where: Any, params: Any) -> list[Entry]:
        from psycopg import sql

        with self._read_tx() as cur:
            cur.execute(
                sql.SQL("SELECT {} FROM {} e WHERE {} ORDER BY e.path, e.id").format(
                    entry_select(), self._t("entries"), where
                ),
                params,
            )
            return [entry_from_row(r) for r in cur.fetchall()]

    def get_entry(self, entry_id: str) -> Entry | None:
        """The entry with this id, or None."""
        from psycopg import sql

        self.meta()
        rows = self._entries_where(sql.SQL("e.id = %s"), (entry_id,))
        return rows[0] if rows else None

    def has_entry(self, entry_id: str) -> bool:
        """Whether an entry with this id exists."""
        return self.get_entry(entry_id) is not None

    def find_by_path(self, path: str) -> Entry | None:
        """The entry at this path (the latest added if several), or None."""
        from psycopg import sql

        self.meta()
        rows = self._entries_where(sql.SQL("e.path = %s"), (str(path),))
        return max(rows, key=lambda e: (e.added, e.id)) if rows else None

    def iter_entries(self) -> Iterator[Entry]:
        """Every entry, in path order."""
        from psycopg import sql

        self.meta()
        yield from self._entries_where(sql.SQL("TRUE"), ())

    def segments(self, entry_id: str) -> list[Segment]:
        """An entry's segments in index order, with their vectors."""
        from psycopg import sql

        spaces = list(self.meta().spaces)
        cols = [sql.Identifier(space_column(s)) for s in spaces]
        with self._read_tx() as cur:
            cur.execute(
                sql.SQL(
                    "SELECT idx, start_s, end_s, text, tags, tag_text, place, faces{} FROM {} "
                    "WHERE entry_id = %s ORDER BY idx"
                ).format(sql.SQL("").join(sql.SQL(", ") + c for c in cols), self._t("segments")),
                (entry_id,),
            )
            rows = cur.fetchall()
        return [
            Segment(
                entry_id,
                idx,
                start,
                end,
                text or "",
                {
                    s: np.array(v.to_numpy(), dtype=np.float32)
                    for s, v in zip(spaces, vecs, strict=True)
                    if v is not None
                },
                tags_from_json(tags),
                tag_text or "",
                place or "",
                faces_from_json(faces),
            )
            for idx, start, end, text, tags, tag_text, place, faces, *vecs in rows
        ]

    def search_vector(
        self, space: str, vector: np.ndarray, k: int = 10, filters: Filters | None = None
    ) -> list[Hit]:
        """The ``k`` segments most similar (cosine) to ``vector`` in ``space``, best first."""
        meta = self.meta()
        ef = self._index.get(space, {}).get("ef_search", self.config.ef_search)
        return search_vector(self._read_tx, self.config.schema, meta, ef, self._iterative, space,
                             vector, k, filters)  # fmt: skip

    def search_text(self, query: str, k: int = 10, filters: Filters | None = None) -> list[Hit]:
        """Full-text matches in segment texts and entry texts (every word must occur)."""
        self.meta()
        return search_text(self._read_tx, self.config.schema, query, k, filters)

    def search_tags(self, query: str, k: int = 10, filters: Filters | None = None) -> list[Hit]:
        """Full-text matches in segments' tag words (any word)."""
        self.meta()
        return search_text(self._read_tx, self.config.schema, query, k, filters, tsv="tag_tsv")

    # ------------------------------------------------------------------ housekeeping

    def stats(self) -> dict[str, Any]:
        """Counts and sizes (keys documented in :meth:`Store.stats`)."""
        from psycopg import sql

        meta = self.meta()
        spaces = list(meta.spaces)
        by_mod = {m.value: 0 for m in Modality}
        duration = 0.0
        with self._read_tx() as cur:
            cur.execute(
                sql.SQL(
                    "SELECT modality, count(*), coalesce(sum(duration), 0) FROM {} "
                    "GROUP BY modality"
                ).format(self._t("entries"))
            )
            for modality, n, total in cur.fetchall():
                by_mod[modality] = int(n)
                duration += float(total)
            counts = sql.SQL("").join(
                sql.SQL(", count({})").format(sql.Identifier(space_column(s))) for s in spaces
            )
            cur.execute(sql.SQL("SELECT count(*){} FROM {}").format(counts, self._t("segments")))
            n_segments, *n_vectors = cur.fetchone()
            cur.execute(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'r'",
                (self.config.schema,),
            )
            size = cur.fetchone()[0]
        return {
            "backend": "postgres",
            "location": self.location,
            "schema_version": meta.schema_version,
            "model_id": meta.model_id,
            "spaces": dict(meta.spaces),
            "entries": sum(by_mod.values()),
            "entries_by_modality": by_mod,
            "segments": int(n_segments),
            "vectors": {s: int(n) for s, n in zip(spaces, n_vectors, strict=True)},
            "duration_s": duration,
            "size_bytes": None if size is None else int(size),
        }

    @serialized
    def optimize(self) -> None:
        """Refresh planner statistics and calibrate ef_search of spaces that grew 2x since.

        HNSW and GIN indexes are maintained on every write; calibration answers queries near
        stored vectors exactly (sequential scan) and through HNSW at growing ``ef_search``
        until recall@10 reaches ``recall_target``.
        """
        from psycopg import sql

        meta = self.meta()
        for name in ("entries", "segments"):
            self._conn.execute(sql.SQL("ANALYZE {}").format(self._t(name)))
        for space, width in meta.spaces.items():
            col = sql.Identifier(space_column(space))
            with self._tx() as cur:
                cur.execute(sql.SQL("SELECT count({}) FROM {}").format(col, self._t("segments")))
                n = cur.fetchone()[0]
            info = self._index.get(space)
            if width > HNSW_MAX_DIM or n < self.config.index_threshold:
                continue
            if info is None or n >= 2 * info["rows"]:
                self._index[space] = calibrate_ef_search(
                    self._tx, self.config.schema, space, n, self.config
                )
                self._write_meta_value("index", self._index)

    def close(self) -> None:
        """Close the connections."""
        self._closed = True
        with self._readers_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        self._conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _migrate_1_to_2(store: PostgresStore) -> None:
    """Schema 1 -> 2: the segments' tag columns (NULL: untagged) and their full-text index."""
    with store._tx() as cur:
        add_tag_columns(cur, store.config.schema)


def _migrate_2_to_3(store: PostgresStore) -> None:
    """Schema 2 -> 3: the entries' ``encoding`` and the segments' ``place``."""
    with store._tx() as cur:
        add_place_columns(cur, store.config.schema)


def _migrate_3_to_4(store: PostgresStore) -> None:
    """Schema 3 -> 4: the segments' ``faces`` (NULL: never looked at)."""
    with store._tx() as cur:
        add_face_columns(cur, store.config.schema)


PostgresStore.MIGRATIONS = {1: _migrate_1_to_2, 2: _migrate_2_to_3, 3: _migrate_3_to_4}

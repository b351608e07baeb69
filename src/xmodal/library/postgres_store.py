"""The server library backend: PostgreSQL + pgvector, through psycopg 3.

For a library shared by several machines or larger than one disk: any PostgreSQL 13+ with the
``vector`` extension (pgvector; 0.8+ recommended for filtered search), managed or self-hosted,
Citus for scale-out. Select it with ``--db URL`` or ``XMODAL_DATABASE_URL``.

Layout (inside one PostgreSQL schema, ``xmodal`` by default; one library per schema)::

    meta      key text -> value jsonb: "library" (LibraryMeta), "index" (calibrated ef_search)
    entries   id (PK), path, modality, created, modified, duration, text, tags text[], added,
              tsv tsvector GENERATED from text (GIN index)
    segments  (entry_id -> entries ON DELETE CASCADE, idx) PK, start_s, end_s, text,
              tsv (GIN), the visual tags (``tags`` jsonb, NULL when untagged; ``tag_text``
              with ``tag_tsv`` (GIN); ``tag_terms`` ``|word|...|`` for the tag filter), and one
              ``vector(D)`` column per space ``v_<space>`` with an HNSW index
              (``vector_cosine_ops``; spaces wider than 2000 are searched exactly)

Every write is one transaction, so an entry and its segments appear and change together.
Vector search orders by cosine distance (``<=>``) with the filters in the same query; on
pgvector 0.8+ ``hnsw.iterative_scan = relaxed_order`` keeps scanning the graph until ``k`` rows
pass the filters (results re-sorted exactly here); :meth:`PostgresStore.optimize` calibrates
``hnsw.ef_search`` per space on the library's own vectors until recall@10 reaches
``recall_target`` (kept in ``meta``). Full text uses
``websearch_to_tsquery('english', ...)`` ranked by ``ts_rank``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, ClassVar

import numpy as np

from xmodal.library.store import (
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
    validate_upsert,
)
from xmodal.types import Modality

_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,62}")
HNSW_MAX_DIM = 2000  # pgvector's HNSW limit for the vector type


@dataclass
class PostgresStoreConfig:
    """Options of the PostgreSQL backend."""

    schema: str = "xmodal"
    """PostgreSQL schema holding the library's tables (one library per schema)."""
    hnsw_m: int = 16
    """HNSW graph degree."""
    hnsw_ef_construction: int = 64
    """HNSW build-time candidate list."""
    ef_search: int = 100
    """HNSW search candidate list before calibration (raised to the fetch size; max 1000)."""
    index_threshold: int = 1000
    """From this many vectors in a space on, optimize() calibrates its ef_search."""
    recall_target: float = 0.97
    """recall@10 the calibrated ef_search must reach (against exact search)."""
    calibration_queries: int = 64
    """Queries used to calibrate."""
    connect_timeout_s: int = 10
    """Seconds to wait for the server."""

    def __post_init__(self) -> None:
        if not _IDENT.fullmatch(self.schema):
            raise ValueError(
                f"schema must be a lowercase SQL identifier (a-z, 0-9, _), got {self.schema!r}"
            )
        if self.hnsw_m < 2 or self.hnsw_ef_construction < 4 or not 1 <= self.ef_search <= 1000:
            raise ValueError("need hnsw_m >= 2, hnsw_ef_construction >= 4, 1 <= ef_search <= 1000")
        if self.connect_timeout_s < 1:
            raise ValueError("connect_timeout_s must be >= 1")
        if self.index_threshold < 1 or self.calibration_queries < 1:
            raise ValueError("index_threshold and calibration_queries must be >= 1")
        if not 0.0 < self.recall_target <= 1.0:
            raise ValueError("recall_target must be in (0, 1]")


_ENTRY_COLS = ("id", "path", "modality", "created", "modified", "duration", "text", "tags", "added")


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


def _entry(row: tuple[Any, ...]) -> Entry:
    """An Entry from the first nine columns of ``row`` (in ``_ENTRY_COLS`` order)."""
    eid, path, modality, created, modified, duration, text, tags, added = row[:9]
    return Entry(
        id=eid,
        path=path,
        modality=Modality(modality),
        created=created,
        modified=modified,
        duration=duration,
        text=text or "",
        tags=list(tags or []),
        added=added,
    )


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
        from psycopg import sql

        return sql.Identifier(self.config.schema, name)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Any]:
        """A cursor inside one transaction; connection failures become LibraryError."""
        import psycopg

        try:
            with self._conn.transaction(), self._conn.cursor() as cur:
                yield cur
        except psycopg.OperationalError as exc:
            raise LibraryError(f"{self.location}: {str(exc).strip()}") from exc

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
        if version != SCHEMA_VERSION:
            steps = range(version, SCHEMA_VERSION)
            if version > SCHEMA_VERSION or any(v not in self.MIGRATIONS for v in steps):
                raise schema_error(self.location, version)
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

    def _add_space(self, cur: Any, space: str, width: int) -> None:
        from psycopg import sql

        col = space_column(space)
        cur.execute(
            sql.SQL("ALTER TABLE {} ADD COLUMN {} vector({})").format(
                self._t("segments"), sql.Identifier(col), sql.Literal(int(width))
            )
        )
        if width <= HNSW_MAX_DIM:
            cur.execute(
                sql.SQL(
                    "CREATE INDEX {} ON {} USING hnsw ({} vector_cosine_ops) "
                    "WITH (m = {}, ef_construction = {})"
                ).format(
                    sql.Identifier(f"seg_{col}_hnsw"),
                    self._t("segments"),
                    sql.Identifier(col),
                    sql.Literal(self.config.hnsw_m),
                    sql.Literal(self.config.hnsw_ef_construction),
                )
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

    def init(self, meta: LibraryMeta) -> None:
        """Create the library for ``meta`` or check the existing one (adding new spaces)."""
        from psycopg import sql

        if self._meta is not None:
            check_compatible(self._meta, meta, self.location)
            missing = {s: w for s, w in meta.spaces.items() if s not in self._meta.spaces}
            if missing:
                merged = replace(self._meta, spaces={**self._meta.spaces, **missing})
                with self._conn.transaction(), self._tx() as cur:
                    for space, width in missing.items():
                        self._add_space(cur, space, width)
                    self._write_meta(merged)
                self._meta = merged
            return
        meta = replace(meta, schema_version=SCHEMA_VERSION)
        s = sql.Identifier(self.config.schema)
        with self._conn.transaction(), self._tx() as cur:
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s))
            cur.execute(
                sql.SQL("CREATE TABLE {} (key text PRIMARY KEY, value jsonb NOT NULL)").format(
                    self._t("meta")
                )
            )
            cur.execute(
                sql.SQL(
                    "CREATE TABLE {} (id text PRIMARY KEY, path text NOT NULL, "
                    "modality text NOT NULL, created double precision NOT NULL, "
                    "modified double precision NOT NULL, duration double precision, "
                    "text text NOT NULL DEFAULT '', tags text[] NOT NULL DEFAULT '{{}}', "
                    "added double precision NOT NULL, "
                    "tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED)"
                ).format(self._t("entries"))
            )
            for cols, using in (("path", "btree"), ("created", "btree"), ("tsv", "gin")):
                cur.execute(
                    sql.SQL("CREATE INDEX ON {} USING {} ({})").format(
                        self._t("entries"), sql.SQL(using), sql.Identifier(cols)
                    )
                )
            cur.execute(
                sql.SQL(
                    "CREATE TABLE {} (entry_id text NOT NULL REFERENCES {} (id) ON DELETE CASCADE "
                    "DEFERRABLE INITIALLY DEFERRED, idx integer NOT NULL, "
                    "start_s double precision NOT NULL, end_s double precision NOT NULL, "
                    "text text NOT NULL DEFAULT '', "
                    "tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED, "
                    "PRIMARY KEY (entry_id, idx))"
                ).format(self._t("segments"), self._t("entries"))
            )
            cur.execute(sql.SQL("CREATE INDEX ON {} USING gin (tsv)").format(self._t("segments")))
            self._add_tag_columns(cur)
            for space, width in meta.spaces.items():
                self._add_space(cur, space, width)
            self._write_meta(meta)
        self._meta = meta

    def _add_tag_columns(self, cur: Any) -> None:
        """The segments' tag columns and their full-text index (schema version 2)."""
        from psycopg import sql

        cur.execute(
            sql.SQL(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS tags jsonb, "
                "ADD COLUMN IF NOT EXISTS tag_text text NOT NULL DEFAULT '', "
                "ADD COLUMN IF NOT EXISTS tag_terms text NOT NULL DEFAULT '', "
                "ADD COLUMN IF NOT EXISTS tag_tsv tsvector "
                "GENERATED ALWAYS AS (to_tsvector('english', tag_text)) STORED"
            ).format(self._t("segments"))
        )
        cur.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gin (tag_tsv)").format(
                sql.Identifier(f"{self.config.schema}_segments_tag_tsv"), self._t("segments")
            )
        )

    def reset_meta(self, meta: LibraryMeta) -> list[str]:
        """Adopt a new model; returns the spaces whose vectors were cleared (see Store)."""
        old = self.meta()
        meta = replace(meta, schema_version=SCHEMA_VERSION)
        cleared = [
            s
            for s, w in meta.spaces.items()
            if old.model_id != meta.model_id or old.spaces.get(s) != w
        ]
        with self._conn.transaction(), self._tx() as cur:
            for space in old.spaces:
                if space not in meta.spaces or space in cleared:
                    self._drop_space(cur, space)
            for space in cleared:
                self._add_space(cur, space, meta.spaces[space])
            self._write_meta(meta)
        self._meta = meta
        return cleared

    # ------------------------------------------------------------------ writing

    def upsert_entry(self, entry: Entry, segments: list[Segment]) -> None:
        """Insert or replace one entry with all its segments, in one transaction."""
        self.upsert_entries([(entry, segments)])

    def upsert_entries(self, items: Iterable[tuple[Entry, list[Segment]]]) -> None:
        """Insert or replace several entries in one transaction."""
        from psycopg import sql

        meta = self.meta()
        items = list(items)
        ids = [e.id for e, _ in items]
        if len(set(ids)) != len(ids):
            raise ValueError("the same entry id appears twice in one batch")
        for entry, segs in items:
            validate_upsert(meta, entry, segs)
        if not items:
            return
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
                *map(space_column, spaces)]  # fmt: skip
        statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT BINARY)").format(
            self._t("segments"), sql.SQL(", ").join(map(sql.Identifier, cols))
        )
        with cur.copy(statement) as copy:
            copy.set_types(["text", "int4", "float8", "float8", "text", "jsonb", "text", "text",
                            *["vector"] * len(spaces)])  # fmt: skip
            for e, s in rows:
                tags = None if s.tags is None else Jsonb([t.to_json() for t in s.tags])
                copy.write_row(
                    (e.id, s.index, s.start, s.end, s.text, tags, s.tag_text,
                     tag_terms_column(s.tag_text), *(s.vectors.get(sp) for sp in spaces))
                )  # fmt: skip

    def _write_entries(self, cur: Any, entries: list[Entry]) -> None:
        from psycopg import sql

        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in _ENTRY_COLS[1:]
        )
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}").format(
            self._t("entries"),
            sql.SQL(", ").join(map(sql.Identifier, _ENTRY_COLS)),
            sql.SQL(", ").join(sql.Placeholder() * len(_ENTRY_COLS)),
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
                )
                for e in entries
            ],
        )

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

    def remove_entry(self, entry_id: str) -> bool:
        """Delete an entry and (by cascade) its segments."""
        from psycopg import sql

        self.meta()
        with self._tx() as cur:
            cur.execute(
                sql.SQL("DELETE FROM {} WHERE id = %s").format(self._t("entries")), (entry_id,)
            )
            return cur.rowcount > 0

    def set_vectors(self, entry_id: str, space: str, vectors: np.ndarray) -> None:
        """Replace one space's vectors of an entry's segments (rows in segment index order)."""
        from psycopg import sql

        width = self.meta().spaces.get(space)
        if width is None:
            raise ValueError(
                f"unknown space {space!r}; the library has {sorted(self.meta().spaces)}"
            )
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        if not np.isfinite(vecs).all():
            raise ValueError(f"vectors for space {space!r} have NaN or inf values")
        with self._tx() as cur:
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
            idxs = [r[0] for r in cur.fetchall()]
            if vecs.shape != (len(idxs), width):
                raise ValueError(
                    f"entry {row[0]}: expected ({len(idxs)}, {width}) vectors for space "
                    f"{space!r}, got {vecs.shape}"
                )
            cur.executemany(
                sql.SQL("UPDATE {} SET {} = %s WHERE entry_id = %s AND idx = %s").format(
                    self._t("segments"), sql.Identifier(space_column(space))
                ),
                [(v, entry_id, i) for v, i in zip(vecs, idxs, strict=True)],
            )

    def clear_vectors(self, space: str) -> None:
        """Remove every vector of a space (the column and its index are recreated empty)."""
        meta = self.meta()
        if space not in meta.spaces:
            raise ValueError(f"unknown space {space!r}; the library has {sorted(meta.spaces)}")
        with self._tx() as cur:
            self._drop_space(cur, space)
            self._add_space(cur, space, meta.spaces[space])

    # ------------------------------------------------------------------ reading

    def _entry_select(self) -> Any:
        from psycopg import sql

        return sql.SQL(", ").join(sql.SQL("e.") + sql.Identifier(c) for c in _ENTRY_COLS)

    def _entries_where(self, where: Any, params: Any) -> list[Entry]:
        from psycopg import sql

        with self._tx() as cur:
            cur.execute(
                sql.SQL("SELECT {} FROM {} e WHERE {} ORDER BY e.path, e.id").format(
                    self._entry_select(), self._t("entries"), where
                ),
                params,
            )
            return [_entry(r) for r in cur.fetchall()]

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
        with self._tx() as cur:
            cur.execute(
                sql.SQL(
                    "SELECT idx, start_s, end_s, text, tags::text, tag_text{} FROM {} "
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
            )
            for idx, start, end, text, tags, tag_text, *vecs in rows
        ]

    @staticmethod
    def _filters_sql(filters: Filters) -> tuple[Any, dict[str, Any], bool]:
        """``(condition on alias e, params, exact)``."""
        from psycopg import sql

        parts, params, exact = [sql.SQL("TRUE")], {}, True
        if filters.modalities is not None:
            parts.append(sql.SQL("e.modality = ANY(%(mods)s)"))
            params["mods"] = sorted(m.value for m in filters.modalities)
        if filters.since is not None:
            parts.append(sql.SQL("e.created >= %(since)s"))
            params["since"] = filters.since
        if filters.until is not None:
            parts.append(sql.SQL("e.created <= %(until)s"))
            params["until"] = filters.until
        if filters.path_glob is not None:
            params["like"], exact = glob_to_like(filters.path_glob)
            parts.append(sql.SQL("e.path LIKE %(like)s ESCAPE '\\'"))
        if filters.tags is not None:  # on alias s: only segment queries take a tag filter
            params["tag_likes"] = [
                "%|" + re.sub(r"([\\%_])", r"\\\1", w) + "|%" for w in sorted(filters.tags)
            ]
            parts.append(sql.SQL("s.tag_terms LIKE ANY(%(tag_likes)s)"))
        return sql.SQL(" AND ").join(parts), params, exact

    def search_vector(
        self, space: str, vector: np.ndarray, k: int = 10, filters: Filters | None = None
    ) -> list[Hit]:
        """The ``k`` segments most similar (cosine) to ``vector`` in ``space``, best first."""
        from psycopg import sql

        q = check_query(self.meta(), space, vector, k)
        filters = filters or Filters()
        cond, params, exact = self._filters_sql(filters)
        col = sql.Identifier(space_column(space))
        query = sql.SQL(
            "SELECT {ecols}, s.idx, s.start_s, s.end_s, s.text, s.tags::text, "
            "s.{col} <=> %(q)s AS dist "
            "FROM {seg} s JOIN {ent} e ON e.id = s.entry_id "
            "WHERE s.{col} IS NOT NULL AND {cond} ORDER BY s.{col} <=> %(q)s LIMIT %(limit)s"
        ).format(
            ecols=self._entry_select(),
            col=col,
            seg=self._t("segments"),
            ent=self._t("entries"),
            cond=cond,
        )

        def run(limit: int) -> tuple[int, list[Any]]:
            with self._tx() as cur:
                tuned = self._index.get(space, {}).get("ef_search", self.config.ef_search)
                ef = min(1000, max(tuned, limit))
                cur.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef)))
                if self._iterative:
                    cur.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                cur.execute(query, {**params, "q": q, "limit": limit})
                rows = cur.fetchall()
            kept = []
            for r in rows:
                entry = _entry(r)
                if filters.matches(entry):
                    idx, start, end, text, tags, dist = r[9:]
                    kept.append((entry, idx, start, end, text or "", 1.0 - float(dist),
                                 tags_from_json(tags)))  # fmt: skip
            return len(rows), kept

        return rank_vector_hits(fetch_until(k, exact, run), k, space)

    def search_text(self, query: str, k: int = 10, filters: Filters | None = None) -> list[Hit]:
        """Full-text matches in segment texts and entry texts (every word must occur)."""
        return self._full_text(query, "tsv", k, filters)

    def search_tags(self, query: str, k: int = 10, filters: Filters | None = None) -> list[Hit]:
        """Full-text matches in segments' tag words (any word)."""
        return self._full_text(query, "tag_tsv", k, filters)

    def _full_text(self, query: str, tsv: str, k: int, filters: Filters | None) -> list[Hit]:
        from psycopg import sql

        self.meta()
        if int(k) < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if not re.search(r"\w", query):
            return []
        filters = filters or Filters()
        cond, params, exact = self._filters_sql(filters)
        if tsv != "tsv":  # tags: any word (see Store.search_tags)
            query = " or ".join(re.findall(r"\w+", query))
        params = {**params, "query": query}
        seg_sql = sql.SQL(
            "SELECT {ecols}, s.idx, s.start_s, s.end_s, s.text, s.tags::text, "
            "ts_rank(s.{tsv}, tq) AS score "
            "FROM {seg} s JOIN {ent} e ON e.id = s.entry_id, "
            "websearch_to_tsquery('english', %(query)s) tq "
            "WHERE s.{tsv} @@ tq AND {cond} ORDER BY score DESC, e.path, s.idx LIMIT %(limit)s"
        ).format(
            ecols=self._entry_select(),
            tsv=sql.Identifier(tsv),
            seg=self._t("segments"),
            ent=self._t("entries"),
            cond=cond,
        )

        def fetch(statement: Any, limit: int) -> list[tuple[Any, ...]]:
            with self._tx() as cur:
                cur.execute(statement, {**params, "limit": limit})
                return cur.fetchall()

        def run_segments(limit: int) -> tuple[int, list[Any]]:
            rows = fetch(seg_sql, limit)
            kept = [(_entry(r), *r[9:]) for r in rows]
            return len(rows), [
                (e, i, s, t, x or "", float(sc), tags_from_json(tags))
                for e, i, s, t, x, tags, sc in kept
                if filters.matches(e)
            ]

        seg_hits = fetch_until(k, exact, run_segments)
        if tsv != "tsv" or filters.tags is not None:  # entries have no tags
            return merge_text_hits(seg_hits, [], k, TAGS_LIST if tsv != "tsv" else FTS_SPACE)
        ent_sql = sql.SQL(
            "SELECT {ecols}, ts_rank(e.tsv, tq) AS score "
            "FROM {ent} e, websearch_to_tsquery('english', %(query)s) tq "
            "WHERE e.tsv @@ tq AND {cond} ORDER BY score DESC, e.path LIMIT %(limit)s"
        ).format(ecols=self._entry_select(), ent=self._t("entries"), cond=cond)

        def run_entries(limit: int) -> tuple[int, list[Any]]:
            rows = fetch(ent_sql, limit)
            kept = [(_entry(r), float(r[9])) for r in rows]
            return len(rows), [(e, sc) for e, sc in kept if filters.matches(e)]

        entry_hits = fetch_until(k, exact, run_entries)
        return merge_text_hits(seg_hits, entry_hits, k)

    # ------------------------------------------------------------------ housekeeping

    def stats(self) -> dict[str, Any]:
        """Counts and sizes (keys documented in :meth:`Store.stats`)."""
        from psycopg import sql

        meta = self.meta()
        spaces = list(meta.spaces)
        by_mod = {m.value: 0 for m in Modality}
        duration = 0.0
        with self._tx() as cur:
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

    def optimize(self) -> None:
        """Refresh planner statistics and calibrate ef_search of spaces that grew 2x since.

        HNSW and GIN indexes are maintained on every write; calibration answers queries near
        stored vectors exactly (sequential scan) and through HNSW at growing ``ef_search``
        until recall@10 reaches ``recall_target``.
        """
        from psycopg import sql

        meta = self.meta()
        for table in ("entries", "segments"):
            self._conn.execute(sql.SQL("ANALYZE {}").format(self._t(table)))
        for space, width in meta.spaces.items():
            col = sql.Identifier(space_column(space))
            with self._tx() as cur:
                cur.execute(sql.SQL("SELECT count({}) FROM {}").format(col, self._t("segments")))
                n = cur.fetchone()[0]
            info = self._index.get(space)
            if width > HNSW_MAX_DIM or n < self.config.index_threshold:
                continue
            if info is None or n >= 2 * info["rows"]:
                self._index[space] = self._calibrate(space, n)
                self._write_meta_value("index", self._index)

    def _calibrate(self, space: str, n: int) -> dict[str, Any]:
        from psycopg import sql

        col = sql.Identifier(space_column(space))
        seg = self._t("segments")
        with self._tx() as cur:
            cur.execute(
                sql.SQL(
                    "SELECT {col} FROM {seg} WHERE {col} IS NOT NULL "
                    "ORDER BY md5(entry_id || ':' || idx) LIMIT %s"
                ).format(col=col, seg=seg),
                (self.config.calibration_queries,),
            )
            seeds = np.stack([r[0].to_numpy() for r in cur.fetchall()])
        queries = calibration_queries(seeds)  # (Q, D)
        nearest = sql.SQL(
            "SELECT entry_id, idx FROM {seg} WHERE {col} IS NOT NULL ORDER BY {col} <=> %s LIMIT 10"
        ).format(col=col, seg=seg)

        def search(ef: int | None, i: int) -> set[tuple[str, int]]:
            with self._tx() as cur:
                if ef is None:  # exact: no index scan
                    cur.execute("SET LOCAL enable_indexscan = off")
                else:  # through HNSW, even where the planner would rather scan and sort
                    cur.execute("SET LOCAL enable_seqscan = off")
                    cur.execute("SET LOCAL enable_sort = off")
                    cur.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef)))
                cur.execute(nearest, (queries[i],), prepare=False)  # plan under these settings
                return set(cur.fetchall())

        truth = [search(None, i) for i in range(len(queries))]
        ladder = [40, 80, 160, 320, 640, 1000]
        ef, recall = calibrate(ladder, truth, search, self.config.recall_target)
        return {"rows": n, "ef_search": ef, "calibrated_recall_at_10": recall}

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()
        self._closed = True

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
        store._add_tag_columns(cur)


PostgresStore.MIGRATIONS = {1: _migrate_1_to_2}

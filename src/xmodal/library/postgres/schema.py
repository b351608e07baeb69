"""The PostgreSQL library's tables: their DDL, the vector columns of the spaces, row conversion,
and the filters as SQL.

Inside one PostgreSQL schema (``xmodal`` by default; one library per schema)::

    meta      key text -> value jsonb: "library" (LibraryMeta), "index" (calibrated ef_search),
              "people" (the library's people, schema version 4)
    entries   id (PK), path, modality, created, modified, duration, text, tags text[], added,
              encoding (schema version 3), tsv tsvector GENERATED from the text's first
              ENTRY_TSV_CHARS characters (GIN index; a tsvector holds at most 1 MB)
    segments  (entry_id -> entries ON DELETE CASCADE, idx) PK, start_s, end_s, text,
              tsv (GIN), the visual tags (``tags`` jsonb, NULL when untagged; ``tag_text``
              with ``tag_tsv`` (GIN); ``tag_terms`` ``|word|...|`` for the tag filter), and one
              ``place`` in its document (schema version 3), its ``faces`` (jsonb, NULL when
              never looked at; schema version 4), and one
              ``vector(D)`` column per space ``v_<space>`` with an HNSW index
              (``vector_cosine_ops``; spaces wider than 2000 are searched exactly)
"""

from __future__ import annotations

from typing import Any

from xmodal.library.columns import glob_to_like, space_column, tag_like_patterns
from xmodal.library.records import Entry, Filters
from xmodal.types import Modality

HNSW_MAX_DIM = 2000  # pgvector's HNSW limit for the vector type
ENTRY_COLS = ("id", "path", "modality", "created", "modified", "duration", "text", "tags", "added",
              "encoding")  # fmt: skip
N_ENTRY = len(ENTRY_COLS)
ENTRY_TSV_CHARS = 200_000
"""How much of an entry's text its whole-entry full-text index covers. PostgreSQL refuses a
tsvector over 1 MB (an 11 MB journal's would be several); a big note's segments still index all
of its text, so only a match of words that are far apart in it needs the entry-level index."""
_ENTRY_TSV = f"to_tsvector('english', left(text, {ENTRY_TSV_CHARS}))"
"""How many leading columns of a joined row are the entry's (:func:`entry_from_row`)."""


def table(schema: str, name: str) -> Any:
    """The identifier ``schema.name``."""
    from psycopg import sql

    return sql.Identifier(schema, name)


def entry_from_row(row: tuple[Any, ...]) -> Entry:
    """An Entry from the first :data:`N_ENTRY` columns of ``row`` (in ``ENTRY_COLS`` order)."""
    eid, path, modality, created, modified, duration, text, tags, added, encoding = row[:N_ENTRY]
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
        encoding=encoding or None,
    )


def entry_select() -> Any:
    """``e.id, e.path, ...``: the entry columns of alias ``e``, in ``ENTRY_COLS`` order."""
    from psycopg import sql

    return sql.SQL(", ").join(sql.SQL("e.") + sql.Identifier(c) for c in ENTRY_COLS)


def filters_sql(filters: Filters) -> tuple[Any, dict[str, Any], bool]:
    """``(condition on alias e, params, exact)``; a tag or segment filter is a condition on
    alias ``s`` (only segment queries may take one: entries have no tags and no faces)."""
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
    if filters.tags is not None:
        params["tag_likes"] = tag_like_patterns(filters.tags)
        parts.append(sql.SQL("s.tag_terms LIKE ANY(%(tag_likes)s)"))
    if filters.segments is not None:
        keys = sorted(filters.segments)
        params["seg_entries"], params["seg_idx"] = [e for e, _ in keys], [i for _, i in keys]
        parts.append(
            sql.SQL(
                "(s.entry_id, s.idx) IN (SELECT * FROM unnest(%(seg_entries)s::text[], "
                "%(seg_idx)s::int[]))"
            )
        )
    return sql.SQL(" AND ").join(parts), params, exact


def create_tables(cur: Any, schema: str) -> None:
    """Create the library's schema and its three tables (no vector columns yet)."""
    from psycopg import sql

    cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    cur.execute(
        sql.SQL("CREATE TABLE {} (key text PRIMARY KEY, value jsonb NOT NULL)").format(
            table(schema, "meta")
        )
    )
    cur.execute(
        sql.SQL(
            "CREATE TABLE {} (id text PRIMARY KEY, path text NOT NULL, "
            "modality text NOT NULL, created double precision NOT NULL, "
            "modified double precision NOT NULL, duration double precision, "
            "text text NOT NULL DEFAULT '', tags text[] NOT NULL DEFAULT '{{}}', "
            "added double precision NOT NULL, "
            f"tsv tsvector GENERATED ALWAYS AS ({_ENTRY_TSV}) STORED)"
        ).format(table(schema, "entries"))
    )
    for cols, using in (("path", "btree"), ("created", "btree"), ("tsv", "gin")):
        cur.execute(
            sql.SQL("CREATE INDEX ON {} USING {} ({})").format(
                table(schema, "entries"), sql.SQL(using), sql.Identifier(cols)
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
        ).format(table(schema, "segments"), table(schema, "entries"))
    )
    cur.execute(sql.SQL("CREATE INDEX ON {} USING gin (tsv)").format(table(schema, "segments")))
    add_tag_columns(cur, schema)
    add_place_columns(cur, schema)
    add_face_columns(cur, schema)


def add_face_columns(cur: Any, schema: str) -> None:
    """The segments' ``faces`` (schema version 4; NULL: never looked at; idempotent)."""
    from psycopg import sql

    cur.execute(
        sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS faces jsonb").format(
            table(schema, "segments")
        )
    )


def add_place_columns(cur: Any, schema: str) -> None:
    """The entries' ``encoding`` and the segments' ``place`` (schema version 3; idempotent).

    Version 3 also bounds the entries' full-text column to their first
    :data:`ENTRY_TSV_CHARS` characters (rebuilt with its index here when a library migrates)."""
    from psycopg import sql

    cur.execute(
        "SELECT generation_expression FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = 'entries' AND column_name = 'tsv'",
        (schema,),
    )
    row = cur.fetchone()
    if row is not None and "left" not in (row[0] or ""):  # to_tsvector(..., "left"(text, N))
        entries = table(schema, "entries")
        cur.execute(sql.SQL("ALTER TABLE {} DROP COLUMN tsv").format(entries))
        cur.execute(
            sql.SQL(
                f"ALTER TABLE {{}} ADD COLUMN tsv tsvector GENERATED ALWAYS AS ({_ENTRY_TSV}) "
                "STORED"
            ).format(entries)  # fmt: skip
        )
        cur.execute(sql.SQL("CREATE INDEX ON {} USING gin (tsv)").format(entries))

    cur.execute(
        sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS encoding text").format(
            table(schema, "entries")
        )
    )
    cur.execute(
        sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS place text NOT NULL DEFAULT ''").format(
            table(schema, "segments")
        )
    )


def add_tag_columns(cur: Any, schema: str) -> None:
    """The segments' tag columns and their full-text index (schema version 2; idempotent)."""
    from psycopg import sql

    cur.execute(
        sql.SQL(
            "ALTER TABLE {} ADD COLUMN IF NOT EXISTS tags jsonb, "
            "ADD COLUMN IF NOT EXISTS tag_text text NOT NULL DEFAULT '', "
            "ADD COLUMN IF NOT EXISTS tag_terms text NOT NULL DEFAULT '', "
            "ADD COLUMN IF NOT EXISTS tag_tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', tag_text)) STORED"
        ).format(table(schema, "segments"))
    )
    cur.execute(
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gin (tag_tsv)").format(
            sql.Identifier(f"{schema}_segments_tag_tsv"), table(schema, "segments")
        )
    )


def add_space(cur: Any, schema: str, space: str, width: int, m: int, ef_construction: int) -> None:
    """Add a space's ``vector(width)`` column to the segments table, with an HNSW index when
    pgvector can build one (``width <= HNSW_MAX_DIM``)."""
    from psycopg import sql

    col = space_column(space)
    cur.execute(
        sql.SQL("ALTER TABLE {} ADD COLUMN {} vector({})").format(
            table(schema, "segments"), sql.Identifier(col), sql.Literal(int(width))
        )
    )
    if width <= HNSW_MAX_DIM:
        cur.execute(
            sql.SQL(
                "CREATE INDEX {} ON {} USING hnsw ({} vector_cosine_ops) "
                "WITH (m = {}, ef_construction = {})"
            ).format(
                sql.Identifier(f"seg_{col}_hnsw"),
                table(schema, "segments"),
                sql.Identifier(col),
                sql.Literal(m),
                sql.Literal(ef_construction),
            )
        )

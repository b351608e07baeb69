"""The LanceDB library's tables: their Arrow schemas, row conversion, and SQL filters.

Three tables in the library directory (see :mod:`xmodal.library.lancedb.store` for how writes
stay atomic across them)::

    meta.lance      key -> JSON: "library" (LibraryMeta), "index" (tuned ANN search parameters),
                    "people" (the library's people, schema version 4)
    entries.lance   one row per entry (+ ``gen``; ``encoding`` since schema version 3);
                    full-text index on ``text``
    segments.lance  one row per segment: entry id, ``gen``, index, start/end, text, the entry's
                    modality/created/path (copied so filters run inside the vector search),
                    ``written`` time, the visual tags (``tags`` JSON, NULL when untagged;
                    ``tag_text`` with a full-text index; ``tag_terms`` ``|word|...|`` for the
                    tag filter), its ``place`` in its document (schema version 3),
                    its ``faces`` (JSON, NULL when never looked at; schema version 4),
                    and one fixed-size float32 vector column per space
                    (``v_<space>``, NULL where a segment has no vector in that space)
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from typing import Any

import numpy as np

from xmodal.library.columns import (
    glob_to_like,
    space_column,
    tag_like_patterns,
    tag_terms_column,
    tags_json,
)
from xmodal.library.records import Entry, Filters, LibraryMeta, Segment, faces_json
from xmodal.types import Modality

META, ENTRIES, SEGMENTS = "meta", "entries", "segments"
SEG_HIT_COLUMNS = ["entry_id", "gen", "idx", "start", "end", "text", "tags", "place"]
TAG_COLUMNS = ("tags", "tag_text", "tag_terms")
"""The segments' tag columns (schema version 2), strings all."""
ENTRY_V3, SEGMENT_V3 = "encoding", "place"
"""The columns schema version 3 added: the entries' ``encoding``, the segments' ``place``."""
SEGMENT_V4 = "faces"
"""The column schema version 4 added: the segments' ``faces`` (JSON)."""


def q(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def num(value: float) -> str:
    """A SQL number literal."""
    return f"{value:.6f}"


def in_list(values: Iterable[str]) -> str:
    """A SQL ``(...)`` list of string literals."""
    return "(" + ", ".join(q(v) for v in values) + ")"


def entries_schema() -> Any:
    """The Arrow schema of the entries table."""
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
            (ENTRY_V3, pa.string()),
        ]
    )


def segments_schema(spaces: dict[str, int]) -> Any:
    """The Arrow schema of the segments table for these spaces (one vector column each)."""
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
        *((c, pa.string()) for c in TAG_COLUMNS),
        (SEGMENT_V3, pa.string()),
        (SEGMENT_V4, pa.string()),
    ]
    fields += [(space_column(s), pa.list_(pa.float32(), w)) for s, w in spaces.items()]
    return pa.schema(fields)


def entry_from_row(row: dict[str, Any]) -> Entry:
    """An :class:`Entry` from an entries-table row."""
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
        encoding=row.get(ENTRY_V3) or None,
    )


def entry_row(e: Entry, gen: str) -> dict[str, Any]:
    """An entries-table row of ``e`` committed with generation ``gen``."""
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
        ENTRY_V3: e.encoding,
    }


def segment_table(
    rows: list[tuple[Entry, Segment]], gen: str, spaces: dict[str, int], schema: Any
) -> Any:
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
        SEGMENT_V3: [s.place for _, s in rows],
        SEGMENT_V4: [faces_json(s.faces) for _, s in rows],
    }
    for space, width in spaces.items():
        mat = np.zeros((len(rows), width), dtype=np.float32)  # (S, D)
        missing = np.ones(len(rows), dtype=bool)
        for i, (_, s) in enumerate(rows):
            if (vec := s.vectors.get(space)) is not None:
                mat[i], missing[i] = vec, False
        columns[space_column(space)] = pa.FixedSizeListArray.from_arrays(
            pa.array(mat.reshape(-1)), width, mask=pa.array(missing)
        )
    return pa.table(columns, schema=schema)


def where_sql(filters: Filters) -> tuple[str | None, bool]:
    """SQL for the filters on ``modality``/``created``/``path`` (both tables have them).

    Returns ``(where or None, exact)``; not exact means post-filtering is needed.
    """
    parts, exact = [], True
    if filters.modalities is not None:
        mods = sorted(m.value for m in filters.modalities)
        parts.append(f"modality IN {in_list(mods)}")
    if filters.since is not None:
        parts.append(f"created >= {num(filters.since)}")
    if filters.until is not None:
        parts.append(f"created <= {num(filters.until)}")
    if filters.path_glob is not None:
        like, exact = glob_to_like(filters.path_glob)
        parts.append(f"path LIKE {q(like)} ESCAPE '\\'")
    return (" AND ".join(parts) or None), exact


def where_tags_sql(filters: Filters, where: str | None) -> str | None:
    """``where`` plus the conditions only segments can meet: the tag filter and the segment
    filter (entries have neither tags nor faces)."""
    extra = []
    if filters.tags is not None:
        patterns = tag_like_patterns(filters.tags)
        extra.append(" OR ".join(f"tag_terms LIKE {q(p)} ESCAPE '\\'" for p in patterns))
    if filters.segments is not None:
        groups = filters.segments_by_entry().items()
        extra.append(
            " OR ".join(f"(entry_id = {q(e)} AND idx IN ({', '.join(map(str, ix))}))"
                        for e, ix in groups) or "FALSE"
        )  # fmt: skip
    if not extra:
        return where
    return " AND ".join(f"({part})" for part in ([where] if where else []) + extra)


def reconcile_columns(segments: Any, meta: LibraryMeta, force: Collection[str] = ()) -> set[str]:
    """Make the segments table's vector columns match ``meta``: add missing ones, drop stale or
    forced ones (recreated empty). Idempotent.

    Returns:
        The columns dropped (their index parameters are stale).
    """
    import pyarrow as pa

    want = {space_column(s): (s, w) for s, w in meta.spaces.items()}
    have = {f.name: f.type.list_size for f in segments.schema if f.name.startswith("v_")}
    drop = [c for c, w in have.items() if c not in want or want[c][1] != w or want[c][0] in force]
    if drop:
        segments.drop_columns(drop)
    add = [
        pa.field(c, pa.list_(pa.float32(), w))
        for c, (_, w) in want.items()
        if c not in have or c in drop
    ]
    if add:
        segments.add_columns(add)
    return set(drop)

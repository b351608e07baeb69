"""Searching the PostgreSQL library: vector search through HNSW, and full text.

Vector search orders by cosine distance (``<=>``) with the filters in the same query; on
pgvector 0.8+ ``hnsw.iterative_scan = relaxed_order`` keeps scanning the graph until ``k`` rows
pass the filters (results re-sorted exactly here). Full text uses
``websearch_to_tsquery('english', ...)`` ranked by ``ts_rank``, over transcripts (every query
word must occur) and over segments' tag words (any word may).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from xmodal.library.checks import check_query, check_text_query
from xmodal.library.columns import space_column, tags_from_json
from xmodal.library.postgres.schema import (
    N_ENTRY,
    entry_from_row,
    entry_select,
    filters_sql,
    table,
)
from xmodal.library.ranking import fetch_until, merge_text_hits, rank_vector_hits
from xmodal.library.records import FTS_SPACE, TAGS_LIST, Filters, Hit, LibraryMeta


def search_vector(
    tx: Callable[[], Any],
    schema: str,
    meta: LibraryMeta,
    ef_search: int,
    iterative: bool,
    space: str,
    vector: np.ndarray,
    k: int = 10,
    filters: Filters | None = None,
) -> list[Hit]:
    """The ``k`` segments most similar (cosine) to ``vector`` in ``space``, best first.

    Args:
        tx: a cursor inside a transaction, as a context manager.
        schema: the library's PostgreSQL schema.
        meta: the library's meta.
        ef_search: the space's HNSW candidate list (raised to the fetch size; at most 1000).
        iterative: use pgvector 0.8's iterative scan.
        space, vector, k, filters: as :meth:`xmodal.library.store.Store.search_vector`.
    """
    from psycopg import sql

    q = check_query(meta, space, vector, k)
    filters = filters or Filters()
    cond, params, exact = filters_sql(filters)
    col = sql.Identifier(space_column(space))
    query = sql.SQL(
        "SELECT {ecols}, s.idx, s.start_s, s.end_s, s.text, s.tags, s.place, "
        "s.{col} <=> %(q)s AS dist "
        "FROM {seg} s JOIN {ent} e ON e.id = s.entry_id "
        "WHERE s.{col} IS NOT NULL AND {cond} ORDER BY s.{col} <=> %(q)s LIMIT %(limit)s"
    ).format(
        ecols=entry_select(),
        col=col,
        seg=table(schema, "segments"),
        ent=table(schema, "entries"),
        cond=cond,
    )

    def run(limit: int) -> tuple[int, list[Any]]:
        with tx() as cur:
            ef = min(1000, max(ef_search, limit))
            cur.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef)))
            if iterative:
                cur.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            cur.execute(query, {**params, "q": q, "limit": limit})
            rows = cur.fetchall()
        kept = []
        for r in rows:
            entry = entry_from_row(r)
            if filters.matches(entry):
                idx, start, end, text, tags, place, dist = r[N_ENTRY:]
                kept.append((entry, idx, start, end, text or "", 1.0 - float(dist),
                             tags_from_json(tags), place or ""))  # fmt: skip
        return len(rows), kept

    return rank_vector_hits(fetch_until(k, exact, run), k, space)


def search_text(
    tx: Callable[[], Any],
    schema: str,
    query: str,
    k: int = 10,
    filters: Filters | None = None,
    tsv: str = "tsv",
) -> list[Hit]:
    """Full-text matches in segment texts and entry texts (every word must occur), or with
    ``tsv="tag_tsv"`` in segments' tag words (any word may; ``Hit.space`` ``"tags"``).

    Args:
        tx: a cursor inside a transaction, as a context manager.
        schema: the library's PostgreSQL schema.
        query, k, filters: as :meth:`xmodal.library.store.Store.search_text`.
        tsv: ``"tsv"`` (transcripts and notes) or ``"tag_tsv"`` (visual tags).
    """
    from psycopg import sql

    if not check_text_query(query, k):
        return []
    filters = filters or Filters()
    cond, params, exact = filters_sql(filters)
    tags = tsv != "tsv"
    if tags:  # any word (see Store.search_tags)
        query = " or ".join(re.findall(r"\w+", query))
    params = {**params, "query": query}
    seg_sql = sql.SQL(
        "SELECT {ecols}, s.idx, s.start_s, s.end_s, s.text, s.tags, s.place, "
        "ts_rank(s.{tsv}, tq) AS score "
        "FROM {seg} s JOIN {ent} e ON e.id = s.entry_id, "
        "websearch_to_tsquery('english', %(query)s) tq "
        "WHERE s.{tsv} @@ tq AND {cond} ORDER BY score DESC, e.path, s.idx LIMIT %(limit)s"
    ).format(
        ecols=entry_select(),
        tsv=sql.Identifier(tsv),
        seg=table(schema, "segments"),
        ent=table(schema, "entries"),
        cond=cond,
    )
    ent_sql = sql.SQL(
        "SELECT {ecols}, ts_rank(e.tsv, tq) AS score "
        "FROM {ent} e, websearch_to_tsquery('english', %(query)s) tq "
        "WHERE e.tsv @@ tq AND {cond} ORDER BY score DESC, e.path LIMIT %(limit)s"
    ).format(ecols=entry_select(), ent=table(schema, "entries"), cond=cond)

    def fetch(statement: Any, limit: int) -> list[tuple[Any, ...]]:
        with tx() as cur:
            cur.execute(statement, {**params, "limit": limit})
            return cur.fetchall()

    def run_segments(limit: int) -> tuple[int, list[Any]]:
        rows = fetch(seg_sql, limit)
        kept = [(entry_from_row(r), *r[N_ENTRY:]) for r in rows]
        return len(rows), [
            (e, i, s, t, x or "", float(sc), tags_from_json(g), place or "")
            for e, i, s, t, x, g, place, sc in kept
            if filters.matches(e)
        ]

    def run_entries(limit: int) -> tuple[int, list[Any]]:
        rows = fetch(ent_sql, limit)
        kept = [(entry_from_row(r), float(r[N_ENTRY])) for r in rows]
        return len(rows), [(e, sc) for e, sc in kept if filters.matches(e)]

    seg_hits = fetch_until(k, exact, run_segments)
    if tags or filters.segment_only:  # entries have no tags and no faces
        return merge_text_hits(seg_hits, [], k, TAGS_LIST if tags else FTS_SPACE)
    entry_hits = fetch_until(k, exact, run_entries)
    return merge_text_hits(seg_hits, entry_hits, k)

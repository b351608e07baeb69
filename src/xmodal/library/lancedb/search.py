"""Searching the LanceDB library: vector search (prefiltered, calibrated) and full text.

Filters become a SQL ``where`` evaluated before the vector search (prefilter); glob classes
``[...]`` and any row that fails the reference check (:meth:`Filters.matches`) are removed
afterwards, fetching more until ``k`` hits survive. A segment row counts only when its entry is
committed with the same generation (``gen``): hits are joined against an in-memory view of the
entries table (:class:`EntriesView`), rebuilt when the table's version moves. Full text uses
LanceDB's native FTS (BM25, English stemming, stop words) over transcripts (every query word
must occur) and over segments' tag words (any word may); rows written since the last
``optimize()`` are searched unindexed, so results are always current.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from xmodal.library.checks import check_query, check_text_query
from xmodal.library.columns import space_column, tags_from_json
from xmodal.library.lancedb.schema import (
    SEG_HIT_COLUMNS,
    entry_from_row,
    where_sql,
    where_tags_sql,
)
from xmodal.library.ranking import SegmentMatch, fetch_until, merge_text_hits, rank_vector_hits
from xmodal.library.records import (
    FTS_SPACE,
    TAGS_LIST,
    Entry,
    Filters,
    Hit,
    LibraryMeta,
)


class EntriesView:
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
            self._cache[i] = entry_from_row(self._table.slice(i, 1).to_pylist()[0])
        return self._cache[i]


def search_vector(
    segments: Any,
    view: Callable[[], EntriesView],
    meta: LibraryMeta,
    params: dict[str, Any] | None,
    space: str,
    vector: np.ndarray,
    k: int = 10,
    filters: Filters | None = None,
) -> list[Hit]:
    """The ``k`` segments most similar (cosine) to ``vector`` in ``space``, best first.

    Args:
        segments: the segments table.
        view: the current committed entries (:class:`EntriesView`).
        meta: the library's meta.
        params: the space's calibrated index parameters (None: exact search).
        space, vector, k, filters: as :meth:`xmodal.library.store.Store.search_vector`.
    """
    q = check_query(meta, space, vector, k)
    filters = filters or Filters()
    where, exact = where_sql(filters)
    where = where_tags_sql(filters, where)
    col = space_column(space)

    def run(limit: int) -> tuple[int, list[Any]]:
        rows = nearest(segments, q, col, limit, where, params).to_pylist()
        return len(rows), join(view(), rows, filters, lambda r: 1.0 - r["_distance"])

    return rank_vector_hits(fetch_until(k, exact, run), k, space)


def nearest(
    segments: Any, q: np.ndarray, col: str, limit: int, where: str | None, params: dict | None
) -> Any:
    """Run one (prefiltered) cosine vector query on the segments table; an Arrow table.

    Uses LanceDB's async query builder on the table's async handle when available: one
    hand-off to LanceDB's event loop instead of several (~1.5 ms of a ~7 ms query).
    """
    from lancedb.table import AsyncTable

    inner = getattr(segments, "_table", None)
    fast = isinstance(inner, AsyncTable)
    if fast:  # async builders prefilter by default
        query = inner.query().nearest_to(q).column(col)
    else:  # pragma: no cover - a LanceDB without the async handle
        query = segments.search(q, vector_column_name=col)
    query = query.distance_type("cosine").select([*SEG_HIT_COLUMNS, "_distance"]).limit(limit)
    if where:
        query = query.where(where) if fast else query.where(where, prefilter=True)
    if params:
        query = query.nprobes(params["nprobes"]).refine_factor(params["refine_factor"])
    if fast:
        from lancedb.background_loop import LOOP

        return LOOP.run(query.to_arrow())
    return query.to_arrow()  # pragma: no cover


def join(
    view: EntriesView,
    rows: list[dict[str, Any]],
    filters: Filters,
    score: Callable[[dict[str, Any]], float],
) -> list[SegmentMatch]:
    """Keep segment rows whose entry is committed with their gen and passes the filters."""
    out = []
    for r in rows:
        entry = view.get(r["entry_id"], r["gen"])
        if entry is not None and filters.matches(entry):
            tags = tags_from_json(r["tags"])
            out.append((entry, r["idx"], r["start"], r["end"], r["text"] or "", score(r), tags,
                        r["place"] or ""))  # fmt: skip
    return out


def search_text(
    entries: Any,
    segments: Any,
    view: Callable[[], EntriesView],
    query: str,
    k: int = 10,
    filters: Filters | None = None,
    column: str = "text",
) -> list[Hit]:
    """Full-text matches in segment texts and entry texts (every word must occur), or with
    ``column="tag_text"`` in segments' tag words (any word may; ``Hit.space`` ``"tags"``).

    Args:
        entries: the entries table.
        segments: the segments table.
        view: the current committed entries (:class:`EntriesView`).
        query, k, filters: as :meth:`xmodal.library.store.Store.search_text`.
        column: ``"text"`` (transcripts and notes) or ``"tag_text"`` (visual tags).
    """
    from lancedb.query import FullTextOperator, MatchQuery

    if not check_text_query(query, k):
        return []
    filters = filters or Filters()
    where, exact = where_sql(filters)
    seg_where = where_tags_sql(filters, where)
    tags = column != "text"  # tags: any word (see Store.search_tags)
    operator = FullTextOperator.OR if tags else FullTextOperator.AND
    match = MatchQuery(query, column, operator=operator)

    def fts(table: Any, columns: list[str], limit: int, where: str | None) -> list[Any]:
        """One (prefiltered) full-text query; through the table's async handle when there is
        one: one hand-off to LanceDB's event loop instead of six (schema lookups, execution)."""
        from lancedb.table import AsyncTable

        inner = getattr(table, "_table", None)
        if isinstance(inner, AsyncTable):  # async builders prefilter by default
            b = inner.query().nearest_to_text(match).select([*columns, "_score"]).limit(limit)
            if where:
                b = b.where(where)
            from lancedb.background_loop import LOOP

            return LOOP.run(b.to_arrow()).to_pylist()
        b = table.search(match, query_type="fts").select([*columns, "_score"]).limit(limit)
        if where:  # pragma: no cover - a LanceDB without the async handle
            b = b.where(where, prefilter=True)
        return b.to_arrow().to_pylist()  # pragma: no cover

    def run_segments(limit: int) -> tuple[int, list[Any]]:
        rows = fts(segments, SEG_HIT_COLUMNS, limit, seg_where)
        return len(rows), join(view(), rows, filters, lambda r: r["_score"])

    def run_entries(limit: int) -> tuple[int, list[Any]]:
        rows = fts(entries, ["id"], limit, where)
        current = view()
        kept = [(current.get(r["id"]), r["_score"]) for r in rows]
        return len(rows), [(e, s) for e, s in kept if e is not None and filters.matches(e)]

    seg_hits = fetch_until(k, exact, run_segments)
    if tags or filters.segment_only:  # entries have no tags and no faces
        return merge_text_hits(seg_hits, [], k, TAGS_LIST if tags else FTS_SPACE)
    entry_hits = fetch_until(k, exact, run_entries)
    return merge_text_hits(seg_hits, entry_hits, k)

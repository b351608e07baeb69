"""Ranking inside a store: vector hits by score, text hits merged across segments and entries,
and over-fetching for filters a backend cannot apply exactly. Both backends rank through these,
so ties break the same way everywhere. (Fusing several ranked lists is search's job:
:func:`xmodal.library.search.fuse`.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from xmodal.features.tags import Tag
from xmodal.library.records import FTS_SPACE, Entry, Hit


def merge_text_hits(
    segment_hits: list[SegmentMatch],
    entry_hits: list[tuple[Entry, float]],
    k: int,
    space: str = FTS_SPACE,
) -> list[Hit]:
    """Combine segment and whole-entry text matches into one ranked list of at most ``k``.

    An entry-level match is dropped when one of that entry's segments is in the list (its
    transcript is the segments' text, so the same words would count twice).

    Args:
        segment_hits: :data:`SegmentMatch` rows, any order.
        entry_hits: ``(entry, score)``, any order.
        k: list length.
        space: the hits' ``space`` (``"fts"``, or ``"tags"`` for tag matches).
    """
    rows: list[tuple[float, Entry, int | None, float | None, float | None, str, Any, str]] = [
        (score, e, i, s, t_end, text, tags, place)
        for e, i, s, t_end, text, score, tags, place in segment_hits
    ]
    with_segments = {e.id for e, *_ in segment_hits}
    rows += [
        (score, e, None, None, None, e.text, None, "")
        for e, score in entry_hits
        if e.id not in with_segments
    ]
    rows.sort(key=lambda r: (-r[0], r[1].path, -1 if r[2] is None else r[2]))
    return [
        _hit(rank, space, (e, i, s, t_end, text, score, tags, place))
        for rank, (score, e, i, s, t_end, text, tags, place) in enumerate(rows[:k], start=1)
    ]


def _hit(rank: int, space: str, match: tuple[Any, ...]) -> Hit:
    """A :class:`Hit` from a :data:`SegmentMatch`."""
    e, i, s, t, text, score, tags, place = match
    return Hit(
        entry=e, segment=i, start=s, end=t, text=text, score=float(score), space=space,
        rank=rank, tags=None if tags is None else tuple(tags), place=place or "",
    )  # fmt: skip


SegmentMatch = tuple[Entry, int, float, float, str, float, list[Tag] | None, str]
"""A matching segment before ranking: ``(entry, index, start, end, text, score, tags, place)``."""


def fetch_until(k: int, exact: bool, run: Callable[[int], tuple[int, list[Any]]]) -> list[Any]:
    """Over-fetch for post-filtering: call ``run(limit)`` -> ``(rows fetched, rows kept)`` with
    a growing limit until ``k`` rows are kept or the source is exhausted.

    Args:
        k: rows wanted.
        exact: whether the backend's own filter is exact (start at ``k``, else ``4 k``).
        run: one query with a limit.
    """
    limit = k if exact else 4 * k
    while True:
        got, kept = run(limit)
        if len(kept) >= k or got < limit:
            return kept
        limit *= 4


def rank_vector_hits(matches: list[SegmentMatch], k: int, space: str) -> list[Hit]:
    """The best ``k`` matches as hits, by score (ties: path, then segment index)."""
    matches = sorted(matches, key=lambda m: (-m[5], m[0].path, m[1]))[:k]
    return [_hit(r, space, m) for r, m in enumerate(matches, start=1)]

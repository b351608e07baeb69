"""Relevance floors: whether a search result is a strong match, or only the closest there is.

Vector search always returns its nearest neighbours, so a query for something the library does
not hold still gets hits. Each ranked list whose scores mean the same from query to query gets
a floor, chosen on validation queries by ``benchmarks/bench_no_match.py`` and shipped in
``floors.json`` per sentence encoder (the lists it calibrates are MiniLM's cosine against
transcripts and notes, ``text-frozen``, and against visual tags, ``tags-frozen``, and the
full-text score of tag words, ``tags``). A result is **strong** when

* every word of the query occurs in its transcript or note (``fts``), or
* one of its calibrated lists scored it at or above that list's floor, or
* a list without a calibrated floor found it (``joint``, ``video-frozen``, ``audio-frozen``:
  xmodal claims no absence it has not measured).

A floor of ``None`` means the list never makes a result strong on its own. A library whose
sentence encoder has no floors treats every result as strong (as before floors existed).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from pathlib import Path

FLOORS_FILE = Path(__file__).with_name("floors.json")
ALWAYS_STRONG = frozenset({"fts"})  # every query word occurs: the plainest evidence there is


@functools.lru_cache(maxsize=8)
def load_floors(text_encoder_id: str, path: str | None = None) -> dict[str, float | None]:
    """The shipped floors of a library whose sentence encoder is ``text_encoder_id``
    (``{}``: none calibrated, so every result is strong)."""
    source = Path(path) if path is not None else FLOORS_FILE
    if not source.is_file():
        return {}
    entry = json.loads(source.read_text(encoding="utf-8")).get(text_encoder_id, {})
    return {str(k): (None if v is None else float(v)) for k, v in entry.get("floors", {}).items()}


def is_strong(scores: Mapping[str, float], floors: Mapping[str, float | None]) -> bool:
    """Whether a result found by these lists (list name -> its score) is a strong match."""
    if not floors:
        return True
    for name, score in scores.items():
        if name in ALWAYS_STRONG or name not in floors:
            return True
        floor = floors[name]
        if floor is not None and math.isfinite(floor) and score >= floor:
            return True
    return False

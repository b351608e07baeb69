"""How both storage backends lay records out in columns, so they store and filter alike: a
space's vector column, a path glob as SQL ``LIKE``, and a segment's visual tags (as JSON,
and as the ``|word|...|`` column the tag filter matches with ``LIKE``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from xmodal.features.tags import Tag

_TERM_SPLIT = re.compile(r"[,;]")
_TERM_SPACE = re.compile(r"\s+")
_LIKE_SPECIAL = re.compile(r"([\\%_])")


def space_column(space: str) -> str:
    """The column that holds a space's vectors in both backends (``v_`` + name, ``-`` -> ``_``)."""
    return "v_" + space.replace("-", "_")


def glob_to_like(glob: str) -> tuple[str, bool]:
    """Translate an fnmatch glob to a SQL ``LIKE`` pattern (escape character ``\\``).

    Returns:
        ``(pattern, exact)``. ``exact`` is False when the glob has a ``[...]`` class, which
        ``LIKE`` cannot express: the pattern then matches a superset (the literal prefix before
        the class) and callers post-filter with :meth:`Filters.matches`.
    """
    out = []
    for ch in glob:
        if ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        elif ch == "[":
            out.append("%")
            return "".join(out), False
        elif ch in "%_\\":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out), True


def normal_term(word: str) -> str:
    """A tag word as the tag filter compares it: whitespace collapsed, trimmed, lower-cased."""
    return _TERM_SPACE.sub(" ", word).strip().lower()


def tag_terms(tag_text: str) -> list[str]:
    """The words of a segment's ``tag_text`` as a ``--tag`` filter matches them: split at
    ``,``/``;``, each :func:`normal_term`, each once, in order."""
    out: dict[str, None] = {}
    for part in _TERM_SPLIT.split(tag_text):
        if word := normal_term(part):
            out[word] = None
    return list(out)


def tag_terms_column(tag_text: str) -> str:
    """What both backends store for the tag filter: ``"|word|word|"`` (``""``: none), so one
    word is ``LIKE '%|word|%'`` (see :func:`tag_like_patterns`)."""
    terms = [t.replace("|", " ") for t in tag_terms(tag_text)]
    return "|" + "|".join(terms) + "|" if terms else ""


def tag_like_patterns(words: Iterable[str]) -> list[str]:
    """One ``LIKE`` pattern (escape ``\\``) per filter word, on :func:`tag_terms_column`;
    sorted, so both backends build the same SQL."""
    return ["%|" + _LIKE_SPECIAL.sub(r"\\\1", w) + "|%" for w in sorted(words)]


def tags_json(tags: list[Tag] | None) -> str | None:
    """A segment's tags as stored (a JSON list; ``None`` for untagged)."""
    return None if tags is None else json.dumps([t.to_json() for t in tags])


def tags_from_json(value: str | list | None) -> list[Tag] | None:
    """Inverse of :func:`tags_json` (also takes the list a JSON column already decoded)."""
    if value is None:
        return None
    items = json.loads(value) if isinstance(value, str) else value
    return [Tag.from_json(t) for t in items]

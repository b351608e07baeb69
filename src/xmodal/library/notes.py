"""Notes: a ``.txt`` or ``.md`` file's YAML front matter and its text cut into chunks.

A note may start with YAML front matter (a leading ``---`` block) giving ``date:`` (the entry's
created time) and ``tags:``. Its body is split at paragraphs into chunks of at most
``note_chunk_chars`` characters, one segment each.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from xmodal.library.dates import parse_when

NOTE_SUFFIXES: tuple[str, ...] = (".txt", ".md", ".markdown")

_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)


def split_front_matter(text: str) -> tuple[str, dict[str, Any]]:
    """Split YAML front matter (a leading ``---`` block) from a note; bad YAML is kept as text."""
    m = _FRONT.match(text)
    if not m:
        return text, {}
    import yaml

    try:
        front = yaml.safe_load(m.group(1))
    except yaml.YAMLError:
        return text, {}
    if not isinstance(front, dict):
        return text, {}
    return text[m.end() :], front


def front_matter_date(front: dict[str, Any]) -> float | None:
    """Epoch seconds of the front matter's ``date`` (or ``created``), None if absent or bad."""
    value = front.get("date", front.get("created"))
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day).timestamp()
    if isinstance(value, str):
        try:
            return parse_when(value)
        except ValueError:
            return None
    return None


def front_matter_tags(front: dict[str, Any]) -> list[str]:
    """The front matter's ``tags`` (a list or a comma-separated string)."""
    tags = front.get("tags", [])
    if isinstance(tags, str):
        tags = tags.split(",")
    if not isinstance(tags, list):
        return []
    return [str(t).strip() for t in tags if str(t).strip()]


def chunk_note(text: str, max_chars: int) -> list[str]:
    """Split a note into paragraphs packed up to ``max_chars`` (long paragraphs split by words).

    Returns:
        The chunks, whitespace-normalised within lines; [] for a blank note.
    """
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    paragraphs = [p for p in paragraphs if p]
    pieces: list[str] = []
    for p in paragraphs:
        while len(p) > max_chars:
            cut = p.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            pieces.append(p[:cut].strip())
            p = p[cut:].strip()
        if p:
            pieces.append(p)
    chunks: list[str] = []
    for p in pieces:
        if chunks and len(chunks[-1]) + 2 + len(p) <= max_chars:
            chunks[-1] += "\n\n" + p
        else:
            chunks.append(p)
    return chunks

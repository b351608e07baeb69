"""Notes: text, Markdown, PDF, Word and HTML files read into parts, and parts cut into chunks.

A text or Markdown note is decoded from whatever common encoding it is in
(:func:`decode_text`: UTF-8 with or without a BOM, UTF-16/32 with a BOM, and legacy single- and
multi-byte encodings such as cp1252 through ``charset-normalizer``); the encoding is recorded
on the entry. It may start with YAML front matter (a leading ``---`` block) giving ``date:``
(the entry's created time) and ``tags:``. A Markdown note is split at its headings, a PDF at its
pages and a Word or HTML document at its headings (:mod:`xmodal.library.documents`), so a hit
can say where it is ("page 3", "Setup › Cables"). Each part is split at paragraphs into chunks
of at most ``note_chunk_chars`` characters, one segment each (:func:`chunk_parts`).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from xmodal.library.dates import parse_when
from xmodal.library.documents import DOCUMENT_SUFFIXES, Part, markdown_parts, read_document

TEXT_SUFFIXES: tuple[str, ...] = (".txt", ".md", ".markdown")
MARKDOWN_SUFFIXES: tuple[str, ...] = (".md", ".markdown")
NOTE_SUFFIXES: tuple[str, ...] = TEXT_SUFFIXES + DOCUMENT_SUFFIXES

_BOMS: tuple[tuple[bytes, str], ...] = (  # longest first: UTF-32-LE's BOM starts like UTF-16-LE's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_WESTERN = "cp1252"  # what legacy Western text (latin-1 included) is read as; see decode_text


class NotTextError(ValueError):
    """Bytes that are not text in any encoding :func:`decode_text` can tell."""


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode a text file's bytes, detecting the encoding.

    In order: a byte-order mark (UTF-8, UTF-16, UTF-32); a NUL byte (binary data: refused);
    strict UTF-8; else ``charset-normalizer``'s best guesses. Among guesses that read the
    bytes equally well, cp1252 wins: short Western text decodes cleanly in several code pages
    (cp1250 would turn "è" into "č"), and cp1252 is what the web's encoding standard reads
    unlabelled legacy text as. Latin-1 text is read as cp1252, its superset for every
    printable character.

    Returns:
        ``(text, encoding)``: ``encoding`` a Python codec name (``"utf-8"``, ``"utf-8-sig"``,
        ``"utf-16"``, ``"cp1252"``, ``"cp1251"``, ...).

    Raises:
        NotTextError: binary data, or bytes no encoding reads; the message says which.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(name), name
            except UnicodeDecodeError as e:
                raise NotTextError(f"not {name} text despite its byte-order mark "
                                   f"(byte {e.start})") from None  # fmt: skip
    if (nul := data.find(b"\0")) >= 0:  # valid UTF-8, but no text file holds one
        raise NotTextError(f"binary data, not text (a NUL byte at offset {nul})")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise NotTextError("not text in any encoding xmodal can detect")
    best = matches[0]
    ties = [m for m in matches
            if m.percent_chaos <= best.percent_chaos + 0.5
            and m.percent_coherence >= best.percent_coherence - 0.5]  # fmt: skip
    if any(_WESTERN in m.could_be_from_charset or m.encoding == _WESTERN for m in ties):
        try:
            return data.decode(_WESTERN), _WESTERN
        except UnicodeDecodeError:  # one of the five bytes cp1252 leaves undefined
            pass
    name = codecs.lookup(best.encoding).name
    return str(best), name


@dataclass(frozen=True)
class NoteText:
    """A note as read from its file, before chunking.

    Attributes:
        parts: the note's parts in order (place ``""`` when the format has none).
        encoding: the character encoding it was decoded from (text, Markdown, HTML); ``None``
            for PDF and Word.
        created: the front matter's date (epoch s), ``None`` when absent.
        tags: the front matter's tags.
    """

    parts: list[Part]
    encoding: str | None = None
    created: float | None = None
    tags: tuple[str, ...] = ()


def read_note(path: Path) -> NoteText:
    """Read a note file of any supported format (:data:`NOTE_SUFFIXES`) into parts.

    Raises:
        MediaError: unreadable, binary, an encoding no detector reads, a broken or encrypted
            document; the reason says which.
    """
    from xmodal.media import MediaError

    suffix = path.suffix.lower()
    if suffix in DOCUMENT_SUFFIXES:
        doc = read_document(path)
        return NoteText(doc.parts, doc.encoding)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise MediaError(path, f"cannot read: {e.strerror or e}") from None
    try:
        text, encoding = decode_text(data)
    except NotTextError as e:
        raise MediaError(path, str(e)) from None
    body, front = split_front_matter(text)
    if suffix in MARKDOWN_SUFFIXES:
        parts = markdown_parts(body)
    else:
        parts = [Part("", body)]
    return NoteText(parts, encoding, front_matter_date(front), tuple(front_matter_tags(front)))


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

    Linear in the text's length, also for one huge paragraph.

    Returns:
        The chunks, whitespace-normalised within lines; [] for a blank note.
    """
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    paragraphs = [p for p in paragraphs if p]
    pieces: list[str] = []
    for p in paragraphs:
        start = 0
        while len(p) - start > max_chars:
            cut = p.rfind(" ", start, start + max_chars)
            cut = cut if cut > start else start + max_chars
            pieces.append(p[start:cut].strip())
            start = cut
            while start < len(p) and p[start] == " ":
                start += 1
        if start < len(p):
            pieces.append(p[start:])
    chunks: list[str] = []
    for p in pieces:
        if chunks and len(chunks[-1]) + 2 + len(p) <= max_chars:
            chunks[-1] += "\n\n" + p
        else:
            chunks.append(p)
    return chunks


def chunk_parts(parts: list[Part], max_chars: int) -> tuple[list[str], list[str]]:
    """Chunk each part (:func:`chunk_note`); a chunk never spans two parts.

    Returns:
        ``(chunks, places)``: the chunks in order and each one's part's place.
    """
    chunks: list[str] = []
    places: list[str] = []
    for part in parts:
        pieces = chunk_note(part.text, max_chars)
        chunks += pieces
        places += [part.place] * len(pieces)
    return chunks, places

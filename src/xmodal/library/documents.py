"""Documents: PDF, Word ``.docx`` and HTML files (and Markdown bodies) read into placed parts.

A document is read into :class:`Part` objects in document order, each a place label and its
text, so a search hit can say where in the document it is: ``"page 3"`` for a PDF (the
1-based physical page), or the heading path ``"Setup › Cables"`` for Word, HTML and Markdown
(``""`` for text before the first heading). A part's text is its paragraphs separated by a
blank line, with whitespace collapsed within lines; a heading's own text opens its part, so
full-text search finds heading words. Parts with no text are dropped.

Every failure caused by the input file raises :class:`xmodal.media.MediaError` naming the path
and what is wrong; pypdf, python-docx and BeautifulSoup exceptions never escape this module,
and pypdf's log output is dropped. This module only reads: chunking, embedding and storing the
parts is the ingest's job.
"""

from __future__ import annotations

import codecs
import functools
import logging
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from xmodal.media import MediaError

DOCUMENT_SUFFIXES: tuple[str, ...] = (".pdf", ".docx", ".html", ".htm")
PLACE_SEPARATOR = " › "  # between the headings of a heading path

NO_TEXT = "no text in the document"
ENCRYPTED_PDF = "encrypted PDF (needs a password)"

_CAUSE_CHARS = 80  # a library message is cut to this length in a MediaError's reason
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\f\v\r]*\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LIGATURES = str.maketrans(
    {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}
)

# Markdown (CommonMark): ATX headings and code fences may be indented by up to 3 spaces.
_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*")
_ATX_CLOSE = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")

_DOCX_HEADING = re.compile(r"heading\s*([1-9])\b", re.IGNORECASE)

# HTML: dropped with their content; paragraph breaks; cells (kept apart by a space); headings.
_HTML_DROP = frozenset("script style noscript template head title".split())
_HTML_BLOCK = frozenset(
    """p li div br tr pre blockquote section article ul ol dl dt dd table thead tbody tfoot
    caption header footer main nav aside figure figcaption hr address details summary form
    fieldset legend body html""".split()
)
_HTML_CELL = frozenset({"td", "th"})
_HTML_HEADING = {f"h{n}": n for n in range(1, 7)}


@dataclass(frozen=True)
class Part:
    """One placed piece of a document."""

    place: str  # "page 3" (PDF), a heading path "Setup › Cables", or "" before any heading
    text: str  # paragraphs separated by a blank line ("\n\n")


@dataclass(frozen=True)
class Document:
    """A document's text, in parts."""

    parts: list[Part]  # in document order; none is empty
    format: str  # "pdf", "docx" or "html"
    encoding: str | None  # HTML: the codec the bytes were decoded with; None for pdf/docx


def read_document(path: Path) -> Document:
    """Read a PDF, Word ``.docx`` or HTML file (by its suffix, any case) into parts.

    Args:
        path: the file.

    Returns:
        The document: at least one part.

    Raises:
        MediaError: the file cannot be read, is not what its suffix says, is broken or
            encrypted, has no text, or its suffix is not one of :data:`DOCUMENT_SUFFIXES`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return _read_pdf(path)
    if suffix == ".docx":
        return _read_docx(path)
    if suffix in (".html", ".htm"):
        return _read_html(path)
    raise MediaError(path, f"not a document type ({', '.join(DOCUMENT_SUFFIXES)})")


def markdown_parts(text: str) -> list[Part]:
    """Split a Markdown body at its ATX headings (``#`` to ``######``).

    Lines inside fenced code blocks (```` ``` ```` or ``~~~``) are never headings; setext
    (underlined) headings are not recognised. A heading's place is its path: ``## B`` under
    ``# A`` is ``"A › B"``, and a later ``# C`` starts afresh. The heading line stays in its
    part's text.

    Args:
        text: the Markdown body (front matter already removed).

    Returns:
        The parts in order; text before the first heading has place ``""``.
    """
    outline = _Outline()
    lines: list[str] = []
    fence: str | None = None  # the opening fence's backticks or tildes while inside code
    for line in text.splitlines():
        m = _FENCE.fullmatch(line)
        if fence is None:
            if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
                fence = m.group(1)
            elif (h := _ATX.fullmatch(line)) is not None:
                title = _line(_ATX_CLOSE.sub("", h.group(2) or ""))
                if title:
                    _add_paragraphs(outline, lines)
                    lines = []
                    outline.heading(len(h.group(1)), title, _line(line))
                    continue
        elif (
            m
            and m.group(1)[0] == fence[0]
            and len(m.group(1)) >= len(fence)
            and not m.group(2).strip()
        ):
            fence = None
        lines.append(line)
    _add_paragraphs(outline, lines)
    return outline.finish()


class _Outline:
    """Gathers paragraphs into parts under the current heading path."""

    def __init__(self) -> None:
        self._parts: list[Part] = []
        self._path: list[tuple[int, str]] = []  # (level, title), levels increasing
        self._paragraphs: list[str] = []

    def add(self, paragraph: str) -> None:
        """Add a (clean) paragraph to the current part; empty ones are ignored."""
        if paragraph:
            self._paragraphs.append(paragraph)

    def heading(self, level: int, title: str, paragraph: str) -> None:
        """Start a part under heading ``title`` at ``level`` (1 is the top), opened by
        ``paragraph``."""
        self._close()
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        self._path.append((level, title))
        self.add(paragraph)

    def finish(self) -> list[Part]:
        """The parts, the current one included."""
        self._close()
        return self._parts

    def _close(self) -> None:
        if self._paragraphs:
            place = PLACE_SEPARATOR.join(title for _, title in self._path)
            self._parts.append(Part(place, "\n\n".join(self._paragraphs)))
            self._paragraphs = []


def _line(text: str) -> str:
    """``text`` on one line, runs of whitespace collapsed to single spaces, control characters
    dropped."""
    return " ".join(_CONTROL.sub("", text).split())


def _lines(text: str) -> str:
    """``text`` with whitespace collapsed within each line and blank lines dropped."""
    return "\n".join(s for s in map(_line, text.splitlines()) if s)


def _add_paragraphs(outline: _Outline, lines: list[str]) -> None:
    """Add the paragraphs (split at blank lines) of ``lines`` to ``outline``."""
    for paragraph in _PARAGRAPH_BREAK.split("\n".join(lines)):
        outline.add(_lines(paragraph))


def _cause(e: BaseException) -> str:
    """A library exception's message, short, for a MediaError reason."""
    message = e.args[0] if isinstance(e, KeyError) and e.args else e
    text = _line(str(message)) or type(e).__name__
    return text if len(text) <= _CAUSE_CHARS else text[: _CAUSE_CHARS - 1].rstrip() + "…"


def _unreadable(path: Path, e: OSError) -> MediaError:
    return MediaError(path, f"cannot read: {e.strerror or _cause(e)}")


# --- PDF ----------------------------------------------------------------------------------


@functools.cache
def _pypdf() -> ModuleType:
    """pypdf, imported on first use, its log output dropped (pypdf logs every repair of a
    damaged file as a warning; what matters reaches the caller as a MediaError)."""
    import pypdf

    logging.getLogger("pypdf").setLevel(logging.CRITICAL + 1)
    return pypdf


def _read_pdf(path: Path) -> Document:
    pypdf = _pypdf()
    try:
        file = path.open("rb")  # pypdf reads objects as needed, not the whole file at once
    except OSError as e:
        raise _unreadable(path, e) from None
    with file:
        try:
            parts = _pdf_parts(path, pypdf.PdfReader(file))
        except MediaError:
            raise
        except pypdf.errors.FileNotDecryptedError:
            raise MediaError(path, ENCRYPTED_PDF) from None
        except pypdf.errors.DependencyError as e:  # AES encryption needs `cryptography`
            raise MediaError(path, f"encrypted PDF ({_cause(e)})") from None
        except MemoryError:
            raise
        except Exception as e:  # pypdf raises all sorts on damaged files
            raise MediaError(path, f"broken PDF ({_cause(e)})") from None
    return Document(parts, "pdf", None)


def _pdf_parts(path: Path, reader: Any) -> list[Part]:
    """One part per page with text; a page whose text cannot be extracted is skipped."""
    if reader.is_encrypted and not reader.decrypt(""):  # an empty user password opens it
        raise MediaError(path, ENCRYPTED_PDF)
    parts: list[Part] = []
    failure: Exception | None = None
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = _pdf_text(page.extract_text())
        except MemoryError:
            raise
        except Exception as e:
            failure = failure or e
            continue
        if text:
            parts.append(Part(f"page {number}", text))
    if not parts:
        if failure is not None:
            raise MediaError(path, f"broken PDF ({_cause(failure)})")
        raise MediaError(path, f"{NO_TEXT} (a scan without a text layer?)")
    return parts


def _pdf_text(raw: str) -> str:
    """A page's extracted text as paragraphs: its lines joined with spaces, blank lines kept
    as paragraph breaks. A line ending in a hyphen joins the next without a space."""
    raw = raw.replace("\r\n", "\n").replace("\r", "\n").translate(_LIGATURES)
    paragraphs = []
    for block in _PARAGRAPH_BREAK.split(raw):
        text = ""
        for line in filter(None, map(_line, block.split("\n"))):
            if text.endswith("\xad"):  # soft hyphen: the word goes on
                text = text[:-1] + line
            elif text.endswith("-") or not text:
                text += line
            else:
                text += " " + line
        if text := text.replace("\xad", ""):
            paragraphs.append(text)
    return "\n\n".join(paragraphs)


# --- Word .docx ---------------------------------------------------------------------------


def _read_docx(path: Path) -> Document:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        file = path.open("rb")
    except OSError as e:
        raise _unreadable(path, e) from None
    with file:
        try:
            parts = _docx_parts(docx.Document(file))
        except (zipfile.BadZipFile, PackageNotFoundError):
            raise MediaError(path, "not a Word .docx file (not a zip archive)") from None
        except MemoryError:
            raise
        except Exception as e:  # python-docx: KeyError, ValueError, lxml errors, ...
            cause = _cause(e)
            if isinstance(e, ValueError) and "not a Word file" in str(e):
                cause = "another kind of Office file"
            raise MediaError(path, f"not a Word .docx file ({cause})") from None
    if not parts:
        raise MediaError(path, NO_TEXT)
    return Document(parts, "docx", None)


def _docx_parts(document: Any) -> list[Part]:
    """Body paragraphs and tables in order; "Title" and "Heading N" paragraphs start parts
    (a title is a level-1 heading, so a following "Heading 1" replaces it in the path)."""
    from docx.text.paragraph import Paragraph

    outline = _Outline()
    for block in document.iter_inner_content():
        if not isinstance(block, Paragraph):  # a table: one paragraph per row
            for row in _docx_table_rows(block):
                outline.add(row)
            continue
        text = _lines(block.text)
        if level := _docx_heading_level(block):
            outline.heading(level, _line(text), text)
        else:
            outline.add(text)
    return outline.finish()


def _docx_heading_level(paragraph: Any) -> int:
    """1-9 for a "Title" or "Heading N" paragraph, else 0."""
    style = paragraph.style
    name = (style.name or "") if style is not None else ""
    if name.lower() == "title":
        return 1
    m = _DOCX_HEADING.match(name)
    return int(m.group(1)) if m else 0


def _docx_table_rows(table: Any) -> Iterator[str]:
    """Each row's text, cells apart by a space; a merged cell counts once (in its first row),
    a nested table's rows join its cell."""
    from docx.text.paragraph import Paragraph

    seen = set()  # the <w:tc> elements already read: a merged cell repeats in row.cells
    for row in table.rows:
        texts: list[str] = []
        for cell in row.cells:
            if cell._tc in seen:
                continue
            seen.add(cell._tc)
            for block in cell.iter_inner_content():
                if isinstance(block, Paragraph):
                    texts.append(_line(block.text))
                else:
                    texts.extend(_docx_table_rows(block))
        if row_text := _line(" ".join(texts)):
            yield row_text


# --- HTML ---------------------------------------------------------------------------------


@functools.cache
def _bs4() -> ModuleType:
    """bs4, imported on first use, its advice on odd markup silenced (an XHTML page is
    still read fine as HTML)."""
    import warnings

    import bs4

    for category in ("XMLParsedAsHTMLWarning", "MarkupResemblesLocatorWarning"):
        if (warning := getattr(bs4, category, None)) is not None:
            warnings.filterwarnings("ignore", category=warning)
    return bs4


def _read_html(path: Path) -> Document:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise _unreadable(path, e) from None
    try:
        text, encoding = _decode_html(data)
        parts = _html_parts(_bs4().BeautifulSoup(text, "lxml"))
    except MemoryError:
        raise
    except Exception as e:  # the parsers are lenient: this is not expected
        raise MediaError(path, f"broken HTML ({_cause(e)})") from None
    if not parts:
        raise MediaError(path, NO_TEXT)
    return Document(parts, "html", encoding)


def _codec_name(encoding: str) -> str:
    """Python's name for an encoding ("windows-1252" -> "cp1252", "UTF8" -> "utf-8")."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return encoding.lower()


def _decode_html(data: bytes) -> tuple[str, str]:
    """Decode HTML bytes: by a byte-order mark, else the declared ``<meta charset>`` (or XML
    declaration), else UTF-8 if the bytes are valid UTF-8, else windows-1252 (as browsers do
    in the West; statistical guessing misreads short pages). A declared ISO-8859-1 or ASCII is
    read as windows-1252, as browsers do.

    Returns:
        The text and the codec's name, in Python's spelling (``"utf-8"``, ``"cp1252"``).
    """
    dammit = _bs4().UnicodeDammit(data, user_encodings=["utf-8", "windows-1252"], is_html=True)
    text, encoding = dammit.unicode_markup, dammit.original_encoding
    if text is None or encoding is None:
        return data.decode("utf-8", "replace"), "utf-8"
    name = _codec_name(encoding)
    if name in ("iso8859-1", "ascii"):
        try:
            return data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            pass
    return text, name


class _End:
    """Marks the end of an element in the walk of :func:`_html_parts`: what it was to the
    walk ("cell", "heading", "block", "pre" or "inline")."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind


def _html_parts(soup: Any) -> list[Part]:
    """Walk the tree in order (without recursion: pages nest deep), gathering inline text
    into paragraphs at block elements and into parts at headings."""
    bs4 = _bs4()
    outline = _Outline()
    inline: list[str] = []  # text since the last paragraph break
    heading = 0  # the level of the heading being read, 0 outside headings
    in_pre = 0  # depth of <pre> elements: their line breaks are kept

    def paragraph_break() -> None:
        if heading:  # a heading is one line
            inline.append(" ")
        else:
            outline.add((_lines if in_pre else _line)("".join(inline)))
            inline.clear()

    stack: list[Any] = [soup]
    while stack:
        node = stack.pop()
        if isinstance(node, _End):
            if node.kind == "cell":
                inline.append(" ")
            elif node.kind == "heading":
                title = _line("".join(inline))
                inline.clear()
                if title:
                    outline.heading(heading, title, title)
                heading = 0
            elif node.kind != "inline":
                paragraph_break()
                in_pre -= node.kind == "pre"
            continue
        if isinstance(node, bs4.NavigableString):
            if not isinstance(node, bs4.element.PreformattedString):  # comments, doctype, ...
                inline.append(str(node))
            continue
        if not isinstance(node, bs4.Tag) or node.name in _HTML_DROP:
            continue
        name = node.name
        if name in _HTML_CELL:
            kind = "cell"
            inline.append(" ")
        elif name in _HTML_HEADING and not heading:  # (one inside a heading is a block)
            kind = "heading"
            paragraph_break()
            heading = _HTML_HEADING[name]
        elif name in _HTML_BLOCK or name in _HTML_HEADING:
            kind = "pre" if name == "pre" else "block"
            paragraph_break()
            in_pre += kind == "pre"
        else:
            kind = "inline"
        stack.append(_End(kind))
        stack.extend(reversed(node.contents))
    paragraph_break()
    return outline.finish()

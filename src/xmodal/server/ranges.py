"""Serving a library file with HTTP range requests, so browsers' players can seek.

Starlette's :class:`~starlette.responses.FileResponse` does the serving: ``Range`` (``a-b``,
``a-``, ``-n``), ``If-Range``, 416 for a range past the end, ``HEAD``, ETag and
Last-Modified. Two choices are this server's: only a single, well-formed range is honoured (what
media players send; RFC 9110 lets a server ignore ``Range``, so a multi-range or malformed header
gets the whole file, not a multipart body or a 400), and the content type never lets a library
file run as a page or script in the browser (:func:`content_type`).
"""

from __future__ import annotations

import mimetypes
import os
import re
import stat
from pathlib import Path
from typing import Any

from starlette.responses import FileResponse

TEXT_TYPE = "text/plain; charset=utf-8"
_PASSIVE = ("video/", "audio/")  # types a browser only plays
_TEXT = {"text/plain", "text/markdown", "application/x-subrip", "text/vtt", "text/csv"}
_CANONICAL = {"audio/x-wav": "audio/wav", "audio/wave": "audio/wav", "audio/x-flac": "audio/flac"}
_SINGLE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def content_type(path: str | os.PathLike[str]) -> str:
    """The ``Content-Type`` to serve a library file with: :mod:`mimetypes`' guess for audio and
    video (canonical names: ``audio/wav``), plain UTF-8 text for text, subtitles and Markdown,
    ``application/json`` for JSON, and ``application/octet-stream`` for anything else, so a
    library file is never served as HTML, SVG or script, whatever its name."""
    guess, _ = mimetypes.guess_type(Path(path).name, strict=False)
    guess = _CANONICAL.get(guess or "", guess)
    if guess is None:
        return "application/octet-stream"
    if guess.startswith(_PASSIVE):
        return guess
    if guess in _TEXT:
        return TEXT_TYPE
    return "application/json" if guess == "application/json" else "application/octet-stream"


def single_range(header: str | None) -> bool:
    """Whether a ``Range`` header is one well-formed byte range (the only kind honoured)."""
    match = _SINGLE_RANGE.fullmatch((header or "").replace(" ", ""))
    if match is None or match.groups() == ("", ""):
        return False
    first, last = match.groups()
    return not (first and last and int(last) < int(first))


class _LibraryFile(FileResponse):
    """A :class:`FileResponse` that answers a multi-range or malformed ``Range`` with the
    whole file."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = scope.get("headers") or []
        ranges = [v.decode("latin-1") for k, v in headers if k.lower() == b"range"]
        if ranges and not (len(ranges) == 1 and single_range(ranges[0])):
            scope = {**scope, "headers": [(k, v) for k, v in headers if k.lower() != b"range"]}
        await super().__call__(scope, receive, send)


def file_response(path: Path, download_name: str | None = None) -> FileResponse:
    """A response streaming ``path``: 200, 206 for a range, 416 for a range past the end;
    headers only for ``HEAD``.

    Args:
        path: a regular file (the caller got it from the library, never from the URL).
        download_name: the file name offered in ``Content-Disposition`` (inline).

    Raises:
        FileNotFoundError: the file is gone or is not a regular file.
    """
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise FileNotFoundError(f"{path} is not a regular file")
    return _LibraryFile(
        path,
        media_type=content_type(path),
        headers={"cache-control": "private, max-age=0, must-revalidate"},
        filename=download_name,
        stat_result=info,
        content_disposition_type="inline",
    )

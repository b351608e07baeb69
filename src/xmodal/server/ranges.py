"""Serving a library file with HTTP range requests, so browsers' players can seek.

Only single ranges are served (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``), which is what media
players send; a multi-range or malformed header is ignored and the whole file is sent (RFC 9110
allows a server to ignore ``Range``). A range that starts past the end is answered with 416.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import BinaryIO

from starlette.responses import Response, StreamingResponse

CHUNK_SIZE = 256 * 1024

CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".avi": "video/x-msvideo",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".srt": "text/plain; charset=utf-8",
    ".vtt": "text/vtt; charset=utf-8",
    ".json": "application/json",
}
"""Content type by extension. Anything else is ``application/octet-stream``: a library file is
never served as HTML or script, whatever its name."""

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class RangeNotSatisfiable(Exception):
    """The requested range lies outside the file (answered with 416)."""


def content_type(path: str | os.PathLike[str]) -> str:
    """The ``Content-Type`` to serve a library file with."""
    return CONTENT_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Parse a ``Range`` header against a file of ``size`` bytes.

    Args:
        header: the header value, e.g. ``"bytes=0-1023"``, ``"bytes=500-"``, ``"bytes=-200"``.
        size: the file size in bytes.

    Returns:
        ``(first, last)`` inclusive byte positions, or ``None`` to send the whole file
        (no header, another unit, several ranges, or a malformed value).

    Raises:
        RangeNotSatisfiable: the range starts at or past the end, or asks for zero bytes.
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if match is None:
        return None
    first_s, last_s = match.groups()
    if not first_s and not last_s:
        return None
    if not first_s:  # suffix: the last n bytes
        n = int(last_s)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - n), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if last < first:
        return None  # syntactically invalid: ignore, per RFC 9110 14.1.1
    if first >= size:
        raise RangeNotSatisfiable
    return first, min(last, size - 1)


def _read(handle: BinaryIO, first: int, length: int) -> Iterator[bytes]:
    try:
        handle.seek(first)
        left = length
        while left > 0:
            chunk = handle.read(min(CHUNK_SIZE, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    finally:
        handle.close()


def file_response(
    path: Path, range_header: str | None, method: str = "GET", download_name: str | None = None
) -> Response:
    """A 200 or 206 response streaming ``path`` (or 416 when the range is unsatisfiable).

    Args:
        path: a regular file (the caller got it from the library, never from the URL).
        range_header: the request's ``Range`` header.
        method: ``GET`` or ``HEAD`` (headers only).
        download_name: the file name offered in ``Content-Disposition``.

    Raises:
        FileNotFoundError: the file is gone or is not a regular file.
    """
    handle = path.open("rb")
    try:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise FileNotFoundError(f"{path} is not a regular file")
        size = info.st_size
        headers = {
            "accept-ranges": "bytes",
            "content-type": content_type(path),
            "etag": f'"{size:x}-{info.st_mtime_ns:x}"',
            "last-modified": formatdate(info.st_mtime, usegmt=True),
            "cache-control": "private, max-age=0, must-revalidate",
        }
        if download_name:
            safe = re.sub(r"[^A-Za-z0-9._ -]", "_", download_name)[:200]
            headers["content-disposition"] = f'inline; filename="{safe}"'
        try:
            wanted = parse_range(range_header, size)
        except RangeNotSatisfiable:
            handle.close()
            headers["content-range"] = f"bytes */{size}"
            headers["content-type"] = "application/json"
            body = b'{"error": "requested range not satisfiable"}'
            return Response(body, status_code=416, headers=headers)
        if wanted is None:
            first, last, status = 0, size - 1, 200
        else:
            (first, last), status = wanted, 206
            headers["content-range"] = f"bytes {first}-{last}/{size}"
        length = max(0, last - first + 1)
        headers["content-length"] = str(length)
        if method == "HEAD" or length == 0:
            handle.close()
            return Response(b"", status_code=status, headers=headers)
        return StreamingResponse(_read(handle, first, length), status_code=status, headers=headers)
    except BaseException:
        handle.close()
        raise

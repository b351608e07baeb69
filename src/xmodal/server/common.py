"""Helpers shared by the API and the pages: parsing filters, calling the library, uploads.

Nothing here keeps state: the library and the settings come from ``request.app.state``.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from xmodal.library.records import LibraryError, content_id, is_entry_id
from xmodal.server.security import UploadTooLarge
from xmodal.server.settings import ServerSettings
from xmodal.types import Modality
from xmodal.utils import atomic_path

logger = logging.getLogger("xmodal.server")

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
MAX_FILES_PER_UPLOAD = 100


class LibraryLike(Protocol):
    """What the server needs of ``xmodal.library.Library`` (see docs/architecture.md)."""

    def add(self, paths: Any, *, progress: bool = ..., workers: int | None = ...) -> Any: ...
    def search(self, query: str | Path, **filters: Any) -> list[Any]: ...
    def get(self, entry_id: str) -> Any: ...
    def media_path(self, entry_id: str) -> Path: ...
    def remove(self, entry_id_or_path: str) -> list[Any]: ...
    def stats(self) -> dict[str, Any]: ...
    def timeline(self) -> list[dict[str, Any]]: ...


class ApiError(HTTPException):
    """An error answered as ``{"error": message}`` (or the error page for a browser)."""


# ----------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class SearchFilters:
    """The filters of one search, parsed, with the raw strings kept for the form."""

    modalities: list[Modality] | None = None
    since: float | None = None
    until: float | None = None
    path_glob: str | None = None
    k: int = 10
    raw: dict[str, str] | None = None

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``Library.search``."""
        return {
            "modalities": self.modalities,
            "since": self.since,
            "until": self.until,
            "path_glob": self.path_glob,
            "k": self.k,
        }

    def as_json(self) -> dict[str, Any]:
        """What the API echoes back."""
        return {
            "modalities": [m.value for m in self.modalities] if self.modalities else None,
            "since": self.since,
            "until": self.until,
            "path": self.path_glob,
        }


def parse_when(value: str, name: str, end_of_day: bool = False) -> float:
    """Parse a time filter as the CLI does (``YYYY-MM-DD`` is a local day, ``until`` includes
    its whole day; an ISO datetime), or epoch seconds. Returns epoch seconds."""
    from xmodal.library.dates import parse_when as library_parse_when

    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return float(library_parse_when(text, end_of_day=end_of_day))
    except ValueError as exc:
        raise ApiError(422, f"{name}: {exc}") from None


def parse_filters(
    settings: ServerSettings,
    modality: list[str] | None,
    since: str | None,
    until: str | None,
    path: str | None,
    k: str | int | None,
) -> SearchFilters:
    """Validate the search filters shared by the API, the pages and the CLI's semantics."""
    raw = {
        "modality": ",".join(modality or []),
        "since": since or "",
        "until": until or "",
        "path": path or "",
        "k": "" if k is None else str(k),
    }
    modalities: list[Modality] | None = None
    names = [n for item in modality or [] for n in item.split(",") if n.strip()]
    if names:
        try:
            modalities = sorted({Modality.parse(n) for n in names}, key=lambda m: m.value)
        except ValueError as exc:
            raise ApiError(422, f"modality: {exc}") from None
    t0 = parse_when(since, "since") if since and since.strip() else None
    t1 = parse_when(until, "until", end_of_day=True) if until and until.strip() else None
    if t0 is not None and t1 is not None and t0 > t1:
        raise ApiError(422, f"since ({since}) is after until ({until})")
    try:
        k_int = 10 if k is None or str(k).strip() == "" else int(str(k))
    except ValueError:
        raise ApiError(422, f"k: {k!r} is not an integer") from None
    if not 1 <= k_int <= settings.max_search_k:
        raise ApiError(422, f"k must be between 1 and {settings.max_search_k}, got {k_int}")
    glob = path.strip() if path and path.strip() else None
    return SearchFilters(modalities, t0, t1, glob, k_int, raw)


def check_entry_id(entry_id: str) -> str:
    """Entry ids are 64 lowercase hex digits; anything else is an unknown entry (404)."""
    if not is_entry_id(entry_id):
        raise ApiError(404, "no such entry (ids are 64 hex digits)")
    return entry_id


def safe_filename(name: str | None, default: str = "upload") -> str:
    """A client-supplied file name reduced to ``[A-Za-z0-9._-]`` (no directories, no dot-files)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _SAFE_NAME.sub("_", base).lstrip("._")[:120]
    return base or default


# ----------------------------------------------------------------------------- library calls


def call_library(request: Request, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call a library method; user errors become 400, bugs a bare 500.

    No lock here: the library serves any number of readers at once beside one writer (its own
    write lock orders ``add`` and ``remove``), so searches never wait for an upload's ingest.
    """
    try:
        return getattr(request.app.state.library, method)(*args, **kwargs)
    except (LibraryError, ValueError) as exc:
        raise ApiError(400, one_line(exc)) from None
    except HTTPException:
        raise
    except Exception:
        logger.exception("library.%s failed", method)
        raise ApiError(500, "internal error; the server log has the details") from None


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def lookup_entry(request: Request, entry_id: str) -> Any:
    """The entry with this id, or 404."""
    check_entry_id(entry_id)
    try:
        entry = call_library(request, "get", entry_id)
    except ApiError as exc:
        if exc.status_code == 400:
            raise ApiError(404, exc.detail) from None
        raise
    if entry is None:
        raise ApiError(404, f"no entry {entry_id}")
    return entry


def result_json(result: Any) -> dict[str, Any]:
    """A ``SearchResult`` as the API's JSON."""
    path = str(result.path)
    return {
        "rank": int(result.rank),
        "entry_id": result.entry_id,
        "path": path,
        "name": Path(path).name,
        "modality": Modality.parse(result.modality),
        "score": float(result.score),
        "start": None if result.start is None else float(result.start),
        "end": None if result.end is None else float(result.end),
        "text": result.text or "",
        "matched_by": [str(m) for m in (result.matched_by or [])],
        "segment": getattr(result, "segment", None),
        "scores": {str(k): float(v) for k, v in (getattr(result, "scores", None) or {}).items()},
        "tags": [
            {"name": t.name, "score": round(float(t.score), 4)}
            for t in getattr(result, "tags", None) or []
        ],
        "place": str(getattr(result, "place", "") or ""),
        "media_url": f"/media/{result.entry_id}",
        "picture_url": None,
        "strong": bool(getattr(result, "strong", True)),
        "entry_url": f"/entries/{result.entry_id}",
    }


def entry_json(entry: Any) -> dict[str, Any]:
    """An ``Entry`` as the API's JSON."""
    return {
        "id": entry.id,
        "path": str(entry.path),
        "name": Path(str(entry.path)).name,
        "modality": Modality.parse(entry.modality),
        "created": float(entry.created),
        "modified": float(entry.modified),
        "duration": None if entry.duration is None else float(entry.duration),
        "text": entry.text or "",
        "tags": list(entry.tags or []),
        "encoding": getattr(entry, "encoding", None),
        "media_url": f"/media/{entry.id}",
    }


def run_search(request: Request, query: str | Path, filters: SearchFilters) -> list[dict]:
    """Search the library; results as JSON-ready dicts."""
    results = call_library(request, "search", query, **filters.as_kwargs())
    rows = [result_json(r) for r in results]
    for row in rows:
        if row["modality"] is not Modality.TEXT:
            row["picture_url"] = picture_url(request, row["entry_id"], row["segment"])
    return rows


def picture_url(request: Request, entry_id: str, segment: int | None = None) -> str | None:
    """Where a hit's picture is served (``/pictures/{id}``), or None when it has none (notes,
    media ingested before pictures, a library without them)."""
    picture = getattr(request.app.state.library, "picture", None)
    if picture is None or picture(entry_id, segment) is None:
        return None
    return f"/pictures/{entry_id}" + (f"?segment={segment}" if segment is not None else "")


# ----------------------------------------------------------------------------- uploads


async def save_upload(upload: UploadFile, dest: Path, limit_bytes: int) -> int:
    """Copy an uploaded file to ``dest`` atomically, refusing more than ``limit_bytes``.

    Returns:
        The number of bytes written.
    """
    written = 0
    with atomic_path(dest) as tmp, tmp.open("wb") as out:
        while chunk := await upload.read(1 << 20):
            written += len(chunk)
            if written > limit_bytes:
                raise UploadTooLarge(limit_bytes)
            out.write(chunk)
    return written


def _unique_path(folder: Path, name: str) -> Path:
    candidate = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 1
    while candidate.exists():
        candidate = folder / f"{stem}-{n}{suffix}"
        n += 1
    return candidate


async def read_form(request: Request) -> Any:
    """Parse a multipart/urlencoded body (inside the endpoint, so the body limit's 413 and
    parse errors reach our handlers unchanged)."""
    try:
        return await request.form(max_files=MAX_FILES_PER_UPLOAD, max_fields=100)
    except UploadTooLarge:
        raise
    except Exception as exc:  # malformed multipart: the client's fault
        raise ApiError(400, f"could not parse the form: {one_line(exc)}") from None


async def ingest_uploads(request: Request, uploads: list[UploadFile]) -> dict[str, Any]:
    """Store uploaded files in the uploads folder and ingest them with ``Library.add``."""
    settings: ServerSettings = request.app.state.settings
    files = [u for u in uploads if isinstance(u, UploadFile) and u.filename]
    if not files:
        raise ApiError(422, "no file uploaded: send one or more files in the 'files' field")
    folder = settings.resolved_uploads_dir() / datetime.now().strftime("%Y-%m-%d")
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[tuple[str, Path]] = []
    try:
        for upload in files:
            name = safe_filename(upload.filename)
            dest = _unique_path(folder, name).resolve()
            await save_upload(upload, dest, settings.max_upload_bytes)
            saved.append((upload.filename or name, dest))
    except BaseException:
        for _, path in saved:
            path.unlink(missing_ok=True)
        raise
    report = await run_in_threadpool(
        call_library, request, "add", [p for _, p in saved], progress=False, workers=1
    )
    failed = {_key(p): str(reason) for p, reason in (getattr(report, "failed", None) or [])}
    duplicates = {
        _key(p[0] if isinstance(p, tuple | list) else p) for p in _list(report, "duplicates")
    }
    failures, ids = [], []
    for original, path in saved:
        key = _key(path)
        if key in failed:
            failures.append({"name": original, "reason": _without_dir(failed[key], path)})
            path.unlink(missing_ok=True)
            continue
        ids.append(await run_in_threadpool(content_id, path))
        if key in duplicates:  # the same content is already in the library under another path
            path.unlink(missing_ok=True)
    return {
        "entry_ids": ids,
        "added": len(_list(report, "added")) + len(_list(report, "updated")),
        "unchanged": len(_list(report, "unchanged")) + len(duplicates),
        "moved": len(_list(report, "moved")),
        "failed": failures,
    }


def _list(report: Any, name: str) -> list[Any]:
    return list(getattr(report, name, None) or [])


def _key(path: Any) -> str:
    return str(Path(path).resolve())


def _without_dir(reason: str, path: Path) -> str:
    """Failure reasons name the server-side path; the client only needs the file name."""
    return reason.replace(str(path.parent) + "/", "").replace(str(path.parent), "")


async def search_by_file(
    request: Request, upload: Any, filters: SearchFilters
) -> tuple[str, list[dict]]:
    """Save an uploaded query file to a temporary folder, search with it, delete it."""
    settings: ServerSettings = request.app.state.settings
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise ApiError(422, "no file uploaded: send the query as the multipart field 'file'")
    name = safe_filename(upload.filename, default="query")
    with tempfile.TemporaryDirectory(prefix="xmodal-query-") as tmp:
        path = Path(tmp) / name
        await save_upload(upload, path, settings.max_upload_bytes)
        results = await run_in_threadpool(run_search, request, path, filters)
    return upload.filename, results


def wants_html(request: Request) -> bool:
    """A browser navigating (Accept: text/html) gets a page; API clients get JSON."""
    if request.query_params.get("format") == "json":
        return False
    return "text/html" in request.headers.get("accept", "")

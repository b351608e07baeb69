"""The web app of the memory library: a JSON API and server-rendered pages over one ``Library``.

:func:`create_app` builds a FastAPI app around an open library (the facade
``xmodal.library.Library``, or anything with the same methods). The app keeps no module-level
state: the library, the settings and the templates live on ``app.state``.

API (JSON; the OpenAPI schema is at ``/openapi.json``, readable at ``/api``):

* ``GET /health``; ``GET /stats``; ``GET /timeline`` (entries per day)
* ``GET /search?q=...&modality=video,audio&since=&until=&path=&k=`` (text query)
* ``POST /search`` (multipart ``file``: an image, recording or clip as the query; same filters)
* ``GET /entries/{id}``; ``POST /entries`` (multipart ``files``: upload and ingest);
  ``DELETE /entries/{id}`` (remove an entry; its file stays)
* ``GET /media/{id}`` (the entry's file, with ``Range`` support so players can seek)

Pages: ``/`` (search), ``/entry/{id}``, ``/timeline`` and ``/stats`` (HTML when the client
accepts ``text/html``), ``/upload``, ``/login``.

Requests run side by side: the library serves any number of searches at once, beside one
writer (an upload's ingest or a removal), and never makes a search wait for a write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from xmodal import __version__
from xmodal.library.records import LibraryError
from xmodal.server import pages, schemas
from xmodal.server.common import (
    ApiError,
    LibraryLike,
    call_library,
    check_entry_id,
    entry_json,
    ingest_uploads,
    logger,
    lookup_entry,
    one_line,
    parse_filters,
    read_form,
    run_search,
    search_by_file,
    wants_html,
)
from xmodal.server.people import add_people_routes
from xmodal.server.ranges import file_response
from xmodal.server.security import (
    COOKIE_NAME,
    BodyLimit,
    SameOrigin,
    SecurityHeaders,
    TokenAuth,
    UploadTooLarge,
    cookie_header,
    token_matches,
)
from xmodal.server.settings import ServerSettings

PACKAGE_DIR = Path(__file__).resolve().parent


# ----------------------------------------------------------------------------- API routes


def health(request: Request) -> dict[str, Any]:
    """Liveness: the library answers."""
    stats = call_library(request, "stats")
    return {
        "status": "ok",
        "entries": int(stats.get("entries", 0)),
        "auth": request.app.state.settings.auth_required,
    }


def search_get(
    request: Request,
    q: str = Query(..., description="the text to search for"),
    modality: list[str] | None = Query(None, description="video,audio,text (comma-separated)"),
    since: str | None = Query(None, description="YYYY-MM-DD, ISO datetime or epoch seconds"),
    until: str | None = Query(None, description="YYYY-MM-DD (inclusive), ISO or epoch"),
    path: str | None = Query(None, description="glob on the file path, e.g. */meetings/*"),
    k: int | None = Query(None, description="number of results (default 10, at most 100)"),
) -> dict[str, Any]:
    """Search the library with a sentence."""
    if not q.strip():
        raise ApiError(422, "q: the query is empty")
    filters = parse_filters(request.app.state.settings, modality, since, until, path, k)
    results = run_search(request, q.strip(), filters)
    return {
        "query": q.strip(),
        "query_kind": "text",
        "k": filters.k,
        "filters": filters.as_json(),
        "strong_match": any(r["strong"] for r in results),
        "results": results,
    }


def _filter_fields() -> dict[str, Any]:
    """The search filters as multipart form fields (a fresh dict per schema)."""
    return {
        "modality": {"type": "string", "description": "video,audio,text (comma-separated)"},
        "since": {"type": "string", "description": "YYYY-MM-DD, ISO datetime or epoch seconds"},
        "until": {"type": "string", "description": "YYYY-MM-DD (inclusive), ISO or epoch"},
        "path": {"type": "string", "description": "glob on the file path"},
        "k": {"type": "integer", "description": "number of results (default 10)"},
    }


def _multipart_body(fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": fields, "required": required}
                }
            },
        }
    }


async def search_post(request: Request) -> dict[str, Any]:
    """Search with an example: an uploaded image, recording or clip is the query."""
    form = await read_form(request)
    filters = parse_filters(
        request.app.state.settings,
        form.getlist("modality") or None,
        form.get("since"),
        form.get("until"),
        form.get("path"),
        form.get("k"),
    )
    name, results = await search_by_file(request, form.get("file"), filters)
    return {
        "query": name,
        "query_kind": "file",
        "k": filters.k,
        "filters": filters.as_json(),
        "strong_match": any(r["strong"] for r in results),
        "results": results,
    }


def get_entry(request: Request, entry_id: str) -> dict[str, Any]:
    """One entry's metadata and transcript."""
    return entry_json(lookup_entry(request, entry_id))


def delete_entry(request: Request, entry_id: str) -> dict[str, Any]:
    """Remove an entry from the library (by its id; the file itself is never touched)."""
    check_entry_id(entry_id)
    try:
        removed = call_library(request, "remove", entry_id)
    except ApiError as exc:
        if exc.status_code == 400:  # no such entry (any more)
            raise ApiError(404, exc.detail) from None
        raise
    return {"removed": [str(e.id) for e in removed]}


async def post_entries(request: Request) -> dict[str, Any]:
    """Upload files (multipart field ``files``, repeatable) and ingest them."""
    form = await read_form(request)
    return await ingest_uploads(request, form.getlist("files") + form.getlist("file"))


def get_media(request: Request, entry_id: str, original: bool = False) -> Response:
    """The entry's file, or a playable copy of it when a browser cannot play it as it is
    (H.264/AAC MP4, made on first play; ``?original=1`` always sends the file itself). Honours
    ``Range: bytes=a-b`` (206) so players can seek."""
    entry = lookup_entry(request, entry_id)
    name = Path(str(entry.path)).name
    playable = getattr(request.app.state.library, "playable_file", None)
    try:
        if original or playable is None:
            path, proxied = Path(call_library(request, "media_path", entry_id)), False
        else:
            path, proxied = call_library(request, "playable_file", entry_id)
    except ApiError as exc:
        if exc.status_code != 400:
            raise
        raise ApiError(404, f"the file of entry {entry_id[:12]} is missing on the server") from None
    if proxied:
        name = f"{Path(name).stem}{Path(path).suffix}"
    try:
        return file_response(Path(path), name)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise ApiError(404, f"the file of entry {entry_id[:12]} is missing on the server") from None


def get_picture(request: Request, entry_id: str, segment: int | None = None) -> Response:
    """A hit's picture: its segment's thumbnail (JPEG) or a recording's waveform (SVG)."""
    lookup_entry(request, entry_id)
    picture = getattr(request.app.state.library, "picture", None)
    path = None if picture is None else call_library(request, "picture", entry_id, segment)
    if path is None:
        raise ApiError(404, f"entry {entry_id[:12]} has no picture")
    media_type = "image/svg+xml" if Path(path).suffix == ".svg" else "image/jpeg"
    return FileResponse(path, media_type=media_type,
                        headers={"cache-control": "private, max-age=3600"})  # fmt: skip


def get_timeline(request: Request) -> Any:
    """Entries per day of creation (HTML for a browser)."""
    days = call_library(request, "timeline")
    if wants_html(request):
        return pages.timeline_page(request, days)
    return days


def get_stats(request: Request) -> Any:
    """Counts and sizes of the library (HTML for a browser)."""
    stats = call_library(request, "stats")
    if wants_html(request):
        return pages.stats_page(request, stats)
    return stats


# ----------------------------------------------------------------------------- login


def login_form(request: Request, next: str = "/") -> HTMLResponse:
    """The token form (only useful when the server has a token)."""
    return pages.render(request, "login.html", {"next": _safe_next(next)})


async def login_submit(request: Request) -> Response:
    """Check the token; on success set the cookie and go where the user was heading."""
    settings: ServerSettings = request.app.state.settings
    form = await read_form(request)
    target = _safe_next(str(form.get("next") or "/"))
    given = str(form.get("token") or "")
    if settings.token is None:
        return RedirectResponse(target, status_code=303)
    if not token_matches(given, settings.token):
        ctx = {"next": target, "error": "That token is not right."}
        return pages.render(request, "login.html", ctx, status=401)
    response = RedirectResponse(target, status_code=303)
    secure = request.url.scheme == "https"
    response.headers.append("set-cookie", cookie_header(settings.token, secure).decode())
    return response


def logout(request: Request) -> Response:
    """Forget the cookie."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


def _safe_next(target: str) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# ----------------------------------------------------------------------------- errors


def _error_response(request: Request, status: int, message: str) -> Response:
    if wants_html(request) and request.method in ("GET", "HEAD", "POST"):
        return pages.error_page(request, status, message)
    return JSONResponse({"error": message}, status_code=status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = f"nothing at {request.url.path}"
    if exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    response = _error_response(request, exc.status_code, message)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "body", "path"))
        parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else err.get("msg", "invalid"))
    return _error_response(request, 422, "; ".join(parts) or "invalid request")


async def _too_large(request: Request, exc: Exception) -> Response:
    response = _error_response(request, 413, str(exc))
    response.headers["connection"] = "close"
    return response


async def _library_error(request: Request, exc: Exception) -> Response:
    return _error_response(request, 400, one_line(exc))


async def _internal_error(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error_response(request, 500, "internal error; the server log has the details")


# ----------------------------------------------------------------------------- factory


def create_app(library: LibraryLike, settings: ServerSettings | None = None) -> FastAPI:
    """Build the web app around an open library.

    Args:
        library: an open ``xmodal.library.Library`` (or an object with the same methods). The
            caller owns it and closes it after the server stops.
        settings: host, token, upload limit, ... (defaults: loopback, no token, 512 MiB).

    Returns:
        The FastAPI app; ``app.state`` holds ``library``, ``settings`` and
        ``templates``.
    """
    settings = settings or ServerSettings()
    app = FastAPI(
        title="xmodal",
        version=__version__,
        summary="Search a memory library of videos, recordings and notes by meaning.",
        docs_url=None,  # Swagger UI loads script from a CDN: /api renders the schema instead
        redoc_url=None,
    )
    app.state.library = library
    app.state.settings = settings
    playback = getattr(library, "playback", None)
    if playback is not None:
        playback.cache.budget = int(settings.proxy_cache_mb * (1 << 20))
    templates = Jinja2Templates(directory=str(PACKAGE_DIR / "templates"))
    pages.install_filters(templates.env)
    app.state.templates = templates
    app.mount("/static", StaticFiles(directory=str(PACKAGE_DIR / "static")), name="static")

    def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
        return {code: {"model": schemas.ErrorOut} for code in codes}

    html_too = {200: {"content": {"text/html": {}}, "description": "JSON, or a page"}}

    app.get("/health", response_model=schemas.Health, tags=["api"])(health)
    app.get(
        "/search", response_model=schemas.SearchResponse, responses=errors(400, 422), tags=["api"]
    )(search_get)
    app.post(
        "/search",
        response_model=schemas.SearchResponse,
        responses=errors(400, 413, 422),
        tags=["api"],
        openapi_extra=_multipart_body(
            {"file": {"type": "string", "format": "binary"}, **_filter_fields()}, ["file"]
        ),
    )(search_post)
    app.get(
        "/entries/{entry_id}", response_model=schemas.EntryOut, responses=errors(404), tags=["api"]
    )(get_entry)
    app.delete(
        "/entries/{entry_id}",
        response_model=schemas.RemovedOut,
        responses=errors(404),
        tags=["api"],
    )(delete_entry)
    app.post(
        "/entries",
        response_model=schemas.IngestOut,
        responses=errors(400, 413, 422),
        tags=["api"],
        openapi_extra=_multipart_body(
            {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
            ["files"],
        ),
    )(post_entries)
    media_doc = {
        "response_class": Response,
        "tags": ["api"],
        "responses": {
            200: {"description": "the whole file", "content": {"video/mp4": {}, "audio/*": {}}},
            206: {"description": "the requested byte range (Content-Range set)"},
            404: {"model": schemas.ErrorOut},
            416: {"model": schemas.ErrorOut, "description": "range outside the file"},
        },
    }
    app.get("/media/{entry_id}", operation_id="get_media", **media_doc)(get_media)
    app.head("/media/{entry_id}", operation_id="head_media", **media_doc)(get_media)
    app.get(
        "/pictures/{entry_id}",
        operation_id="get_picture",
        response_class=Response,
        tags=["api"],
        responses={
            200: {"description": "the picture", "content": {"image/jpeg": {}, "image/svg+xml": {}}},
            404: {"model": schemas.ErrorOut},
        },
    )(get_picture)
    app.get(
        "/timeline",
        response_model=list[schemas.TimelineDay],
        responses=html_too,
        tags=["api"],
    )(get_timeline)
    app.get("/stats", response_model=dict[str, Any], responses=html_too, tags=["api"])(get_stats)

    add_people_routes(app, errors)
    pages.add_page_routes(app)
    app.get("/login", response_class=HTMLResponse, include_in_schema=False)(login_form)
    app.post("/login", include_in_schema=False)(login_submit)
    app.post("/logout", include_in_schema=False)(logout)

    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(UploadTooLarge, _too_large)
    app.add_exception_handler(LibraryError, _library_error)
    app.add_exception_handler(Exception, _internal_error)

    # Added last = outermost: headers on every reply, then origin and auth, then the body cap.
    app.add_middleware(BodyLimit, limit_bytes=settings.max_upload_bytes)
    app.add_middleware(TokenAuth, token=settings.token)
    app.add_middleware(SameOrigin, bind_host=settings.host, token=settings.token)
    app.add_middleware(SecurityHeaders)
    return app


__all__ = ["create_app"]

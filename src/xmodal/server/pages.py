"""The server-rendered pages: search, entry, timeline, stats, upload, login and errors.

Every page works without JavaScript (forms post back and are rendered here); ``static/app.js``
adds keyboard shortcuts, drag-and-drop and segment playback on top.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment
from starlette.exceptions import HTTPException

from xmodal import __version__
from xmodal.server.common import (
    ApiError,
    SearchFilters,
    call_library,
    entry_json,
    ingest_uploads,
    lookup_entry,
    parse_filters,
    picture_url,
    read_form,
    run_search,
    search_by_file,
)
from xmodal.types import Modality

MODALITIES = [m.value for m in Modality]
K_CHOICES = [5, 10, 20, 50]


# ----------------------------------------------------------------------------- formatting


def fmt_clock(seconds: float | None) -> str:
    """``75.3`` -> ``"1:15.3"``; ``3725`` -> ``"1:02:05.0"``."""
    if seconds is None:
        return ""
    seconds = max(0.0, float(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 1:
        return f"{int(hours)}:{int(minutes):02d}:{secs:04.1f}"
    return f"{int(minutes)}:{secs:04.1f}"


def fmt_duration(seconds: float | None) -> str:
    """A human length: ``"2.4 s"``, ``"3 min 5 s"``, ``"1 h 02 min"``."""
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def fmt_when(epoch: float | None) -> str:
    """Epoch seconds as local ``YYYY-MM-DD HH:MM``."""
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(float(epoch)).strftime("%Y-%m-%d %H:%M")


def fmt_bytes(size: int | None) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    if size is None:
        return "unknown"
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def media_fragment(start: float | None, end: float | None) -> str:
    """The W3C media fragment that makes a player start (and stop) at a segment."""
    if start is None:
        return ""
    return f"#t={start:.2f},{end:.2f}" if end is not None and end > start else f"#t={start:.2f}"


def wave_bars(seed: str, count: int = 48) -> list[dict[str, float]]:
    """Bars of a decorative waveform for a recording, the same for the same entry.

    Heights come from the entry id's bytes (a visual fingerprint, not the real signal: the page
    must not decode audio to draw a card). Coordinates are in a ``count*3 x 32`` viewBox.
    """
    digest = hashlib.sha256(seed.encode()).digest()
    bars = []
    for i in range(count):
        envelope = 0.35 + 0.65 * math.sin(math.pi * (i + 0.5) / count)  # louder in the middle
        height = max(2.0, 30.0 * envelope * (0.25 + 0.75 * digest[i % len(digest)] / 255))
        bars.append({"x": i * 3.0, "y": round(16 - height / 2, 2), "h": round(height, 2)})
    return bars


def install_filters(env: Environment) -> None:
    """Register the formatting filters and globals the templates use."""
    env.filters.update(
        clock=fmt_clock,
        duration=fmt_duration,
        when=fmt_when,
        nbytes=fmt_bytes,
    )
    env.globals.update(
        version=__version__,
        media_fragment=media_fragment,
        modalities=MODALITIES,
        wave_bars=wave_bars,
    )


def render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    """Render a page with the context every page shares."""
    settings = request.app.state.settings
    ctx = {"auth": settings.auth_required, "current": request.url.path, **context}
    return request.app.state.templates.TemplateResponse(
        request, template, ctx, status_code=status, headers={"cache-control": "no-store"}
    )


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """The friendly error page (never a stack trace)."""
    titles = {
        400: "That did not work",
        401: "Sign in needed",
        403: "Not allowed",
        404: "Not found",
        413: "File too large",
        416: "Range not available",
        422: "Check your input",
        500: "Something went wrong",
    }
    ctx = {"status": status, "title": titles.get(status, "Error"), "message": message}
    return render(request, "error.html", ctx, status=status)


# ----------------------------------------------------------------------------- page data


def timeline_rows(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Days newest first, each with its counts and the segments of a stacked bar (percent of
    the busiest day)."""
    rows = []
    for day in days:
        counts = {m: int(day.get(m, 0) or 0) for m in MODALITIES}
        rows.append({"date": str(day["date"]), "counts": counts, "total": sum(counts.values())})
    busiest = max((r["total"] for r in rows), default=0) or 1
    for row in rows:
        x, bars = 0.0, []
        for m in MODALITIES:
            width = 100.0 * row["counts"][m] / busiest
            if width > 0:
                bars.append({"modality": m, "x": round(x, 3), "width": round(width, 3)})
            x += width
        row["bars"] = bars
        row["weekday"] = _weekday(row["date"])
    rows.sort(key=lambda r: r["date"], reverse=True)
    return rows


def _weekday(date: str) -> str:
    try:
        return datetime.strptime(date, "%Y-%m-%d").strftime("%a")
    except ValueError:
        return ""


def timeline_page(request: Request, days: list[dict[str, Any]]) -> HTMLResponse:
    """Entries per day as a bar chart."""
    rows = timeline_rows(days)
    totals = {m: sum(r["counts"][m] for r in rows) for m in MODALITIES}
    return render(request, "timeline.html", {"rows": rows, "totals": totals})


def stats_page(request: Request, stats: dict[str, Any]) -> HTMLResponse:
    """Counts and sizes."""
    by_mod = {m: int((stats.get("entries_by_modality") or {}).get(m, 0)) for m in MODALITIES}
    most = max(by_mod.values(), default=0) or 1
    shares = {m: round(100.0 * n / most, 3) for m, n in by_mod.items()}
    known = {
        "backend",
        "location",
        "schema_version",
        "model_id",
        "spaces",
        "entries",
        "entries_by_modality",
        "segments",
        "vectors",
        "duration_s",
        "size_bytes",
        "warnings",
    }
    extra = {k: v for k, v in stats.items() if k not in known}
    warnings = [str(w) for w in stats.get("warnings") or []]
    ctx = {"stats": stats, "by_mod": by_mod, "shares": shares, "extra": extra, "warnings": warnings}
    return render(request, "stats.html", ctx)


def _library_size(request: Request) -> int | None:
    try:
        return int(call_library(request, "stats").get("entries", 0))
    except HTTPException:
        return None


# ----------------------------------------------------------------------------- routes


def _search_context(raw: dict[str, str]) -> dict[str, Any]:
    return {
        "filters": raw,
        "selected_modalities": set((raw.get("modality") or "").split(",")) - {""},
        "k_choices": K_CHOICES,
        "filters_open": any(raw.get(key) for key in ("modality", "since", "until", "path")),
    }


def _raw_filters(values: Any) -> dict[str, str]:
    return {
        "modality": ",".join(values.getlist("modality")),
        "since": values.get("since") or "",
        "until": values.get("until") or "",
        "path": values.get("path") or "",
        "k": values.get("k") or "",
    }


def _parse(request: Request, values: Any) -> SearchFilters:
    return parse_filters(
        request.app.state.settings,
        values.getlist("modality") or None,
        values.get("since"),
        values.get("until"),
        values.get("path"),
        values.get("k"),
    )


def search_page(request: Request) -> HTMLResponse:
    """``GET /``: the search box; with ``?q=`` the results."""
    params = request.query_params
    query = (params.get("q") or "").strip()
    raw = _raw_filters(params)
    ctx: dict[str, Any] = {"query": query, "query_kind": "text", "results": None, "error": None}
    ctx.update(_search_context(raw))
    status = 200
    if query:
        try:
            ctx["results"] = run_search(request, query, _parse(request, params))
        except ApiError as exc:
            ctx["error"], status = exc.detail, exc.status_code
    else:
        ctx["library_size"] = _library_size(request)
    return render(request, "search.html", ctx, status=status)


async def search_file_page(request: Request) -> HTMLResponse:
    """``POST /``: a dropped or chosen file is the query."""
    form = await read_form(request)
    raw = _raw_filters(form)
    ctx: dict[str, Any] = {"query": "", "query_kind": "file", "results": None, "error": None}
    ctx.update(_search_context(raw))
    status = 200
    try:
        filters = _parse(request, form)
        ctx["query"], ctx["results"] = await search_by_file(request, form.get("file"), filters)
    except ApiError as exc:
        ctx["error"], status = exc.detail, exc.status_code
        upload = form.get("file")
        ctx["query"] = getattr(upload, "filename", "") or "your file"
    return render(request, "search.html", ctx, status=status)


def entry_page(request: Request, entry_id: str, t: float | None = None) -> HTMLResponse:
    """``GET /entry/{id}``: the player (starting at ``t``), the metadata and the transcript."""
    entry = entry_json(lookup_entry(request, entry_id))
    start = None if t is None or t < 0 else float(t)
    ctx = {"entry": entry, "start": start, "folder": str(Path(entry["path"]).parent),
           "picture_url": picture_url(request, entry["id"])}  # fmt: skip
    return render(request, "entry.html", ctx)


def upload_page(request: Request) -> HTMLResponse:
    """``GET /upload``: the upload form."""
    limit = request.app.state.settings.max_upload_mb
    return render(request, "upload.html", {"report": None, "error": None, "limit_mb": limit})


async def upload_submit(request: Request) -> HTMLResponse:
    """``POST /upload``: store and ingest the files, then show what happened."""
    limit = request.app.state.settings.max_upload_mb
    ctx: dict[str, Any] = {"report": None, "error": None, "limit_mb": limit}
    status = 200
    form = await read_form(request)
    try:
        ctx["report"] = await ingest_uploads(request, form.getlist("files"))
    except ApiError as exc:
        ctx["error"], status = exc.detail, exc.status_code
    return render(request, "upload.html", ctx, status=status)


def _type_name(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_type_name(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list[{_type_name(schema.get('items', {}))}]"
    if schema.get("format") == "binary":
        return "file"
    return str(schema.get("type", "object"))


def api_page(request: Request) -> HTMLResponse:
    """``GET /api``: the API reference, rendered from the OpenAPI schema (no CDN, no script)."""
    spec = request.app.openapi()
    operations = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            params = [
                {
                    "name": p["name"],
                    "where": p["in"],
                    "required": p.get("required", False),
                    "type": _type_name(p.get("schema", {})),
                    "description": p.get("description")
                    or p.get("schema", {}).get("description", ""),
                }
                for p in op.get("parameters", [])
            ]
            body = op.get("requestBody", {}).get("content", {}).get("multipart/form-data", {})
            fields = body.get("schema", {}).get("properties", {})
            required = set(body.get("schema", {}).get("required", []))
            params += [
                {
                    "name": name,
                    "where": "form",
                    "required": name in required,
                    "type": _type_name(field),
                    "description": field.get("description", ""),
                }
                for name, field in fields.items()
            ]
            responses = []
            for code, reply in op.get("responses", {}).items():
                content = reply.get("content", {})
                json_schema = content.get("application/json", {}).get("schema")
                kinds = ", ".join(content) if content else ""
                responses.append(
                    {
                        "code": code,
                        "description": reply.get("description", ""),
                        "type": _type_name(json_schema) if json_schema else kinds,
                    }
                )
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "params": params,
                    "responses": responses,
                }
            )
    models = {
        name: [
            {
                "name": field,
                "type": _type_name(prop),
                "description": prop.get("description", ""),
            }
            for field, prop in schema.get("properties", {}).items()
        ]
        for name, schema in spec.get("components", {}).get("schemas", {}).items()
        if name not in ("HTTPValidationError", "ValidationError")
    }
    return render(request, "api.html", {"operations": operations, "models": models})


def add_page_routes(app: FastAPI) -> None:
    """Register the HTML pages on ``app`` (left out of the OpenAPI schema)."""
    html = {"response_class": HTMLResponse, "include_in_schema": False}
    app.get("/", **html)(search_page)
    app.post("/", **html)(search_file_page)
    app.get("/entry/{entry_id}", **html)(entry_page)
    app.get("/upload", **html)(upload_page)
    app.post("/upload", **html)(upload_submit)
    app.get("/api", **html)(api_page)


__all__ = ["add_page_routes", "error_page", "render", "stats_page", "timeline_page"]

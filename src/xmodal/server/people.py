"""The People view and API: the faces the library has grouped into people, renamed in place,
each with a click through to the moments they are seen in.

``GET /people`` (JSON, or the page for a browser), ``GET /people/{id}`` (their moments),
``POST /people/{id}/name`` (a form field or JSON ``{"name": ...}``) and ``GET
/faces/{entry}/{segment}/{face}`` (a face's picture). The library does the work
(:mod:`xmodal.library.people`); names go through its checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from starlette.requests import Request

from xmodal.server import pages
from xmodal.server.common import (
    ApiError,
    call_library,
    check_entry_id,
    picture_url,
    read_form,
    result_json,
    wants_html,
)
from xmodal.types import Modality


def face_url(key: tuple[str, int, int] | None) -> str | None:
    """Where a face's picture is served."""
    return None if key is None else f"/faces/{key[0]}/{int(key[1])}/{int(key[2])}"


def person_json(summary: Any) -> dict[str, Any]:
    """A person's summary as the API's JSON."""
    return {
        "id": summary.id,
        "name": summary.name,
        "label": summary.label,
        "faces": summary.faces,
        "files": summary.entries,
        "first_seen": summary.first_seen,
        "last_seen": summary.last_seen,
        "picture_url": face_url(summary.picture),
        "url": f"/people/{summary.id}",
    }


def list_people(request: Request) -> Any:
    """Everyone the library has seen in video, most seen first (HTML for a browser)."""
    people = [person_json(p) for p in call_library(request, "people")]
    if wants_html(request):
        return pages.render(request, "people.html", {"people": people})
    return people


def _person(request: Request, person_id: int) -> dict[str, Any]:
    """A person's JSON, or 404."""
    try:
        return person_json(call_library(request, "person", person_id))
    except ApiError as exc:
        if exc.status_code == 400:
            raise ApiError(404, exc.detail) from None
        raise


def get_person(request: Request, person_id: int, k: int = 50) -> Any:
    """A person and the moments they are seen in, best views first (HTML for a browser)."""
    person = _person(request, person_id)
    rows = [result_json(r) for r in call_library(request, "person_moments", person_id, k)]
    for row in rows:
        if row["modality"] is not Modality.TEXT:
            row["picture_url"] = picture_url(request, row["entry_id"], row["segment"])
    if wants_html(request):
        return pages.render(request, "person.html", {"person": person, "results": rows})
    return {"person": person, "results": rows}


async def rename_person(request: Request, person_id: int) -> Any:
    """Name a person: a form field ``name`` (then back to the page) or JSON ``{"name"}``."""
    if (request.headers.get("content-type") or "").startswith("application/json"):
        body = await request.json()
        name = body.get("name") if isinstance(body, dict) else None
        html = False
    else:
        name, html = (await read_form(request)).get("name"), True
    if not isinstance(name, str) or not name.strip():
        raise ApiError(422, "give the person a name")
    _person(request, person_id)
    call_library(request, "name_person", person_id, name)
    if html:
        return RedirectResponse(f"/people#person-{person_id}", status_code=303)
    return _person(request, person_id)


def get_face(request: Request, entry_id: str, segment: int, face: int) -> FileResponse:
    """The picture of one face (JPEG)."""
    check_entry_id(entry_id)
    path = call_library(request, "face_picture", (entry_id, int(segment), int(face)))
    if path is None or not Path(path).is_file():
        raise ApiError(404, f"no picture of face {face} of segment {segment}")
    return FileResponse(path, media_type="image/jpeg",
                        headers={"cache-control": "private, max-age=3600"})  # fmt: skip


def add_people_routes(app: FastAPI, errors: Any) -> None:
    """Register the People view's routes (``errors(*codes)``: the error responses' schema)."""
    html_too = {200: {"content": {"text/html": {}}, "description": "JSON, or a page"}}
    app.get("/people", responses=html_too, tags=["api"])(list_people)
    app.get("/people/{person_id}", responses={**html_too, **errors(404)}, tags=["api"])(get_person)
    app.post("/people/{person_id}/name", responses=errors(400, 404, 422), tags=["api"])(
        rename_person
    )
    app.get(
        "/faces/{entry_id}/{segment}/{face}",
        response_class=FileResponse,
        responses={200: {"content": {"image/jpeg": {}}}, **errors(404)},
        tags=["api"],
    )(get_face)

"""The JSON the HTTP API returns (pydantic models, so the OpenAPI schema matches the replies)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from xmodal.types import Modality


class Health(BaseModel):
    """``GET /health``."""

    status: str = Field(description='"ok" when the library answered')
    entries: int = Field(description="entries in the library")
    auth: bool = Field(description="whether this server requires a token")


class TagOut(BaseModel):
    """Something seen in a video segment (a visual tag)."""

    name: str = Field(description='what is seen, e.g. "suit", "face"')
    score: float = Field(description="mean class probability over the frames (face: share)")


class SearchResultOut(BaseModel):
    """One search hit: an entry and, for audio/video, the matched time span."""

    rank: int = Field(description="1-based position")
    entry_id: str = Field(description="the entry's id (SHA-256 of its content)")
    path: str = Field(description="the file's absolute path on the server")
    name: str = Field(description="the file name")
    modality: Modality
    score: float = Field(description="fused relevance; higher is better")
    start: float | None = Field(description="segment start (s); null for a whole-entry match")
    end: float | None = Field(description="segment end (s); null for a whole-entry match")
    text: str = Field(description="the segment's transcript or the note's excerpt")
    matched_by: list[str] = Field(description='how it matched, e.g. ["joint", "fts"]')
    segment: int | None = Field(None, description="the segment's index within the entry")
    scores: dict[str, float] = Field(
        default_factory=dict, description="each matching list's own score (cosine, or text rank)"
    )
    tags: list[TagOut] = Field(
        default_factory=list, description="what the segment shows, best first (video only)"
    )
    place: str = Field(
        "", description='where in its document a note hit is ("page 3", a heading); "" if none'
    )
    media_url: str = Field(
        description="where to play the file (supports Range requests): the file, or a playable "
        "copy when a browser cannot play it; add ?original=1 for the file itself"
    )
    picture_url: str | None = Field(
        None, description="the hit's thumbnail (JPEG) or waveform (SVG); null for notes"
    )
    strong: bool = Field(
        True, description="a strong match (false: only the closest there is; see strong_match)"
    )
    entry_url: str = Field(description="the entry's JSON")


class SearchResponse(BaseModel):
    """``GET /search`` and ``POST /search``."""

    query: str = Field(description="the text query, or the uploaded file's name")
    query_kind: str = Field(description='"text" or "file"')
    k: int
    filters: dict[str, Any] = Field(description="the filters applied (null: not set)")
    strong_match: bool = Field(
        True,
        description="whether any result is a strong match; false: nothing in the library "
        "clearly shows or says the query, and the results are only the closest hits",
    )
    results: list[SearchResultOut]


class EntryOut(BaseModel):
    """``GET /entries/{id}``."""

    id: str
    path: str
    name: str
    modality: Modality
    created: float = Field(description="creation time, epoch seconds")
    modified: float = Field(description="modification time, epoch seconds")
    duration: float | None = Field(description="length in seconds; null for notes")
    text: str = Field(description="the whole transcript, or the note's text")
    tags: list[str]
    encoding: str | None = Field(
        None, description='the character encoding a text note was read in ("utf-8", "cp1252")'
    )
    media_url: str


class TimelineDay(BaseModel):
    """One day of ``GET /timeline``: entries created that day, per modality."""

    date: str = Field(description="YYYY-MM-DD")
    video: int = 0
    audio: int = 0
    text: int = 0


class IngestFailure(BaseModel):
    """A file that could not be ingested."""

    name: str
    reason: str


class IngestOut(BaseModel):
    """``POST /entries``."""

    entry_ids: list[str] = Field(description="ids of the uploaded files now in the library")
    added: int = Field(description="files new to the library")
    unchanged: int = Field(description="files already in the library")
    moved: int = Field(description="files whose content was known under another path")
    failed: list[IngestFailure]


class RemovedOut(BaseModel):
    """``DELETE /entries/{id}``."""

    removed: list[str] = Field(description="ids of the entries removed (the files stay)")


class ErrorOut(BaseModel):
    """Every error reply: one line saying what went wrong (never a stack trace)."""

    error: str

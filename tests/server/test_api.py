"""The HTTP API and the pages, with FastAPI's TestClient.

Most tests run over ``FakeLibrary`` (a labelled test double, tests/server/fake_library.py) to
reach every error path quickly; ``test_real_library_*`` run the same API over a real library
built from synthesized clips and ingested with ``Library.add``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import CLIP_BYTES, GARDEN_QUERY, FakeWorld, RealWorld
from xmodal.library.records import LibraryError
from xmodal.server import schemas
from xmodal.server.app import create_app
from xmodal.server.settings import ServerSettings
from xmodal.types import Modality

# ----------------------------------------------------------------------------- JSON API


def test_health_and_openapi_schema_match_the_replies(client: TestClient) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "entries": 3, "auth": False}

    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) == {
        "/health",
        "/search",
        "/entries",
        "/entries/{entry_id}",
        "/media/{entry_id}",
        "/pictures/{entry_id}",
        "/timeline",
        "/stats",
        "/people",
        "/people/{person_id}",
        "/people/{person_id}/name",
        "/faces/{entry_id}/{segment}/{face}",
    }
    assert set(spec["paths"]["/search"]) == {"get", "post"}
    assert set(spec["paths"]["/people/{person_id}/name"]) == {"post"}
    assert set(spec["paths"]["/media/{entry_id}"]) == {"get", "head"}
    post_body = spec["paths"]["/search"]["post"]["requestBody"]["content"]
    assert post_body["multipart/form-data"]["schema"]["required"] == ["file"]
    ok = spec["paths"]["/search"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"]["$ref"].endswith("/SearchResponse")
    result_props = spec["components"]["schemas"]["SearchResultOut"]["properties"]
    assert {"entry_id", "start", "end", "text", "matched_by", "media_url", "picture_url",
            "place", "strong"} <= set(result_props)  # fmt: skip
    # Every reply validates against the model the schema was generated from.
    schemas.Health.model_validate(health.json())
    schemas.SearchResponse.model_validate(client.get("/search?q=tea").json())
    schemas.EntryOut.model_validate(
        client.get(client.get("/search?q=tea").json()["results"][0]["entry_url"]).json()
    )
    for day in client.get("/timeline").json():
        schemas.TimelineDay.model_validate(day)


def test_text_search_returns_ranked_segments(client: TestClient, fake_world: FakeWorld) -> None:
    reply = client.get("/search", params={"q": "pour the tea"})
    assert reply.status_code == 200
    body = reply.json()
    assert body["query"] == "pour the tea" and body["query_kind"] == "text" and body["k"] == 10
    top = body["results"][0]
    assert top["entry_id"] == fake_world.video
    assert (top["start"], top["end"], top["text"]) == (2.0, 4.5, "now pour the tea")
    assert top["modality"] == "video" and top["name"] == "kitchen.mp4" and top["rank"] == 1
    assert top["media_url"] == f"/media/{fake_world.video}"
    assert [r["rank"] for r in body["results"]] == list(range(1, len(body["results"]) + 1))


def test_search_filters_are_parsed_and_passed_to_the_library(
    client: TestClient, fake_world: FakeWorld
) -> None:
    lib = fake_world.library
    only_audio = client.get("/search", params={"q": "dentist", "modality": "audio"}).json()
    assert [r["entry_id"] for r in only_audio["results"]] == [fake_world.audio]
    assert lib.queries[-1][1]["modalities"] == [Modality.AUDIO]
    both = client.get("/search?q=dentist&modality=audio&modality=text").json()
    assert {r["entry_id"] for r in both["results"]} == {fake_world.audio, fake_world.note}
    assert lib.queries[-1][1]["modalities"] == [Modality.AUDIO, Modality.TEXT]

    # Dates are local days; until is inclusive of its whole day.
    day2 = client.get("/search", params={"q": "dentist", "since": "2024-05-02"}).json()
    assert [r["entry_id"] for r in day2["results"]] == [fake_world.audio]
    assert lib.queries[-1][1]["since"] == datetime(2024, 5, 2).timestamp()
    day1 = client.get("/search", params={"q": "dentist", "until": "2024-05-01"}).json()
    assert [r["entry_id"] for r in day1["results"]] == [fake_world.note]
    assert lib.queries[-1][1]["until"] == pytest.approx(datetime(2024, 5, 2).timestamp(), abs=1e-3)
    epoch = client.get("/search", params={"q": "dentist", "since": "1714600000"}).json()
    assert epoch["filters"]["since"] == 1714600000.0

    glob = client.get("/search", params={"q": "dentist", "path": "*.txt"}).json()
    assert [r["name"] for r in glob["results"]] == ["todo.txt"]
    assert glob["filters"] == {"modalities": None, "since": None, "until": None, "path": "*.txt"}
    one = client.get("/search", params={"q": "dentist", "k": 1}).json()
    assert len(one["results"]) == 1 and lib.queries[-1][1]["k"] == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "q: Field required"),
        ({"q": "   "}, "q: the query is empty"),
        ({"q": "x", "modality": "smell"}, "unknown modality 'smell'"),
        ({"q": "x", "k": "0"}, "k must be between 1 and 100, got 0"),
        ({"q": "x", "k": "many"}, "k: Input should be a valid integer"),
        ({"q": "x", "since": "last tuesday"}, "since: bad date 'last tuesday': use YYYY-MM-DD"),
        ({"q": "x", "since": "2024-05-03", "until": "2024-05-01"}, "is after until"),
    ],
)
def test_bad_search_input_is_a_422_with_a_message(
    client: TestClient, params: dict[str, str], message: str
) -> None:
    reply = client.get("/search", params=params)
    assert reply.status_code == 422
    assert reply.headers["content-type"] == "application/json"
    assert message in reply.json()["error"]


def test_query_by_example_uses_a_temporary_file(client: TestClient, fake_world: FakeWorld) -> None:
    reply = client.post(
        "/search",
        files={"file": ("my clip.mp4", CLIP_BYTES, "video/mp4")},
        data={"modality": "video,audio", "k": "3"},
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["query"] == "my clip.mp4" and body["query_kind"] == "file"
    assert body["results"][0]["entry_id"] == fake_world.video
    query_path, existed, content, kwargs = fake_world.library.queries[-1]
    assert isinstance(query_path, Path) and existed and content == CLIP_BYTES
    assert query_path.name == "my_clip.mp4"  # sanitised, suffix kept for the decoder
    assert kwargs["modalities"] == [Modality.AUDIO, Modality.VIDEO] and kwargs["k"] == 3
    assert not query_path.exists() and not query_path.parent.exists()  # deleted after

    missing = client.post("/search", data={"k": "3"})
    assert missing.status_code == 422 and "field 'file'" in missing.json()["error"]


def test_entries_by_id(client: TestClient, fake_world: FakeWorld) -> None:
    entry = client.get(f"/entries/{fake_world.audio}").json()
    assert entry["id"] == fake_world.audio and entry["modality"] == "audio"
    assert entry["text"] == "remember to call the dentist" and entry["duration"] == 1.5
    assert entry["created"] == datetime(2024, 5, 2, 8).timestamp()
    assert client.get(f"/entries/{'0' * 64}").status_code == 404
    assert "no entry" in client.get(f"/entries/{'0' * 64}").json()["error"]
    assert client.get("/entries/not-an-id").status_code == 404


def test_delete_removes_an_entry_by_id(client: TestClient, fake_world: FakeWorld) -> None:
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]["/entries/{entry_id}"]) == {"get", "delete"}
    gone = client.delete(f"/entries/{fake_world.audio}")
    assert gone.status_code == 200 and gone.json() == {"removed": [fake_world.audio]}
    schemas.RemovedOut.model_validate(gone.json())
    assert client.get(f"/entries/{fake_world.audio}").status_code == 404
    again = client.delete(f"/entries/{fake_world.audio}")
    assert again.status_code == 404 and "no entry" in again.json()["error"]
    assert client.delete("/entries/not-an-id").status_code == 404
    assert client.get("/health").json()["entries"] == 2


def test_media_ranges_let_players_seek(client: TestClient, fake_world: FakeWorld) -> None:
    url = f"/media/{fake_world.video}"
    full = client.get(url)
    assert full.status_code == 200 and full.content == CLIP_BYTES
    assert full.headers["content-type"] == "video/mp4"
    assert full.headers["accept-ranges"] == "bytes"
    assert full.headers["content-length"] == str(len(CLIP_BYTES))

    part = client.get(url, headers={"Range": "bytes=1000-1099"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 1000-1099/{len(CLIP_BYTES)}"
    assert part.content == CLIP_BYTES[1000:1100] and part.headers["content-length"] == "100"
    tail = client.get(url, headers={"Range": "bytes=-300"})
    assert tail.status_code == 206 and tail.content == CLIP_BYTES[-300:]
    open_end = client.get(url, headers={"Range": "bytes=10000-"})
    assert open_end.content == CLIP_BYTES[10000:]
    clipped = client.get(url, headers={"Range": "bytes=10200-99999"})
    assert clipped.headers["content-range"] == "bytes 10200-10239/10240"

    # A player seeking around reassembles the exact file from ranges.
    pieces = [(0, 4095), (4096, 8191), (8192, None)]
    got = b"".join(
        client.get(url, headers={"Range": f"bytes={a}-{'' if b is None else b}"}).content
        for a, b in pieces
    )
    assert got == CLIP_BYTES

    beyond = client.get(url, headers={"Range": "bytes=20000-20010"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(CLIP_BYTES)}"
    multi = client.get(url, headers={"Range": "bytes=0-1,5-6"})
    assert multi.status_code == 200 and multi.content == CLIP_BYTES  # served whole
    head = client.head(url, headers={"Range": "bytes=0-9"})
    assert (
        head.status_code == 206 and head.content == b"" and head.headers["content-length"] == "10"
    )

    assert client.get(f"/media/{fake_world.audio}").headers["content-type"] == "audio/wav"
    note = client.get(f"/media/{fake_world.note}")
    assert note.headers["content-type"] == "text/plain; charset=utf-8"
    assert note.text == "Buy milk and call the dentist tomorrow."


def test_media_if_range_sends_the_whole_file_when_it_changed(
    client: TestClient, fake_world: FakeWorld
) -> None:
    url = f"/media/{fake_world.video}"
    etag = client.get(url).headers["etag"]
    same = client.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert same.status_code == 206 and same.content == CLIP_BYTES[:10]
    stale = client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"an-older-etag"'})
    assert stale.status_code == 200 and stale.content == CLIP_BYTES
    for bad in ("bytes=9-2", "bytes=x-y", "items=0-9", "bytes=-"):  # ignored, not refused
        whole = client.get(url, headers={"Range": bad})
        assert whole.status_code == 200 and whole.content == CLIP_BYTES, bad


def test_missing_media_file_is_a_clean_404(client: TestClient, fake_world: FakeWorld) -> None:
    Path(fake_world.library.entries[fake_world.audio].path).unlink()
    reply = client.get(f"/media/{fake_world.audio}")
    assert reply.status_code == 404 and "missing on the server" in reply.json()["error"]


def test_timeline_and_stats(client: TestClient) -> None:
    days = client.get("/timeline").json()
    assert days == [
        {"date": "2024-05-01", "video": 1, "audio": 0, "text": 1},
        {"date": "2024-05-02", "video": 0, "audio": 1, "text": 0},
    ]
    stats = client.get("/stats").json()
    assert stats["entries"] == 3 and stats["entries_by_modality"]["video"] == 1
    html = client.get("/timeline", headers={"Accept": "text/html"})
    assert html.headers["content-type"].startswith("text/html") and "2024-05-02" in html.text
    forced = client.get("/stats?format=json", headers={"Accept": "text/html"})
    assert forced.json()["entries"] == 3


def test_upload_stores_and_ingests(client: TestClient, fake_world: FakeWorld) -> None:
    note = b"Pick up the parcel at the post office."
    reply = client.post(
        "/entries",
        files=[
            ("files", ("parcel.txt", note, "text/plain")),
            ("files", ("../../escape me.txt", b"another note about parcels", "text/plain")),
        ],
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["added"] == 2 and body["unchanged"] == 0 and body["failed"] == []
    assert body["entry_ids"][0] == hashlib.sha256(note).hexdigest()
    stored = sorted(p.name for p in (fake_world.root / "uploads").rglob("*") if p.is_file())
    assert stored == ["escape_me.txt", "parcel.txt"]
    assert client.get(f"/entries/{body['entry_ids'][0]}").json()["name"] == "parcel.txt"

    again = client.post("/entries", files={"files": ("parcel.txt", note, "text/plain")}).json()
    assert (again["added"], again["unchanged"]) == (0, 1)

    bad = client.post("/entries", files={"files": ("virus.exe", b"MZ", "application/x-msdos")})
    assert bad.status_code == 200
    assert bad.json()["failed"] == [
        {"name": "virus.exe", "reason": "virus.exe: unsupported file type"}
    ]
    assert not list((fake_world.root / "uploads").rglob("virus*"))  # a failed upload is removed
    empty = client.post("/entries", data={"x": "1"})
    assert empty.status_code == 422 and "no file uploaded" in empty.json()["error"]


def test_library_errors_are_json_without_traces(client: TestClient, fake_world: FakeWorld) -> None:
    fake_world.library.fail_next = LibraryError("library at /srv/lib is locked by another writer")
    reply = client.get("/search?q=tea")
    assert reply.status_code == 400
    assert reply.json() == {"error": "library at /srv/lib is locked by another writer"}

    fake_world.library.fail_next = RuntimeError("secret internals: password=hunter2")
    crash = client.get("/search?q=tea")
    assert crash.status_code == 500
    assert crash.json() == {"error": "internal error; the server log has the details"}
    assert "hunter2" not in crash.text and "Traceback" not in crash.text

    fake_world.library.fail_next = KeyError("boom")
    page = client.get("/stats", headers={"Accept": "text/html"})
    assert page.status_code == 500 and "Something went wrong" in page.text
    assert "boom" not in page.text and "Traceback" not in page.text


# ----------------------------------------------------------------------------- pages


def test_search_page_states(client: TestClient, fake_world: FakeWorld) -> None:
    html = {"Accept": "text/html"}
    home = client.get("/", headers=html)
    assert home.status_code == 200 and "3 entries in your library" in home.text
    assert 'id="q"' in home.text and "autofocus" in home.text

    found = client.get("/?q=pour+tea", headers=html)
    assert found.status_code == 200
    assert f'src="/media/{fake_world.video}#t=2.00,4.50"' in found.text
    assert 'data-start="2.0"' in found.text and "“now pour the tea”" in found.text
    assert "Play from 0:02.0" in found.text and f"/entry/{fake_world.video}?t=2.00" in found.text

    none = client.get("/?q=zebra+crossing", headers=html)
    assert none.status_code == 200 and "Nothing matched" in none.text

    bad = client.get("/?q=tea&k=0", headers=html)
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    assert "k must be between 1 and 100" in bad.text

    by_file = client.post("/", files={"file": ("probe.mp4", CLIP_BYTES, "video/mp4")})
    assert by_file.status_code == 200 and "for the file “probe.mp4”" in by_file.text
    assert f"/media/{fake_world.video}" in by_file.text

    fake_world.library.entries.clear()
    assert "Your library is empty" in client.get("/", headers=html).text


def test_cards_show_tags_that_search_when_clicked(
    client: TestClient, fake_world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import dataclass, field

    from tests.server.fake_library import FakeResult
    from xmodal.features.tags import Tag

    @dataclass
    class TaggedResult(FakeResult):
        tags: list[Tag] = field(default_factory=list)

    library = fake_world.library
    original = library.search

    def search(query, **kwargs):
        return [
            TaggedResult(
                **{**vars(r), "matched_by": ["tags", "tags-frozen"]},
                tags=[
                    Tag("sulphur-crested cockatoo", 0.71, "n01819313"),
                    Tag("face", 1.0, "n05600637"),
                ],
            )  # fmt: skip
            for r in original(query, **kwargs)
        ]

    monkeypatch.setattr(library, "search", search)
    page = client.get("/?q=pour+tea", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert 'href="/?q=sulphur-crested%20cockatoo"' in page.text and 'href="/?q=face"' in page.text
    assert '<span class="chip">tags</span>' in page.text  # matched by: tags
    body = client.get("/search", params={"q": "pour tea"}).json()
    schemas.SearchResponse.model_validate(body)
    assert body["results"][0]["tags"] == [
        {"name": "sulphur-crested cockatoo", "score": 0.71},
        {"name": "face", "score": 1.0},
    ]


def test_note_cards_say_where_in_the_document(
    client: TestClient, fake_world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import dataclass

    from tests.server.fake_library import FakeResult

    @dataclass
    class PlacedResult(FakeResult):
        place: str = ""

    library = fake_world.library
    original = library.search

    def search(query, **kwargs):
        return [PlacedResult(**vars(r), place="page 3") for r in original(query, **kwargs)]

    monkeypatch.setattr(library, "search", search)
    page = client.get("/?q=pour+tea", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert '<span class="place" title="where in the document">page 3</span>' in page.text
    body = client.get("/search", params={"q": "pour tea"}).json()
    schemas.SearchResponse.model_validate(body)
    assert {r["place"] for r in body["results"]} == {"page 3"}


def test_no_strong_match_is_said_and_the_closest_hits_shown(
    client: TestClient, fake_world: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import dataclass

    from tests.server.fake_library import FakeResult

    @dataclass
    class WeakResult(FakeResult):
        strong: bool = False

    library = fake_world.library
    original = library.search
    monkeypatch.setattr(
        library, "search", lambda q, **kw: [WeakResult(**vars(r)) for r in original(q, **kw)]
    )
    body = client.get("/search", params={"q": "pour tea"}).json()
    schemas.SearchResponse.model_validate(body)
    assert body["results"] and body["strong_match"] is False
    assert {r["strong"] for r in body["results"]} == {False}
    page = client.get("/?q=pour+tea", headers={"Accept": "text/html"})
    assert "No strong match." in page.text and 'class="results-grid closest"' in page.text
    monkeypatch.setattr(library, "search", original)
    strong = client.get("/search", params={"q": "pour tea"}).json()
    assert strong["strong_match"] is True  # results without the field are strong
    assert (
        "No strong match." not in client.get("/?q=pour+tea", headers={"Accept": "text/html"}).text
    )


def test_other_pages(client: TestClient, fake_world: FakeWorld) -> None:
    html = {"Accept": "text/html"}
    entry = client.get(f"/entry/{fake_world.video}?t=2", headers=html)
    assert entry.status_code == 200 and "the kettle is boiling now pour the tea" in entry.text
    assert f'src="/media/{fake_world.video}#t=2.00"' in entry.text
    note = client.get(f"/entry/{fake_world.note}", headers=html).text
    assert "Buy milk and call the dentist tomorrow." in note and "<video" not in note

    timeline = client.get("/timeline", headers=html).text
    assert timeline.count('class="day"') == 2 and 'class="fill-audio"' in timeline
    assert timeline.index("2024-05-02") < timeline.index("2024-05-01")  # newest first
    stats = client.get("/stats", headers=html).text
    assert "fake-model" in stats and "joint · 8-d · 4 vectors" in stats

    form = client.get("/upload", headers=html).text
    assert 'enctype="multipart/form-data"' in form and 'name="files"' in form
    done = client.post("/upload", files={"files": ("n.txt", b"a new note", "text/plain")})
    assert done.status_code == 200 and "1 file in your library" in done.text

    missing = client.get(f"/entry/{'f' * 64}", headers=html)
    assert missing.status_code == 404 and "Not found" in missing.text
    assert client.get("/no/such/page", headers=html).status_code == 404
    api = client.get("/api", headers=html)
    assert api.status_code == 200 and "<code>/search</code>" in api.text
    assert "SearchResultOut" in api.text and "video,audio,text (comma-separated)" in api.text
    assert client.get("/docs").status_code == 404  # Swagger UI would load a CDN script
    static = client.get("/static/app.js")
    assert static.status_code == 200 and "javascript" in static.headers["content-type"]


# ----------------------------------------------------------------------------- a real library


@pytest.fixture
def real_client(real_world: RealWorld) -> TestClient:
    """The app over a real LanceDB library (uploads go inside the library directory)."""
    settings = ServerSettings(library_dir=real_world.root / "library")
    app = create_app(real_world.library, settings)
    return TestClient(app, base_url="http://127.0.0.1:8765", raise_server_exceptions=False)


@pytest.mark.slow
def test_real_library_search_media_and_query_by_example(
    real_client: TestClient, real_world: RealWorld
) -> None:
    garden, birthday = real_world.ids["garden.mp4"], real_world.ids["birthday.wav"]
    entry = real_client.get(f"/entries/{garden}").json()
    assert entry["modality"] == "video" and entry["duration"] == pytest.approx(7.5, abs=0.3)
    # The clip says "welcome to the garden" after 5.5 s; "garden" is what recognition reliably
    # hears (the words around it vary with the recogniser's version).
    from xmodal.features.asr import normalise_phrase

    heard = normalise_phrase(entry["text"]).split()  # Whisper writes "Welcome to the garden."
    assert "garden" in heard, f"speech recognition heard {entry['text']!r}"

    body = real_client.get("/search", params={"q": GARDEN_QUERY}).json()
    schemas.SearchResponse.model_validate(body)
    top = body["results"][0]
    assert top["entry_id"] == garden and top["name"] == "garden.mp4"
    assert top["start"] == pytest.approx(5.0) and top["end"] > 7.0  # the second segment
    assert "garden" in top["text"] and "fts" in top["matched_by"]

    audio = real_client.get("/search", params={"q": "happy birthday", "modality": "audio"}).json()
    assert audio["results"][0]["entry_id"] == birthday
    assert {r["modality"] for r in audio["results"]} == {"audio"}
    notes = real_client.get("/search", params={"q": "oat milk", "path": "*.md"}).json()
    assert [r["name"] for r in notes["results"]] == ["groceries.md"]
    assert notes["results"][0]["start"] is None

    head = real_client.get(f"/media/{garden}", headers={"Range": "bytes=0-11"})
    assert head.status_code == 206 and head.headers["content-type"] == "video/mp4"
    assert head.content[4:8] == b"ftyp"  # an MP4 starts with its ftyp box
    size = Path(entry["path"]).stat().st_size
    assert head.headers["content-range"] == f"bytes 0-11/{size}"
    wav = real_client.get(f"/media/{birthday}")
    assert wav.headers["content-type"] == "audio/wav" and wav.content[:4] == b"RIFF"

    # Query by example: the recording's own bytes find it first.
    example = real_client.post("/search", files={"file": ("q.wav", wav.content, "audio/wav")})
    assert example.status_code == 200, example.text
    assert example.json()["results"][0]["entry_id"] == birthday

    stats = real_client.get("/stats").json()
    assert stats["backend"] == "lancedb" and stats["entries_by_modality"] == {
        "video": 1,
        "audio": 1,
        "text": 1,
    }
    assert (
        sum(d["video"] + d["audio"] + d["text"] for d in real_client.get("/timeline").json()) == 3
    )


@pytest.mark.slow
def test_real_library_upload_is_ingested_and_searchable(
    real_client: TestClient, real_world: RealWorld
) -> None:
    note = b"Pay the electricity bill before the end of the month.\n"
    reply = real_client.post("/entries", files={"files": ("bills.txt", note, "text/plain")})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    new_id = hashlib.sha256(note).hexdigest()
    assert body == {"entry_ids": [new_id], "added": 1, "unchanged": 0, "moved": 0, "failed": []}
    try:
        stored = Path(real_client.get(f"/entries/{new_id}").json()["path"])
        assert stored.parent.parent == (real_world.root / "library" / "uploads").resolve()
        hits = real_client.get("/search", params={"q": "electricity bill"}).json()["results"]
        assert hits[0]["entry_id"] == new_id
        again = real_client.post("/entries", files={"files": ("copy.txt", note, "text/plain")})
        assert again.json()["entry_ids"] == [new_id] and again.json()["added"] == 0
        assert [p.name for p in stored.parent.iterdir()] == ["bills.txt"]  # duplicate not kept
        broken = real_client.post(
            "/entries", files={"files": ("clip.mp4", b"not a video", "video/mp4")}
        )
        failed = broken.json()["failed"]
        assert len(failed) == 1 and failed[0]["name"] == "clip.mp4" and failed[0]["reason"]
        assert str(real_world.root) not in failed[0]["reason"]  # no server paths leak
    finally:
        real_world.library.remove(new_id)

"""The People view and API over a real library (the SyncNet man of tk19 and a GRID speaker of
tk16, among files a browser cannot play): people with face pictures, renaming, their moments."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import RealWorld
from xmodal.server.app import create_app
from xmodal.server.settings import ServerSettings


@pytest.fixture
def client(playback_world: RealWorld) -> TestClient:
    settings = ServerSettings(library_dir=playback_world.root / "library")
    return TestClient(
        create_app(playback_world.library, settings), base_url="http://127.0.0.1:8765"
    )


def test_people_pictures_names_and_moments(client: TestClient, playback_world: RealWorld) -> None:
    people = client.get("/people").json()
    files = {p["id"]: p["files"] for p in people}
    assert len(people) == 2 and set(files.values()) == {1}
    man = max(people, key=lambda p: p["faces"])  # tk19: 12.7 s in 2 s segments
    assert man["faces"] >= 5 and man["label"] == (man["name"] or f"person {man['id']}")
    face = client.get(man["picture_url"])
    assert face.status_code == 200 and face.headers["content-type"] == "image/jpeg"
    assert face.content[:2] == b"\xff\xd8"

    named = client.post(f"/people/{man['id']}/name", json={"name": "Zephyrine"})
    assert named.status_code == 200 and named.json()["name"] == "Zephyrine"
    moments = client.get(f"/people/{man['id']}").json()
    assert moments["person"]["label"] == "Zephyrine"
    eid = playback_world.ids["tk19_syncnet_example.avi"]
    assert len(moments["results"]) == man["faces"]
    assert {r["entry_id"] for r in moments["results"]} == {eid}
    assert all(r["matched_by"] == ["person"] and r["picture_url"] for r in moments["results"])
    by_name = client.get("/search", params={"q": "zephyrine"}).json()["results"]
    assert by_name and {r["entry_id"] for r in by_name} == {eid}

    page = client.get("/people", headers={"accept": "text/html"})
    assert page.status_code == 200 and "Zephyrine" in page.text
    assert f'action="/people/{man["id"]}/name"' in page.text and man["picture_url"] in page.text
    form = client.post(f"/people/{man['id']}/name", data={"name": "Zephyrine"},
                       follow_redirects=False)  # fmt: skip
    assert form.status_code == 303 and form.headers["location"].startswith("/people")
    his = client.get(f"/people/{man['id']}", headers={"accept": "text/html"})
    assert his.status_code == 200 and "Zephyrine" in his.text and "results-grid" in his.text


def test_people_errors(client: TestClient) -> None:
    assert client.get("/people/9999").status_code == 404
    assert client.post("/people/9999/name", json={"name": "X"}).status_code == 404
    assert client.post("/people/1/name", json={"name": "  "}).status_code == 422
    assert client.get(f"/faces/{'a' * 64}/0/0").status_code == 404
    assert client.get("/faces/nothex/0/0").status_code in (400, 404)
    cross = client.post("/people/1/name", data={"name": "Eve"},
                        headers={"origin": "http://evil.example"})  # fmt: skip
    assert cross.status_code == 403

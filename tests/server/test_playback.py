"""Playback and pictures over HTTP on a real library of files a browser cannot play as they
are: each is served as an H.264/AAC MP4 (or AAC) copy made on first play, ranges work on it,
``?original=1`` sends the file itself, and every hit has a picture."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import PLAYBACK_FILES, RealWorld
from xmodal.media import probe
from xmodal.server.app import create_app
from xmodal.server.settings import ServerSettings


@pytest.fixture
def playback_client(playback_world: RealWorld) -> TestClient:
    settings = ServerSettings(library_dir=playback_world.root / "library", proxy_cache_mb=64)
    return TestClient(
        create_app(playback_world.library, settings), base_url="http://127.0.0.1:8765"
    )


@pytest.mark.parametrize("name", PLAYBACK_FILES)
def test_media_is_served_as_a_playable_copy_with_ranges(
    playback_client: TestClient, playback_world: RealWorld, name: str, tmp_path: Path
) -> None:
    eid = playback_world.ids[name]
    whole = playback_client.get(f"/media/{eid}")
    assert whole.status_code == 200
    video = not name.endswith(".aiff")
    assert whole.headers["content-type"] == ("video/mp4" if video else "audio/mp4")
    assert Path(name).stem in whole.headers["content-disposition"]
    copy = tmp_path / ("copy.mp4" if video else "copy.m4a")
    copy.write_bytes(whole.content)
    info = probe(copy)
    assert info.audio is not None and info.audio.codec == "aac"
    assert (info.video is not None) is video and (not video or info.video.codec == "h264")
    part = playback_client.get(f"/media/{eid}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    original = playback_client.get(f"/media/{eid}?original=1")
    assert (
        original.status_code == 200
        and original.content == (playback_world.root / "media" / name).read_bytes()
    )


def test_every_hit_has_a_picture(playback_client: TestClient, playback_world: RealWorld) -> None:
    lib = playback_world.library
    for name, eid in playback_world.ids.items():
        word = max(lib.get(eid).text.split(), key=len).strip(".,!?")
        (row,) = [r for r in playback_client.get("/search", params={"q": word, "k": 10})
                  .json()["results"] if r["entry_id"] == eid][:1]  # fmt: skip
        assert row["picture_url"] is not None, name
        picture = playback_client.get(row["picture_url"])
        assert picture.status_code == 200
        kind = "image/svg+xml" if name.endswith(".aiff") else "image/jpeg"
        assert picture.headers["content-type"].startswith(kind)
    assert playback_client.get(f"/pictures/{'0' * 64}").status_code == 404
    page = playback_client.get("/?q=" + max(lib.get(playback_world.ids["memo.aiff"]).text.split(),
                                               key=len).strip(".,!?"),
                               headers={"Accept": "text/html"})  # fmt: skip
    assert 'class="waveform"' in page.text and "?original=1" in page.text

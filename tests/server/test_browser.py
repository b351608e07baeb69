"""End to end in a real browser: headless Chromium (Debian's ``/usr/bin/chromium``) driven by
Playwright, against the real server (uvicorn, loopback) over a real library.

Under ``CI=true`` this test must run: a missing browser or Playwright fails it. Elsewhere it is
skipped with a message naming what is missing. Screenshots go to ``.cache/screenshots/``
(git-ignored).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.server.conftest import GARDEN_QUERY, PLAYBACK_FILES, RealWorld
from xmodal.server.app import create_app
from xmodal.server.settings import ServerSettings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = REPO_ROOT / ".cache" / "screenshots"


@pytest.fixture(scope="session")
def browser_ready() -> None:
    """Skip (or under CI fail) at once when Chromium or Playwright is missing, before the
    real library is built."""
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"Chromium at {CHROMIUM} (Debian: apt-get install chromium; `make test`)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package playwright (pip install -e '.[dev]')")
    if missing:
        message = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def live_server(browser_ready: None, real_world: RealWorld) -> Iterator[str]:
    """The real app on a free loopback port (uvicorn in a thread); yields its base URL."""
    app = create_app(real_world.library, ServerSettings(library_dir=real_world.root / "library"))
    yield from _serve(app)


@pytest.fixture(scope="module")
def playback_server(browser_ready: None, playback_world: RealWorld) -> Iterator[str]:
    """The app over the library of files a browser cannot play as they are."""
    settings = ServerSettings(library_dir=playback_world.root / "library", proxy_cache_mb=64)
    yield from _serve(create_app(playback_world.library, settings))


def _serve(app: object) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread on a free loopback port; yield its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextlib.contextmanager
def _chromium(tmp_path: Path, errors: list[str]) -> Iterator[tuple[object, object]]:
    """Headless Chromium with a fresh profile: ``(context, page)``; console errors and page
    errors go to ``errors``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh user-data dir
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 860},
        )
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield context, page


@pytest.mark.slow
def test_search_and_play_in_chromium(
    browser_ready: None, live_server: str, real_world: RealWorld, tmp_path: Path
) -> None:
    garden = real_world.ids["garden.mp4"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with _chromium(tmp_path, errors) as (context, page):
        try:
            page.goto(live_server + "/")
            assert page.title() == "Search · xmodal"
            assert "3 entries in your library" in page.inner_text("main")

            # "/" focuses the search box from anywhere; Enter searches.
            page.locator("a.brand").focus()
            page.keyboard.press("/")
            assert page.evaluate("document.activeElement.id") == "q"
            page.keyboard.type(GARDEN_QUERY)
            page.keyboard.press("Enter")
            page.wait_for_url(f"**/?q={GARDEN_QUERY}*")

            first = page.locator(".results-grid > li").first
            assert first.get_attribute("data-entry-id") == garden
            assert GARDEN_QUERY in first.locator(".transcript").inner_text()
            assert "0:05.0–0:07.5" in first.locator(".timespan").inner_text()
            video = first.locator("video")
            assert video.get_attribute("src") == f"/media/{garden}#t=5.00,7.50"

            # Results are reachable with Tab: the first result's title link takes focus.
            page.locator("#q").focus()
            for _ in range(12):
                page.keyboard.press("Tab")
                if page.evaluate("document.activeElement.closest('.card') !== null"):
                    break
            assert page.evaluate("document.activeElement.closest('.card') !== null")

            # Play the matched segment: playback starts at 5 s and advances.
            first.get_by_role("button", name="Play garden.mp4 from 0:05.0").click()
            page.wait_for_function(
                "() => { const v = document.getElementById('player-1');"
                " return v && !v.paused && v.currentTime > 5.2; }",
                timeout=20_000,
            )
            state = video.evaluate("v => [v.paused, v.currentTime, v.duration, v.error]")
            assert state[0] is False and 5.0 < state[1] < 7.6 and state[3] is None
            page.screenshot(path=str(SCREENSHOTS / "search-desktop.png"), full_page=True)

            # Query by example: a recording chosen in the drop zone is searched at once.
            page.goto(live_server + "/")
            page.set_input_files("#query-file", str(real_world.root / "media" / "birthday.wav"))
            page.wait_for_selector(".results-title", timeout=30_000)
            assert "for the file “birthday.wav”" in page.inner_text(".results-title")
            by_file = page.locator(".results-grid > li").first
            assert by_file.get_attribute("data-entry-id") == real_world.ids["birthday.wav"]

            page.goto(live_server + f"/?q={GARDEN_QUERY}")
            page.set_viewport_size({"width": 390, "height": 844})
            page.screenshot(path=str(SCREENSHOTS / "search-mobile.png"), full_page=True)
            columns = page.evaluate(
                "getComputedStyle(document.querySelector('.results-grid'))"
                ".gridTemplateColumns.split(' ').length"
            )
            assert columns == 1  # the grid collapses to one column on a phone
        finally:
            context.close()
    assert errors == [], errors  # no script errors and no Content-Security-Policy violations
    assert (SCREENSHOTS / "search-desktop.png").stat().st_size > 10_000


@pytest.mark.slow
def test_files_a_browser_cannot_play_play_from_their_hit(
    browser_ready: None, playback_server: str, playback_world: RealWorld, tmp_path: Path
) -> None:
    """An AVI, an MPEG-1 .mpg, an MPEG-2 MKV and an AIFF: each is found by a word of its own
    transcript, its card shows a picture before anything loads, and its Play button plays
    it (through its playable copy) from the hit's start."""
    lib = playback_world.library
    errors: list[str] = []
    with _chromium(tmp_path, errors) as (context, page):
        try:
            for name in PLAYBACK_FILES:
                eid = playback_world.ids[name]
                word = max(lib.get(eid).text.split(), key=len).strip(".,!?")
                page.goto(f"{playback_server}/?q={word}")
                card = page.locator(f'.results-grid > li[data-entry-id="{eid}"]').first
                player = card.locator("video, audio").first
                if name.endswith(".aiff"):  # the waveform drawn at ingest
                    assert card.locator("img.waveform").evaluate("i => i.naturalWidth") > 0
                else:  # the poster: a thumbnail, shown before the video loads
                    assert player.get_attribute("poster").startswith(f"/pictures/{eid}")
                    assert player.get_attribute("preload") == "none"
                start = float(player.get_attribute("data-start") or 0)
                card.locator("button.play-segment").click()
                pid = player.get_attribute("id")
                page.wait_for_function(
                    f"() => {{ const m = document.getElementById('{pid}');"
                    f" return m && m.readyState >= 2 && m.currentTime > {start + 0.3}; }}",
                    timeout=30_000,
                )
                state = player.evaluate("m => [m.readyState, m.currentTime, m.error]")
                assert state[0] >= 2 and state[1] > start + 0.3 and state[2] is None, (name, state)
        finally:
            context.close()
    assert errors == [], errors


def test_people_view_in_chromium(
    browser_ready: None, playback_server: str, playback_world: RealWorld, tmp_path: Path
) -> None:
    """The People page shows each person's face, a name typed into their card sticks, and
    their card leads to the moments they are seen in, which play."""
    errors: list[str] = []
    eid = playback_world.ids["tk19_syncnet_example.avi"]
    with _chromium(tmp_path, errors) as (context, page):
        try:
            page.goto(f"{playback_server}/people")
            cards = page.locator(".people-grid > li.person-card")
            assert cards.count() == 2
            faces = cards.locator("img.face")
            assert all(faces.nth(i).evaluate("i => i.complete && i.naturalWidth") > 0
                       for i in range(faces.count()))  # fmt: skip
            first = cards.first  # most seen first: the man of tk19
            first.locator("input[name=name]").fill("Oriel Vance")
            first.locator("button[type=submit]").click()
            page.wait_for_url("**/people#person-*")
            assert page.locator(".person-card .person-name").first.inner_text() == "Oriel Vance"
            page.screenshot(path=str(SCREENSHOTS / "people.png"), full_page=True)
            page.locator(".person-card .person-link").first.click()
            page.wait_for_selector(".results-grid > li")
            assert page.locator("h1").inner_text() == "Oriel Vance"
            ids = page.locator(".results-grid > li").evaluate_all(
                "cards => cards.map(c => c.dataset.entryId)"
            )
            assert ids and set(ids) == {eid}
        finally:
            context.close()
    assert errors == [], errors

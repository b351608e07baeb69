"""Security of the web app: tokens, upload limits, no path in URLs, content types, headers.

Runs over ``FakeLibrary`` (a labelled test double): these checks are about the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import FakeWorld
from xmodal.server.ranges import content_type
from xmodal.server.settings import ServerSettings, is_loopback

TOKEN = "s3cret-token-for-tests"


# ----------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_settings_refuse_a_public_bind_without_a_token() -> None:
    with pytest.raises(ValueError, match="refusing to listen on 0.0.0.0 without a token"):
        ServerSettings(host="0.0.0.0")
    assert ServerSettings(host="0.0.0.0", token=TOKEN).auth_required
    assert not ServerSettings(host="127.0.0.1").auth_required
    with pytest.raises(ValueError, match="at least 8 characters"):
        ServerSettings(token="short")
    with pytest.raises(ValueError, match="may only use"):
        ServerSettings(token="has a space; and semicolon")
    with pytest.raises(ValueError, match="max_upload_mb must be > 0"):
        ServerSettings(max_upload_mb=0)
    with pytest.raises(ValueError, match="either a library directory"):
        ServerSettings(library_dir=Path("/tmp/x"), db_url="postgresql://localhost/x")
    assert ServerSettings(max_upload_mb=2).max_upload_bytes == 2 * 1024 * 1024


# ----------------------------------------------------------------------------- token


@pytest.fixture
def guarded(make_client: Callable[..., TestClient]) -> Iterator[TestClient]:
    """A server bound to every interface, with a token."""
    client = make_client(host="0.0.0.0", token=TOKEN)
    with client:
        yield client


def test_every_request_needs_the_token(guarded: TestClient, fake_world: FakeWorld) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for url in ("/health", "/search?q=tea", f"/media/{fake_world.video}", "/stats", "/nope"):
        denied = guarded.get(url)
        assert denied.status_code == 401, url
        assert denied.headers["www-authenticate"] == 'Bearer realm="xmodal"'
        assert "token" in denied.json()["error"]
    wrong = guarded.get("/health", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert guarded.get("/health", headers=bearer).json()["auth"] is True
    assert guarded.get(f"/media/{fake_world.video}", headers=bearer).status_code == 200
    assert guarded.post("/entries", files={"files": ("a.txt", b"x")}).status_code == 401
    # The stylesheet, the script and the sign-in form are public.
    assert guarded.get("/static/app.css").status_code == 200
    assert guarded.get("/login").status_code == 200


def test_browser_sign_in_sets_an_http_only_cookie(guarded: TestClient) -> None:
    page = guarded.get("/stats", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fstats"

    bad = guarded.post("/login", data={"token": "guess-guess", "next": "/stats"})
    assert bad.status_code == 401 and "not right" in bad.text
    assert "xmodal_token" not in guarded.cookies

    good = guarded.post("/login", data={"token": TOKEN, "next": "/stats"}, follow_redirects=False)
    assert good.status_code == 303 and good.headers["location"] == "/stats"
    cookie = good.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert guarded.get("/stats", headers={"Accept": "text/html"}).status_code == 200

    guarded.post("/logout")
    guarded.cookies.clear()
    assert guarded.get("/health").status_code == 401

    # No open redirect after sign-in.
    away = guarded.post(
        "/login", data={"token": TOKEN, "next": "//evil.example/x"}, follow_redirects=False
    )
    assert away.headers["location"] == "/"


def test_token_in_the_url_once(guarded: TestClient) -> None:
    reply = guarded.get(f"/search?q=tea&token={TOKEN}", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/search?q=tea"  # the token leaves the address bar
    assert "xmodal_token=" in reply.headers["set-cookie"]
    assert guarded.get("/search?q=tea").status_code == 200  # now the cookie carries it
    guarded.cookies.clear()
    assert guarded.get("/search?q=tea&token=wrong-token").status_code == 401


def test_loopback_without_token_needs_no_auth(client: TestClient) -> None:
    assert client.get("/health").status_code == 200


# ----------------------------------------------------------------------------- uploads


def test_upload_limit_is_a_413_and_nothing_is_kept(
    make_client: Callable[..., TestClient], fake_world: FakeWorld
) -> None:
    client = make_client(max_upload_mb=0.25)  # 256 KiB
    uploads = fake_world.root / "uploads"
    big = b"x" * (400 * 1024)
    reply = client.post("/entries", files={"files": ("big.txt", big, "text/plain")})
    assert reply.status_code == 413
    assert reply.json() == {"error": "upload too large: the limit is 0.25 MiB"}

    # Without a Content-Length (chunked), the body is counted as it arrives.
    def chunks() -> Iterator[bytes]:
        yield b"--b\r\nContent-Disposition: form-data; name=files; filename=big.txt\r\n\r\n"
        for _ in range(40):
            yield b"y" * 10_000
        yield b"\r\n--b--\r\n"

    chunked = client.post(
        "/entries", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert chunked.status_code == 413
    query = client.post("/search", files={"file": ("q.mp4", big, "video/mp4")})
    assert query.status_code == 413
    assert not uploads.exists() or not [p for p in uploads.rglob("*") if p.is_file()]

    fits = client.post("/entries", files={"files": ("ok.txt", b"z" * (200 * 1024), "text/plain")})
    assert fits.status_code == 200 and fits.json()["added"] == 1
    page = client.post(
        "/upload",
        files={"files": ("big.txt", big, "text/plain")},
        headers={"Accept": "text/html"},
    )
    assert page.status_code == 413 and "File too large" in page.text


def test_upload_names_cannot_escape_the_uploads_folder(
    client: TestClient, fake_world: FakeWorld
) -> None:
    for name in ("../../../etc/cron.d/evil.txt", "..\\..\\win.txt", ".hidden.txt", "/abs.txt"):
        reply = client.post("/entries", files={"files": (name, name.encode(), "text/plain")})
        assert reply.status_code == 200, reply.text
    files = [p for p in (fake_world.root / "uploads").rglob("*") if p.is_file()]
    assert sorted(p.name for p in files) == ["abs.txt", "evil.txt", "hidden.txt", "win.txt"]
    assert all(p.resolve().is_relative_to((fake_world.root / "uploads").resolve()) for p in files)


# ----------------------------------------------------------------------------- media


@pytest.mark.parametrize(
    "url",
    [
        "/media/../../etc/passwd",
        "/media/..%2F..%2Fetc%2Fpasswd",
        "/media/%2Fetc%2Fpasswd",
        "/media/etc/passwd",
        "/media/" + "a" * 63,
        "/media/" + "A" * 64,
        "/static/../app.py",
        "/static/%2e%2e/app.py",
    ],
)
def test_no_path_reaches_the_file_system(client: TestClient, url: str) -> None:
    reply = client.get(url)
    assert reply.status_code == 404
    assert b"root:" not in reply.content and b"create_app" not in reply.content


def test_content_types_never_make_library_files_active(
    client: TestClient, fake_world: FakeWorld, tmp_path: Path
) -> None:
    assert content_type("a.MP4") == "video/mp4"
    assert content_type("a.mp3") == "audio/mpeg"
    assert content_type("a.wav") == "audio/wav"
    assert content_type("a.md") == "text/plain; charset=utf-8"
    assert content_type("a.html") == "application/octet-stream"
    assert content_type("a.svg") == "application/octet-stream"
    # A library file named .html is served inert, with nosniff and a strict CSP.
    page = fake_world.root / "media" / "page.html"
    page.write_text("<script>alert(1)</script>")
    eid = fake_world.library.put(fake_world.root / "media" / "todo.txt")
    fake_world.library.entries[eid].path = str(page)
    reply = client.get(f"/media/{eid}")
    assert reply.headers["content-type"] == "application/octet-stream"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in reply.headers["content-security-policy"]


def test_pages_carry_security_headers_and_escape_input(client: TestClient) -> None:
    reply = client.get("/?q=<script>alert(1)</script>", headers={"Accept": "text/html"})
    assert "<script>alert(1)</script>" not in reply.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in reply.text
    assert reply.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in reply.headers["content-security-policy"]
    assert "<script>" not in reply.text.replace('<script src="/static/app.js" defer></script>', "")


def test_cross_site_requests_are_refused(client: TestClient) -> None:
    # DNS rebinding: another site's name pointing at 127.0.0.1 cannot read the library.
    assert client.get("/health", headers={"Host": "evil.example"}).status_code == 403
    assert client.get("/health", headers={"Host": "localhost:8765"}).status_code == 200
    evil = {"Origin": "https://evil.example"}
    upload = client.post("/entries", files={"files": ("a.txt", b"x")}, headers=evil)
    assert upload.status_code == 403 and upload.json() == {"error": "cross-site request refused"}
    removal = client.delete(f"/entries/{'a' * 64}", headers=evil)
    assert removal.status_code == 403 and removal.json() == {"error": "cross-site request refused"}
    site = client.post(
        "/", files={"file": ("a.txt", b"x")}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert site.status_code == 403
    same = client.post(
        "/entries",
        files={"files": ("b.txt", b"y")},
        headers={"Origin": "http://127.0.0.1:8765", "Sec-Fetch-Site": "same-origin"},
    )
    assert same.status_code == 200


def test_errors_never_show_stack_traces(client: TestClient, fake_world: FakeWorld) -> None:
    broken = client.post(
        "/entries", content=b"--x\r\ngarbage", headers={"content-type": "multipart/form-data"}
    )
    assert broken.status_code == 400 and "could not parse the form" in broken.json()["error"]
    fake_world.library.fail_next = ZeroDivisionError("division by zero in a secret place")
    crash = client.get(f"/entries/{fake_world.video}")
    assert crash.status_code == 500 and "secret" not in crash.text
    assert "Traceback" not in crash.text and 'File "' not in crash.text
    wrong_method = client.delete("/search")
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"error": "DELETE is not allowed on /search"}

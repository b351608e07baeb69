"""ASGI middleware of the web app: token auth, request-body limit, security headers.

Each is a plain ASGI wrapper (no ``BaseHTTPMiddleware``), so streamed media responses pass
through untouched. None holds state of its own beyond its configuration.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE_NAME = "xmodal_token"
PUBLIC_PREFIXES = ("/static/", "/login")
"""Paths served without the token: the stylesheet and script, and the login form itself."""

MULTIPART_SLACK = 64 * 1024
"""Bytes of multipart framing (boundaries, part headers, small fields) allowed on top of the
upload limit, so a file of exactly the limit is accepted."""

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        b"form-action 'self'; frame-ancestors 'none'",
    ),
]


class UploadTooLarge(Exception):
    """A request body went over the configured limit (answered with 413)."""

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"upload too large: the limit is {limit_bytes / (1 << 20):g} MiB")
        self.limit_bytes = limit_bytes


def token_matches(given: str | None, token: str) -> bool:
    """Constant-time comparison of a presented token with the configured one."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    for part in raw.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _wants_html(scope: Scope) -> bool:
    return "text/html" in (_header(scope, b"accept") or "")


async def _send_simple(
    send: Send, status: int, body: bytes, content_type: bytes, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + extra})
    await send({"type": "http.response.body", "body": body})


async def send_json_error(
    send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer with ``{"error": message}`` from inside a middleware."""
    body = json.dumps({"error": message}).encode()
    await _send_simple(send, status, body, b"application/json", extra or [])


class TokenAuth:
    """Require the token on every request except :data:`PUBLIC_PREFIXES`.

    Accepted credentials: ``Authorization: Bearer <token>``, the ``xmodal_token`` cookie, or
    ``?token=<token>`` on a GET (which sets the cookie and redirects to the same URL without
    it, so the token does not stay in the address bar or the history). A browser without
    credentials is sent to ``/login``; an API client gets 401 JSON.
    """

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.token is None:
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        auth = _header(scope, b"authorization") or ""
        scheme, _, credential = auth.partition(" ")
        if scheme.lower() == "bearer" and token_matches(credential.strip(), self.token):
            await self.app(scope, receive, send)
            return
        if token_matches(_cookie(scope, COOKIE_NAME), self.token):
            await self.app(scope, receive, send)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = [v for k, v in query if k == "token"]
        if given and scope.get("method") == "GET" and token_matches(given[-1], self.token):
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            location = path + (f"?{rest}" if rest else "")
            await _send_simple(
                send,
                303,
                b"",
                b"text/plain",
                [
                    (b"location", location.encode("latin-1")),
                    (b"set-cookie", cookie_header(self.token, secure=_is_https(scope))),
                    (b"cache-control", b"no-store"),
                ],
            )
            return
        if _wants_html(scope) and scope.get("method") in ("GET", "HEAD"):
            target = urlencode({"next": path})
            await _send_simple(
                send, 303, b"", b"text/plain", [(b"location", f"/login?{target}".encode())]
            )
            return
        await send_json_error(
            send,
            401,
            "this server needs a token: send 'Authorization: Bearer <token>'",
            [(b"www-authenticate", b'Bearer realm="xmodal"')],
        )


def _is_https(scope: Scope) -> bool:
    return scope.get("scheme") == "https"


def cookie_header(token: str, secure: bool = False, max_age: int = 30 * 24 * 3600) -> bytes:
    """The ``Set-Cookie`` value that stores the token (HttpOnly, SameSite=Strict)."""
    parts = [f"{COOKIE_NAME}={token}", "Path=/", "HttpOnly", "SameSite=Strict"]
    parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode("latin-1")


class BodyLimit:
    """Refuse request bodies over ``limit_bytes`` (+ multipart framing) with 413.

    :class:`UploadTooLarge` is raised from ``receive`` (the app turns it into a 413 page or
    JSON): at once when the declared ``Content-Length`` is over the limit, before a byte is
    read; otherwise (a chunked body) the moment the bytes received go over.
    """

    def __init__(self, app: ASGIApp, limit_bytes: int) -> None:
        self.app = app
        self.limit = limit_bytes
        self.allowed = limit_bytes + MULTIPART_SLACK

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        try:
            refuse = declared is not None and int(declared) > self.allowed
        except ValueError:
            await send_json_error(send, 400, "bad Content-Length header")
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            if refuse:  # declared too large: refuse before reading a byte
                raise UploadTooLarge(self.limit)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.allowed:
                    raise UploadTooLarge(self.limit)
            return message

        await self.app(scope, counted, send)


class SecurityHeaders:
    """Add ``nosniff``, a strict Content-Security-Policy and friends to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, with_headers)


_UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _host_name(host_header: str) -> str:
    """``example.org:8765`` -> ``example.org``; ``[::1]:8765`` -> ``::1``."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class SameOrigin:
    """Refuse requests another web site could make on the user's behalf.

    * Without a token (loopback only), the ``Host`` header must name the loopback interface:
      a page on another site that rebinds its DNS name to 127.0.0.1 cannot read the library.
    * A state-changing request (POST, ...) whose ``Origin`` is not this server is refused
      (cross-site form posts to upload or search).
    """

    def __init__(self, app: ASGIApp, bind_host: str, token: str | None) -> None:
        self.app = app
        self.bind_host = bind_host.strip("[]").lower()
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from xmodal.server.settings import is_loopback

        host = (_header(scope, b"host") or "").strip().lower()
        name = _host_name(host)
        if self.token is None and not (is_loopback(name) or name == self.bind_host):
            await send_json_error(send, 403, f"unexpected Host header {host!r}")
            return
        if scope.get("method") in _UNSAFE_METHODS:
            origin = _header(scope, b"origin")
            site = _header(scope, b"sec-fetch-site")
            cross = site is not None and site not in ("same-origin", "none")
            if origin is not None and origin.split("://", 1)[-1].lower() != host:
                cross = True  # includes "null" (sandboxed frames, file: pages)
            if cross:
                await send_json_error(send, 403, "cross-site request refused")
                return
        await self.app(scope, receive, send)

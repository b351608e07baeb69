"""The web server's settings: where it listens, who may use it, and how much it accepts.

A server bound to anything but the loopback interface is reachable by other machines, so it
refuses to exist without a token (:class:`ServerSettings` raises in ``__post_init__``).
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

TOKEN_ENV = "XMODAL_TOKEN"
"""Environment variable read by ``xmodal serve`` when ``--token`` is not given."""

MIN_TOKEN_LENGTH = 8
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9\-._~+/=!#$%&'*^`|]+")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names the loopback interface (127.0.0.0/8, ``::1`` or ``localhost``).

    Anything else (``0.0.0.0``, ``::``, a LAN address, a hostname) may be reachable from other
    machines.
    """
    name = host.strip().lower()
    if name in ("localhost", "localhost."):
        return True
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass
class ServerSettings:
    """How ``xmodal serve`` runs.

    Attributes:
        host: interface to bind; loopback unless told otherwise.
        port: TCP port (0 lets the OS pick one; tests do that).
        token: shared secret; required when ``host`` is not loopback. With a token every
            request must carry ``Authorization: Bearer <token>`` or the ``xmodal_token`` cookie
            set by the login form (or by ``?token=`` once).
        max_upload_mb: largest request body accepted by uploads and query-by-example (MiB).
        library_dir: the LanceDB library directory (``--library``); ``None`` for the default.
        db_url: a PostgreSQL library (``--db``) instead of a directory.
        uploads_dir: where uploaded files are kept before ingest; ``None`` means ``uploads/``
            inside the library directory (or beside the default one for a database library).
        max_search_k: the largest ``k`` a search may ask for.
        proxy_cache_mb: size of the cache of playable copies (MiB) of files a browser cannot
            play as they are (:mod:`xmodal.library.proxies`).
    """

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    max_upload_mb: float = 512.0
    library_dir: Path | None = None
    db_url: str | None = None
    uploads_dir: Path | None = None
    max_search_k: int = 100
    proxy_cache_mb: float = 2048.0

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host.strip():
            raise ValueError("host must be a non-empty interface name or address")
        self.host = self.host.strip()
        if isinstance(self.port, bool) or not 0 <= int(self.port) <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        self.port = int(self.port)
        if self.token is not None:
            self.token = self.token.strip() or None
        if self.token is not None and len(self.token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"token must be at least {MIN_TOKEN_LENGTH} characters")
        if self.token is not None and not _TOKEN_CHARS.fullmatch(self.token):
            raise ValueError(
                "token may only use letters, digits and -._~+/=!#$%&'*^`| (it is sent in a "
                "header and a cookie)"
            )
        if self.token is None and not is_loopback(self.host):
            raise ValueError(
                f"refusing to listen on {self.host} without a token: other machines could read "
                f"your library. Pass --token (or set {TOKEN_ENV}), or bind 127.0.0.1"
            )
        if not self.max_upload_mb > 0:
            raise ValueError(f"max_upload_mb must be > 0, got {self.max_upload_mb}")
        if self.library_dir is not None and self.db_url:
            raise ValueError("give either a library directory (--library) or a database (--db)")
        if self.library_dir is not None:
            self.library_dir = Path(self.library_dir)
        if self.uploads_dir is not None:
            self.uploads_dir = Path(self.uploads_dir)
        if int(self.max_search_k) < 1:
            raise ValueError(f"max_search_k must be >= 1, got {self.max_search_k}")
        if not self.proxy_cache_mb >= 0:
            raise ValueError(f"proxy_cache_mb must be >= 0, got {self.proxy_cache_mb}")

    @property
    def max_upload_bytes(self) -> int:
        """``max_upload_mb`` in bytes."""
        return int(self.max_upload_mb * (1 << 20))

    @property
    def auth_required(self) -> bool:
        """Whether requests must carry the token."""
        return self.token is not None

    def resolved_uploads_dir(self) -> Path:
        """The folder uploads are written to (created on first upload)."""
        if self.uploads_dir is not None:
            return self.uploads_dir
        if self.library_dir is not None:
            return self.library_dir / "uploads"
        from xmodal.library.store import default_library_dir

        base = default_library_dir()
        # A database library has no directory of its own: keep uploads beside the default one.
        return base / "uploads" if not self.db_url else base.parent / "uploads"

    @classmethod
    def token_from_env(cls) -> str | None:
        """The token in ``$XMODAL_TOKEN``, if set."""
        return os.environ.get(TOKEN_ENV) or None

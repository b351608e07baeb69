"""``xmodal serve``: the web app and HTTP API of a memory library."""

from __future__ import annotations

from pathlib import Path

import typer


def serve(
    library: Path | None = typer.Option(
        None,
        "--library",
        help="Library directory (default: ~/.local/share/xmodal/library).",
        show_default=False,
    ),
    db: str | None = typer.Option(
        None,
        "--db",
        help="PostgreSQL library URL instead of a directory (or set XMODAL_DATABASE_URL).",
        show_default=False,
    ),
    model: Path | None = typer.Option(
        None,
        "--model",
        help="The library's joint space run directory, if it is not registered on this machine.",
        show_default=False,
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface to listen on; anything but loopback needs --token."
    ),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="TCP port (0: any free one)."),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="XMODAL_TOKEN",
        help="Require this token (Authorization: Bearer, or the sign-in form). "
        "Also read from XMODAL_TOKEN. Required unless --host is loopback.",
        show_default=False,
        show_envvar=False,
    ),
    max_upload_mb: float = typer.Option(
        512.0, "--max-upload-mb", min=0.001, help="Largest upload or query file (MiB)."
    ),
    uploads_dir: Path | None = typer.Option(
        None,
        "--uploads-dir",
        help="Where uploaded files are kept (default: LIBRARY/uploads).",
        show_default=False,
    ),
    log_level: str = typer.Option(
        "info", "--log-level", help="Server log level: critical, error, warning, info, debug."
    ),
    search_workers: int | None = typer.Option(
        None,
        "--search-workers",
        min=1,
        help="Processes that encode search queries (default: one per core).",
        show_default=False,
    ),
    search_threads: int = typer.Option(
        1, "--search-threads", min=1, help="Torch threads of each query-encoding process."
    ),
    proxy_cache_mb: float = typer.Option(
        2048.0,
        "--proxy-cache-mb",
        min=0,
        help="Disk for playable copies of files a browser cannot play (AVI, MPEG-2, AIFF, ...); "
        "made on first play, least recently played evicted.",
    ),
) -> None:
    """Serve the web app and HTTP API of a library (search, timeline, stats, upload).

    Open http://127.0.0.1:8765/ in a browser; the API reference is at /api.

    Listens on loopback only by default; any other --host needs a --token.

    Searches run in parallel: each query is encoded in a pool of --search-workers processes
    (one per core by default; they start with the server and end with it) with
    --search-threads torch threads each; an upload's ingest runs beside them without blocking
    them.

    Beyond a trusted network, put it behind HTTPS (a reverse proxy). Ctrl-C stops it.
    """
    from xmodal.cli._common import user_errors
    from xmodal.library.records import LibraryError
    from xmodal.server.settings import ServerSettings

    with user_errors(LibraryError, ImportError):
        if log_level.lower() not in ("critical", "error", "warning", "info", "debug"):
            raise ValueError(
                f"--log-level {log_level!r}: use critical, error, warning, info or debug"
            )
        settings = ServerSettings(
            host=host,
            port=port,
            token=token,
            max_upload_mb=max_upload_mb,
            library_dir=library,
            db_url=db,
            uploads_dir=uploads_dir,
            proxy_cache_mb=proxy_cache_mb,
        )
        import uvicorn

        from xmodal.library.library import Library
        from xmodal.library.pool import PoolConfig
        from xmodal.server.app import create_app

        search = PoolConfig(
            encode_workers=search_workers, encode_threads=search_threads, processes=True
        )
        lib = Library.open(library_dir=library, db_url=db, model=model, search=search)
    try:
        workers = lib.pool.start()  # the query encoders load before the first request
        typer.echo(f"xmodal: {len(workers)} query-encoding processes ready", err=True)
        app = create_app(lib, settings)
        shown = f"[{host}]" if ":" in host else host
        typer.echo(
            f"xmodal: serving the library at http://{shown}:{port}/"
            + (" (token required)" if settings.token else "")
            + " — Ctrl-C to stop",
            err=True,
        )
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=log_level.lower(),
            server_header=False,
            proxy_headers=False,
        )
    finally:
        lib.close()

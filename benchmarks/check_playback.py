"""Does every video and recording of ``../shared/media`` play in Chromium from the web page?

Ingests every file of the folder (``talking/`` included; light encoders, no speech recognition:
only playback is checked) into a fresh library, serves it on loopback, and opens each entry's
page in headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright). A file plays
when its player reaches ``readyState >= 2`` and its ``currentTime`` passes 0.3 s after
``play()``. Prints one line per file (played directly, or through its playable copy) and the
share that played (target: 100% of what ingest accepts).

Usage:
    python benchmarks/check_playback.py [--media ../shared/media]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
CHROMIUM = "/usr/bin/chromium"


def serve(app: object) -> tuple[str, object, threading.Thread]:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--media", type=Path, default=MEDIA, help="folder of media to check")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from xmodal.library.embed import IngestConfig
    from xmodal.library.library import Library
    from xmodal.server.app import create_app
    from xmodal.server.settings import ServerSettings

    tmp = Path(tempfile.mkdtemp(prefix="check-playback-"))
    try:
        config = IngestConfig(video_encoder="pixels:height=8,width=8", transcribe=False,
                              tags=False)  # fmt: skip
        lib = Library.open(tmp / "lib", config=config)
        report = lib.add([args.media], workers=2, progress=False)
        for path, reason in report.failed:
            print(f"not ingested: {Path(path).name}: {reason}")
        media = [e for e in lib.entries() if e.modality.value != "text"]
        settings = ServerSettings(library_dir=tmp / "lib", proxy_cache_mb=512)
        base, server, thread = serve(create_app(lib, settings))
        played = 0
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
            page = browser.new_page()
            for entry in sorted(media, key=lambda e: e.path):
                name = Path(entry.path).relative_to(args.media.resolve())
                proxied = lib.playable_file(entry.id)[1]
                page.goto(f"{base}/entry/{entry.id}")
                page.evaluate("() => { const m = document.getElementById('entry-player');"
                              " m.muted = true; m.play().catch(() => {}); }")  # fmt: skip
                try:
                    page.wait_for_function(
                        "() => { const m = document.getElementById('entry-player');"
                        " return m.readyState >= 2 && m.currentTime > 0.3; }",
                        timeout=20_000,
                    )
                    ok = True
                except Exception:  # noqa: BLE001 - a timeout: it did not play
                    ok = False
                state = page.evaluate("() => { const m = document.getElementById('entry-player');"
                                      " return [m.readyState, m.currentTime,"
                                      " m.error && m.error.code]; }")  # fmt: skip
                played += ok
                how = "through its playable copy" if proxied else "as it is"
                print(f"{'played' if ok else 'FAILED'}  {name}  ({how}; readyState {state[0]}, "
                      f"t {state[1]:.2f} s, error {state[2]})")  # fmt: skip
            browser.close()
        server.should_exit = True
        thread.join(10)
        lib.close()
        print(f"{played} of {len(media)} ingested videos and recordings played in Chromium "
              f"({played / max(1, len(media)):.0%}; target 100%)")  # fmt: skip
        return 0 if played == len(media) else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

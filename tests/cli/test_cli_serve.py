"""``xmodal serve`` end to end: the real command in a subprocess, on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from xmodal.cli import app

runner = CliRunner()
TOKEN = "cli-test-token-123"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_serve_answers_health_with_its_token_and_stops(tmp_path: Path) -> None:
    port = _free_port()
    library = tmp_path / "library"
    env = {**os.environ, "XMODAL_TOKEN": TOKEN, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "xmodal", "serve", "--library", str(library), "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(
                    base + "/health", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
                )
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None, f"server did not come up: {proc.communicate(timeout=10)}"
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "entries": 0, "auth": True}
        assert httpx.get(base + "/health", timeout=5).status_code == 401  # XMODAL_TOKEN applies
        page = httpx.get(
            base + "/?token=" + TOKEN, headers={"Accept": "text/html"}, follow_redirects=True
        )
        assert page.status_code == 200 and "Your library is empty" in page.text
        assert "server" not in health.headers  # no server banner
        assert (library / "meta.lance").exists()  # a new library was created
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert proc.returncode == 0, err
    assert f"serving the library at http://127.0.0.1:{port}/ (token required)" in err
    with pytest.raises(httpx.TransportError):
        httpx.get(base + "/health", timeout=2)


def test_serve_refuses_a_public_host_without_a_token(tmp_path: Path) -> None:
    env = {"XMODAL_TOKEN": ""}
    result = runner.invoke(
        app, ["serve", "--host", "0.0.0.0", "--library", str(tmp_path / "lib")], env=env
    )
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0  # one line, no traceback
    assert "refusing to listen on 0.0.0.0 without a token" in result.stderr
    assert not (tmp_path / "lib").exists()  # refused before touching the library

    short = runner.invoke(
        app, ["serve", "--host", "::", "--token", "abc", "--library", str(tmp_path / "l")], env=env
    )
    assert short.exit_code == 2 and "token must be at least 8 characters" in short.stderr


def test_serve_reports_a_bad_library_in_one_line(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "notes.txt"
    not_a_dir.write_text("hello")
    result = runner.invoke(app, ["serve", "--library", str(not_a_dir), "--port", "0"])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {not_a_dir}: not a directory, so not a library"

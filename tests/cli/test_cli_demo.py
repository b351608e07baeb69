"""``xmodal demo`` on a tiny world in quick mode: exits 0, writes said.wav and the report."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from xmodal.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_demo_quick_end_to_end(tmp_path):
    """~80 s: world (50 clips) → features → quick study (rows a–d, speech) → said.wav →
    joint space → library of the test and held-out clips → three searches."""
    out = tmp_path / "demo"
    result = runner.invoke(
        app, ["demo", "--out", str(out), "--size", "50", "--seed", "1", "--quick",
              "--workers", "1", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    said = out / "said.wav"
    assert said.is_file() and said.stat().st_size > 10_000
    report = out / "report" / "report.md"
    assert report.is_file() and "## Leakage audit" in report.read_text()
    results = json.loads((out / "report" / "results.json").read_text())
    assert results["seeds"] == [1]
    assert "(a) raw-feature Seq2Seq baseline" in result.output
    assert "the system says:" in result.output and str(report) in result.output
    assert "xmodal translate CLIP.mp4 --model" in result.output
    assert (out / "report" / "runs" / "s1" / "speech-vae" / "pipeline.json").is_file()
    assert (out / "joint" / "joint.json").is_file()
    rows = [json.loads(line) for line in (out / "world" / "manifest.jsonl").open()]
    in_library = sum(r["split"] in ("test", "heldout") for r in rows)
    assert f"{in_library} added" in result.output
    assert result.output.count("show the query's object and") == 3
    for query in ("sentence", "recording: the audio track of", "frame"):
        assert query in result.output
    assert "xmodal library search" in result.output and (out / "library").is_dir()

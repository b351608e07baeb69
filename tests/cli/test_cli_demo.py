"""``xmodal demo`` on a tiny world in quick mode: exits 0, writes said.wav and the report."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from xmodal.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_demo_quick_end_to_end(tmp_path):
    """~90 s: world (50 clips) → features → the structured pipeline fitted and judged by both
    listeners in a worker while the joint space is trained, the test and held-out clips are
    ingested into a library and searched three ways → said.wav + said.png."""
    out = tmp_path / "demo"
    result = runner.invoke(
        app, ["demo", "--out", str(out), "--size", "50", "--seed", "1", "--quick",
              "--workers", "1", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    said = out / "said.wav"
    assert said.is_file() and said.stat().st_size > 10_000
    assert (out / "said.png").stat().st_size > 10_000
    from xmodal.cli.demo_translate import config_digest, demo_config

    digest = config_digest(demo_config(quick=True))
    assert len(digest) == 12 and digest != config_digest(demo_config())
    path = out / "translate" / f"structured-{digest}" / "eval" / "results.json"
    for name in ("test", "heldout"):
        split = json.loads(path.read_text())["splits"][name]
        assert set(split["model"]) == {"grammar", "whisper"}
        assert 0.0 <= split["model"]["whisper"]["both"]["mean"] <= 1.0
    from xmodal.cli.demo_translate import JUDGE_PER_PAIR

    judged = json.loads(path.read_text())
    assert judged["per_pair"] == JUDGE_PER_PAIR
    for name in ("test", "heldout"):
        for pair in judged["splits"][name]["per_pair_first"]["whisper"].values():
            assert pair["clips"] <= JUDGE_PER_PAIR
    ceilings = json.loads(
        (out / "translate" / f"ceilings-{digest}-{JUDGE_PER_PAIR}.json").read_text()
    )
    assert set(ceilings["heldout"]) == {"clips", "vocoder_ceiling"}
    assert "| ceiling: canonical phrase through the vocoder | heldout |" in result.output
    assert "| structured (appearance + motion groups, slot decoder) | heldout |" in result.output
    assert "grammar hears:" in result.output and "whisper hears:" in result.output
    from xmodal.cli.demo_translate import pick_heldout_clip
    from xmodal.data.manifest import read_dataset_info
    from xmodal.translate import canonical_phrase

    clip = pick_heldout_clip(out / "world")
    phrase = canonical_phrase(read_dataset_info(out / "world"), clip["object"], clip["action"])
    assert f"held-out clip {clip['id']}" in result.output
    assert f"canonical phrase: {phrase!r}" in result.output
    assert "xmodal translate CLIP.mp4 --model" in result.output
    assert (out / "joint" / "joint.json").is_file()
    from xmodal.cli.demo import LIBRARY_PER_PAIR
    from xmodal.data.splits import first_per_pair

    rows = [json.loads(line) for line in (out / "world" / "manifest.jsonl").open()]
    ingested = [r for r in rows if r["split"] in ("test", "heldout")]
    in_library = len(first_per_pair(ingested, LIBRARY_PER_PAIR))
    assert in_library > 0
    assert f"{in_library} added" in result.output
    assert result.output.count("show the query's object and") == 3
    for query in ("sentence", "recording: the audio track of", "frame"):
        assert query in result.output
    assert "xmodal library search" in result.output and (out / "library").is_dir()

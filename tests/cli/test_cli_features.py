"""``xmodal features list|extract`` end to end on a tiny world (real commands, real encoders)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.features.test_cache import make_tiny_dataset
from xmodal.cli import app
from xmodal.features.cache import load_features

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["features", *args], catch_exceptions=False)


def test_features_list_prints_the_registry() -> None:
    result = _run("list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 11
    assert lines[0].startswith("efficientnet-lite0") and "video" in lines[0]
    assert any(line.startswith("efficientnet-lite0-streams") for line in lines)
    assert any(line.startswith("clip:<hub id or dir>") for line in lines)
    assert any(line.startswith("minilm") and " text " in line for line in lines)


@pytest.fixture
def world(tmp_path: Path) -> Path:
    return make_tiny_dataset(tmp_path / "world", n=4, corrupt=(), no_text=(1,))


def test_extract_video_audio_text_then_rerun_is_cached(world: Path) -> None:
    result = _run(
        "extract",
        str(world),
        "--video",
        "pixels:height=4,width=4",
        "--audio",
        "mfcc",
        "--text",
        "minilm",
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("pixels-4x4: 4 clips, 0 failed, 0 skipped, ")
    assert lines[1].startswith("mfcc-sr16000-n13-nfft400-hop160-mels40: 4 clips, 0 failed")
    assert lines[2].startswith("minilm-l6-v2: 3 clips, 0 failed, 1 skipped")

    video = load_features(world, "pixels-4x4")
    assert video.ids == ["clip-000", "clip-001", "clip-002", "clip-003"]
    assert video["clip-002"].shape == (8, 48)
    audio = load_features(world, "mfcc-sr16000-n13-nfft400-hop160-mels40")
    assert audio["clip-000"].shape[1] == 13 and abs(audio["clip-000"].shape[0] - 101) <= 2
    text = load_features(world, "minilm-l6-v2")
    assert text["clip-000"].shape == (1, 384)
    np.testing.assert_allclose(np.linalg.norm(text["clip-000"]), 1.0, atol=1e-5)

    # --fps and --batch-size do not concern audio: its entry stays cached.
    again = _run(
        "extract",
        str(world),
        "--video",
        "pixels:height=4,width=4",
        "--audio",
        "mfcc",
        "--batch-size",
        "2",
        "--no-progress",
    )
    assert again.exit_code == 0
    lines = again.stdout.splitlines()
    assert lines[0].startswith("pixels-4x4: 4 clips, 0 failed, 0 skipped, cached")
    assert lines[1].endswith("cached -> " + str(world / "features" / audio.encoder_id))
    with_fps = _run("extract", str(world), "--audio", "mfcc", "--fps", "4", "--no-progress")
    assert ", cached -> " in with_fps.stdout


def test_extract_fps_and_cache_dir(world: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = _run(
        "extract",
        str(world),
        "--video",
        "pixels:height=2,width=2",
        "--fps",
        "4",
        "--cache-dir",
        str(cache),
        "--batch-size",
        "3",
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    fs = load_features(world, "pixels-2x2", cache_dir=cache, fps=4)
    assert fs.path == cache / "fps4" / "pixels-2x2"
    assert fs["clip-000"].shape == (4, 12) and fs.meta["step_s"][0] == 0.25
    with pytest.raises(FileNotFoundError, match=r"does not exist; .* it is cached at: --fps 4$"):
        load_features(world, "pixels-2x2", cache_dir=cache)  # asked at the native rate
    with pytest.raises(FileNotFoundError, match=r"it is cached at: --fps 4$"):
        load_features(world, "pixels-2x2", cache_dir=cache, fps=2.5)
    assert not (world / "features").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--video", "resnet"], "error: unknown encoder 'resnet'; available: efficientnet-lite0"),
        (["--audio", "pixels"], "error: --audio pixels: that encoder reads video"),
        ([], "error: give at least one encoder"),
    ],
)
def test_bad_encoder_arguments_give_one_line(world: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["features", "extract", str(world), *args])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(message)


def test_dataset_without_manifest_gives_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["features", "extract", str(tmp_path), "--audio", "logmel"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {tmp_path / 'manifest.jsonl'}: no manifest here "
        "(not a dataset directory, or its generation did not finish)"
    )


def test_probe_compares_encoders_on_an_object_world(tmp_path: Path) -> None:
    """``features probe``: one row per encoder, every split and held-out pair, fitted on train
    only; results.json and report.md written; a text encoder is refused by name."""
    import json

    from xmodal.data.objects import WorldConfig, generate

    world = tmp_path / "world"
    generate(world, WorldConfig(size=50, frames=8, fps=8, resolution=32, seed=3), workers=2,
             progress=False)  # fmt: skip
    streams = "efficientnet-lite0-streams:image_size=32,crop=1.0,grid=1,rotations=8,zoom=0.5"
    out = tmp_path / "probe"
    result = _run("probe", str(world), "--video", "pixels:height=8,width=8", "--video", streams,
                  "--fps", "8", "--pca", "5", "--out", str(out), "--no-progress")  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == [
        "pixels-8x8",
        "efficientnet-lite0-streams1-r8-32-crop1-z0.5",
    ]
    results = json.loads((out / "results.json").read_text())
    manifest = [json.loads(line) for line in (world / "manifest.jsonl").read_text().splitlines()]
    heldout = {f"{r['object']}:{r['action']}" for r in manifest if r["split"] == "heldout"}
    for r in results:
        assert r["pca"] == 5 and r["chance"] == pytest.approx(0.2)
        assert r["clips"]["train"] == sum(m["split"] == "train" for m in manifest)
        assert set(r["heldout_pairs"]) == heldout
        for split, n in r["clips"].items():
            if split != "train" and n:
                acc = r["splits"][split]["accuracy"]
                assert round(acc * n) == pytest.approx(acc * n)  # a fraction of whole clips
                assert r["splits"][split]["log_loss"] > 0
    assert "Object probes of video encoders" in (out / "report.md").read_text()
    bad = runner.invoke(app, ["features", "probe", str(world), "--video", "minilm"])
    assert bad.exit_code != 0 and "not video" in bad.output

"""``xmodal data folder``, ``xmodal train joint`` and ``xmodal eval retrieval`` end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.pipelines._tiny_joint import PIXELS, tiny_world
from xmodal.cli import app
from xmodal.data.manifest import read_manifest
from xmodal.utils import read_json

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_world(tmp_path_factory.getbasetemp() / "tiny_joint")


@pytest.mark.slow
def test_train_then_eval_retrieval(world: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = runner.invoke(app, [
        "train", "joint", "--data", str(world), "--out", str(run), "--video", PIXELS,
        "--steps", "12", "--batch-size", "8", "--eval-every", "6", "--width", "16",
        "--segments", "4", "--pca-dim", "8", "--seed", "1", "--no-progress",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"wrote {run} (joint-" in result.output and "width 16" in result.output
    joint = read_json(run / "joint.json")
    assert joint["config"]["train"]["max_steps"] == 12 and joint["config"]["train"]["seed"] == 1
    assert joint["encoders"]["video"]["id"] == "pixels-8x8"

    import xmodal

    space = xmodal.load(run)
    assert space.encode_text(["rotate the knife", "spin the fork"]).shape == (2, 16)

    result = runner.invoke(app, [
        "eval", "retrieval", "--model", str(run), "--data", str(world), "--no-asr",
        "--no-progress",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "heldout text->video R@1 = " in result.output
    assert "heldout audio->video R@1 = " in result.output
    out = run / "retrieval"
    results = read_json(out / "results.json")
    assert results["seeds"] == [1]
    r1 = results["splits"]["heldout"]["model"]["audio->video"]["label"]["r1"]["mean"]
    assert 0.0 <= r1 <= 1.0
    assert (out / "report.md").is_file() and (out / "projection_heldout.png").is_file()


@pytest.mark.slow
def test_eval_seeds_trains_one_run_per_seed(world: Path, tmp_path: Path) -> None:
    out = tmp_path / "study"
    result = runner.invoke(app, [
        "eval", "retrieval", "--data", str(world), "--seeds", "0,1", "--out", str(out),
        "--video", PIXELS, "--steps", "4", "--segments", "4", "--pca-dim", "8", "--no-asr",
        "--splits", "val,test,heldout", "--no-progress",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (out / "runs" / "seed-0" / "joint.json").is_file()
    assert (out / "runs" / "seed-1" / "joint.json").is_file()
    results = read_json(out / "results.json")
    assert results["seeds"] == [0, 1] and len(set(results["model_ids"])) == 2
    assert set(results["splits"]) == {"val", "test", "heldout"}  # --splits: val scored too
    stat = results["splits"]["test"]["model"]["text->video"]["label"]["mean_ap"]
    assert len(stat["values"]) == 2 and stat["mean"] == pytest.approx(np.mean(stat["values"]))
    assert " ± " in result.output


def test_eval_needs_model_or_seeds(world: Path) -> None:
    result = runner.invoke(app, ["eval", "retrieval", "--data", str(world)])
    assert result.exit_code == 2
    assert "give either --model RUN_DIR" in result.stderr
    result = runner.invoke(app, ["eval", "retrieval", "--data", str(world), "--seeds", "0,x",
                                 "--out", "unused"])  # fmt: skip
    assert result.exit_code == 2 and "--seeds must be integers" in result.stderr


def test_train_bad_input_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "joint", "--data", str(tmp_path / "none"),
                                 "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'none'}: dataset directory does not exist"
    result = runner.invoke(app, ["train", "joint", "--data", str(tmp_path), "--out", "r",
                                 "--video", "none", "--audio", "none"])  # fmt: skip
    assert result.exit_code == 2 and "at least two modalities" in result.stderr
    result = runner.invoke(app, ["eval", "retrieval", "--model", str(tmp_path / "nope"),
                                 "--data", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 2 and "error:" in result.stderr


def test_data_folder(world: Path, tmp_path: Path) -> None:
    src = tmp_path / "media"
    src.mkdir()
    rows = read_manifest(world)[:5]
    for k, row in enumerate(rows):
        (src / f"clip{k}.mp4").symlink_to(world / row["path"])
    (src / "clip0.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\n" + rows[0]["text"] + "\n")
    (src / "alone.txt").write_text("nothing to pair with")
    out = tmp_path / "ds"
    result = runner.invoke(app, ["data", "folder", str(src), "--out", str(out), "--val", "0.2",
                                 "--test", "0.2", "--seed", "2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "5 clips (video 5, audio 5, text 1); splits: train 3, val 1, test 1" in result.output
    got = read_manifest(out)
    assert [r["modalities"] for r in got] == [["video", "audio", "text"]] + [["video", "audio"]] * 4
    assert got[0]["text"] == rows[0]["text"]
    assert np.all([(out / r["path"]).resolve() == (world / s["path"]).resolve()
                   for r, s in zip(got, rows, strict=True)])  # fmt: skip

    bad = runner.invoke(app, ["data", "folder", str(tmp_path / "missing"), "--out", str(out)])
    assert bad.exit_code == 2
    assert bad.stderr.strip() == f"error: {tmp_path / 'missing'}: source folder does not exist"

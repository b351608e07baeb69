"""``xmodal study thesis`` end to end on a tiny world (the quick study), and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xmodal.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_study_thesis_quick(tmp_path: Path) -> None:
    world, out = tmp_path / "world", tmp_path / "report"
    made = runner.invoke(app, ["data", "objects", "--out", str(world), "--size", "50",
                               "--seed", "3", "--no-progress"])  # fmt: skip
    assert made.exit_code == 0, made.output
    args = ["study", "thesis", "--data", str(world), "--out", str(out), "--quick", "--seeds", "1"]
    planned = runner.invoke(app, [*args, "--workers", "1", "--plan", "--no-progress"])
    assert planned.exit_code == 0, planned.output
    assert "s0/speech-vae" in planned.output and "s0/vae-capacity" in planned.output
    assert "6 of 6 runs to do: about" in planned.output and not (out / "results.json").exists()
    result = runner.invoke(app, [*args, "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "6 of 6 runs to do" in result.output
    assert "| (a) raw-feature Seq2Seq baseline |" in result.output
    assert "| reference: train mean |" in result.output
    assert "(target ≤ 0.5)" in result.output and "(target ≥ 0.8)" in result.output
    assert f"wrote {out}/results.json and {out}/report.md" in result.output
    results = json.loads((out / "results.json").read_text())
    assert results["seeds"] == [0]
    assert set(results["models"]) == {
        "baseline", "vae+seq2seq/linear", "cross/linear", "vae+seq2seq/capacity",
        "cross/capacity", "vae+seq2seq/leaky", "cross/leaky",
    }  # fmt: skip
    for target in results["targets"].values():  # the verdict printed is the one computed
        verdict = "met" if target["met"] else "MISSED"
        shown = f"{target['value']:.3f} (target {target['comparison']} {target['target']})"
        assert f"{shown} {verdict}" in result.output
    for png in ("schedules", "training_curves", "results", "disentanglement", "traversal"):
        assert (out / f"{png}.png").stat().st_size > 1000, png
    again = runner.invoke(app, [*args, "--workers", "1", "--plan", "--no-progress"])
    assert again.exit_code == 0 and "0 of 6 runs to do" in again.output  # every run cached
    assert "s0/baseline                  done" in again.output
    curved = runner.invoke(app, [*args, "--workers", "1", "--plan", "--no-progress",
                                 "--curve", "25,100"])  # fmt: skip
    assert curved.exit_code == 0, curved.output
    assert "s0/curve-vae-n25" in curved.output and "n100" not in curved.output
    assert "1 of 7 runs to do" in curved.output
    assert "left out: learning-curve sizes 100 (the world has 50 clips" in curved.output
    more = runner.invoke(app, [*args, "--workers", "1", "--plan", "--no-progress", "--ablations",
                               "--structured-schedules", "cosine"])  # fmt: skip
    assert more.exit_code == 0, more.output
    for row in ("norot", "nomotion", "noslots", "cosine"):
        assert f"s0/speech-structured-{row}" in more.output
    assert "4 of 10 runs to do" in more.output
    twin = runner.invoke(app, [*args, "--workers", "1", "--plan", "--no-progress",
                               "--second-holdout", "knife:up,pen:left"])  # fmt: skip
    assert twin.exit_code == 0, twin.output
    assert "s0/speech-vae@holdout2" in twin.output and "s0/speech-raw@holdout2" in twin.output
    assert "2 of 8 runs to do" in twin.output and not (out / "world-holdout2").exists()


def test_study_thesis_refuses_a_folder_that_is_not_a_world(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a dataset")
    args = ["study", "thesis", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--quick"]
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    assert f"{tmp_path}/manifest.jsonl: no manifest here" in result.output
    missing = runner.invoke(app, ["study", "thesis", "--data", str(tmp_path / "nope"),
                                  "--out", str(tmp_path / "r"), "--quick"])  # fmt: skip
    assert missing.exit_code != 0 and "dataset directory does not exist" in missing.output
    pair = runner.invoke(app, [*args, "--second-holdout", "knife:fly"])
    assert pair.exit_code != 0 and "fly" in pair.output
    steep = runner.invoke(app, [*args, "--structured-schedules", "steep"])
    assert steep.exit_code != 0 and "unknown structured schedules ['steep']" in steep.output
    bad = runner.invoke(app, [*args, "--curve", "250,lots"])
    assert bad.exit_code != 0 and "Invalid value for --curve: '250,lots'" in bad.output

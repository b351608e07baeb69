"""``xmodal data objects`` end to end on a tiny world."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from xmodal.cli import app
from xmodal.data.manifest import read_dataset_info, read_manifest

runner = CliRunner()
TINY = ["--size", "25", "--frames", "8", "--resolution", "64", "--workers", "2", "--no-progress"]


def test_objects_writes_clips_and_manifest(tmp_path: Path) -> None:
    out = tmp_path / "world"
    result = runner.invoke(app, ["data", "objects", "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    assert len(list((out / "clips").glob("*.mp4"))) == 25
    rows = read_manifest(out)
    assert len(rows) == 25
    assert {(r["object"], r["action"]) for r in rows} == {
        (o, a)
        for o in ("pen", "phone", "spoon", "knife", "fork")
        for a in ("left", "right", "up", "down", "rotate")
    }
    info = read_dataset_info(out)
    assert (info["size"], info["frames"], info["resolution"], info["fps"]) == (25, 8, 64, 8)
    assert "clips     25" in result.output and "train 20, heldout 5" in result.output

    # A rerun is a no-op; other options into the same directory are refused in one line.
    again = runner.invoke(app, ["data", "objects", "--out", str(out), *TINY])
    assert again.exit_code == 0 and read_manifest(out) == rows
    clash = runner.invoke(app, ["data", "objects", "--out", str(out), *TINY, "--seed", "4"])
    assert clash.exit_code == 2
    assert clash.stderr.strip().count("\n") == 0
    assert "already holds a different dataset (seed: 0 -> 4" in clash.stderr


def test_objects_rejects_a_bad_holdout_without_traceback(tmp_path: Path) -> None:
    out = tmp_path / "world"
    result = runner.invoke(app, ["data", "objects", "--out", str(out), "--holdout", "bogus:thing"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: unknown object 'bogus'; expected one of: pen, phone, spoon, knife, fork"
    )
    assert "Traceback" not in result.output
    assert not out.exists()  # nothing written
    whole = runner.invoke(
        app,
        [
            "data",
            "objects",
            "--out",
            str(out),
            "--holdout",
            ",".join(f"fork:{a}" for a in ("left", "right", "up", "down", "rotate")),
        ],
    )
    assert whole.exit_code == 2 and "removes object 'fork' from train" in whole.stderr

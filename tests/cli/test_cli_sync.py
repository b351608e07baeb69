"""``xmodal data talking``, ``xmodal study sync``, ``xmodal study sync-real``, ``xmodal sync train``
and ``xmodal sync check`` end to end on tiny data, including every refusal of ``sync check``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from xmodal.cli import app
from xmodal.media import write_mp4

pytest.importorskip("cv2")
runner = CliRunner()

# Speaker 4 of this world has a light face that the Haar cascade finds in every frame.
FACE_WORLD = dict(size=8, seed=0, speakers=20, resolution=128, min_words=12, max_words=14)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli-sync") / "talk"
    args = ["data", "talking", "--out", str(out), "--size", "12", "--speakers", "6"]
    result = runner.invoke(app, [*args, "--resolution", "48", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "clips     12" in result.output and "test 2 (1 speakers)" in result.output
    return out


@pytest.fixture(scope="module")
def tiny_model(world) -> Path:
    run = world.parent / "run"
    args = ["sync", "train", str(world), "--out", str(run), "--steps", "2", "--run-windows", "8"]
    # a talking-head dataset trains the SyncNet kind (auto)
    result = runner.invoke(app, [*args, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and (run / "config.json").is_file()
    return run


@pytest.fixture(scope="module")
def shifted_clip(tmp_path_factory) -> Path:
    """A Haar-detectable talking clip whose audio leads the lips by 5 frames."""
    from xmodal.data.talking import TalkingConfig, make_clip
    from xmodal.sync.fix import shift_audio

    clip = make_clip(TalkingConfig(**FACE_WORLD), 4)
    path = tmp_path_factory.mktemp("cli-sync-clip") / "speaker.mp4"
    write_mp4(path, clip["frames"], 25, shift_audio(clip["audio"], -5, 16000), 16000)
    return path


@pytest.mark.slow
def test_study_sync_quick(world, tmp_path):
    out = tmp_path / "report"
    args = ["study", "sync", "--data", str(world), "--out", str(out), "--quick", "--seeds", "1"]
    result = runner.invoke(app, [*args, "--steps", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "| Multi-way matching |" in result.output and "| AVE-Net |" in result.output
    results = json.loads((out / "results.json").read_text())
    assert set(results["objectives"]) == {"multiway", "syncnet", "avenet"}
    assert results["config"]["steps"] == 2 and results["config"]["seeds"] == 1
    assert (out / "report.md").is_file() and (out / "accuracy_vs_k.png").is_file()


def test_sync_check_with_a_syncnet_run(tiny_model, shifted_clip, tmp_path):
    plot, fixed = tmp_path / "curve.png", tmp_path / "fixed.mp4"
    args = ["sync", "check", str(shifted_clip), "--model", str(tiny_model), "--json"]
    result = runner.invoke(app, [*args, "--plot", str(plot), "--fix", str(fixed)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["fps"] == 25 and report["offsets"] == list(range(-15, 16))
    assert -15 <= report["offset_frames"] <= 15
    assert report["offset_ms"] == pytest.approx(40 * report["offset_frames"])
    assert report["confidence"] == pytest.approx(np.median(report["curve"]) - min(report["curve"]))
    assert report["windows"] > 50 and report["model_data"] == "synthetic"
    assert report["curve_kind"] == "distance" and report["clear"] is True
    assert "not meaningful" in report["warnings"][0]
    assert plot.stat().st_size > 1000 and fixed.stat().st_size > 1000

    text = runner.invoke(app, ["sync", "check", str(shifted_clip), "--model", str(tiny_model)])
    assert text.exit_code == 0, text.output
    assert "offset " in text.stdout and "confidence" in text.stdout


def test_sync_check_out_of_the_box_json_plot_fix(shared_media, tmp_path):
    """No model, no download: the shipped model on a real clip it was never trained on."""
    pytest.importorskip("dlib")
    from xmodal.media import read_audio, read_video
    from xmodal.sync.fix import shift_audio

    source = shared_media / "talking" / "tk16_lipnet_grid_bbaf2n.mpg"
    lagging = tmp_path / "lagging.mp4"
    write_mp4(lagging, read_video(source), 25, shift_audio(read_audio(source), 5, 16000), 16000)
    plot, fixed = tmp_path / "curve.png", tmp_path / "fixed.mp4"
    args = ["sync", "check", str(lagging), "--json", "--plot", str(plot), "--fix", str(fixed)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["model"] == "shipped" and report["clear"] is True
    assert -6 <= report["offset_frames"] <= -4  # the audio lags by 5 frames
    assert report["offset_ms"] == pytest.approx(40 * report["offset_frames"])
    assert plot.stat().st_size > 1000 and fixed.stat().st_size > 1000
    again = runner.invoke(app, ["sync", "check", str(fixed)])
    assert again.exit_code == 0, again.output
    assert "in sync" in again.stdout or "+1 frames" in again.stdout or "-1 frames" in again.stdout


def test_sync_check_no_clear_offset_writes_no_fix(shared_media, tmp_path):
    pytest.importorskip("dlib")
    from xmodal.media import read_audio, read_video

    source = shared_media / "talking" / "tk16_lipnet_grid_bbaf2n.mpg"
    silent = tmp_path / "silent.mp4"
    write_mp4(silent, read_video(source), 25, np.zeros_like(read_audio(source)), 16000)
    fixed = tmp_path / "fixed.mp4"
    result = runner.invoke(app, ["sync", "check", str(silent), "--fix", str(fixed)])
    assert result.exit_code == 1
    assert "no clear offset: the audio is silent" in result.stdout
    assert "was not written" in result.stderr and not fixed.exists()


def _refusal(args: list[str]) -> str:
    result = runner.invoke(app, ["sync", "check", *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.stderr


def test_sync_check_refusals(tiny_model, shifted_clip, shared_media, tmp_path):
    model = ["--model", str(tiny_model)]
    assert "no face found" in _refusal([str(shared_media / "mx02_moviepy_fire2.mp4"), *model])
    assert "no face found" in _refusal([str(shared_media / "mx02_moviepy_fire2.mp4")])
    silent = tmp_path / "silent.mp4"
    write_mp4(silent, np.zeros((50, 64, 64, 3), np.uint8), 25)
    assert "no audio track" in _refusal([str(silent), *model])
    short = tmp_path / "short.mp4"
    write_mp4(short, np.zeros((20, 64, 64, 3), np.uint8), 25, np.zeros(12800, np.float32))
    assert "too short" in _refusal([str(short), *model])
    assert "no sync model here" in _refusal([str(shifted_clip), "--model", str(tmp_path)])
    assert "too short" in _refusal([str(short)])  # the shipped model refuses it too
    assert "no such file" in _refusal([str(tmp_path / "nope.mp4"), *model])
    assert "a folder; sync check takes one video file" in _refusal([str(tmp_path)])
    assert "name it .mp4" in _refusal([str(shifted_clip), "--fix", str(tmp_path / "out.mkv")])
    assert "not the input" in _refusal([str(shifted_clip), "--fix", str(shifted_clip)])


def test_sync_train_lips_on_real_videos_and_install(shared_media, tmp_path):
    """Real videos train the lip model; unusable ones are listed; --install makes it the default."""
    pytest.importorskip("dlib")
    talking = shared_media / "talking"
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("tk16_lipnet_grid_bbaf2n.mpg", "tk17_lipnet_grid_lrwp9a.mpg"):
        (folder / name).symlink_to(talking / name)
    (folder / "fire.mp4").symlink_to(shared_media / "mx02_moviepy_fire2.mp4")
    (folder / "notes.txt").write_text("not a video")
    run, default = tmp_path / "run", tmp_path / "default-model"
    args = ["sync", "train", str(folder), str(talking / "tk18_lipnet_grid_swiz3n.mpg")]
    args += ["--out", str(run), "--steps", "5", "--threshold", "1.5", "--install", "--no-progress"]
    result = runner.invoke(app, args, env={"XMODAL_SYNC_MODEL": str(default)})
    assert result.exit_code == 0, result.output
    assert "(3 clips, 135 windows; 1 skipped)" in result.stdout
    assert "fire.mp4: no face found" in result.stderr
    meta = json.loads((run / "lips.json").read_text())
    assert meta["threshold"] == 1.5 and len(meta["info"]["trained_on"]) == 3
    assert (default / "lips.npz").is_file()
    clip = talking / "tk19_syncnet_example.avi"
    check = runner.invoke(app, ["sync", "check", str(clip), "--json", "--max-seconds", "4"],
                          env={"XMODAL_SYNC_MODEL": str(default)})  # fmt: skip
    assert check.exit_code == 0, check.output
    report = json.loads(check.stdout)
    assert report["model"] == str(default) and report["model_data"] == "3 real in-sync videos"
    assert report["threshold"] == 1.5


def test_study_sync_real_quick(shared_media, tmp_path):
    pytest.importorskip("dlib")
    out = tmp_path / "report"
    args = ["study", "sync-real", "--data", str(shared_media / "talking"), "--out", str(out)]
    args += ["--dev", "tk16*,tk17*,tk18*", "--second", "tk19*", "--quick", "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "| Multi-way lip model (learned, LOVO; ships) |" in result.output
    results = json.loads((out / "results.json").read_text())
    assert results["clips"]["dev"] == [
        "tk16_lipnet_grid_bbaf2n", "tk17_lipnet_grid_lrwp9a", "tk18_lipnet_grid_swiz3n"
    ]  # fmt: skip
    dev = results["methods"]["multiway"]["dev"]
    assert dev["copies"] == 9 and 0 <= dev["relative"]["mean"] <= 1
    assert results["methods"]["multiway"]["second"]["copies"] == 3
    assert results["config"]["offsets"] == [-6, 0, 6] and results["config"]["seeds"] == 1
    for png in ("offsets_dev.png", "curves_dev.png", "roc_dev.png", "offsets_second.png"):
        assert (out / png).stat().st_size > 1000
    report = (out / "report.md").read_text()
    assert report.startswith("# Sync on real footage")
    # the two views decided together: every copy answered or not, thresholds to ship
    dec = results["decisions"]
    assert set(dec["sets"]) == {"dev", "second"} and dec["sets"]["dev"]["copies"] == 9
    for s in ("dev", "second"):
        assert 0 <= dec["sets"][s]["coverage"]["mean"] <= 1
    assert (
        dec["sets"]["dev"]["swaps"] == 6 and 0 <= dec["sets"]["dev"]["swaps_flagged"]["mean"] <= 1
    )
    assert dec["sets"]["second"]["swaps"] == 0  # one clip: no other audio to swap in
    shipped = dec["shipped"]
    assert shipped["floor"] <= shipped["clear"] and shipped["agree_bonus"] in dec["bonuses"]
    assert "## What `xmodal sync check` answers" in report
    assert (out / "tradeoff_dev.png").stat().st_size > 1000

"""``xmodal sync``: check (and fix) the audio-visual sync of a video; train a sync model."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from xmodal.cli._common import user_errors

app = typer.Typer(
    help="Audio-visual sync: is this voice in time with these lips, and by how much is it off.",
    no_args_is_help=True,
)


@app.command("check")
def check(
    video: Path = typer.Argument(..., help="A video with one speaking face and its sound."),
    model: Path | None = typer.Option(
        None,
        "--model",
        help="A model directory from `xmodal sync train` (default: $XMODAL_SYNC_MODEL or "
        "~/.cache/xmodal/sync-model if one was installed there, else the shipped model).",
        show_default=False,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
    plot: Path | None = typer.Option(
        None, "--plot", help="Write the per-offset evidence curve to this PNG.", show_default=False
    ),
    fix: Path | None = typer.Option(
        None,
        "--fix",
        help="Write a copy of the video with the audio shifted into sync (MP4); only when the "
        "offset is clear.",
        show_default=False,
    ),
    max_seconds: float | None = typer.Option(
        None, "--max-seconds", min=1.0, help="Analyse only the first N seconds.", show_default=False
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Show a progress bar on long videos."
    ),
) -> None:
    """Estimate the offset between the audio and the lips of VIDEO. Works out of the box.

    The video is analysed at 25 fps: dlib finds the face and tracks its 68 landmarks, nine
    lip signals per frame are compared with the audio's log-mel bands at offsets of -15..+15
    frames (±600 ms) by a small model trained on real faces that ships with xmodal. A POSITIVE
    offset means the AUDIO LEADS (comes early; delay it to fix), negative means it lags.

    The confidence says how far the best offset stands out compared with the same video paired
    with unrelated audio (its own audio rotated by a second or more). A second view needing no
    training (the jaw opening against the audio's energy) checks it; when the two agree, the
    score rises. Above the model's threshold the offset is clear; above its floor, the best
    offset is given with LOW CONFIDENCE and why; below the floor, or with silent audio, the
    answer is "no clear offset" (audio from another speaker, a hidden mouth, or no speech).
    --fix writes a copy only for a clear offset (otherwise exit code 1).

    Exits with code 2 and one line of explanation when there is no face, several faces, no
    audio track, or too little video (about 1.6 s with the face visible).
    """
    from xmodal.features.face import FaceError
    from xmodal.sync.check import check_video, plot_curve
    from xmodal.sync.fix import fix_video

    if fix is not None and fix.suffix.lower() != ".mp4":
        raise typer.BadParameter(f"{fix}: --fix writes an MP4, so name it .mp4", param_hint="--fix")
    if fix is not None and fix.resolve() == video.resolve():
        raise typer.BadParameter(f"{fix}: write a new file, not the input", param_hint="--fix")
    with user_errors(FaceError, ImportError):
        result = check_video(video, model, max_seconds=max_seconds, progress=progress)
        if plot is not None:
            plot_curve(result, plot)
        if fix is not None and result.clear:
            fix_video(video, fix, result.offset_frames)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
    else:
        typer.echo(result.summary())
        if plot is not None:
            typer.echo(f"wrote {plot}")
        if fix is not None and result.clear:
            typer.echo(f"wrote {fix} (audio shifted by {result.offset_ms:+.0f} ms)")
    if fix is not None and not result.clear:
        why = "the offset has low confidence" if result.level == "low" else "no clear offset"
        typer.echo(f"error: {why}, so {fix} was not written", err=True)
        raise typer.Exit(code=1)


@app.command("train")
def train(
    videos: list[Path] = typer.Argument(
        ...,
        help="In-sync videos and/or folders of them (one speaking face each), or a talking-head "
        "dataset (xmodal data talking) for --kind syncnet.",
    ),
    out: Path = typer.Option(..., "--out", help="Model directory to write."),
    kind: str = typer.Option(
        "auto",
        "--kind",
        help="lips: the lip-landmark model (what ships; a few clips suffice); syncnet: the "
        "conv net on mouth crops and MFCCs (needs hours of footage); auto: syncnet for a "
        "talking-head dataset, lips otherwise.",
    ),
    steps: int | None = typer.Option(
        None, "--steps", min=1, help="Optimiser steps (lips 100, syncnet 2000).", show_default=False
    ),
    objective: str = typer.Option(
        "multiway", "--objective", help="syncnet kind: multiway, syncnet or avenet."
    ),
    batch_size: int = typer.Option(4, "--batch-size", min=1, help="syncnet: runs per step."),
    run_windows: int = typer.Option(
        16, "--run-windows", min=1, help="syncnet: consecutive 0.2 s windows per run."
    ),
    lr: float | None = typer.Option(
        None,
        "--lr",
        min=0.0,
        help="AdamW learning rate (lips 3e-3, syncnet 1e-3).",
        show_default=False,
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed."),
    threshold: float | None = typer.Option(
        None,
        "--threshold",
        help="lips: least confidence for a clear offset, stored with the "
        "model (default: the shipped model's).",
        show_default=False,
    ),
    floor: float | None = typer.Option(
        None,
        "--floor",
        help="lips: least score for any answer (below --threshold: low confidence; below the "
        "floor: not matching); default: the shipped model's with its threshold, else the "
        "threshold.",
        show_default=False,
    ),
    agree_bonus: float | None = typer.Option(
        None,
        "--agree-bonus",
        min=0.0,
        help="lips: added to the confidence when the training-free cue agrees (default: as "
        "--floor).",
        show_default=False,
    ),
    install: bool = typer.Option(
        False, "--install", help="Also make this the default model of `xmodal sync check`."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Train a sync model on your own in-sync videos (the shipped one needs no training).

    Each 0.2 s of lips is scored against the same video's audio at every offset of ±15
    frames, the in-sync one the target (multi-way matching). Videos without exactly one face,
    without audio or shorter than about 1.4 s are skipped and listed.

    The shipped model was made with this command on 15 real clips (docs/sync.md).
    """
    from xmodal.sync.clip import SyncCheckError

    if kind not in ("auto", "lips", "syncnet"):
        raise typer.BadParameter(f"--kind must be auto, lips or syncnet, not {kind!r}")
    dataset = len(videos) == 1 and (videos[0] / "dataset.json").is_file()
    if kind == "auto":
        kind = "syncnet" if dataset else "lips"
    with user_errors(SyncCheckError, ImportError):
        if kind == "lips":
            from xmodal.sync.train import LipTrainConfig, train_lips

            overrides = {"steps": steps, "lr": lr}
            config = LipTrainConfig(seed=seed, **{k: v for k, v in overrides.items() if v})
            if floor is not None and threshold is not None and floor > threshold:
                raise typer.BadParameter(f"--floor {floor} is above --threshold {threshold}")
            result = train_lips(
                videos, out, config, threshold=threshold, floor=floor, agree_bonus=agree_bonus,
                install=install, progress=progress,
            )  # fmt: skip
            summary = f"{result['clips']} clips, {result['windows']} windows"
        else:
            from xmodal.sync.syncnet import train_syncnet

            if len(videos) != 1:
                raise SyncCheckError("--kind syncnet takes one folder or talking-head dataset")
            result = train_syncnet(
                videos[0], out, objective=objective, steps=steps or 2000, batch_size=batch_size,
                run_windows=run_windows, lr=lr or 1e-3, seed=seed, install=install,
                progress=progress,
            )  # fmt: skip
            summary = (
                f"{result['steps']} steps on {result['train_clips']} clips, "
                f"{result['val_clips']} for validation"
            )
    for line in result["skipped"]:
        typer.echo(f"skipped {line}", err=True)
    typer.echo(f"wrote {out} ({summary}; {len(result['skipped'])} skipped)")
    if result["installed"]:
        typer.echo(f"installed as the default sync model: {result['installed']}")

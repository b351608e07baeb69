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
        help="Sync model run directory (default: $XMODAL_SYNC_MODEL or ~/.cache/xmodal/"
        "sync-model).",
        show_default=False,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
    plot: Path | None = typer.Option(
        None, "--plot", help="Write the per-offset distance curve to this PNG.", show_default=False
    ),
    fix: Path | None = typer.Option(
        None,
        "--fix",
        help="Write a copy of the video with the audio shifted into sync (MP4).",
        show_default=False,
    ),
    max_seconds: float | None = typer.Option(
        None, "--max-seconds", min=1.0, help="Analyse only the first N seconds.", show_default=False
    ),
) -> None:
    """Estimate the offset between the audio and the lips of VIDEO.

    The video is analysed at 25 fps: the face is found with OpenCV's Haar cascade and tracked,
    the mouth cropped, and every 0.2 s of lips compared with the audio at offsets of -15..+15
    frames (±600 ms). The offset is the one with the smallest mean distance; a POSITIVE offset
    means the AUDIO LEADS (comes early; delay it to fix), negative means it lags. Confidence is
    median minus minimum distance (as the SyncNet tool): near 0 means no offset stands out.

    Needs a model trained on real faces (`xmodal sync train`); a model trained only on the
    synthetic world gives numbers that mean nothing on real footage.

    Exits with code 2 and one line of explanation when there is no face, several faces, no
    audio track, or too little video (about 1.6 s with the face visible).
    """
    from xmodal.evaluation.sync_check import check_video, fix_video, plot_curve
    from xmodal.features.face import FaceError

    with user_errors(FaceError, ImportError):
        result = check_video(video, model, max_seconds=max_seconds)
        if plot is not None:
            plot_curve(result, plot)
        if fix is not None:
            fix_video(video, fix, result.offset_frames)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
    else:
        typer.echo(result.summary())
        if plot is not None:
            typer.echo(f"wrote {plot}")
        if fix is not None:
            typer.echo(f"wrote {fix} (audio shifted by {result.offset_ms:+.0f} ms)")


@app.command("train")
def train(
    folder: Path = typer.Argument(
        ..., help="In-sync videos (one speaking face each, e.g. LRS2), or a talking-head dataset."
    ),
    out: Path = typer.Option(..., "--out", help="Run directory to write (a rerun resumes)."),
    objective: str = typer.Option(
        "multiway", "--objective", help="multiway (best in the paper), syncnet or avenet."
    ),
    steps: int = typer.Option(2000, "--steps", min=1, help="Optimiser steps."),
    batch_size: int = typer.Option(4, "--batch-size", min=1, help="Runs of windows per step."),
    run_windows: int = typer.Option(
        16, "--run-windows", min=1, help="Consecutive 0.2 s windows per run (videos need 30 more)."
    ),
    lr: float = typer.Option(1e-3, "--lr", min=0.0, help="AdamW learning rate."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed."),
    install: bool = typer.Option(
        False, "--install", help="Also make this the default model of `xmodal sync check`."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Train a sync model on your own in-sync videos: the lips and the sound of each window are
    the positive pair, the same clip's audio shifted by up to ±15 frames gives the negatives.

    Videos without exactly one face, without audio or shorter than about 2 s are skipped and
    listed. A talking-head dataset (xmodal data talking) uses its train/val splits and stored
    mouth boxes instead (a synthetic model: not meaningful on real faces).
    """
    from xmodal.evaluation.sync_check import train_on_folder

    with user_errors(ImportError):
        result = train_on_folder(
            folder,
            out,
            objective=objective,
            steps=steps,
            batch_size=batch_size,
            run_windows=run_windows,
            lr=lr,
            seed=seed,
            install=install,
            progress=progress,
        )
    for line in result["skipped"]:
        typer.echo(f"skipped {line}", err=True)
    typer.echo(
        f"wrote {result['run_dir']} ({result['steps']} steps on {result['train_clips']} clips, "
        f"{result['val_clips']} for validation; {len(result['skipped'])} skipped)"
    )
    if result["installed"]:
        typer.echo(f"installed as the default sync model: {result['installed']}")

"""``xmodal eval``: run an evaluation study and write results.json + report.md + figures."""

from __future__ import annotations

from pathlib import Path

import typer

from xmodal.cli._common import user_errors
from xmodal.cli.train import AUDIO_HELP, FPS_HELP, TEMPORAL_HELP, TEXT_HELP, VIDEO_HELP

app = typer.Typer(help="Evaluate trained models: cross-modal retrieval.", no_args_is_help=True)


@app.command("retrieval")
def retrieval(
    data: Path = typer.Option(..., "--data", help="Dataset to evaluate on (test + heldout)."),
    model: list[Path] = typer.Option(
        [], "--model", help="Joint-space run directory; repeat for several seeds (mean ± std)."
    ),
    seeds: str | None = typer.Option(
        None,
        "--seeds",
        show_default=False,
        help="Instead of --model: train one run per seed (e.g. 0,1,2) into OUT/runs/seed-<s> "
        "(resumable) with the options below, then evaluate them together.",
    ),  # fmt: skip
    out: Path | None = typer.Option(
        None,
        "--out",
        show_default=False,
        help="Output directory (default with --model: <first model>/retrieval).",
    ),  # fmt: skip
    asr: bool = typer.Option(
        True, "--asr/--no-asr", help="Add the Whisper transcript + MiniLM reference row."
    ),
    splits: str = typer.Option(
        "test,heldout",
        "--splits",
        help="Splits to score, comma-separated (add val to choose settings on it).",
    ),  # fmt: skip
    steps: int = typer.Option(1500, "--steps", min=1, help="--seeds: optimiser steps per run."),
    video: str = typer.Option("efficientnet-lite0", "--video", help="--seeds: " + VIDEO_HELP),
    audio: str = typer.Option("logmel", "--audio", help="--seeds: " + AUDIO_HELP),
    text: str = typer.Option("minilm", "--text", help="--seeds: " + TEXT_HELP),
    temporal: str = typer.Option("flatten", "--temporal", help="--seeds: " + TEMPORAL_HELP),
    segments: int = typer.Option(16, "--segments", min=1, help="--seeds: segments per clip."),
    pca_dim: int = typer.Option(64, "--pca-dim", min=0, help="--seeds: per-frame PCA (0: none)."),
    fps: float | None = typer.Option(
        None, "--fps", min=0.001, help="--seeds: " + FPS_HELP, show_default=False
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Cross-modal retrieval: R@1/5/10, median rank and mAP for every ordered modality pair.

    Scores the test split and the held-out compositions, beside chance and (audio<->text) a
    Whisper + MiniLM reference; writes results.json, report.md and PNG figures.
    """
    from xmodal.cli.train import joint_config
    from xmodal.evaluation.studies.retrieval import evaluate_retrieval, run_retrieval_study
    from xmodal.features import EncoderUnavailable

    with user_errors(EncoderUnavailable, ImportError):
        split_list = [s.strip() for s in splits.split(",") if s.strip()]
        if bool(model) == bool(seeds):
            raise ValueError("give either --model RUN_DIR (repeatable) or --seeds 0,1,2")
        if seeds:
            if out is None:
                raise ValueError("--seeds needs --out (where the runs and results go)")
            try:
                seed_list = [int(s) for s in seeds.split(",") if s.strip()]
            except ValueError:
                raise ValueError(
                    f"--seeds must be integers separated by commas, got {seeds!r}"
                ) from None
            config = joint_config(
                video=video, audio=audio, text=text, steps=steps, temporal=temporal,
                segments=segments, pca_dim=pca_dim, fps=fps,
            )  # fmt: skip
            results = run_retrieval_study(data, out, config, seed_list, splits=split_list,
                                          asr=asr, progress=progress)  # fmt: skip
        else:
            out = out if out is not None else model[0] / "retrieval"
            results = evaluate_retrieval(model, data, out, splits=split_list, asr=asr,
                                         progress=progress)  # fmt: skip
        for t in results["targets"]:
            state = "met" if t["met"] else "missed"
            typer.echo(
                f"{t['split']} {t['pair']} R@1 = {t['mean']:.3f} ± {t['std']:.3f} "
                f"(target {t['target']}: {state})"
            )
        typer.echo(f"wrote {out / 'results.json'}, {out / 'report.md'}")

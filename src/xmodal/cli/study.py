"""``xmodal study``: reproduce the studies behind xmodal, each writing results.json + a report."""

from __future__ import annotations

from pathlib import Path

import typer

from xmodal.cli._common import user_errors

app = typer.Typer(
    help="Run a study end to end: train, evaluate over seeds, write results.json, report.md "
    "and plots.",
    no_args_is_help=True,
)


@app.command("sync")
def sync(
    data: Path = typer.Option(..., "--data", help="Talking-head dataset (xmodal data talking)."),
    out: Path = typer.Option(..., "--out", help="Report directory (a rerun resumes)."),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Training seeds per objective."),
    steps: int | None = typer.Option(
        None, "--steps", min=1, help="Optimiser steps per run (default 400).", show_default=False
    ),
    quick: bool = typer.Option(
        False, "--quick", help="A tiny smoke run (about a minute): small model, few steps."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Audio-visual sync: SyncNet vs AVE-Net vs multi-way matching, accuracy against K.

    Each objective is trained on the dataset's train speakers and tested on its held-out
    speakers: true offsets of up to ±15 frames are injected, distances averaged over K = 5..15
    windows, and a prediction within ±1 frame counts as correct (the paper's Table 1).
    """
    from xmodal.evaluation.studies.sync import SyncStudyConfig, report_markdown, run_study

    with user_errors(ImportError):
        overrides = {"seeds": seeds, **({"steps": steps} if steps else {})}
        config = SyncStudyConfig.quick(**overrides) if quick else SyncStudyConfig(**overrides)
        results = run_study(data, out, config, progress=progress)
    typer.echo(report_markdown(results))
    typer.echo(f"wrote {out}/results.json, {out}/report.md, {out}/accuracy_vs_k.png")


@app.command("sync-real")
def sync_real(
    data: Path = typer.Option(..., "--data", help="Folder of real talking-head videos."),
    out: Path = typer.Option(..., "--out", help="Report directory (a rerun reuses tracked faces)."),
    dev: str = typer.Option(
        "*", "--dev", help="Comma-separated file-name globs of the in-sync development clips."
    ),
    second: str = typer.Option(
        "", "--second", help="Comma-separated globs of in-sync clips never used for a choice."
    ),
    frozen: str = typer.Option(
        "",
        "--frozen",
        help="Comma-separated globs of the frozen final split, reported once at the end "
        "(docs/sync.md: tk26*,tk27*,tk28*,tk29*,tk30*, picked before any tuning).",
    ),
    offsets: str = typer.Option(
        "-10:10", "--offsets", help="Injected offsets: 'A:B' (every frame) or a comma list."
    ),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Seeds of the learned multi-way model."),
    quick: bool = typer.Option(False, "--quick", help="A smoke run: 3 offsets, 1 seed, 20 steps."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Audio-visual sync on real faces: offsets injected into in-sync clips, estimated back.

    Reports, per method (two training-free correlations, a learned audio-to-lips regression
    and the shipped multi-way lip model), the share of copies within ±1 frame relative to the
    clip's own estimate and absolute, the mean absolute error, a per-clip table, offset curves,
    and the confidence ROC for swapped audio. Learned methods are scored leave-one-video-out on
    the development clips and trained on all of them for the second set.
    """
    from xmodal.evaluation.studies.sync_real import SyncRealConfig, run_study
    from xmodal.evaluation.studies.sync_real.report import report_markdown

    with user_errors(ImportError):
        if ":" in offsets:
            lo, hi = (int(v) for v in offsets.split(":"))
            ks = tuple(range(lo, hi + 1))
        else:
            ks = tuple(int(v) for v in offsets.split(","))
        globs = {
            "dev": tuple(g for g in dev.split(",") if g),
            "second": tuple(g for g in second.split(",") if g),
            "frozen": tuple(g for g in frozen.split(",") if g),
        }
        if quick:
            config = SyncRealConfig.quick(**globs)
        else:
            config = SyncRealConfig(seeds=seeds, offsets=ks, **globs)
        results = run_study(data, out, config, progress=progress)
    typer.echo(report_markdown(results))
    typer.echo(f"wrote {out}/results.json, {out}/report.md and plots")


@app.command("thesis")
def thesis(
    data: Path = typer.Option(..., "--data", help="Object-action world (xmodal data objects)."),
    out: Path = typer.Option(..., "--out", help="Report directory (a rerun resumes)."),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Training seeds per row."),
    quick: bool = typer.Option(
        False, "--quick", help="A tiny smoke run (about a minute): pixels, 2 schedules, few steps."
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Training processes in parallel (default: every core)."
    ),
    plan: bool = typer.Option(
        False,
        "--plan",
        help="Print every run the study would make, which are done, and the estimated CPU and "
        "wall time (a few optimiser steps of each model and a few judged clips, timed on this "
        "machine); run nothing.",
    ),
    budget: float | None = typer.Option(
        None,
        "--budget",
        min=1,
        show_default=False,
        help="Minutes of wall time: run the largest study that fits (fewer schedules first, the "
        "main schedule staying, then the structured model's other schedules, its ablations, the "
        "second held-out set, the largest learning-curve sizes, then fewer seeds) and say what "
        "it left out.",
    ),
    curve: str | None = typer.Option(
        None,
        "--curve",
        help="Learning-curve world sizes, comma-separated (default 250,500,1000; 'none' turns "
        "it off). Sizes above the world's clip count are left out.",
    ),
    ablations: bool | None = typer.Option(
        None,
        "--ablations/--no-ablations",
        show_default=False,
        help="Also train and judge the structured model with one part removed each: no rotation "
        "invariance, no motion stream, no slot decoder (a speech row per ablation and seed; "
        "default on, off with --quick).",
    ),
    structured_best: int | None = typer.Option(
        None,
        "--structured-best",
        min=0,
        show_default=False,
        help="Also train and judge the structured model under the best N β schedules of row (b) "
        "by val cosine distance, picked once row (b) is done (default 3; its own schedule, "
        "linear, counts when picked; 0: none).",
    ),
    structured_schedules: str | None = typer.Option(
        None,
        "--structured-schedules",
        help="Also train and judge the structured model under these β schedules, "
        "comma-separated (e.g. cosine,capacity), whatever val says.",
    ),
    second_holdout: str | None = typer.Option(
        None,
        "--second-holdout",
        help="The second held-out set (default knife:up,pen:left,phone:down,spoon:right,"
        "fork:rotate, which shares no pair with the first; 'none' leaves it out): the world's "
        "twin holding out these pairs is generated into OUT/world-holdout2 and the flat, raw and "
        "structured speech rows are trained and judged on it.",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """The thesis: β-VAE latents + Seq2Seq vs a raw-feature baseline, 9 β schedules.

    Rows: (a) raw-feature Seq2Seq baseline, (b) β-VAE latents + Seq2Seq for each β schedule,
    (c) shared-latent cross-decoding, (d) the leaky joint encoder (a labelled audit); cosine
    distance and MSE on the test split and the held-out compositions, mean ± std over seeds;
    speech out (phrase accuracy of the generated speech) and disentanglement (MIG, DCI, SAP);
    a learning curve (held-out both-words of the flat and structured pipelines trained on the
    world's first 250, 500 and 1,000 clips; sizes the world lacks are left out); the structured
    model's ablations and its groups under row (b)'s best 3 schedules by val; a second
    held-out set (a twin world holding out other pairs).

    Example: xmodal study thesis --data .cache/world1000 --out reports/thesis --plan
    """
    from xmodal.evaluation.studies.thesis import (
        ThesisStudyConfig,
        plan_study,
        results_table,
        run_study,
        target_line,
    )
    from xmodal.evaluation.studies.thesis.plan import plan_summary, plan_table
    from xmodal.utils import default_workers

    workers = workers or default_workers()
    with user_errors(ImportError):
        overrides: dict[str, object] = {"seeds": seeds}
        if curve is not None:
            overrides["curve_sizes"] = _sizes(curve)
        if second_holdout is not None:
            none = second_holdout.strip().lower() in ("", "none")
            overrides["second_holdout"] = "" if none else second_holdout
        if ablations is not None:
            from xmodal.evaluation.studies.thesis.config import STRUCTURED_ABLATIONS

            overrides["structured_ablations"] = tuple(STRUCTURED_ABLATIONS) if ablations else ()
        if structured_best is not None:
            overrides["structured_best"] = structured_best
        if structured_schedules:
            overrides["structured_schedules"] = tuple(
                s.strip() for s in structured_schedules.split(",") if s.strip()
            )
        config = (ThesisStudyConfig.quick if quick else ThesisStudyConfig)(**overrides)
        config, steps, left_out = plan_study(data, out, config, workers=workers,
                                             budget_minutes=budget, progress=progress)  # fmt: skip
        typer.echo(plan_table(steps, workers) if plan else plan_summary(steps, workers))
        if left_out:
            typer.echo(f"left out: {'; '.join(left_out)}")
        if plan:
            return
        estimates = {p["key"]: p["estimate_s"] for p in steps}
        results = run_study(data, out, config, workers=workers, progress=progress,
                            estimates=estimates)  # fmt: skip
    typer.echo(results_table(results))
    for target in results["targets"].values():
        verdict = "met" if target["met"] else "MISSED"
        typer.echo(f"{target_line(target)} {verdict}")
    typer.echo(f"wrote {out}/results.json and {out}/report.md (with plots)")


def _sizes(text: str) -> tuple[int, ...]:
    """``"250,500"`` -> ``(250, 500)``; ``"none"`` -> ``()``."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        return tuple(int(v.replace("_", "")) for v in text.split(","))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: expected world sizes like 250,500,1000 or 'none'", param_hint="--curve"
        ) from None

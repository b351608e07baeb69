"""``xmodal eval``: run an evaluation study and write results.json + report.md + figures."""

from __future__ import annotations

from pathlib import Path

import typer

from xmodal.cli._common import user_errors
from xmodal.cli.train import AUDIO_HELP, FPS_HELP, TEMPORAL_HELP, TEXT_HELP, VIDEO_HELP

app = typer.Typer(
    help="Evaluate trained models: cross-modal retrieval, translation judged by two listeners.",
    no_args_is_help=True,
)


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
    weights: str | None = typer.Option(
        None,
        "--weights",
        show_default=False,
        help="best (lowest validation loss) or last weights of every run (default: each run's).",
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
        split_list = [x.strip() for x in splits.split(",") if x.strip()]
        if weights not in (None, "best", "last"):
            raise ValueError(f"--weights must be best or last, got {weights!r}")
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
                                          weights=weights, asr=asr, progress=progress)  # fmt: skip
        else:
            out = out if out is not None else model[0] / "retrieval"
            results = evaluate_retrieval(model, data, out, splits=split_list, weights=weights,
                                         asr=asr, progress=progress)  # fmt: skip
        for t in results["targets"]:
            state = "met" if t["met"] else "missed"
            typer.echo(
                f"{t['split']} {t['pair']} R@1 = {t['mean']:.3f} ± {t['std']:.3f} "
                f"(target {t['target']}: {state})"
            )
        for split, entry in results["splits"].items():
            for pair in ("text->video", "audio->video"):
                stat = entry["model"].get(pair, {}).get("label", {}).get("r1")
                if stat is not None:
                    typer.echo(f"{split} {pair} label R@1 = {stat['mean']:.3f} ± {stat['std']:.3f}")
        typer.echo(f"wrote {out / 'results.json'}, {out / 'report.md'}")


@app.command("translate")
def translate(
    model: list[Path] = typer.Option(
        ...,
        "--model",
        help="Translation run (xmodal train translate); repeat for seeds of one pipeline "
        "(mean ± std).",
    ),
    data: Path = typer.Option(..., "--data", help="Object-action world to speak the clips of."),
    split: str = typer.Option(
        "test", "--split", help="test (seen pairs), heldout (unseen pairs) or val; comma list."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        show_default=False,
        help="Report directory (default: the first MODEL/eval-SPLIT).",
    ),
    ceilings: bool = typer.Option(
        True,
        "--ceilings/--no-ceilings",
        help="Also judge the canonical phrase through the vocoder and the clips' own audio.",
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        show_default=False,
        help="Processes that speak and judge clips (default: every core; each loads Whisper).",
    ),
    per_pair: int | None = typer.Option(
        None,
        "--per-pair",
        min=1,
        show_default=False,
        help="Judge only the first N clips of each (object, action) pair (a quicker look).",
    ),
    judges: bool = typer.Option(
        True,
        "--judges/--no-judges",
        help="Speak and judge the clips; --no-judges: only the distance to the target (and a "
        "structured run's latent diagnostics), in seconds.",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Speak every clip of a split with a fitted translation run and judge what is heard.

    Two judges: pocketsphinx under the world's 25-phrase grammar, and Whisper tiny.en free
    transcription (no prompt). For each: object heard, action heard and both, overall and per
    pair, beside the ceilings; and the cosine distance of the predicted speech to its target
    beside the mean predictor and the oracle (the gap closed). Writes results.json and report.md.
    """
    from xmodal.translate.evaluate import evaluate_translation
    from xmodal.utils import default_workers

    with user_errors(ImportError):
        splits = tuple(s.strip() for s in split.split(",") if s.strip())
        out = out if out is not None else model[0] / f"eval-{'-'.join(splits)}"
        results = evaluate_translation(model, data, out, splits, ceilings=ceilings,
                                       workers=workers or default_workers(),
                                       per_pair=per_pair, judges=judges,
                                       progress=progress)  # fmt: skip
    for name, s in results["splits"].items():
        for kind in ("model", "vocoder_ceiling", "own_audio"):
            for judge, t in s.get(kind, {}).items():
                o, a, b = (t[k]["mean"] if isinstance(t[k], dict) else t[k]
                           for k in ("object", "action", "both"))  # fmt: skip
                typer.echo(f"{name} {kind} {judge}: object {o:.2f}, action {a:.2f}, both "
                           f"{b:.2f} ({s['clips']} clips)")  # fmt: skip
    from xmodal.evaluation.report import mean_std

    for name, first in results["distance"][0].items():
        dist = {k: mean_std([r[name]["cosine_x100"][k] for r in results["distance"]])["mean"]
                for k in first["cosine_x100"]}  # fmt: skip
        gaps = [r[name]["gap_closed"] for r in results["distance"]]
        gap = mean_std([float("nan") if g is None else g for g in gaps])["mean"]
        typer.echo(f"{name} cosine distance x100: model {dist['model']:.1f}, train mean "
                   f"{dist['train mean']:.1f}, oracle {dist['oracle']:.1f}; gap closed "
                   f"{gap:.2f} ({first['clips']} clips)")  # fmt: skip
    typer.echo(f"wrote {out / 'results.json'}, {out / 'report.md'}")


@app.command("voices")
def voices(
    data: Path = typer.Option(..., "--data", help="Object-action world whose phrases are spoken."),
    out: Path = typer.Option(..., "--out", help="Report directory."),
    candidates: str | None = typer.Option(
        None,
        "--candidates",
        show_default=False,
        help="Comma list of [flite:]voice[+variant]:rate[:layout] (layout slots or phrase; "
        "flite: a voice of Debian's flite, else espeak-ng), e.g. "
        "en:150:phrase,en-us+m3:150:slots,flite:kal16:175:slots (default: the fourth round's "
        "seven slotted voices, docs/studies.md).",
    ),
    split: str = typer.Option("val", "--split", help="Whose pairs are spoken (choose on val)."),
    steps: int | None = typer.Option(
        None, "--speech-steps", min=1, show_default=False, help="Log-mel frames per clip."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Choose the canonical voice on val: every candidate's phrases through the vocoder,
    judged by Whisper tiny.en (free) and pocketsphinx (grammar); the winner is the one Whisper
    understands best. Writes results.json and report.md.
    """
    from xmodal.translate.voices import DEFAULT_CANDIDATES, choose_voice

    with user_errors(ImportError):
        names = (
            tuple(c.strip() for c in candidates.split(",") if c.strip())
            if candidates
            else DEFAULT_CANDIDATES
        )
        results = choose_voice(data, out, names, split=split, speech_steps=steps,
                               progress=progress)  # fmt: skip
    for name, s in results["candidates"].items():
        w = s["vocoded"]["whisper"]
        typer.echo(f"{name}: Whisper both {w['both']:.2f} (raw {s['raw_whisper']['both']:.2f}), "
                   f"grammar both {s['vocoded']['grammar']['both']:.2f}")  # fmt: skip
    typer.echo(f"best: {results['best']}\nwrote {out / 'results.json'}, {out / 'report.md'}")

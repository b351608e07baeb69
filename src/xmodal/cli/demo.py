"""``xmodal demo``: the main job on built-in data (what ``make demo`` runs).

A small object-action world → video and audio features → the thesis comparison on one seed
(raw-feature baseline, β-VAE with the linear ramp-up + Seq2Seq, cross-decoding, the leaky audit)
→ the speech-out pipeline's held-out evaluation → one held-out clip spoken to ``said.wav`` →
the results table and where the report is.
"""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path(".cache/demo"), "--out", help="Working directory for the demo."),
    size: int = typer.Option(500, "--size", min=25, help="Clips in the demo world."),
    seed: int = typer.Option(0, "--seed", help="Seed of the world (and everything after it)."),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Worker processes (default: every core)."
    ),
    quick: bool = typer.Option(
        False, "--quick", help="Tiny models and few steps (a smoke run; numbers mean nothing)."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Generate a small world, train the thesis pipeline, evaluate it on held-out
    compositions, and speak one held-out clip to OUT/said.wav.

    Reruns reuse what is already there (world, features, finished training runs).
    """
    import time

    from rich.console import Console

    from xmodal.cli._common import user_errors
    from xmodal.data.objects import WorldConfig, generate, summarize
    from xmodal.evaluation.studies.thesis import (
        ThesisStudyConfig,
        results_table,
        run_study,
        speech_table,
    )
    from xmodal.features.asr import phrase_grammar, recognise
    from xmodal.media import write_wav
    from xmodal.pipelines.translation import TranslationPipeline, load_clip_features
    from xmodal.utils import default_workers

    console = Console()
    world_dir, report_dir = out / "world", out / "report"
    t0 = time.perf_counter()
    with user_errors(ImportError):
        console.print(f"[bold]1/4[/bold] object-action world: {size} clips -> {world_dir}")
        generate(world_dir, WorldConfig(size=size, seed=seed), workers=workers, progress=progress)
        summary = summarize(world_dir)
        console.print(
            f"    splits {summary['splits']}; held-out pairs: {', '.join(summary['heldout_pairs'])}"
        )
        config = (ThesisStudyConfig.quick if quick else ThesisStudyConfig.demo)(first_seed=seed)
        console.print(
            f"[bold]2/4[/bold] features: video {config.pipeline.video_encoder} at "
            f"{config.pipeline.video_fps or 'native'} fps, audio {config.pipeline.audio_encoder}"
        )
        load_clip_features(world_dir, config.pipeline, progress)
        console.print(
            "[bold]3/4[/bold] train and evaluate: baseline, β-VAE (linear ramp-up) + Seq2Seq, "
            "cross-decoding, leaky audit, speech out"
        )
        results = run_study(world_dir, report_dir, config, workers=workers or default_workers(),
                            progress=progress)  # fmt: skip
        console.print("[bold]4/4[/bold] speak one held-out clip")
        model_dir = report_dir / "runs" / f"s{seed}" / "speech-vae"
        pipe = TranslationPipeline.load(model_dir)
        clip = _pick_heldout_clip(world_dir)
        wave = pipe.translate_clip(world_dir / clip["path"])
        said_path = out / "said.wav"
        write_wav(said_path, wave, 16000)
        grammar = phrase_grammar(list(pipe.phrases().values()))
        said = recognise(wave, grammar, dither=1e-3).text
    truth = pipe.phrases()[(clip["object"], clip["action"])]
    console.print()
    console.print(results_table(results), markup=False)
    if results["speech"]["models"]:
        console.print(speech_table(results), markup=False)
    for target in results["targets"].values():
        verdict = "met" if target["met"] else "MISSED (the report says what limits it)"
        console.print(
            f"{target['what']}: {target['value']:.3f} (target {target['target']}) — {verdict}",
            markup=False,
        )
    console.print(
        f"\nHeld-out clip {clip['id']} ({clip['object']}, {clip['action']}: a pair never seen in "
        f"training) -> {said_path}\n  the system says: {said or '(nothing recognisable)'!r}  "
        f"(canonical phrase: {truth!r})",
        markup=False,
    )
    console.print(
        f"\nreport: {report_dir / 'report.md'}  results: {report_dir / 'results.json'}\n"
        f"translate any clip: xmodal translate CLIP.mp4 --model {model_dir} -o said.wav "
        f"--recognise\n({time.perf_counter() - t0:.0f} s)",
        markup=False,
    )


def _pick_heldout_clip(world_dir: Path) -> dict:
    """The first held-out (knife, rotate) clip, else the first held-out clip."""
    from xmodal.data.manifest import read_manifest

    rows = [r for r in read_manifest(world_dir) if r["split"] == "heldout"]
    if not rows:
        raise ValueError(f"{world_dir}: the world has no held-out clips")
    knife = [r for r in rows if (r["object"], r["action"]) == ("knife", "rotate")]
    return (knife or rows)[0]

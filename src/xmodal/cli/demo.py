"""``xmodal demo``: the main job on built-in data (what ``make demo`` runs).

A small object-action world → video and audio features → the thesis comparison on one seed
(raw-feature baseline, β-VAE with the linear ramp-up + Seq2Seq, cross-decoding, the leaky audit)
→ the speech-out pipeline's held-out evaluation → one held-out clip spoken to ``said.wav`` →
the results table → a joint video/audio/text space trained on the world's train split, the
test and held-out clips ingested into a fresh memory library, and three cross-modal searches
(a sentence, a recording, a frame) → where everything is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    compositions, speak one held-out clip to OUT/said.wav, then search a memory library of the
    world's test and held-out clips by a sentence, a recording and a frame.

    Reruns reuse what is already there (world, features, finished training runs, the library).
    """
    import time

    from rich.console import Console

    from xmodal.cli._common import user_errors
    from xmodal.cli.demo_library import demo_library, match_counts
    from xmodal.data.manifest import clip_path, read_manifest
    from xmodal.data.objects import WorldConfig, generate, summarize
    from xmodal.evaluation.studies.thesis import (
        ThesisStudyConfig,
        results_table,
        run_study,
        speech_table,
        target_line,
    )
    from xmodal.features.asr import phrase_grammar, recognise
    from xmodal.joint import train_joint
    from xmodal.media import write_wav
    from xmodal.pipelines.translation import TranslationPipeline, load_clip_features
    from xmodal.utils import default_workers

    console = Console()
    world_dir, report_dir = out / "world", out / "report"
    t0 = time.perf_counter()
    with user_errors(ImportError):
        console.print(f"[bold]1/5[/bold] object-action world: {size} clips -> {world_dir}")
        generate(world_dir, WorldConfig(size=size, seed=seed), workers=workers, progress=progress)
        summary = summarize(world_dir)
        console.print(
            f"    splits {summary['splits']}; held-out pairs: {', '.join(summary['heldout_pairs'])}"
        )
        config = (ThesisStudyConfig.quick if quick else ThesisStudyConfig.demo)(first_seed=seed)
        console.print(
            f"[bold]2/5[/bold] features: video {config.pipeline.video_encoder} at "
            f"{config.pipeline.video_fps or 'native'} fps, audio {config.pipeline.audio_encoder}"
        )
        load_clip_features(world_dir, config.pipeline, progress)
        console.print(
            "[bold]3/5[/bold] train and evaluate: baseline, β-VAE (linear ramp-up) + Seq2Seq, "
            "cross-decoding, leaky audit, speech out"
        )
        results = run_study(world_dir, report_dir, config, workers=workers or default_workers(),
                            progress=progress)  # fmt: skip
        console.print("[bold]4/5[/bold] speak one held-out clip")
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
            console.print(f"{target_line(target)} — {verdict}", markup=False)
        console.print(
            f"\nHeld-out clip {clip['id']} ({clip['object']}, {clip['action']}: a pair never seen "
            f"in training) -> {said_path}\n  the system says: "
            f"{said or '(nothing recognisable)'!r}  (canonical phrase: {truth!r})\n",
            markup=False,
        )

        joint_dir, library_dir = out / "joint", out / "library"
        console.print(
            f"[bold]5/5[/bold] memory library: a joint video/audio/text space trained on the train "
            f"split -> {joint_dir}; the test and held-out clips ingested into {library_dir}"
        )
        train_joint(world_dir, joint_dir, demo_joint_config(config.pipeline, quick),
                    progress=progress)  # fmt: skip
        report, searches = demo_library(world_dir, library_dir, model=joint_dir, workers=workers,
                                        splits=("test", "heldout"), progress=progress)  # fmt: skip
    console.print(f"    {report.summary()}", markup=False)
    counts = match_counts(world_dir, searches)
    clips = {str(clip_path(world_dir, r).resolve()): r for r in read_manifest(world_dir)}
    for (description, hits), (objects, pairs, n) in zip(searches, counts, strict=True):
        console.print(_hits_table(hits, clips, title=description))
        console.print(f"    of {n} hits, {objects} show the query's object and {pairs} its "
                      "(object, action)", markup=False)  # fmt: skip
    console.print(
        f"\nreport: {report_dir / 'report.md'}  results: {report_dir / 'results.json'}\n"
        f"translate any clip: xmodal translate CLIP.mp4 --model {model_dir} -o said.wav "
        f"--recognise\nsearch the library: xmodal library search 'rotate the knife' "
        f"--library {library_dir}\n({time.perf_counter() - t0:.0f} s)",
        markup=False,
    )


def _hits_table(hits: list[Any], clips: dict[str, dict[str, Any]], title: str) -> Any:
    """A demo search's hits as a table of clips: rank, score, clip, split, what it shows, and
    which ranked lists found it (``joint`` is the trained space)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ("#", "score", "clip", "split", "shows", "matched by"):
        table.add_column(col, justify="right" if col in ("#", "score") else "left")
    for hit in hits:
        row = clips.get(str(Path(hit.path).resolve()), {})
        shows = f"{row['object']}, {row['action']}" if "object" in row else ""
        table.add_row(str(hit.rank), f"{hit.score:.4f}", row.get("id", Path(hit.path).name),
                      row.get("split", ""), shows, ",".join(hit.matched_by))  # fmt: skip
    return table


def demo_joint_config(pipeline: Any, quick: bool = False) -> Any:
    """The demo's joint space: the thesis pipeline's video features (already extracted, so
    nothing is decoded twice), log-mel audio and MiniLM text; 600 steps (30 when ``quick``)."""
    from xmodal.joint import JointTrainConfig
    from xmodal.training.loop import TrainConfig

    steps = 30 if quick else 600
    train = TrainConfig(max_steps=steps, batch_size=128, lr=1e-3, weight_decay=0.01,
                        eval_every=max(steps // 6, 5), log_every=max(steps // 30, 1))  # fmt: skip
    return JointTrainConfig(video=pipeline.video_encoder, fps=pipeline.video_fps, train=train)


def _pick_heldout_clip(world_dir: Path) -> dict:
    """The first held-out (knife, rotate) clip, else the first held-out clip."""
    from xmodal.data.manifest import read_manifest

    rows = [r for r in read_manifest(world_dir) if r["split"] == "heldout"]
    if not rows:
        raise ValueError(f"{world_dir}: the world has no held-out clips")
    knife = [r for r in rows if (r["object"], r["action"]) == ("knife", "rotate")]
    return (knife or rows)[0]

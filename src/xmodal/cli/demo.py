"""``xmodal demo``: the main job on built-in data (what ``make demo`` runs).

A small object-action world → video and audio features → the video → speech translation chosen
on val (the structured model), fitted in a worker process while a joint video/audio/text
space is trained on the world's train split, the test clips and a few held-out clips of each
held-out pair are ingested into a fresh memory library and searched three ways (a sentence, a
recording, a frame) → the translation's speech judged on seen (test) and unseen (held-out)
pairs by two listeners beside their ceilings → one held-out clip spoken to ``said.wav`` with
``said.png`` → where everything is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

# held-out clips of each held-out pair in the demo's library (all 2 test clips of each seen
# pair go in): the library's Whisper transcripts are a third of the demo's time
LIBRARY_PER_PAIR = 4


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
    """Generate a small world, fit the video → speech translation chosen on val (in a worker,
    while a memory library of the world's test and held-out clips is built and searched by a
    sentence, a recording and a frame), judge its speech on seen and held-out pairs with two
    listeners, and speak one held-out clip to OUT/said.wav (and OUT/said.png).

    Reruns reuse what is already there (world, features, finished runs, the library).
    """
    import time

    from rich.console import Console

    from xmodal.cli._common import user_errors
    from xmodal.cli.demo_library import demo_library, match_counts
    from xmodal.cli.demo_translate import (
        DEMO_MODEL,
        JUDGE_PER_PAIR,
        demo_config,
        judge_ceilings,
        judge_run,
        pick_heldout_clip,
        run_dir,
        speak_clip,
        start_fit,
    )
    from xmodal.data.manifest import clip_path, read_manifest
    from xmodal.data.objects import WorldConfig, generate, summarize
    from xmodal.joint import train_joint
    from xmodal.translate import load_clip_features
    from xmodal.translate.evaluate import judges_table
    from xmodal.utils import default_workers
    from xmodal.workers import worker_pool

    console = Console()
    world_dir, translate_dir = out / "world", out / "translate"
    t0 = time.perf_counter()
    with user_errors(ImportError):
        console.print(f"[bold]1/5[/bold] object-action world: {size} clips -> {world_dir}")
        generate(world_dir, WorldConfig(size=size, seed=seed), workers=workers, progress=progress)
        summary = summarize(world_dir)
        console.print(
            f"    splits {summary['splits']}; held-out pairs: {', '.join(summary['heldout_pairs'])}"
        )
        config = demo_config(quick)
        console.print(
            f"[bold]2/5[/bold] features: video {config.video_encoder} at "
            f"{config.video_fps or 'native'} fps, audio {config.audio_encoder}"
        )
        load_clip_features(world_dir, config, progress)
        run = run_dir(translate_dir, config)
        console.print(
            f"[bold]3/5[/bold] translation, in a worker process meanwhile: fit the "
            f"{DEMO_MODEL} pipeline (the best on val: docs/studies.md; "
            f"{config.structured_train.max_steps} steps) -> {run}, then judge its speech "
            "on test and held-out clips (pocketsphinx under the phrase grammar, Whisper tiny.en "
            "free)"
        )
        joint_dir, library_dir = out / "joint", out / "library"
        with worker_pool(1) as pool:
            fitting = start_fit(pool, world_dir, run, config, seed=seed)
            console.print(
                f"[bold]4/5[/bold] memory library: a joint video/audio/text space trained on the "
                f"train split -> {joint_dir}; the test clips and the first "
                f"{LIBRARY_PER_PAIR} held-out clips of each held-out pair ingested into "
                f"{library_dir}"
            )
            train_joint(world_dir, joint_dir, demo_joint_config(config, quick),
                        progress=progress)  # fmt: skip
            # the translation's worker has a core: ingest with the others (one: in this process)
            ingesters = max(1, (workers or default_workers()) - 1)
            report, searches = demo_library(world_dir, library_dir, model=joint_dir,
                                            workers=ingesters, splits=("test", "heldout"),
                                            per_pair=LIBRARY_PER_PAIR,
                                            progress=progress)  # fmt: skip
            ceilings = judge_ceilings(world_dir, translate_dir, config, progress=progress)
            fitting.result()
        judged = judge_run(world_dir, run, workers=workers, progress=progress)
        console.print(f"    {report.summary()}", markup=False)
        counts = match_counts(world_dir, searches)
        clips = {str(clip_path(world_dir, r).resolve()): r for r in read_manifest(world_dir)}
        for (description, hits), (objects, pairs, n) in zip(searches, counts, strict=True):
            console.print(_hits_table(hits, clips, title=description))
            console.print(f"    of {n} hits, {objects} show the query's object and {pairs} its "
                          "(object, action)", markup=False)  # fmt: skip
        clip = pick_heldout_clip(world_dir)
        console.print(
            f"[bold]5/5[/bold] what the translation says: {judged['label']} on test (pairs seen "
            f"in training) and held-out clips (pairs never seen; at most {JUDGE_PER_PAIR} "
            "clips of each pair), beside each listener's ceilings; held-out clip "
            f"{clip['id']} ({clip['object']}, {clip['action']}) -> {out / 'said.wav'}, "
            f"{out / 'said.png'}"
        )
        table = {judged["label"]: judged["splits"], "ceilings": ceilings}
        console.print(judges_table(table), markup=False, soft_wrap=True)
        spoken = speak_clip(run, world_dir, clip, out)
    console.print(f"held-out clip {clip['id']}: {clip['object']}, {clip['action']} (a pair never "
                  "seen in training)", markup=False)  # fmt: skip
    for judge, text in spoken["heard"].items():
        console.print(f"    {judge} hears: {text or '(nothing)'!r}", markup=False)
    console.print(f"    canonical phrase: {spoken['canonical']!r}", markup=False)
    console.print(
        f"\njudged: {run / 'eval' / 'report.md'}\n"
        f"the thesis' β-VAE pipeline: xmodal train translate --data {world_dir} --out "
        f"{translate_dir / 'flat'} --model flat\n"
        f"translate any clip: xmodal translate CLIP.mp4 --model {run} "
        f"-o said.wav --recognise\nsearch the library: xmodal library search 'rotate the knife' "
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
    """The demo's joint space: the default translation pipeline's video features
    (``efficientnet-lite0-spatial``: the library tags frames with its ImageNet head, which the
    structured model's rotation-averaged features would blur; the quick run's pipeline
    features), log-mel audio and MiniLM text; 600 steps (30 when ``quick``)."""
    from xmodal.joint import JointTrainConfig
    from xmodal.training.loop import TrainConfig
    from xmodal.translate import TranslationConfig

    steps = 30 if quick else 600
    train = TrainConfig(max_steps=steps, batch_size=128, lr=1e-3, weight_decay=0.01,
                        eval_every=max(steps // 6, 5), log_every=max(steps // 30, 1))  # fmt: skip
    video = pipeline.video_encoder if quick else TranslationConfig().video_encoder
    return JointTrainConfig(video=video, fps=pipeline.video_fps, train=train)

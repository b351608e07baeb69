"""``xmodal data``: build datasets, the synthetic worlds and folders of your own media."""

from __future__ import annotations

from pathlib import Path

import typer

from xmodal.cli._common import user_errors

app = typer.Typer(
    help="Build datasets (manifest.jsonl + dataset.json): the synthetic worlds, or a folder of "
    "your own media.",
    no_args_is_help=True,
)


@app.command("objects")
def objects(
    out: Path = typer.Option(..., "--out", help="Dataset directory to create (or resume)."),
    size: int = typer.Option(2500, "--size", min=1, help="Clips (the thesis used 36000)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed; same seed, same clips."),
    holdout: str | None = typer.Option(
        None,
        "--holdout",
        help="Held-out OBJECT:ACTION pairs, comma-separated, or 'none' "
        "(default: knife:rotate,pen:up,phone:left,spoon:down,fork:right).",
        show_default=False,
    ),
    split: str = typer.Option(
        "compositional", "--split", help="compositional (held-out pairs) or random."
    ),
    frames: int = typer.Option(16, "--frames", min=2, help="Frames per clip."),
    fps: int = typer.Option(8, "--fps", min=1, help="Frame rate (clip length = frames / fps)."),
    resolution: int = typer.Option(128, "--resolution", help="Frame height and width (pixels)."),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Worker processes (default: every core).", show_default=False
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Generate the object-action world: drawn objects moving, with spoken descriptions.

    5 objects (pen, phone, spoon, knife, fork) x 5 actions (left, right, up, down, rotate).

    Writes OUT/clips/<id>.mp4 (video + speech) with a .json sidecar each, then OUT/manifest.jsonl.

    A rerun skips finished clips (an interrupted run resumes); other options into OUT are refused.
    """
    from xmodal.data.objects import WorldConfig, format_summary, generate, summarize
    from xmodal.data.splits import parse_holdout

    with user_errors(ImportError):
        config = WorldConfig(
            size=size,
            seed=seed,
            holdout=None if holdout is None else parse_holdout(holdout),
            split=split,
            frames=frames,
            fps=fps,
            resolution=resolution,
        )
        generate(out, config, workers=workers, progress=progress)
        typer.echo(f"wrote {out}\n{format_summary(summarize(out))}")


@app.command("talking")
def talking(
    out: Path = typer.Option(..., "--out", help="Dataset directory to create (or resume)."),
    size: int = typer.Option(600, "--size", min=1, help="Clips (about 3-5 s each)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed; same seed, same clips."),
    speakers: int = typer.Option(
        30, "--speakers", min=1, help="Distinct speakers (face + voice); splits are by speaker."
    ),
    resolution: int = typer.Option(96, "--resolution", help="Frame height and width (pixels)."),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Worker processes (default: every core).", show_default=False
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Generate the talking-head world for audio-visual sync: drawn faces speaking random
    sentences (espeak-ng), lips driven by the phoneme timings, 25 fps video + 16 kHz audio.

    Speakers (appearance + voice) are split 70/10/20 into train/val/test, so test speakers are
    never seen in training. Each manifest row stores the mouth box of every frame.

    A rerun skips finished clips (an interrupted run resumes); other options into OUT are refused.
    """
    from xmodal.data.talking import TalkingConfig, format_summary, generate, summarize

    with user_errors(ImportError):
        config = TalkingConfig(size=size, seed=seed, speakers=speakers, resolution=resolution)
        generate(out, config, workers=workers, progress=progress)
        typer.echo(f"wrote {out}\n{format_summary(summarize(out))}")


@app.command("folder")
def folder(
    src: Path = typer.Argument(..., help="Folder of your media (videos, recordings, captions)."),
    out: Path = typer.Option(..., "--out", help="Dataset directory to write (no media copied)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the random train/val/test split."),
    val: float = typer.Option(0.1, "--val", min=0.0, max=1.0, help="Fraction of clips in val."),
    test: float = typer.Option(0.1, "--test", min=0.0, max=1.0, help="Fraction in test."),
    recursive: bool = typer.Option(
        True, "--recursive/--no-recursive", help="Also look in sub-folders."
    ),
) -> None:
    """Turn a folder of your own paired media into a dataset (manifest.jsonl + dataset.json).

    Pairs: a video with its sound track (video + audio); a recording with a transcript or
    caption file of the same name, .txt/.srt/.vtt (audio + text); a video with a caption file
    (video + text, + audio if it has sound). Files with a single modality are listed as skipped.

    The manifest points at the original files; split is random train/val/test by --seed.
    """
    from xmodal.data.folder import FolderConfig, build_folder_dataset, format_folder_summary

    with user_errors(NotADirectoryError):
        config = FolderConfig(seed=seed, fractions=(1.0 - val - test, val, test))
        build_folder_dataset(src, out, config)
        typer.echo(f"wrote {out}\n{format_folder_summary(out)}")

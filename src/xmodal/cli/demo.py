"""``xmodal demo``: the main job on built-in data (what ``make demo`` runs)."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path(".cache/demo"), "--out", help="Working directory for the demo."),
    size: int = typer.Option(
        500, "--size", min=25, help="Clips in the demo's object-action world."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the world (and everything after it)."),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Worker processes (default: every core)."
    ),
) -> None:
    """Generate a small object-action world and summarise it.

    Reruns reuse what is already there (the world generator skips finished clips).
    """
    from rich.console import Console
    from rich.table import Table

    from xmodal.cli._common import user_errors
    from xmodal.data.objects import WorldConfig, generate, summarize

    console = Console()
    world_dir = out / "world"
    with user_errors():
        console.print(f"[bold]1/1[/bold] object-action world: {size} clips -> {world_dir}")
        generate(world_dir, WorldConfig(size=size, seed=seed), workers=workers)
        summary = summarize(world_dir)

    table = Table(title=f"object-action world ({world_dir})")
    table.add_column("split")
    table.add_column("clips", justify="right")
    for split, n in summary["splits"].items():
        table.add_row(split, str(n))
    console.print(table)
    console.print(
        f"{summary['clips']} clips, {summary['duration']:.0f} s of video with speech; "
        f"held-out pairs: {', '.join(summary['heldout_pairs'])}"
    )

"""``xmodal library``: ingest videos, recordings and notes; search any modality with any other.

The library lives in ``~/.local/share/xmodal/library`` (LanceDB) unless ``--library DIR`` or a
PostgreSQL URL (``--db URL`` or ``XMODAL_DATABASE_URL``) says otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from xmodal.cli._common import user_errors

app = typer.Typer(
    help="The memory library: ingest videos, recordings and notes; search them with text, "
    "an image, a recording or a video.",
    no_args_is_help=True,
)

_LIBRARY_HELP = "Library directory (LanceDB; default ~/.local/share/xmodal/library)."
_DB_HELP = "PostgreSQL URL (pgvector), e.g. postgresql://user@host/db; or XMODAL_DATABASE_URL."


def _library_option() -> Any:
    return typer.Option(None, "--library", help=_LIBRARY_HELP)


def _db_option() -> Any:
    return typer.Option(None, "--db", help=_DB_HELP)


def _open(library: Path | None, db: str | None, *, create: bool = False, **kwargs: Any) -> Any:
    from xmodal.library.library import Library

    lib = Library.open(library, db, create=create, **kwargs)
    for warning in lib.warnings:
        typer.echo(f"warning: {warning}", err=True)
    return lib


def _errors() -> Any:
    from xmodal.features.base import EncoderUnavailable
    from xmodal.library.records import LibraryError

    return user_errors(LibraryError, EncoderUnavailable, ImportError)


def _print_report(report: Any, verbose: bool = False) -> None:
    for path, reason in report.failed:
        typer.echo(f"failed: {path}: {reason}", err=True)
    if verbose:
        for name in ("added", "updated", "moved"):
            for path in getattr(report, name):
                typer.echo(f"{name}: {path}")
        for path, same in report.duplicates:
            typer.echo(f"duplicate: {path} (same content as {same})")
        for path, reason in report.ignored_files:
            typer.echo(f"ignored: {path}: {reason}")
    typer.echo(report.summary())


@app.command("add")
def add(
    paths: list[Path] = typer.Argument(..., help="Files and folders (folders are recursive)."),
    library: Path | None = _library_option(),
    db: str | None = _db_option(),
    model: Path | None = typer.Option(
        None, "--model", help="Joint space run directory to embed with (a new library)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Worker processes (default: every core)."
    ),
    segment: float = typer.Option(5.0, "--segment", min=0.5, help="Segment length (s)."),
    transcribe: bool = typer.Option(
        True, "--transcribe/--no-transcribe", help="Transcribe speech (Whisper tiny.en)."
    ),
    tags: bool = typer.Option(
        True, "--tags/--no-tags", help="Tag what video shows (ImageNet classes, faces)."
    ),
    faces: bool = typer.Option(
        True,
        "--faces/--no-faces",
        help="Find and describe the faces in video, for 'library people' (dlib; a segment "
        "added with --no-faces is recorded as never looked at).",
    ),
    speaking: bool = typer.Option(
        False,
        "--speaking",
        help="Also decide whether each segment's face says its words (the sync lip model on "
        "every frame: decodes the video again), for 'search --person NAME --speaking'.",
    ),
    proxies: bool = typer.Option(
        False,
        "--proxies",
        help="Also make now the playable copies of files a browser cannot play (AVI, MPEG-2, "
        "AIFF, ...); by default they are made on first play.",
    ),
    watch: bool = typer.Option(
        False, "--watch", help="Then keep following the folders for new and changed files."
    ),
    interval: float = typer.Option(2.0, "--interval", min=0.1, help="Seconds between polls."),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="List every file's outcome, and what was ignored and why."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Ingest video, audio and notes into the library.

    Notes: .txt and .md in any common encoding (detected and recorded), .pdf (by page), .docx
    and .html (by heading); a hit says where it is ("page 3").

    In folders, files with other suffixes are probed and taken when FFmpeg decodes audio or
    video in them (.aiff, NIST .sph, ...); the rest are ignored (--verbose lists them).

    Each video segment gets a thumbnail and each recording a waveform (under the library).
    Faces seen in video are described and grouped into people ('xmodal library people').

    Unchanged files are skipped, moved or renamed files only get their path updated (found by
    content hash), changed files are re-embedded. A corrupt or unsupported file is reported
    (path and reason) and skipped. An interrupted run resumes where it stopped.

    Exit code: 0 when something was ingested or already there, 1 when every file failed.

    Example: xmodal library add ~/Videos ~/notes --watch
    """
    from xmodal.library.embed import IngestConfig

    with _errors():
        config = IngestConfig(segment_seconds=segment, transcribe=transcribe, tags=tags,
                              faces=faces, speaking=speaking)  # fmt: skip
        lib = _open(library, db, create=True, model=model, config=config)
        with lib:
            report = lib.add(paths, workers=workers, progress=progress, proxies=proxies)
            _print_report(report, verbose)
            if not watch:
                if not report.ok:
                    raise typer.Exit(code=1)
                return
            _watch(lib, paths, interval, workers, verbose)


def _watch(lib: Any, paths: list[Path], interval: float, workers: int | None, verbose: bool):
    from xmodal.library.watch import watch

    folders = ", ".join(str(p) for p in paths)
    typer.echo(f"watching {folders} every {interval:g} s (Ctrl-C to stop)")

    def on_report(ready: list[Path], report: Any) -> None:
        _print_report(report, verbose)

    try:
        watch(lib, paths, interval=interval, on_report=on_report, workers=workers)
    except KeyboardInterrupt:
        typer.echo("stopped watching")


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    m, s = divmod(int(round(seconds)), 60)
    return f"{m:02d}:{s:02d}"


@app.command("search")
def search(
    query: str = typer.Argument(
        ..., help="Words to search for, or a path to an image, recording, video or note."
    ),
    library: Path | None = _library_option(),
    db: str | None = _db_option(),
    modality: str | None = typer.Option(
        None, "--modality", "-m", help="Only these modalities, e.g. video,audio."
    ),
    since: str | None = typer.Option(None, "--since", help="Created on/after YYYY-MM-DD."),
    until: str | None = typer.Option(None, "--until", help="Created on/before YYYY-MM-DD."),
    path: str | None = typer.Option(
        None, "--path", help="Only files matching this glob (or inside this folder)."
    ),
    tag: list[str] | None = typer.Option(
        None,
        "--tag",
        "-t",
        help="Only moments tagged with this word: a tag's name, synonym or hypernym "
        "(--tag bird keeps a cockatoo). Repeat it, or use commas, for any of several.",
    ),
    person: str | None = typer.Option(
        None,
        "--person",
        help="Only moments where this person is seen (an id or name from 'library people').",
    ),
    speaking: bool = typer.Option(
        False,
        "--speaking",
        help="With --person: only moments where they are the one speaking (files added with "
        "'library add --speaking').",
    ),
    k: int = typer.Option(10, "-k", "--top", min=1, help="Number of results."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of results."),
    model: Path | None = typer.Option(
        None, "--model", help="The library's joint space run directory, if not registered."
    ),
) -> None:
    """Search the library across modalities (hybrid: vectors fused with full text).

    A text query finds notes, transcripts, what video shows (its visual tags) and (with a joint
    space) video and sound; an image finds the videos it looks like; a recording finds what
    was said in it and sounds like it; a video finds similar video.

    When no result of a text query reaches a relevance floor (docs/library.md, "No strong
    match"), it says "no strong match" and lists the closest hits apart.

    Example: xmodal library search "birthday cake" --modality video --since 2024-01-01

    Example: xmodal library search "a man in a suit" --tag face

    A named person's name in the query finds the moments they are seen in ("Ada lease": Ada's
    moments, fused with the lists for "lease"); --person keeps only their moments.

    Example: xmodal library search "lease" --person Ada

    Example: xmodal library search "lease" --person Ada --speaking
    """
    from rich.console import Console

    from xmodal.library.search import strong_match

    tags = [w for t in tag or [] for w in t.split(",") if w.strip()] or None
    with _errors(), _open(library, db, model=model) as lib:
        results = lib.search(query, modalities=modality, since=since, until=until,
                             path_glob=path, tags=tags, person=person, speaking=speaking,
                             k=k)  # fmt: skip
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2))
        return
    if not results:
        typer.echo("no results")
        return
    title = None
    if not strong_match(results):
        typer.echo(f"no strong match for {query!r}: nothing in the library clearly shows or "
                   "says it. The closest:")  # fmt: skip
        title = "closest (weak) hits"
    table = results_table(results, title=title)
    console = Console()
    if not console.is_terminal:  # piped: one line per result, whatever its length
        seen = max(len(", ".join(t.name for t in r.tags[:3])) for r in results)
        needed = 60 + max(len(r.path) for r in results) + max(len(r.text[:80]) for r in results)
        needed += seen + 8 if seen else 8
        console = Console(width=max(120, needed))
    console.print(table)


def results_table(results: list[Any], title: str | None = None) -> Any:
    """A rich table of search results: rank, score, modality, path, where (the time range, or a
    note's page or heading), lists, what is seen (the segment's tags), text."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col, justify in (("#", "right"), ("score", "right"), ("modality", "left"),
                         ("path", "left"), ("where", "left"), ("matched by", "left"),
                         ("seen", "left"), ("text", "left")):  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in results:
        span = f"{_clock(r.start)}–{_clock(r.end)}" if r.start is not None else r.place
        snippet = r.text if len(r.text) <= 80 else r.text[:79] + "…"
        seen = ", ".join(t.name for t in r.tags[:3])
        table.add_row(str(r.rank), f"{r.score:.4f}", r.modality.value, r.path, span,
                      ",".join(r.matched_by), seen, snippet)  # fmt: skip
    return table


@app.command("stats")
def stats(
    library: Path | None = _library_option(),
    db: str | None = _db_option(),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Counts, durations, embedding spaces and size of the library."""
    with _errors(), _open(library, db) as lib:
        info = lib.stats()
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    mods = ", ".join(f"{n} {m}" for m, n in info["entries_by_modality"].items())
    size = info.get("size_bytes")
    lines = [
        f"library: {info['location']} ({info['backend']}, schema {info['schema_version']})",
        f"entries: {info['entries']} ({mods}); segments: {info['segments']}; "
        f"media: {info['duration_s'] / 60:.1f} min",
        "spaces: "
        + ", ".join(
            f"{s} ({w}-d, {info['vectors'].get(s, 0)} vectors)" for s, w in info["spaces"].items()
        ),
        f"joint model: {info['joint_model'] or 'none (xmodal library train)'}",
    ]
    if size is not None:
        lines.append(f"size: {size / 1e6:.1f} MB")
    typer.echo("\n".join(lines))


@app.command("remove")
def remove(
    targets: list[str] = typer.Argument(
        ..., help="Entry ids (or unique prefixes), file paths, or folders."
    ),
    library: Path | None = _library_option(),
    db: str | None = _db_option(),
) -> None:
    """Remove entries from the library (the files themselves are not touched)."""
    with _errors(), _open(library, db) as lib:
        for target in targets:
            for entry in lib.remove(target):
                typer.echo(f"removed {entry.id[:12]} {entry.path}")


@app.command("reindex")
def reindex(
    library: Path | None = _library_option(),
    db: str | None = _db_option(),
    model: Path | None = typer.Option(
        None, "--model", help="Re-embed with this joint space run directory."
    ),
    frozen_only: bool = typer.Option(
        False, "--frozen-only", help="Drop the joint space (frozen encoders only)."
    ),
    force: bool = typer.Option(False, "--force", help="Re-embed (or redraw) every entry."),
    thumbnails: bool = typer.Option(
        False, "--thumbnails", help="Only draw the pictures (thumbnails, waveforms) entries lack."
    ),
    faces: bool = typer.Option(
        False, "--faces", help="Only look for the faces of videos never looked at, for people."
    ),
    speaking: bool = typer.Option(
        False, "--speaking", help="Only decide who speaks where it is undecided (lip model)."
    ),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Worker processes."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Re-embed the library (after changing the model; finishes an interrupted reindex).

    Transcripts and segments are kept; only vectors are recomputed. Videos stored before
    visual tags existed are tagged (a rerun tags only those still untagged). With
    --thumbnails, nothing is re-embedded: videos and recordings ingested before pictures get
    their thumbnails and waveforms (a rerun draws only what is still missing). With --faces,
    videos ingested before faces (or with --no-faces) are looked at for faces, and the people
    regrouped. With --speaking, segments with speech and one face get their speaker decided
    (as 'library add --speaking' does).
    """
    with _errors(), _open(library, db, model=model) as lib:
        report = lib.reindex(model, frozen_only=frozen_only, force=force, workers=workers,
                             progress=progress, thumbnails=thumbnails, faces=faces,
                             speaking=speaking)  # fmt: skip
    _print_report(report)


@app.command("export")
def export(
    out: str = typer.Argument(..., help="Output JSON-lines file ('-' for stdout)."),
    library: Path | None = _library_option(),
    db: str | None = _db_option(),
    vectors: bool = typer.Option(False, "--vectors", help="Include every segment's vectors."),
) -> None:
    """Export every entry with its segments and transcripts as JSON lines."""
    from xmodal.library.export import export_row

    with _errors(), _open(library, db) as lib:
        if out == "-":
            for entry in lib.entries():
                row = export_row(entry, lib.store.segments(entry.id), vectors)
                sys.stdout.write(json.dumps(row) + "\n")
            return
        n = lib.export(out, vectors=vectors)
    typer.echo(f"exported {n} entries to {out}")


@app.command("train")
def train(
    library: Path | None = _library_option(),
    db: str | None = _db_option(),
    out: Path | None = typer.Option(
        None, "--out", help="Dataset + run directory (default ~/.local/share/xmodal/models/...)."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="JointTrainConfig YAML (default: built-in settings)."
    ),
    steps: int | None = typer.Option(None, "--steps", min=1, help="Optimiser steps."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=2, help="Clips per step."),
    reindex_after: bool = typer.Option(
        True, "--reindex/--no-reindex", help="Re-embed the library with the trained space."
    ),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Reindex workers."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Train the joint embedding on the library's own videos, sound and transcripts, then
    reindex: the library's own unified vector space.

    Example: xmodal library train --steps 1000
    """
    import dataclasses

    from xmodal.config import ConfigError, load_yaml
    from xmodal.joint import JointTrainConfig

    with _errors(), user_errors(ConfigError), _open(library, db) as lib:
        cfg = load_yaml(JointTrainConfig, config) if config is not None else None
        if steps is not None or batch_size is not None:
            cfg = cfg or JointTrainConfig()
            changes = {"max_steps": steps, "batch_size": batch_size}
            changes = {k: v for k, v in changes.items() if v is not None}
            cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **changes))
        run = train_library_space(lib, out, cfg, progress=progress, workers=workers,
                                  reindex=reindex_after)  # fmt: skip
    typer.echo(f"joint space trained: {run}")


def train_library_space(
    lib: Any,
    out_dir: Path | None = None,
    config: Any = None,
    *,
    progress: bool = True,
    workers: int | None = None,
    reindex: bool = True,
) -> Path:
    """Train a joint space on a library's own videos and recordings, then reindex it.

    The library exports a dataset of its media (one clip per video/audio entry whose file still
    exists: its frames, its sound, its transcript; split 80/10/10 by entry id,
    :func:`~xmodal.library.export.build_training_set`), the joint job trains on it
    (:func:`~xmodal.joint.train_joint`, resumable), and the library is re-embedded with the new
    space (or, without ``reindex``, the model is only registered). The two jobs meet here, in
    the CLI: the library never imports the joint job's training.

    Args:
        lib: an open :class:`~xmodal.library.Library`.
        out_dir: where the dataset (``dataset/``) and the run (``run/``) go (default:
            ``$XDG_DATA_HOME/xmodal/models/library-<time>``).
        config: a :class:`~xmodal.joint.JointTrainConfig` (default: the built-in settings with
            the batch capped at the number of training clips).
        progress: show progress bars.
        workers: worker processes for the reindex.
        reindex: re-embed the library with the new model when done.

    Returns:
        The run directory.

    Raises:
        LibraryError: the library must be reindexed first, or has too few clips to train on.
    """
    import dataclasses
    import time

    from xmodal.joint import JointTrainConfig, train_joint
    from xmodal.library import LibraryError, default_library_dir
    from xmodal.library.export import build_training_set
    from xmodal.library.joint import load_joint

    if lib.needs_reindex is not None:
        raise LibraryError(lib.needs_reindex)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(out_dir) if out_dir is not None else (
        default_library_dir().parent / "models" / f"library-{stamp}"
    )  # fmt: skip
    dataset = out / "dataset"
    n_train = build_training_set(lib.store, dataset)
    if config is None:
        config = JointTrainConfig()
        train = dataclasses.replace(config.train, batch_size=min(config.train.batch_size,
                                                                 n_train))  # fmt: skip
        config = dataclasses.replace(config, train=train)
    run = train_joint(dataset, out / "run", config, progress=progress)
    if reindex:
        lib.reindex(run, progress=progress, workers=workers)
    else:
        load_joint(run)  # registers it
    return run

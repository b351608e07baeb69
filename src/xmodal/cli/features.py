"""``xmodal features``: list the frozen encoders, extract a dataset's features into the cache."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from xmodal.cli._common import user_errors

app = typer.Typer(
    help="Frozen encoders (video, audio, text) and the per-dataset feature cache.",
    no_args_is_help=True,
)


@app.command("list")
def list_encoders() -> None:
    """Print every registered encoder: name, modality and what it computes."""
    from xmodal.features import specs

    rows = [(s.usage, s.modality.value, s.description) for s in specs()]
    width = max(len(r[0]) for r in rows)
    for usage, modality, description in rows:
        typer.echo(f"{usage:<{width}}  {modality:<5}  {description}")


@app.command("extract")
def extract(
    dataset: Path = typer.Argument(..., help="Dataset directory (manifest.jsonl + dataset.json)."),
    video: str | None = typer.Option(
        None, "--video", help="Video encoder, e.g. efficientnet-lite0, pixels, clip:<id or dir>."
    ),
    audio: str | None = typer.Option(
        None, "--audio", help="Audio encoder, e.g. logmel, mfcc, wav2vec2:<id or dir>."
    ),
    text: str | None = typer.Option(
        None, "--text", help="Text encoder, e.g. minilm, sentence-transformers:<id or dir>."
    ),
    batch_size: int | None = typer.Option(
        None, "--batch-size", min=1, help="Frames/strings per forward pass (encoder default)."
    ),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Cache root instead of DATASET/features (one per dataset)."
    ),
    fps: float | None = typer.Option(
        None, "--fps", min=0.001, help="Decode video at this rate (default: native rate)."
    ),
    chunk_size: int = typer.Option(64, "--chunk-size", min=1, help="Clips per resumable chunk."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Extract features of every clip with each given encoder (cached, resumable).

    Writes DATASET/features/<encoder id>/ (data.npy, offsets.npy, meta.json).

    A rerun is a no-op, an interrupted run resumes, a clip that fails to decode is reported.

    Example: xmodal features extract data/objects --video efficientnet-lite0 --audio logmel
    """
    from xmodal.data.manifest import read_manifest
    from xmodal.features import EncoderUnavailable, get
    from xmodal.features.cache import extract_dataset, is_cached
    from xmodal.types import Modality
    from xmodal.utils import read_json

    with user_errors(EncoderUnavailable, ImportError):
        wanted = [
            (m, n)
            for m, n in ((Modality.VIDEO, video), (Modality.AUDIO, audio), (Modality.TEXT, text))
            if n
        ]
        if not wanted:
            raise ValueError("give at least one encoder: --video NAME, --audio NAME, --text NAME")
        encoders = []
        for modality, name in wanted:
            enc = get(name)
            if enc.modality is not modality:
                raise ValueError(f"--{modality.value} {name}: that encoder reads {enc.modality}")
            encoders.append(enc)
        read_manifest(dataset)  # fail fast, naming the path, before any model loads
        for enc in encoders:
            cached = is_cached(dataset, enc, cache_dir, fps)
            t0 = time.perf_counter()
            out = extract_dataset(
                dataset,
                enc,
                cache_dir,
                batch_size,
                fps=fps,
                chunk_size=chunk_size,
                progress=progress,
            )
            meta = read_json(out / "meta.json")
            state = "cached" if cached else f"{time.perf_counter() - t0:.1f} s"
            typer.echo(
                f"{enc.id}: {meta['count']} clips, {len(meta['failed'])} failed, "
                f"{len(meta['skipped'])} skipped, {state} -> {out}"
            )


@app.command("probe")
def probe(
    dataset: Path = typer.Argument(..., help="Dataset with object labels (an object world)."),
    video: list[str] = typer.Option(
        ..., "--video", help="Video encoder to probe; repeat to compare several."
    ),
    fps: float = typer.Option(4.0, "--fps", min=0.001, help="Decode video at this rate."),
    pca: int = typer.Option(17, "--pca", min=1, help="PCA components before the probe."),
    out: Path | None = typer.Option(
        None, "--out", help="Also write DIR/results.json and DIR/report.md."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Read the object from each encoder's time-pooled appearance with a linear probe.

    Scaler, PCA and logistic regression are fitted on the train split only and scored on val,
    test and held-out clips (accuracy and log-loss), and on each held-out pair. Features are
    extracted into the dataset's cache first (reused when there).

    Example: xmodal features probe data/objects
    --video efficientnet-lite0-streams:image_size=128,crop=1.0
    --video efficientnet-lite0-streams:image_size=128,crop=1.0,rotations=8,zoom=0.4
    """
    from xmodal.data.manifest import read_manifest
    from xmodal.evaluation.probes import object_probe, probe_table
    from xmodal.features import EncoderUnavailable
    from xmodal.utils import atomic_path, write_json

    with user_errors(EncoderUnavailable, ImportError):
        read_manifest(dataset)  # fail fast, naming the path, before any model loads
        t0 = time.perf_counter()
        results = [object_probe(dataset, v, fps=fps, pca=pca, progress=progress) for v in video]
        table = probe_table(results)
        typer.echo(table)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            write_json(out / "results.json", results)
            report = (
                f"# Object probes of video encoders\n\n`{dataset}`, {fps:g} frames/s, PCA "
                f"{results[0]['pca']}, train clips {results[0]['clips']['train']}; chance "
                f"{results[0]['chance']:.2f}. Fitted on train only.\n\n{table}\n\n"
                f"Wall time {time.perf_counter() - t0:.0f} s.\n"
            )
            with atomic_path(out / "report.md") as tmp:
                tmp.write_text(report, encoding="utf-8")
            typer.echo(f"-> {out}/report.md")

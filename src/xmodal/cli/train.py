"""``xmodal train``: train a model on a dataset through the shared training loop."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from xmodal.cli._common import user_errors

if TYPE_CHECKING:
    from xmodal.joint import JointTrainConfig

app = typer.Typer(
    help="Train models: the joint video/audio/text embedding, the video → speech translator.",
    no_args_is_help=True,
)


def _encoder(name: str | None) -> str | None:
    return None if name is None or name.strip().lower() in ("", "none") else name.strip()


def joint_config(
    *,
    video: str | None,
    audio: str | None,
    text: str | None,
    steps: int,
    seed: int = 0,
    batch_size: int = 128,
    lr: float = 1e-3,
    width: int = 256,
    temporal: str = "flatten",
    segments: int = 16,
    pca_dim: int = 64,
    fps: float | None = None,
    eval_every: int = 100,
) -> JointTrainConfig:
    """The :class:`JointTrainConfig` that command-line options describe (``none`` drops a
    modality, ``pca_dim`` 0 keeps the encoder's width)."""
    import dataclasses

    from xmodal.joint import JointTrainConfig

    base = JointTrainConfig()
    return JointTrainConfig(
        video=_encoder(video), audio=_encoder(audio), text=_encoder(text), segments=segments,
        temporal=temporal, pca_dim=pca_dim or None, fps=fps, width=width,  # type: ignore[arg-type]
        train=dataclasses.replace(base.train, max_steps=steps, seed=seed, batch_size=batch_size,
                                  lr=lr, eval_every=min(eval_every, steps)),
    )  # fmt: skip


VIDEO_HELP = "Video encoder (efficientnet-lite0, pixels, clip:<id or dir>) or none."
AUDIO_HELP = "Audio encoder (logmel, mfcc, wav2vec2:<id or dir>) or none."
TEXT_HELP = "Text encoder (minilm, sentence-transformers:<id or dir>) or none."
FPS_HELP = "Decode video at this rate (default: native); features are cached per rate."
TEMPORAL_HELP = "flatten (keeps the order of events) or pool (the head pools over time)."


@app.command("joint")
def joint(
    data: Path = typer.Option(..., "--data", help="Dataset directory (object world or folder)."),
    out: Path = typer.Option(..., "--out", help="Run directory (an unfinished run resumes)."),
    video: str = typer.Option("efficientnet-lite0", "--video", help=VIDEO_HELP),
    audio: str = typer.Option("logmel", "--audio", help=AUDIO_HELP),
    text: str = typer.Option("minilm", "--text", help=TEXT_HELP),
    steps: int = typer.Option(1500, "--steps", min=1, help="Optimiser steps."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the heads' init and data order."),
    batch_size: int = typer.Option(128, "--batch-size", min=2, help="Clips per step."),
    lr: float = typer.Option(1e-3, "--lr", min=0.0, help="AdamW learning rate."),
    width: int = typer.Option(256, "--width", min=1, help="Width of the shared space."),
    temporal: str = typer.Option("flatten", "--temporal", help=TEMPORAL_HELP),
    segments: int = typer.Option(16, "--segments", min=1, help="Temporal segments per clip."),
    pca_dim: int = typer.Option(
        64, "--pca-dim", min=0, help="Per-frame PCA fitted on train (0: keep the encoder width)."
    ),
    fps: float | None = typer.Option(None, "--fps", min=0.001, help=FPS_HELP, show_default=False),
    eval_every: int = typer.Option(100, "--eval-every", min=1, help="Validate every N steps."),
    restart: bool = typer.Option(False, "--restart", help="Discard an unfinished run in --out."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Train a joint embedding of video, audio and text (symmetric InfoNCE over modality pairs).

    Frozen encoder features are cached in DATA/features; PCA is fitted on the train split only.
    Load the result in Python with `xmodal.load(OUT)`; evaluate it with `xmodal eval retrieval`.
    """
    from xmodal.features import EncoderUnavailable
    from xmodal.joint import JointSpace, train_joint

    with user_errors(EncoderUnavailable, ImportError):
        config = joint_config(
            video=video, audio=audio, text=text, steps=steps, seed=seed, batch_size=batch_size,
            lr=lr, width=width, temporal=temporal, segments=segments, pca_dim=pca_dim, fps=fps,
            eval_every=eval_every,
        )  # fmt: skip
        run = train_joint(data, out, config, progress=progress, resume=not restart)
        space = JointSpace.load(run)
        typer.echo(f"wrote {run} ({space.model_id}, width {space.width}, "
                   f"{', '.join(m.value for m in space.modalities)})")  # fmt: skip


@app.command("translate")
def translate(
    data: Path = typer.Option(..., "--data", help="Object-action world (xmodal data objects)."),
    out: Path = typer.Option(..., "--out", help="Run directory (an unfinished run resumes)."),
    model: str = typer.Option(
        "flat",
        "--model",
        help="flat: the thesis' β-VAE video latents + Seq2Seq; raw: Seq2Seq on the "
        "preprocessed video features (the baseline); structured: appearance and motion latent "
        "groups + a slot decoder, speaking the slotted canonical voice (composes: says pairs it "
        "never saw).",
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the models' init and data order."),
    config: Path | None = typer.Option(
        None,
        "--config",
        show_default=False,
        help="A TranslationConfig as YAML (default: configs/translation.yaml's values); "
        "--model overrides its source (structured: and the default voice).",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Fit the whole video → speech pipeline on the world's train split (val for early
    stopping): frozen features, train-fitted preprocessing, the β-VAE (flat), the Seq2Seq
    translator (or the structured model) and the canonical voice. Use the run with `xmodal
    translate CLIP --model OUT` and judge it with `xmodal eval translate --model OUT --data DATA`.
    """
    from xmodal.features import EncoderUnavailable
    from xmodal.translate import MODELS, TranslationConfig, TranslationPipeline, model_config

    with user_errors(EncoderUnavailable, ImportError):
        if model not in MODELS:
            raise ValueError(f"--model must be one of {sorted(MODELS)}, got {model!r}")
        if not data.is_dir():
            raise FileNotFoundError(f"{data}: dataset directory does not exist")
        base = TranslationConfig()
        if config is not None:
            from xmodal.config import load_yaml

            base = load_yaml(TranslationConfig, config)
        cfg = model_config(model, base)
        pipe = TranslationPipeline.fit(data, out, cfg, seed=seed, progress=progress)
        typer.echo(f"wrote {out} ({pipe.label}, seed {seed}, {pipe.meta['fit_seconds']:.0f} s)")

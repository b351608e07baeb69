"""Fitting: the one entry point every translation model is trained through.

:func:`fit_models` trains, on preprocessed ``(train, val)`` arrays, the β-VAE (when the
config's ``source`` is ``"vae"``) and then the Seq2Seq translator that reads its video latents
(or, for the raw baseline, the preprocessed video). :meth:`TranslationPipeline.fit
<xmodal.translate.pipeline.TranslationPipeline.fit>` and every row of the thesis study call it;
they differ only in the arrays they pass (canonical speech at full frame rate, or the thesis
setting's real audio track) and in the config.

``config.source == "structured"`` trains the structured translator alone (two latent groups and
a slot decoder, :mod:`xmodal.models.structured`). Every model goes through the package's one
training loop (:func:`xmodal.training.loop.train`),
so a rerun into the same directory resumes unfinished training and reloads finished runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xmodal.translate.config import LEAKY_LABEL
from xmodal.types import Modality

if TYPE_CHECKING:
    from xmodal.models.beta_vae import BetaVAE, BetaVAEConfig
    from xmodal.models.seq2seq import Seq2Seq, Seq2SeqConfig
    from xmodal.models.structured import StructuredTranslator
    from xmodal.schedules import ScheduleConfig
    from xmodal.training.loop import TrainConfig
    from xmodal.translate.config import TranslationConfig

Pair = tuple[np.ndarray, np.ndarray]  # (train (N, T, D), val (M, T, D))


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch threads (small models: extra OpenMP threads only spin)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


class SequencePairs:
    """A map-style dataset of paired sequences: item ``i`` is ``{key: tensor[i]}``.

    Args:
        **arrays: equal-length ``(N, ...)`` float arrays, e.g. ``video=..., audio=...`` or
            ``source=..., target=...``; the keys ``video``/``audio`` become :class:`Modality`.
    """

    def __init__(self, **arrays: np.ndarray) -> None:
        import torch

        lengths = {len(a) for a in arrays.values()}
        if len(lengths) != 1:
            raise ValueError(f"arrays differ in length: { {k: len(a) for k, a in arrays.items()} }")
        self.n = lengths.pop()
        self.data = {
            (Modality(k) if k in ("video", "audio") else k): torch.from_numpy(
                np.ascontiguousarray(a, dtype=np.float32)
            )
            for k, a in arrays.items()
        }

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[Any, Any]:
        return {k: v[i] for k, v in self.data.items()}


@dataclass(frozen=True)
class TeacherForcing:
    """Scheduled sampling: the teacher-forcing ratio falls linearly from ``start`` to ``end``
    over the run (a pure function of the step, passed to ``Seq2Seq.compute_loss``)."""

    start: float
    end: float
    total_steps: int

    def __call__(self, step: int, last_metrics: Any = None) -> dict[str, float]:
        frac = min(max(step / max(1, self.total_steps), 0.0), 1.0)
        return {"teacher_forcing": self.start + (self.end - self.start) * frac}


def _train_on_pairs(
    build: Callable[[], Any], arrays: dict[str, Pair], train_config: TrainConfig,
    out_dir: str | os.PathLike[str], *, hparams: Any, threads: int, progress: bool,
    extra_config: dict[str, Any] | None,
) -> Any:  # fmt: skip
    """Seed, build the model, and train it on ``{key: (train, val)}`` arrays through the one
    training loop (with ``threads`` torch threads); the model comes back in eval mode."""
    from xmodal.training.loop import train
    from xmodal.utils import seed_everything

    with torch_threads(threads):
        seed_everything(train_config.seed)  # seeds the initialisation too
        model = build()
        train(model, SequencePairs(**{k: v[0] for k, v in arrays.items()}),
              SequencePairs(**{k: v[1] for k, v in arrays.items()}), train_config, out_dir,
              hparams=hparams, progress=progress, extra_config=extra_config)  # fmt: skip
    return model.eval()


def train_beta_vae(
    video: tuple[np.ndarray, np.ndarray],
    audio: tuple[np.ndarray, np.ndarray],
    vae_config: BetaVAEConfig,
    schedule: ScheduleConfig,
    train_config: TrainConfig,
    out_dir: str | os.PathLike[str],
    *,
    threads: int = 1,
    progress: bool = True,
    extra: dict[str, Any] | None = None,
) -> BetaVAE:
    """Train (or resume, or reload a finished) β-VAE on (train, val) preprocessed sequences.

    Args:
        video: ``(train (N, T, Dv), val (M, T, Dv))``.
        audio: ``(train (N, T, Da), val (M, T, Da))``.
        vae_config: model settings; its dims and ``seq_len`` are set from the data.
        schedule: the β schedule.
        train_config: loop settings (its seed seeds the initialisation too).
        out_dir: the run directory.

    Returns:
        The model with its best validation weights, in eval mode.
    """
    from xmodal.models.beta_vae import BetaVAE
    from xmodal.schedules import make_hparams

    cfg = dataclasses.replace(vae_config, video_dim=video[0].shape[2], audio_dim=audio[0].shape[2],
                              seq_len=video[0].shape[1])  # fmt: skip
    return _train_on_pairs(lambda: BetaVAE(cfg), {"video": video, "audio": audio}, train_config,
                           out_dir, hparams=make_hparams(schedule, train_config.max_steps),
                           threads=threads, progress=progress,
                           extra_config={"schedule": dataclasses.asdict(schedule),
                                         **(extra or {})})  # fmt: skip


def train_seq2seq(
    source: tuple[np.ndarray, np.ndarray],
    target: tuple[np.ndarray, np.ndarray],
    seq_config: Seq2SeqConfig,
    train_config: TrainConfig,
    out_dir: str | os.PathLike[str],
    *,
    teacher_forcing: tuple[float, float] = (1.0, 0.5),
    threads: int = 1,
    progress: bool = True,
    extra: dict[str, Any] | None = None,
) -> Seq2Seq:
    """Train (or resume, or reload a finished) Seq2Seq translator ``source → target``.

    Args:
        source: ``(train (N, Ts, Din), val (M, Ts, Din))``.
        target: ``(train (N, Tt, Dout), val (M, Tt, Dout))``.
        seq_config: model settings; ``source_dim``/``target_dim`` are set from the data.
        train_config: loop settings (its seed seeds the initialisation too).
        out_dir: the run directory.
        teacher_forcing: the scheduled-sampling ratio at the first and the last step.

    Returns:
        The model with its best validation weights, in eval mode.
    """
    from xmodal.models.seq2seq import Seq2Seq

    cfg = dataclasses.replace(seq_config, source_dim=source[0].shape[2],
                              target_dim=target[0].shape[2])  # fmt: skip
    tf = TeacherForcing(teacher_forcing[0], teacher_forcing[1], train_config.max_steps)
    return _train_on_pairs(lambda: Seq2Seq(cfg), {"source": source, "target": target},
                           train_config, out_dir, hparams=tf, threads=threads,
                           progress=progress, extra_config=extra)  # fmt: skip


def train_structured(
    video: tuple[np.ndarray, np.ndarray],
    target: tuple[np.ndarray, np.ndarray],
    config: TranslationConfig,
    train_config: TrainConfig,
    out_dir: str | os.PathLike[str],
    *,
    progress: bool = True,
    extra: dict[str, Any] | None = None,
) -> StructuredTranslator:
    """Train (or resume, or reload a finished) structured translator ``video → target``.

    Args:
        video: preprocessed video ``(train (N, T, P + G² + F), val (M, T, P + G² + F))``: the
            appearance PCA, then the position map and the ``F`` flow columns (a streams or
            spatial video encoder).
        target: ``(train (N, Tt, D), val (M, Tt, D))``, whole sequences (no chunks).
        config: the pipeline's settings (``structured``, ``structured_schedule``, encoder).
        train_config: loop settings (its seed seeds the initialisation too).
        out_dir: the run directory.

    Raises:
        ValueError: the video encoder has no position map.
    """
    from xmodal.features import get
    from xmodal.models.structured import StructuredTranslator
    from xmodal.schedules import make_hparams
    from xmodal.translate.features import video_split

    split = video_split(config.video_encoder)
    if split is None:
        raise ValueError(
            f"the structured model reads a position map; video encoder {config.video_encoder!r} "
            "has none (use efficientnet-lite0-streams or efficientnet-lite0-spatial)"
        )
    enc = get(config.video_encoder)
    flow_dim = enc.flow_dim
    map_dim = enc.dim - split - flow_dim
    _, steps, width = video[0].shape
    cfg = dataclasses.replace(config.structured, appearance_dim=width - map_dim - flow_dim,
                              map_dim=map_dim, flow_dim=flow_dim, steps=steps,
                              target_steps=target[0].shape[1],
                              target_dim=target[0].shape[2])  # fmt: skip
    schedule = config.structured_schedule
    return _train_on_pairs(lambda: StructuredTranslator(cfg), {"source": video, "target": target},
                           train_config, out_dir,
                           hparams=make_hparams(schedule, train_config.max_steps),
                           threads=config.threads, progress=progress,
                           extra_config={"schedule": dataclasses.asdict(schedule),
                                         **(extra or {})})  # fmt: skip


def video_latents(
    vae: BetaVAE, video: np.ndarray, audio: np.ndarray | None = None, batch: int = 512
) -> np.ndarray:
    """Posterior means of the video branch: ``(N, T, Dv) -> (N, T', Z)`` (or ``(N, Z)``).

    ``audio`` is required only by the ``joint-leaky`` audit variant (it is the leak) and
    ignored by the honest one, whose video latent reads the video alone.
    """
    import torch

    if vae.leaky and audio is None:
        raise ValueError(f"a {LEAKY_LABEL} β-VAE needs the clips' audio to encode their video")
    out = []
    with torch.no_grad():
        for i in range(0, len(video), batch):
            xv = torch.from_numpy(np.ascontiguousarray(video[i : i + batch], dtype=np.float32))
            xa = None
            if vae.leaky:
                xa = torch.from_numpy(np.ascontiguousarray(audio[i : i + batch], dtype=np.float32))
            out.append(vae.encode_video(xv, xa).mu.numpy())
    return np.concatenate(out).astype(np.float32)


def _batched(fn: Callable[[Any], Any], source: np.ndarray, batch: int) -> np.ndarray:
    """``fn`` (tensor in, tensor out) over ``source`` in batches, without gradients; float32."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(source), batch):
            x = torch.from_numpy(np.ascontiguousarray(source[i : i + batch], dtype=np.float32))
            out.append(fn(x).numpy())
    return np.concatenate(out).astype(np.float32)


def generate(translator: Seq2Seq, source: np.ndarray, steps: int, batch: int = 256) -> np.ndarray:
    """Free-running generation in batches: ``(N, Ts, Din) -> (N, steps, Dout)`` float32."""
    return _batched(lambda x: translator.generate(x, steps), source, batch)


def translate_source(
    translator: Seq2Seq | StructuredTranslator, source: np.ndarray, speech_steps: int,
    frames_per_step: int, batch: int = 256,
) -> np.ndarray:  # fmt: skip
    """What a fitted translator says for ``source``: ``(N, speech_steps, D)`` float32 in the
    speech transform's space (a Seq2Seq generates ``frames_per_step`` frames a step; the
    structured model decodes the whole sequence at once)."""
    from xmodal.models.structured import StructuredTranslator

    if not isinstance(translator, StructuredTranslator):
        steps = generate(translator, source, speech_steps // frames_per_step)  # (N, S/r, r·D)
        return unchunk(steps, frames_per_step)  # (N, S, D)
    return _batched(translator.generate, source, batch)  # (N, S, D)


def chunk(frames: np.ndarray, r: int) -> np.ndarray:
    """Group ``r`` consecutive frames into one decoder step: ``(N, T, D) -> (N, T / r, r·D)``."""
    n, t, d = frames.shape
    if t % r:
        raise ValueError(f"{t} frames do not split into steps of {r}")
    return frames.reshape(n, t // r, r * d)  # (N, T/r, r·D)


def unchunk(steps: np.ndarray, r: int) -> np.ndarray:
    """Undo :func:`chunk`: ``(N, S, r·D) -> (N, S·r, D)``."""
    n, s, rd = steps.shape
    return steps.reshape(n, s * r, rd // r)  # (N, S·r, D)


@dataclass
class FittedModels:
    """What :func:`fit_models` trained.

    Attributes:
        vae: the β-VAE (None for the raw baseline and the structured model).
        translator: the Seq2Seq, or the structured translator.
        source: what the translator read, ``(train (N, T', Din), val (M, T', Din))``.
    """

    vae: BetaVAE | None
    translator: Seq2Seq | StructuredTranslator
    source: Pair


def fit_models(
    config: TranslationConfig,
    video: Pair,
    vae_audio: Pair,
    target: Pair,
    out_dir: str | os.PathLike[str],
    seed: int,
    *,
    progress: bool = True,
    label: str | None = None,
) -> FittedModels:
    """Train the β-VAE (``config.source == "vae"``) and the translator into ``out_dir``.

    ``config.source == "structured"`` trains the structured translator
    (:mod:`xmodal.models.structured`) on the preprocessed video instead: it holds its own latent
    groups, so there is no separate β-VAE.

    Args:
        config: the settings (source, variant, models, schedule, training loops).
        video: preprocessed video ``(train (N, T, Dv), val (M, T, Dv))``.
        vae_audio: the audio the β-VAE pairs the video with, ``(train, val)`` (unused by the
            raw baseline).
        target: what the translator learns to produce, ``(train (N, Tt, Dt), val (M, Tt, Dt))``.
        out_dir: the run directory; the models go to ``vae/`` and ``translator/``.
        seed: seeds the models' initialisation and data order.
        progress: show progress bars.
        label: stored with each training run (default: ``config.label``).

    Returns:
        The fitted models, each with its best validation weights, in eval mode.
    """
    out = Path(out_dir)
    extra = {"label": label or config.label}
    vae = None
    source = video
    if config.source == "structured":
        model = train_structured(video, target, config,
                                 dataclasses.replace(config.structured_train, seed=seed),
                                 out / "translator", progress=progress, extra=extra)  # fmt: skip
        return FittedModels(None, model, source)
    if config.source == "vae":
        vae_cfg = dataclasses.replace(config.vae, variant=config.variant)
        vae = train_beta_vae(video, vae_audio, vae_cfg, config.schedule,
                             dataclasses.replace(config.vae_train, seed=seed), out / "vae",
                             threads=config.threads, progress=progress, extra=extra)  # fmt: skip
        with torch_threads(config.threads):
            source = (video_latents(vae, video[0], vae_audio[0]),
                      video_latents(vae, video[1], vae_audio[1]))  # fmt: skip
    r = config.frames_per_step
    target = (chunk(target[0], r), chunk(target[1], r))  # (N, Tt / r, r·Dt)
    translator = train_seq2seq(source, target, config.translator,
                               dataclasses.replace(config.translator_train, seed=seed),
                               out / "translator", teacher_forcing=config.teacher_forcing,
                               threads=config.threads, progress=progress, extra=extra)  # fmt: skip
    return FittedModels(vae, translator, source)

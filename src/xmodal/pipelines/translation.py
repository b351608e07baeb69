"""Video → speech translation as one saved run directory (the thesis pipeline, speech out).

::

    pipe = TranslationPipeline.fit("data/objects", "runs/translate", TranslationConfig(), seed=0)
    pipe = TranslationPipeline.load("runs/translate")
    wave = pipe.translate_clip("clip.mp4")          # (N,) float32 at 16 kHz: the spoken phrase

How a silent clip becomes speech (the same at training and at inference):

1. the frozen **video encoder** (``video_encoder``, decoded at ``video_fps``) gives ``(T, D)``
   frame features; they are **segmented** to ``steps`` rows, projected by a **PCA** to
   ``video_pca`` dims and **MinMax**-scaled — all fitted on the train split only (the thesis'
   preprocessing: T = 16, 17-d video, 5-d audio). The default encoder,
   ``efficientnet-lite0-spatial``, adds a 4×4 map of where the network sees something
   (pooled features alone lose the motion that tells the actions apart); that map skips the
   PCA (:class:`FeatureTransform`);
2. ``source="vae"``: the **β-VAE**'s video encoder maps that sequence to its posterior means, a
   sequence of ``(T', latent_dim)`` latents computed from the video alone; ``source="raw"``
   (the baseline) hands the preprocessed video features on unchanged;
3. the **Seq2Seq** translator generates ``speech_steps`` frames of 80-bin log-mel, free-running;
4. the fitted speech transform is inverted and the log-mel is upsampled to 100 frames/s and
   turned into a waveform with **Griffin–Lim** (``LogMelEncoder.inverse``).

**Speech needs its own temporal resolution.** The thesis' 16-step segmentation of a 2 s clip
(125 ms per step) is not intelligible, so the translator's target has ``speech_steps`` (default
32, 62.5 ms) steps of full 80-bin log-mel, while the β-VAE (and the study's cosine metric) keep the
thesis setting. (Measured: the world's 25 canonical phrases, segmented to 100, 50 or 32 steps
and turned back into speech, are all recognised under the phrase grammar; at 16 steps they are
not intelligible.)

**What the speech translator learns to say** (``speech_target``):

- ``"canonical"`` (default): the clip's (object, action) spoken by one fixed voice in one fixed
  form, the world's first template ("rotate the knife", "move the pen left"). The clip's own
  audio varies in template, voice, rate and onset for the same video, and a regression toward it
  averages those into an unintelligible blur. The canonical rendering is *slotted*: the template's
  words before the object, the object and the words after it are synthesised separately and
  placed at fixed onsets (the longest rendering of each slot sets the layout), so each stretch of
  the target depends on one factor only. Only train and val clips' pairs are rendered during
  :meth:`~TranslationPipeline.fit`; a held-out pair's phrase is never synthesised for training.
- ``"track"``: the clip's own audio (the honest but blurry regression target).

**What the β-VAE pairs the video with** (``vae_audio``): by default the same canonical speech,
so the shared latent holds what a clip's video and its phrase have in common; ``"track"``
pairs it with the clip's real audio, as in the thesis (the study's rows do that). Measured on a
500-clip world: with the real track the video latent keeps the motion but loses what the object
is (held-out object accuracy of the generated speech 0.16, action 0.74), because the real audio
barely tells the objects apart in its 5 PCA dimensions and the alignment term pulls the video
latent toward the audio's.

``variant="joint-leaky"`` reproduces the thesis code's leak (the "video" latent reads the audio
too) and exists only for the leakage audit: such a pipeline needs the clip's audio at inference
and says so in its metadata and warnings.

A run directory::

    pipeline.json         this config, the dataset, encoder ids, explained variances, the
                          canonical layout, the phrases; written last (= complete)
    preprocess/video/     fitted transforms (preprocessor.json + .npz)
    preprocess/audio/
    preprocess/speech/
    vae/                  the β-VAE's training run (config.json, best.safetensors, metrics.csv, ...)
    translator/           the Seq2Seq's training run
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xmodal.models.beta_vae import BetaVAEConfig
from xmodal.models.seq2seq import Seq2SeqConfig
from xmodal.schedules import ScheduleConfig
from xmodal.training.loop import TrainConfig
from xmodal.types import Modality

if TYPE_CHECKING:
    from xmodal.features.base import Encoder
    from xmodal.features.cache import FeatureSet
    from xmodal.features.preprocess import Preprocessor
    from xmodal.models.beta_vae import BetaVAE
    from xmodal.models.seq2seq import Seq2Seq

PIPELINE_FILE = "pipeline.json"
FORMAT_VERSION = 1
SOURCES = ("vae", "raw")
SPEECH_TARGETS = ("canonical", "track")
LEAKY_LABEL = "joint-leaky (sees the target audio — leakage audit)"


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


def _vae_default() -> BetaVAEConfig:
    # lambda_align 0.1: at 1 the alignment pulls both posteriors to the prior's mean and the
    # video latent loses what the audio cannot predict (measured: a linear probe's held-out
    # action accuracy from the latents 0.33 at 1, 0.95 at 0.1).
    return BetaVAEConfig(latent_dim=16, hidden_dim=64, num_layers=2, temporal=True,
                         temporal_stride=2, lambda_align=0.1, recon_reduction="sum")  # fmt: skip


def _schedule_default() -> ScheduleConfig:
    # β ramps to 0.001, not 1: the reconstruction sums squared errors of MinMax-scaled features
    # (variance ~0.03 each); at β = 1 the KL term silences the latent (KL 1e-4 nats), and at
    # 0.01 the video latent keeps the motion but not what the object is (measured, 500-clip
    # world: in-distribution phrase accuracy 0.25 at 0.01, 0.65 at 0.001).
    return ScheduleConfig("linear", {"beta_max": 0.001})


def _vae_train_default() -> TrainConfig:
    return TrainConfig(max_steps=800, batch_size=64, lr=3e-3, eval_every=100, log_every=20)


def _translator_default() -> Seq2SeqConfig:
    return Seq2SeqConfig(hidden_dim=128, bidirectional=True, attention="luong")


def _translator_train_default() -> TrainConfig:
    return TrainConfig(max_steps=800, batch_size=64, lr=5e-3, eval_every=100, log_every=20)


@dataclass
class CanonicalSpeechConfig:
    """How the canonical (speech-out) target is spoken (see the module docstring)."""

    voice: str = "en-us"  # espeak-ng voice
    variant: str | None = None  # espeak-ng variant (None: the voice's default)
    rate: int = 175  # words per minute (raised by 15% steps if the layout does not fit)
    pitch: int = 50  # 0..100
    onset: float = 0.08  # seconds of silence before the first slot
    gap: float = 0.04  # seconds between the longest renderings of consecutive slots
    peak: float = 0.7  # peak amplitude of each slot's rendering

    def __post_init__(self) -> None:
        if not 80 <= self.rate <= 450:
            raise ValueError(f"canonical rate must be in 80..450 words per minute, got {self.rate}")
        if not 0 <= self.pitch <= 100:
            raise ValueError(f"canonical pitch must be in 0..100, got {self.pitch}")
        if self.onset < 0 or self.gap < 0:
            raise ValueError("canonical onset and gap must be >= 0 seconds")
        if not 0 < self.peak <= 1:
            raise ValueError(f"canonical peak must be in (0, 1], got {self.peak}")


@dataclass
class TranslationConfig:
    """Everything :meth:`TranslationPipeline.fit` builds and how (stored in ``pipeline.json``)."""

    # registry name (parameters allowed: name:k=v); the spatial variant keeps where things are
    video_encoder: str = "efficientnet-lite0-spatial:image_size=128,crop=1.0"
    video_fps: float | None = 4.0  # decode video at this rate (None: each clip's own rate)
    audio_encoder: str = "logmel"  # must be an invertible log-mel encoder for speech out
    steps: int = 16  # thesis segmentation: steps per clip for the β-VAE's video and audio
    video_pca: int | None = 17  # PCA dims of video frames (thesis: 17; None keeps the width)
    audio_pca: int | None = 5  # PCA dims of the thesis-setting audio (the study's rows: 5)
    vae_audio_pca: int | None = 20  # PCA dims of this pipeline's β-VAE audio input
    source: str = "vae"  # "vae" (β-VAE video latents) or "raw" (preprocessed video: baseline)
    variant: str = "honest"  # "honest" or "joint-leaky" (leakage audit only)
    speech_target: str = "canonical"  # "canonical" or "track" (module docstring)
    vae_audio: str = "canonical"  # the β-VAE's audio input: "canonical" or "track" (docstring)
    speech_steps: int = 32  # the translator's log-mel steps per clip (62.5 ms for 2 s clips)
    speech_pca: int | None = None  # PCA dims of the speech target (None: all 80 mel bins)
    canonical: CanonicalSpeechConfig = field(default_factory=CanonicalSpeechConfig)
    vae: BetaVAEConfig = field(default_factory=_vae_default)  # dims/seq_len are set by fit
    schedule: ScheduleConfig = field(default_factory=_schedule_default)  # linear ramp-up
    vae_train: TrainConfig = field(default_factory=_vae_train_default)
    translator: Seq2SeqConfig = field(default_factory=_translator_default)  # dims set by fit
    translator_train: TrainConfig = field(default_factory=_translator_train_default)
    # scheduled sampling: teacher-forcing ratio at the first → last step. The canonical target
    # is one fixed rendering per pair, so training free-running from the start (0, 0) matches
    # inference (measured with the raw source on a 500-clip world, held-out phrase accuracy:
    # 0.02 with (1.0, 0.5), 50 steps, lr 3e-3, batch 32; 0.40 with these defaults).
    teacher_forcing: tuple[float, float] = (0.0, 0.0)
    griffin_lim_iters: int = 32  # Griffin–Lim iterations for speech out
    threads: int = 1  # torch threads while training the small models

    def __post_init__(self) -> None:
        if self.video_fps is not None and not self.video_fps > 0:
            raise ValueError(f"video_fps must be > 0 or None, got {self.video_fps}")
        for name in ("steps", "speech_steps", "griffin_lim_iters", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("video_pca", "audio_pca", "vae_audio_pca", "speech_pca"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        if self.variant not in ("honest", "joint-leaky"):
            raise ValueError(f"variant must be 'honest' or 'joint-leaky', got {self.variant!r}")
        if self.variant == "joint-leaky" and self.source != "vae":
            raise ValueError("variant='joint-leaky' is a β-VAE variant: it needs source='vae'")
        for name in ("speech_target", "vae_audio"):
            if getattr(self, name) not in SPEECH_TARGETS:
                raise ValueError(
                    f"{name} must be one of {SPEECH_TARGETS}, got {getattr(self, name)!r}"
                )
        if self.variant == "joint-leaky" and self.vae_audio != "track":
            raise ValueError("the joint-leaky audit reads the clip's own audio: vae_audio='track'")
        start, end = self.teacher_forcing
        if not (0 <= end <= 1 and 0 <= start <= 1):
            raise ValueError(
                f"teacher_forcing ratios must be in [0, 1], got {self.teacher_forcing}"
            )

    @property
    def label(self) -> str:
        """How results of this pipeline are labelled."""
        if self.source == "raw":
            return "raw-feature baseline"
        if self.variant == "joint-leaky":
            return LEAKY_LABEL
        return f"β-VAE ({self.schedule.name}) + Seq2Seq"


# ----------------------------------------------------------------------------- data


@dataclass
class ClipFeatures:
    """The cached encoder features of a dataset, by split.

    Attributes:
        rows: manifest rows of the clips that have both video and audio features.
        video: the video :class:`~xmodal.features.cache.FeatureSet`.
        audio: the audio (log-mel) FeatureSet.
        info: the dataset's ``dataset.json``.
    """

    dataset_dir: Path
    rows: list[dict[str, Any]]
    video: FeatureSet
    audio: FeatureSet
    info: dict[str, Any]

    def split(self, name: str) -> list[dict[str, Any]]:
        """Rows of one split (manifest order)."""
        return [r for r in self.rows if r["split"] == name]

    def arrays(self, modality: Modality, rows: Sequence[dict[str, Any]]) -> list[np.ndarray]:
        """``(T_i, D)`` feature arrays of ``rows``."""
        fs = self.video if modality is Modality.VIDEO else self.audio
        return fs.arrays([r["id"] for r in rows])


def load_clip_features(
    dataset_dir: str | os.PathLike[str], config: TranslationConfig, progress: bool = True
) -> ClipFeatures:
    """Extract (or reuse) the video and log-mel features of every clip of a dataset.

    Raises:
        FileNotFoundError: not a dataset directory.
        ValueError: no train clips with both features, or rows without object/action labels.
    """
    from xmodal.data.manifest import read_dataset_info, read_manifest
    from xmodal.features import get
    from xmodal.features.cache import extract_dataset, load_features

    dataset_dir = Path(dataset_dir)
    rows = read_manifest(dataset_dir)
    info = read_dataset_info(dataset_dir)
    video_enc, audio_enc = get(config.video_encoder), get(config.audio_encoder)
    if video_enc.modality is not Modality.VIDEO or audio_enc.modality is not Modality.AUDIO:
        raise ValueError(
            f"video_encoder {config.video_encoder!r} must read video and audio_encoder "
            f"{config.audio_encoder!r} audio"
        )
    extract_dataset(dataset_dir, video_enc, fps=config.video_fps, progress=progress)
    extract_dataset(dataset_dir, audio_enc, progress=progress)
    video = load_features(dataset_dir, video_enc, fps=config.video_fps)
    audio = load_features(dataset_dir, audio_enc)
    keep = [r for r in rows if r["id"] in video and r["id"] in audio]
    missing = [k for k in ("object", "action", "split") if any(k not in r for r in keep)]
    if missing:
        raise ValueError(f"{dataset_dir}: manifest rows lack {missing} (an object-action world?)")
    if not any(r["split"] == "train" for r in keep):
        raise ValueError(f"{dataset_dir}: no train clips with both video and audio features")
    return ClipFeatures(dataset_dir, keep, video, audio, info)


class FeatureTransform:
    """Train-fitted preprocessing of one modality's features, in one or two column streams.

    Without ``split`` it is one :class:`~xmodal.features.preprocess.Preprocessor` (segment →
    PCA → MinMax). With ``split`` (an encoder whose columns ``[split:]`` are a position map, e.g.
    ``efficientnet-lite0-spatial``), columns ``[:split]`` go through segment → PCA →
    MinMax and columns ``[split:]`` through segment → MinMax only, and the two are concatenated
    per step, so the PCA of the appearance features cannot drown the position map.

    Args:
        main: the transform of columns ``[:split]`` (all columns without a split).
        extra: the transform of columns ``[split:]`` (None without a split).
        split: the column where the position map starts, or None.
    """

    def __init__(self, main: Preprocessor, extra: Preprocessor | None = None,
                 split: int | None = None) -> None:  # fmt: skip
        if (extra is None) != (split is None):
            raise ValueError("FeatureTransform: give both extra and split, or neither")
        self.main, self.extra, self.split = main, extra, split

    @classmethod
    def fit(
        cls, arrays: Sequence[np.ndarray], steps: int, pca: int | None, split: int | None = None,
        **fitted_on: Any,
    ) -> FeatureTransform:  # fmt: skip
        """Fit on the train clips' ``(T_i, D)`` arrays (PCA dims capped at the width)."""
        from xmodal.features.preprocess import PreprocessConfig, Preprocessor

        if split is not None and not 0 < split < arrays[0].shape[1]:
            raise ValueError(f"split {split} is outside 1..{arrays[0].shape[1] - 1}")
        head = [a[:, :split] for a in arrays] if split is not None else list(arrays)
        pca = None if pca is None else min(pca, head[0].shape[1], len(head) * steps)
        main = Preprocessor(PreprocessConfig(steps=steps, pca_dim=pca)).fit(head, **fitted_on)
        extra = None
        if split is not None:
            extra = Preprocessor(PreprocessConfig(steps=steps)).fit(
                [a[:, split:] for a in arrays], **fitted_on
            )
        return cls(main, extra, split)

    @property
    def explained_variance(self) -> float | None:
        """Share of the (first stream's) variance its PCA keeps; None without PCA."""
        pca = self.main.pca
        return None if pca is None else float(pca.explained_variance_ratio_.sum())

    def transform(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """``N x (T_i, D)`` → ``(N, steps, D')`` float32."""
        if self.split is None:
            return self.main.transform(list(arrays))
        head = self.main.transform([a[:, : self.split] for a in arrays])  # (N, steps, P)
        tail = self.extra.transform([a[:, self.split :] for a in arrays])  # type: ignore[union-attr]
        return np.concatenate([head, tail], axis=-1)  # (N, steps, P + G)

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """Back to encoder space (single-stream transforms only)."""
        if self.split is not None:
            raise ValueError("a two-stream transform is not inverted (nothing decodes video)")
        return self.main.inverse_transform(z)

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write ``main/`` (and ``extra/`` + ``split.json``) into ``directory``."""
        from xmodal.utils import write_json

        directory = Path(directory)
        self.main.save(directory / "main")
        if self.extra is not None:
            self.extra.save(directory / "extra")
        write_json(directory / "split.json", {"split": self.split})

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> FeatureTransform:
        """Read what :meth:`save` wrote."""
        from xmodal.features.preprocess import Preprocessor
        from xmodal.utils import read_json

        directory = Path(directory)
        if not (directory / "split.json").is_file():
            raise FileNotFoundError(f"{directory}: no saved feature transform here")
        split = read_json(directory / "split.json")["split"]
        extra = Preprocessor.load(directory / "extra") if split is not None else None
        return cls(Preprocessor.load(directory / "main"), extra, split)


def video_split(encoder_name: str) -> int | None:
    """The column where a video encoder's position map starts (None: it has none)."""
    from xmodal.features import get

    return getattr(get(encoder_name), "appearance_dim", None)


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
    from xmodal.training.loop import train
    from xmodal.utils import seed_everything

    cfg = dataclasses.replace(vae_config, video_dim=video[0].shape[2], audio_dim=audio[0].shape[2],
                              seq_len=video[0].shape[1])  # fmt: skip
    with torch_threads(threads):
        seed_everything(train_config.seed)
        model = BetaVAE(cfg)
        hparams = make_hparams(schedule, train_config.max_steps)
        train(model, SequencePairs(video=video[0], audio=audio[0]),
              SequencePairs(video=video[1], audio=audio[1]), train_config, out_dir,
              hparams=hparams, progress=progress,
              extra_config={"schedule": dataclasses.asdict(schedule), **(extra or {})})  # fmt: skip
    return model.eval()


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
    from xmodal.training.loop import train
    from xmodal.utils import seed_everything

    cfg = dataclasses.replace(seq_config, source_dim=source[0].shape[2],
                              target_dim=target[0].shape[2])  # fmt: skip
    with torch_threads(threads):
        seed_everything(train_config.seed)
        model = Seq2Seq(cfg)
        tf = TeacherForcing(teacher_forcing[0], teacher_forcing[1], train_config.max_steps)
        train(model, SequencePairs(source=source[0], target=target[0]),
              SequencePairs(source=source[1], target=target[1]), train_config, out_dir,
              hparams=tf, progress=progress, extra_config=extra)  # fmt: skip
    return model.eval()


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


def generate(translator: Seq2Seq, source: np.ndarray, steps: int, batch: int = 256) -> np.ndarray:
    """Free-running generation in batches: ``(N, Ts, Din) -> (N, steps, Dout)`` float32."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(source), batch):
            x = torch.from_numpy(np.ascontiguousarray(source[i : i + batch], dtype=np.float32))
            out.append(translator.generate(x, steps).numpy())
    return np.concatenate(out).astype(np.float32)


# ----------------------------------------------------------------------------- canonical speech


def template_slots(template: str, obj: str) -> list[str]:
    """Split a world template around its object: ``"move the {o} left"`` →
    ``["move the", "pen", "left"]``; an empty part stays an empty string."""
    if "{o}" not in template:
        raise ValueError(f"template {template!r} has no '{{o}}' placeholder for the object")
    before, after = template.split("{o}", 1)
    return [before.strip(), obj, after.strip()]


def canonical_phrase(info: dict[str, Any], obj: str, action: str) -> str:
    """The world's canonical phrase for a pair: its action's first template, e.g.
    ``"rotate the knife"``."""
    return " ".join(p for p in template_slots(_templates(info)[action][0], obj) if p)


def canonical_phrases(info: dict[str, Any]) -> dict[tuple[str, str], str]:
    """``{(object, action): phrase}`` for every pair of the world (the recognition grammar)."""
    return {(o, a): canonical_phrase(info, o, a) for o in info["objects"] for a in info["actions"]}


def _templates(info: dict[str, Any]) -> dict[str, list[str]]:
    templates = info.get("templates")
    if not templates:
        from xmodal.data.objects import TEMPLATES

        templates = {a: list(t) for a, t in TEMPLATES.items()}
    missing = [a for a in info.get("actions", []) if a not in templates]
    if missing:
        raise ValueError(f"the dataset has no phrase template for actions {missing}")
    return templates


@dataclass
class CanonicalVoice:
    """The slotted canonical renderer of a world (module docstring).

    Build it with :meth:`build`; :meth:`render` is then a pure function of (object, action).

    Attributes:
        info: the world's ``dataset.json`` (objects, actions, templates, duration).
        config: the voice settings.
        rate: the speaking rate actually used (raised if the layout did not fit).
        onsets: start of each of the three slots, in seconds.
        sample_rate: output rate (Hz).
    """

    info: dict[str, Any]
    config: CanonicalSpeechConfig
    rate: int
    onsets: tuple[float, float, float]
    sample_rate: int = 16000
    _cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, info: dict[str, Any], config: CanonicalSpeechConfig,
              sample_rate: int = 16000) -> CanonicalVoice:  # fmt: skip
        """Lay the three slots out so the longest rendering of each fits the clip.

        Every slot's candidates are the world's words (every object, every action's template
        parts), all of which occur in training pairs; no held-out pair is rendered.

        Raises:
            ValueError: the slots do not fit the clip even at the fastest rate.
        """
        duration = float(info.get("duration") or info["frames"] / info["fps"])
        templates = _templates(info)
        slots: list[set[str]] = [set(), set(), set()]
        for a in info["actions"]:
            for o in info["objects"]:
                for k, part in enumerate(template_slots(templates[a][0], o)):
                    if part:
                        slots[k].add(part)
        rate = config.rate
        while True:
            voice = cls(info, config, rate, (0.0, 0.0, 0.0), sample_rate)
            longest = [max((len(voice._part(p)) for p in s), default=0) / sample_rate
                       for s in slots]  # fmt: skip
            onsets, t = [], config.onset
            for k in range(3):
                onsets.append(t)
                t += longest[k] + (config.gap if longest[k] else 0.0)
            if t - config.gap <= duration:
                voice.onsets = (onsets[0], onsets[1], onsets[2])
                return voice
            if rate >= 450:
                raise ValueError(
                    f"the canonical phrases take {t:.2f} s even at the fastest rate; clips of "
                    f"{duration:.2f} s are too short"
                )
            rate = min(450, int(np.ceil(rate * 1.15)))

    @property
    def duration(self) -> float:
        return float(self.info.get("duration") or self.info["frames"] / self.info["fps"])

    def _part(self, text: str) -> np.ndarray:
        if text not in self._cache:
            from xmodal.data.speech import synthesize

            c = self.config
            wave = synthesize(text, voice=c.voice, variant=c.variant, rate=self.rate,
                              pitch=c.pitch, sample_rate=self.sample_rate).waveform  # fmt: skip
            self._cache[text] = wave * np.float32(c.peak / max(float(np.abs(wave).max()), 1e-6))
        return self._cache[text]

    def render(self, obj: str, action: str) -> np.ndarray:
        """The canonical waveform of a pair: ``(round(duration · sample_rate),)`` float32."""
        n = int(round(self.duration * self.sample_rate))
        out = np.zeros(n, np.float32)
        parts = template_slots(_templates(self.info)[action][0], obj)
        for onset, part in zip(self.onsets, parts, strict=True):
            if part:
                wave = self._part(part)
                start = int(round(onset * self.sample_rate))
                out[start : start + len(wave)] = wave[: max(0, n - start)]
        return out

    def describe(self) -> dict[str, Any]:
        """JSON-ready layout (stored in ``pipeline.json``)."""
        return {"rate": self.rate, "onsets": [round(o, 4) for o in self.onsets],
                **dataclasses.asdict(self.config)}  # fmt: skip


def speech_targets(
    feats: ClipFeatures, rows: Sequence[dict[str, Any]], config: TranslationConfig,
    voice: CanonicalVoice | None, kind: str | None = None,
) -> list[np.ndarray]:  # fmt: skip
    """Audio of ``rows`` in log-mel space, ``(T_i, 80)`` each.

    Args:
        kind: ``"track"``: the clips' own log-mel; ``"canonical"``: the log-mel of each clip's
            slotted canonical rendering (computed once per pair). Default: the config's
            ``speech_target``.
    """
    if (kind or config.speech_target) == "track":
        return feats.arrays(Modality.AUDIO, rows)
    from xmodal.features import get

    if voice is None:
        raise ValueError("canonical speech targets need a CanonicalVoice")
    enc = get(config.audio_encoder)
    per_pair: dict[tuple[str, str], np.ndarray] = {}
    out = []
    for r in rows:
        key = (r["object"], r["action"])
        if key not in per_pair:
            per_pair[key] = enc.extract(voice.render(*key))  # (T, 80)
        out.append(per_pair[key])
    return out


def logmel_to_waveform(
    enc: Any, logmel: np.ndarray, n_iter: int, length: int, nnls_iters: int = 10
) -> np.ndarray:
    """Griffin–Lim from log-mel frames, inverting the mel filterbank quickly.

    ``LogMelEncoder.inverse`` inverts the filterbank with librosa's non-negative least squares
    (``mel_to_stft``): 0.5–1.4 s per 2 s clip here, several times its Griffin–Lim. Here the
    clipped pseudo-inverse (computed once) starts ``nnls_iters`` multiplicative NNLS updates
    (Lee & Seung). Measured on the world's 25 canonical phrases at 50 steps, recognised under
    the phrase grammar: NNLS 25/25, pseudo-inverse alone 21/25, pseudo-inverse + 10 updates
    25/25. Encoders without log-mel parameters fall back to their own ``inverse``.

    Args:
        enc: a :class:`~xmodal.features.audio.LogMelEncoder`.
        logmel: ``(frames, n_mels)`` at the encoder's hop.
        n_iter: Griffin–Lim iterations.
        length: output samples.
        nnls_iters: multiplicative updates after the pseudo-inverse.

    Returns:
        ``(length,)`` float32.
    """
    import librosa

    needed = ("sample_rate", "n_fft", "hop", "n_mels", "fmin", "fmax", "eps")
    if not all(hasattr(enc, k) for k in needed):
        return enc.inverse(logmel, n_iter=n_iter, length=length)
    basis, pinv = _mel_basis(enc.sample_rate, enc.n_fft, enc.n_mels, float(enc.fmin),
                             float(enc.fmax))  # fmt: skip
    mel = np.maximum(np.exp(np.asarray(logmel, np.float64).T) - enc.eps, 0.0)  # (n_mels, T)
    power = np.maximum(pinv @ mel, 1e-10)  # (F, T), F = 1 + n_fft/2
    numerator, gram = basis.T @ mel, basis.T @ basis  # (F, T), (F, F)
    for _ in range(nnls_iters):
        power *= numerator / np.maximum(gram @ power, 1e-12)
    wave = librosa.griffinlim(np.sqrt(power), n_iter=n_iter, hop_length=enc.hop,
                              win_length=enc.n_fft, n_fft=enc.n_fft, window="hann", center=True,
                              length=length, random_state=0)  # fmt: skip
    return wave.astype(np.float32)


@functools.lru_cache(maxsize=4)
def _mel_basis(
    sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float
) -> tuple[np.ndarray, np.ndarray]:
    """The mel filterbank ``(n_mels, F)`` and its pseudo-inverse ``(F, n_mels)``."""
    import librosa

    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    basis = basis.astype(np.float64)
    return basis, np.linalg.pinv(basis)


# ----------------------------------------------------------------------------- the pipeline


class TranslationPipeline:
    """Frozen encoders + train-fitted preprocessing + β-VAE + Seq2Seq: video in, speech out.

    Build one with :meth:`fit` or :meth:`load` (see the module docstring).
    """

    def __init__(
        self,
        config: TranslationConfig,
        preprocessors: dict[str, FeatureTransform],
        vae: BetaVAE | None,
        translator: Seq2Seq,
        meta: dict[str, Any],
        run_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.preprocessors = preprocessors
        self.vae = vae
        self.translator = translator
        self.meta = meta
        self.run_dir = run_dir
        self._encoders: dict[str, Encoder] = {}

    @property
    def leaky(self) -> bool:
        """Whether this is the labelled leakage-audit variant (needs the clip's audio)."""
        return self.config.variant == "joint-leaky"

    @property
    def label(self) -> str:
        return self.config.label

    def __repr__(self) -> str:
        return f"TranslationPipeline({self.label}, run_dir={self.run_dir})"

    # ------------------------------------------------------------------------- fit / load

    @classmethod
    def fit(
        cls,
        dataset_dir: str | os.PathLike[str],
        out_dir: str | os.PathLike[str],
        config: TranslationConfig | None = None,
        seed: int = 0,
        *,
        progress: bool = True,
        features: ClipFeatures | None = None,
    ) -> TranslationPipeline:
        """Fit every part on the dataset's train split (val for early stopping) and save.

        A rerun on the same ``out_dir`` resumes unfinished training and reuses finished parts.

        Args:
            dataset_dir: an object-action world (``xmodal data objects``).
            out_dir: the run directory.
            config: what to build (default :class:`TranslationConfig`).
            seed: seeds the models' initialisation, data order and sampling.
            progress: show progress bars.
            features: already loaded features of ``dataset_dir`` (else loaded here).

        Returns:
            The fitted pipeline.
        """
        from xmodal.config import to_dict
        from xmodal.utils import write_json

        config = config or TranslationConfig()
        out = Path(out_dir)
        t0 = time.perf_counter()
        feats = features or load_clip_features(dataset_dir, config, progress)
        train_rows, val_rows = feats.split("train"), feats.split("val") or feats.split("train")

        def fit_pre(name: str, steps: int, pca: int | None, arrays: list[np.ndarray],
                    split: int | None = None) -> FeatureTransform:  # fmt: skip
            pre = FeatureTransform.fit(arrays, steps, pca, split, split_name="train",
                                       dataset=str(feats.dataset_dir))  # fmt: skip
            pre.save(out / "preprocess" / name)
            return pre

        voice = None
        if config.speech_target == "canonical" or config.vae_audio == "canonical":
            voice = CanonicalVoice.build(feats.info, config.canonical)
        targets = {
            split: speech_targets(feats, rows, config, voice)
            for split, rows in (("train", train_rows), ("val", val_rows))
        }
        vae_audio = {
            split: speech_targets(feats, rows, config, voice, config.vae_audio)
            for split, rows in (("train", train_rows), ("val", val_rows))
        }
        pres = {
            "video": fit_pre("video", config.steps, config.video_pca,
                             feats.arrays(Modality.VIDEO, train_rows),
                             video_split(config.video_encoder)),
            "audio": fit_pre("audio", config.steps, config.vae_audio_pca, vae_audio["train"]),
            "speech": fit_pre("speech", config.speech_steps, config.speech_pca, targets["train"]),
        }  # fmt: skip
        video = tuple(pres["video"].transform(feats.arrays(Modality.VIDEO, rows))
                      for rows in (train_rows, val_rows))  # fmt: skip
        audio = tuple(pres["audio"].transform(vae_audio[s]) for s in ("train", "val"))
        vae = None
        source = video
        if config.source == "vae":
            vae_cfg = dataclasses.replace(config.vae, variant=config.variant)
            vae = train_beta_vae(video, audio, vae_cfg, config.schedule,
                                 dataclasses.replace(config.vae_train, seed=seed), out / "vae",
                                 threads=config.threads, progress=progress,
                                 extra={"label": config.label})  # fmt: skip
            source = (
                video_latents(vae, video[0], audio[0]),
                video_latents(vae, video[1], audio[1]),
            )
        target = tuple(pres["speech"].transform(targets[s]) for s in ("train", "val"))
        translator = train_seq2seq(source, target, config.translator,  # type: ignore[arg-type]
                                   dataclasses.replace(config.translator_train, seed=seed),
                                   out / "translator", teacher_forcing=config.teacher_forcing,
                                   threads=config.threads, progress=progress,
                                   extra={"label": config.label})  # fmt: skip

        from xmodal.data.splits import SPLITS

        meta = {
            "format": FORMAT_VERSION,
            "kind": "translation",
            "label": config.label,
            "leaky": config.variant == "joint-leaky",
            "config": to_dict(config),
            "seed": seed,
            "dataset": {
                "path": str(Path(dataset_dir).resolve()),
                "clips": {s: len(feats.split(s)) for s in SPLITS},
                "heldout_pairs": sorted(
                    {f"{r['object']}:{r['action']}" for r in feats.split("heldout")}
                ),
                "duration": feats.info.get("duration"),
            },  # fmt: skip
            "encoders": {"video": feats.video.encoder_id, "audio": feats.audio.encoder_id},
            "explained_variance": {name: p.explained_variance for name, p in pres.items()},
            "speech": {
                "target": config.speech_target,
                "steps": config.speech_steps,
                "canonical": voice.describe() if voice else None,
                "phrases": {f"{o}:{a}": p for (o, a), p in canonical_phrases(feats.info).items()},
            },
            "fit_seconds": round(time.perf_counter() - t0, 2),
        }
        write_json(out / PIPELINE_FILE, meta)
        return cls(config, pres, vae, translator, meta, out)

    @classmethod
    def load(cls, run_dir: str | os.PathLike[str]) -> TranslationPipeline:
        """Read a run directory written by :meth:`fit`.

        Raises:
            FileNotFoundError: not a (finished) translation run directory.
            ValueError: a corrupt or foreign ``pipeline.json``.
        """
        from xmodal.config import ConfigError, from_dict
        from xmodal.training.checkpoint import load_model
        from xmodal.utils import read_json

        run = Path(run_dir)
        spec = run / PIPELINE_FILE
        if not spec.is_file():
            state = (
                "an unfinished translation run"
                if (run / "translator").is_dir()
                else ("not a translation run directory")
            )
            raise FileNotFoundError(f"{spec}: missing ({run} is {state})")
        try:
            meta = read_json(spec)
        except ValueError as e:
            raise ValueError(f"{spec}: corrupt pipeline description ({e})") from None
        if meta.get("kind") != "translation" or meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{spec}: not a translation pipeline of format {FORMAT_VERSION}")
        try:
            config = from_dict(TranslationConfig, meta["config"])
        except ConfigError as e:
            raise ValueError(f"{spec}: {e}") from None
        pres = {name: FeatureTransform.load(run / "preprocess" / name)
                for name in ("video", "audio", "speech")}  # fmt: skip
        vae = load_model(run / "vae") if config.source == "vae" else None
        translator = load_model(run / "translator")
        return cls(config, pres, vae, translator, meta, run)  # type: ignore[arg-type]

    # ------------------------------------------------------------------------- inference

    def encoder(self, modality: Modality) -> Encoder:
        """The frozen encoder of ``modality`` (loaded once)."""
        from xmodal.features import get

        name = (
            self.config.video_encoder if modality is Modality.VIDEO else self.config.audio_encoder
        )
        if name not in self._encoders:
            self._encoders[name] = get(name).load()
        return self._encoders[name]

    def source_sequences(
        self, video: Sequence[np.ndarray], audio: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """What the translator reads: β-VAE video latents ``(N, T', Z)`` or, for the raw
        baseline, preprocessed video ``(N, steps, Dv)``.

        Args:
            video: ``N x (T_i, Dv)`` video encoder features.
            audio: ``N x (T_i, 80)`` log-mel of the same clips; the leakage-audit variant only.
        """
        x = self.preprocessors["video"].transform(list(video))  # (N, steps, Dv')
        if self.vae is None:
            return x
        xa = None
        if self.leaky:
            if audio is None:
                raise ValueError(f"this pipeline is {LEAKY_LABEL}: pass the clips' audio too")
            xa = self.preprocessors["audio"].transform(list(audio))
        with torch_threads(self.config.threads):
            return video_latents(self.vae, x, xa)

    def translate_features(
        self, video: Sequence[np.ndarray], audio: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """Video features → predicted speech log-mel.

        Args:
            video: ``N x (T_i, Dv)`` features from this pipeline's video encoder.
            audio: ``N x (T_i, 80)`` log-mel; required only by the leakage-audit variant.

        Returns:
            ``(N, speech_steps, 80)`` float32 log-mel (the encoder's space).
        """
        if len(video) == 0:
            raise ValueError("no clips to translate")
        src = self.source_sequences(video, audio)
        with torch_threads(self.config.threads):
            pred = generate(self.translator, src, self.config.speech_steps)  # (N, S, D')
        return self.preprocessors["speech"].inverse_transform(pred)  # (N, S, 80)

    def speak(self, logmel: np.ndarray, duration: float) -> np.ndarray:
        """Turn one predicted ``(speech_steps, 80)`` log-mel into a waveform of ``duration`` s.

        The steps are stretched to the log-mel encoder's frame rate, then Griffin–Lim recovers
        a phase (:func:`logmel_to_waveform`); the result is scaled to a peak of 0.9 (silence
        stays silent).
        """
        from xmodal.features.preprocess import segment

        enc = self.encoder(Modality.AUDIO)
        if not hasattr(enc, "inverse"):
            raise ValueError(f"audio encoder {enc.id!r} is not invertible: no speech out")
        sr = int(enc.sample_rate)  # type: ignore[attr-defined]
        length = int(round(duration * sr))
        frames = length // int(enc.hop) + 1  # type: ignore[attr-defined]
        full = segment(np.asarray(logmel, np.float32), frames)  # (frames, 80)
        wave = logmel_to_waveform(enc, full, self.config.griffin_lim_iters, length)
        peak = float(np.abs(wave).max()) if wave.size else 0.0
        return (wave * (0.9 / peak) if peak > 1e-4 else wave).astype(np.float32)

    def translate_clip(self, path: str | os.PathLike[str]) -> np.ndarray:
        """A video file → the spoken description, ``(N,)`` float32 at 16 kHz, as long as the clip.

        Raises:
            MediaError: the file cannot be decoded or has no video.
        """
        from xmodal.media import MediaError, probe, read_audio, read_video

        path = Path(path)
        info = probe(path)
        if not info.has_video:
            raise MediaError(path, "no video stream to translate")
        frames = read_video(path, fps=self.config.video_fps)
        video = self.encoder(Modality.VIDEO).extract(frames)  # (T, Dv)
        audio = None
        if self.leaky:
            warnings.warn(f"{LEAKY_LABEL}: reading the clip's own audio", stacklevel=2)
            if not info.has_audio:
                raise MediaError(path, f"the {LEAKY_LABEL} pipeline needs the clip's audio")
            audio = [self.encoder(Modality.AUDIO).extract(read_audio(path))]
        duration = info.duration or len(frames) / (self.config.video_fps or info.video.fps)
        logmel = self.translate_features([video], audio)[0]
        return self.speak(logmel, float(duration))

    def phrases(self) -> dict[tuple[str, str], str]:
        """``{(object, action): canonical phrase}`` of the world this pipeline was fitted on."""
        return {tuple(k.split(":", 1)): v for k, v in self.meta["speech"]["phrases"].items()}  # type: ignore[misc]

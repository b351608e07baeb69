"""The library's view of a joint space: the narrow interface it calls, and where models are found.

The library never imports the joint job's internals (nor ``training``): it uses a trained space
only through :class:`JointModel`, the few members below that :class:`xmodal.joint.JointSpace`
provides, and loads one with :func:`open_space` (the joint job's public ``JointSpace.load``,
imported when a model is first needed).

A library's model id names its joint model (``joint-<12 hex>``); the run directory of every
model used is remembered in the registry ``$XDG_DATA_HOME/xmodal/models.json`` (model id ->
run directory), so later opens find it without ``--model``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from xmodal.library.records import LibraryError
from xmodal.library.store import default_library_dir
from xmodal.types import Modality

if TYPE_CHECKING:
    from xmodal.features.base import Encoder


class JointModel(Protocol):
    """What the library uses of a trained joint space.

    Attributes:
        model_id: a stable id of the weights and settings (part of the library's model id).
        run_dir: where the space was loaded from (workers reload it from there).
        encoders: the frozen encoder of each modality the space embeds; the library reuses its
            own frozen features when an encoder's ``id`` matches.
    """

    model_id: str
    run_dir: Path | None

    @property
    def width(self) -> int:
        """Width E of the shared space."""
        ...

    @property
    def encoders(self) -> Mapping[Modality, Encoder]: ...

    def encode_features(self, modality: Modality, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """``B x (T_i, D)`` frozen features (text: ``(D,)``) -> ``(B, E)`` unit rows."""
        ...

    def encode_text(self, text: str | Sequence[str]) -> np.ndarray:
        """Sentences -> ``(B, E)`` unit rows."""
        ...

    def encode_audio(self, audio: Any) -> np.ndarray:
        """Waveforms or files -> ``(B, E)`` unit rows."""
        ...


def open_space(run_dir: str | os.PathLike[str]) -> JointModel:
    """Load a joint space run directory (the joint job's public loader).

    Raises:
        FileNotFoundError: not a joint-space run.
        ValueError: a run whose encoders changed.
    """
    from xmodal.joint import JointSpace

    return JointSpace.load(run_dir)


def load_joint(run_dir: str | os.PathLike[str]) -> JointModel:
    """Load a joint space run directory, as a :class:`LibraryError` when it is not one, and
    register it."""
    try:
        space = open_space(run_dir)
    except (FileNotFoundError, ValueError) as e:
        raise LibraryError(f"cannot use the joint model: {e}") from None
    register_model(space.model_id, run_dir)
    return space


# ----------------------------------------------------------------------------- model registry


def registry_path() -> Path:
    """``$XDG_DATA_HOME/xmodal/models.json``: joint model id -> run directory."""
    return default_library_dir().parent / "models.json"


def register_model(model_id: str, run_dir: str | os.PathLike[str]) -> None:
    """Remember where a joint model's run directory is (atomic update)."""
    from xmodal.utils import read_json, write_json

    path = registry_path()
    try:
        known = read_json(path) if path.is_file() else {}
    except ValueError:
        known = {}
    run = str(Path(run_dir).expanduser().resolve())
    if known.get(model_id) != run:
        known[model_id] = run
        write_json(path, known)


def find_model(model_id: str) -> Path | None:
    """The registered run directory of a joint model id, if it still exists."""
    from xmodal.utils import read_json

    path = registry_path()
    try:
        run = read_json(path).get(model_id) if path.is_file() else None
    except ValueError:
        return None
    return Path(run) if run and (Path(run) / "joint.json").is_file() else None

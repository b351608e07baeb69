"""Preprocessing as in the thesis, fitted on the train split only.

Pipeline, per clip ``(T, D)`` of encoder features:

1. :func:`segment` to a fixed number of steps (the mean over ``steps`` equal segments), so
   every clip becomes ``(steps, D)``; video and audio share ``DEFAULT_STEPS``.
2. optional PCA to ``pca_dim`` components (the thesis used 17-d video, 5-d audio), fitted on
   the train rows in encoder space, where all dimensions share one scale.
3. MinMax scaling (scikit-learn, per output dimension) to ``[0, 1]`` on train; val/test values
   may fall outside (no clipping), which is what an honest train-only fit gives.

:meth:`Preprocessor.inverse_transform` undoes 3 then 2, mapping model outputs back to encoder
space (``(N, steps, D)``; for log-mel, a waveform is then one ``LogMelEncoder.inverse`` away).
PCA makes that reconstruction lossy; segmentation is not undone (steps stay steps).

The fitted transform is saved as JSON + ``.npz`` (no pickle) beside the features and reloaded at
inference. :func:`fit_on_split` makes the train-only fit explicit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.utils import atomic_path, read_json, write_json

DEFAULT_STEPS = 16  # shared by video and audio
CONFIG_NAME = "preprocessor.json"
ARRAYS_NAME = "preprocessor.npz"


def segment(x: np.ndarray, steps: int) -> np.ndarray:
    """Temporal segmentation: mean over ``steps`` equal segments.

    With ``T >= steps`` segment ``i`` averages rows ``floor(i T / steps)`` to
    ``floor((i + 1) T / steps) - 1`` (every segment has at least one row). With ``T < steps``
    there is less than one row per segment, so each segment takes the value at its centre,
    linearly interpolated between rows (``T = 1`` repeats the row).

    Args:
        x: ``(T, D)`` features, T >= 1.
        steps: output length.

    Returns:
        ``(steps, D)`` float32.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"segment takes (T, D) with T >= 1, got {x.shape}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    t = x.shape[0]
    if t >= steps:
        starts = (np.arange(steps) * t) // steps  # (steps,) strictly increasing
        counts = np.diff(np.append(starts, t))  # (steps,)
        return (np.add.reduceat(x, starts, axis=0) / counts[:, None]).astype(np.float32)
    centres = (np.arange(steps) + 0.5) * t / steps - 0.5  # segment centres in row units
    centres = np.clip(centres, 0.0, t - 1)
    lo = np.floor(centres).astype(int)
    hi = np.minimum(lo + 1, t - 1)
    w = (centres - lo)[:, None]  # (steps, 1)
    return ((1.0 - w) * x[lo] + w * x[hi]).astype(np.float32)  # (steps, D)


@dataclass
class PreprocessConfig:
    """What :class:`Preprocessor` does.

    Attributes:
        steps: temporal segments per clip.
        minmax: scale every output dimension to [0, 1] on the fit data.
        pca_dim: PCA components (None: keep the encoder's width).
    """

    steps: int = DEFAULT_STEPS
    minmax: bool = True
    pca_dim: int | None = None

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.pca_dim is not None and self.pca_dim < 1:
            raise ValueError(f"pca_dim must be >= 1 or None, got {self.pca_dim}")

    @property
    def tag(self) -> str:
        """Short name for file names: ``T16-minmax-pca17``."""
        parts = [f"T{self.steps}"]
        if self.minmax:
            parts.append("minmax")
        if self.pca_dim is not None:
            parts.append(f"pca{self.pca_dim}")
        return "-".join(parts)


class Preprocessor:
    """Segmentation + optional PCA + MinMax, fitted once, applied anywhere.

    Args:
        config: the steps and the transforms to use.
    """

    def __init__(self, config: PreprocessConfig | None = None) -> None:
        self.config = config or PreprocessConfig()
        self.in_dim: int | None = None
        self.pca: Any = None  # sklearn.decomposition.PCA
        self.scaler: Any = None  # sklearn.preprocessing.MinMaxScaler
        self.fitted_on: dict[str, Any] = {}

    @property
    def fitted(self) -> bool:
        return self.in_dim is not None

    @property
    def out_dim(self) -> int:
        """Width after the transform (``pca_dim`` or the input width)."""
        self._check_fitted()
        return self.config.pca_dim or int(self.in_dim)  # type: ignore[arg-type]

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError("Preprocessor is not fitted: call fit() or load() first")

    def segment_all(self, arrays: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """``N x (T_i, D)`` -> ``(N, steps, D)``."""
        if len(arrays) == 0:
            raise ValueError("no arrays given")
        out = np.stack([segment(a, self.config.steps) for a in arrays])  # (N, steps, D)
        if self.in_dim is not None and out.shape[-1] != self.in_dim:
            raise ValueError(f"features have width {out.shape[-1]}, fitted on {self.in_dim}")
        return out

    def fit(self, arrays: Sequence[np.ndarray] | np.ndarray, **fitted_on: Any) -> Preprocessor:
        """Fit on exactly these clips (pass the train split only).

        Args:
            arrays: ``N x (T_i, D)`` clip features.
            **fitted_on: provenance recorded with the saved transform (split, count, ...).

        Returns:
            ``self``.
        """
        from sklearn.decomposition import PCA
        from sklearn.preprocessing import MinMaxScaler

        self.in_dim, self.pca, self.scaler = None, None, None
        segs = self.segment_all(arrays)  # (N, steps, D)
        n, steps, d = segs.shape
        rows = segs.reshape(n * steps, d)  # (N*steps, D)
        if self.config.pca_dim is not None:
            if self.config.pca_dim > min(rows.shape):
                raise ValueError(
                    f"pca_dim={self.config.pca_dim} exceeds min(rows, width) = {min(rows.shape)} "
                    f"of the fit data ({n} clips x {steps} steps, width {d})"
                )
            self.pca = PCA(n_components=self.config.pca_dim, svd_solver="full").fit(rows)
            rows = self.pca.transform(rows)  # (N*steps, pca_dim)
        if self.config.minmax:
            self.scaler = MinMaxScaler().fit(rows)
        self.in_dim = d
        self.fitted_on = {"clips": n, **fitted_on}
        return self

    def transform(self, arrays: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """``N x (T_i, D)`` -> ``(N, steps, D')`` float32."""
        self._check_fitted()
        segs = self.segment_all(arrays)  # (N, steps, D)
        n, steps, d = segs.shape
        rows = segs.reshape(n * steps, d)  # (N*steps, D)
        if self.pca is not None:
            rows = self.pca.transform(rows)  # (N*steps, D')
        if self.scaler is not None:
            rows = self.scaler.transform(rows)
        return rows.reshape(n, steps, -1).astype(np.float32)  # (N, steps, D')

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """Model-space values back to encoder space.

        Args:
            z: ``(N, steps, D')`` or ``(steps, D')``.

        Returns:
            ``(N, steps, D)`` or ``(steps, D)`` float32, like the input's rank.
        """
        self._check_fitted()
        z = np.asarray(z, dtype=np.float64)
        single = z.ndim == 2
        if single:
            z = z[None]  # (1, steps, D')
        if z.ndim != 3 or z.shape[-1] != self.out_dim:
            raise ValueError(f"expected (N, steps, {self.out_dim}), got {z.shape}")
        n, steps, _ = z.shape
        rows = z.reshape(n * steps, -1)  # (N*steps, D')
        if self.scaler is not None:
            rows = self.scaler.inverse_transform(rows)
        if self.pca is not None:
            rows = self.pca.inverse_transform(rows)  # (N*steps, D)
        out = rows.reshape(n, steps, -1).astype(np.float32)  # (N, steps, D)
        return out[0] if single else out

    # ------------------------------------------------------------------------- persistence

    def save(self, directory: str | Path) -> Path:
        """Write ``preprocessor.json`` + ``preprocessor.npz`` (atomically) into ``directory``."""
        self._check_fitted()
        directory = Path(directory)
        arrays: dict[str, np.ndarray] = {}
        if self.scaler is not None:
            for key in ("min_", "scale_", "data_min_", "data_max_", "data_range_"):
                arrays[f"scaler.{key}"] = np.asarray(getattr(self.scaler, key))
        if self.pca is not None:
            for key in (
                "components_",
                "mean_",
                "explained_variance_",
                "explained_variance_ratio_",
                "singular_values_",
            ):
                arrays[f"pca.{key}"] = np.asarray(getattr(self.pca, key))
        with atomic_path(directory / ARRAYS_NAME) as tmp:
            np.savez(tmp, **arrays)
        info = {
            "config": asdict(self.config),
            "in_dim": self.in_dim,
            "fitted_on": self.fitted_on,
            "pca_noise_variance": None if self.pca is None else float(self.pca.noise_variance_),
            "pca_n_samples": None if self.pca is None else int(self.pca.n_samples_),
            "scaler_n_samples": None if self.scaler is None else int(self.scaler.n_samples_seen_),
        }
        write_json(directory / CONFIG_NAME, info)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Preprocessor:
        """Read a transform written by :meth:`save`."""
        from sklearn.decomposition import PCA
        from sklearn.preprocessing import MinMaxScaler

        directory = Path(directory)
        config_file = directory / CONFIG_NAME
        if not config_file.is_file():
            raise FileNotFoundError(f"{config_file}: no saved preprocessor here")
        try:
            info = read_json(config_file)
        except json.JSONDecodeError as e:
            raise ValueError(f"{config_file}: corrupt preprocessor description ({e})") from None
        self = cls(PreprocessConfig(**info["config"]))
        in_dim = int(info["in_dim"])
        with np.load(directory / ARRAYS_NAME) as npz:
            arrays = {k: npz[k] for k in npz.files}
        if self.config.pca_dim is not None:
            pca = PCA(n_components=self.config.pca_dim, svd_solver="full")
            for key in (
                "components_",
                "mean_",
                "explained_variance_",
                "explained_variance_ratio_",
                "singular_values_",
            ):
                setattr(pca, key, arrays[f"pca.{key}"])
            pca.n_components_ = self.config.pca_dim
            pca.n_features_in_ = in_dim
            pca.noise_variance_ = info["pca_noise_variance"]
            pca.n_samples_ = info["pca_n_samples"]
            self.pca = pca
        if self.config.minmax:
            scaler = MinMaxScaler()
            for key in ("min_", "scale_", "data_min_", "data_max_", "data_range_"):
                setattr(scaler, key, arrays[f"scaler.{key}"])
            scaler.n_features_in_ = len(scaler.min_)
            scaler.n_samples_seen_ = info["scaler_n_samples"]
            self.scaler = scaler
        self.in_dim = in_dim
        self.fitted_on = info.get("fitted_on", {})
        return self


def preprocessor_dir(features_path: str | Path, config: PreprocessConfig, split: str) -> Path:
    """Where a transform fitted on ``split`` is saved: ``<entry>/preprocess-<tag>-<split>``."""
    return Path(features_path) / f"preprocess-{config.tag}-{split}"


def fit_on_split(
    featureset: Any,
    rows: Sequence[dict[str, Any]],
    config: PreprocessConfig | None = None,
    split: str = "train",
    *,
    save: bool = True,
) -> Preprocessor:
    """Fit a :class:`Preprocessor` on the clips of one split only.

    Args:
        featureset: a :class:`xmodal.features.cache.FeatureSet` (ids + arrays).
        rows: the dataset's manifest rows (they carry ``split``).
        config: steps / MinMax / PCA.
        split: the split to fit on (``"train"``).
        save: also save the transform beside the features (:func:`preprocessor_dir`).

    Returns:
        The fitted transform; apply it to any split with :meth:`Preprocessor.transform`.

    Raises:
        ValueError: no clip of ``split`` has features.
    """
    config = config or PreprocessConfig()
    ids = [r["id"] for r in rows if r.get("split") == split and r["id"] in featureset]
    if not ids:
        raise ValueError(f"{featureset.path}: no clips of split {split!r} to fit on")
    pre = Preprocessor(config).fit(
        featureset.arrays(ids), split=split, encoder_id=featureset.encoder_id
    )
    if save:
        pre.save(preprocessor_dir(featureset.path, config, split))
    return pre

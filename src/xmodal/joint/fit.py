"""Fitting a joint space: features from the cache, PCA fitted on train, the shared training loop.

:func:`train_joint` writes a run directory that :meth:`xmodal.joint.JointSpace.load` reads back.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xmodal.joint.config import JointTrainConfig, head_threads
from xmodal.joint.encode import (
    FORMAT_VERSION,
    JOINT_FILE,
    PREPROCESS_DIRNAME,
    SEQUENCE_MODALITIES,
    prepare_sequences,
)
from xmodal.types import Modality

if TYPE_CHECKING:  # heavy imports only for type checkers
    from xmodal.features.base import Encoder
    from xmodal.features.preprocess import Preprocessor


class JointFeatures:
    """A map-style dataset of prepared features: one dict per clip for ``compute_loss``.

    Item ``i`` is ``{modality: tensor, f"{modality}_mask": bool}`` for every modality of the
    space; a clip missing a modality has zeros there and its mask False.

    Args:
        inputs: ``{modality: (N, ...) float32}`` prepared inputs (zeros where missing).
        masks: ``{modality: (N,) bool}`` which clips have the modality.
        ids: the N clip ids.
    """

    def __init__(
        self, inputs: dict[Modality, np.ndarray], masks: dict[Modality, np.ndarray], ids: list[str]
    ) -> None:
        import torch

        self.ids = ids
        self.inputs = {m: torch.from_numpy(np.ascontiguousarray(x)) for m, x in inputs.items()}
        self.masks = {m: torch.from_numpy(np.asarray(k, bool)) for m, k in masks.items()}

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[Any, Any]:
        item: dict[Any, Any] = {}
        for m, x in self.inputs.items():
            item[m] = x[i]
            item[f"{m.value}_mask"] = self.masks[m][i]
        return item


def _quiet_log(dataset_dir: Path, rows: list[dict[str, Any]], m: Modality) -> Callable[[str], None]:
    """A cache logger that hides the expected failures of clips that lack ``m``."""
    lacking = {
        f"skipped {dataset_dir / r['path']}:"
        for r in rows
        if "modalities" in r and m.value not in r["modalities"]
    }

    def log(message: str) -> None:
        if not any(message.startswith(p) for p in lacking):
            print(message, file=sys.stderr)

    return log


def load_dataset_features(
    dataset_dir: str | os.PathLike[str],
    encoders: dict[Modality, Encoder],
    *,
    fps: float | None = None,
    progress: bool = True,
) -> dict[Modality, Any]:
    """Extract (or reuse) the cached features of every clip for each encoder.

    Returns:
        ``{modality: FeatureSet}`` (clip ids and their ``(T, D)`` arrays).
    """
    from xmodal.data.manifest import read_manifest
    from xmodal.features.cache import extract_dataset, load_features

    dataset_dir = Path(dataset_dir)
    rows = read_manifest(dataset_dir)
    out = {}
    for m, enc in encoders.items():
        rate = fps if m is Modality.VIDEO else None
        extract_dataset(dataset_dir, enc, fps=rate, progress=progress,
                        log=_quiet_log(dataset_dir, rows, m))  # fmt: skip
        out[m] = load_features(dataset_dir, enc, fps=rate)
    return out


def build_features(
    rows: list[dict[str, Any]],
    feats: dict[Modality, Any],
    prepare: Callable[[Modality, list[np.ndarray]], np.ndarray],
) -> JointFeatures | None:
    """Prepared inputs of the clips in ``rows`` that have two or more modalities (None if none)."""
    keep = [r["id"] for r in rows if sum(r["id"] in fs for fs in feats.values()) >= 2]
    if not keep:
        return None
    inputs, masks = {}, {}
    for m, fs in feats.items():
        has = np.array([cid in fs for cid in keep])
        present = [cid for cid in keep if cid in fs]
        if not present:
            continue
        prepared = prepare(m, fs.arrays(present))  # (n_m, ...)
        full = np.zeros((len(keep), *prepared.shape[1:]), np.float32)  # (N, ...)
        full[has] = prepared
        inputs[m], masks[m] = full, has
    return JointFeatures(inputs, masks, keep)


def train_joint(
    dataset_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: JointTrainConfig | None = None,
    *,
    progress: bool = True,
    resume: bool = True,
) -> Path:
    """Train a joint space on a dataset and save it as a run directory.

    Features come from the cache (extracted on first use); the PCA of each sequence modality is
    fitted on the train split only; the model is initialised from ``config.train.seed`` and
    trained by the shared loop (validation on the val split, resumable); the space serves the
    weights ``config.weights`` names (last, or best validation loss).

    Args:
        dataset_dir: a dataset (object-action world or ``xmodal data folder`` output).
        out_dir: the run directory (created; an unfinished run there resumes).
        config: what to train; defaults to :class:`JointTrainConfig`.
        progress: show progress bars.
        resume: continue an interrupted run in ``out_dir`` (False starts over).

    Returns:
        ``out_dir`` as a Path (load it with :meth:`JointSpace.load` or ``xmodal.load``).

    Raises:
        ValueError: fewer than two modalities with features, or no train clip pairing two.
    """
    from xmodal import features
    from xmodal.config import to_dict
    from xmodal.data.manifest import read_manifest
    from xmodal.features.preprocess import PreprocessConfig, Preprocessor
    from xmodal.models.joint_embedding import JointEmbedding, JointEmbeddingConfig
    from xmodal.training.loop import train
    from xmodal.utils import seed_everything, write_json

    config = config or JointTrainConfig()
    dataset_dir, out = Path(dataset_dir).expanduser(), Path(out_dir).expanduser()
    rows = read_manifest(dataset_dir)
    encoders = {m: features.get(name) for m, name in config.encoder_names().items()}
    feats = load_dataset_features(dataset_dir, encoders, fps=config.fps, progress=progress)
    train_rows = [r for r in rows if r.get("split") == "train"]
    feats = {m: fs for m, fs in feats.items() if any(r["id"] in fs for r in train_rows)}
    if len(feats) < 2:
        have = ", ".join(f"{m.value} ({encoders[m].id})" for m in feats) or "none"
        raise ValueError(f"{dataset_dir}: a joint space needs train clips with features of two "
                         f"modalities; only these have any: {have}")  # fmt: skip
    encoders = {m: encoders[m] for m in feats}
    preprocessors: dict[Modality, Preprocessor | None] = {}
    for m in feats:
        preprocessors[m] = None
        if m in SEQUENCE_MODALITIES and config.pca_dim is not None:
            ids = [r["id"] for r in train_rows if r["id"] in feats[m]]
            pca_dim = min(config.pca_dim, len(ids) * config.segments, feats[m].dim)
            pre_cfg = PreprocessConfig(steps=config.segments, minmax=False, pca_dim=pca_dim)
            pre = Preprocessor(pre_cfg).fit(feats[m].arrays(ids), split="train",
                                            encoder_id=encoders[m].id)  # fmt: skip
            pre.save(out / PREPROCESS_DIRNAME / m.value)
            preprocessors[m] = pre

    def prepare(m: Modality, arrays: list[np.ndarray]) -> np.ndarray:
        if m in SEQUENCE_MODALITIES:
            return prepare_sequences(arrays, config, preprocessors[m])
        return np.stack([np.asarray(a, np.float32).reshape(-1) for a in arrays])

    train_set = build_features(train_rows, feats, prepare)
    if train_set is None or len(train_set) < 2:
        raise ValueError(f"{dataset_dir}: fewer than two train clips have two modalities")
    val_set = build_features([r for r in rows if r.get("split") == "val"], feats, prepare)
    if val_set is not None and len(val_set) < 2:
        val_set = None
    input_dims = {m: int(x.shape[-1]) for m, x in train_set.inputs.items()}
    model_cfg = JointEmbeddingConfig(
        input_dims=input_dims, width=config.width, hidden_dim=config.hidden_dim,
        num_layers=config.num_layers, pooling=config.pooling, dropout=config.dropout,
    )  # fmt: skip
    seed_everything(config.train.seed)  # the heads' initialisation follows the run's seed
    model = JointEmbedding(model_cfg)
    spec = {
        "format": FORMAT_VERSION,
        "kind": "joint",
        "config": to_dict(config),
        "encoders": {
            m.value: {
                "name": config.encoder_names()[m],
                "id": enc.id,
                "dim": enc.dim,
                "pca": preprocessors[m] is not None,
            }
            for m, enc in encoders.items()
        },  # fmt: skip
        "modalities": [m.value for m in encoders],
        "dataset": str(dataset_dir.resolve()),
        "clips": {"train": len(train_set), "val": 0 if val_set is None else len(val_set)},
    }
    write_json(out / JOINT_FILE, spec)
    with head_threads():
        train(model, train_set, val_set, config.train, out, resume=resume, progress=progress,
              extra_config={"pipeline": "joint", "dataset": spec["dataset"]})  # fmt: skip
    return out

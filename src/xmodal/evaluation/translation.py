"""Translation metrics: cosine distance ×100, MSE and nearest-prototype accuracy.

Definitions (docs/studies.md; they must not drift):

* **Cosine distance ×100** — mean over clips of ``100 · (1 − cos(pred, target))`` where ``pred``
  and ``target`` are a clip's whole (T × D) audio-feature sequence flattened, after standardising
  each feature with the *train split's* mean and std. MinMax-scaled features all lie in the
  positive orthant, which makes any two clips look similar; standardising removes that.
* **MSE** — mean squared error in the same standardised space.
* Both are always reported beside two reference rows: predict-the-train-mean and
  predict-a-random-train-clip (:func:`reference_predictions`).

All functions take arrays and return numbers: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Standardiser:
    """Per-feature mean and std fitted on train-split targets.

    Attributes:
        mean: (D,) per-feature mean over every train clip and time step.
        std: (D,) per-feature std (floored at ``eps`` so constant features do not explode).
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, train: np.ndarray, eps: float = 1e-6) -> Standardiser:
        """Fit on train targets.

        Args:
            train: (N, T, D) train-split feature sequences.
            eps: floor for the std.
        """
        flat = np.asarray(train, dtype=np.float64).reshape(-1, train.shape[-1])  # (N·T, D)
        return cls(mean=flat.mean(0), std=np.maximum(flat.std(0), eps))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Standardise (…, D) features."""
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.std


def per_clip_cosine_distance(pred: np.ndarray, target: np.ndarray, std: Standardiser) -> np.ndarray:
    """``100 · (1 − cos)`` per clip between flattened standardised sequences.

    Args:
        pred: (N, T, D) predicted sequences.
        target: (N, T, D) true sequences.
        std: the train-split standardiser.

    Returns:
        (N,) distances in [0, 200].
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {pred.shape} and target {target.shape} differ in shape")
    p = std(pred).reshape(len(pred), -1)  # (N, T·D)
    t = std(target).reshape(len(target), -1)  # (N, T·D)
    num = (p * t).sum(1)
    den = np.linalg.norm(p, axis=1) * np.linalg.norm(t, axis=1)
    cos = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return 100.0 * (1.0 - np.clip(cos, -1.0, 1.0))  # clipped: rounding can put cos past ±1


def cosine_distance_x100(pred: np.ndarray, target: np.ndarray, std: Standardiser) -> float:
    """Mean over clips of :func:`per_clip_cosine_distance`."""
    return float(per_clip_cosine_distance(pred, target, std).mean())


def mse(pred: np.ndarray, target: np.ndarray, std: Standardiser) -> float:
    """Mean squared error in the standardised space (over clips, steps and features)."""
    if pred.shape != target.shape:
        raise ValueError(f"pred {pred.shape} and target {target.shape} differ in shape")
    return float(np.mean((std(pred) - std(target)) ** 2))


def reference_predictions(
    train_targets: np.ndarray, n: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """The two reference predictors every translation table reports.

    Args:
        train_targets: (N_train, T, D) train-split targets.
        n: number of test clips to predict for.
        seed: seed for the random-train-clip predictor.

    Returns:
        ``{"train mean": (n, T, D), "random train clip": (n, T, D)}``.
    """
    mean = np.asarray(train_targets).mean(0, keepdims=True)  # (1, T, D)
    idx = np.random.default_rng(seed).integers(0, len(train_targets), size=n)
    return {
        "train mean": np.repeat(mean, n, axis=0),
        "random train clip": np.asarray(train_targets)[idx],
    }


def class_prototypes(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean sequence per class.

    Args:
        features: (N, T, D) real (train) sequences.
        labels: (N,) class labels (any hashable dtype numpy can compare).

    Returns:
        ``(classes, prototypes)``: (C,) sorted labels and (C, T, D) their mean sequences.
    """
    classes = np.unique(labels)
    protos = np.stack([features[labels == c].mean(0) for c in classes])  # (C, T, D)
    return classes, protos


def prototype_accuracy(
    pred: np.ndarray,
    labels: np.ndarray,
    classes: np.ndarray,
    prototypes: np.ndarray,
    std: Standardiser,
) -> float:
    """Accuracy of labelling each prediction with its nearest prototype (cosine, standardised).

    Used for "which object / action does the translated audio name": prototypes are the mean real
    audio-feature sequence of each object (or action) in the train split.

    Args:
        pred: (N, T, D) predicted sequences.
        labels: (N,) true labels.
        classes: (C,) prototype labels.
        prototypes: (C, T, D) prototype sequences.
        std: the train-split standardiser.
    """
    p = std(pred).reshape(len(pred), -1)  # (N, T·D)
    q = std(prototypes).reshape(len(prototypes), -1)  # (C, T·D)
    p /= np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    nearest = classes[np.argmax(p @ q.T, axis=1)]  # (N,)
    return float(np.mean(nearest == labels))

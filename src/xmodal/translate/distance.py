"""How far predicted speech lies from the canonical target: cosine distance ×100, its reference
rows, the oracle and the gap closed (definitions: :mod:`xmodal.evaluation.translation` and
ARCHITECTURE.md, "Oracle and gap closed").

Every row is scored in the same space: the pipeline's speech frames (``speech_steps`` log-mel
frames per clip, the targets resampled by the pipeline's own train-fitted speech transform),
standardised per feature with the train targets' mean and std:

- **model**: the pipeline's prediction from each clip's video;
- **train mean** (the baseline of the gap) and **random train clip**: the reference rows;
- **oracle**: each pair's mean target over the split's clips of that pair (it reads the
  targets; with a canonical target every clip of a pair has the same one, so it is exact);
- **gap closed** = (train mean − model) / (train mean − oracle): 0 is the mean predictor, 1 the
  oracle.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from xmodal.translate.features import ClipFeatures
    from xmodal.translate.pipeline import TranslationPipeline

ROWS = ("model", "train mean", "random train clip", "oracle")


def pair_means(targets: np.ndarray, rows: list[dict[str, Any]]) -> np.ndarray:
    """Each clip's pair's mean target over ``rows`` (the oracle): ``(N, T, D)``."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        groups[(r["object"], r["action"])].append(i)
    out = np.empty_like(targets)
    for idx in groups.values():
        out[idx] = targets[idx].mean(0)
    return out


def gap_closed(model: float, baseline: float, oracle: float) -> float | None:
    """``(baseline − model) / (baseline − oracle)``; None where the baseline is the oracle."""
    span = baseline - oracle
    return None if abs(span) < 1e-12 else (baseline - model) / span


def distance_scores(
    pipe: TranslationPipeline, feats: ClipFeatures, splits: tuple[str, ...], seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Cosine distance ×100 of every row (module doc) on each split, and the gap closed.

    Returns:
        ``{split: {"clips": n, "cosine_x100": {row: value}, "gap_closed": float | None}}``.
    """
    from xmodal.evaluation import translation as metrics
    from xmodal.translate.speech import CanonicalVoice, speech_targets
    from xmodal.types import Modality

    config = pipe.config
    voice = (CanonicalVoice.build(feats.info, config.canonical)
             if config.speech_target == "canonical" else None)  # fmt: skip
    speech = pipe.preprocessors["speech"]

    def targets(rows: list[dict[str, Any]]) -> np.ndarray:  # (N, speech_steps, 80)
        return speech.inverse_transform(speech.transform(speech_targets(feats, rows, config,
                                                                        voice)))  # fmt: skip

    train = targets(feats.split("train"))
    std = metrics.Standardiser.fit(train)
    out: dict[str, dict[str, Any]] = {}
    for split in splits:
        rows = feats.split(split)
        if not rows:
            continue
        truth = targets(rows)
        audio = feats.arrays(Modality.AUDIO, rows) if pipe.leaky else None
        preds = {"model": pipe.translate_features(feats.arrays(Modality.VIDEO, rows), audio),
                 **metrics.reference_predictions(train, len(rows), seed),
                 "oracle": pair_means(truth, rows)}  # fmt: skip
        dist = {k: float(metrics.cosine_distance_x100(v, truth, std)) for k, v in preds.items()}
        out[split] = {
            "clips": len(rows),
            "cosine_x100": dist,
            "gap_closed": gap_closed(dist["model"], dist["train mean"], dist["oracle"]),
        }
    return out


def distance_table(runs: list[dict[str, dict[str, Any]]]) -> str:
    """Markdown of :func:`distance_scores` over runs (mean ± std): one row per split and
    predictor, the gap closed on the model's row."""
    from xmodal.evaluation.report import fmt_mean_std, markdown_table, mean_std

    rows = []
    for split, first in runs[0].items():
        for name in first["cosine_x100"]:
            dist = mean_std([r[split]["cosine_x100"][name] for r in runs])
            gaps = [r[split]["gap_closed"] for r in runs]
            gap = (fmt_mean_std(mean_std([float("nan") if g is None else g for g in gaps]))
                   if name == "model" else "")  # fmt: skip
            rows.append([split, first["clips"], name, fmt_mean_std(dist, 1), gap])
    return markdown_table(["split", "clips", "prediction", "cosine distance ×100", "gap closed"],
                          rows)  # fmt: skip

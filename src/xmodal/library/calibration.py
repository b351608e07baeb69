"""Calibrating an approximate vector index on the library's own vectors.

Both backends tune their index's search parameters (LanceDB: IVF ``nprobes``; PostgreSQL: HNSW
``ef_search``) the same way: queries made from vectors sampled out of the library
(:func:`calibration_queries`) are answered exactly and through the index at growing effort,
and the cheapest setting whose recall@10 reaches the target wins (:func:`calibrate`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

CALIBRATION_NOISE = 2.0
"""Norm of the noise that turns a stored vector into a calibration query (cosine to it ~0.45,
about what a query from another modality has to its match: harder than a near-duplicate)."""
CALIBRATION_SEED = 0x5EEDCA1B
"""Seed of the calibration noise (not 0, so it never replays the draws that made the data)."""


def calibration_queries(seeds: np.ndarray) -> np.ndarray:
    """Queries for tuning an approximate index, from vectors sampled out of the library.

    Half are *related* queries (a stored vector moved off by noise, like a query from another
    modality near its match), half are *unrelated* directions (random mixtures of the samples,
    the hard case for any index). Calibrating on both keeps recall for either kind.

    Args:
        seeds: (Q, D) vectors sampled from the library.

    Returns:
        (Q, D) float32 unit vectors.
    """
    rng = np.random.default_rng(CALIBRATION_SEED)
    s = np.asarray(seeds, dtype=np.float32)
    s = s / np.maximum(np.linalg.norm(s, axis=1, keepdims=True), 1e-12)  # (Q, D)
    n, dim = s.shape
    noise = rng.standard_normal((n, dim)).astype(np.float32) / math.sqrt(dim)
    related = s + CALIBRATION_NOISE * noise  # (Q, D)
    unrelated = rng.standard_normal((n, n)).astype(np.float32) @ s  # (Q, Q) @ (Q, D)
    q = np.concatenate([related[: n - n // 2], unrelated[: n // 2]])  # (Q, D)
    return q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)


def calibrate(
    settings: list[Any],
    truth: list[set[Any]],
    search: Callable[[Any, int], set[Any]],
    target: float,
) -> tuple[Any, float]:
    """The first (cheapest) setting whose recall@10 reaches ``target``, else the last one.

    Args:
        settings: search parameters, cheapest first.
        truth: per calibration query, the keys of its exact 10 nearest.
        search: ``search(setting, query_index)`` -> keys the index returns for that query.
        target: the recall to reach.

    Returns:
        ``(setting, recall)``.
    """
    total = max(1, sum(len(t) for t in truth))
    recall = 0.0
    for setting in settings:
        recall = sum(len(search(setting, i) & t) for i, t in enumerate(truth)) / total
        if recall >= target:
            break
    return setting, recall

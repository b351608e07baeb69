"""The LanceDB library's indexes: scalar indexes for filters, and a calibrated IVF_SQ index per
vector space.

Below ``index_threshold`` vectors a space is searched exactly (flat scan). Above it
:func:`maybe_index` builds an IVF_SQ index (8-bit scalar quantisation, cosine), then
*calibrates* it on the library's own vectors: ``calibration_queries`` queries (see
:func:`~xmodal.library.calibration.calibration_queries`) are answered exactly (numpy, streamed
in batches) and by the index at growing ``nprobes`` (with a refine step re-ranking 2x
candidates on full vectors) until recall@10 reaches ``recall_target``; the chosen parameters
are kept in the library's meta table. The index is rebuilt and re-calibrated once the space has
doubled.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from xmodal.library.calibration import CALIBRATION_SEED, calibrate, calibration_queries
from xmodal.library.columns import space_column
from xmodal.library.lancedb.config import LanceStoreConfig


def ensure_scalar_indexes(segments: Any) -> None:
    """Scalar indexes on the segments table's lookup and filter columns (once it has rows)."""
    from lancedb.index import Bitmap, BTree

    if segments.count_rows():  # scalar indexes speed up lookups and filters
        indexed = {tuple(i.columns) for i in segments.list_indices()}
        for col, config in (
            ("entry_id", BTree()),
            ("modality", Bitmap()),
            ("created", BTree()),
        ):
            if (col,) not in indexed:
                segments.create_index(col, config=config)


def maybe_index(
    segments: Any, space: str, config: LanceStoreConfig, info: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Build (or rebuild, once the space has doubled) a space's IVF_SQ index and calibrate it.

    Args:
        segments: the segments table.
        space: the space.
        config: the backend's options (threshold, partition size, recall target).
        info: the space's current index parameters, or None.

    Returns:
        The new index parameters, or None when the index is left as it is.
    """
    from lancedb.index import IvfSq

    col = space_column(space)
    n = segments.count_rows(f"{col} IS NOT NULL")
    if n < config.index_threshold or (info is not None and n < 2 * info["rows"]):
        return None
    partitions = max(1, n // config.partition_rows)
    segments.create_index(
        col, config=IvfSq(distance_type="cosine", num_partitions=partitions), replace=True
    )
    return calibrate_index(segments, space, n, partitions, config)


def vector_batches(segments: Any, col: str) -> Iterator[tuple[list[str], np.ndarray]]:
    """Stream ``(keys, vectors (B, D))`` of every stored vector in a column."""
    query = segments.search().where(f"{col} IS NOT NULL").select(["entry_id", "idx", col])
    for batch in query.to_batches(65536):
        vec = batch.column(col)
        width = vec.type.list_size
        values = vec.values.to_numpy(zero_copy_only=False)
        mat = values[vec.offset * width : (vec.offset + len(vec)) * width].reshape(-1, width)
        keys = [
            f"{e}:{i}"
            for e, i in zip(
                batch.column("entry_id").to_pylist(),
                batch.column("idx").to_pylist(),
                strict=True,
            )
        ]
        yield keys, mat.astype(np.float32, copy=False)


def calibrate_index(
    segments: Any, space: str, n: int, partitions: int, config: LanceStoreConfig
) -> dict[str, Any]:
    """The cheapest (nprobes, refine_factor) reaching ``recall_target`` (see module doc)."""
    col = space_column(space)
    rng = np.random.default_rng(CALIBRATION_SEED)
    nq = min(config.calibration_queries, n)
    picks = np.sort(rng.choice(n, size=nq, replace=False))
    seeds, seen = [], 0
    for _, mat in vector_batches(segments, col):
        inside = picks[(picks >= seen) & (picks < seen + len(mat))]
        seeds.extend(mat[inside - seen])
        seen += len(mat)
    queries = calibration_queries(np.stack(seeds))  # (nq, D)
    best_s = np.full((nq, 0), -np.inf, np.float32)
    best_k = np.empty((nq, 0), dtype=object)
    for keys, mat in vector_batches(segments, col):  # exact top 10, streamed
        sims = queries @ mat.T / np.maximum(np.linalg.norm(mat, axis=1), 1e-12)  # (nq, B)
        all_s = np.concatenate([best_s, sims], axis=1)
        all_k = np.concatenate([best_k, np.broadcast_to(np.array(keys, object), sims.shape)], 1)
        top = np.argsort(-all_s, axis=1)[:, :10]
        best_s = np.take_along_axis(all_s, top, axis=1)
        best_k = np.take_along_axis(all_k, top, axis=1)

    def search(setting: tuple[int, int], i: int) -> set[str]:
        rows = (
            segments.search(queries[i], vector_column_name=col)
            .distance_type("cosine")
            .select(["entry_id", "idx", "_distance"])
            .nprobes(setting[0])
            .refine_factor(setting[1])
            .limit(10)
            .to_arrow()
            .to_pylist()
        )
        return {f"{r['entry_id']}:{r['idx']}" for r in rows}

    ladder = sorted({max(1, math.ceil(partitions / d)) for d in (16, 8, 4, 2, 1)})
    settings = [(p, 2) for p in ladder] + [(partitions, 10)]
    truth = [set(row) for row in best_k]
    (nprobes, refine), recall = calibrate(settings, truth, search, config.recall_target)
    return {
        "rows": n,
        "partitions": partitions,
        "nprobes": nprobes,
        "refine_factor": refine,
        "calibrated_recall_at_10": recall,
    }

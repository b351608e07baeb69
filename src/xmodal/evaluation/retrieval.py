"""Retrieval metrics: R@1/5/10, median rank and mAP for one ordered pair of modalities.

A query is relevant to every gallery item with the same label (pass ``arange`` labels for
instance-level retrieval). Ties are broken *pessimistically*: an irrelevant item scoring the same
as a relevant one is ranked before it, so a constant embedding gets chance-level numbers instead of
a perfect R@1.

All functions take arrays and return numbers: no I/O. :func:`retrieval_metrics` processes the
queries in chunks, so a large gallery never needs the full (Nq × Ng) matrix at once; the result is
identical to the full computation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

RECALL_AT = (1, 5, 10)


@dataclass(frozen=True)
class RetrievalScores:
    """Retrieval scores of one ordered modality pair.

    Attributes:
        r1, r5, r10: fraction of queries whose first relevant item is within the top 1/5/10.
        median_rank: median (1-based) rank of the first relevant item.
        mean_ap: mean over queries of average precision over all relevant items.
        n_queries: number of queries with at least one relevant item.
    """

    r1: float
    r5: float
    r10: float
    median_rank: float
    mean_ap: float
    n_queries: int

    def to_dict(self) -> dict[str, float]:
        """JSON-ready dict."""
        return asdict(self)


def _rank_chunk(sim: np.ndarray, relevant: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First-relevant ranks and average precisions for a chunk of queries.

    Args:
        sim: (B, Ng) similarities.
        relevant: (B, Ng) bool relevance.

    Returns:
        ``(ranks, aps)``, each (B,); queries without a relevant item get rank 0 and AP NaN.
    """
    # Sort by score descending; among ties, irrelevant first (pessimistic). lexsort's last key
    # is the primary one.
    order = np.lexsort((relevant, -sim), axis=1)  # (B, Ng)
    rel_sorted = np.take_along_axis(relevant, order, axis=1)  # (B, Ng) bool
    has_rel = rel_sorted.any(1)
    first = np.where(has_rel, rel_sorted.argmax(1) + 1, 0)
    hits = np.cumsum(rel_sorted, axis=1)  # (B, Ng)
    positions = np.arange(1, sim.shape[1] + 1)[None, :]  # (1, Ng)
    precision_at_hits = np.where(rel_sorted, hits / positions, 0.0)
    n_rel = rel_sorted.sum(1)
    aps = np.divide(precision_at_hits.sum(1), n_rel, out=np.full(len(sim), np.nan), where=n_rel > 0)
    return first, aps


def retrieval_metrics(
    queries: np.ndarray,
    gallery: np.ndarray,
    query_labels: np.ndarray,
    gallery_labels: np.ndarray,
    chunk_size: int = 1024,
) -> RetrievalScores:
    """Score retrieval of ``gallery`` items by ``queries`` with dot-product similarity.

    Args:
        queries: (Nq, D) query embeddings (L2-normalised for cosine similarity).
        gallery: (Ng, D) gallery embeddings.
        query_labels: (Nq,) labels; relevant = same label.
        gallery_labels: (Ng,) labels.
        chunk_size: queries per chunk.

    Returns:
        The scores over queries that have at least one relevant gallery item.
    """
    if len(queries) != len(query_labels) or len(gallery) != len(gallery_labels):
        raise ValueError("each embedding needs exactly one label")
    ranks, aps = [], []
    for s in range(0, len(queries), chunk_size):
        sim = queries[s : s + chunk_size] @ gallery.T  # (B, Ng)
        rel = query_labels[s : s + chunk_size, None] == gallery_labels[None, :]  # (B, Ng)
        r, ap = _rank_chunk(sim, rel)
        ranks.append(r)
        aps.append(ap)
    return scores_from_ranks(np.concatenate(ranks), np.concatenate(aps))


def retrieval_metrics_from_similarity(sim: np.ndarray, relevant: np.ndarray) -> RetrievalScores:
    """Score a full (Nq, Ng) similarity matrix against a (Nq, Ng) boolean relevance matrix."""
    ranks, aps = _rank_chunk(np.asarray(sim, dtype=np.float64), np.asarray(relevant, dtype=bool))
    return scores_from_ranks(ranks, aps)


def scores_from_ranks(ranks: np.ndarray, aps: np.ndarray) -> RetrievalScores:
    """Aggregate first-relevant ranks (0 = no relevant item) and APs into scores."""
    valid = ranks > 0
    if not valid.any():
        raise ValueError("no query has a relevant gallery item")
    r = ranks[valid]
    return RetrievalScores(
        r1=float(np.mean(r <= 1)),
        r5=float(np.mean(r <= 5)),
        r10=float(np.mean(r <= 10)),
        median_rank=float(np.median(r)),
        mean_ap=float(np.mean(aps[valid])),
        n_queries=int(valid.sum()),
    )


def chance_scores(
    query_labels: np.ndarray, gallery_labels: np.ndarray, seed: int = 0, dim: int = 64
) -> RetrievalScores:
    """The chance reference row: random unit embeddings scored like any model."""
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((len(query_labels), dim))
    g = rng.standard_normal((len(gallery_labels), dim))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    return retrieval_metrics(q, g, query_labels, gallery_labels)

import numpy as np
import pytest

from xmodal.evaluation.retrieval import (
    chance_scores,
    retrieval_metrics,
    retrieval_metrics_from_similarity,
)


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_perfect_embeddings_give_r1_one(rng):
    x = _unit(rng.normal(size=(50, 16)))
    s = retrieval_metrics(x, x, np.arange(50), np.arange(50))
    assert (s.r1, s.r5, s.r10, s.median_rank, s.mean_ap) == (1.0, 1.0, 1.0, 1.0, 1.0)
    assert s.n_queries == 50


def test_random_embeddings_are_near_chance(rng):
    n = 400
    q = _unit(rng.normal(size=(n, 32)))
    g = _unit(rng.normal(size=(n, 32)))
    s = retrieval_metrics(q, g, np.arange(n), np.arange(n))
    assert s.r1 < 0.02
    assert s.r10 == pytest.approx(10 / n, abs=0.02)
    assert s.median_rank == pytest.approx(n / 2, rel=0.2)


def test_constant_embeddings_do_not_score_perfectly():
    q = np.ones((10, 4)) / 2
    s = retrieval_metrics(q, q, np.arange(10), np.arange(10))
    assert s.r1 == 0.0  # ties are pessimistic
    assert s.median_rank == 10.0


def test_known_ranks_and_average_precision():
    # One query, gallery scores 0.9 (irrelevant), 0.8 (relevant), 0.1 (relevant).
    sim = np.array([[0.9, 0.8, 0.1]])
    rel = np.array([[False, True, True]])
    s = retrieval_metrics_from_similarity(sim, rel)
    assert s.r1 == 0.0 and s.r5 == 1.0 and s.median_rank == 2.0
    assert s.mean_ap == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_chunked_equals_full(rng):
    q = _unit(rng.normal(size=(97, 8)))
    g = _unit(rng.normal(size=(60, 8)))
    ql = rng.integers(0, 7, size=97)
    gl = rng.integers(0, 7, size=60)
    full = retrieval_metrics_from_similarity(q @ g.T, ql[:, None] == gl[None, :])
    for chunk in (1, 10, 33, 1000):
        assert retrieval_metrics(q, g, ql, gl, chunk_size=chunk) == full


def test_class_level_relevance(rng):
    # Queries are class centroids; gallery items are noisy samples of their class.
    centres = _unit(rng.normal(size=(5, 16)))
    gl = np.repeat(np.arange(5), 10)
    g = _unit(centres[gl] + 0.05 * rng.normal(size=(50, 16)))
    s = retrieval_metrics(centres, g, np.arange(5), gl)
    assert s.r1 == 1.0 and s.mean_ap == pytest.approx(1.0)


def test_chance_row(rng):
    s = chance_scores(np.arange(100), np.arange(100))
    assert s.r1 < 0.05


def test_queries_without_relevant_items_are_excluded():
    sim = np.array([[0.5, 0.1], [0.3, 0.9]])
    rel = np.array([[True, False], [False, False]])
    s = retrieval_metrics_from_similarity(sim, rel)
    assert s.n_queries == 1 and s.r1 == 1.0
    with pytest.raises(ValueError):
        retrieval_metrics_from_similarity(sim, np.zeros_like(rel))

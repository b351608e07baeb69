import numpy as np
import pytest

from xmodal.evaluation.translation import (
    Standardiser,
    class_prototypes,
    cosine_distance_x100,
    mse,
    per_clip_cosine_distance,
    prototype_accuracy,
    reference_predictions,
)


def _data(rng, n=40, t=6, d=5):
    return rng.normal(size=(n, t, d)) * np.arange(1, d + 1) + 3.0  # offset + per-feature scale


def test_perfect_prediction_has_zero_distance(rng):
    y = _data(rng)
    std = Standardiser.fit(y)
    assert cosine_distance_x100(y, y, std) == pytest.approx(0.0, abs=1e-9)
    assert mse(y, y, std) == pytest.approx(0.0, abs=1e-12)


def test_negated_prediction_has_distance_200(rng):
    y = _data(rng)
    std = Standardiser.fit(y)
    neg = 2 * std.mean - y  # reflects every standardised value through zero
    np.testing.assert_allclose(per_clip_cosine_distance(neg, y, std), 200.0, atol=1e-9)


def test_standardising_removes_positive_orthant_similarity(rng):
    # MinMax-like positive features: raw cosine says "similar", standardised says "unrelated".
    a = rng.uniform(0.5, 1.0, size=(200, 4, 3))
    b = rng.uniform(0.5, 1.0, size=(200, 4, 3))
    raw = 100 * (
        1
        - np.sum(a.reshape(200, -1) * b.reshape(200, -1), 1)
        / np.linalg.norm(a.reshape(200, -1), axis=1)
        / np.linalg.norm(b.reshape(200, -1), axis=1)
    )
    assert raw.mean() < 10
    std = Standardiser.fit(np.concatenate([a, b]))
    assert 80 < cosine_distance_x100(a, b, std) < 120


def test_reference_rows(rng):
    train = _data(rng)
    test = _data(rng, n=30)
    std = Standardiser.fit(train)
    refs = reference_predictions(train, len(test), seed=1)
    assert refs["train mean"].shape == test.shape
    # The mean predictor is constant; its standardised vector is ~0, so cos is ill-defined-ish but
    # finite, and its MSE is about 1 (the standardised variance).
    assert mse(refs["train mean"], test, std) == pytest.approx(1.0, abs=0.3)
    # A random train clip is independent of the target: cosine distance ~100, MSE ~2.
    assert cosine_distance_x100(refs["random train clip"], test, std) == pytest.approx(100, abs=15)
    assert mse(refs["random train clip"], test, std) == pytest.approx(2.0, abs=0.5)


def test_shape_mismatch_is_an_error(rng):
    y = _data(rng)
    with pytest.raises(ValueError, match="shape"):
        cosine_distance_x100(y, y[:, :3], Standardiser.fit(y))


def test_prototype_accuracy(rng):
    labels = np.repeat(np.array(["pen", "fork", "knife"]), 20)
    centres = {name: 3.0 * rng.normal(size=(4, 3)) for name in ("pen", "fork", "knife")}
    feats = np.stack([centres[name] + rng.normal(size=(4, 3)) for name in labels])
    classes, protos = class_prototypes(feats, labels)
    assert list(classes) == ["fork", "knife", "pen"]
    std = Standardiser.fit(feats)
    assert prototype_accuracy(feats, labels, classes, protos, std) > 0.95
    shuffled = rng.permutation(labels)
    assert prototype_accuracy(feats, shuffled, classes, protos, std) < 0.6

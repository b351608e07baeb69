import numpy as np
import pytest

from xmodal.evaluation.disentanglement import dci, mig, sap


@pytest.fixture
def factors(rng):
    # 5 objects x 5 actions, independent and balanced.
    obj = np.repeat(np.arange(5), 60)
    act = np.tile(np.repeat(np.arange(5), 12), 5)
    return np.stack([obj, act], axis=1)


def test_identity_code_is_disentangled(factors, rng):
    code = factors + 0.01 * rng.normal(size=factors.shape)
    assert mig(code, factors) > 0.9
    scores = dci(code, factors)
    assert scores.disentanglement > 0.9 and scores.completeness > 0.9
    assert scores.informativeness > 0.95
    assert sap(code, factors) > 0.6


def test_constant_code_scores_zero(factors):
    code = np.zeros((len(factors), 3))
    assert mig(code, factors) == pytest.approx(0.0, abs=1e-9)
    assert sap(code, factors) == pytest.approx(0.0, abs=1e-9)
    scores = dci(code, factors)
    assert scores.disentanglement == 0.0 and scores.completeness == 0.0
    assert scores.informativeness < 0.35  # chance is 0.2


def test_entangled_code_scores_lower(factors, rng):
    # A 45-degree rotation of the factors: each dim mixes both, each factor needs both dims.
    mix = np.stack([factors[:, 0] + factors[:, 1], factors[:, 0] - factors[:, 1]], 1)
    code = mix + 0.01 * rng.normal(size=mix.shape)
    ident = factors + 0.01 * rng.normal(size=factors.shape)
    assert mig(code, factors) < mig(ident, factors) - 0.3
    assert dci(code, factors).disentanglement < dci(ident, factors).disentanglement


def test_noise_dims_do_not_break_identity(factors, rng):
    code = np.concatenate(
        [factors + 0.01 * rng.normal(size=factors.shape), rng.normal(size=(len(factors), 6))],
        axis=1,
    )
    assert mig(code, factors) > 0.8

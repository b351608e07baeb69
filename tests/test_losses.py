"""Known values of the pure loss functions on hand-made inputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from xmodal import losses


def test_kl_normal_of_standard_normal_is_zero() -> None:
    mu = torch.zeros(4, 16)
    logvar = torch.zeros(4, 16)
    assert torch.equal(losses.kl_normal(mu, logvar), torch.zeros(4))


def test_kl_normal_known_values() -> None:
    # N(1, 1) in 1-D: 0.5 * (1 + 1 - 1 - 0) = 0.5; N(0, e^2): 0.5 * (e^2 - 1 - 2).
    mu = torch.tensor([[1.0], [0.0]])
    logvar = torch.tensor([[0.0], [2.0]])
    expected = torch.tensor([0.5, 0.5 * (math.exp(2.0) - 3.0)])
    torch.testing.assert_close(losses.kl_normal(mu, logvar), expected)


def test_kl_normal_sums_over_every_latent_dim() -> None:
    # A temporal latent (B, T, Z) of N(1, 1) everywhere: 0.5 per element, T*Z elements.
    mu = torch.ones(2, 3, 5)
    out = losses.kl_normal(mu, torch.zeros_like(mu))
    torch.testing.assert_close(out, torch.full((2,), 0.5 * 15))


def test_kl_gaussians_matches_kl_normal_and_closed_form() -> None:
    mu_q, logvar_q = torch.randn(3, 4), torch.randn(3, 4)
    zeros = torch.zeros(3, 4)
    torch.testing.assert_close(
        losses.kl_gaussians(mu_q, logvar_q, zeros, zeros), losses.kl_normal(mu_q, logvar_q)
    )
    # 1-D: KL(N(0, 1) || N(2, 4)) = log(2) + (1 + 4) / 8 - 0.5.
    out = losses.kl_gaussians(
        torch.tensor([[0.0]]),
        torch.tensor([[0.0]]),
        torch.tensor([[2.0]]),
        torch.tensor([[math.log(4.0)]]),
    )
    torch.testing.assert_close(out, torch.tensor([math.log(2.0) + 5.0 / 8.0 - 0.5]))
    # KL of a distribution with itself is 0.
    torch.testing.assert_close(
        losses.kl_gaussians(mu_q, logvar_q, mu_q, logvar_q), torch.zeros(3), atol=1e-6, rtol=0
    )


def test_recon_mse_mean_and_mask() -> None:
    pred = torch.zeros(2, 3, 2)
    target = torch.zeros(2, 3, 2)
    target[0, 0] = 2.0  # two elements with squared error 4
    target[1, 2] = 10.0  # masked out below
    full = losses.recon_mse(pred, target)
    assert full.item() == pytest.approx((2 * 4 + 2 * 100) / 12)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    masked = losses.recon_mse(pred, target, mask)
    assert masked.item() == pytest.approx(8 / 10)
    per_sample = losses.recon_mse(pred, target, mask, reduction="sample_sum")
    torch.testing.assert_close(per_sample, torch.tensor([8.0, 0.0]))


def test_recon_mse_rejects_bad_mask() -> None:
    with pytest.raises(ValueError, match="mask"):
        losses.recon_mse(torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(3, dtype=torch.bool))


def test_info_nce_perfect_diagonal_is_near_zero() -> None:
    a = torch.eye(4)
    assert losses.info_nce(a, a.clone(), logit_scale=100.0).item() < 1e-6


def test_info_nce_all_equal_is_log_b() -> None:
    b = 8
    a = F.normalize(torch.ones(b, 3), dim=1)
    out = losses.info_nce(a, a, logit_scale=torch.tensor(14.3))
    assert out.item() == pytest.approx(math.log(b), abs=1e-6)


def test_info_nce_is_symmetric_mean_of_both_directions() -> None:
    a = F.normalize(torch.randn(5, 4), dim=1)
    b = F.normalize(torch.randn(5, 4), dim=1)
    logits = 3.0 * a @ b.t()
    labels = torch.arange(5)
    expected = 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))
    torch.testing.assert_close(losses.info_nce(a, b, 3.0), expected)
    torch.testing.assert_close(losses.info_nce(b, a, 3.0), expected)


def test_contrastive_margin_by_hand() -> None:
    dist = torch.tensor([0.5, 0.5, 3.0, 1.0])
    is_match = torch.tensor([True, False, False, True])
    # match 0.25; non-match (2 - 0.5)^2 = 2.25; non-match beyond margin 0; match 1.
    per = losses.contrastive_margin(dist, is_match, margin=2.0, reduction="none")
    torch.testing.assert_close(per, torch.tensor([0.25, 2.25, 0.0, 1.0]))
    assert losses.contrastive_margin(dist, is_match, 2.0).item() == pytest.approx(3.5 / 4)


def test_multiway_matching_known_values() -> None:
    n = 31
    dists = torch.full((2, n), 20.0)
    target = torch.tensor([3, 17])
    dists[0, 3] = 0.0
    dists[1, 17] = 0.0
    # log(1 + 30 e^-20) ~ 6e-8
    assert losses.multiway_matching(dists, target).item() < 1e-6
    uniform = torch.ones(2, n)
    assert losses.multiway_matching(uniform, target).item() == pytest.approx(math.log(n))
    # The wrong candidate being nearest costs ~ the distance gap.
    wrong = losses.multiway_matching(dists, torch.tensor([0, 0]), reduction="none")
    torch.testing.assert_close(wrong, torch.full((2,), 20.0), atol=1e-3, rtol=0)

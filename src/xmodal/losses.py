"""Pure loss functions of tensors: KL terms, reconstruction, InfoNCE and the sync losses.

No function here keeps state or reads a step counter; every hyper-parameter is an argument.
Shapes use ``B`` for the batch, ``Z`` for latent dimensions, ``N`` for candidates.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Reduction = Literal["mean", "none"]


def _reduce(values: Tensor, reduction: Reduction) -> Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def _sum_non_batch(x: Tensor) -> Tensor:
    """Sum every dimension but the first: (B, ...) -> (B,)."""
    return x.reshape(x.shape[0], -1).sum(dim=1)  # (B, prod(...)) -> (B,)


def kl_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, summed over the latent dimensions.

    Args:
        mu: posterior means, (B, Z) or (B, T, Z) (every non-batch dimension is a latent one).
        logvar: posterior log-variances, same shape as ``mu``.

    Returns:
        (B,) KL in nats.
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} differ in shape")
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)  # (B, ...)
    return _sum_non_batch(kl)


def kl_gaussians(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Tensor:
    """KL(q || p) between two diagonal Gaussians, per sample, summed over latent dimensions.

    Args:
        mu_q: means of q, (B, Z) or (B, T, Z).
        logvar_q: log-variances of q, same shape.
        mu_p: means of p, same shape.
        logvar_p: log-variances of p, same shape.

    Returns:
        (B,) KL in nats.
    """
    shapes = {tuple(t.shape) for t in (mu_q, logvar_q, mu_p, logvar_p)}
    if len(shapes) != 1:
        raise ValueError(f"kl_gaussians needs four tensors of one shape, got {sorted(shapes)}")
    var_ratio = (logvar_q - logvar_p).exp()  # sigma_q^2 / sigma_p^2
    mean_term = (mu_q - mu_p).pow(2) * (-logvar_p).exp()  # (mu_q - mu_p)^2 / sigma_p^2
    kl = 0.5 * (var_ratio + mean_term - 1.0 - (logvar_q - logvar_p))  # (B, ...)
    return _sum_non_batch(kl)


def recon_mse(
    pred: Tensor,
    target: Tensor,
    mask: Tensor | None = None,
    reduction: Literal["mean", "sample_sum"] = "mean",
) -> Tensor:
    """Squared reconstruction error, optionally over valid positions only.

    Args:
        pred: predictions, (B, ...), e.g. (B, T, D).
        target: targets, same shape as ``pred``.
        mask: optional bool (or 0/1) tensor whose shape is a prefix of ``pred``'s, e.g. (B,) or
            (B, T); positions where it is false do not count.
        reduction: ``"mean"``: one scalar, the mean over every valid element; ``"sample_sum"``:
            (B,), each sample's sum over its valid elements (the Gaussian log-likelihood's
            scale, used by the β-VAE ELBO).

    Returns:
        A scalar (``"mean"``) or (B,) (``"sample_sum"``).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    err = (pred - target).pow(2)  # (B, ...)
    if mask is not None:
        if tuple(mask.shape) != tuple(pred.shape[: mask.dim()]):
            raise ValueError(
                f"mask {tuple(mask.shape)} must match the leading dims of pred {tuple(pred.shape)}"
            )
        weights = mask.to(err.dtype).reshape(
            *mask.shape, *([1] * (err.dim() - mask.dim()))
        )  # (B, [T,] 1, ...) broadcastable to err
        err = err * weights
        count = (weights.expand_as(err)).sum()
    else:
        count = torch.tensor(float(err.numel()), device=err.device, dtype=err.dtype)
    if reduction == "mean":
        return err.sum() / count.clamp_min(1.0)
    if reduction == "sample_sum":
        return _sum_non_batch(err)
    raise ValueError(f"reduction must be 'mean' or 'sample_sum', got {reduction!r}")


def info_nce(a: Tensor, b: Tensor, logit_scale: Tensor | float) -> Tensor:
    """Symmetric InfoNCE (CLIP) loss: row i of ``a`` matches row i of ``b``.

    Args:
        a: embeddings of one modality, (B, E), normally L2-normalised.
        b: embeddings of the other modality, (B, E).
        logit_scale: the multiplier applied to the cosine similarities, already exponentiated
            (open_clip's convention: pass ``model.logit_scale.exp()``, i.e. 1 / temperature).

    Returns:
        Scalar: the mean of the a→b and b→a cross-entropies over the (B, B) logits.
    """
    if a.dim() != 2 or a.shape != b.shape:
        raise ValueError(
            f"info_nce needs two (B, E) tensors, got {tuple(a.shape)}, {tuple(b.shape)}"
        )
    logits = logit_scale * (a @ b.t())  # (B, E) @ (E, B) -> (B, B)
    labels = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))


def contrastive_margin(
    dist: Tensor, is_match: Tensor, margin: float, reduction: Reduction = "mean"
) -> Tensor:
    """SyncNet's pairwise contrastive loss.

    A matching pair costs d², a non-matching one max(margin − d, 0)².

    Args:
        dist: (B,) Euclidean distances between the two streams' embeddings.
        is_match: (B,) bool (or 0/1): whether each pair is in sync.
        margin: the distance beyond which non-matching pairs cost nothing.
        reduction: ``"mean"`` (scalar) or ``"none"`` ((B,)).

    Returns:
        A scalar or (B,).
    """
    if dist.shape != is_match.shape:
        raise ValueError(f"dist {tuple(dist.shape)} and is_match {tuple(is_match.shape)} differ")
    y = is_match.to(dist.dtype)
    per_pair = y * dist.pow(2) + (1.0 - y) * (margin - dist).clamp_min(0.0).pow(2)  # (B,)
    return _reduce(per_pair, reduction)


def multiway_matching(dists: Tensor, target: Tensor, reduction: Reduction = "mean") -> Tensor:
    """Multi-way matching: N-way cross-entropy over negative distances, no class labels.

    The candidate at ``target`` (the in-sync audio offset) should be the nearest.

    Args:
        dists: (B, N) distances between a video embedding and N candidate audio embeddings.
        target: (B,) int64 index of the matching candidate.
        reduction: ``"mean"`` (scalar) or ``"none"`` ((B,)).

    Returns:
        A scalar or (B,).
    """
    if dists.dim() != 2 or target.shape != dists.shape[:1]:
        raise ValueError(
            f"multiway_matching needs dists (B, N) and target (B,), got "
            f"{tuple(dists.shape)} and {tuple(target.shape)}"
        )
    return F.cross_entropy(-dists, target.long(), reduction=reduction)

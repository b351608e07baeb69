"""A tiny VAE-like model and dataset for the training tests (and the torchrun script).

The model uses dropout and reparameterisation noise, so exact-resume tests exercise the RNG
state, and takes ``beta`` from the loop like the real β-VAE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from xmodal.types import Modality


@dataclass
class TinyConfig:
    """Sizes of :class:`TinyVAE`."""

    dim: int = 6  # input features
    latent: int = 2  # latent size
    hidden: int = 16  # hidden width
    dropout: float = 0.1  # dropout in the encoder

    def __post_init__(self) -> None:
        if min(self.dim, self.latent, self.hidden) < 1:
            raise ValueError("dim, latent and hidden must be >= 1")


class TinyVAE(nn.Module):
    """An MLP VAE over ``batch[Modality.VIDEO]`` of shape (B, dim)."""

    model_name: ClassVar[str] = "tiny-vae"

    def __init__(self, config: TinyConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = nn.Sequential(
            nn.Linear(config.dim, config.hidden),
            nn.Tanh(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, 2 * config.latent),
        )
        self.decoder = nn.Linear(config.latent, config.dim)

    def compute_loss(self, batch: dict, beta: float = 1.0) -> dict[str, Tensor]:
        x = batch[Modality.VIDEO]  # (B, dim)
        mu, logvar = self.encoder(x).chunk(2, dim=-1)  # (B, latent) each
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        recon = ((self.decoder(z) - x) ** 2).sum(-1).mean()
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1).mean()
        return {"loss": recon + beta * kl, "recon": recon, "kl": kl}


class Blobs(Dataset):
    """``n`` examples ``{Modality.VIDEO: (dim,) float32}`` near a 2-d plane (learnable)."""

    def __init__(self, n: int, dim: int = 6, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        basis = torch.randn(2, dim, generator=torch.Generator().manual_seed(123))
        self.x = torch.randn(n, 2, generator=g) @ basis + 0.05 * torch.randn(n, dim, generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[Modality, Tensor]:
        return {Modality.VIDEO: self.x[i]}

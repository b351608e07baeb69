"""A small multi-way sync model over lip signals and log-mel bands (real faces, few clips).

Two linear maps embed 0.2 s of each modality into a small space (default 8-d):

- video: the nine lip signals of :mod:`xmodal.features.landmarks` and their frame-to-frame
  changes (18 per frame, standardised per clip), over the 5 frames ``t - 2 .. t + 2``: 90 inputs;
- audio: 40 log-mel bands and their changes (80 per frame, standardised per clip) over the same
  5 frames: 400 inputs.

The score of video window ``t`` and audio window ``u`` is the dot product of their embeddings.
Training is multi-way matching (Chung, Chung & Zisserman 2019): for each video window, the
audio windows at every offset of ``-M..M`` frames are the candidates, the in-sync one is the
target of a (2M + 1)-way cross-entropy. With ~3,000 windows from a dozen clips a linear model is
what the data supports: a hidden layer of 32 units scored worse under leave-one-video-out.

Batch (all windows of a few clips; the audio of each frame is embedded once)::

    {"video": (n, Dv) float inputs of n video windows,
     "audio": (F, Da) float inputs of the audio frames of the same clips,
     "candidates": (n, 2M + 1) long rows of "audio" at offsets -M..M of each video window,
     "weight": (n,) float weight of each window in the loss (e.g. 1 / windows of its clip)}

The in-sync candidate is column ``M``. :meth:`LipSync.export` returns the weights as NumPy
arrays for :class:`xmodal.sync.scorer.LipScorer`, which scores clips without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class LipSyncConfig:
    """Hyper-parameters of :class:`LipSync`."""

    video_dim: int = 90  # Dv: 18 lip inputs x 5 frames
    audio_dim: int = 400  # Da: 80 audio inputs x 5 frames
    embed_dim: int = 8  # E: width of both embeddings
    max_offset: int = 15  # M: candidates at offsets -M..M frames

    def __post_init__(self) -> None:
        for name in ("video_dim", "audio_dim", "embed_dim", "max_offset"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


class LipSync(nn.Module):
    """Linear video and audio embeddings trained by multi-way matching over offsets."""

    model_name: ClassVar[str] = "lip_sync"

    def __init__(self, config: LipSyncConfig | None = None) -> None:
        super().__init__()
        self.config = config or LipSyncConfig()
        c = self.config
        self.video = nn.Linear(c.video_dim, c.embed_dim)
        self.audio = nn.Linear(c.audio_dim, c.embed_dim)

    def encode_video(self, x: Tensor) -> Tensor:
        """(..., Dv) video inputs -> (..., E) embeddings."""
        return self.video(x)

    def encode_audio(self, x: Tensor) -> Tensor:
        """(..., Da) audio inputs -> (..., E) embeddings."""
        return self.audio(x)

    def scores(self, video: Tensor, audio: Tensor, candidates: Tensor) -> Tensor:
        """(n, Dv), (F, Da) and (n, N) candidate rows -> (n, N) dot products of the embeddings."""
        v = self.encode_video(video.float())  # (n, E)
        a = self.encode_audio(audio.float())  # (F, E)
        return torch.einsum("ne,nke->nk", v, a[candidates])  # a[candidates]: (n, N, E)

    def compute_loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Weighted multi-way cross-entropy, the in-sync candidate (column M) the target."""
        logits = self.scores(batch["video"], batch["audio"], batch["candidates"])  # (n, 2M+1)
        target = torch.full((len(logits),), self.config.max_offset, device=logits.device)
        weight = batch["weight"].float()
        weight = weight / weight.sum()
        loss = (F.cross_entropy(logits, target, reduction="none") * weight).sum()
        acc = ((logits.argmax(1) == target).float() * weight).sum()
        return {"loss": loss, "accuracy": acc}

    def export(self) -> dict[str, np.ndarray]:
        """The weights as NumPy arrays: ``video_w`` (Dv, E), ``video_b`` (E,), same for audio."""
        with torch.no_grad():
            return {
                "video_w": self.video.weight.T.double().numpy().copy(),
                "video_b": self.video.bias.double().numpy().copy(),
                "audio_w": self.audio.weight.T.double().numpy().copy(),
                "audio_b": self.audio.bias.double().numpy().copy(),
            }

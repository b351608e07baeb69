"""SyncNet-style two-stream audio-visual sync network, trainable three ways.

Two streams embed 0.2 s of each modality into one space (default 128-d):

- audio: a 2-D conv net over a 13 x 20 MFCC patch (13 coefficients x 20 frames at 100/s);
- video: a 2-D conv net over 5 stacked grayscale mouth crops (5 frames at 25 fps), the frames
  as input channels (SyncNet's early fusion), each stack standardised to zero mean, unit std.

Both end in a batch normalisation without affine parameters (``norm_output``): every embedding
dimension has unit variance over a batch, so no objective can collapse all embeddings to one
point (the pairwise contrastive loss otherwise settles there: every pair at margin / 2).

In-sync windows should be close and out-of-sync ones far. The three objectives of the study:

- ``"syncnet"`` — pairwise contrastive loss with a margin on the Euclidean distance of the
  embeddings (Chung & Zisserman, "Out of time", 2016): in-sync pairs cost d², the others
  max(margin − d, 0)², the margin given in units of sqrt(2 E), the typical distance of two
  unrelated batch-normalised embeddings.
- ``"avenet"`` — AVE-Net (Arandjelović & Zisserman, "Objects that sound", 2018): L2-normalised
  embeddings, their Euclidean distance, a fully connected layer 1 → 2 and a softmax over
  match / no match (cross-entropy). The layer starts as a soft threshold at distance 1.
- ``"multiway"`` — multi-way matching (Chung, Chung & Zisserman, "Perfect match", 2019): for a
  video window, N candidate audio windows at different offsets, one of them in sync; an N-way
  cross-entropy over the negative distances. No class labels are needed.

Batches (from :mod:`xmodal.sync.windows`) are runs of consecutive windows of one clip,
so that the candidate audio windows of neighbouring video windows are embedded once::

    {"video": (B, L, 5, S, S) uint8 or float mouth crops of video windows t .. t+L-1,
     "audio": (B, L + 2M, 1, 13, 20) float MFCC windows t-M .. t+L-1+M}    M = max_offset

Video window ``t + l`` is in sync with audio window ``t + l``; its candidates are the 2M + 1
audio windows ``t + l - M .. t + l + M`` (every offset of the search range). ``"multiway"``
uses ``n_candidates`` of them (all by default, the in-sync one always included); the pairwise
objectives use the in-sync window and one other drawn at random, so every video window gives
one positive and one negative pair. All three see exactly the same data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xmodal import losses

OBJECTIVES = ("syncnet", "avenet", "multiway")


@dataclass
class SyncNetConfig:
    """Hyper-parameters of :class:`SyncNet`."""

    objective: str = "multiway"  # "syncnet", "avenet" or "multiway"
    embed_dim: int = 128  # E: width of both embeddings
    channels: int = 16  # C: base width of the conv stacks (layers use C, 2C, 4C)
    hidden_dim: int = 128  # width of the fully connected layer before the embedding
    crop_size: int = 24  # S: mouth crops are S x S grayscale
    window: int = 5  # video frames per window (0.2 s at 25 fps)
    n_mfcc: int = 13  # MFCC coefficients per audio frame
    mfcc_frames: int = 20  # MFCC frames per window (0.2 s at 100/s)
    max_offset: int = 15  # candidate offsets lie in [-max_offset, max_offset] frames
    n_candidates: int = 0  # multiway: N candidates per video window; 0 = all 2*max_offset+1
    margin: float = 1.0  # syncnet: the margin, in units of sqrt(2 * embed_dim) (see below)
    norm_output: bool = True  # batch-normalise each embedding (no affine) before any L2 norm
    dropout: float = 0.0  # dropout before each stream's last layer

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(
                f"SyncNetConfig.objective must be one of {', '.join(OBJECTIVES)}, "
                f"got {self.objective!r}"
            )
        for name in ("embed_dim", "channels", "hidden_dim", "window", "n_mfcc", "mfcc_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"SyncNetConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.crop_size < 8 or self.crop_size % 8:
            raise ValueError(
                f"SyncNetConfig.crop_size must be a multiple of 8 (>= 8), got {self.crop_size}"
            )
        if self.max_offset < 1:
            raise ValueError(f"SyncNetConfig.max_offset must be >= 1, got {self.max_offset}")
        if self.n_candidates == 0:
            self.n_candidates = 2 * self.max_offset + 1
        if not 2 <= self.n_candidates <= 2 * self.max_offset + 1:
            raise ValueError(
                f"SyncNetConfig.n_candidates must be in 2..{2 * self.max_offset + 1} "
                f"(offsets within ±{self.max_offset}), got {self.n_candidates}"
            )
        if self.margin <= 0:
            raise ValueError(f"SyncNetConfig.margin must be > 0, got {self.margin}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"SyncNetConfig.dropout must be in [0, 1), got {self.dropout}")


@dataclass
class SyncOutput:
    """Embeddings of a batch and the distance of each video window to each candidate.

    Attributes:
        video: (B, E) video window embeddings (L2-normalised for AVE-Net).
        audio: (B, N, E) candidate audio window embeddings (same space).
        dists: (B, N) Euclidean distances between ``video`` and each candidate.
    """

    video: Tensor
    audio: Tensor
    dists: Tensor


def _conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()
    )


def _head(flat: int, cfg: SyncNetConfig) -> nn.Sequential:
    layers = [
        nn.Flatten(),
        nn.Linear(flat, cfg.hidden_dim),
        nn.ReLU(),
        nn.Dropout(cfg.dropout),
        nn.Linear(cfg.hidden_dim, cfg.embed_dim),
    ]
    if cfg.norm_output:
        layers.append(nn.BatchNorm1d(cfg.embed_dim, affine=False))
    return nn.Sequential(*layers)


class AudioStream(nn.Module):
    """(B, 1, n_mfcc, mfcc_frames) MFCC patch -> (B, E)."""

    def __init__(self, cfg: SyncNetConfig) -> None:
        super().__init__()
        c = cfg.channels
        self.convs = nn.Sequential(
            _conv(1, c),
            nn.MaxPool2d(2),  # (13, 20) -> (6, 10)
            _conv(c, 2 * c),
            nn.MaxPool2d((1, 2)),  # -> (6, 5)
            _conv(2 * c, 4 * c),
        )
        flat = 4 * c * (cfg.n_mfcc // 2) * (cfg.mfcc_frames // 4)
        self.head = _head(flat, cfg)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.convs(x))  # (B, E)


class VideoStream(nn.Module):
    """(B, window, S, S) standardised mouth crops -> (B, E)."""

    def __init__(self, cfg: SyncNetConfig) -> None:
        super().__init__()
        c = cfg.channels
        self.convs = nn.Sequential(
            _conv(cfg.window, c),
            nn.MaxPool2d(2),  # S -> S/2
            _conv(c, 2 * c),
            nn.MaxPool2d(2),  # -> S/4
            _conv(2 * c, 4 * c),
            nn.MaxPool2d(2),  # -> S/8
        )
        flat = 4 * c * (cfg.crop_size // 8) ** 2
        self.head = _head(flat, cfg)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.convs(x))  # (B, E)


class SyncNet(nn.Module):
    """Two-stream sync network; see the module docstring for the objectives."""

    model_name: ClassVar[str] = "sync_net"

    def __init__(self, config: SyncNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or SyncNetConfig()
        self.audio_stream = AudioStream(self.config)
        self.video_stream = VideoStream(self.config)
        # AVE-Net's match / no-match classifier on the distance (the others leave it unused),
        # initialised as a soft threshold at d = 1 (unit vectors lie 0..2 apart): match logit
        # minus no-match logit = 10 (1 - d). PyTorch's default init (slope at most 2 over that
        # range) leaves the softmax nearly flat, and AVE-Net then barely trains in a short run.
        self.classifier = nn.Linear(1, 2)
        with torch.no_grad():
            self.classifier.weight.copy_(torch.tensor([[5.0], [-5.0]]))
            self.classifier.bias.copy_(torch.tensor([-5.0, 5.0]))

    @property
    def margin(self) -> float:
        """The contrastive margin in distance units: ``margin * sqrt(2 * embed_dim)``, the
        typical distance of two unrelated batch-normalised embeddings."""
        return self.config.margin * math.sqrt(2 * self.config.embed_dim)

    def _normalise(self, emb: Tensor) -> Tensor:
        return F.normalize(emb, dim=-1) if self.config.objective == "avenet" else emb

    def encode_video(self, video: Tensor) -> Tensor:
        """Embed video windows.

        Args:
            video: (B, window, S, S) mouth crops, uint8 (0..255) or float.

        Returns:
            (B, E) embeddings (unit length for AVE-Net).
        """
        cfg = self.config
        if video.shape[1:] != (cfg.window, cfg.crop_size, cfg.crop_size):
            raise ValueError(
                f"video windows must be (B, {cfg.window}, {cfg.crop_size}, {cfg.crop_size}), "
                f"got {tuple(video.shape)}"
            )
        x = video.float()
        mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
        std = x.std(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) / (std + 1e-4)  # (B, window, S, S); a flat stack stays 0
        return self._normalise(self.video_stream(x))

    def encode_audio(self, audio: Tensor) -> Tensor:
        """Embed audio windows.

        Args:
            audio: (..., 1, n_mfcc, mfcc_frames) MFCC windows (any leading dims).

        Returns:
            (..., E) embeddings (unit length for AVE-Net).
        """
        cfg = self.config
        if audio.shape[-3:] != (1, cfg.n_mfcc, cfg.mfcc_frames):
            raise ValueError(
                f"audio windows must be (..., 1, {cfg.n_mfcc}, {cfg.mfcc_frames}), "
                f"got {tuple(audio.shape)}"
            )
        lead = audio.shape[:-3]
        flat = audio.reshape(-1, 1, cfg.n_mfcc, cfg.mfcc_frames).float()  # (B*N, 1, 13, 20)
        emb = self.audio_stream(flat)  # (B*N, E)
        return self._normalise(emb.reshape(*lead, -1))  # (..., E)

    def forward(self, video: Tensor, audio: Tensor) -> SyncOutput:
        """Embed video windows and measure each against its own candidate audio windows.

        Args:
            video: (B, window, S, S) mouth crops.
            audio: (B, N, 1, n_mfcc, mfcc_frames) candidate MFCC windows.

        Returns:
            :class:`SyncOutput` with (B, E), (B, N, E) and (B, N) distances.
        """
        v = self.encode_video(video)  # (B, E)
        a = self.encode_audio(audio)  # (B, N, E)
        return SyncOutput(v, a, _dist(v[:, None, :], a))

    def segment_distances(self, video: Tensor, audio: Tensor) -> Tensor:
        """Distances of every video window of a run to its 2M + 1 candidate audio windows.

        Args:
            video: (B, L, window, S, S) video windows ``t .. t+L-1``.
            audio: (B, L + 2M, 1, n_mfcc, mfcc_frames) audio windows ``t-M .. t+L-1+M``.

        Returns:
            (B, L, 2M + 1): column ``k`` is audio window ``t + l + k - M`` (column M in sync).
        """
        m = self.config.max_offset
        b, n = video.shape[:2]
        if audio.shape[:2] != (b, n + 2 * m):
            raise ValueError(
                f"a run of {n} video windows needs {n + 2 * m} audio windows (max_offset {m}), "
                f"got audio {tuple(audio.shape)}"
            )
        v = self.encode_video(video.flatten(0, 1)).reshape(b, n, -1)  # (B, L, E)
        a = self.encode_audio(audio)  # (B, L + 2M, E)
        cand = a.unfold(1, 2 * m + 1, 1).transpose(2, 3)  # (B, L, 2M+1, E)
        return _dist(v[:, :, None, :], cand)  # (B, L, 2M+1)

    def match_logits(self, dists: Tensor) -> Tensor:
        """AVE-Net's classifier: (...,) distances -> (..., 2) logits for (no match, match)."""
        return self.classifier(dists.unsqueeze(-1))  # (..., 2)

    def compute_loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """The configured objective on a batch of runs (see the module docstring).

        Returns:
            ``{"loss", "acc", "pos_dist", "neg_dist"}``: ``acc`` is the fraction of video
            windows whose in-sync audio window is the nearest of all 2M + 1 (whatever the
            objective, so the numbers compare); the distances are means over the batch.
        """
        cfg = self.config
        m = cfg.max_offset
        dists = self.segment_distances(batch["video"], batch["audio"]).flatten(0, 1)  # (R, 2M+1)
        rows = torch.arange(dists.shape[0], device=dists.device)
        if cfg.objective == "multiway":
            if cfg.n_candidates < dists.shape[1]:  # a random subset, the in-sync one included
                keys = torch.rand(dists.shape, device=dists.device)  # (R, 2M+1)
                keys[:, m] = -1.0
                cols = keys.topk(cfg.n_candidates, dim=1, largest=False).indices.sort(1).values
                sub = dists.gather(1, cols)  # (R, N)
                target = (cols == m).long().argmax(1)  # (R,)
                loss = losses.multiway_matching(sub, target)
            else:
                loss = losses.multiway_matching(dists, torch.full_like(rows, m))
        else:
            neg_col = torch.randint(0, 2 * m, rows.shape, device=dists.device)  # (R,)
            neg_col = neg_col + (neg_col >= m).long()  # skip the in-sync column
            pair = torch.cat([dists[:, m], dists[rows, neg_col]])  # (2R,)
            is_match = torch.cat([torch.ones_like(rows), torch.zeros_like(rows)])  # (2R,)
            if cfg.objective == "syncnet":
                loss = losses.contrastive_margin(pair, is_match, self.margin)
            else:
                loss = F.cross_entropy(self.match_logits(pair), is_match)
        with torch.no_grad():
            acc = (dists.argmin(dim=1) == m).float().mean()
            pos = dists[:, m].mean()
            neg = torch.cat([dists[:, :m], dists[:, m + 1 :]], dim=1).mean()
        return {"loss": loss, "acc": acc, "pos_dist": pos, "neg_dist": neg}


def _dist(x: Tensor, y: Tensor) -> Tensor:
    """Euclidean distance over the last dim with a finite gradient at 0 (broadcasting)."""
    return (x - y).pow(2).sum(-1).clamp_min(1e-8).sqrt()

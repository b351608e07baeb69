"""A joint embedding: one projection head per modality over frozen encoder features.

Each modality's frozen features — a sequence (B, T, D) or a vector (B, D) — go through its own
head: LayerNorm, pooling over time (mean, or learned attention pooling) for sequences, an MLP to
``width``, L2 normalisation. A learnable temperature (CLIP's ``logit_scale``, initialised to
log(1 / 0.07), its exponential capped at ``max_logit_scale``) scales the cosine similarities.

Training (``compute_loss``) is symmetric InfoNCE over every pair of modalities in the batch. A
sample may lack a modality (``batch[f"{m.value}_mask"]`` (B,) bool is False there, or the key is
absent for the whole batch): each pair is trained on the samples that have both, and a pair
with fewer than two such samples is skipped.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xmodal import losses
from xmodal.types import Modality


def _default_dims() -> dict[Modality, int]:
    # EfficientNet-Lite0 frames, 80-band log-mel frames, all-MiniLM-L6-v2 sentences.
    return {Modality.VIDEO: 1280, Modality.AUDIO: 80, Modality.TEXT: 384}


@dataclass
class JointEmbeddingConfig:
    """Hyper-parameters of :class:`JointEmbedding`."""

    input_dims: dict[Modality, int] = field(default_factory=_default_dims)  # frozen feature widths
    width: int = 256  # E: the shared embedding width
    hidden_dim: int = 512  # hidden width of each head's MLP
    num_layers: int = 2  # Linear layers per head (1 = a linear projection)
    pooling: Literal["mean", "attention"] = "mean"  # how a sequence (B, T, D) becomes (B, D)
    input_norm: bool = True  # LayerNorm over each frozen feature frame first
    dropout: float = 0.0  # dropout inside the MLP
    init_temperature: float = 0.07  # initial softmax temperature (logit_scale = log(1 / this))
    max_logit_scale: float = 100.0  # cap on exp(logit_scale), i.e. temperature >= 1 / 100
    learn_temperature: bool = True  # train logit_scale (False keeps it fixed)

    def __post_init__(self) -> None:
        if not self.input_dims:
            raise ValueError("JointEmbeddingConfig.input_dims needs at least one modality")
        dims = {Modality.parse(m): int(d) for m, d in self.input_dims.items()}
        bad = {m.value: d for m, d in dims.items() if d < 1}
        if bad:
            raise ValueError(f"JointEmbeddingConfig.input_dims must be >= 1, got {bad}")
        self.input_dims = {m: dims[m] for m in Modality if m in dims}  # enum order
        for name in ("width", "hidden_dim", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"JointEmbeddingConfig.{name} must be >= 1")
        if self.pooling not in ("mean", "attention"):
            raise ValueError(
                f"JointEmbeddingConfig.pooling must be mean or attention, got {self.pooling!r}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"JointEmbeddingConfig.dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.init_temperature:
            raise ValueError("JointEmbeddingConfig.init_temperature must be > 0")
        if self.max_logit_scale < 1.0 / self.init_temperature:
            raise ValueError(
                f"JointEmbeddingConfig.max_logit_scale ({self.max_logit_scale}) is below the "
                f"initial scale 1 / init_temperature ({1.0 / self.init_temperature:.4g})"
            )


@dataclass
class Embedding:
    """A batch of embeddings.

    Attributes:
        embeds: (B, E) L2-normalised embeddings.
    """

    embeds: Tensor


class ProjectionHead(nn.Module):
    """Frozen features (B, T, D) or (B, D) -> L2-normalised embeddings (B, E)."""

    def __init__(self, in_dim: int, cfg: JointEmbeddingConfig) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.norm = nn.LayerNorm(in_dim) if cfg.input_norm else nn.Identity()
        self.score = nn.Linear(in_dim, 1) if cfg.pooling == "attention" else None
        layers: list[nn.Module] = []
        dims = [in_dim] + [cfg.hidden_dim] * (cfg.num_layers - 1) + [cfg.width]
        for i, (d_in, d_out) in enumerate(itertools.pairwise(dims)):
            if i > 0:
                layers += [nn.GELU(), nn.Dropout(cfg.dropout)]
            layers.append(nn.Linear(d_in, d_out))
        self.mlp = nn.Sequential(*layers)

    def pool(self, x: Tensor, valid: Tensor) -> Tensor:
        """Pool (B, T, D) -> (B, D) over the steps where ``valid`` (B, T) is True."""
        if self.score is None:
            weights = valid.to(x.dtype) / valid.sum(1, keepdim=True).to(x.dtype)  # (B, T)
        else:
            scores = self.score(x).squeeze(2).masked_fill(~valid, float("-inf"))  # (B, T)
            weights = scores.softmax(dim=1)  # (B, T)
        return torch.bmm(weights.unsqueeze(1), x).squeeze(1)  # (B,1,T)@(B,T,D) -> (B,D)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """(B, T, D) sequences (first ``lengths`` steps real) or (B, D) vectors -> (B, E)."""
        if x.dim() == 3:
            steps = torch.arange(x.shape[1], device=x.device)
            if lengths is None:
                valid = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)  # (B, T)
            else:
                valid = steps[None, :] < lengths.to(x.device)[:, None]  # (B, T)
                x = x.masked_fill(~valid.unsqueeze(2), 0.0)  # padding may hold anything, even NaN
            x = self.pool(self.norm(x), valid)  # (B, T, D) -> (B, D)
        else:
            x = self.norm(x)  # (B, D)
        return F.normalize(self.mlp(x), dim=-1)  # (B, E)


class JointEmbedding(nn.Module):
    """Projection heads into one embedding space, trained contrastively (module docstring).

    Args:
        config: hyper-parameters; defaults to ``JointEmbeddingConfig()``.
    """

    model_name: ClassVar[str] = "joint_embedding"

    def __init__(self, config: JointEmbeddingConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else JointEmbeddingConfig()
        cfg = self.config
        self.heads = nn.ModuleDict(
            {m.value: ProjectionHead(d, cfg) for m, d in cfg.input_dims.items()}
        )
        self.logit_scale = nn.Parameter(
            torch.tensor(math.log(1.0 / cfg.init_temperature)),
            requires_grad=cfg.learn_temperature,
        )

    @property
    def modalities(self) -> list[Modality]:
        """The modalities this model has a head for."""
        return list(self.config.input_dims)

    def scale(self) -> Tensor:
        """The similarity multiplier exp(logit_scale), capped at ``max_logit_scale``."""
        return self.logit_scale.clamp(max=math.log(self.config.max_logit_scale)).exp()

    def encode(self, modality: Modality | str, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Embed one modality's frozen features.

        Args:
            modality: which head to use.
            x: (B, T, D) sequences or (B, D) vectors of that modality's features.
            lengths: optional (B,) int real lengths of padded sequences (each >= 1).

        Returns:
            (B, E) L2-normalised embeddings.
        """
        m = Modality.parse(modality)
        if m not in self.config.input_dims:
            have = ", ".join(x.value for x in self.modalities)
            raise ValueError(f"this model has no {m.value} head (it has: {have})")
        d = self.config.input_dims[m]
        if x.dim() not in (2, 3) or x.shape[-1] != d:
            raise ValueError(
                f"{m.value} features must be (B, T, {d}) or (B, {d}), got {tuple(x.shape)}"
            )
        if lengths is not None:
            if x.dim() != 3:
                raise ValueError(f"{m.value}: lengths apply to sequences (B, T, D) only")
            if lengths.shape != (x.shape[0],) or (
                len(lengths) and (lengths.min() < 1 or lengths.max() > x.shape[1])
            ):
                raise ValueError(f"{m.value}_lengths must be (B,) in [1, {x.shape[1]}]")
        return self.heads[m.value](x, lengths)

    def encode_video(self, x: Tensor, lengths: Tensor | None = None) -> Embedding:
        """Video features (B, T, D) or (B, D) -> :class:`Embedding` (B, E)."""
        return Embedding(self.encode(Modality.VIDEO, x, lengths))

    def encode_audio(self, x: Tensor, lengths: Tensor | None = None) -> Embedding:
        """Audio features (B, T, D) or (B, D) -> :class:`Embedding` (B, E)."""
        return Embedding(self.encode(Modality.AUDIO, x, lengths))

    def encode_text(self, x: Tensor, lengths: Tensor | None = None) -> Embedding:
        """Text features (B, D) (or (B, T, D)) -> :class:`Embedding` (B, E)."""
        return Embedding(self.encode(Modality.TEXT, x, lengths))

    def forward(
        self, inputs: dict[Modality, Tensor], lengths: dict[Modality, Tensor] | None = None
    ) -> dict[Modality, Tensor]:
        """Embed every modality given.

        Args:
            inputs: {modality: (B, T, D) or (B, D) features}.
            lengths: optional {modality: (B,) real lengths}.

        Returns:
            {modality: (B, E) L2-normalised embeddings}.
        """
        lengths = lengths or {}
        return {Modality.parse(m): self.encode(m, x, lengths.get(m)) for m, x in inputs.items()}

    def compute_loss(self, batch: dict) -> dict[str, Tensor]:
        """Symmetric InfoNCE averaged over the pairs of modalities present.

        Args:
            batch: {modality: (B, T, D) or (B, D)} for any of the model's modalities, with
                optional ``f"{m.value}_mask"`` (B,) bool (False: the sample lacks m) and
                ``f"{m.value}_lengths"`` (B,) int for padded sequences.

        Returns:
            ``loss`` (the mean of the trained pairs' losses), a detached
            ``f"loss_{a.value}_{b.value}"`` for every pair of modalities in the batch (0 when the
            pair had fewer than two samples and was skipped), ``pairs`` (how many were trained)
            and ``logit_scale`` (the current multiplier exp(logit_scale)).
        """
        present = [m for m in self.modalities if batch.get(m) is not None]
        if len(present) < 2:
            have = ", ".join(m.value for m in present) or "none"
            raise ValueError(
                f"JointEmbedding.compute_loss needs two or more of "
                f"{[m.value for m in self.modalities]} in the batch; it has {have}"
            )
        sizes = {m.value: batch[m].shape[0] for m in present}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"modalities have different batch sizes: {sizes}")
        b = next(iter(sizes.values()))
        device = batch[present[0]].device
        has, embeds = {}, {}
        for m in present:
            mask = batch.get(f"{m.value}_mask")
            has[m] = (
                torch.ones(b, dtype=torch.bool, device=device)
                if mask is None
                else mask.to(device=device, dtype=torch.bool)
            )
            if has[m].shape != (b,):
                raise ValueError(f"{m.value}_mask must be (B,) = ({b},), got {tuple(has[m].shape)}")
            idx = has[m].nonzero().squeeze(1)  # samples that have m
            lengths = batch.get(f"{m.value}_lengths")
            if idx.numel():  # encode only real samples (padding rows may hold anything)
                embeds[m] = self.encode(m, batch[m][idx], None if lengths is None else lengths[idx])
        scale = self.scale()
        out: dict[str, Tensor] = {}
        trained: list[Tensor] = []
        for a, c in itertools.combinations(present, 2):
            both = has[a] & has[c]  # (B,)
            key = f"loss_{a.value}_{c.value}"
            if int(both.sum()) < 2:
                out[key] = torch.zeros((), device=device)
                continue
            rows_a = (has[a].cumsum(0) - 1)[both]  # positions of those samples in embeds[a]
            rows_c = (has[c].cumsum(0) - 1)[both]
            pair = losses.info_nce(embeds[a][rows_a], embeds[c][rows_c], scale)
            out[key] = pair.detach()
            trained.append(pair)
        if trained:
            loss = torch.stack(trained).mean()
        else:  # nothing to contrast: a zero that still reaches every parameter (DDP-safe)
            loss = sum(p.sum() for p in self.parameters()) * 0.0
        return {
            "loss": loss,
            **out,
            "pairs": torch.tensor(float(len(trained)), device=device),
            "logit_scale": scale.detach(),
        }

"""The structured translator: what moves and how it moves in two latent groups, one slot each.

An (object, action) clip is *what* moves and *how*. This model keeps the two apart by what each
stream can see, not by labels (labels are never an input or a loss):

- the **appearance stream** reads the time-mean of the appearance columns of each step
  (``[:appearance_dim]``: a PCA of pooled frame features). Averaged over time it cannot see
  motion;
- the **motion stream** reads the position map (``[appearance_dim:appearance_dim + map_dim]``,
  a ``grid × grid`` map of where the frame encoder sees something) minus its time-mean, the
  trajectory of the map's centroid relative to the first step, and the optical-flow columns
  after the map (``flow_dim`` of them: mean flow, angular velocity, speed;
  :mod:`xmodal.features.flow`). With the map's mean removed and the flow blind to texture and
  shape, it cannot see which object it is;
- each stream's MLP gives a diagonal Gaussian posterior: a **β-VAE latent group** (KL to a unit
  prior, weighted by the β schedule);
- the **slot decoder**: each group is decoded on its own into a whole target sequence, and the
  two are mixed per output frame by a gate that depends on the frame's position only
  (``softmax`` over the slots). Where the target puts the object word, the gate learns to read
  the appearance slot; where it puts the action's words, the motion slot. A pair never seen
  together is then spoken from two slots that each were.

- a private **style group** (``style_dim > 0``) on the audio side: read from the target speech
  only (its time-mean spectrum and its energy envelope: voice, rate, template, onset), it
  conditions every slot decoder and the gate, and the video never predicts it: translation
  decodes it at its prior mean (0) or takes it from a reference recording
  (:meth:`StructuredTranslator.style_of`). With a target that has no style (one canonical voice)
  it carries nothing.

``slots=False`` is the ablation without slot attention: one decoder reads both groups;
``motion=False`` the one without the motion stream: only the appearance group is encoded and the
decoders read zeros in the motion group's place.

Shapes: video ``(B, T, appearance_dim + map_dim + flow_dim)`` → log-mel
``(B, target_steps, target_dim)`` (in the pipeline's train-fitted, MinMax-scaled target space).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from xmodal.models.beta_vae import Posterior


@dataclass
class StructuredTranslatorConfig:
    """Hyper-parameters of :class:`StructuredTranslator` (dims are set from the data by fit)."""

    appearance_dim: int = 17  # input columns [:appearance_dim]: appearance (PCA of frames)
    map_dim: int = 16  # input columns after them: a square position map (grid²)
    flow_dim: int = 0  # input columns after the map: optical-flow motion summary (0: none)
    steps: int = 16  # T: video steps per clip
    target_steps: int = 100  # output frames per clip
    target_dim: int = 80  # width of an output frame
    latent_dim: int = 8  # per group
    hidden_dim: int = 128  # stream encoders' hidden width
    decoder_dim: int = 256  # slot decoders' hidden width
    slots: bool = True  # False: one decoder reads both groups (the "no slot attention" ablation)
    motion: bool = True  # False: no motion stream (the "no motion stream" ablation)
    style_dim: int = 0  # > 0: a private style group read from the target speech (0: none)

    def __post_init__(self) -> None:
        for name in ("appearance_dim", "map_dim", "steps", "target_steps", "target_dim",
                     "latent_dim", "hidden_dim", "decoder_dim"):  # fmt: skip
            if int(getattr(self, name)) < 1:
                raise ValueError(
                    f"StructuredTranslatorConfig.{name} must be >= 1, got {getattr(self, name)}"
                )
        if self.style_dim < 0:
            raise ValueError(
                f"StructuredTranslatorConfig.style_dim must be >= 0, got {self.style_dim}"
            )
        if self.flow_dim < 0:
            raise ValueError(
                f"StructuredTranslatorConfig.flow_dim must be >= 0, got {self.flow_dim}"
            )
        grid = math.isqrt(self.map_dim)
        if grid * grid != self.map_dim:
            raise ValueError(f"map_dim must be a square (grid²), got {self.map_dim}")


def streams(video: Tensor, appearance_dim: int, flow_dim: int = 0) -> tuple[Tensor, Tensor]:
    """Split preprocessed video ``(B, T, P + G² + F)`` into the two streams.

    Returns:
        appearance ``(B, P)`` (time-mean of the appearance columns) and motion
        ``(B, T·G² + 2T + T·F)`` (the map minus its time-mean, the centroid's (x, y) trajectory
        minus its first step, then the ``F`` flow columns of every step).
    """
    appearance = video[..., :appearance_dim].mean(dim=1)  # (B, P)
    stop = video.shape[-1] - flow_dim
    where = video[..., appearance_dim:stop]  # (B, T, G²)
    flow = video[..., stop:]  # (B, T, F)
    grid = math.isqrt(where.shape[-1])
    weight = where.clamp_min(0) + 1e-3  # (B, T, G²)
    cols = torch.arange(grid, dtype=video.dtype, device=video.device).repeat(grid)  # (G²,)
    rows = torch.arange(grid, dtype=video.dtype, device=video.device).repeat_interleave(grid)
    total = weight.sum(-1)  # (B, T)
    cx, cy = (weight * cols).sum(-1) / total, (weight * rows).sum(-1) / total  # (B, T)
    track = torch.stack([cx - cx[:, :1], cy - cy[:, :1]], dim=-1)  # (B, T, 2)
    residual = (where - where.mean(dim=1, keepdim=True)).flatten(1)  # (B, T·G²)
    motion = torch.cat([residual, track.flatten(1), flow.flatten(1)], 1)
    return appearance, motion


def style_stream(target: Tensor) -> Tensor:
    """What the style group reads of speech ``(B, Tt, D)``: its time-mean spectrum (the voice)
    and its energy envelope (onset, rate, template), ``(B, D + Tt)``."""
    return torch.cat([target.mean(dim=1), target.mean(dim=2)], dim=-1)


def _mlp(n_in: int, hidden: int, n_out: int, layers: int = 2) -> nn.Sequential:
    mods: list[nn.Module] = []
    width = n_in
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.GELU()]
        width = hidden
    return nn.Sequential(*mods, nn.Linear(width, n_out))


class StructuredTranslator(nn.Module):
    """Appearance and motion streams → two β-VAE latent groups → a slot decoder (module doc)."""

    model_name: ClassVar[str] = "structured_translator"
    groups: ClassVar[tuple[str, str]] = ("appearance", "motion")

    def __init__(self, config: StructuredTranslatorConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or StructuredTranslatorConfig()
        motion_in = c.steps * (c.map_dim + 2 + c.flow_dim)
        self.encoders = nn.ModuleDict(
            {"appearance": _mlp(c.appearance_dim, c.hidden_dim, 2 * c.latent_dim, layers=1)}
        )
        if c.motion:
            self.encoders["motion"] = _mlp(motion_in, c.hidden_dim, 2 * c.latent_dim, layers=1)
        if c.style_dim:
            self.style_encoder = _mlp(c.target_dim + c.target_steps, c.hidden_dim,
                                      2 * c.style_dim, layers=1)  # fmt: skip
        out = c.target_steps * c.target_dim
        if c.slots:
            self.decoders = nn.ModuleList(
                [_mlp(c.latent_dim + c.style_dim, c.decoder_dim, out) for _ in range(2)]
            )
            self.gate = nn.Parameter(torch.zeros(c.target_steps, 2))  # (T_out, slots) logits
            if c.style_dim:  # the style moves the words: it shifts the gate too
                self.gate_style = nn.Linear(c.style_dim, c.target_steps * 2)
                nn.init.zeros_(self.gate_style.weight)
                nn.init.zeros_(self.gate_style.bias)
        else:
            self.decoders = nn.ModuleList(
                [_mlp(2 * c.latent_dim + c.style_dim, c.decoder_dim, out)]
            )

    def extra_repr(self) -> str:
        c = self.config
        style = f" + style {c.style_dim}" if c.style_dim else ""
        return (f"groups={len(self.encoders)}x{c.latent_dim}{style}, slots={c.slots}, "
                f"out=({c.target_steps}, {c.target_dim})")  # fmt: skip

    def _check(self, video: Tensor) -> None:
        c = self.config
        want = (c.steps, c.appearance_dim + c.map_dim + c.flow_dim)
        if video.dim() != 3 or tuple(video.shape[1:]) != want:
            raise ValueError(f"expected video of shape (B, {want[0]}, {want[1]}), got "
                             f"{tuple(video.shape)}")  # fmt: skip

    def encode(self, video: Tensor, speech: Tensor | None = None) -> dict[str, Posterior]:
        """Each group's posterior, ``(B, latent_dim)`` (no motion group if ``motion=False``);
        with ``speech`` ``(B, target_steps, target_dim)`` and a style group, ``"style"`` too."""
        self._check(video)
        appearance, motion = streams(video, self.config.appearance_dim, self.config.flow_dim)
        out = {}
        inputs = (appearance, motion) if self.config.motion else (appearance,)
        for name, x in zip(self.groups, inputs, strict=False):
            mu, logvar = self.encoders[name](x).chunk(2, dim=-1)
            out[name] = Posterior(mu, logvar.clamp(-12.0, 8.0))
        if speech is not None and self.config.style_dim:
            out["style"] = self.style_of(speech)
        return out

    def style_of(self, speech: Tensor) -> Posterior:
        """The style group's posterior ``(B, style_dim)`` from speech ``(B, target_steps,
        target_dim)`` (a reference recording in the target space)."""
        c = self.config
        if not c.style_dim:
            raise ValueError("this model has no style group (style_dim=0)")
        if speech.dim() != 3 or tuple(speech.shape[1:]) != (c.target_steps, c.target_dim):
            raise ValueError(f"expected speech of shape (B, {c.target_steps}, {c.target_dim}), "
                             f"got {tuple(speech.shape)}")  # fmt: skip
        mu, logvar = self.style_encoder(style_stream(speech)).chunk(2, dim=-1)
        return Posterior(mu, logvar.clamp(-12.0, 8.0))

    def slot_weights(self, style: Tensor | None = None) -> Tensor:
        """``(target_steps, 2)``: how much each output frame reads each slot (rows sum to 1);
        with a style ``(B, style_dim)``, ``(B, target_steps, 2)``."""
        if not self.config.slots:
            raise ValueError("this model has no slot attention (slots=False)")
        if style is None or not self.config.style_dim:
            return self.gate.softmax(dim=-1)
        shift = self.gate_style(style).view(-1, self.config.target_steps, 2)
        return (self.gate[None] + shift).softmax(dim=-1)

    def decode(self, z: dict[str, Tensor]) -> Tensor:
        """Latent groups ``{name: (B, latent_dim)}`` → ``(B, target_steps, target_dim)`` (a
        missing motion group reads as zeros, a missing style as its prior mean, zeros)."""
        c = self.config
        za = z["appearance"]
        zm = z["motion"] if "motion" in z else torch.zeros_like(za)
        zs = z["style"] if "style" in z else za.new_zeros(za.shape[0], c.style_dim)
        shape = (za.shape[0], c.target_steps, c.target_dim)
        if not c.slots:
            return self.decoders[0](torch.cat([za, zm, zs], dim=-1)).view(shape)
        ya, ym = (dec(torch.cat([zg, zs], dim=-1)).view(shape)
                  for dec, zg in zip(self.decoders, (za, zm), strict=True))  # fmt: skip
        g = self.slot_weights(zs if c.style_dim else None)  # (T_out, 2) or (B, T_out, 2)
        g = g if g.dim() == 3 else g[None]
        return g[..., :1] * ya + g[..., 1:] * ym  # (B, T_out, D)

    def forward(self, video: Tensor, style: Tensor | None = None) -> Tensor:
        """Posterior means decoded: ``(B, T, Dv) -> (B, target_steps, target_dim)``; the style
        group (if any) at ``style`` ``(B, style_dim)``, else at its prior mean."""
        z = {k: q.mu for k, q in self.encode(video).items()}
        if style is not None:
            z["style"] = style
        return self.decode(z)

    @torch.no_grad()
    def generate(self, video: Tensor, style: Tensor | None = None) -> Tensor:
        """Inference: the posterior means decoded (no sampling)."""
        return self.forward(video, style)

    def compute_loss(
        self, batch: dict, beta: float = 1.0, capacity: float | None = None
    ) -> dict[str, Tensor]:
        """L1 to the target + β · KL (every group, nats per target element).

        Args:
            batch: ``"source"`` (B, T, Dv) video and ``"target"`` (B, target_steps, target_dim).
            beta: weight of the KL term (from the β schedule).
            capacity: Burgess et al.'s capacity C (nats per target element): the KL term becomes
                ``beta · |KL − C|``.

        Returns:
            ``loss`` and detached ``l1``, ``kl`` (nats per sample, every group) and
            ``kl_<group>`` per group.
        """
        missing = [k for k in ("source", "target") if k not in batch]
        if missing:
            raise ValueError(f"structured batch lacks {missing}; it has {sorted(map(str, batch))}")
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        q = self.encode(batch["source"], batch["target"])
        z = {k: (p.sample() if self.training else p.mu) for k, p in q.items()}
        pred = self.decode(z)
        l1 = (pred - batch["target"]).abs().mean()
        kls = {k: p.kl().mean() for k, p in q.items()}  # nats per sample
        kl = sum(kls.values(), torch.zeros(()))
        per_element = kl / (self.config.target_steps * self.config.target_dim)
        reg = (per_element - capacity).abs() if capacity is not None else per_element
        return {
            "loss": l1 + beta * reg,
            "l1": l1.detach(),
            "kl": kl.detach(),
            **{f"kl_{k}": v.detach() for k, v in kls.items()},
        }

"""A multimodal β-VAE: video and audio feature sequences in one shared latent space.

One 1-D conv encoder per modality maps its feature sequence (B, T, D) to a diagonal Gaussian
posterior in a shared latent space (default 16-d): either one global latent (B, Z) or, with
``temporal=True``, one latent per segment (B, T', Z) that a translator can read as a sequence.
One decoder per modality maps a latent back to (B, T, D). Training pulls the two posteriors
together (cross-reconstruction and an alignment term), so the video posterior's latent decodes
into the clip's audio: :meth:`BetaVAE.translate`.

Loss (``compute_loss(batch, beta, capacity)``)::

    Σ_m recon_m                                 (m ∈ {video, audio}, own posterior's sample)
    + β · Σ_m KL(q_m || N(0, I))                 or β · Σ_m |KL(q_m || N(0, I)) − C| with capacity C
    + λ_cross · (recon(audio ← z_video) + recon(video ← z_audio))
    + λ_align · align(q_video, q_audio)

``align="mean_mse"`` (default) is ½‖μ_video − μ_audio‖² per sample, which equals the symmetric
KL between the two posteriors when both have unit variance, and stays bounded when β is near 0
and the variances shrink (the gradual ramp-up schedule starts there). ``align="sym_kl"`` is
½(KL(q_v‖q_a) + KL(q_a‖q_v)), which also matches the variances.

**Leakage audit.** ``variant="joint-leaky"`` reproduces a flaw of the thesis' public code:
both posteriors are computed from the concatenated video *and* audio encodings, so a translator
fed "video" latents sees its own target. It exists only to measure that leak; the default
``"honest"`` variant computes each modality's latent from that modality alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from xmodal import losses
from xmodal.types import Modality

VARIANTS = ("honest", "joint-leaky")
ALIGNS = ("mean_mse", "sym_kl")
_PAIR = (Modality.VIDEO, Modality.AUDIO)


@dataclass
class BetaVAEConfig:
    """Hyper-parameters of :class:`BetaVAE`."""

    video_dim: int = 1280  # Dv: width of a video feature frame (after preprocessing)
    audio_dim: int = 80  # Da: width of an audio feature frame (after preprocessing)
    seq_len: int = 16  # T: segmented steps per clip (the global latent reads exactly T)
    latent_dim: int = 16  # Z: width of the shared latent space
    hidden_dim: int = 128  # channels of the conv encoders and decoders
    num_layers: int = 3  # conv layers in each encoder trunk and each decoder trunk
    kernel_size: int = 3  # temporal kernel of the convs (odd, so T is preserved)
    activation: Literal["gelu", "relu"] = "gelu"  # nonlinearity of every conv stack
    temporal: bool = True  # True: per-segment latents (B, T', Z); False: one latent (B, Z)
    temporal_stride: int = 1  # temporal only: T' = T / temporal_stride (T must divide)
    # "honest": a modality's latent reads that modality only; "joint-leaky": the thesis' leak
    variant: Literal["honest", "joint-leaky"] = "honest"
    lambda_cross: float = 1.0  # weight of the two cross-reconstruction terms
    lambda_align: float = 1.0  # weight of the posterior alignment term
    align: Literal["mean_mse", "sym_kl"] = "mean_mse"  # ½‖μ_v − μ_a‖², or symmetric KL
    # "sum": per-clip sum of squared errors over T·D (the ELBO's scale); "mean": per element
    recon_reduction: Literal["sum", "mean"] = "sum"

    def __post_init__(self) -> None:
        for name in ("video_dim", "audio_dim", "seq_len", "latent_dim", "hidden_dim"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"BetaVAEConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.num_layers < 1:
            raise ValueError(f"BetaVAEConfig.num_layers must be >= 1, got {self.num_layers}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"BetaVAEConfig.kernel_size must be odd, got {self.kernel_size}")
        if self.activation not in ("gelu", "relu"):
            raise ValueError(
                f"BetaVAEConfig.activation must be gelu or relu, got {self.activation!r}"
            )
        if self.temporal_stride < 1:
            raise ValueError(
                f"BetaVAEConfig.temporal_stride must be >= 1, got {self.temporal_stride}"
            )
        if self.temporal and self.seq_len % self.temporal_stride:
            raise ValueError(
                f"BetaVAEConfig.seq_len ({self.seq_len}) must be a multiple of temporal_stride "
                f"({self.temporal_stride})"
            )
        if self.variant not in VARIANTS:
            raise ValueError(
                f"BetaVAEConfig.variant must be one of {VARIANTS}, got {self.variant!r}"
            )
        if self.align not in ALIGNS:
            raise ValueError(f"BetaVAEConfig.align must be one of {ALIGNS}, got {self.align!r}")
        if self.recon_reduction not in ("sum", "mean"):
            raise ValueError(
                f"BetaVAEConfig.recon_reduction must be sum or mean, got {self.recon_reduction!r}"
            )
        if self.lambda_cross < 0 or self.lambda_align < 0:
            raise ValueError("BetaVAEConfig.lambda_cross and lambda_align must be >= 0")

    @property
    def latent_steps(self) -> int | None:
        """T' for temporal latents at the configured ``seq_len``; None for a global latent."""
        return self.seq_len // self.temporal_stride if self.temporal else None

    def feature_dim(self, modality: Modality) -> int:
        """Input/output width of ``modality`` (video or audio)."""
        return {Modality.VIDEO: self.video_dim, Modality.AUDIO: self.audio_dim}[modality]


@dataclass
class Posterior:
    """A diagonal Gaussian posterior q(z | x).

    Attributes:
        mu: means, (B, Z) for a global latent or (B, T', Z) for temporal latents.
        logvar: log-variances, same shape as ``mu``.
    """

    mu: Tensor
    logvar: Tensor

    @property
    def std(self) -> Tensor:
        """Standard deviations, same shape as ``mu``."""
        return (0.5 * self.logvar).exp()

    def sample(self) -> Tensor:
        """A reparameterised sample (differentiable in mu and logvar), same shape as ``mu``."""
        return self.mu + self.std * torch.randn_like(self.mu)

    def kl(self) -> Tensor:
        """(B,) KL(q || N(0, I)) summed over every latent dimension."""
        return losses.kl_normal(self.mu, self.logvar)


def _activation(name: str) -> nn.Module:
    return nn.GELU() if name == "gelu" else nn.ReLU()


def _conv_stack(channels: int, num: int, cfg: BetaVAEConfig) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for _ in range(num):
        layers += [
            nn.Conv1d(channels, channels, cfg.kernel_size, padding=cfg.kernel_size // 2),
            _activation(cfg.activation),
        ]
    return layers


class ConvTrunk(nn.Module):
    """Conv1d layers over time: (B, T, D) -> (B, H, T)."""

    def __init__(self, in_dim: int, cfg: BetaVAEConfig) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(in_dim, cfg.hidden_dim, cfg.kernel_size, padding=cfg.kernel_size // 2),
            _activation(cfg.activation),
            *_conv_stack(cfg.hidden_dim, cfg.num_layers - 1, cfg),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.transpose(1, 2))  # (B, T, D) -> (B, D, T) -> (B, H, T)


class PosteriorHead(nn.Module):
    """Encoded features (B, C, T) -> a :class:`Posterior` (global or temporal)."""

    def __init__(self, in_channels: int, cfg: BetaVAEConfig) -> None:
        super().__init__()
        self.temporal = cfg.temporal
        h, z = cfg.hidden_dim, cfg.latent_dim
        if cfg.temporal:
            s = cfg.temporal_stride  # one latent per s steps (s = 1: one per step)
            self.net = nn.Sequential(
                nn.Conv1d(in_channels, h, s, stride=s),  # (B, C, T) -> (B, H, T / s)
                _activation(cfg.activation),
                nn.Conv1d(h, 2 * z, 1),  # (B, H, T') -> (B, 2Z, T')
            )
        else:
            self.net = nn.Sequential(
                nn.Flatten(1),  # (B, C, T) -> (B, C * T)
                nn.Linear(in_channels * cfg.seq_len, h),
                _activation(cfg.activation),
                nn.Linear(h, 2 * z),
            )

    def forward(self, h: Tensor) -> Posterior:
        out = self.net(h)  # temporal: (B, 2Z, T'); global: (B, 2Z)
        if self.temporal:
            out = out.transpose(1, 2)  # (B, 2Z, T') -> (B, T', 2Z)
        mu, logvar = out.chunk(2, dim=-1)  # each (B, [T',] Z)
        return Posterior(mu=mu, logvar=logvar)


class Decoder(nn.Module):
    """A latent (B, Z) or (B, T', Z) -> a feature sequence (B, T, D)."""

    def __init__(self, out_dim: int, cfg: BetaVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        h, z = cfg.hidden_dim, cfg.latent_dim
        if cfg.temporal:
            up: list[nn.Module] = [nn.Conv1d(z, h, 1), _activation(cfg.activation)]
            if cfg.temporal_stride > 1:  # (B, H, T') -> (B, H, T' * stride)
                s = cfg.temporal_stride
                up += [nn.ConvTranspose1d(h, h, s, stride=s), _activation(cfg.activation)]
            self.expand = nn.Sequential(*up)
        else:
            self.expand = nn.Sequential(nn.Linear(z, h * cfg.seq_len), _activation(cfg.activation))
        self.trunk = nn.Sequential(*_conv_stack(h, cfg.num_layers - 1, cfg))
        self.out = nn.Conv1d(h, out_dim, 1)

    def forward(self, z: Tensor) -> Tensor:
        if self.cfg.temporal:
            h = self.expand(z.transpose(1, 2))  # (B, T', Z) -> (B, Z, T') -> (B, H, T)
        else:
            h = self.expand(z).view(z.shape[0], self.cfg.hidden_dim, self.cfg.seq_len)  # (B, H, T)
        return self.out(self.trunk(h)).transpose(1, 2)  # (B, D, T) -> (B, T, D)


class BetaVAE(nn.Module):
    """Multimodal β-VAE over video and audio feature sequences (see the module docstring).

    Args:
        config: hyper-parameters; defaults to ``BetaVAEConfig()``.
    """

    model_name: ClassVar[str] = "beta_vae"

    def __init__(self, config: BetaVAEConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else BetaVAEConfig()
        cfg = self.config
        head_in = cfg.hidden_dim * (2 if self.leaky else 1)
        self.encoders = nn.ModuleDict({m.value: ConvTrunk(cfg.feature_dim(m), cfg) for m in _PAIR})
        self.heads = nn.ModuleDict({m.value: PosteriorHead(head_in, cfg) for m in _PAIR})
        self.decoders = nn.ModuleDict({m.value: Decoder(cfg.feature_dim(m), cfg) for m in _PAIR})

    @property
    def leaky(self) -> bool:
        """True for the ``joint-leaky`` audit variant, whose posteriors read both modalities."""
        return self.config.variant == "joint-leaky"

    def extra_repr(self) -> str:
        cfg = self.config
        label = "joint-leaky (LEAKAGE AUDIT ONLY)" if self.leaky else "honest"
        return f"variant={label}, latent_dim={cfg.latent_dim}, temporal={cfg.temporal}"

    # ----------------------------------------------------------------- encoding / decoding

    def _check(self, x: Tensor, modality: Modality) -> None:
        cfg = self.config
        if x.dim() != 3:
            raise ValueError(f"{modality.value} features must be (B, T, D), got {tuple(x.shape)}")
        t, d = x.shape[1], x.shape[2]
        if d != cfg.feature_dim(modality):
            raise ValueError(
                f"{modality.value} features have width {d} but the model's "
                f"{modality.value}_dim is {cfg.feature_dim(modality)}"
            )
        if not cfg.temporal and t != cfg.seq_len:
            raise ValueError(
                f"{modality.value} features have {t} steps but a global-latent model reads "
                f"exactly seq_len={cfg.seq_len}"
            )
        if cfg.temporal and t % cfg.temporal_stride:
            raise ValueError(
                f"{modality.value} features have {t} steps, not a multiple of "
                f"temporal_stride={cfg.temporal_stride}"
            )

    def _trunk(self, x: Tensor, modality: Modality) -> Tensor:
        self._check(x, modality)
        return self.encoders[modality.value](x)  # (B, T, D) -> (B, H, T)

    def encode(self, inputs: dict[Modality, Tensor]) -> dict[Modality, Posterior]:
        """Posteriors of the modalities in ``inputs`` (video and/or audio).

        Honest variant: each posterior is computed from its own modality only. Leaky variant:
        both inputs are required, and both posteriors read the concatenated encodings.

        Args:
            inputs: {VIDEO: (B, T, Dv), AUDIO: (B, T, Da)} (either may be absent if honest).

        Returns:
            {modality: Posterior} for every modality given (both for the leaky variant).
        """
        present = [m for m in _PAIR if m in inputs]
        if not present:
            raise ValueError(f"BetaVAE.encode needs video and/or audio, got keys {list(inputs)}")
        hidden = {m: self._trunk(inputs[m], m) for m in present}
        if not self.leaky:
            return {m: self.heads[m.value](hidden[m]) for m in present}
        if len(present) != 2:
            raise ValueError(
                "this BetaVAE is the 'joint-leaky' variant (leakage audit only): each posterior "
                "reads video AND audio, so both must be given"
            )
        if hidden[Modality.VIDEO].shape != hidden[Modality.AUDIO].shape:
            raise ValueError("joint-leaky: video and audio must have the same number of steps")
        joint = torch.cat([hidden[Modality.VIDEO], hidden[Modality.AUDIO]], dim=1)  # (B, 2H, T)
        return {m: self.heads[m.value](joint) for m in _PAIR}

    def encode_video(self, x_video: Tensor, x_audio: Tensor | None = None) -> Posterior:
        """Video posterior q(z | video).

        Args:
            x_video: (B, T, Dv) video features.
            x_audio: (B, T, Da) audio features: required by the ``joint-leaky`` audit variant
                (whose "video" latent reads the audio too), ignored by the honest one.

        Returns:
            The :class:`Posterior`, mu/logvar (B, Z) or (B, T', Z).
        """
        if not self.leaky:
            return self.encode({Modality.VIDEO: x_video})[Modality.VIDEO]
        if x_audio is None:
            raise ValueError(
                "this BetaVAE is the 'joint-leaky' variant (leakage audit only): its video "
                "posterior reads the audio too; call encode_video(x_video, x_audio)"
            )
        return self.encode({Modality.VIDEO: x_video, Modality.AUDIO: x_audio})[Modality.VIDEO]

    def encode_audio(self, x_audio: Tensor, x_video: Tensor | None = None) -> Posterior:
        """Audio posterior q(z | audio); ``x_video`` is required only by the leaky variant.

        Args:
            x_audio: (B, T, Da) audio features.
            x_video: (B, T, Dv) video features (``joint-leaky`` only; ignored otherwise).

        Returns:
            The :class:`Posterior`, mu/logvar (B, Z) or (B, T', Z).
        """
        if not self.leaky:
            return self.encode({Modality.AUDIO: x_audio})[Modality.AUDIO]
        if x_video is None:
            raise ValueError(
                "this BetaVAE is the 'joint-leaky' variant (leakage audit only): its audio "
                "posterior reads the video too; call encode_audio(x_audio, x_video)"
            )
        return self.encode({Modality.VIDEO: x_video, Modality.AUDIO: x_audio})[Modality.AUDIO]

    def decode(self, z: Tensor, modality: Modality | str) -> Tensor:
        """Decode latents into ``modality``'s features.

        Args:
            z: (B, Z) global or (B, T', Z) temporal latents.
            modality: ``Modality.VIDEO`` or ``Modality.AUDIO``.

        Returns:
            (B, T, D) features of that modality.
        """
        modality = Modality.parse(modality)
        if modality not in _PAIR:
            raise ValueError(f"BetaVAE decodes video or audio, not {modality.value}")
        expected = 3 if self.config.temporal else 2
        if z.dim() != expected or z.shape[-1] != self.config.latent_dim:
            shape = "(B, T', Z)" if self.config.temporal else "(B, Z)"
            raise ValueError(
                f"latents must be {shape} with Z={self.config.latent_dim}, got {tuple(z.shape)}"
            )
        return self.decoders[modality.value](z)

    def translate(self, x_video: Tensor, x_audio: Tensor | None = None) -> Tensor:
        """Video features -> audio features through the video posterior's mean.

        Args:
            x_video: (B, T, Dv).
            x_audio: required only by the ``joint-leaky`` audit variant (the leak).

        Returns:
            (B, T, Da) predicted audio features.
        """
        return self.decode(self.encode_video(x_video, x_audio).mu, Modality.AUDIO)

    def forward(self, inputs: dict[Modality, Tensor]) -> dict[Modality, Tensor]:
        """Reconstruct every given modality from its own posterior mean.

        Args:
            inputs: {VIDEO: (B, T, Dv), AUDIO: (B, T, Da)}.

        Returns:
            {modality: (B, T, D)} reconstructions.
        """
        posteriors = self.encode(inputs)
        return {m: self.decode(q.mu, m) for m, q in posteriors.items()}

    # ----------------------------------------------------------------------------- training

    def _recon(self, pred: Tensor, target: Tensor) -> Tensor:
        if self.config.recon_reduction == "sum":
            return losses.recon_mse(pred, target, reduction="sample_sum").mean()
        return losses.recon_mse(pred, target)

    def _align(self, qv: Posterior, qa: Posterior) -> Tensor:
        if self.config.align == "mean_mse":
            diff = (qv.mu - qa.mu).pow(2)  # (B, [T',] Z)
            return 0.5 * diff.reshape(diff.shape[0], -1).sum(dim=1).mean()  # (B, ...) -> (B,)
        forward = losses.kl_gaussians(qv.mu, qv.logvar, qa.mu, qa.logvar)
        backward = losses.kl_gaussians(qa.mu, qa.logvar, qv.mu, qv.logvar)
        return 0.5 * (forward + backward).mean()

    def compute_loss(
        self, batch: dict, beta: float = 1.0, capacity: float | None = None
    ) -> dict[str, Tensor]:
        """The training loss (see the module docstring) and its parts.

        Args:
            batch: {VIDEO: (B, T, Dv), AUDIO: (B, T, Da)} (``"video"``/``"audio"`` keys work too).
            beta: weight of the KL terms (from the β schedule).
            capacity: if given, the KL terms become β·|KL_m − capacity| per posterior (the
                capacity-annealing loss); C in nats, per posterior.

        Returns:
            ``loss`` (optimised), and detached scalars: ``recon_video``, ``recon_audio``,
            ``cross_video_to_audio`` (audio decoded from the video latent),
            ``cross_audio_to_video``, ``align``, ``kl_video``, ``kl_audio`` (batch means of each
            posterior's KL summed over latent dims) and ``kl`` = (kl_video + kl_audio) / 2, the
            mean per-posterior KL, on the same scale as ``capacity`` (the PI controller reads it).
        """
        missing = [m.value for m in _PAIR if m not in batch]
        if missing:
            raise ValueError(
                f"BetaVAE batch lacks {missing}; it has keys {sorted(map(str, batch))}"
            )
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        if capacity is not None and capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        xv, xa = batch[Modality.VIDEO], batch[Modality.AUDIO]
        q = self.encode({Modality.VIDEO: xv, Modality.AUDIO: xa})
        qv, qa = q[Modality.VIDEO], q[Modality.AUDIO]
        zv, za = qv.sample(), qa.sample()

        recon_v = self._recon(self.decode(zv, Modality.VIDEO), xv)
        recon_a = self._recon(self.decode(za, Modality.AUDIO), xa)
        cross_v2a = self._recon(self.decode(zv, Modality.AUDIO), xa)
        cross_a2v = self._recon(self.decode(za, Modality.VIDEO), xv)
        kl_v, kl_a = qv.kl().mean(), qa.kl().mean()
        if capacity is None:
            kl_term = beta * (kl_v + kl_a)
        else:
            kl_term = beta * ((kl_v - capacity).abs() + (kl_a - capacity).abs())
        align = self._align(qv, qa)

        cfg = self.config
        loss = (
            recon_v
            + recon_a
            + kl_term
            + cfg.lambda_cross * (cross_v2a + cross_a2v)
            + cfg.lambda_align * align
        )
        parts = {
            "recon_video": recon_v,
            "recon_audio": recon_a,
            "cross_video_to_audio": cross_v2a,
            "cross_audio_to_video": cross_a2v,
            "align": align,
            "kl": 0.5 * (kl_v + kl_a),
            "kl_video": kl_v,
            "kl_audio": kl_a,
        }
        return {"loss": loss, **{k: v.detach() for k, v in parts.items()}}

"""An LSTM encoder-decoder with attention: a source sequence -> a target sequence of frames.

The translator of the β-VAE study: it maps a source sequence (B, Ts, Din) (a VAE latent
sequence, or raw video features for the baseline) to a target sequence (B, Tt, Dout) (audio
features), generated autoregressively one frame at a time.

- Encoder: a (bi)LSTM over the source; its outputs, projected to ``hidden_dim``, are the
  attention memory; its final states initialise the decoder (through a learned bridge).
- Decoder: an LSTM whose input at step t is the previous frame (a learned start frame at t = 0)
  and an attention feature; ``attention="luong"`` scores with the *current* decoder state
  (general score h_tᵀ W h_s) and feeds the attentional vector h̃_t to the next step (input
  feeding); ``attention="bahdanau"`` scores with the *previous* state (additive score
  vᵀ tanh(W_q s + W_k h_s)) and feeds the context into the LSTM. Either way the frame is
  ``W_o tanh(W_c [context; h_t])``.
- Scheduled sampling: during training, at every step and for every sample the previous frame is
  the ground truth with probability ``teacher_forcing`` (from the loop's schedule), else the
  model's own (detached) prediction. Draws use torch's global RNG, which the loop seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xmodal import losses

ATTENTIONS = ("luong", "bahdanau")


@dataclass
class Seq2SeqConfig:
    """Hyper-parameters of :class:`Seq2Seq`."""

    source_dim: int = 16  # Din: width of a source frame (the β-VAE latent_dim by default)
    target_dim: int = 80  # Dout: width of a generated target frame
    hidden_dim: int = 128  # H: LSTM state size (encoder per direction, decoder)
    num_layers: int = 1  # stacked LSTM layers in the encoder and the decoder
    bidirectional: bool = True  # bidirectional encoder
    # "luong": general score, input feeding; "bahdanau": additive score on the previous state
    attention: Literal["luong", "bahdanau"] = "luong"
    dropout: float = 0.0  # between LSTM layers and before the output layer
    cosine_weight: float = 0.0  # loss = MSE + cosine_weight * mean per-frame (1 − cos)

    def __post_init__(self) -> None:
        for name in ("source_dim", "target_dim", "hidden_dim", "num_layers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"Seq2SeqConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.attention not in ATTENTIONS:
            raise ValueError(
                f"Seq2SeqConfig.attention must be one of {ATTENTIONS}, got {self.attention!r}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"Seq2SeqConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.cosine_weight < 0:
            raise ValueError(f"Seq2SeqConfig.cosine_weight must be >= 0, got {self.cosine_weight}")


@dataclass
class Seq2SeqOutput:
    """What a decoding pass produced.

    Attributes:
        predictions: (B, Tt, Dout) generated frames.
        attention: (B, Tt, Ts) attention weights of every decoder step over the source; each
            row sums to 1 (padded source steps get 0).
    """

    predictions: Tensor
    attention: Tensor


class Attention(nn.Module):
    """Luong's general or Bahdanau's additive attention over an encoder memory."""

    def __init__(self, kind: str, hidden: int) -> None:
        super().__init__()
        self.kind = kind
        self.key = nn.Linear(hidden, hidden, bias=False)
        if kind == "bahdanau":
            self.query = nn.Linear(hidden, hidden, bias=True)
            self.v = nn.Linear(hidden, 1, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        """Precompute keys once per sequence: (B, Ts, H) -> (B, Ts, H)."""
        return self.key(memory)

    def forward(
        self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """Attend.

        Args:
            query: (B, H) decoder state.
            keys: (B, Ts, H) from :meth:`keys`.
            memory: (B, Ts, H) encoder outputs.
            mask: (B, Ts) bool, True at real source steps, or None.

        Returns:
            context (B, H) and weights (B, Ts).
        """
        if self.kind == "luong":
            scores = torch.bmm(keys, query.unsqueeze(2)).squeeze(2)  # (B,Ts,H)@(B,H,1) -> (B,Ts)
        else:
            hidden = torch.tanh(keys + self.query(query).unsqueeze(1))  # (B, Ts, H)
            scores = self.v(hidden).squeeze(2)  # (B, Ts, 1) -> (B, Ts)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = scores.softmax(dim=1)  # (B, Ts)
        context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)  # (B,1,Ts)@(B,Ts,H) -> (B,H)
        return context, weights


class Seq2Seq(nn.Module):
    """LSTM encoder-decoder with attention (see the module docstring).

    Args:
        config: hyper-parameters; defaults to ``Seq2SeqConfig()``.
    """

    model_name: ClassVar[str] = "seq2seq"

    def __init__(self, config: Seq2SeqConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else Seq2SeqConfig()
        cfg = self.config
        h, dirs = cfg.hidden_dim, 2 if cfg.bidirectional else 1
        inter = cfg.dropout if cfg.num_layers > 1 else 0.0
        self.encoder = nn.LSTM(
            cfg.source_dim,
            h,
            cfg.num_layers,
            batch_first=True,
            bidirectional=cfg.bidirectional,
            dropout=inter,
        )
        self.memory_proj = nn.Linear(h * dirs, h)
        self.bridge_h = nn.Linear(h * dirs, h)
        self.bridge_c = nn.Linear(h * dirs, h)
        self.attention = Attention(cfg.attention, h)
        self.decoder = nn.LSTM(
            cfg.target_dim + h, h, cfg.num_layers, batch_first=True, dropout=inter
        )
        self.combine = nn.Linear(2 * h, h)
        self.dropout = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(h, cfg.target_dim)
        self.start = nn.Parameter(torch.zeros(cfg.target_dim))  # the frame before the first

    # -------------------------------------------------------------------------- encoding

    def _source_mask(self, source: Tensor, lengths: Tensor | None) -> Tensor | None:
        if lengths is None:
            return None
        lengths = lengths.to(source.device)
        if (
            lengths.shape != (source.shape[0],)
            or lengths.min() < 1
            or lengths.max() > source.shape[1]
        ):
            raise ValueError(
                f"source_lengths must be (B,) in [1, {source.shape[1]}], got {lengths.tolist()}"
            )
        steps = torch.arange(source.shape[1], device=source.device)
        return steps[None, :] < lengths[:, None]  # (B, Ts)

    def encode(
        self, source: Tensor, source_lengths: Tensor | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Encode the source.

        Args:
            source: (B, Ts, Din).
            source_lengths: optional (B,) real lengths (the rest is padding).

        Returns:
            memory (B, Ts, H) and the decoder's initial (h, c), each (num_layers, B, H).
        """
        cfg = self.config
        if source.dim() != 3 or source.shape[2] != cfg.source_dim:
            raise ValueError(f"source must be (B, Ts, {cfg.source_dim}), got {tuple(source.shape)}")
        if source_lengths is None:
            outputs, (h_n, c_n) = self.encoder(source)  # (B, Ts, dirs*H), (L*dirs, B, H)
        else:
            packed = nn.utils.rnn.pack_padded_sequence(
                source, source_lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            packed_out, (h_n, c_n) = self.encoder(packed)
            outputs, _ = nn.utils.rnn.pad_packed_sequence(
                packed_out, batch_first=True, total_length=source.shape[1]
            )  # (B, Ts, dirs*H)
        memory = self.memory_proj(outputs)  # (B, Ts, dirs*H) -> (B, Ts, H)
        dirs = 2 if cfg.bidirectional else 1
        b = source.shape[0]

        def per_layer(state: Tensor) -> Tensor:
            state = state.view(cfg.num_layers, dirs, b, cfg.hidden_dim)  # (L, dirs, B, H)
            return state.permute(0, 2, 1, 3).reshape(cfg.num_layers, b, dirs * cfg.hidden_dim)

        h0 = torch.tanh(self.bridge_h(per_layer(h_n)))  # (L, B, dirs*H) -> (L, B, H)
        c0 = self.bridge_c(per_layer(c_n))  # (L, B, H)
        return memory, (h0.contiguous(), c0.contiguous())

    # -------------------------------------------------------------------------- decoding

    def forward(
        self,
        source: Tensor,
        target: Tensor | None = None,
        steps: int | None = None,
        teacher_forcing: float = 0.0,
        source_lengths: Tensor | None = None,
    ) -> Seq2SeqOutput:
        """Decode ``steps`` frames (``target.shape[1]`` when a target is given).

        Args:
            source: (B, Ts, Din).
            target: optional (B, Tt, Dout) ground truth for teacher forcing.
            steps: frames to generate when no target is given.
            teacher_forcing: probability of feeding the ground-truth previous frame (needs
                ``target``); 0 is free-running generation.
            source_lengths: optional (B,) real source lengths.

        Returns:
            :class:`Seq2SeqOutput` with predictions (B, Tt, Dout) and attention (B, Tt, Ts).
        """
        cfg = self.config
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing must be in [0, 1], got {teacher_forcing}")
        if target is not None:
            if (
                target.dim() != 3
                or target.shape[0] != source.shape[0]
                or target.shape[2] != cfg.target_dim
            ):
                raise ValueError(
                    f"target must be (B={source.shape[0]}, Tt, {cfg.target_dim}), "
                    f"got {tuple(target.shape)}"
                )
            steps = target.shape[1]
        elif teacher_forcing > 0:
            raise ValueError("teacher_forcing > 0 needs a target")
        if steps is None or steps < 1:
            raise ValueError(f"steps must be >= 1 (or pass a target), got {steps}")

        mask = self._source_mask(source, source_lengths)
        memory, state = self.encode(source, source_lengths)
        keys = self.attention.keys(memory)  # (B, Ts, H)
        b = source.shape[0]
        prev = self.start.expand(b, -1)  # (B, Dout)
        feed = memory.new_zeros(b, cfg.hidden_dim)  # Luong's attentional vector h̃_{t-1}
        preds, weights = [], []
        for t in range(steps):
            if t > 0:
                prev = preds[-1].detach()
                if target is not None and teacher_forcing > 0:
                    truth = target[:, t - 1]  # (B, Dout)
                    if teacher_forcing >= 1.0:
                        prev = truth
                    else:
                        use = torch.rand(b, device=source.device) < teacher_forcing  # (B,)
                        prev = torch.where(use[:, None], truth, prev)
            if cfg.attention == "bahdanau":
                context, w = self.attention(state[0][-1], keys, memory, mask)  # (B, H), (B, Ts)
                step_in = torch.cat([prev, context], dim=1)  # (B, Dout + H)
                out, state = self.decoder(step_in.unsqueeze(1), state)  # (B, 1, H)
                h_t = out.squeeze(1)  # (B, H)
            else:
                step_in = torch.cat([prev, feed], dim=1)  # (B, Dout + H)
                out, state = self.decoder(step_in.unsqueeze(1), state)  # (B, 1, H)
                h_t = out.squeeze(1)  # (B, H)
                context, w = self.attention(h_t, keys, memory, mask)  # (B, H), (B, Ts)
            feed = torch.tanh(self.combine(torch.cat([context, h_t], dim=1)))  # (B, 2H) -> (B, H)
            preds.append(self.out(self.dropout(feed)))  # (B, Dout)
            weights.append(w)
        return Seq2SeqOutput(
            predictions=torch.stack(preds, dim=1),  # (B, Tt, Dout)
            attention=torch.stack(weights, dim=1),  # (B, Tt, Ts)
        )

    @torch.no_grad()
    def generate(
        self,
        source: Tensor,
        steps: int,
        source_lengths: Tensor | None = None,
        return_attention: bool = False,
    ) -> Tensor | Seq2SeqOutput:
        """Free-running generation (each step reads the previous prediction; no target).

        Args:
            source: (B, Ts, Din).
            steps: number of frames Tt to generate.
            source_lengths: optional (B,) real source lengths.
            return_attention: return the whole :class:`Seq2SeqOutput` instead of the frames.

        Returns:
            (B, Tt, Dout) frames, or a :class:`Seq2SeqOutput` when ``return_attention``.
        """
        out = self.forward(source, steps=steps, source_lengths=source_lengths)
        return out if return_attention else out.predictions

    # -------------------------------------------------------------------------- training

    def compute_loss(self, batch: dict, teacher_forcing: float = 1.0) -> dict[str, Tensor]:
        """MSE (+ ``cosine_weight`` · per-frame cosine distance) under scheduled sampling.

        Args:
            batch: ``"source"`` (B, Ts, Din), ``"target"`` (B, Tt, Dout), optionally
                ``"source_lengths"`` and ``"target_lengths"`` (B,) int for padded sequences.
            teacher_forcing: probability of feeding the ground-truth previous frame.

        Returns:
            ``loss``, and detached ``mse`` and ``cosine`` (mean 1 − cos over real frames).
        """
        missing = [k for k in ("source", "target") if k not in batch]
        if missing:
            raise ValueError(
                f"Seq2Seq batch lacks {missing}; it has keys {sorted(map(str, batch))}"
            )
        source, target = batch["source"], batch["target"]
        out = self.forward(
            source,
            target=target,
            teacher_forcing=teacher_forcing,
            source_lengths=batch.get("source_lengths"),
        )
        pred = out.predictions  # (B, Tt, Dout)
        mask = None
        if batch.get("target_lengths") is not None:
            lengths = batch["target_lengths"].to(target.device)
            mask = torch.arange(target.shape[1], device=target.device)[None] < lengths[:, None]
        mse = losses.recon_mse(pred, target, mask)
        cos = 1.0 - F.cosine_similarity(pred, target, dim=-1)  # (B, Tt)
        if mask is None:
            cosine = cos.mean()
        else:
            cosine = (cos * mask).sum() / mask.sum().clamp_min(1)
        loss = mse + self.config.cosine_weight * cosine if self.config.cosine_weight else mse
        return {"loss": loss, "mse": mse.detach(), "cosine": cosine.detach()}

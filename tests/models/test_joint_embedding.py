"""The joint embedding: unit norms, known loss values, missing-modality masking, retrieval."""

from __future__ import annotations

import math

import pytest
import torch

from xmodal import losses
from xmodal.models.joint_embedding import Embedding, JointEmbedding, JointEmbeddingConfig
from xmodal.types import Modality

V, A, T = Modality.VIDEO, Modality.AUDIO, Modality.TEXT


def tiny(**overrides) -> JointEmbeddingConfig:
    base = dict(input_dims={"video": 6, "audio": 4, "text": 5}, width=8, hidden_dim=16)
    return JointEmbeddingConfig(**{**base, **overrides})


def batch(b: int = 6) -> dict:
    return {V: torch.randn(b, 7, 6), A: torch.randn(b, 9, 4), T: torch.randn(b, 5)}


@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_outputs_are_unit_norm(pooling: str) -> None:
    model = JointEmbedding(tiny(pooling=pooling))
    x = batch()
    out = model(x)
    assert set(out) == {V, A, T}
    for emb in out.values():
        assert emb.shape == (6, 8)
        torch.testing.assert_close(emb.norm(dim=1), torch.ones(6))
    e = model.encode_video(x[V])
    assert isinstance(e, Embedding) and e.embeds.shape == (6, 8)
    torch.testing.assert_close(e.embeds, out[V])
    assert model.encode_text(x[T]).embeds.shape == (6, 8)
    assert model.encode("audio", x[A]).shape == (6, 8)


def test_config_keys_become_modalities_and_temperature_init() -> None:
    cfg = tiny()
    assert list(cfg.input_dims) == [V, A, T]
    model = JointEmbedding(cfg)
    assert model.scale().item() == pytest.approx(1 / 0.07, rel=1e-5)
    with torch.no_grad():
        model.logit_scale.fill_(10.0)  # far above log(100)
    assert model.scale().item() == pytest.approx(100.0, rel=1e-5)
    fixed = JointEmbedding(tiny(learn_temperature=False))
    assert not fixed.logit_scale.requires_grad


def test_all_equal_embeddings_give_log_b() -> None:
    model = JointEmbedding(tiny())
    with torch.no_grad():  # every head outputs the same direction whatever its input
        for head in model.heads.values():
            head.mlp[-1].weight.zero_()
            head.mlp[-1].bias.fill_(1.0)
    out = model.compute_loss(batch(6))
    assert out["loss"].item() == pytest.approx(math.log(6), abs=1e-5)
    for key in ("loss_video_audio", "loss_video_text", "loss_audio_text"):
        assert out[key].item() == pytest.approx(math.log(6), abs=1e-5)
    assert out["pairs"].item() == 3


def test_mean_pooling_respects_lengths() -> None:
    model = JointEmbedding(tiny(input_norm=False))
    x = torch.randn(2, 5, 6)
    lengths = torch.tensor([3, 5])
    head = model.heads["video"]
    pooled = head.pool(x, torch.arange(5)[None, :] < lengths[:, None])
    torch.testing.assert_close(pooled[0], x[0, :3].mean(0))
    torch.testing.assert_close(pooled[1], x[1].mean(0))
    spoiled = x.clone()
    spoiled[0, 3:] = 1e4
    torch.testing.assert_close(model.encode(V, spoiled, lengths), model.encode(V, x, lengths))


def test_attention_pooling_ignores_padding() -> None:
    model = JointEmbedding(tiny(pooling="attention"))
    x = torch.randn(2, 5, 6)
    lengths = torch.tensor([2, 5])
    spoiled = x.clone()
    spoiled[0, 2:] = float("nan")
    spoiled.requires_grad_(True)
    emb = model.encode(V, spoiled, lengths)
    torch.testing.assert_close(emb, model.encode(V, x, lengths))
    emb.sum().backward()  # NaN padding does not poison the gradients either
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert torch.isfinite(spoiled.grad).all()


def test_missing_modalities_are_masked_out() -> None:
    model = JointEmbedding(tiny(pooling="attention")).eval()
    x = batch(6)
    video_mask = torch.tensor([1, 1, 0, 1, 1, 1], dtype=torch.bool)
    audio_mask = torch.tensor([1, 0, 1, 1, 1, 0], dtype=torch.bool)
    text_mask = torch.tensor([0, 0, 1, 0, 0, 1], dtype=torch.bool)  # only 1 shared with video
    x[V][2] = float("nan")  # a missing sample may hold anything
    x[A][1] = float("nan")
    audio_lengths = torch.tensor([9, 1, 4, 9, 2, 9])
    full = {
        **x,
        "video_mask": video_mask,
        "audio_mask": audio_mask,
        "text_mask": text_mask,
        "audio_lengths": audio_lengths,
    }
    out = model.compute_loss(full)
    scale = model.scale()

    both = video_mask & audio_mask  # samples 0, 3, 4
    va = losses.info_nce(
        model.encode(V, x[V][both]), model.encode(A, x[A][both], audio_lengths[both]), scale
    )
    at_rows = audio_mask & text_mask  # samples 2 only -> skipped; video-text: sample 5 -> skipped
    assert int(at_rows.sum()) == 1 and int((video_mask & text_mask).sum()) == 1
    torch.testing.assert_close(out["loss_video_audio"], va.detach())
    torch.testing.assert_close(out["loss"].detach(), va.detach())
    assert out["loss_video_text"].item() == 0 and out["loss_audio_text"].item() == 0
    assert out["pairs"].item() == 1
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_absent_key_and_nothing_to_contrast() -> None:
    model = JointEmbedding(tiny())
    x = batch(4)
    out = model.compute_loss({V: x[V], T: x[T]})  # no audio key at all
    assert set(out) == {"loss", "loss_video_text", "pairs", "logit_scale"}
    manual = losses.info_nce(model.encode(V, x[V]), model.encode(T, x[T]), model.scale())
    torch.testing.assert_close(out["loss"], manual)
    lonely = model.compute_loss(
        {V: x[V], T: x[T], "text_mask": torch.tensor([True, False, False, False])}
    )
    assert lonely["loss"].item() == 0 and lonely["pairs"].item() == 0
    lonely["loss"].backward()  # still reaches every parameter
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="two or more"):
        model.compute_loss({V: x[V]})


def test_training_makes_retrieval_accurate() -> None:
    torch.manual_seed(0)
    n = 32
    latent = torch.randn(n, 4)  # a shared cause, seen through two different random maps
    video = (latent @ torch.randn(4, 6))[:, None, :] + 0.05 * torch.randn(n, 3, 6)  # (n, 3, 6)
    audio = latent @ torch.randn(4, 4) + 0.05 * torch.randn(n, 4)  # (n, 4)
    model = JointEmbedding(tiny(input_dims={"video": 6, "audio": 4}, width=16, hidden_dim=32))

    def accuracy() -> float:
        with torch.no_grad():
            sims = model.encode(V, video) @ model.encode(A, audio).t()  # (n, E) @ (E, n)
        return (sims.argmax(1) == torch.arange(n)).float().mean().item()

    before = accuracy()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        out = model.compute_loss({V: video, A: audio})
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    after = accuracy()
    assert before < 0.5
    assert after >= 0.9, (before, after)


def test_bad_inputs_give_clear_errors() -> None:
    model = JointEmbedding(tiny(input_dims={"video": 6, "audio": 4}))
    with pytest.raises(ValueError, match="no text head"):
        model.encode(T, torch.randn(2, 5))
    with pytest.raises(ValueError, match="video features must be"):
        model.encode(V, torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match="video_lengths"):
        model.encode(V, torch.randn(2, 3, 6), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="different batch sizes"):
        model.compute_loss({V: torch.randn(3, 6), A: torch.randn(2, 4)})
    with pytest.raises(ValueError, match="unknown modality"):
        JointEmbeddingConfig(input_dims={"smell": 3})
    with pytest.raises(ValueError, match="pooling"):
        tiny(pooling="max")

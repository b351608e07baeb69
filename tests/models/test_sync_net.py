"""SyncNet: shapes, the three objectives on known distances, and that training separates pairs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from xmodal.models.sync_net import OBJECTIVES, SyncNet, SyncNetConfig

M = 3  # a small search range keeps the tests fast


def _tiny(objective: str, **kw) -> SyncNet:
    cfg = SyncNetConfig(
        objective=objective,
        channels=4,
        hidden_dim=16,
        embed_dim=8,
        crop_size=16,
        max_offset=M,
        **kw,
    )
    return SyncNet(cfg)


def _batch(b: int = 2, n: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "video": torch.randint(0, 256, (b, n, 5, 16, 16), generator=g, dtype=torch.uint8),
        "audio": torch.randn(b, n + 2 * M, 1, 13, 20, generator=g),
    }


def test_config_checks():
    assert SyncNetConfig().n_candidates == 31
    assert SyncNetConfig(objective="syncnet", max_offset=5).n_candidates == 11
    for bad in (
        {"objective": "ctc"},
        {"crop_size": 20},
        {"n_candidates": 1},
        {"margin": 0.0},
        {"n_candidates": 40},
    ):
        with pytest.raises(ValueError):
            SyncNetConfig(**bad)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_shapes_and_segment_distances(objective):
    model = _tiny(objective).eval()
    batch = _batch()
    v = model.encode_video(batch["video"].flatten(0, 1))
    a = model.encode_audio(batch["audio"])
    assert v.shape == (8, 8) and a.shape == (2, 4 + 2 * M, 8)
    if objective == "avenet":
        torch.testing.assert_close(v.norm(dim=-1), torch.ones(8))
    d = model.segment_distances(batch["video"], batch["audio"])
    assert d.shape == (2, 4, 2 * M + 1)
    # row l, column k: video window l against audio window l + k (column M in sync)
    v = v.reshape(2, 4, 8)
    torch.testing.assert_close(d[1, 2, 5], (v[1, 2] - a[1, 2 + 5]).norm(), atol=1e-4, rtol=1e-4)
    out = model(batch["video"][:, 0], batch["audio"][:, :3])
    assert out.dists.shape == (2, 3) and out.audio.shape == (2, 3, 8)
    with pytest.raises(ValueError, match="needs 10 audio windows"):
        model.segment_distances(batch["video"], batch["audio"][:, :-1])


def _with_dists(model: SyncNet, dists: torch.Tensor) -> SyncNet:
    model.segment_distances = lambda video, audio: dists  # known distances
    return model


# (B=1, L=2, 2M+1=7): row 0 in sync (column 3 smallest), row 1 nearest at column 0
KNOWN = torch.tensor([[[2.0, 2.0, 2.0, 0.5, 2.0, 2.0, 2.0], [0.2, 3.0, 3.0, 1.0, 3.0, 3.0, 3.0]]])


def test_multiway_loss_is_cross_entropy_over_negative_distances():
    model = _with_dists(_tiny("multiway"), KNOWN)
    out = model.compute_loss(_batch())
    expected = F.cross_entropy(-KNOWN[0], torch.tensor([M, M]))
    torch.testing.assert_close(out["loss"], expected)
    assert out["acc"] == pytest.approx(0.5)
    assert out["pos_dist"] == pytest.approx(0.75)


def test_multiway_subset_keeps_the_in_sync_candidate():
    dists = torch.full((1, 2, 7), 5.0)
    dists[..., M] = 0.0
    model = _with_dists(_tiny("multiway", n_candidates=3), dists)
    out = model.compute_loss(_batch())
    expected = F.cross_entropy(-torch.tensor([[0.0, 5.0, 5.0]]), torch.tensor([0]))
    torch.testing.assert_close(out["loss"], expected)


def test_syncnet_loss_is_contrastive_with_margin():
    dists = torch.full((1, 2, 7), 0.25)  # every negative at 0.25 whatever is sampled
    dists[0, :, M] = torch.tensor([0.5, 1.0])
    model = _with_dists(_tiny("syncnet", margin=0.25), dists)  # 0.25 * sqrt(2 * 8) = 1
    out = model.compute_loss(_batch())
    # positives cost d^2, negatives max(1 - d, 0)^2; mean over the 4 pairs
    expected = (0.5**2 + 1.0**2 + 2 * 0.75**2) / 4
    assert out["loss"].item() == pytest.approx(expected)


def test_avenet_loss_is_softmax_on_a_distance_classifier():
    dists = torch.full((1, 2, 7), 1.5)
    dists[0, :, M] = torch.tensor([0.1, 0.3])
    model = _with_dists(_tiny("avenet"), dists)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.tensor([[1.0], [-1.0]]))  # far = no match
        model.classifier.bias.zero_()
    out = model.compute_loss(_batch())
    pair = torch.tensor([0.1, 0.3, 1.5, 1.5])
    logits = torch.stack([pair, -pair], dim=1)  # (4, 2)
    expected = F.cross_entropy(logits, torch.tensor([1, 1, 0, 0]))
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_training_separates_in_sync_from_shifted(objective):
    """A toy world where the audio energy follows the mouth brightness: a few steps of each
    objective make in-sync pairs nearer than shifted ones."""
    torch.manual_seed(0)
    model = _tiny(objective)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def batch() -> dict[str, torch.Tensor]:
        signal = torch.rand(8, 4 + 4 + 2 * M + 20)  # (B, time) a random "loudness" track
        video = torch.stack([signal[:, M + t : M + t + 5] for t in range(4)], 1)  # (B, 4, 5)
        video = (video[..., None, None] * 255).expand(-1, -1, -1, 16, 16).clone()
        audio = torch.stack([signal[:, t : t + 5] for t in range(4 + 2 * M)], 1)  # (B, 10, 5)
        audio = audio.repeat_interleave(4, -1)[:, :, None, None, :].expand(-1, -1, 1, 13, -1)
        return {"video": video, "audio": audio.clone()}

    for _ in range(40):
        loss = model.compute_loss(batch())["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        out = model.compute_loss(batch())
    assert out["pos_dist"] < out["neg_dist"]
    assert out["acc"] > 2 / 7  # chance is 1/7


def test_avenet_classifier_starts_as_a_threshold_at_distance_one():
    logits = _tiny("avenet").match_logits(torch.tensor([0.2, 1.0, 1.8]))
    p_match = logits.softmax(-1)[:, 1].detach()
    assert p_match[0] > 0.99 and p_match[1].item() == pytest.approx(0.5) and p_match[2] < 0.01

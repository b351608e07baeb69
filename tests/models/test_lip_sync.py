"""The lip-sync model: shapes, the weighted multi-way loss, export to NumPy, the training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xmodal.models.lip_sync import LipSync, LipSyncConfig


def _batch(n_video=6, n_audio=20, m=2, dv=5, da=7):
    rows = torch.arange(m, m + n_video)  # video windows with every candidate
    candidates = rows[:, None] - torch.arange(-m, m + 1)[None, :]  # (n, 2m+1), offset -m first
    return {
        "video": torch.randn(n_video, dv),
        "audio": torch.randn(n_audio, da),
        "candidates": candidates,
        "weight": torch.ones(n_video),
    }


def test_scores_are_dot_products_of_the_embeddings():
    model = LipSync(LipSyncConfig(video_dim=5, audio_dim=7, embed_dim=3, max_offset=2))
    b = _batch()
    with torch.no_grad():
        s = model.scores(b["video"], b["audio"], b["candidates"])
        v, a = model.encode_video(b["video"]), model.encode_audio(b["audio"])
    assert s.shape == (6, 5)
    assert float(s[1, 4]) == pytest.approx(float(v[1] @ a[b["candidates"][1, 4]]), rel=1e-5)


def test_loss_is_the_weighted_multiway_cross_entropy():
    model = LipSync(LipSyncConfig(video_dim=5, audio_dim=7, embed_dim=3, max_offset=2))
    b = _batch()
    out = model.compute_loss(b)
    logits = model.scores(b["video"], b["audio"], b["candidates"])
    expected = torch.nn.functional.cross_entropy(logits, torch.full((6,), 2))
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    b["weight"] = torch.tensor([1.0, 0, 0, 0, 0, 0])  # only the first window counts
    first = torch.nn.functional.cross_entropy(logits[:1], torch.tensor([2]))
    assert model.compute_loss(b)["loss"].item() == pytest.approx(first.item(), rel=1e-5)
    assert 0.0 <= out["accuracy"].item() <= 1.0


def test_export_matches_the_torch_embeddings():
    model = LipSync(LipSyncConfig(video_dim=5, audio_dim=7, embed_dim=3))
    w = model.export()
    x = np.random.default_rng(0).standard_normal((4, 5))
    expected = model.encode_video(torch.as_tensor(x, dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(x @ w["video_w"] + w["video_b"], expected, atol=1e-5)
    assert w["audio_w"].shape == (7, 3)


def test_config_checks():
    with pytest.raises(ValueError, match="embed_dim"):
        LipSyncConfig(embed_dim=0)

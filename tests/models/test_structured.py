"""The structured translator: streams that cannot see each other's factor, and composition."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xmodal.models.structured import StructuredTranslator, StructuredTranslatorConfig, streams
from xmodal.training.loop import TrainConfig, train
from xmodal.translate.fit import SequencePairs

P, GRID, T, TT, D = 4, 2, 4, 10, 6


def small(**kw) -> StructuredTranslatorConfig:
    base = dict(appearance_dim=P, map_dim=GRID * GRID, steps=T, target_steps=TT, target_dim=D,
                latent_dim=2, hidden_dim=32, decoder_dim=32)  # fmt: skip
    return StructuredTranslatorConfig(**{**base, **kw})


def toy(pairs: list[tuple[int, int]], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A 2 × 2 world: the object fixes the appearance columns (constant over time), the action
    moves the energy of a 2 × 2 position map left → right or right → left. The target's first
    half is the action's pattern, its second half the object's (a slotted phrase)."""
    rng = np.random.default_rng(seed)
    looks = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]])
    half = [0.5, 0.5, 0.5, 0.5]
    where = np.array([[[1, 0, 1, 0], half, [0, 1, 0, 1], [0, 1, 0, 1]],
                      [[0, 1, 0, 1], half, [1, 0, 1, 0], [1, 0, 1, 0]]])  # fmt: skip
    words = np.random.default_rng(99).uniform(0, 1, (2, 2, TT // 2, D))  # [factor][value]
    video, target = [], []
    for i in range(n):
        o, a = pairs[i % len(pairs)]
        app = np.repeat(looks[o][None], T, 0)  # (T, P)
        video.append(np.concatenate([app, where[a]], 1) + rng.normal(0, 0.05, (T, P + 4)))
        target.append(np.concatenate([words[1][a], words[0][o]], 0))  # action, then object
    return np.asarray(video, np.float32), np.asarray(target, np.float32)


def test_shapes_gate_rows_and_loss_terms() -> None:
    model = StructuredTranslator(small())
    x = torch.rand(5, T, P + 4)
    assert model(x).shape == (5, TT, D)
    g = model.slot_weights()
    assert g.shape == (TT, 2) and torch.allclose(g.sum(-1), torch.ones(TT))
    out = model.compute_loss({"source": x, "target": torch.rand(5, TT, D)}, beta=0.5)
    assert set(out) == {"loss", "l1", "kl", "kl_appearance", "kl_motion"}
    assert torch.isclose(out["kl"], out["kl_appearance"] + out["kl_motion"])
    per_element = out["kl"] / (TT * D)
    assert torch.isclose(out["loss"], out["l1"] + 0.5 * per_element, atol=1e-6)
    capped = model.compute_loss({"source": x, "target": torch.rand(5, TT, D)}, beta=1.0,
                                capacity=float(per_element) + 1.0)  # fmt: skip
    assert capped["loss"] > capped["l1"]


def test_each_stream_is_blind_to_the_other_factor() -> None:
    """The appearance group does not change when only the map moves; the motion group does not
    change when the appearance columns or a constant map change (what an object looks like)."""
    torch.manual_seed(0)
    model = StructuredTranslator(small()).eval()
    x = torch.rand(3, T, P + 4)
    moved = x.clone()
    moved[..., P:] = torch.rand(3, T, 4)
    q, q_moved = model.encode(x), model.encode(moved)
    assert torch.allclose(q["appearance"].mu, q_moved["appearance"].mu)
    assert not torch.allclose(q["motion"].mu, q_moved["motion"].mu)
    looks = x.clone()
    looks[..., :P] = torch.rand(3, 1, P)
    looks[..., P:] += 0.3  # the same motion over a brighter map: the centroid track is kept
    app, mot = streams(x, P)
    app2, mot2 = streams(looks, P)
    assert not torch.allclose(app, app2)
    assert torch.allclose(mot[:, : T * 4], mot2[:, : T * 4], atol=1e-6)  # map minus its mean


def test_composes_a_pair_it_never_saw(tmp_path) -> None:
    """Trained on three pairs of a 2 × 2 world, it says the fourth: the held-out output is
    nearest its own target among the four, in both halves."""
    seen = [(0, 0), (0, 1), (1, 0)]
    train_x, train_y = toy(seen, 192, seed=0)
    val_x, val_y = toy(seen, 24, seed=1)
    held_x, held_y = toy([(1, 1)], 8, seed=2)
    model = StructuredTranslator(small())
    torch.manual_seed(0)
    cfg = TrainConfig(max_steps=400, batch_size=32, lr=1e-2, eval_every=100, log_every=50)
    train(model, SequencePairs(source=train_x, target=train_y),
          SequencePairs(source=val_x, target=val_y), cfg, tmp_path, progress=False,
          hparams=lambda step, last: {"beta": 0.01})  # fmt: skip
    with torch.no_grad():
        pred = model.eval().generate(torch.from_numpy(held_x)).numpy()
    targets = np.stack([toy([p], 1, seed=3)[1][0] for p in [(0, 0), (0, 1), (1, 0), (1, 1)]])
    dist = ((pred[:, None] - targets[None]) ** 2).mean((2, 3))  # (8, 4)
    assert (dist.argmin(1) == 3).all(), dist
    assert np.abs(pred - held_y).mean() < 0.1


def test_bad_inputs_give_clear_errors() -> None:
    with pytest.raises(ValueError, match="map_dim must be a square"):
        StructuredTranslatorConfig(map_dim=15)
    with pytest.raises(ValueError, match="latent_dim must be >= 1"):
        StructuredTranslatorConfig(latent_dim=0)
    model = StructuredTranslator(small())
    with pytest.raises(ValueError, match=r"expected video of shape \(B, 4, 8\)"):
        model(torch.rand(2, T, 7))
    with pytest.raises(ValueError, match="lacks \\['target'\\]"):
        model.compute_loss({"source": torch.rand(2, T, 8)})
    with pytest.raises(ValueError, match="no slot attention"):
        StructuredTranslator(small(slots=False)).slot_weights()


def test_flow_columns_feed_the_motion_stream_only() -> None:
    """With ``flow_dim`` the last columns are flow: the motion stream carries every step of
    them, the appearance stream never sees them, and the model takes the wider input."""
    torch.manual_seed(0)
    x = torch.rand(3, T, P + 4 + 2)
    app, mot = streams(x, P, flow_dim=2)
    assert app.shape == (3, P) and mot.shape == (3, T * 4 + 2 * T + T * 2)
    assert torch.equal(mot[:, -T * 2 :], x[..., -2:].flatten(1))
    changed = x.clone()
    changed[..., -2:] = torch.rand(3, T, 2)
    app2, mot2 = streams(changed, P, flow_dim=2)
    assert torch.equal(app, app2) and torch.equal(mot[:, : -T * 2], mot2[:, : -T * 2])
    model = StructuredTranslator(small(flow_dim=2)).eval()
    q, q2 = model.encode(x), model.encode(changed)
    assert torch.allclose(q["appearance"].mu, q2["appearance"].mu)
    assert not torch.allclose(q["motion"].mu, q2["motion"].mu)
    with pytest.raises(ValueError, match=r"expected video of shape \(B, 4, 10\)"):
        model(torch.rand(2, T, P + 4))
    with pytest.raises(ValueError, match="flow_dim must be >= 0"):
        small(flow_dim=-1)


def test_without_the_motion_stream_only_appearance_is_encoded(tmp_path) -> None:
    """``motion=False`` (the ablation): one group, whatever the map does; trained on the toy
    world it says the object but cannot tell the two actions apart."""
    cfg = small(motion=False)
    model = StructuredTranslator(cfg)
    x = torch.rand(3, T, P + 4)
    moved = x.clone()
    moved[..., P:] = torch.rand(3, T, 4)
    assert set(model.encode(x)) == {"appearance"}
    assert torch.allclose(model(x), model(moved))
    out = model.compute_loss({"source": x, "target": torch.rand(3, TT, D)})
    assert set(out) == {"loss", "l1", "kl", "kl_appearance"}
    assert "groups=1x2" in repr(model)
    pairs = [(0, 0), (0, 1), (1, 0), (1, 1)]
    train_x, train_y = toy(pairs, 192, seed=0)
    torch.manual_seed(0)
    train(model, SequencePairs(source=train_x, target=train_y),
          SequencePairs(source=train_x[:24], target=train_y[:24]),
          TrainConfig(max_steps=300, batch_size=32, lr=1e-2, eval_every=100, log_every=50),
          tmp_path, progress=False, hparams=lambda step, last: {"beta": 0.01})  # fmt: skip
    with torch.no_grad():
        pred = model.eval().generate(torch.from_numpy(toy(pairs, 4, seed=5)[0])).numpy()
    # the object half (second) is said per object; the action half is the same for both actions
    assert np.abs(pred[0, TT // 2 :] - pred[2, TT // 2 :]).mean() > 0.1  # objects differ
    assert np.abs(pred[0, : TT // 2] - pred[1, : TT // 2]).mean() < 0.02  # actions do not


def test_the_style_group_reads_speech_and_decodes_at_its_prior_mean(tmp_path) -> None:
    """``style_dim``: a group read from the target speech only. Without a reference it is
    decoded at 0; on a toy world whose clips say their words at one of two onsets (a style the
    video cannot see), the model with a style group fits the targets and the one without cannot."""
    model = StructuredTranslator(small(style_dim=2))
    x, speech = torch.rand(3, T, P + 4), torch.rand(3, TT, D)
    q = model.encode(x, speech)
    assert set(q) == {"appearance", "motion", "style"} and q["style"].mu.shape == (3, 2)
    assert set(model.encode(x)) == {"appearance", "motion"}
    zero = {k: v.mu for k, v in model.encode(x).items()} | {"style": torch.zeros(3, 2)}
    assert torch.allclose(model(x), model.decode(zero))
    assert model.slot_weights(torch.rand(3, 2)).shape == (3, TT, 2)
    out = model.compute_loss({"source": x, "target": speech})
    assert {"kl_style", "kl_appearance", "kl_motion"} <= set(out)
    with pytest.raises(ValueError, match=r"expected speech of shape \(B, 10, 6\)"):
        model.style_of(torch.rand(3, TT + 1, D))
    with pytest.raises(ValueError, match="no style group"):
        StructuredTranslator(small()).style_of(speech)

    def late(y: np.ndarray, seed: int) -> np.ndarray:  # half the clips start 2 frames late
        shift = np.random.default_rng(seed).integers(0, 2, len(y)) * 2
        return np.stack([np.roll(t, int(s), axis=0) for t, s in zip(y, shift, strict=True)])

    pairs = [(0, 0), (0, 1), (1, 0), (1, 1)]
    train_x, train_y = toy(pairs, 192, seed=0)
    train_y = late(train_y, 1)
    fits = {}
    for style in (0, 2):
        torch.manual_seed(0)
        m = StructuredTranslator(small(style_dim=style))
        train(m, SequencePairs(source=train_x, target=train_y),
              SequencePairs(source=train_x[:32], target=train_y[:32]),
              TrainConfig(max_steps=400, batch_size=32, lr=1e-2, eval_every=100, log_every=50),
              tmp_path / f"style{style}", progress=False,
              hparams=lambda step, last: {"beta": 0.001})  # fmt: skip
        with torch.no_grad():
            m.eval()
            y = torch.from_numpy(train_y[:64])
            fits[style] = float(m.compute_loss({"source": torch.from_numpy(train_x[:64]),
                                                "target": y})["l1"])  # fmt: skip
    assert fits[2] < 0.25 * fits[0], fits

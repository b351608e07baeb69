"""The attention LSTM seq2seq: shapes, attention, scheduled sampling and a reverse task."""

from __future__ import annotations

import pytest
import torch

from xmodal.models.seq2seq import Seq2Seq, Seq2SeqConfig, Seq2SeqOutput


def tiny(**overrides) -> Seq2SeqConfig:
    return Seq2SeqConfig(**{**dict(source_dim=3, target_dim=2, hidden_dim=16), **overrides})


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_shapes_and_attention_rows(attention: str, bidirectional: bool) -> None:
    model = Seq2Seq(tiny(attention=attention, bidirectional=bidirectional, num_layers=2))
    source, target = torch.randn(4, 7, 3), torch.randn(4, 5, 2)
    out = model(source, target=target, teacher_forcing=0.5)
    assert isinstance(out, Seq2SeqOutput)
    assert out.predictions.shape == (4, 5, 2)
    assert out.attention.shape == (4, 5, 7)
    torch.testing.assert_close(out.attention.sum(-1), torch.ones(4, 5))
    assert model.generate(source, steps=9).shape == (4, 9, 2)
    res = model.compute_loss({"source": source, "target": target}, teacher_forcing=0.3)
    assert set(res) == {"loss", "mse", "cosine"}
    assert torch.isfinite(res["loss"]) and res["loss"].requires_grad


def test_padded_source_gets_no_attention() -> None:
    model = Seq2Seq(tiny())
    source = torch.randn(3, 6, 3)
    lengths = torch.tensor([6, 2, 4])
    out = model.generate(source, steps=4, source_lengths=lengths, return_attention=True)
    torch.testing.assert_close(out.attention.sum(-1), torch.ones(3, 4))
    assert out.attention[1, :, 2:].abs().max() == 0
    assert out.attention[2, :, 4:].abs().max() == 0
    # Padding content does not change the result.
    noisy = source.clone()
    noisy[1, 2:] = 100.0
    again = model.generate(noisy, steps=4, source_lengths=lengths)
    torch.testing.assert_close(again, out.predictions)


def test_generate_ignores_teacher_forcing_and_matches_free_running() -> None:
    model = Seq2Seq(tiny()).eval()
    source, target = torch.randn(4, 5, 3), torch.randn(4, 6, 2)
    free = model.generate(source, steps=6)
    torch.testing.assert_close(model(source, target=target, teacher_forcing=0.0).predictions, free)
    forced = model(source, target=target, teacher_forcing=1.0).predictions
    assert torch.allclose(forced[:, 0], free[:, 0])  # the first frame reads only the start frame
    assert not torch.allclose(forced[:, 1:], free[:, 1:])
    # The loss at teacher_forcing=0 is the MSE of free-running generation.
    res = model.compute_loss({"source": source, "target": target}, teacher_forcing=0.0)
    assert res["mse"].item() == pytest.approx(((free - target) ** 2).mean().item(), rel=1e-5)


def test_scheduled_sampling_mixes_truth_and_predictions() -> None:
    model = Seq2Seq(tiny()).eval()
    source, target = torch.randn(64, 4, 3), torch.randn(64, 6, 2)
    with torch.no_grad():
        free = model(source, target=target, teacher_forcing=0.0).predictions
        forced = model(source, target=target, teacher_forcing=1.0).predictions
        torch.manual_seed(3)
        mixed = model(source, target=target, teacher_forcing=0.5).predictions
    # Step 1 is decided by one Bernoulli draw per sample: it equals one of the two extremes.
    as_free = torch.isclose(mixed[:, 1], free[:, 1]).all(-1)
    as_forced = torch.isclose(mixed[:, 1], forced[:, 1]).all(-1)
    assert bool((as_free | as_forced).all())
    assert 10 < int(as_forced.sum()) < 54


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
def test_overfits_reverse_task(attention: str) -> None:
    torch.manual_seed(0)
    source = torch.randn(24, 5, 2)
    batch = {"source": source, "target": source.flip(1)}
    baseline = ((batch["target"] - batch["target"].mean((0, 1))) ** 2).mean().item()
    model = Seq2Seq(tiny(source_dim=2, target_dim=2, hidden_dim=32, attention=attention))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(250):
        res = model.compute_loss(batch, teacher_forcing=1.0)
        opt.zero_grad()
        res["loss"].backward()
        opt.step()
    model.eval()
    generated = model.generate(source, steps=5)
    free_mse = ((generated - batch["target"]) ** 2).mean().item()
    assert free_mse < 0.1 * baseline, (free_mse, baseline)  # measured <= 0.03x, seeds 0-3


def test_cosine_term_and_target_lengths() -> None:
    model = Seq2Seq(tiny(cosine_weight=0.5))
    source, target = torch.randn(3, 4, 3), torch.randn(3, 5, 2)
    res = model.compute_loss({"source": source, "target": target})
    torch.testing.assert_close(res["loss"].detach(), res["mse"] + 0.5 * res["cosine"])
    # Frames past target_lengths do not count: garbage there does not change the loss.
    lengths = torch.tensor([5, 2, 3])
    torch.manual_seed(0)
    a = model.compute_loss({"source": source, "target": target, "target_lengths": lengths})
    spoiled = target.clone()
    spoiled[1, 2:] = 1e3  # with teacher_forcing=1 a padded frame feeds only later padded steps
    spoiled[2, 3:] = -1e3
    b = model.compute_loss({"source": source, "target": spoiled, "target_lengths": lengths})
    torch.testing.assert_close(a["loss"], b["loss"])


def test_bad_inputs_give_clear_errors() -> None:
    model = Seq2Seq(tiny())
    with pytest.raises(ValueError, match="source must be"):
        model.generate(torch.randn(2, 4, 5), steps=3)
    with pytest.raises(ValueError, match="target must be"):
        model(torch.randn(2, 4, 3), target=torch.randn(2, 4, 7))
    with pytest.raises(ValueError, match="needs a target"):
        model(torch.randn(2, 4, 3), steps=3, teacher_forcing=0.5)
    with pytest.raises(ValueError, match="lacks \\['target'\\]"):
        model.compute_loss({"source": torch.randn(2, 4, 3)})
    with pytest.raises(ValueError, match="source_lengths"):
        model.generate(torch.randn(2, 4, 3), steps=2, source_lengths=torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="attention"):
        tiny(attention="dot")

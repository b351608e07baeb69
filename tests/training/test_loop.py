"""The one training loop: learning, hparams plumbing, validation, best weights, early stopping."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from tests.training._tiny import Blobs, TinyConfig, TinyVAE
from xmodal.schedules import ScheduleConfig, make_hparams
from xmodal.training.checkpoint import read_run_config
from xmodal.training.loop import TrainConfig, TrainResult, evaluate, train
from xmodal.types import Modality


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


def test_train_learns_and_writes_the_run_dir(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TinyVAE(TinyConfig())
    train_set, val_set = Blobs(64), Blobs(24, seed=1)
    config = TrainConfig(max_steps=80, batch_size=16, lr=1e-2, eval_every=40, log_every=20)
    before = evaluate(model, val_set, config, {"beta": 0.1})
    hparams = make_hparams(ScheduleConfig("linear", {"beta_max": 0.1, "warmup": 0.5}), 80)
    result = train(
        model, train_set, val_set, config, tmp_path / "run", hparams=hparams, progress=False,
        extra_config={"dataset": "blobs"},
    )  # fmt: skip
    assert result == TrainResult(
        steps=80, best_step=result.best_step, best_val_loss=result.best_val_loss,
        stopped_early=False, out_dir=tmp_path / "run",
    )  # fmt: skip
    assert result.best_step in (40, 80)
    assert result.best_val_loss < 0.5 * before["loss"]  # it learned
    after = evaluate(model, val_set, config, {"beta": 0.1})
    assert after["loss"] == pytest.approx(result.best_val_loss)  # restore_best: model = best
    rows = _rows(tmp_path / "run")
    assert [(r["step"], r["split"]) for r in rows] == [
        ("20", "train"), ("40", "train"), ("40", "val"), ("60", "train"), ("80", "train"),
        ("80", "val"),
    ]  # fmt: skip
    assert list(rows[0]) == ["step", "split", "loss", "recon", "kl", "beta"]
    # logged β is the mean of the schedule over steps 0..19: 0.1 * mean(s / 40)
    assert float(rows[0]["beta"]) == pytest.approx(0.1 * sum(range(20)) / 20 / 40)
    assert float(rows[4]["beta"]) == pytest.approx(0.1)
    assert min(float(r["loss"]) for r in rows if r["split"] == "val") == pytest.approx(
        result.best_val_loss
    )
    run = read_run_config(tmp_path / "run")
    assert run["model"] == "tiny-vae"
    assert run["config"] == {"dim": 6, "latent": 2, "hidden": 16, "dropout": 0.1}
    assert run["train"]["max_steps"] == 80 and run["extra"] == {"dataset": "blobs"}
    best = load_file(tmp_path / "run" / "best.safetensors")
    assert all(torch.equal(best[k], v) for k, v in model.state_dict().items())


@dataclass
class RecorderConfig:
    dim: int = 3


class Recorder(nn.Module):
    """Records the hyper-parameters and batches each compute_loss call receives."""

    model_name: ClassVar[str] = "recorder"

    def __init__(self, config: RecorderConfig) -> None:
        super().__init__()
        self.config = config
        self.w = nn.Parameter(torch.zeros(config.dim))
        self.calls: list[tuple[bool, dict[str, float], Tensor]] = []

    def compute_loss(self, batch: dict, **hparams: float) -> dict[str, Tensor]:
        x = batch[Modality.AUDIO]  # (B, dim)
        self.calls.append((self.training, dict(hparams), x.clone()))
        err = ((x - self.w) ** 2).sum(-1)  # (B,)
        return {"loss": err.mean(), "first": x[:, 0].mean()}


class Rows(torch.utils.data.Dataset):
    def __init__(self, n: int, dim: int = 3) -> None:
        self.x = torch.arange(n * dim, dtype=torch.float32).reshape(n, dim)  # (n, dim)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[Modality, Tensor]:
        return {Modality.AUDIO: self.x[i]}


def test_hparams_get_the_step_and_last_metrics(tmp_path: Path) -> None:
    model = Recorder(RecorderConfig())
    seen: list[tuple[int, dict[str, float]]] = []

    def hparams(step: int, last_metrics: dict[str, float]) -> dict[str, float]:
        seen.append((step, dict(last_metrics)))
        return {"beta": 0.5 * step, "capacity": 2.0}

    config = TrainConfig(max_steps=7, batch_size=3, eval_every=100, log_every=1)
    train(model, Rows(10), None, config, tmp_path, hparams=hparams, progress=False)
    train_calls = [c for c in model.calls if c[0]]
    assert [s for s, _ in seen] == list(range(7))
    assert [c[1] for c in train_calls] == [{"beta": 0.5 * s, "capacity": 2.0} for s in range(7)]
    assert seen[0][1] == {}
    logged = _rows(tmp_path)
    for step in range(1, 7):  # last_metrics at step s are the metrics logged for step s
        assert seen[step][1]["loss"] == pytest.approx(float(logged[step - 1]["loss"]))
        assert seen[step][1]["first"] == pytest.approx(float(logged[step - 1]["first"]))
        assert float(logged[step - 1]["beta"]) == 0.5 * (step - 1)
    # each epoch of 4 batches (3+3+3+1) visits every example once, in a fresh order
    epoch = torch.cat([c[2] for c in train_calls[:4]])
    assert sorted(epoch[:, 0].tolist()) == [3.0 * i for i in range(10)]
    second = torch.cat([c[2] for c in train_calls[4:7]])
    assert not torch.equal(second, epoch[: len(second)])


def test_evaluate_is_an_exact_weighted_mean() -> None:
    model = Recorder(RecorderConfig())
    config = TrainConfig(batch_size=2)
    out = evaluate(model, Rows(5), config, {})
    x = Rows(5).x
    assert out["loss"] == pytest.approx(float((x**2).sum(-1).mean()))
    assert out["first"] == pytest.approx(float(x[:, 0].mean()))  # batches 2 + 2 + 1
    assert all(not training for training, _, _ in model.calls)
    assert model.training  # mode restored


def test_evaluate_sampling_is_seeded_and_leaves_training_rng_alone() -> None:
    model = TinyVAE(TinyConfig())
    config = TrainConfig(batch_size=8)
    torch.manual_seed(5)
    a = evaluate(model, Blobs(16), config, {})
    after = torch.rand(3)
    torch.manual_seed(5)
    b = evaluate(model, Blobs(16), config, {})
    assert a == b and torch.equal(after, torch.rand(3))


class Drifter(nn.Module):
    """Fits y = x·w on train; the val set has y = −x·w, so val loss only rises."""

    model_name: ClassVar[str] = "drifter"

    def __init__(self) -> None:
        super().__init__()
        self.config = None
        self.v = nn.Parameter(torch.zeros(4))

    def compute_loss(self, batch: dict) -> dict[str, Tensor]:
        x, y = batch[Modality.VIDEO], batch[Modality.AUDIO]
        return {"loss": ((x @ self.v - y) ** 2).mean()}


class Linear(torch.utils.data.Dataset):
    def __init__(self, sign: float) -> None:
        self.x = torch.randn(32, 4, generator=torch.Generator().manual_seed(3))
        self.y = sign * self.x @ torch.tensor([1.0, -2.0, 0.5, 1.5])

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[Modality, Tensor]:
        return {Modality.VIDEO: self.x[i], Modality.AUDIO: self.y[i]}


def test_early_stopping_and_best_weights(tmp_path: Path) -> None:
    model = Drifter()
    config = TrainConfig(max_steps=500, batch_size=8, lr=0.01, eval_every=5, patience=2)
    result = train(model, Linear(1.0), Linear(-1.0), config, tmp_path, progress=False)
    assert result.stopped_early and result.steps == 15 and result.best_step == 5
    val = [r for r in _rows(tmp_path) if r["split"] == "val"]
    assert [int(r["step"]) for r in val] == [5, 10, 15]
    assert float(val[0]["loss"]) < float(val[1]["loss"]) < float(val[2]["loss"])
    assert result.best_val_loss == pytest.approx(float(val[0]["loss"]))
    best = load_file(tmp_path / "best.safetensors")["v"]
    last = load_file(tmp_path / "model.safetensors")["v"]
    assert torch.equal(model.v.detach(), best) and not torch.equal(best, last)
    # resuming an early-stopped run does not train further
    again = train(Drifter(), Linear(1.0), Linear(-1.0), config, tmp_path, progress=False)
    assert (again.steps, again.best_step, again.stopped_early) == (15, 5, True)


def test_without_val_set_best_is_last(tmp_path: Path) -> None:
    model = Drifter()
    config = TrainConfig(max_steps=6, batch_size=8, eval_every=4)
    result = train(model, Linear(1.0), None, config, tmp_path, progress=False)
    assert (result.steps, result.best_step, result.best_val_loss) == (6, 6, None)
    best, last = (load_file(tmp_path / f)["v"] for f in ("best.safetensors", "model.safetensors"))
    assert torch.equal(best, last) and torch.equal(last, model.v.detach())


class Broken(Drifter):
    def __init__(self, out: dict[str, Tensor]) -> None:
        super().__init__()
        self.out = out

    def compute_loss(self, batch: dict) -> dict[str, Tensor]:
        base = super().compute_loss(batch)["loss"]
        return {k: v + 0 * base for k, v in self.out.items()}


def test_bad_losses_and_inputs_fail_clearly(tmp_path: Path) -> None:
    config = TrainConfig(max_steps=3, batch_size=8)
    with pytest.raises(KeyError, match="must return a 'loss' entry; got \\['recon'\\]"):
        train(Broken({"recon": torch.tensor(1.0)}), Linear(1), None, config, tmp_path)
    with pytest.raises(ValueError, match="not scalar: \\['kl'\\]"):
        out = {"loss": torch.tensor(1.0), "kl": torch.ones(3)}
        train(Broken(out), Linear(1), None, config, tmp_path, resume=False)
    with pytest.raises(FloatingPointError, match="training loss is nan at step 1"):
        train(Broken({"loss": torch.tensor(math.nan)}), Linear(1), None, config, tmp_path,
              resume=False)  # fmt: skip
    with pytest.raises(KeyError, match="monitor 'recon' is not a validation entry"):
        cfg = TrainConfig(max_steps=2, batch_size=8, monitor="recon")
        train(Drifter(), Linear(1), Linear(1), cfg, tmp_path, resume=False)
    with pytest.raises(TypeError, match="has no compute_loss"):
        train(nn.Linear(2, 2), Linear(1), None, config, tmp_path)
    with pytest.raises(ValueError, match="train_set is empty"):
        train(Drifter(), Rows(0), None, config, tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_steps": 0}, "max_steps must be >= 1"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"lr": 0.0}, "lr must be > 0"),
        ({"grad_clip": -1.0}, "grad_clip must be >= 0"),
        ({"patience": -1}, "patience must be >= 0"),
        ({"device": "tpu"}, "device must be 'cpu', 'cuda' or 'cuda:N'"),
    ],
)
def test_train_config_checks(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)

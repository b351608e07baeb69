"""Checkpoints: exact resume, atomic writes, rebuilding a model from its run directory."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import xmodal.models
from tests.training._tiny import Blobs, TinyConfig, TinyVAE
from xmodal.schedules import ScheduleConfig, make_hparams
from xmodal.training import checkpoint as ckpt
from xmodal.training.loop import TrainConfig, train

REPO = Path(__file__).resolve().parents[2]


def _run(out_dir: Path, legs: list[int], eval_every: int = 5) -> TinyVAE:
    """Train TinyVAE to 20 steps in one or more legs (each a fresh process state and model)."""
    for max_steps in legs:
        torch.manual_seed(0)  # same initial weights; a resumed leg overwrites them anyway
        model = TinyVAE(TinyConfig())
        config = TrainConfig(max_steps=max_steps, batch_size=4, eval_every=eval_every, log_every=1)
        schedule = ScheduleConfig("pi_controller", {"target_kl": 0.1, "kp": 0.5, "ki": 0.05})
        train(model, Blobs(18), Blobs(7, seed=1), config, out_dir,
              hparams=make_hparams(schedule, 20), progress=False)  # fmt: skip
        torch.manual_seed(1234)  # disturb the global RNG between legs: resume must restore it
    return model


@pytest.mark.parametrize("stop", [10, 7])
def test_resume_is_exact(tmp_path: Path, stop: int) -> None:
    # dropout, reparameterisation noise, a shuffled 18-example set in batches of 4 (epochs of 5
    # steps) and a PI controller fed by the observed KL: all must continue exactly
    _run(tmp_path / "once", [20])
    _run(tmp_path / "twice", [stop, 20])
    once, twice = (ckpt.load_checkpoint(tmp_path / d) for d in ("once", "twice"))
    assert once["step"] == twice["step"] == 20
    a = load_file(tmp_path / "once" / "model.safetensors")
    b = load_file(tmp_path / "twice" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert once["hparams_state"] == twice["hparams_state"]
    assert once["hparams_state"]["beta"] > 0  # the controller did move
    rows = [
        [r for r in (tmp_path / d / "metrics.csv").read_text().splitlines() if ",train," in r]
        for d in ("once", "twice")
    ]
    assert len(rows[0]) == 20 and rows[0] == rows[1]  # no duplicated or missing steps


def test_resume_continues_from_the_saved_step(tmp_path: Path) -> None:
    _run(tmp_path, [10])
    steps = []
    model = TinyVAE(TinyConfig())
    config = TrainConfig(max_steps=12, batch_size=4, eval_every=5)

    def hparams(step: int, last_metrics: dict[str, float]) -> dict[str, float]:
        steps.append(step)
        return {}

    result = train(model, Blobs(18), None, config, tmp_path, hparams=hparams, progress=False)
    assert steps == [10, 11] and result.steps == 12
    # resume=False starts over from step 0
    steps.clear()
    train(model, Blobs(18), None, config, tmp_path, hparams=hparams, resume=False, progress=False)
    assert steps == list(range(12))


def test_kill_mid_write_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    _run(tmp_path, [10])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    # a process that starts writing a new checkpoint and is SIGKILLed half-way through state.pt
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        import torch
        sys.path.insert(0, {str(REPO)!r})
        from tests.training._tiny import TinyConfig, TinyVAE
        from xmodal.training import checkpoint as ckpt

        def dying_save(obj, f, *args, **kwargs):
            with open(f, "wb") as out:
                out.write(b"PK half a checkpoint")
                out.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        torch.save = dying_save
        model = TinyVAE(TinyConfig())
        opt = torch.optim.AdamW(model.parameters())
        ckpt.save_checkpoint({str(tmp_path)!r}, model, opt, {{"step": 99}})
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()
    # the new weights file was already renamed into place; state.pt (the resume point) was not
    assert (tmp_path / "state.pt").read_bytes() == before["state.pt"]
    assert ckpt.load_checkpoint(tmp_path)["step"] == 10
    leftovers = [p.name for p in tmp_path.iterdir() if p.name not in before]
    assert len(leftovers) == 1 and leftovers[0].startswith(".state.pt.")  # only a temp file
    # and the run still resumes from step 10, finishes, and sweeps the stale temp file away
    model = TinyVAE(TinyConfig())
    config = TrainConfig(max_steps=12, batch_size=4, eval_every=5)
    assert train(model, Blobs(18), None, config, tmp_path, progress=False).steps == 12
    assert not list(tmp_path.glob(".*"))


def test_load_model_and_run_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trained = _run(tmp_path, [10])  # restore_best: holds best.safetensors' weights
    run = ckpt.read_run_config(tmp_path)
    assert run["model"] == "tiny-vae" and run["train"]["max_steps"] == 10
    best = ckpt.load_model(tmp_path, "best", model_cls=TinyVAE)
    assert isinstance(best, TinyVAE) and not best.training
    assert best.config == TinyConfig()
    assert all(torch.equal(v, trained.state_dict()[k]) for k, v in best.state_dict().items())
    last = ckpt.load_model(tmp_path, "last", model_cls=TinyVAE)
    saved = load_file(tmp_path / "model.safetensors")
    assert all(torch.equal(v, saved[k]) for k, v in last.state_dict().items())

    # without model_cls, the registry in xmodal.models rebuilds it from config.json
    calls = []

    def build_model(name: str, config: dict) -> nn.Module:
        calls.append((name, config))
        return TinyVAE(TinyConfig(**config))

    monkeypatch.setattr(xmodal.models, "build_model", build_model, raising=False)
    via_registry = ckpt.load_model(tmp_path, "best")
    assert calls == [("tiny-vae", {"dim": 6, "latent": 2, "hidden": 16, "dropout": 0.1})]
    assert all(torch.equal(v, best.state_dict()[k]) for k, v in via_registry.state_dict().items())

    with pytest.raises(ValueError, match="which must be 'best' or 'last'"):
        ckpt.load_model(tmp_path, "first", model_cls=TinyVAE)
    with pytest.raises(FileNotFoundError, match="not a training run"):
        ckpt.load_model(tmp_path / "nowhere", model_cls=TinyVAE)
    (tmp_path / "best.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="try which='last'"):
        ckpt.load_model(tmp_path, "best", model_cls=TinyVAE)


def test_mismatched_checkpoints_fail_clearly(tmp_path: Path) -> None:
    _run(tmp_path, [5])
    bigger = TinyVAE(TinyConfig(hidden=32))
    with pytest.raises(ValueError, match=r"state\.pt: the checkpoint does not fit TinyVAE"):
        ckpt.load_checkpoint(tmp_path, bigger)
    with pytest.raises(ValueError, match=r"model\.safetensors: weights do not fit TinyVAE"):
        ckpt.load_weights(bigger, tmp_path / "model.safetensors")
    (tmp_path / "state.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"state\.pt: not a readable xmodal checkpoint"):
        ckpt.load_checkpoint(tmp_path)
    assert ckpt.load_checkpoint(tmp_path / "empty") is None


def test_rng_state_round_trip() -> None:
    import random

    import numpy as np

    state = ckpt.get_rng_state()
    first = (random.random(), np.random.rand(), torch.rand(2))
    ckpt.set_rng_state(state)
    again = (random.random(), np.random.rand(), torch.rand(2))
    assert first[:2] == again[:2] and torch.equal(first[2], again[2])

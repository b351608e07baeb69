"""The one training loop every xmodal model uses.

The loop knows one thing about a model: ``compute_loss(batch, **hparams) -> dict[str, Tensor]``,
whose ``"loss"`` entry is optimised and whose other entries are logged. Hyper-parameters that
change with the step (β, capacity, teacher forcing) come from ``hparams(step, last_metrics)``,
e.g. :func:`xmodal.schedules.make_hparams`. Plain PyTorch: AdamW, gradient clipping, a seeded
data order per epoch, validation every ``eval_every`` steps, best weights by a validation metric,
early stopping, exact resume from ``out_dir``, and DDP under ``torchrun`` with no code changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from xmodal.training import checkpoint as ckpt
from xmodal.training.distributed import (
    DistInfo,
    all_gather_objects,
    barrier,
    init_distributed,
    reduce_sums,
    shard_loader,
)
from xmodal.utils import seed_everything

HParams = Callable[[int, Mapping[str, float]], Mapping[str, float]]

__all__ = ["HParams", "TrainConfig", "TrainResult", "evaluate", "train"]


@dataclass
class TrainConfig:
    """How to train (the model's own config lives on the model)."""

    max_steps: int = 1000  # optimiser steps in all; a resumed run continues up to this
    batch_size: int = 32  # examples per step and process
    lr: float = 1e-3  # AdamW learning rate
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping
    eval_every: int = 100  # validate and checkpoint every this many steps (and at the end)
    log_every: int = 10  # write mean training metrics every this many steps
    patience: int = 0  # evaluations without improvement before stopping; 0 never stops early
    seed: int = 0  # seeds data order, dropout and sampling (not the model's initialisation)
    num_workers: int = 0  # DataLoader worker processes
    device: str = "cpu"  # "cpu", "cuda" or "cuda:N" (under torchrun: cuda:LOCAL_RANK)
    monitor: str = "loss"  # validation entry (lower is better) for best weights and patience
    ddp_find_unused: bool = False  # DDP: set for models whose loss skips some parameters

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "eval_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        for name in ("weight_decay", "grad_clip", "patience", "num_workers"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")


@dataclass
class TrainResult:
    """What :func:`train` did."""

    steps: int  # optimiser steps done in all (including those before a resume)
    best_step: int  # step of the best validation metric (the last step without a val set)
    best_val_loss: float | None  # best value of config.monitor; None without a val set
    stopped_early: bool  # patience ran out before max_steps
    out_dir: Path  # the run directory (config.json, weights, state.pt, metrics.csv)


class _ComputeLoss(nn.Module):
    """Routes ``compute_loss`` through ``forward`` so DistributedDataParallel sees the call."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Any, hparams: Mapping[str, float]) -> dict[str, Tensor]:
        return self.model.compute_loss(batch, **hparams)


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _batch_len(batch: Any) -> int:
    """Examples in a batch: the first dimension of its first tensor."""
    if isinstance(batch, Tensor):
        return len(batch)
    values = batch.values() if isinstance(batch, Mapping) else batch
    return next((len(v) for v in values if isinstance(v, Tensor) and v.ndim > 0), 1)


def _scalars(out: Mapping[str, Tensor]) -> dict[str, float]:
    if "loss" not in out:
        raise KeyError(f"compute_loss must return a 'loss' entry; got {sorted(out)}")
    bad = [k for k, v in out.items() if torch.as_tensor(v).numel() != 1]
    if bad:
        raise ValueError(f"compute_loss entries must be scalars; not scalar: {bad}")
    return {k: float(torch.as_tensor(v).detach()) for k, v in out.items()}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    config: TrainConfig,
    hparams: Mapping[str, float],
    *,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    info: DistInfo | None = None,
) -> dict[str, float]:
    """Mean of each ``compute_loss`` entry over ``dataset`` (weighted by batch size).

    Runs in eval mode under ``torch.no_grad``, with the global RNG forked and seeded by
    ``config.seed`` (any sampling the model does is the same at every evaluation, and the
    training random stream is untouched); sums are reduced over all ranks.
    """
    info = info or DistInfo()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    count = 0
    loader = shard_loader(
        dataset,
        config.batch_size,
        info,
        seed=config.seed,
        shuffle=False,
        num_workers=config.num_workers,
        collate_fn=collate_fn,
    )
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        for batch in loader:
            n = _batch_len(batch)
            out = model.compute_loss(_to_device(batch, device), **hparams)
            for key, value in _scalars(out).items():
                sums[key] = sums.get(key, 0.0) + value * n
            count += n
    model.train(was_training)
    keys = sorted({k for ks in all_gather_objects(sorted(sums), info) for k in ks})
    totals = reduce_sums({**{k: sums.get(k, 0.0) for k in keys}, "__n": count}, info, device)
    if totals["__n"] == 0:
        raise ValueError("the validation set is empty")
    return {k: totals[k] / totals["__n"] for k in keys}


def train(
    model: nn.Module,
    train_set: Dataset,
    val_set: Dataset | None,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    hparams: HParams | None = None,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    resume: bool = True,
    progress: bool = True,
    extra_config: dict[str, Any] | None = None,
    restore_best: bool = True,
) -> TrainResult:
    """Train ``model`` with AdamW on ``train_set``, validating on ``val_set``.

    Every ``eval_every`` steps and at the end: validate, keep the best weights by
    ``config.monitor``, checkpoint, and stop after ``patience`` evaluations without improvement.
    Under ``torchrun`` every process trains its shard through DistributedDataParallel; only
    rank 0 writes files and shows progress.

    Args:
        model: has ``compute_loss(batch, **hparams) -> dict[str, Tensor]``; its ``model_name``
            and dataclass ``config`` go to ``config.json`` for :func:`ckpt.load_model`.
        train_set: map-style dataset; the DataLoader collates its items into ``batch``.
        val_set: validation dataset, or ``None`` (no validation: best = last).
        config: the training settings.
        out_dir: the run directory (created).
        hparams: ``hparams(step, last_metrics) -> {name: value}``, merged into every
            ``compute_loss`` call. ``step`` counts from 0; ``last_metrics`` are the previous
            step's entries averaged over ranks (empty at step 0). An ``hparams`` object with
            ``state_dict``/``load_state_dict`` is checkpointed with the run.
        collate_fn: DataLoader collate function (default: torch's default collate).
        resume: continue from ``out_dir``'s checkpoint if it has one (exactly: same weights as an
            uninterrupted run); ``False`` deletes its checkpoint and metrics and starts over.
        progress: show a tqdm bar (rank 0).
        extra_config: stored under ``"extra"`` in ``config.json`` (e.g. the dataset used).
        restore_best: on return ``model`` holds the best weights (``model.safetensors`` always
            holds the last, ``best.safetensors`` the best).
    """
    from tqdm import tqdm

    if not callable(getattr(model, "compute_loss", None)):
        raise TypeError(f"{type(model).__name__} has no compute_loss(batch, **hparams) method")
    if len(train_set) == 0:
        raise ValueError("train_set is empty")
    out_dir = Path(out_dir)
    info = init_distributed(config.device)
    cuda_rank = config.device.startswith("cuda") and info.distributed
    device = torch.device(f"cuda:{info.local_rank}" if cuda_rank else config.device)
    hparams = hparams if hparams is not None else (lambda step, last_metrics: {})
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    seed_everything(config.seed + info.rank)
    n_train = len(train_set)
    state = resume and ckpt.resume_training(
        out_dir, model, opt, hparams, info, seed=config.seed, n_train=n_train, map_location=device
    )
    state = state or {
        "step": 0,
        "best_step": 0,
        "best": math.inf,
        "bad_evals": 0,
        "stopped_early": False,
        "last_metrics": {},
        "n_train": n_train,
    }
    step, last_metrics = state["step"], dict(state["last_metrics"])
    if info.is_main:
        ckpt.remove_stale_temp_files(out_dir)
        if not resume:
            for name in (ckpt.STATE_FILE, ckpt.LAST_WEIGHTS, ckpt.BEST_WEIGHTS, ckpt.METRICS_FILE):
                (out_dir / name).unlink(missing_ok=True)
        ckpt.write_run_config(out_dir, model, config, extra_config)
    runner: nn.Module = _ComputeLoss(model)
    if info.distributed:
        ids = [device.index] if device.type == "cuda" else None
        runner = nn.parallel.DistributedDataParallel(
            runner, device_ids=ids, find_unused_parameters=config.ddp_find_unused
        )
    best_weights: dict[str, Tensor] | None = None
    steps_per_epoch = math.ceil(math.ceil(n_train / info.world_size) / config.batch_size)
    show = progress and info.is_main
    sums: dict[str, float] = {}  # running sums for the next metrics row
    window = 0
    hp: dict[str, float] = {}
    model.train()
    with (
        ckpt.MetricsLog(out_dir, info.is_main, step) as log,
        tqdm(total=config.max_steps, initial=step, desc="train", disable=not show) as pbar,
    ):
        while step < config.max_steps and not state["stopped_early"]:
            epoch, skip = divmod(step, steps_per_epoch)
            loader = shard_loader(
                train_set,
                config.batch_size,
                info,
                seed=config.seed,
                shuffle=True,
                epoch=epoch,
                skip_batches=skip,
                num_workers=config.num_workers,
                collate_fn=collate_fn,
            )
            for batch in loader:
                hp = {k: float(v) for k, v in hparams(step, last_metrics).items()}
                last_metrics = _optimise(runner, opt, _to_device(batch, device), hp, config, info)
                step += 1
                if not math.isfinite(last_metrics["loss"]):
                    raise FloatingPointError(
                        f"training loss is {last_metrics['loss']} at step {step}"
                    )
                window += 1
                for key, value in {**last_metrics, **hp}.items():
                    sums[key] = sums.get(key, 0.0) + value
                pbar.update(1)
                if step % config.log_every == 0:  # means over the steps since the last row
                    log.write(step, "train", {k: v / window for k, v in sums.items()})
                    pbar.set_postfix(loss=f"{sums['loss'] / window:.4g}", refresh=False)
                    sums, window = {}, 0
                if step % config.eval_every == 0 or step == config.max_steps:
                    if val_set is not None:
                        val = evaluate(model, val_set, config, hp, collate_fn=collate_fn, info=info)
                        log.write(step, "val", val)
                        pbar.set_postfix(val=f"{val.get(config.monitor, math.nan):.4g}")
                        if _improved(val, state, step, config):
                            best_weights = {k: v.clone() for k, v in model.state_dict().items()}
                            if info.is_main:
                                meta = {"step": str(step)}
                                ckpt.save_weights(out_dir / ckpt.BEST_WEIGHTS, model, meta)
                    state.update(step=step, last_metrics=last_metrics)
                    ckpt.save_training(out_dir, model, opt, hparams, state, info)
                if step >= config.max_steps or state["stopped_early"]:
                    break
    if val_set is None:
        state["best_step"] = step
        if info.is_main and step > 0:
            ckpt.save_weights(out_dir / ckpt.BEST_WEIGHTS, model, {"step": str(step)})
    elif restore_best and state["best_step"] != step:
        if best_weights is not None:
            model.load_state_dict(best_weights)
        elif (out_dir / ckpt.BEST_WEIGHTS).is_file():
            ckpt.load_weights(model, out_dir / ckpt.BEST_WEIGHTS)
    barrier(info)
    best = None if val_set is None else state["best"]
    return TrainResult(
        steps=step,
        best_step=state["best_step"],
        best_val_loss=best,
        stopped_early=state["stopped_early"],
        out_dir=out_dir,
    )


def _optimise(
    runner: nn.Module,
    opt: torch.optim.Optimizer,
    batch: Any,
    hp: Mapping[str, float],
    config: TrainConfig,
    info: DistInfo,
) -> dict[str, float]:
    """One AdamW step on ``batch``; returns the loss entries averaged over ranks."""
    out = runner(batch, hp)
    metrics = _scalars(out)
    opt.zero_grad(set_to_none=True)
    out["loss"].backward()
    if config.grad_clip > 0:
        params = [p for group in opt.param_groups for p in group["params"]]
        nn.utils.clip_grad_norm_(params, config.grad_clip)
    opt.step()
    device = out["loss"].device
    return {k: v / info.world_size for k, v in reduce_sums(metrics, info, device).items()}


def _improved(val: Mapping[str, float], state: dict[str, Any], step: int, cfg: TrainConfig) -> bool:
    """Update best / patience counters in ``state``; True if ``val`` is a new best."""
    if cfg.monitor not in val:
        raise KeyError(f"monitor {cfg.monitor!r} is not a validation entry; got {sorted(val)}")
    if val[cfg.monitor] < state["best"]:
        state.update(best=val[cfg.monitor], best_step=step, bad_evals=0)
        return True
    state["bad_evals"] += 1
    if cfg.patience and state["bad_evals"] >= cfg.patience:
        state["stopped_early"] = True
    return False

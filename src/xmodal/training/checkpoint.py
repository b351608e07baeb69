"""A training run's directory: config, weights, the resumable state and the metrics log.

::

    run_dir/
      config.json          {"model": model_name, "config": {...}, "train": {...}, "extra": {...}}
      model.safetensors    the last weights
      best.safetensors     the weights with the best validation metric
      state.pt             everything a resume needs: step, weights, optimizer, RNG states (one per
                           rank), schedule state, counters (one file, so it is atomic as a whole)
      metrics.csv          step, split, each loss entry, each hyper-parameter

Every file is written through :func:`xmodal.utils.atomic_path` (temp file, then rename), so a
process killed mid-write leaves the previous version intact. Only rank 0 calls the writers.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import random
import typing
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from xmodal.config import from_dict, to_dict
from xmodal.training.distributed import DistInfo, all_gather_objects
from xmodal.utils import atomic_path, read_json, seed_everything, write_json

__all__ = [
    "BEST_WEIGHTS",
    "CONFIG_FILE",
    "LAST_WEIGHTS",
    "METRICS_FILE",
    "STATE_FILE",
    "MetricsLog",
    "get_rng_state",
    "load_checkpoint",
    "load_model",
    "load_weights",
    "read_run_config",
    "remove_stale_temp_files",
    "resume_training",
    "save_checkpoint",
    "save_training",
    "save_weights",
    "set_rng_state",
    "write_run_config",
]

CONFIG_FILE = "config.json"
LAST_WEIGHTS = "model.safetensors"
BEST_WEIGHTS = "best.safetensors"
STATE_FILE = "state.pt"
METRICS_FILE = "metrics.csv"
_STATE_FORMAT = 1


def _model_config(model: nn.Module) -> Any:
    cfg = getattr(model, "config", None)
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return to_dict(cfg)
    return dict(cfg) if isinstance(cfg, Mapping) else None


def write_run_config(
    run_dir: str | os.PathLike[str],
    model: nn.Module,
    train_config: Any = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write ``config.json``: the model's registry name and config, the train config, extras."""
    write_json(
        Path(run_dir) / CONFIG_FILE,
        {
            "model": getattr(model, "model_name", type(model).__name__),
            "config": _model_config(model),
            "train": None if train_config is None else to_dict(train_config),
            "extra": dict(extra) if extra else {},
        },
    )


def remove_stale_temp_files(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Delete temp files a killed writer left beside the run's files (``.state.pt.*`` etc.).

    Returns:
        The paths removed.
    """
    names = (CONFIG_FILE, LAST_WEIGHTS, BEST_WEIGHTS, STATE_FILE, METRICS_FILE)
    stale = [p for name in names for p in Path(run_dir).glob(f".{name}.*") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def read_run_config(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``run_dir/config.json`` (keys ``model``, ``config``, ``train``, ``extra``)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a training run (no {CONFIG_FILE})")
    return read_json(path)


def save_weights(
    path: str | os.PathLike[str], model: nn.Module, metadata: Mapping[str, str] | None = None
) -> None:
    """Write ``model``'s weights as safetensors, atomically (tied weights are stored once)."""
    from safetensors.torch import save_model

    with atomic_path(path) as tmp:
        save_model(model, str(tmp), metadata=dict(metadata or {}))


def load_weights(model: nn.Module, path: str | os.PathLike[str]) -> nn.Module:
    """Load safetensors weights into ``model`` (strict: every key must match)."""
    from safetensors.torch import load_model as st_load_model

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        st_load_model(model, str(path), strict=True, device=str(device))
    except RuntimeError as exc:
        raise ValueError(f"{path}: weights do not fit {type(model).__name__}: {exc}") from None
    return model


# ----------------------------------------------------------------------------- RNG states


def get_rng_state() -> dict[str, Any]:
    """This process's Python, NumPy and torch (CPU and CUDA) generator states."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(
        (
            n["name"],
            n["keys"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------- checkpoints


def save_checkpoint(
    run_dir: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: Mapping[str, Any],
) -> None:
    """Write ``model.safetensors`` and the resumable ``state.pt`` (rank 0 only).

    ``state.pt`` holds the weights too, so the resume point is a single atomic file: a kill
    between the two writes cannot pair new weights with an old optimizer state.

    Args:
        run_dir: the run directory.
        model: the (unwrapped) model.
        optimizer: its optimizer.
        state: loop counters and anything else to restore (``step`` required; tensors, numbers,
            strings, lists and dicts only).
    """
    run_dir = Path(run_dir)
    step = int(state["step"])
    name = getattr(model, "model_name", type(model).__name__)
    save_weights(run_dir / LAST_WEIGHTS, model, {"model": name, "step": str(step)})
    payload = {
        **state,
        "format": _STATE_FORMAT,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
    }
    with atomic_path(run_dir / STATE_FILE) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(
    run_dir: str | os.PathLike[str],
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any] | None:
    """Read ``state.pt``; load its weights and optimizer state into the given objects.

    Returns:
        The saved state (``step`` and the loop's counters, without weights and optimizer), or
        ``None`` when ``run_dir`` holds no checkpoint.
    """
    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a foreign or corrupt file
        raise ValueError(f"{path}: not a readable xmodal checkpoint: {exc}") from None
    if payload.get("format") != _STATE_FORMAT:
        raise ValueError(f"{path}: unsupported checkpoint format {payload.get('format')!r}")
    weights, opt_state = payload.pop("model"), payload.pop("optimizer")
    if model is not None:
        try:
            model.load_state_dict(weights)
        except RuntimeError as exc:
            raise ValueError(
                f"{path}: the checkpoint does not fit {type(model).__name__} (a different model "
                f"config?): {exc}"
            ) from None
    if optimizer is not None:
        optimizer.load_state_dict(opt_state)
    return payload


def _config_class(model_cls: type) -> type | None:
    """The dataclass ``model_cls`` is built from: its ``__init__``'s first parameter's type."""
    import inspect

    hints = typing.get_type_hints(model_cls.__init__)
    params = [p for p in inspect.signature(model_cls.__init__).parameters if p != "self"]
    for name in ("config", *params[:1]):
        tp = hints.get(name)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return tp
    return None


def load_model(
    run_dir: str | os.PathLike[str],
    which: Literal["best", "last"] = "best",
    model_cls: type[nn.Module] | None = None,
    map_location: str | torch.device = "cpu",
) -> nn.Module:
    """Rebuild a trained model from its run directory, in eval mode.

    Args:
        run_dir: a directory written by :func:`xmodal.training.loop.train`.
        which: ``"best"`` (best validation metric) or ``"last"`` weights.
        model_cls: build this class from ``config.json``'s config (``model_cls(config)``)
            instead of looking the model name up in ``xmodal.models``' registry.
        map_location: the device to put the model on.
    """
    if which not in ("best", "last"):
        raise ValueError(f"which must be 'best' or 'last', got {which!r}")
    run_dir = Path(run_dir)
    info = read_run_config(run_dir)
    raw = info.get("config")
    if model_cls is None:
        from xmodal.models import build_model

        model = build_model(info["model"], raw)
    else:
        cfg_cls = _config_class(model_cls)
        model = model_cls(from_dict(cfg_cls, raw) if cfg_cls and raw is not None else raw)
    path = run_dir / (BEST_WEIGHTS if which == "best" else LAST_WEIGHTS)
    if not path.is_file():
        hint = " (no validation has finished yet; try which='last')" if which == "best" else ""
        raise FileNotFoundError(f"{path}: weights file not found{hint}")
    model.to(map_location)
    load_weights(model, path)
    return model.eval()


def save_training(
    run_dir: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    hparams: Any,
    state: Mapping[str, Any],
    info: DistInfo,
) -> None:
    """The training loop's checkpoint: ``state`` plus every rank's RNG state and the schedule's
    state (``hparams.state_dict()`` when it has one). Collective; rank 0 writes."""
    rng = all_gather_objects(get_rng_state(), info)
    if info.is_main:
        hp_state = hparams.state_dict() if hasattr(hparams, "state_dict") else None
        save_checkpoint(run_dir, model, optimizer, {**state, "rng": rng, "hparams_state": hp_state})


def resume_training(
    run_dir: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    hparams: Any,
    info: DistInfo,
    *,
    seed: int,
    n_train: int,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any] | None:
    """Undo :func:`save_training`: weights, optimizer, this rank's RNG state, schedule state.

    Returns:
        The loop's saved state, or ``None`` when ``run_dir`` has no checkpoint.
    """
    state = load_checkpoint(run_dir, model, optimizer, map_location=map_location)
    if state is None:
        return None
    if len(state["rng"]) == info.world_size:
        set_rng_state(state["rng"][info.rank])
    else:
        warnings.warn(
            f"{run_dir}: checkpoint written by {len(state['rng'])} process(es), resumed by "
            f"{info.world_size}; random streams are re-seeded, so the run will not match an "
            "uninterrupted one",
            stacklevel=2,
        )
        seed_everything(seed + info.rank + state["step"])
    if state.get("n_train") != n_train:
        warnings.warn(
            f"{run_dir}: the training set had {state.get('n_train')} examples, now {n_train}; "
            "the data order will differ from an uninterrupted run",
            stacklevel=2,
        )
    if state["hparams_state"] is not None and hasattr(hparams, "load_state_dict"):
        hparams.load_state_dict(state["hparams_state"])
    return state


# ----------------------------------------------------------------------------- metrics log


class MetricsLog:
    """Rows of ``step, split, <metric>...`` appended to ``metrics.csv`` (and TensorBoard when
    ``torch.utils.tensorboard`` imports). A no-op unless ``enabled`` (rank 0)."""

    def __init__(self, run_dir: Path, enabled: bool, start_step: int) -> None:
        self.path = run_dir / METRICS_FILE
        self.enabled = enabled
        self.columns: list[str] = []
        self.tb = None
        if not enabled:
            return
        if self.path.is_file():  # resume: drop rows logged after the checkpoint
            with self.path.open(newline="") as f:
                reader = csv.DictReader(f)
                self.columns = list(reader.fieldnames or [])
                rows = [r for r in reader if r.get("step", "").isdigit()]
            self._rewrite([r for r in rows if int(r["step"]) <= start_step])
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # optional dependency
            return
        self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=start_step or None)

    def _rewrite(self, rows: list[Mapping[str, Any]]) -> None:
        with atomic_path(self.path) as tmp, tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(rows)

    def write(self, step: int, split: str, values: Mapping[str, float]) -> None:
        """Append one row (a new metric name rewrites the file with the wider header)."""
        if not self.enabled:
            return
        row = {"step": step, "split": split, **values}
        if not self.columns or any(k not in self.columns for k in row):
            old = []
            if self.path.is_file():
                with self.path.open(newline="") as f:
                    old = list(csv.DictReader(f))
            self.columns = [*dict.fromkeys([*(self.columns or ["step", "split"]), *row])]
            self._rewrite(old)
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.columns).writerow(row)
        if self.tb is not None:
            for key, value in values.items():
                self.tb.add_scalar(f"{split}/{key}", value, step)

    def close(self) -> None:
        """Flush TensorBoard."""
        if self.tb is not None:
            self.tb.close()

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

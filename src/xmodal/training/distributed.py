"""Multi-process training with ``torch.distributed`` under ``torchrun``.

:func:`init_distributed` reads torchrun's ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` and starts
the process group (gloo on CPU, nccl on CUDA); without them it returns a single-process
:class:`DistInfo` and every helper below is a no-op, so the training loop runs unchanged either
way::

    torchrun --nproc-per-node 2 my_train_script.py
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler

__all__ = [
    "DistInfo",
    "all_gather_objects",
    "barrier",
    "init_distributed",
    "reduce_sums",
    "shard_loader",
]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0  # global rank, 0 .. world_size - 1
    world_size: int = 1
    local_rank: int = 0  # rank on this machine (picks the GPU)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from None


def init_distributed(device: str | None = None) -> DistInfo:
    """Join the torchrun job described by the environment, or run as a single process.

    Idempotent: if the default process group already exists it is reused.

    Args:
        device: the training device; ``"cuda..."`` selects the nccl backend (and this process's
            GPU by ``LOCAL_RANK``), anything else gloo. ``None``: nccl if CUDA is available.

    Returns:
        This process's :class:`DistInfo`.
    """
    local_rank = _env_int("LOCAL_RANK", 0)
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank)
    world_size = _env_int("WORLD_SIZE", 1)
    if world_size <= 1:
        return DistInfo()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    rank = _env_int("RANK", 0)
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(
        backend="nccl" if use_cuda else "gloo", rank=rank, world_size=world_size
    )
    atexit.register(_destroy)
    return DistInfo(rank, world_size, local_rank)


def _destroy() -> None:
    if not dist.is_initialized():
        return
    # Tear down together: a rank that destroys its group while a peer is still talking to it
    # makes gloo abort the peer ("terminate called without an active exception").
    try:
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=timedelta(seconds=60))
        else:
            dist.barrier()
    except RuntimeError:  # a peer already died: nothing left to wait for
        pass
    dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op in a single process)."""
    if info.distributed:
        dist.barrier()


def reduce_sums(
    values: Mapping[str, float], info: DistInfo, device: str = "cpu"
) -> dict[str, float]:
    """Sum each value over all ranks (every rank must pass the same keys in the same order)."""
    if not info.distributed or not values:
        return dict(values)
    keys = list(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return dict(zip(keys, t.tolist(), strict=True))


def all_gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` in a single process."""
    if not info.distributed:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def shard_loader(
    dataset: Dataset,
    batch_size: int,
    info: DistInfo,
    *,
    seed: int,
    shuffle: bool,
    epoch: int = 0,
    skip_batches: int = 0,
    num_workers: int = 0,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> DataLoader:
    """This rank's DataLoader for one epoch.

    Shuffled: a :class:`DistributedSampler` permutation seeded by ``(seed, epoch)`` (the same
    order a single process would see with ``set_epoch(epoch)``, padded and split across ranks),
    minus its first ``skip_batches`` batches (how a resumed run picks up mid-epoch). In order:
    the strided shard ``rank, rank + world_size, ...`` (nothing padded, for exact means).
    The loader's own generator (worker seeds) is derived from ``(seed, epoch, rank)``.
    """
    if shuffle:
        sampler = DistributedSampler(
            dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed
        )
        sampler.set_epoch(epoch)
        indices = list(sampler)[skip_batches * batch_size :]
    else:
        indices = list(range(info.rank, len(dataset), info.world_size))[skip_batches * batch_size :]
    loader_seed = np.random.SeedSequence([seed, epoch, info.rank, int(shuffle)]).generate_state(1)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=indices,
        num_workers=num_workers,
        collate_fn=collate_fn,
        generator=torch.Generator().manual_seed(int(loader_seed[0])),
    )

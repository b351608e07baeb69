"""DDP: the unchanged training loop under ``torchrun --nproc-per-node 2`` (gloo on CPU)."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from xmodal.training.distributed import (
    DistInfo,
    all_gather_objects,
    init_distributed,
    reduce_sums,
    shard_loader,
)

REPO = Path(__file__).resolve().parents[2]
TORCHRUN = Path(sys.executable).with_name("torchrun")


def test_single_process_without_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    info = init_distributed()
    assert info == DistInfo(rank=0, world_size=1, local_rank=0)
    assert info.is_main and not info.distributed
    assert reduce_sums({"a": 2.0}, info) == {"a": 2.0}
    assert all_gather_objects({"x": 1}, info) == [{"x": 1}]
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two' is not an integer"):
        init_distributed()


def test_shard_loader_splits_epochs_across_ranks() -> None:
    data = list(range(10))
    single = shard_loader(data, 3, DistInfo(), seed=4, shuffle=True, epoch=2)
    order = torch.cat(list(single)).tolist()
    assert sorted(order) == data and order != sorted(order)
    again = torch.cat(list(shard_loader(data, 3, DistInfo(), seed=4, shuffle=True, epoch=2)))
    assert again.tolist() == order  # seeded by (seed, epoch)
    other = torch.cat(list(shard_loader(data, 3, DistInfo(), seed=4, shuffle=True, epoch=3)))
    assert other.tolist() != order
    skipped = torch.cat(list(shard_loader(data, 3, DistInfo(), seed=4, shuffle=True, epoch=2,
                                          skip_batches=2))).tolist()  # fmt: skip
    assert skipped == order[6:]  # a resumed epoch continues where it stopped
    ranks = [
        torch.cat(list(shard_loader(data, 3, DistInfo(r, 2, r), seed=4, shuffle=True))).tolist()
        for r in range(2)
    ]
    assert len(ranks[0]) == len(ranks[1]) == 5 and sorted(ranks[0] + ranks[1]) == data
    val = [torch.cat(list(shard_loader(data, 4, DistInfo(r, 3, r), seed=0, shuffle=False)))
           for r in range(3)]  # fmt: skip
    assert [v.tolist() for v in val] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]  # no padding


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_loop_runs_unchanged_under_torchrun(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    cmd = [
        str(TORCHRUN), "--nproc-per-node", "2", "--master-port", str(_free_port()),
        str(REPO / "tests" / "training" / "_ddp_script.py"), str(tmp_path),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert [(r["rank"], r["world_size"], r["is_main"]) for r in ranks] == [
        (0, 2, True), (1, 2, False),
    ]  # fmt: skip
    assert ranks[0]["steps"] == ranks[1]["steps"] == 6
    first, second = ranks[0]["final"], ranks[1]["final"]
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)  # DDP kept the replicas equal
    assert all(torch.equal(ranks[0]["initial"][k], ranks[1]["initial"][k]) for k in first)
    assert any(not torch.equal(first[k], ranks[0]["initial"][k]) for k in first)  # it trained
    assert ranks[0]["val"] == ranks[1]["val"]  # validation reduced over both shards
    # rank 0 alone wrote the run directory: one row per step, no duplicates
    with (tmp_path / "run" / "metrics.csv").open() as f:
        rows = [(r["step"], r["split"]) for r in csv.DictReader(f)]
    assert rows == [("1", "train"), ("2", "train"), ("3", "train"), ("3", "val"),
                    ("4", "train"), ("5", "train"), ("6", "train"), ("6", "val")]  # fmt: skip
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    assert state["step"] == 6 and len(state["rng"]) == 2  # both ranks' RNG states saved
    assert all(torch.equal(state["model"][k], first[k]) for k in first)

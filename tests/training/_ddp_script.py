"""Run by ``tests/training/test_distributed.py`` under ``torchrun --nproc-per-node 2``.

Usage: ``torchrun --nproc-per-node 2 tests/training/_ddp_script.py OUT_DIR``

Every rank builds the same tiny model, trains it through the one loop, and writes its initial
and final weights to ``OUT_DIR/rank{R}.pt`` together with what ``init_distributed`` reported and
the validation metrics it saw, so the test can check the ranks agree.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.training._tiny import Blobs, TinyConfig, TinyVAE  # noqa: E402
from xmodal.training.distributed import init_distributed  # noqa: E402
from xmodal.training.loop import TrainConfig, evaluate, train  # noqa: E402


def main(out_dir: Path) -> None:
    info = init_distributed("cpu")
    torch.manual_seed(0)
    model = TinyVAE(TinyConfig(dropout=0.0))
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    config = TrainConfig(max_steps=6, batch_size=4, eval_every=3, log_every=1, lr=1e-2)
    val_set = Blobs(9, seed=1)
    result = train(
        model, Blobs(21), val_set, config, out_dir / "run", progress=False, restore_best=False
    )
    val = evaluate(model, val_set, config, {}, info=info)
    torch.save(
        {
            "rank": info.rank,
            "world_size": info.world_size,
            "is_main": info.is_main,
            "steps": result.steps,
            "initial": initial,
            "final": model.state_dict(),
            "val": val,
        },
        out_dir / f"rank{info.rank}.pt",
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))

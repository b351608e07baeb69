"""One training loop for every model, its checkpoints, and DDP under torchrun.

::

    from xmodal.training import TrainConfig, train, load_model

    result = train(model, train_set, val_set, TrainConfig(max_steps=2000), "runs/vae",
                   hparams=make_hparams(ScheduleConfig("linear"), 2000))
    best = load_model("runs/vae")          # rebuilt from config.json through xmodal.models
"""

from xmodal.training.checkpoint import (
    load_checkpoint,
    load_model,
    read_run_config,
    save_checkpoint,
)
from xmodal.training.distributed import DistInfo, init_distributed
from xmodal.training.loop import TrainConfig, TrainResult, evaluate, train

__all__ = [
    "DistInfo",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "init_distributed",
    "load_checkpoint",
    "load_model",
    "read_run_config",
    "save_checkpoint",
    "train",
]

"""A tiny object world and a joint space trained on it, built once per test session.

Several test modules (pipelines, evaluation, cli) need a trained joint space; building it costs
a few seconds (world, features, MiniLM), so :func:`tiny_world` and :func:`tiny_run` memoise
their result per base directory.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from xmodal.joint import JointTrainConfig

PIXELS = "pixels:height=8,width=8"
_BUILT: dict[tuple[str, str], Path] = {}


def tiny_config(max_steps: int = 150, seed: int = 0) -> JointTrainConfig:
    """Pixels 8x8 + log-mel + MiniLM, 4 segments, PCA to 8, width 32, last weights."""
    # the last weights: 150 steps on 32 clips is where a test wants the space to have arrived
    # (the default, "best" by validation loss, may stop after 50 steps on 4 val clips)
    cfg = JointTrainConfig(
        video=PIXELS, segments=4, pca_dim=8, width=32, hidden_dim=64, dropout=0.0, weights="last"
    )
    train = dataclasses.replace(
        cfg.train, max_steps=max_steps, batch_size=16, eval_every=50, log_every=10, seed=seed
    )
    return dataclasses.replace(cfg, train=train)


def tiny_world(base: Path) -> Path:
    """50 clips (2 per pair): 32 train, 4 val, 4 test, 10 held out; 8 frames of 32x32."""
    key = ("world", str(base))
    if key not in _BUILT:
        from xmodal.data.objects import WorldConfig, generate

        _BUILT[key] = generate(
            base / "world",
            WorldConfig(size=50, frames=8, fps=8, resolution=32),
            workers=1,
            progress=False,
        )
    return _BUILT[key]


def tiny_run(base: Path) -> Path:
    """A joint space trained 150 steps on :func:`tiny_world`."""
    key = ("run", str(base))
    if key not in _BUILT:
        from xmodal.joint import train_joint

        _BUILT[key] = train_joint(tiny_world(base), base / "run", tiny_config(), progress=False)
    return _BUILT[key]

"""Train the lip-sync model on in-sync videos (what ships with xmodal, or your own footage).

:func:`fit_lip_scorer` trains a :class:`~xmodal.models.lip_sync.LipSync` by multi-way matching
on the windows of some clips with the shared training loop (every step sees every window of
every clip, each clip weighing the same) and returns its :class:`~xmodal.sync.scorer.LipScorer`.
:func:`train_lips` does it on video files: it tracks each face, skips (and lists) unusable
videos and writes the scorer to ``OUT/lips.npz`` + ``OUT/lips.json``, the files
``xmodal sync check --model OUT`` reads.

The shipped model is ``train_lips`` with the defaults on tk01-tk15 of the shared talking-head
media (see docs/sync.md for the command); the defaults were chosen on those clips,
leave-one-video-out (``xmodal study sync-real``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.features.landmarks import LIP_SIGNALS
from xmodal.sync.clip import LipClip, audio_bands, find_videos, read_lip_clip
from xmodal.sync.common import LIPS_FILE, default_model_dir
from xmodal.sync.offsets import DEFAULT_MAX_OFFSET, valid_windows
from xmodal.sync.scorer import (
    DEFAULT_THRESHOLD,
    LipScorer,
    audio_inputs,
    default_scorer,
    select_signals,
    video_inputs,
)


@dataclass
class LipTrainConfig:
    """How the lip-sync model is trained (defaults chosen on tk01-tk15, leave-one-video-out)."""

    embed_dim: int = 8  # E: embedding width
    steps: int = 100  # optimiser steps, each over every window of every clip
    lr: float = 3e-3  # AdamW learning rate
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    max_offset: int = DEFAULT_MAX_OFFSET  # candidates at offsets -M..M frames
    signals: tuple[int, ...] | None = None  # lip signal columns used (None: all nine)
    seed: int = 0  # model initialisation

    def __post_init__(self) -> None:
        if self.embed_dim < 1 or self.steps < 1 or self.max_offset < 1:
            raise ValueError(f"embed_dim, steps and max_offset must be >= 1: {self}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"lr must be > 0 and weight_decay >= 0: {self}")
        if self.signals is not None:
            self.signals = tuple(int(i) for i in self.signals)
            if not self.signals or not all(0 <= i < len(LIP_SIGNALS) for i in self.signals):
                raise ValueError(f"signals must index LIP_SIGNALS (0..8), got {self.signals}")


class _ClipWindows:
    """A map-style dataset of clips; :func:`_collate` turns a list of them into one batch."""

    def __init__(self, items: list[dict[str, np.ndarray]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        return self.items[i]


def _clip_item(lips: np.ndarray, bands: np.ndarray, max_offset: int) -> dict[str, np.ndarray]:
    """One clip's inputs and its usable windows (a face in all 5 frames, every candidate)."""
    v, ok = video_inputs(lips)
    a = audio_inputs(bands)
    rows = np.asarray(valid_windows(len(v), len(a), max_offset), dtype=int)
    rows = rows[ok[rows]] if len(rows) else rows
    return {"video": v[rows], "audio": a, "rows": rows}


def _collate(items: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    import torch

    video, audio, candidates, weight, start = [], [], [], [], 0
    for item in items:
        rows = item["rows"]
        video.append(item["video"])
        audio.append(item["audio"])
        candidates.append(start + rows[:, None] - item["offsets"][None, :])  # (n, 2M+1)
        weight.append(np.full(len(rows), 1.0 / max(len(rows), 1)))
        start += len(item["audio"])
    return {
        "video": torch.as_tensor(np.concatenate(video), dtype=torch.float32),
        "audio": torch.as_tensor(np.concatenate(audio), dtype=torch.float32),
        "candidates": torch.as_tensor(np.concatenate(candidates), dtype=torch.long),
        "weight": torch.as_tensor(np.concatenate(weight), dtype=torch.float32),
    }


def fit_lip_scorer(
    clips: list[tuple[np.ndarray, np.ndarray]],
    config: LipTrainConfig | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    threshold: float | None = None,
    floor: float | None = None,
    agree_bonus: float | None = None,
    info: dict[str, Any] | None = None,
    progress: bool = False,
) -> LipScorer:
    """Train a lip-sync model on in-sync clips.

    Args:
        clips: ``(lips (T, 9), bands (T', 40))`` per clip, both on the 25 fps grid.
        config: the training settings.
        out_dir: the training run directory (None: a temporary one, removed after).
        threshold: the least score for a clear offset (None: the shipped model's, with its
            floor and agreement bonus unless they are given).
        floor: the least score for any answer (None: the shipped model's with its threshold,
            else the threshold: clear or nothing).
        agree_bonus: added to the confidence when the training-free cue agrees (None: as the
            floor).
        info: stored with the scorer (what it was trained on).
        progress: show a progress bar.

    Returns:
        The trained :class:`LipScorer`.

    Raises:
        ValueError: no clip has a usable window.
    """
    import torch

    from xmodal.models.lip_sync import LipSync, LipSyncConfig
    from xmodal.training.loop import TrainConfig, train

    config = config or LipTrainConfig()
    offsets = np.arange(-config.max_offset, config.max_offset + 1)
    items = []
    for lips, bands in clips:
        item = _clip_item(select_signals(lips, config.signals), bands, config.max_offset)
        if len(item["rows"]):
            items.append({**item, "offsets": offsets})
    if not items:
        raise ValueError(
            f"no usable training window: each clip needs a face and audio over "
            f"{2 * config.max_offset + 5} frames ({(2 * config.max_offset + 5) / 25:.1f} s)"
        )
    torch.manual_seed(config.seed)
    c = LipSyncConfig(
        video_dim=items[0]["video"].shape[1],
        audio_dim=items[0]["audio"].shape[1],
        embed_dim=config.embed_dim,
        max_offset=config.max_offset,
    )
    model = LipSync(c)
    loop = TrainConfig(
        max_steps=config.steps,
        batch_size=len(items),
        lr=config.lr,
        weight_decay=config.weight_decay,
        grad_clip=0.0,
        eval_every=config.steps,
        log_every=max(1, config.steps // 10),
        seed=config.seed,
    )
    extra = {"trainer": "xmodal.sync.train.fit_lip_scorer", "lip_train": asdict(config)}
    with tempfile.TemporaryDirectory(prefix="xmodal-lips-") as tmp:
        run_dir = Path(out_dir) if out_dir is not None else Path(tmp)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a few thousand windows: one thread is fastest
        try:
            train(
                model, _ClipWindows(items), None, loop, run_dir,
                collate_fn=_collate, resume=False, progress=progress, extra_config=extra,
            )  # fmt: skip
        finally:
            torch.set_num_threads(threads)
    shipped = shipped_thresholds()
    if threshold is None:
        threshold = shipped["threshold"]
        floor = shipped["floor"] if floor is None else floor
        agree_bonus = shipped["agree_bonus"] if agree_bonus is None else agree_bonus
    return LipScorer(
        **model.export(),
        max_offset=config.max_offset,
        threshold=float(threshold),
        floor=None if floor is None else float(floor),
        agree_bonus=float(agree_bonus or 0.0),
        signals=config.signals,
        info={
            **(info or {}),
            "config": asdict(config),
            "windows": sum(len(i["rows"]) for i in items),
        },
    )


def shipped_thresholds() -> dict[str, Any]:
    """The shipped model's ``threshold``, ``floor`` and ``agree_bonus`` (``DEFAULT_THRESHOLD``,
    no floor and no bonus before one is shipped)."""
    try:
        scorer = default_scorer()
    except FileNotFoundError:
        return {"threshold": DEFAULT_THRESHOLD, "floor": None, "agree_bonus": 0.0}
    return {"threshold": scorer.threshold, "floor": scorer.floor,
            "agree_bonus": scorer.agree_bonus}  # fmt: skip


def read_clips(
    paths: list[Path], progress: bool = True, max_seconds: float | None = None
) -> tuple[list[LipClip], list[str]]:
    """Lip clips of videos; ``skipped`` holds ``"path: reason"`` for each unusable one."""
    from tqdm.auto import tqdm

    from xmodal.features.face import FaceError
    from xmodal.media import MediaError
    from xmodal.sync.clip import SyncCheckError

    clips, skipped = [], []
    for p in tqdm(paths, desc="faces", unit="video", disable=not progress):
        try:
            clips.append(read_lip_clip(p, max_seconds))
        except (MediaError, SyncCheckError, FaceError) as e:
            skipped.append(f"{p}: {e}")
    return clips, skipped


def train_lips(
    paths: list[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    config: LipTrainConfig | None = None,
    *,
    threshold: float | None = None,
    floor: float | None = None,
    agree_bonus: float | None = None,
    install: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the lip-sync model on in-sync videos and write ``OUT/lips.npz`` + ``lips.json``.

    Args:
        paths: video files and/or folders (searched recursively).
        out_dir: where the model (and its training run, under ``run/``) goes.
        config: training settings.
        threshold, floor, agree_bonus: how evidence becomes an answer
            (:func:`fit_lip_scorer`; None: the shipped model's).
        install: also make it the default model of ``xmodal sync check``.
        progress: show progress bars.

    Returns:
        ``{"out_dir", "clips", "windows", "skipped", "installed"}``.

    Raises:
        SyncCheckError: no usable video.
    """
    from xmodal.sync.clip import SyncCheckError

    out = Path(out_dir)
    videos = find_videos(paths)
    clips, skipped = read_clips(videos, progress)
    usable = [(c.lips, audio_bands(c.audio, c.n_frames)) for c in clips]
    info = {"trained_on": [Path(c.path).name for c in clips]}
    try:
        scorer = fit_lip_scorer(
            usable, config, out / "run", threshold=threshold, floor=floor,
            agree_bonus=agree_bonus, info=info, progress=progress,
        )  # fmt: skip
    except ValueError as e:
        shown = "; ".join(skipped[:3])
        raise SyncCheckError(
            f"{', '.join(map(str, paths))}: no usable training video ({e})"
            + (f"; skipped {len(skipped)}: {shown}" if skipped else "")
        ) from None
    scorer.save(out / LIPS_FILE)
    installed = None
    if install:
        target = default_model_dir()
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        scorer.save(target / LIPS_FILE)
        installed = str(target)
    return {
        "out_dir": str(out),
        "clips": len(clips),
        "windows": scorer.info["windows"],
        "skipped": skipped,
        "installed": installed,
    }

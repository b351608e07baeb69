"""Sync with a trained SyncNet (mouth crops + MFCCs): check a video, train on your own videos.

The conv-net route of the AVSR paper, for users with in-sync footage to train on (e.g. LRS2):
:func:`check_with_syncnet` resamples the video to 25 fps, finds the one speaking face with
OpenCV's Haar cascade (detected every few frames and tracked), crops the mouth, computes the
MFCCs, embeds every 0.2 s window with a trained :class:`~xmodal.models.sync_net.SyncNet` and
searches offsets of ±15 frames (:mod:`xmodal.sync.offsets`): a positive offset means the
audio comes early. Its confidence is the SyncNet tool's ``median - min`` distance, with no
threshold: it always gives a number.

:func:`train_syncnet` trains one on a folder of in-sync videos (negatives come from shifting the
audio), or on a talking-head dataset. **A model trained only on the synthetic talking-head
world has never seen a real face: its offsets on real footage are not meaningful.** Without
a model of its own, ``xmodal sync check`` uses the lip-landmark model that ships with xmodal
(:mod:`xmodal.sync.check`).
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.sync.clip import SAMPLE_RATE, SyncCheckError, find_videos, probe_picture_and_sound
from xmodal.sync.common import SyncCheck, default_model_dir, too_short
from xmodal.sync.offsets import DEFAULT_MAX_OFFSET, FPS, WINDOW_FRAMES, estimate_offset
from xmodal.sync.offsets import offset_distances as _offset_distances
from xmodal.sync.windows import ClipArrays, SyncRuns, embed_clip, load_talking_split, mfcc_features

ANALYSIS_SIDE = 480  # frames are downscaled so their longer side is at most this


# ----------------------------------------------------------------------------- models


def load_syncnet(run_dir: str | os.PathLike[str]) -> tuple[Any, Path, str]:
    """Load a trained sync model.

    Args:
        run_dir: a training run directory of ``xmodal sync train --kind syncnet``.

    Returns:
        ``(model in eval mode, run directory, what it was trained on)``.

    Raises:
        SyncCheckError: no model there (the message says how to get one).
    """
    from xmodal.models.sync_net import SyncNet
    from xmodal.training.checkpoint import load_model, read_run_config

    path = Path(run_dir)
    if not (path / "config.json").is_file():
        raise SyncCheckError(f"{path}: no sync model here (no lips.npz, no config.json)")
    info = read_run_config(path)
    if info.get("model") != SyncNet.model_name:
        raise SyncCheckError(f"{path}: a {info.get('model')!r} run, not a sync_net model")
    try:
        model = load_model(path, "best")
    except FileNotFoundError:
        model = load_model(path, "last")
    extra = info.get("extra") or {}
    data = str(extra.get("data") or ("synthetic" if extra.get("study") == "sync" else "unknown"))
    return model, path, data


# ----------------------------------------------------------------------------- clips


def _analysis_size(info: Any) -> tuple[int, int] | None:
    h, w = info.video.height, info.video.width
    scale = ANALYSIS_SIDE / max(h, w)
    if scale >= 1:
        return None
    return max(2, round(h * scale)), max(2, round(w * scale))


def read_clip(
    path: str | os.PathLike[str], max_seconds: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Grayscale 25 fps frames (longer side at most 480) and 16 kHz mono audio of a video.

    Raises:
        MediaError: unreadable file or no video stream.
        SyncCheckError: no audio track.
    """
    import cv2

    from xmodal.media import MediaError, read_audio, read_video

    path = Path(path)
    info = probe_picture_and_sound(path)
    size = _analysis_size(info)
    end = info.duration if max_seconds is None else min(max_seconds, info.duration or math.inf)
    gray: list[np.ndarray] = []
    chunk = 10.0  # seconds decoded at a time: only grayscale frames are kept
    t = 0.0
    while end is None or t < end - 1e-6:
        stop = t + chunk if end is None else min(t + chunk, end)
        frames = read_video(path, fps=FPS, size=size, start=t, end=stop)  # (n, H, W, 3)
        gray += [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
        if len(frames) == 0:
            break
        t = stop
    audio = read_audio(path, SAMPLE_RATE, end=max_seconds)
    if not gray:
        raise MediaError(path, "no video frames")
    return np.stack(gray), audio


def face_clip(
    clip_id: str,
    gray: np.ndarray,
    audio: np.ndarray,
    crop_size: int = 32,
    detect_every: int = 5,
) -> tuple[Any, tuple[int, int]]:
    """The single face's mouth crops and the matching MFCCs.

    Args:
        clip_id: a name for the clip.
        gray: (T, H, W) uint8 grayscale frames at 25 fps.
        audio: (N,) float32 16 kHz audio starting with frame 0.
        crop_size: mouth crop side.
        detect_every: run the face detector every n frames.

    Returns:
        ``(ClipArrays, (first, last))``: the clip restricted to the frames the face track
        covers.

    Raises:
        FaceError: no face or several faces.
    """
    from xmodal.features.face import crop_mouths, mouth_boxes, single_face_track, track_faces

    tracks = track_faces(gray, detect_every=detect_every)
    track = single_face_track(tracks, len(gray), detect_every=detect_every)
    first = max(0, track.frames[0] - detect_every)
    last = min(len(gray) - 1, track.frames[-1] + detect_every)
    boxes = track.boxes_per_frame(len(gray))[first : last + 1]  # (T', 4)
    mouths = crop_mouths(gray[first : last + 1], mouth_boxes(boxes), crop_size)
    per_frame = SAMPLE_RATE // FPS
    segment = audio[first * per_frame : (last + 1) * per_frame]
    segment = np.pad(segment, (0, max(0, (last + 1 - first) * per_frame - len(segment))))
    return ClipArrays(clip_id, mouths, mfcc_features(segment)), (first, last)


# ----------------------------------------------------------------------------- check and fix


def check_with_syncnet(
    path: str | os.PathLike[str],
    model: Any,
    run_dir: Path,
    data: str,
    *,
    max_offset: int = DEFAULT_MAX_OFFSET,
    min_windows: int = 5,
    detect_every: int = 5,
    max_seconds: float | None = None,
) -> Any:
    """Estimate the audio-visual offset of a video with a trained SyncNet.

    Args:
        path: the video.
        model: a :class:`~xmodal.models.sync_net.SyncNet` in eval mode (:func:`load_syncnet`).
        run_dir: its run directory (reported).
        data: what it was trained on (``"synthetic"`` adds a warning).
        max_offset: offsets ``-M..M`` frames are searched.
        min_windows: fewest windows (K) averaged; shorter clips are refused.
        detect_every: run the face detector every n frames.
        max_seconds: analyse only the start of long videos.

    Returns:
        A :class:`~xmodal.sync.common.SyncCheck` (always a clear offset: no threshold).

    Raises:
        MediaError: unreadable file, no video stream.
        SyncCheckError: no audio track, too short.
        FaceError: no face, several faces.
    """
    path = Path(path)
    gray, audio = read_clip(path, max_seconds)
    too_short(path, len(gray), max_offset, min_windows)
    clip, span = face_clip(path.stem, gray, audio, model.config.crop_size, detect_every)
    v, a = embed_clip(model, clip)
    dists = _offset_distances(v, a, max_offset)  # (n, 2M+1)
    if len(dists) < min_windows:
        too_short(path, span[1] - span[0] + 1, max_offset, min_windows, "the face is visible for")
    offset, conf, curve = estimate_offset(dists)
    warnings = []
    if data == "synthetic":
        warnings.append(
            "this model was trained on the synthetic talking-head world only; on real faces "
            "its offset and confidence are not meaningful (train on real in-sync videos with "
            "`xmodal sync train`, or leave out --model to use the shipped lip model)"
        )
    return SyncCheck(
        video=str(path),
        offset_frames=offset,
        best_offset=offset,
        confidence=conf,
        threshold=None,
        reason="",
        offsets=list(range(-max_offset, max_offset + 1)),
        curve=[float(c) for c in curve],
        curve_kind="distance",
        windows=len(dists),
        face_frames=[span[0], span[1]],
        model=str(run_dir),
        model_data=data,
        warnings=warnings,
    )


# ----------------------------------------------------------------------------- training


def folder_clips(
    folder: str | os.PathLike[str],
    crop_size: int = 32,
    detect_every: int = 5,
    progress: bool = True,
) -> tuple[list[Any], list[str]]:
    """Face-pipeline clip arrays for every usable video of a folder.

    Returns:
        ``(clips, skipped)`` where ``skipped`` holds one ``"path: reason"`` per unusable video.
    """
    from tqdm.auto import tqdm

    from xmodal.features.face import FaceError
    from xmodal.media import MediaError

    clips, skipped = [], []
    root = Path(folder)
    for p in tqdm(find_videos(root), desc="faces", unit="video", disable=not progress):
        try:
            gray, audio = read_clip(p)
            clip, _ = face_clip(str(p.relative_to(root)), gray, audio, crop_size, detect_every)
            clips.append(clip)
        except (MediaError, SyncCheckError, FaceError) as e:
            skipped.append(f"{p}: {e}")
    return clips, skipped


def train_syncnet(
    folder: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    objective: str = "multiway",
    steps: int = 2000,
    batch_size: int = 4,
    run_windows: int = 16,
    lr: float = 1e-3,
    crop_size: int = 32,
    val_fraction: float = 0.1,
    seed: int = 0,
    install: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train a sync model on in-sync videos (negatives: the same clip's audio, shifted).

    ``folder`` is either a talking-head dataset (its stored mouth boxes are used) or any folder
    of videos with one speaking face each (the Haar face pipeline finds the mouth; unusable
    videos are skipped and listed).

    Args:
        folder: the videos.
        out_dir: the run directory (a rerun resumes).
        objective: ``multiway`` (best in the paper), ``syncnet`` or ``avenet``.
        steps: optimiser steps.
        batch_size: runs of consecutive windows per step.
        run_windows: windows per run (clips need ``run_windows + 30`` windows).
        lr: learning rate.
        crop_size: mouth crop side.
        val_fraction: fraction of the videos held out for validation.
        seed: random seed.
        install: copy the finished run to :func:`default_model_dir`.
        progress: show progress bars.

    Returns:
        ``{"run_dir", "clips", "train_clips", "val_clips", "skipped", "steps", "installed"}``.
    """
    import torch

    from xmodal.models.sync_net import SyncNet, SyncNetConfig
    from xmodal.training.loop import TrainConfig, train

    root = Path(folder)
    m = DEFAULT_MAX_OFFSET
    skipped: list[str] = []
    if (root / "dataset.json").is_file() and (root / "manifest.jsonl").is_file():
        load = dict(crop_size=crop_size, progress=progress)
        train_clips = load_talking_split(root, "train", **load)
        val_clips = load_talking_split(root, "val", required=False, **load)
        data = "synthetic"
    else:
        clips, skipped = folder_clips(root, crop_size, progress=progress)
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(clips))
        n_val = int(round(val_fraction * len(clips))) if len(clips) > 1 else 0
        val_clips = [clips[i] for i in order[:n_val]]
        train_clips = [clips[i] for i in order[n_val:]]
        data = "folder"
    train_set = SyncRuns(train_clips, run_windows, m)
    if len(train_set) == 0:
        shown = "; ".join(skipped[:3])
        raise SyncCheckError(
            f"{root}: no usable training video (each needs one face and at least "
            f"{(run_windows + 2 * m + WINDOW_FRAMES - 1) / FPS:.1f} s in sync)"
            + (f"; skipped {len(skipped)}: {shown}" if skipped else "")
        )
    val_set = SyncRuns(val_clips, run_windows, m, stride=run_windows) if val_clips else None
    if val_set is not None and len(val_set) == 0:
        val_set = None
    torch.manual_seed(seed)
    model = SyncNet(SyncNetConfig(objective=objective, crop_size=crop_size, max_offset=m))
    config = TrainConfig(
        max_steps=steps, batch_size=batch_size, lr=lr, eval_every=max(1, min(200, steps)), seed=seed
    )
    result = train(
        model,
        train_set,
        val_set,
        config,
        out_dir,
        progress=progress,
        extra_config={"data": data, "source": str(root.resolve())},
    )
    installed = None
    if install:
        target = default_model_dir()
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(out_dir, target)
        installed = str(target)
    return {
        "run_dir": str(out_dir),
        "clips": len(train_clips) + len(val_clips),
        "train_clips": len(train_clips),
        "val_clips": len(val_clips),
        "skipped": skipped,
        "steps": result.steps,
        "installed": installed,
    }

"""Audio-visual sync on real footage: check a video's offset, fix it, train on your own videos.

:func:`check_video` resamples the video to 25 fps, finds the one speaking face with OpenCV's
Haar cascade (detected every few frames and tracked), crops the mouth, computes the MFCCs,
embeds every 0.2 s window with a trained :class:`~xmodal.models.sync_net.SyncNet` and searches
offsets of ±15 frames (:mod:`xmodal.evaluation.sync`, where the sign convention and the
confidence are defined): a positive offset means the audio comes early.

:func:`fix_video` writes a copy with the audio shifted by an offset (silence fills the gap).

:func:`train_on_folder` trains a model on a folder of in-sync videos (negatives come from
shifting the audio), e.g. LRS2, or on a talking-head dataset. **A model trained only on the
synthetic talking-head world has never seen a real face: its offsets on real footage are not
meaningful.** Train on real in-sync videos first.

The default model is the run directory named by ``$XMODAL_SYNC_MODEL``, else
``~/.cache/xmodal/sync-model`` (``xmodal sync train ... --install`` puts a run there).
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.evaluation.sync import DEFAULT_MAX_OFFSET, FPS, WINDOW_FRAMES, estimate_offset
from xmodal.evaluation.sync import offset_distances as _offset_distances

SAMPLE_RATE = 16000
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg"})
ANALYSIS_SIDE = 480  # frames are downscaled so their longer side is at most this


class SyncCheckError(ValueError):
    """The video cannot be checked: no audio track, too short, no model."""


@dataclass
class SyncCheck:
    """The result of :func:`check_video`.

    Attributes:
        video: the checked file.
        offset_frames: the estimated offset in 25 fps frames (positive: the audio leads).
        offset_ms: the same in milliseconds (40 ms per frame).
        confidence: ``median(curve) - min(curve)``; comparable only for the same model.
        min_dist: the smallest mean distance (at the estimated offset).
        offsets: the candidate offsets ``-M..M``.
        curve: mean embedding distance at each candidate offset.
        fps: the analysis frame rate (25).
        windows: 0.2 s windows averaged (video windows with every candidate audio window).
        face_frames: ``[first, last]`` analysis frames where the face track is used.
        model: the model's run directory.
        model_data: what the model was trained on (``"synthetic"``, ``"folder"`` or unknown).
    """

    video: str
    offset_frames: int
    offset_ms: float
    confidence: float
    min_dist: float
    offsets: list[int]
    curve: list[float]
    fps: int
    windows: int
    face_frames: list[int]
    model: str
    model_data: str
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)

    def summary(self) -> str:
        """Human-readable lines."""
        o = self.offset_frames
        if o > 0:
            meaning = f"the audio leads (comes early): delay it by {self.offset_ms:.0f} ms"
        elif o < 0:
            meaning = f"the audio lags (comes late): advance it by {-self.offset_ms:.0f} ms"
        else:
            meaning = "in sync"
        lines = [
            f"offset      {o:+d} frames ({self.offset_ms:+.0f} ms at {self.fps} fps): {meaning}",
            f"confidence  {self.confidence:.3f} (median - min distance; higher is surer)",
            f"windows     {self.windows} (face frames {self.face_frames[0]}-{self.face_frames[1]})",
            f"model       {self.model} (trained on {self.model_data})",
        ]
        return "\n".join(lines + [f"warning: {w}" for w in self.warnings])


# ----------------------------------------------------------------------------- models


def default_model_dir() -> Path:
    """``$XMODAL_SYNC_MODEL`` or ``~/.cache/xmodal/sync-model``."""
    env = os.environ.get("XMODAL_SYNC_MODEL")
    return Path(env) if env else Path.home() / ".cache" / "xmodal" / "sync-model"


def load_sync_model(run_dir: str | os.PathLike[str] | None = None) -> tuple[Any, Path, str]:
    """Load a trained sync model.

    Args:
        run_dir: a training run directory; None uses :func:`default_model_dir`.

    Returns:
        ``(model in eval mode, run directory, what it was trained on)``.

    Raises:
        SyncCheckError: no model there (the message says how to get one).
    """
    from xmodal.models.sync_net import SyncNet
    from xmodal.training.checkpoint import load_model, read_run_config

    path = Path(run_dir) if run_dir is not None else default_model_dir()
    if not (path / "config.json").is_file():
        where = "" if run_dir is not None else " (the default model; set $XMODAL_SYNC_MODEL)"
        raise SyncCheckError(
            f"{path}: no sync model here{where}. Train one on your own in-sync videos with "
            "`xmodal sync train FOLDER --out RUN_DIR` (add --install to make it the default), "
            "then pass --model RUN_DIR"
        )
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

    from xmodal.media import MediaError, probe, read_audio, read_video

    path = Path(path)
    info = probe(path)
    if info.video is None:
        raise MediaError(path, "no video stream")
    if info.audio is None:
        raise SyncCheckError(f"{path}: no audio track; sync needs both sound and picture")
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
    from xmodal.evaluation.sync_data import ClipArrays, mfcc_features
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


def check_video(
    path: str | os.PathLike[str],
    model_dir: str | os.PathLike[str] | None = None,
    *,
    max_offset: int = DEFAULT_MAX_OFFSET,
    min_windows: int = 5,
    detect_every: int = 5,
    max_seconds: float | None = None,
    model: Any = None,
) -> SyncCheck:
    """Estimate the audio-visual offset of a video with one speaking face.

    Args:
        path: the video.
        model_dir: a sync model run directory; None uses :func:`default_model_dir`.
        max_offset: offsets ``-M..M`` frames are searched.
        min_windows: fewest windows (K) averaged; shorter clips are refused.
        detect_every: run the face detector every n frames.
        max_seconds: analyse only the start of long videos.
        model: an already loaded model (``model_dir`` is then only reported).

    Returns:
        A :class:`SyncCheck`.

    Raises:
        MediaError: unreadable file, no video stream.
        SyncCheckError: no audio track, too short, no model.
        FaceError: no face, several faces.
    """
    path = Path(path)
    if model is None:
        model, run_dir, data = load_sync_model(model_dir)
    else:
        run_dir, data = Path(model_dir or "<in memory>"), "unknown"
    gray, audio = read_clip(path, max_seconds)
    need = min_windows + 2 * max_offset + WINDOW_FRAMES - 1  # frames
    if len(gray) < need:
        raise SyncCheckError(
            f"{path}: too short ({len(gray)} frames = {len(gray) / FPS:.2f} s at {FPS} fps); "
            f"a ±{max_offset}-frame search over {min_windows} windows needs at least {need} "
            f"frames ({need / FPS:.2f} s)"
        )
    crop = model.config.crop_size
    clip, (first, last) = face_clip(path.stem, gray, audio, crop, detect_every)
    return _check_clip(path, clip, (first, last), model, run_dir, data, max_offset, min_windows)


def _check_clip(
    path: Path,
    clip: Any,
    span: tuple[int, int],
    model: Any,
    run_dir: Path,
    data: str,
    max_offset: int,
    min_windows: int,
) -> SyncCheck:
    from xmodal.evaluation.sync_data import embed_clip

    v, a = embed_clip(model, clip)
    dists = _offset_distances(v, a, max_offset)  # (n, 2M+1)
    if len(dists) < min_windows:
        frames = span[1] - span[0] + 1
        need = min_windows + 2 * max_offset + WINDOW_FRAMES - 1
        raise SyncCheckError(
            f"{path}: the face is visible for only {frames} frames ({frames / FPS:.2f} s); "
            f"a ±{max_offset}-frame search over {min_windows} windows needs {need} frames"
        )
    offset, conf, curve = estimate_offset(dists)
    warnings = []
    if data == "synthetic":
        warnings.append(
            "this model was trained on the synthetic talking-head world only; on real faces "
            "its offset and confidence are not meaningful (train on real in-sync videos with "
            "`xmodal sync train`)"
        )
    return SyncCheck(
        video=str(path),
        offset_frames=offset,
        offset_ms=1000.0 * offset / FPS,
        confidence=conf,
        min_dist=float(curve.min()),
        offsets=list(range(-max_offset, max_offset + 1)),
        curve=[float(c) for c in curve],
        fps=FPS,
        windows=len(dists),
        face_frames=[span[0], span[1]],
        model=str(run_dir),
        model_data=data,
        warnings=warnings,
    )


def shift_audio(
    audio: np.ndarray, offset_frames: float, sample_rate: int, fps: float = FPS
) -> np.ndarray:
    """Shift a waveform to undo an offset, keeping its length (silence fills the gap).

    Args:
        audio: (N,) samples.
        offset_frames: the measured offset (positive: the audio leads, so it is delayed).
        sample_rate: samples per second.
        fps: the frame rate the offset is counted in.

    Returns:
        (N,) shifted samples.
    """
    n = int(round(offset_frames * sample_rate / fps))
    out = np.zeros_like(audio)
    if n >= 0:
        out[n:] = audio[: len(audio) - n] if n < len(audio) else audio[:0]
    else:
        out[: len(audio) + n] = audio[-n:]
    return out


def fix_video(
    path: str | os.PathLike[str], out: str | os.PathLike[str], offset_frames: float
) -> Path:
    """Write a copy of a video with its audio shifted by ``offset_frames`` (25 fps frames).

    The picture is re-encoded (H.264) at the source's average frame rate and the audio (AAC)
    at its own sample rate, downmixed to mono.

    Returns:
        The output path.
    """
    from xmodal.media import probe, read_audio, read_video, write_mp4

    path, out = Path(path), Path(out)
    if out.resolve() == path.resolve():
        raise SyncCheckError(f"{out}: --fix must write a new file, not overwrite the input")
    info = probe(path)
    if info.audio is None or info.video is None:
        raise SyncCheckError(f"{path}: needs both a video and an audio stream to fix")
    rate = info.audio.sample_rate
    frames = read_video(path)  # (T, H, W, 3)
    audio = shift_audio(read_audio(path, rate), offset_frames, rate)
    write_mp4(out, frames, info.video.fps or FPS, audio, rate)
    return out


def plot_curve(result: SyncCheck, out: str | os.PathLike[str]) -> Path:
    """Save the per-offset distance curve of a check as a PNG."""
    from xmodal.evaluation.report import new_figure, save_figure

    fig = new_figure(6.0, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(result.offsets, result.curve, marker="o", ms=3)
    ax.axvline(
        result.offset_frames,
        color="tab:red",
        ls="--",
        label=f"offset {result.offset_frames:+d} frames ({result.offset_ms:+.0f} ms)",
    )
    ax.axhline(float(np.median(result.curve)), color="grey", ls=":", label="median")
    ax.set_xlabel("offset (frames at 25 fps; positive = audio leads)")
    ax.set_ylabel("mean embedding distance")
    ax.set_title(f"{Path(result.video).name}: confidence {result.confidence:.3f}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, out)


# ----------------------------------------------------------------------------- training


def find_videos(folder: str | os.PathLike[str]) -> list[Path]:
    """Video files under ``folder`` (recursive, sorted)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a directory")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


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


def train_on_folder(
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

    from xmodal.evaluation.sync_data import SyncRuns, load_talking_split
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

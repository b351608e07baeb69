"""Check a video's audio-visual sync: the offset, clear or with low confidence, or none.

With no model of the user's own, :func:`check_video` uses the lip-landmark model that ships
with xmodal (:mod:`xmodal.sync.scorer`, trained on real faces; nothing is downloaded):

1. the video is decoded at 25 fps; dlib finds the face and its 68 landmarks are tracked in
   every frame (no face or several faces: :class:`~xmodal.features.face.FaceError`);
2. nine lip signals per frame and 40 log-mel bands per frame of the audio;
3. every 0.2 s of lips is scored against the audio at every offset of ``-M..M`` frames; the
   curve is the mean log-probability of each offset, its argmax the offset (positive: the
   audio leads; see :mod:`xmodal.sync.offsets`);
4. the confidence is the curve's prominence as a z-score against the same clip with its audio
   rotated by a second or more;
5. a second view, needing no training, checks it: the jaw opening correlated with the change of
   the audio's log-energy (:mod:`xmodal.sync.cues`). When its best offset is within a frame of
   the model's, the model's ``agree_bonus`` is added to the confidence (the score);
6. score ≥ the model's threshold: a **clear** offset; ≥ its floor: the best offset with **low
   confidence** and why; below the floor, or with silent audio: **no clear offset**
   (``offset_frames`` is None): audio from another speaker, a hidden mouth, or no speech
   (:mod:`xmodal.sync.decide`).

``--model`` may also name a run of ``xmodal sync train`` (``lips.npz``: the same pipeline with
the user's weights) or of ``xmodal sync train --kind syncnet`` (a conv net on mouth crops and
MFCCs, :mod:`xmodal.sync.syncnet`). The default model is ``$XMODAL_SYNC_MODEL`` or
``~/.cache/xmodal/sync-model`` when one was installed there, else the shipped one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.sync.clip import (
    SAMPLES_PER_FRAME,
    LipClip,
    SyncCheckError,
    audio_bands,
    read_lip_clip,
)
from xmodal.sync.common import LIPS_FILE, SHIPPED, SyncCheck, default_model_dir, too_short
from xmodal.sync.cues import jaw_energy_cue
from xmodal.sync.decide import decide
from xmodal.sync.offsets import FPS
from xmodal.sync.scorer import LipScorer, default_scorer

SILENCE_RMS = 10 ** (-70 / 20)  # audio quieter than -70 dBFS (RMS) counts as silent


def load_model(model_dir: str | os.PathLike[str] | None = None) -> tuple[Any, str, str]:
    """The model :func:`check_video` uses.

    Args:
        model_dir: a directory with ``lips.npz`` (``xmodal sync train``) or a SyncNet run
            (``xmodal sync train --kind syncnet``); None: the installed default model if there
            is one, else the shipped model.

    Returns:
        ``(LipScorer or SyncNet, where it came from, what it was trained on)``.

    Raises:
        SyncCheckError: ``model_dir`` holds no sync model.
    """
    from xmodal.sync.syncnet import load_syncnet

    if model_dir is None:
        installed = default_model_dir()
        if not ((installed / LIPS_FILE).is_file() or (installed / "config.json").is_file()):
            scorer = default_scorer()
            return scorer, SHIPPED, _trained_on(scorer)
        model_dir = installed
    path = Path(model_dir)
    if (path / LIPS_FILE).is_file():
        scorer = LipScorer.load(path / LIPS_FILE)
        return scorer, str(path), _trained_on(scorer)
    if not (path / "config.json").is_file():
        raise SyncCheckError(
            f"{path}: no sync model here (no {LIPS_FILE}, no config.json). Leave out --model to "
            "use the shipped model, or train one with `xmodal sync train VIDEOS --out DIR`"
        )
    model, run_dir, data = load_syncnet(path)
    return model, str(run_dir), data


def _trained_on(scorer: LipScorer) -> str:
    clips = scorer.info.get("trained_on") or []
    return f"{len(clips)} real in-sync videos" if clips else "unknown"


def _refuse_short_before_reading(
    path: Path, max_offset: int, min_windows: int, max_seconds: float | None
) -> None:
    """The length check, from the container's duration, before any face is looked for."""
    from xmodal.media import probe

    info = probe(path)
    seconds = (info.video.duration if info.video else None) or info.duration
    if seconds is not None:
        seconds = min(seconds, max_seconds or seconds)
        too_short(path, int(round(seconds * FPS)), max_offset, min_windows)


def check_clip(clip: LipClip, scorer: LipScorer, min_windows: int = 5) -> dict[str, Any]:
    """The verdict on a clip already read (:func:`read_lip_clip`): the lip model's evidence and
    the training-free cue's, decided by :func:`xmodal.sync.decide.decide` with the model's
    thresholds.

    Returns:
        ``{"offset": int | None, "level", "score", "best_offset", "confidence", "reason",
        "curve", "windows", "cue_offset", "cue_confidence", "views_agree"}``.

    Raises:
        SyncCheckError: fewer than ``min_windows`` windows with the face.
    """
    path = Path(clip.path)
    too_short(path, clip.n_frames, scorer.max_offset, min_windows)
    n_audio = len(clip.audio) // SAMPLES_PER_FRAME
    bands = audio_bands(clip.audio, n_audio)
    try:
        ev = scorer.evidence(clip.lips, bands)
    except ValueError as e:
        raise SyncCheckError(f"{path}: {e}") from None
    if ev.windows < min_windows:
        too_short(path, int((~np.isnan(clip.lips[:, 0])).sum()), scorer.max_offset, min_windows,
                  "the face is visible for")  # fmt: skip
    rms = float(np.sqrt(np.mean(np.square(clip.audio, dtype=np.float64)))) if n_audio else 0.0
    silent = ""
    if rms < SILENCE_RMS:
        silent = f"the audio is silent (RMS {20 * np.log10(max(rms, 1e-12)):.0f} dBFS)"
    cue_offset, cue_conf = jaw_energy_cue(clip.lips, bands, scorer.max_offset)
    verdict = decide(ev.offset, ev.confidence, cue_offset, scorer.thresholds(), silent=silent)
    return {
        "offset": verdict.offset,
        "level": verdict.level,
        "score": verdict.score,
        "best_offset": ev.offset,
        "confidence": ev.confidence,
        "reason": verdict.reason,
        "curve": ev.curve,
        "windows": ev.windows,
        "cue_offset": cue_offset,
        "cue_confidence": cue_conf,
        "views_agree": verdict.agree,
    }


def check_video(
    path: str | os.PathLike[str],
    model: str | os.PathLike[str] | LipScorer | None = None,
    *,
    min_windows: int = 5,
    max_seconds: float | None = None,
    progress: bool = False,
) -> SyncCheck:
    """Estimate the audio-visual offset of a video with one speaking face.

    Args:
        path: the video.
        model: a :class:`LipScorer`, a model directory (see :func:`load_model`), or None.
        min_windows: fewest 0.2 s windows with the face; shorter clips are refused.
        max_seconds: analyse only the first N seconds.
        progress: show a progress bar while the face is tracked (long videos).

    Returns:
        A :class:`SyncCheck`.

    Raises:
        MediaError: unreadable file, no video stream.
        SyncCheckError: no audio track, too short, no model in ``model``.
        FaceError: no face, several faces, or the ``face`` extra is missing.
    """
    from xmodal.sync.syncnet import check_with_syncnet

    path = Path(path)
    if path.is_dir():
        raise SyncCheckError(f"{path}: a folder; sync check takes one video file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if isinstance(model, LipScorer):
        scorer, where, data = model, "<in memory>", _trained_on(model)
    else:
        scorer, where, data = load_model(model)
    if not isinstance(scorer, LipScorer):  # a SyncNet run
        return check_with_syncnet(
            path, scorer, Path(where), data, min_windows=min_windows, max_seconds=max_seconds
        )
    _refuse_short_before_reading(path, scorer.max_offset, min_windows, max_seconds)
    clip = read_lip_clip(path, max_seconds, progress=progress)
    found = np.flatnonzero(~np.isnan(clip.lips[:, 0]))
    verdict = check_clip(clip, scorer, min_windows)
    return SyncCheck(
        video=str(path),
        offset_frames=verdict["offset"],
        best_offset=verdict["best_offset"],
        confidence=verdict["confidence"],
        threshold=scorer.threshold,
        reason=verdict["reason"],
        offsets=list(range(-scorer.max_offset, scorer.max_offset + 1)),
        curve=[float(c) for c in verdict["curve"]],
        curve_kind="log-probability",
        windows=verdict["windows"],
        face_frames=[int(found[0]), int(found[-1])] if len(found) else [0, 0],
        model=where,
        model_data=data,
        level=verdict["level"],
        score=verdict["score"],
        cue_offset=verdict["cue_offset"],
        cue_confidence=verdict["cue_confidence"],
        views_agree=verdict["views_agree"],
        floor=scorer.thresholds().floor,
    )


def plot_curve(result: SyncCheck, out: str | os.PathLike[str]) -> Path:
    """Save the per-offset evidence curve of a check as a PNG."""
    from xmodal.utils import new_figure, save_figure

    fig = new_figure(6.0, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(result.offsets, result.curve, marker="o", ms=3)
    label = (
        f"offset {result.offset_frames:+d} frames ({result.offset_ms:+.0f} ms)"
        if result.clear
        else f"best {result.best_offset:+d} frames (not clear)"
    )
    ax.axvline(result.best_offset, color="tab:red", ls="--" if result.clear else ":", label=label)
    ax.axhline(float(np.median(result.curve)), color="grey", ls=":", label="median")
    ax.set_xlabel("offset (frames at 25 fps; positive = audio leads)")
    ax.set_ylabel(
        "mean log-probability" if result.curve_kind == "log-probability" else "mean distance"
    )
    ax.set_title(f"{Path(result.video).name}: confidence {result.confidence:.2f}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, out)

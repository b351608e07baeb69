"""Clip arrays and window datasets for the SyncNet route (synthetic world and real footage).

A clip becomes two aligned per-frame arrays at 25 fps:

- ``mouths`` (T, S, S) uint8 grayscale mouth crops, one per video frame;
- ``mfcc`` (4T + 1, 13) float32 MFCCs at 100/s (hop 10 ms), normalised per clip (each
  coefficient to zero mean and unit variance over the clip: cepstral mean and variance
  normalisation, which removes loudness and channel differences).

Window ``i`` is video frames ``i..i+4`` and MFCC frames ``4i..4i+19`` (the same 0.2 s); a clip
of T frames has ``T - 4`` windows of each. :class:`SyncRuns` serves runs of consecutive windows
for :class:`xmodal.models.sync_net.SyncNet` training; :func:`embed_clip` embeds every window of
a clip for offset estimation (:mod:`xmodal.sync.offsets`).
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.sync.clip import SAMPLE_RATE
from xmodal.sync.offsets import WINDOW_FRAMES

MFCC_PER_FRAME = 4  # 100 MFCC frames/s over 25 video frames/s
MFCC_WINDOW = 20  # MFCC frames per window (0.2 s)


@dataclass
class ClipArrays:
    """One clip's mouth crops and MFCCs on the 25 fps window grid.

    Attributes:
        id: the clip's id.
        mouths: (T, S, S) uint8 grayscale mouth crops.
        mfcc: (F, 13) float32 per-clip-normalised MFCCs at 100/s (F is about 4T + 1).
        speaker: the speaker's id when known.
    """

    id: str
    mouths: np.ndarray
    mfcc: np.ndarray
    speaker: str | None = None

    @property
    def n_windows(self) -> int:
        """Windows that have both their video frames and their MFCC frames."""
        n_video = len(self.mouths) - WINDOW_FRAMES + 1
        n_audio = (len(self.mfcc) - MFCC_WINDOW) // MFCC_PER_FRAME + 1
        return max(0, min(n_video, n_audio))

    def video_windows(self) -> np.ndarray:
        """(n_windows, 5, S, S) uint8 stacks of 5 consecutive mouth crops (a view)."""
        win = np.lib.stride_tricks.sliding_window_view(self.mouths, WINDOW_FRAMES, axis=0)
        return np.moveaxis(win, -1, 1)[: self.n_windows]  # (Wv, 5, S, S)

    def audio_windows(self) -> np.ndarray:
        """(n_windows, 1, 13, 20) float32 MFCC windows (a view)."""
        win = np.lib.stride_tricks.sliding_window_view(self.mfcc, MFCC_WINDOW, axis=0)
        return win[::MFCC_PER_FRAME][: self.n_windows, None]  # (Wa, 1, 13, 20)


def mfcc_features(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Per-clip normalised MFCCs (13 at 100/s) of a waveform.

    Args:
        audio: (N,) float32 mono.
        sample_rate: its rate; must be 16 kHz (the encoder's hop of 160 samples is 10 ms).

    Returns:
        (1 + N // 160, 13) float32, each coefficient with zero mean and unit variance.
    """
    import xmodal.features

    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"sync MFCCs need {SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
    mfcc = xmodal.features.get("mfcc").extract(np.asarray(audio, np.float32))  # (F, 13)
    mean = mfcc.mean(axis=0, keepdims=True)
    std = mfcc.std(axis=0, keepdims=True)
    return ((mfcc - mean) / (std + 1e-5)).astype(np.float32)


def clip_arrays(
    clip_id: str,
    frames: np.ndarray,
    mouth_boxes: np.ndarray,
    audio: np.ndarray,
    crop_size: int = 32,
    speaker: str | None = None,
) -> ClipArrays:
    """Crop the mouths and compute the MFCCs of one 25 fps clip.

    Args:
        clip_id: the clip's id.
        frames: (T, H, W, 3) uint8 RGB at 25 fps.
        mouth_boxes: (T, 4) ``x0, y0, x1, y1`` mouth boxes.
        audio: (N,) float32 mono at 16 kHz, starting with frame 0.
        crop_size: S.
        speaker: the speaker's id when known.
    """
    from xmodal.features.face import crop_mouths

    mouths = crop_mouths(frames, mouth_boxes, crop_size)  # (T, S, S)
    return ClipArrays(clip_id, mouths, mfcc_features(audio), speaker)


def _load_talking_clip(dataset_dir: str, row: dict[str, Any], crop_size: int) -> ClipArrays:
    from xmodal.media import read_audio, read_video

    path = Path(dataset_dir) / row["path"]
    frames = read_video(path)  # (T, H, W, 3) at the clip's own 25 fps
    boxes = np.asarray(row["mouth_boxes"], np.float64)[: len(frames)]
    if len(boxes) < len(frames):
        frames = frames[: len(boxes)]
    audio = read_audio(path, SAMPLE_RATE)
    return clip_arrays(row["id"], frames, boxes, audio, crop_size, row.get("speaker"))


def load_talking_split(
    dataset_dir: str | os.PathLike[str],
    split: str,
    crop_size: int = 32,
    workers: int | None = None,
    limit: int | None = None,
    progress: bool = True,
    required: bool = True,
) -> list[ClipArrays]:
    """Decode one split of a talking-head dataset into clip arrays (cached in the dataset).

    The mouth boxes stored by the generator are used (no face detector). The result is cached
    in ``DIR/cache/sync-<split>-c<S>[-n<limit>].npz`` and reused while the manifest is older.

    Args:
        dataset_dir: a dataset made by ``xmodal data talking``.
        split: ``train``, ``val`` or ``test``.
        crop_size: S.
        workers: decoding processes (default: every core).
        limit: use only the split's first ``limit`` clips.
        progress: show a tqdm bar.
        required: raise if the split is empty (else return an empty list).

    Returns:
        The split's clips in manifest order.

    Raises:
        FileNotFoundError: not a dataset directory.
        ValueError: not a talking-head dataset, or the split is empty.
    """
    from tqdm import tqdm

    from xmodal.data.manifest import manifest_path, read_dataset_info, read_manifest
    from xmodal.data.splits import rows_by_split
    from xmodal.utils import atomic_path, default_workers

    root = Path(dataset_dir)
    info = read_dataset_info(root)
    if info.get("kind") != "talking":
        raise ValueError(
            f"{root}: a {info.get('kind')!r} dataset; sync needs a talking-head dataset "
            "(xmodal data talking)"
        )
    rows = rows_by_split(read_manifest(root)).get(split, [])[:limit]
    if not rows:
        if not required:
            return []
        raise ValueError(f"{root}: the {split!r} split has no clips")
    tag = f"sync-{split}-c{crop_size}" + (f"-n{limit}" if limit else "")
    cache = root / "cache" / f"{tag}.npz"
    if cache.is_file() and cache.stat().st_mtime >= manifest_path(root).stat().st_mtime:
        with np.load(cache, allow_pickle=False) as z:
            ids = [str(i) for i in z["ids"]]
            if ids == [r["id"] for r in rows]:
                m_cut, f_cut = np.cumsum(z["n_frames"])[:-1], np.cumsum(z["n_mfcc"])[:-1]
                mouths, mfccs = np.split(z["mouths"], m_cut), np.split(z["mfcc"], f_cut)
                return [
                    ClipArrays(i, m, f, str(s))
                    for i, m, f, s in zip(ids, mouths, mfccs, z["speakers"], strict=True)
                ]
    workers = default_workers() if workers is None else max(1, workers)
    workers = min(workers, -(-len(rows) // 16))  # a process pool pays off from ~16 clips each
    bar = tqdm(total=len(rows), desc=f"decode {split}", unit="clip", disable=not progress)
    if workers == 1:
        clips = []
        for r in rows:
            clips.append(_load_talking_clip(str(root), r, crop_size))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(rows))) as pool:
            futures = [pool.submit(_load_talking_clip, str(root), r, crop_size) for r in rows]
            clips = []
            for fut in futures:
                clips.append(fut.result())
                bar.update()
    bar.close()
    with atomic_path(cache) as tmp:
        np.savez(
            tmp,
            ids=np.array([c.id for c in clips]),
            speakers=np.array([c.speaker or "" for c in clips]),
            n_frames=np.array([len(c.mouths) for c in clips]),
            n_mfcc=np.array([len(c.mfcc) for c in clips]),
            mouths=np.concatenate([c.mouths for c in clips]),
            mfcc=np.concatenate([c.mfcc for c in clips]),
        )
    return clips


class SyncRuns:
    """Runs of ``run_windows`` consecutive windows with every candidate audio window around them.

    Item ``j`` is a ``(clip, t)`` pair with ``max_offset <= t`` and
    ``t + run_windows + max_offset <= n_windows``:
    ``{"video": (L, 5, S, S) uint8, "audio": (L + 2M, 1, 13, 20) float32}`` for video windows
    ``t .. t+L-1`` and audio windows ``t-M .. t+L-1+M`` (a torch ``Dataset``).

    Args:
        clips: the clips (too short ones are skipped).
        run_windows: L.
        max_offset: M.
        stride: distance between the starts of consecutive items of a clip.
    """

    def __init__(
        self, clips: list[ClipArrays], run_windows: int = 24, max_offset: int = 15, stride: int = 1
    ) -> None:
        if run_windows < 1 or max_offset < 0 or stride < 1:
            raise ValueError("run_windows and stride must be >= 1 and max_offset >= 0")
        self.clips = clips
        self.run_windows = run_windows
        self.max_offset = max_offset
        self.video = [c.video_windows() for c in clips]
        self.audio = [c.audio_windows() for c in clips]
        items = []
        for k, c in enumerate(clips):
            last = c.n_windows - run_windows - max_offset  # largest valid t
            items += [(k, t) for t in range(max_offset, last + 1, stride)]
        self.items = np.asarray(items, dtype=np.int64).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, j: int) -> dict[str, Any]:
        import torch

        k, t = (int(v) for v in self.items[j])
        m, n = self.max_offset, self.run_windows
        video = np.ascontiguousarray(self.video[k][t : t + n])  # (L, 5, S, S)
        audio = np.ascontiguousarray(self.audio[k][t - m : t + n + m])  # (L + 2M, 1, 13, 20)
        return {"video": torch.from_numpy(video), "audio": torch.from_numpy(audio)}


def embed_clip(
    model: Any, clip: ClipArrays, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Embed every window of a clip.

    Args:
        model: a :class:`xmodal.models.sync_net.SyncNet` (put in eval mode here).
        clip: the clip.
        batch_size: windows per forward pass.

    Returns:
        ``(video_emb (W, E), audio_emb (W, E))`` float32, W = ``clip.n_windows``.
    """
    import torch

    model.eval()
    first = next(iter(model.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    video, audio = clip.video_windows(), clip.audio_windows()
    v_out, a_out = [], []
    with torch.no_grad():
        for s in range(0, clip.n_windows, batch_size):
            v = torch.from_numpy(np.ascontiguousarray(video[s : s + batch_size])).to(device)
            a = torch.from_numpy(np.ascontiguousarray(audio[s : s + batch_size])).to(device)
            v_out.append(model.encode_video(v).cpu().numpy())
            a_out.append(model.encode_audio(a).cpu().numpy())
    if not v_out:
        e = model.config.embed_dim
        return np.zeros((0, e), np.float32), np.zeros((0, e), np.float32)
    return np.concatenate(v_out), np.concatenate(a_out)

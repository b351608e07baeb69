"""The feature cache: per (dataset, encoder id) float32 arrays on disk, memory-mapped on read.

Layout of ``DATASET/features/<encoder id>/``, or ``DATASET/features/fps<rate>/<encoder id>/``
for video decoded at a fixed rate (the root ``DATASET/features`` can be replaced with
``cache_dir``; give each dataset its own)::

    data.npy      (sum of T_i, D) float32: every clip's rows, one clip after another
    offsets.npy   (N + 1,) int64: clip i is data[offsets[i]:offsets[i + 1]]
    meta.json     encoder id/name/modality, dim, dtype, shape, ids (manifest order), lengths,
                  step_s (seconds per feature row, per clip), failed [{id, path, reason}],
                  skipped [{id, reason}], fingerprint, timings; written last = complete

Extraction works in chunks of clips. Each chunk is committed as ``.parts/part-NNNNN.npy`` plus
its ``.json`` record (written after the array, both atomically), so a killed run resumes from
the last committed chunk. At the end the parts are consolidated into ``data.npy`` and removed.
A finished entry whose fingerprint (encoder id, decode fps, manifest and dataset.json bytes)
still matches makes a rerun a no-op; a changed manifest re-extracts. Clips that fail to decode
(``MediaError``) or that the encoder rejects (``ValueError``: too short, empty) are reported on
stderr by path and left out, never zero-filled; text rows without ``text`` are skipped and
listed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.features.base import Encoder
from xmodal.types import Modality
from xmodal.utils import atomic_path, default_workers, read_json, write_json

FEATURES_DIRNAME = "features"
PARTS_DIRNAME = ".parts"
GROUP_SIZE = 8  # clips encoded together (frames batched across them); progress granularity
FORMAT_VERSION = 1


def cache_root(dataset_dir: str | Path, cache_dir: str | Path | None = None) -> Path:
    """The directory that holds one sub-directory per encoder id."""
    return Path(cache_dir) if cache_dir is not None else Path(dataset_dir) / FEATURES_DIRNAME


def cache_path(
    dataset_dir: str | Path,
    encoder_id: str,
    cache_dir: str | Path | None = None,
    fps: float | None = None,
) -> Path:
    """``<cache root>/<encoder id>``, or ``<cache root>/fps<fps>/<encoder id>`` for video decoded
    at a fixed rate: features at different rates live side by side, and every pipeline asking
    for the same encoder at the same rate shares one entry."""
    root = cache_root(dataset_dir, cache_dir)
    return (root if fps is None else root / f"fps{float(fps):g}") / encoder_id


# ----------------------------------------------------------------------------- reading


@dataclass
class FeatureSet:
    """A finished cache entry: clip ids in manifest order and their ``(T, D)`` arrays.

    Attributes:
        path: the entry's directory.
        meta: the parsed ``meta.json``.
        data: ``(sum T, D)`` float32, memory-mapped read-only.
        offsets: ``(N + 1,)`` int64 row offsets.
    """

    path: Path
    meta: dict[str, Any]
    data: np.ndarray
    offsets: np.ndarray
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._index = {cid: i for i, cid in enumerate(self.meta["ids"])}

    @property
    def ids(self) -> list[str]:
        """Clip ids in manifest order (failed and skipped clips are absent)."""
        return list(self.meta["ids"])

    @property
    def encoder_id(self) -> str:
        return str(self.meta["encoder_id"])

    @property
    def modality(self) -> Modality:
        return Modality.parse(self.meta["modality"])

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, clip_id: object) -> bool:
        return clip_id in self._index

    def __getitem__(self, clip_id: str) -> np.ndarray:
        """``(T, D)`` view into the memory map (no copy)."""
        try:
            i = self._index[clip_id]
        except KeyError:
            raise KeyError(f"clip {clip_id!r} is not in {self.path}") from None
        return self.data[self.offsets[i] : self.offsets[i + 1]]

    def arrays(self, ids: Sequence[str] | None = None) -> list[np.ndarray]:
        """``(T_i, D)`` views for ``ids`` (default: all, in manifest order)."""
        return [self[cid] for cid in (self.meta["ids"] if ids is None else ids)]

    def step_seconds(self, clip_id: str) -> float | None:
        """Seconds between feature rows of a clip (None for text)."""
        return self.meta["step_s"][self._index[clip_id]]


def load_features(
    dataset_dir: str | Path,
    encoder: str | Encoder,
    cache_dir: str | Path | None = None,
    fps: float | None = None,
) -> FeatureSet:
    """Open a finished cache entry.

    Args:
        dataset_dir: the dataset directory.
        encoder: an encoder id (``"logmel-sr16000-nfft400-hop160-mels80"``) or an encoder.
        cache_dir: the cache root, if not ``DATASET/features``.
        fps: the rate video was decoded at when extracted (None: each clip's native rate).

    Returns:
        The :class:`FeatureSet` (arrays memory-mapped, nothing read yet).

    Raises:
        FileNotFoundError: the entry does not exist or is unfinished (names the path and the
            command that makes it).
    """
    encoder_id = encoder.id if isinstance(encoder, Encoder) else str(encoder)
    path = cache_path(dataset_dir, encoder_id, cache_dir, fps)
    meta_file = path / "meta.json"
    if not meta_file.is_file():
        state = "is unfinished (resume it)" if path.is_dir() else "does not exist"
        hint = _other_rates_hint(cache_root(dataset_dir, cache_dir), encoder_id, fps)
        raise FileNotFoundError(
            f"{path}: feature cache {state}; run `xmodal features extract {dataset_dir} ...` "
            f"with the encoder whose id is {encoder_id!r}{hint}"
        )
    meta = read_json(meta_file)
    offsets = np.load(path / "offsets.npy")
    total = int(offsets[-1])
    data = np.load(path / "data.npy", mmap_mode="r" if total > 0 else None)
    if data.shape != (total, int(meta["dim"])):
        raise ValueError(f"{path}: data.npy has shape {data.shape}, meta says {meta['shape']}")
    return FeatureSet(path, meta, data, offsets)


def _other_rates_hint(root: Path, encoder_id: str, fps: float | None) -> str:
    """``"; it is cached at: --fps 4"`` when finished entries exist at other decode rates."""
    found = []
    if fps is not None and (root / encoder_id / "meta.json").is_file():
        found.append("the native rate (no --fps)")
    for d in sorted(root.glob("fps*")):
        rate = d.name[3:]
        if (d / encoder_id / "meta.json").is_file() and (fps is None or rate != f"{fps:g}"):
            found.append(f"--fps {rate}")
    return f"; it is cached at: {', '.join(found)}" if found else ""


def is_cached(
    dataset_dir: str | Path,
    encoder: Encoder,
    cache_dir: str | Path | None = None,
    fps: float | None = None,
) -> bool:
    """Whether a finished entry for this encoder matches the dataset as it is now."""
    if encoder.modality is not Modality.VIDEO:
        fps = None
    meta_file = cache_path(dataset_dir, encoder.id, cache_dir, fps) / "meta.json"
    if not meta_file.is_file():
        return False
    return read_json(meta_file).get("fingerprint") == _fingerprint(dataset_dir, encoder, fps)


# ----------------------------------------------------------------------------- extraction


def _fingerprint(dataset_dir: str | Path, encoder: Encoder, fps: float | None) -> str:
    from xmodal.data.manifest import dataset_info_path, manifest_path

    # Only video decoding uses fps; 4 and 4.0 are the same rate and must give the same entry.
    fps = float(fps) if encoder.modality is Modality.VIDEO and fps is not None else None
    h = hashlib.sha256()
    h.update(json.dumps({"v": FORMAT_VERSION, "encoder": encoder.id, "fps": fps}).encode())
    h.update(manifest_path(dataset_dir).read_bytes())
    info = dataset_info_path(dataset_dir)
    if info.is_file():
        h.update(info.read_bytes())
    return h.hexdigest()[:16]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


@dataclass
class _Chunk:
    """What one committed chunk holds."""

    ids: list[str]
    lengths: list[int]
    steps: list[float | None]
    failed: list[dict[str, str]]
    skipped: list[dict[str, str]]
    seconds: float = 0.0  # wall time spent decoding and encoding this chunk


def _read_parts(parts_dir: Path) -> Iterator[tuple[Path, _Chunk]]:
    for record in sorted(parts_dir.glob("part-*.json")):
        chunk = _Chunk(**read_json(record))
        yield record.with_suffix(".npy"), chunk


def _decode(
    dataset_dir: Path, row: dict[str, Any], encoder: Encoder, fps: float | None
) -> tuple[Any, float | None]:
    """Read one clip's input for the encoder: (input, seconds per feature row)."""
    from xmodal.media import probe, read_audio, read_video

    path = dataset_dir / row["path"]
    if encoder.modality is Modality.VIDEO:
        frames = read_video(path, fps=fps)
        rate = fps if fps is not None else (probe(path).video.fps or None)
        return frames, (1.0 / rate if rate else None)
    wave = read_audio(path, sample_rate=int(encoder.sample_rate))  # type: ignore[attr-defined]
    return wave, encoder.step_seconds


def _encode_group(
    encoder: Encoder, group: list[tuple[dict[str, Any], Any, float | None]]
) -> list[np.ndarray | ValueError]:
    """Encode decoded clips together; if the encoder rejects the batch, find the culprit(s)."""
    try:
        return list(encoder.extract_batch([x for _, x, _ in group]))
    except ValueError:  # an empty or too-short clip: retry one by one to name it
        feats: list[np.ndarray | ValueError] = []
        for _, x, _ in group:
            try:
                feats.append(encoder.extract(x))
            except ValueError as e:
                feats.append(e)
        return feats


def _encode_chunk(
    dataset_dir: Path,
    rows: list[dict[str, Any]],
    encoder: Encoder,
    fps: float | None,
    pool: ThreadPoolExecutor,
    advance: Callable[[int], None],
    group_size: int = GROUP_SIZE,
) -> tuple[list[np.ndarray], _Chunk]:
    """Decode and encode one chunk of rows; failures are recorded, not raised.

    Clips are decoded by the thread pool ahead of the encoder and encoded ``group_size`` at a
    time (frames batched across the group's clips); ``advance(n)`` reports progress per group.
    """
    from xmodal.media import MediaError

    chunk = _Chunk(ids=[], lengths=[], steps=[], failed=[], skipped=[])
    arrays: list[np.ndarray] = []
    if encoder.modality is Modality.TEXT:
        good = []
        for row in rows:
            text = row.get("text")
            if isinstance(text, str) and text.strip():
                good.append(row)
            else:
                chunk.skipped.append({"id": row["id"], "reason": "no text"})
        feats = list(encoder.extract([r["text"] for r in good])) if good else []  # B x (D,)
        arrays = [f[None, :] for f in feats]  # B x (1, D)
        for row, arr in zip(good, arrays, strict=True):
            chunk.ids.append(row["id"])
            chunk.lengths.append(len(arr))
            chunk.steps.append(None)
        advance(len(rows))
        return arrays, chunk

    def decode(row: dict[str, Any]) -> tuple[Any, float | None] | MediaError:
        try:
            return _decode(dataset_dir, row, encoder, fps)
        except MediaError as e:
            return e

    pending: list[Any] = [pool.submit(decode, row) for row in rows]  # decoding runs ahead
    for start in range(0, len(rows), group_size):
        group: list[tuple[dict[str, Any], Any, float | None]] = []
        for i in range(start, min(start + group_size, len(rows))):
            row, result = rows[i], pending[i].result()  # type: ignore[union-attr]
            pending[i] = None  # the group holds the frames from here on
            if isinstance(result, MediaError):
                chunk.failed.append({"id": row["id"], "path": row["path"], "reason": result.reason})
            else:
                group.append((row, result[0], result[1]))
        feats = _encode_group(encoder, group) if group else []
        for (row, _, step), feat in zip(group, feats, strict=True):
            if isinstance(feat, ValueError):
                chunk.failed.append({"id": row["id"], "path": row["path"], "reason": str(feat)})
                continue
            arrays.append(feat)
            chunk.ids.append(row["id"])
            chunk.lengths.append(len(feat))
            chunk.steps.append(step)
        advance(len(rows[start : start + group_size]))
    return arrays, chunk


def extract_dataset(
    dataset_dir: str | Path,
    encoder: str | Encoder,
    cache_dir: str | Path | None = None,
    batch_size: int | None = None,
    *,
    fps: float | None = None,
    chunk_size: int = 64,
    progress: bool = True,
    log: Callable[[str], None] = _stderr,
) -> Path:
    """Extract (or resume, or reuse) the features of every clip of a dataset.

    Args:
        dataset_dir: a dataset directory (``manifest.jsonl`` + ``dataset.json``).
        encoder: an :class:`Encoder` or a registry name.
        cache_dir: the cache root (default ``DATASET/features``).
        batch_size: frames/strings per forward pass (default: the encoder's own; ignored by
            encoders that run clip by clip).
        fps: decode video at this rate (default: each clip's native rate); ignored for audio
            and text.
        chunk_size: clips per committed chunk (the unit of resumption).
        progress: show a progress bar (clips/s) and say when the entry is already cached.
        log: where messages go (failed clips always, by path).

    Returns:
        The entry's directory (read it with :func:`load_features`).
    """
    import torch
    from tqdm import tqdm

    from xmodal.data.manifest import read_manifest
    from xmodal.features import get

    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    dataset_dir = Path(dataset_dir)
    enc = get(encoder) if isinstance(encoder, str) else encoder
    rows = read_manifest(dataset_dir)
    if batch_size is not None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if hasattr(enc, "batch_size"):  # log-mel, MFCC, Wav2Vec2 run clip by clip
            enc.batch_size = batch_size  # type: ignore[attr-defined]
    if enc.modality is not Modality.VIDEO:
        fps = None
    out = cache_path(dataset_dir, enc.id, cache_dir, fps)
    fingerprint = _fingerprint(dataset_dir, enc, fps)
    meta_file = out / "meta.json"
    if meta_file.is_file() and read_json(meta_file).get("fingerprint") == fingerprint:
        if progress:
            log(f"{enc.id}: cached at {out} ({len(read_json(meta_file)['ids'])} clips)")
        return out

    parts_dir = out / PARTS_DIRNAME
    state_file = parts_dir / "state.json"
    if parts_dir.is_dir() and (
        not state_file.is_file() or read_json(state_file).get("fingerprint") != fingerprint
    ):
        shutil.rmtree(parts_dir)  # parts of another manifest or encoder version
    parts_dir.mkdir(parents=True, exist_ok=True)
    write_json(state_file, {"fingerprint": fingerprint, "encoder_id": enc.id})

    meta_file.unlink(missing_ok=True)  # a stale entry must not be read while it is redone
    done: set[str] = set()
    n_parts = 0
    for _, chunk in _read_parts(parts_dir):
        done.update(chunk.ids, (f["id"] for f in chunk.failed), (s["id"] for s in chunk.skipped))
        n_parts += 1
    todo = [r for r in rows if r["id"] not in done]

    torch.set_num_threads(default_workers())
    enc.load()
    bar = tqdm(
        total=len(rows),
        initial=len(rows) - len(todo),
        unit="clip",
        desc=enc.id,
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    with bar, ThreadPoolExecutor(max_workers=default_workers()) as pool:
        for start in range(0, len(todo), chunk_size):
            t0 = time.perf_counter()
            arrays, chunk = _encode_chunk(
                dataset_dir, todo[start : start + chunk_size], enc, fps, pool, bar.update
            )
            for f in chunk.failed:
                log(f"skipped {dataset_dir / f['path']}: {f['reason']}")
            stem = parts_dir / f"part-{n_parts:05d}"
            data = np.concatenate(arrays) if arrays else np.zeros((0, enc.dim), np.float32)
            with atomic_path(stem.with_suffix(".npy")) as tmp:
                np.save(tmp, data.astype(np.float32, copy=False))  # (sum T, D)
            chunk.seconds = time.perf_counter() - t0
            write_json(stem.with_suffix(".json"), chunk.__dict__)  # the commit record
            n_parts += 1
    _consolidate(out, parts_dir, rows, enc, fingerprint, fps)
    return out


def _consolidate(
    out: Path,
    parts_dir: Path,
    rows: list[dict[str, Any]],
    enc: Encoder,
    fingerprint: str,
    fps: float | None,
) -> None:
    """Merge committed parts into ``data.npy``/``offsets.npy``/``meta.json`` in manifest order."""
    where: dict[str, tuple[Path, int, int, float | None]] = {}  # id -> (part, start, len, step)
    failed: list[dict[str, str]] = []
    skipped: list[dict[str, str]] = []
    seconds = 0.0
    for npy, chunk in _read_parts(parts_dir):
        seconds += chunk.seconds
        offset = 0
        for cid, length, step in zip(chunk.ids, chunk.lengths, chunk.steps, strict=True):
            where[cid] = (npy, offset, length, step)
            offset += length
        failed.extend(chunk.failed)
        skipped.extend(chunk.skipped)
    order = [r["id"] for r in rows if r["id"] in where]
    lengths = [where[cid][2] for cid in order]
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)
    total, dim = int(offsets[-1]), int(enc.dim)

    parts: dict[Path, np.ndarray] = {}
    with atomic_path(out / "data.npy") as tmp:
        data = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(total, dim))
        for i, cid in enumerate(order):
            npy, start, length, _ = where[cid]
            if npy not in parts:
                parts[npy] = np.load(npy, mmap_mode="r")
            data[offsets[i] : offsets[i + 1]] = parts[npy][start : start + length]
        data.flush()
        del data
    parts.clear()
    with atomic_path(out / "offsets.npy") as tmp:
        np.save(tmp, offsets)
    rank = {r["id"]: i for i, r in enumerate(rows)}
    failed.sort(key=lambda f: rank.get(f["id"], 0))
    skipped.sort(key=lambda s: rank.get(s["id"], 0))
    meta = {
        "format": FORMAT_VERSION,
        "encoder_id": enc.id,
        "encoder": enc.name,
        "modality": enc.modality.value,
        "dim": dim,
        "dtype": "float32",
        "shape": [total, dim],
        "count": len(order),
        "ids": order,
        "lengths": lengths,
        "step_s": [where[cid][3] for cid in order],
        "fps": fps,
        "failed": failed,
        "skipped": skipped,
        "fingerprint": fingerprint,
        "extract_seconds": round(seconds, 3),
        "seconds_per_clip": round(seconds / max(1, len(where) + len(failed)), 5),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(out / "meta.json", meta)
    shutil.rmtree(parts_dir)

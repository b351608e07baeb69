"""Exporting a library: every entry as JSON lines, and its media as a dataset to train on."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from xmodal.library.records import Entry, LibraryError, Segment
from xmodal.library.store import Store
from xmodal.types import Modality


def export_row(entry: Entry, segments: list[Segment], vectors: bool = False) -> dict[str, Any]:
    """One JSON-lines row of :meth:`Library.export`."""
    segs = []
    for s in segments:
        row: dict[str, Any] = {"index": s.index, "start": s.start, "end": s.end, "text": s.text}
        if s.tags is not None:
            row["seen"] = [t.to_json() for t in s.tags]
        if vectors:
            row["vectors"] = {k: [round(float(x), 6) for x in v] for k, v in s.vectors.items()}
        segs.append(row)
    return {
        "id": entry.id,
        "path": entry.path,
        "modality": entry.modality.value,
        "created": entry.created,
        "modified": entry.modified,
        "added": entry.added,
        "duration": entry.duration,
        "text": entry.text,
        "tags": entry.tags,
        "segments": segs,
    }


def build_training_set(store: Store, dataset_dir: Path) -> int:
    """Write a dataset (``manifest.jsonl`` + ``dataset.json``) of the library's media.

    Returns:
        The number of training clips.

    Raises:
        LibraryError: fewer than two training clips with two modalities.
    """
    import hashlib

    from xmodal.data.manifest import write_dataset_info, write_manifest
    from xmodal.media import MediaError, probe

    dataset_dir.mkdir(parents=True, exist_ok=True)
    base = dataset_dir.resolve()
    rows, skipped = [], []
    for entry in store.iter_entries():
        if entry.modality is Modality.TEXT:
            continue
        path = Path(entry.path)
        try:
            info = probe(path)
        except MediaError as e:
            skipped.append({"path": entry.path, "reason": e.reason})
            continue
        mods = [m for m, has in ((Modality.VIDEO, info.has_video),
                                 (Modality.AUDIO, info.has_audio),
                                 (Modality.TEXT, bool(entry.text.strip()))) if has]  # fmt: skip
        if len(mods) < 2:
            skipped.append({"path": entry.path, "reason": "fewer than two modalities"})
            continue
        bucket = int(hashlib.sha256(entry.id.encode()).hexdigest()[:8], 16) % 10
        split = "val" if bucket == 0 else "test" if bucket == 1 else "train"
        row: dict[str, Any] = {
            "id": entry.id[:16],
            "path": os.path.relpath(path, base),
            "split": split,
            "modalities": [m.value for m in mods],
            "duration": entry.duration,
            "source": entry.path,
        }
        if entry.text.strip():
            row["text"] = entry.text
        rows.append(row)
    n_train = sum(r["split"] == "train" for r in rows)
    if n_train < 2:
        raise LibraryError(
            f"library at {store.location}: a joint space needs at least two training clips "
            f"(videos or recordings with two of frames, sound and speech); found {len(rows)} "
            f"clips, {n_train} for training"
        )
    write_manifest(dataset_dir, rows)
    splits = {s: sum(r["split"] == s for r in rows) for s in ("train", "val", "test")}
    write_dataset_info(dataset_dir, {"kind": "library", "library": store.location,
                                     "clips": len(rows), "splits": splits,
                                     "skipped": skipped})  # fmt: skip
    return n_train

"""Dataset manifests: ``dataset.json`` (what made the dataset) and ``manifest.jsonl`` (its clips).

A dataset is a directory::

    DIR/dataset.json      {"kind": "objects", "seed": 0, ...}   how it was made
    DIR/manifest.jsonl    one row per clip, in id order
    DIR/clips/...         the media, at paths relative to DIR

A manifest row (see docs/architecture.md)::

    {"id": "obj-000042", "path": "clips/obj-000042.mp4", "split": "train",
     "object": "knife", "action": "rotate", "text": "rotate the knife",
     "words": [{"word": "rotate", "start_ms": 120.0, "end_ms": 480.0}, ...],
     "phonemes": [{"phoneme": "r", "start_ms": 120.0, "end_ms": 160.0}, ...],
     "duration": 2.0, "params": {...}}

Only ``id`` and ``path`` are required of every row; the rest depends on the dataset's kind.
Both files are written atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from xmodal.utils import write_json, write_jsonl

MANIFEST_NAME = "manifest.jsonl"
DATASET_INFO_NAME = "dataset.json"
REQUIRED_KEYS: tuple[str, ...] = ("id", "path")

PathLike = str | os.PathLike[str]


def manifest_path(dataset_dir: PathLike) -> Path:
    """``DIR/manifest.jsonl``."""
    return Path(dataset_dir) / MANIFEST_NAME


def dataset_info_path(dataset_dir: PathLike) -> Path:
    """``DIR/dataset.json``."""
    return Path(dataset_dir) / DATASET_INFO_NAME


def write_manifest(dataset_dir: PathLike, rows: Iterable[dict[str, Any]]) -> Path:
    """Write ``DIR/manifest.jsonl`` atomically, one row per line, in the order given.

    Args:
        dataset_dir: the dataset directory (created if missing).
        rows: manifest rows, each with at least ``id`` and ``path`` (relative to the directory).

    Returns:
        The manifest's path.

    Raises:
        ValueError: a row lacks a required key, has an absolute path, or repeats an id.
    """
    path = manifest_path(dataset_dir)
    rows = list(rows)
    seen: set[str] = set()
    for n, row in enumerate(rows, start=1):
        _check_row(row, f"row {n} written to {path}")
        if Path(row["path"]).is_absolute():
            raise ValueError(f"row {n} written to {path}: path {row['path']!r} must be relative")
        if row["id"] in seen:
            raise ValueError(f"row {n} written to {path}: duplicate id {row['id']!r}")
        seen.add(row["id"])
    write_jsonl(path, rows)
    return path


def read_manifest(dataset_dir: PathLike) -> list[dict[str, Any]]:
    """Read ``DIR/manifest.jsonl``.

    Args:
        dataset_dir: the dataset directory.

    Returns:
        The rows, in file order.

    Raises:
        FileNotFoundError: the directory or its manifest does not exist (the message names the
            path).
        ValueError: a line is not a JSON object with ``id`` and ``path`` (names path and line).
    """
    path = manifest_path(dataset_dir)
    if not path.is_file():
        raise FileNotFoundError(_missing_message(path, "manifest"))
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: corrupt manifest line ({e.msg})") from None
            _check_row(row, f"{path}:{n}")
            rows.append(row)
    return rows


def write_dataset_info(dataset_dir: PathLike, info: dict[str, Any]) -> Path:
    """Write ``DIR/dataset.json`` atomically.

    Args:
        dataset_dir: the dataset directory (created if missing).
        info: JSON-ready description of how the dataset was made; must contain ``kind``.

    Returns:
        The file's path.
    """
    path = dataset_info_path(dataset_dir)
    if "kind" not in info:
        raise ValueError(f"dataset info written to {path} must have a 'kind'")
    write_json(path, info)
    return path


def read_dataset_info(dataset_dir: PathLike) -> dict[str, Any]:
    """Read ``DIR/dataset.json``.

    Raises:
        FileNotFoundError: missing (the message names the path).
        ValueError: not a JSON object with a ``kind``.
    """
    path = dataset_info_path(dataset_dir)
    if not path.is_file():
        raise FileNotFoundError(_missing_message(path, "dataset description"))
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: corrupt dataset description ({e})") from None
    if not isinstance(info, dict) or "kind" not in info:
        raise ValueError(f"{path}: not a dataset description (expected a JSON object with 'kind')")
    return info


def clip_path(dataset_dir: PathLike, row: dict[str, Any]) -> Path:
    """The absolute path of a row's media file: ``DIR / row["path"]``."""
    return Path(dataset_dir) / row["path"]


def _check_row(row: Any, where: str) -> None:
    if not isinstance(row, dict):
        raise ValueError(f"{where}: manifest row is not a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in row]
    if missing:
        raise ValueError(f"{where}: manifest row lacks {', '.join(missing)}")


def _missing_message(path: Path, what: str) -> str:
    if not path.parent.exists():
        return f"{path.parent}: dataset directory does not exist"
    return f"{path}: no {what} here (not a dataset directory, or its generation did not finish)"

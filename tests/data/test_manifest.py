"""Dataset manifests: round trips, and clear errors that name the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from xmodal.data.manifest import (
    clip_path,
    read_dataset_info,
    read_manifest,
    write_dataset_info,
    write_manifest,
)

ROWS = [
    {
        "id": "obj-000000",
        "path": "clips/obj-000000.mp4",
        "split": "train",
        "object": "knife",
        "action": "rotate",
        "text": "rotate the knife",
        "words": [{"word": "rotate", "start_ms": 120.0, "end_ms": 480.0}],
        "phonemes": [{"phoneme": "r", "start_ms": 120.0, "end_ms": 160.0}],
        "duration": 2.0,
        "params": {"color": [1, 2, 3]},
    },
    {"id": "obj-000001", "path": "clips/obj-000001.mp4", "split": "heldout"},
]


def test_manifest_round_trip(tmp_path: Path) -> None:
    path = write_manifest(tmp_path / "ds", ROWS)
    assert path == tmp_path / "ds" / "manifest.jsonl"
    assert read_manifest(tmp_path / "ds") == ROWS
    assert len(path.read_text().splitlines()) == 2
    assert clip_path(tmp_path / "ds", ROWS[1]) == tmp_path / "ds" / "clips" / "obj-000001.mp4"
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == ["manifest.jsonl"]  # no temp


def test_dataset_info_round_trip(tmp_path: Path) -> None:
    info = {"kind": "objects", "seed": 3, "holdout": [["knife", "rotate"]]}
    write_dataset_info(tmp_path, info)
    assert read_dataset_info(tmp_path) == info
    with pytest.raises(ValueError, match="must have a 'kind'"):
        write_dataset_info(tmp_path, {"seed": 3})


def test_missing_manifest_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="dataset directory does not exist") as e:
        read_manifest(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(e.value)
    with pytest.raises(FileNotFoundError, match="manifest.jsonl: no manifest"):
        read_manifest(tmp_path)
    with pytest.raises(FileNotFoundError, match="dataset.json: no dataset description"):
        read_dataset_info(tmp_path)


def test_corrupt_manifest_names_path_and_line(tmp_path: Path) -> None:
    write_manifest(tmp_path, ROWS)
    path = tmp_path / "manifest.jsonl"
    path.write_text(path.read_text() + '{"id": "obj-000002", "pa\n')
    with pytest.raises(ValueError, match=r"manifest.jsonl:3: corrupt manifest line"):
        read_manifest(tmp_path)
    path.write_text('{"id": "x"}\n')
    with pytest.raises(ValueError, match=r"manifest.jsonl:1: manifest row lacks path"):
        read_manifest(tmp_path)
    path.write_text("[1, 2]\n")
    with pytest.raises(ValueError, match="not a JSON object"):
        read_manifest(tmp_path)


def test_corrupt_dataset_info(tmp_path: Path) -> None:
    (tmp_path / "dataset.json").write_text("{not json")
    with pytest.raises(ValueError, match="dataset.json: corrupt dataset description"):
        read_dataset_info(tmp_path)
    (tmp_path / "dataset.json").write_text('{"seed": 1}')
    with pytest.raises(ValueError, match="expected a JSON object with 'kind'"):
        read_dataset_info(tmp_path)


def test_bad_rows_are_refused_before_writing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="duplicate id 'obj-000000'"):
        write_manifest(tmp_path, [ROWS[0], ROWS[0]])
    with pytest.raises(ValueError, match="must be relative"):
        write_manifest(tmp_path, [{"id": "a", "path": "/abs/a.mp4"}])
    with pytest.raises(ValueError, match="lacks id"):
        write_manifest(tmp_path, [{"path": "a.mp4"}])
    assert not (tmp_path / "manifest.jsonl").exists()

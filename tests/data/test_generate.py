"""The synthetic worlds' shared generator: directory claims, resume after a failure, stale temp
files, serial and forked parallel builds giving the same dataset, and the OpenCV helpers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from xmodal.data._generate import claim_directory, ellipse, generate_clips, is_done
from xmodal.data.manifest import read_dataset_info, read_manifest
from xmodal.utils import write_json

INFO = {"kind": "toy", "seed": 0}
IDS = [f"toy-{i:03d}" for i in range(7)]
SET_IN_PARENT: list[int] = []  # a forked worker sees what the parent put here; a spawned one not


def _build(out: Path, cid: str, value: int, fail_on: str | None = None) -> dict:
    """A toy clip: its "MP4" holds ``value``; the build is logged (one file per call)."""
    if cid == fail_on:
        raise RuntimeError(f"cannot build {cid}")
    clips = out / "clips"
    (clips / f"{cid}.mp4").write_bytes(str(value).encode())
    with (out / "calls.log").open("a") as log:  # O_APPEND: safe across worker processes
        log.write(f"{cid}\n")
    try:
        import cv2

        threads = cv2.getNumThreads()
    except ImportError:  # pragma: no cover - opencv is installed with the vision extra
        threads = -1
    row = {"id": cid, "path": f"clips/{cid}.mp4", "value": value, "pid": os.getpid()}
    extra = {"cv2_threads": threads, "parent_marks": len(SET_IN_PARENT)}
    write_json(clips / f"{cid}.json", {**row, **extra}, indent=None)
    return row


def _args(out: Path, fail_on: str | None = None) -> list[tuple]:
    return [(out, cid, 10 * k, fail_on) for k, cid in enumerate(IDS)]


def _calls(out: Path) -> list[str]:
    path = out / "calls.log"
    return path.read_text().split() if path.exists() else []


def test_serial_generation_writes_claim_clips_and_manifest_in_id_order(tmp_path: Path) -> None:
    out = tmp_path / "toy"
    result = generate_clips(out, INFO, IDS, _build, _args(out), workers=1, progress=False)
    assert result == out
    assert read_dataset_info(out) == INFO
    rows = read_manifest(out)
    assert [r["id"] for r in rows] == IDS
    assert [r["value"] for r in rows] == [0, 10, 20, 30, 40, 50, 60]
    assert all(r["pid"] == os.getpid() for r in rows)  # workers=1 builds in this process
    assert _calls(out) == IDS


def test_resume_after_a_failure_builds_only_the_missing_clips(tmp_path: Path) -> None:
    out = tmp_path / "toy"
    with pytest.raises(RuntimeError, match="cannot build toy-004"):
        generate_clips(out, INFO, IDS, _build, _args(out, "toy-004"), workers=1, progress=False)
    assert _calls(out) == IDS[:4]
    assert not (out / "manifest.jsonl").exists()  # nothing claims to be complete
    # A clip killed between its MP4 and its sidecar is not done: it is built again.
    (out / "clips" / "toy-001.json").unlink()
    assert not is_done(out / "clips", "toy-001") and is_done(out / "clips", "toy-002")

    generate_clips(out, INFO, IDS, _build, _args(out), workers=1, progress=False)
    assert _calls(out) == IDS[:4] + ["toy-001"] + IDS[4:]
    assert [r["value"] for r in read_manifest(out)] == [0, 10, 20, 30, 40, 50, 60]
    # A third run over a complete dataset builds nothing and rewrites the same manifest.
    before = (out / "manifest.jsonl").read_bytes()
    generate_clips(out, INFO, IDS, _build, _args(out), workers=2, progress=False)
    assert len(_calls(out)) == 8
    assert (out / "manifest.jsonl").read_bytes() == before


def test_parallel_workers_build_each_clip_once_single_threaded(tmp_path: Path) -> None:
    cv2 = pytest.importorskip("cv2")
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    generate_clips(serial, INFO, IDS, _build, _args(serial), workers=1, progress=False)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(3)
    try:
        generate_clips(parallel, INFO, IDS, _build, _args(parallel), workers=2, progress=False)
        assert cv2.getNumThreads() == 3  # the parent's thread count is restored afterwards
    finally:
        cv2.setNumThreads(threads)
    assert sorted(_calls(parallel)) == IDS  # each clip exactly once
    rows = read_manifest(parallel)
    assert {r["pid"] for r in rows}.isdisjoint({os.getpid()})  # built in the workers
    assert all(r["cv2_threads"] == 1 for r in rows)

    def content(rows: list[dict]) -> list[tuple]:
        return [(r["id"], r["path"], r["value"]) for r in rows]

    assert content(rows) == content(read_manifest(serial))
    for cid in IDS:
        assert (parallel / "clips" / f"{cid}.mp4").read_bytes() == (
            serial / "clips" / f"{cid}.mp4"
        ).read_bytes()


def test_a_threaded_parent_spawns_its_workers_and_gets_the_same_clips(tmp_path: Path) -> None:
    """A forked child clears the parent's other threads' state: CI hung in a child freeing the
    PyAV scaler a server thread kept in a thread-local (its condition variable waits for slice
    threads the fork did not copy). Such a process spawns its workers, which build the same
    clips."""
    import threading

    av = pytest.importorskip("av")
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    generate_clips(serial, INFO, IDS, _build, _args(serial), workers=1, progress=False)
    held, ready, stop = threading.local(), threading.Event(), threading.Event()

    def hold_a_scaler() -> None:
        frame = av.VideoFrame.from_ndarray(np.zeros((480, 640, 3), np.uint8), format="rgb24")
        held.scaler = av.video.reformatter.VideoReformatter()
        held.scaler.reformat(frame, width=320, height=240, format="yuv420p")
        ready.set()
        stop.wait()

    busy = threading.Thread(target=hold_a_scaler, daemon=True)
    busy.start()
    assert ready.wait(30)
    SET_IN_PARENT.append(1)
    try:
        generate_clips(parallel, INFO, IDS, _build, _args(parallel), workers=2, progress=False)
    finally:
        SET_IN_PARENT.clear()
        stop.set()
        busy.join()
    rows = read_manifest(parallel)
    assert {r["pid"] for r in rows}.isdisjoint({os.getpid()})
    assert all(r["parent_marks"] == 0 for r in rows)  # fresh interpreters: spawned, not forked
    assert [r["value"] for r in rows] == [r["value"] for r in read_manifest(serial)]
    assert sorted(_calls(parallel)) == IDS


def test_a_worker_error_is_raised_in_the_caller(tmp_path: Path) -> None:
    out = tmp_path / "toy"
    with pytest.raises(RuntimeError, match="cannot build toy-002"):
        generate_clips(out, INFO, IDS, _build, _args(out, "toy-002"), workers=2, progress=False)
    assert not (out / "manifest.jsonl").exists()
    assert "toy-002" not in _calls(out)


def test_stale_temp_files_of_these_clips_are_removed_others_kept(tmp_path: Path) -> None:
    out = tmp_path / "toy"
    claim_directory(out, INFO)
    clips = out / "clips"
    clips.mkdir()
    stale = [clips / ".toy-003.mp4.abc123.mp4", clips / ".toy-005.json.x9.json"]
    kept = [clips / ".keep", clips / ".other-001.mp4.abc.mp4"]
    for path in stale + kept:
        path.write_bytes(b"half")
    generate_clips(out, INFO, IDS, _build, _args(out), workers=1, progress=False)
    assert [p.exists() for p in stale] == [False, False]
    assert [p.exists() for p in kept] == [True, True]


def test_claim_refuses_another_dataset_and_foreign_folders(tmp_path: Path) -> None:
    out = tmp_path / "toy"
    claim_directory(out, INFO)
    assert read_dataset_info(out) == INFO
    claim_directory(out, dict(INFO))  # the same dataset: accepted, nothing changes
    with pytest.raises(ValueError, match=r"already holds a different dataset \(seed: 0 -> 1\)"):
        claim_directory(out, {**INFO, "seed": 1})
    with pytest.raises(ValueError, match="different dataset"):
        generate_clips(out, {**INFO, "seed": 1}, IDS, _build, _args(out), progress=False)
    assert not (out / "clips").exists()  # refused before anything was written

    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"jpg")
    with pytest.raises(ValueError, match=f"{foreign}: not empty and not a dataset"):
        claim_directory(foreign, INFO)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(ValueError, match=f"{a_file}: exists and is not a directory"):
        claim_directory(a_file, INFO)


def test_bad_arguments(tmp_path: Path) -> None:
    out = tmp_path / "toy"
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        generate_clips(out, INFO, IDS, _build, _args(out), workers=0, progress=False)
    with pytest.raises(ValueError, match="7 clip ids but 6 argument tuples"):
        generate_clips(out, INFO, IDS, _build, _args(out)[:6], workers=1, progress=False)
    assert not out.exists()


def test_ellipse_points_lie_on_the_ellipse() -> None:
    pts = ellipse(2.0, -1.0, 3.0, 0.5, 12)
    assert pts.shape == (12, 2)
    np.testing.assert_allclose(((pts[:, 0] - 2.0) / 3.0) ** 2 + ((pts[:, 1] + 1.0) / 0.5) ** 2, 1)
    np.testing.assert_allclose(pts[0], [5.0, -1.0])  # starts on the +x half-axis
    assert ellipse(0, 0, 1, 1).shape == (48, 2)

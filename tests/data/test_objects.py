"""The object-action world: drawn shapes move as described, speech fits, generation is
deterministic, resumable and honours the compositional split."""

from __future__ import annotations

import dataclasses
import math
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from xmodal.data.manifest import clip_path, read_dataset_info, read_manifest
from xmodal.data.objects import (
    ACTIONS,
    OBJECTS,
    TEMPLATES,
    ClipParams,
    WorldConfig,
    clip_pair,
    clip_pairs,
    draw_sprite,
    generate,
    render_clip,
    sample_params,
    summarize,
    synthesize_track,
)
from xmodal.data.splits import DEFAULT_HOLDOUT
from xmodal.media import probe, read_audio, read_video

TINY = WorldConfig(size=50, seed=0, frames=8, fps=8, resolution=64)
GREY = 128


def _plain(params: ClipParams) -> ClipParams:
    """Red object on a flat grey background, no noise: the object is where pixels aren't grey."""
    return dataclasses.replace(
        params,
        background="plain",
        bg_colors=((GREY,) * 3, (GREY,) * 3),
        color=(220, 40, 40),
        noise=0.0,
        brightness=1.0,
    )


def _masks(params: ClipParams) -> np.ndarray:
    """(T, H, W) bool: where the object is."""
    frames = render_clip(_plain(params)).astype(np.int16)  # (T, H, W, 3)
    return np.abs(frames - GREY).sum(axis=-1) > 30


def _assert_in_frame(params: ClipParams) -> None:
    """The object's total contrast with the background (which bilinear warps conserve up to
    resampling) is the same in every frame: nothing leaves the frame."""
    frames = render_clip(_plain(params)).astype(np.int16)  # (T, H, W, 3)
    ink = np.abs(frames - GREY).sum(axis=(1, 2, 3))  # (T,)
    assert ink.min() > 0.9 * ink.max(), (params.id, ink)


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def _orientation(mask: np.ndarray) -> float:
    """Principal-axis angle of a mask in degrees (mod 180)."""
    ys, xs = np.nonzero(mask)
    x, y = xs - xs.mean(), ys - ys.mean()
    return 0.5 * math.degrees(math.atan2(2 * (x * y).mean(), (x * x).mean() - (y * y).mean()))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 50-clip world (8 frames, 64 px) generated with two workers."""
    out = tmp_path_factory.mktemp("world") / "objects"
    generate(out, TINY, workers=2, progress=False)
    return out


def test_render_clip_shape_and_dtype() -> None:
    frames = render_clip(sample_params(TINY, 0))
    assert frames.shape == (8, 64, 64, 3) and frames.dtype == np.uint8
    assert frames.std() > 10  # not a flat image


@pytest.mark.parametrize("action", ["left", "right", "up", "down"])
def test_translations_move_clearly_in_their_direction(action: str) -> None:
    direction = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}[action]
    clips = [p for p in map(lambda i: sample_params(TINY, i), range(50)) if p.action == action]
    assert {p.object for p in clips} == set(OBJECTS)
    for params in clips:
        _assert_in_frame(params)
        masks = _masks(params)
        centres = np.array([_centroid(m) for m in masks])  # (T, 2) (x, y) pixels
        along = (centres - centres[0]) @ np.array(direction)  # (T,)
        across = (centres - centres[0]) @ np.array(direction[::-1])
        assert along[-1] > 0.18 * TINY.resolution, (params.id, along)
        assert np.all(np.diff(along) > 0)  # steadily, every frame
        assert np.abs(across).max() < 1.0


def test_rotation_turns_in_place() -> None:
    clips = [p for p in map(lambda i: sample_params(TINY, i), range(50)) if p.action == "rotate"]
    assert {p.object for p in clips} == set(OBJECTS)
    for params in clips:
        assert 180 <= abs(params.rotation) <= 360
        _assert_in_frame(params)
        masks = _masks(params)
        centres = np.array([_centroid(m) for m in masks])
        assert np.abs(centres - centres[0]).max() < 0.04 * TINY.resolution
        turned = [abs((_orientation(m) - _orientation(masks[0]) + 90) % 180 - 90) for m in masks]
        assert max(turned) > 45, (params.id, turned)


def test_objects_have_distinct_shapes() -> None:
    masks = {o: draw_sprite(o, (200, 60, 60), 120.0)[0][..., 3] > 0.5 for o in OBJECTS}
    for i, a in enumerate(OBJECTS):
        for b in OBJECTS[i + 1 :]:
            iou = (masks[a] & masks[b]).sum() / (masks[a] | masks[b]).sum()
            assert iou < 0.8, (a, b, iou)


@pytest.mark.parametrize("tines", [3, 4])
def test_fork_has_its_tines(tines: int) -> None:
    sprite, _ = draw_sprite("fork", (200, 60, 60), 200.0, tines=tines)
    h, w = sprite.shape[:2]
    column = sprite[:, w // 2 + int(0.4 * 200), 3] > 0.5  # across the tines, near their tips
    runs = np.count_nonzero(np.diff(column.astype(int)) == 1)
    assert runs == tines
    handle = sprite[:, w // 2 - int(0.3 * 200), 3] > 0.5
    assert np.count_nonzero(np.diff(handle.astype(int)) == 1) == 1


def test_sample_params_is_per_clip_deterministic_and_balanced() -> None:
    big = dataclasses.replace(TINY, size=500)
    assert sample_params(TINY, 7) == sample_params(big, 7)  # clip i ignores the world's size
    assert sample_params(TINY, 7) != sample_params(dataclasses.replace(TINY, seed=1), 7)
    counts = Counter(clip_pairs(big))
    assert len(counts) == 25 and set(counts.values()) == {20}
    assert clip_pairs(big)[:60] == [clip_pair(0, i) for i in range(60)]
    params = sample_params(TINY, 3)
    assert ClipParams.from_dict(params.to_dict()) == params
    assert params.text == TEMPLATES[params.action][params.template].format(o=params.object)
    with pytest.raises(ValueError, match="outside"):
        sample_params(TINY, 50)


def test_world_config_checks() -> None:
    assert WorldConfig().holdout == DEFAULT_HOLDOUT
    assert WorldConfig(split="random").holdout == ()
    assert WorldConfig.from_dict(TINY.to_dict()) == TINY
    with pytest.raises(ValueError, match="removes object 'pen'"):
        WorldConfig(holdout=tuple(("pen", a) for a in ACTIONS))
    with pytest.raises(ValueError, match="only applies to the compositional"):
        WorldConfig(split="random", holdout=(("pen", "up"),))
    with pytest.raises(ValueError, match="needs at least 0.75 s"):
        WorldConfig(frames=4, fps=8)
    with pytest.raises(ValueError, match="unknown split"):
        WorldConfig(split="sideways")


def test_speech_track_fills_the_clip_and_refits_when_too_long() -> None:
    params = sample_params(TINY, 5)
    track = synthesize_track(params)
    assert track.audio.shape == (round(TINY.duration * TINY.sample_rate),)
    assert track.words[0]["start_ms"] >= track.params.onset_ms - 1e-6
    assert track.words[-1]["end_ms"] <= 1000 * TINY.duration
    assert " ".join(w["word"] for w in track.words) == params.text
    # The slowest rate cannot fit the longest phrase into one second: it is sped up.
    slow = dataclasses.replace(
        params,
        action="left",
        template=3,
        rate=140,
        onset_ms=300.0,
        text="slide the spoon to the left",
    )
    fitted = synthesize_track(slow)
    assert fitted.params.rate > 140 and fitted.audio.shape == track.audio.shape
    assert fitted.words[-1]["end_ms"] <= 1000 * TINY.duration
    assert synthesize_track(fitted.params).params == fitted.params  # refitting is a fixed point


def test_generated_world_rows_media_and_splits(world: Path) -> None:
    rows = read_manifest(world)
    info = read_dataset_info(world)
    assert info["kind"] == "objects" and info["size"] == 50 and info["seed"] == 0
    assert info["holdout"] == [list(p) for p in DEFAULT_HOLDOUT]
    assert [r["id"] for r in rows] == [f"obj-{i:06d}" for i in range(50)]
    keys = {
        "id",
        "path",
        "split",
        "object",
        "action",
        "text",
        "words",
        "phonemes",
        "duration",
        "params",
    }
    for row in rows:
        assert set(row) == keys and row["path"] == f"clips/{row['id']}.mp4"
        assert row["duration"] == 1.0 and row["params"]["text"] == row["text"]
    held = {tuple(p) for p in info["holdout"]}
    by_split: dict[str, set] = {}
    for row in rows:
        by_split.setdefault(row["split"], set()).add((row["object"], row["action"]))
    assert by_split["heldout"] == held
    assert not held & (by_split["train"] | by_split["val"] | by_split["test"])
    assert {o for o, _ in by_split["train"]} == set(OBJECTS)
    assert {a for _, a in by_split["train"]} == set(ACTIONS)
    summary = summarize(world)
    assert summary["clips"] == 50 and summary["duration"] == 50.0
    assert summary["splits"] == {"train": 32, "val": 4, "test": 4, "heldout": 10}
    assert set(summary["pairs"].values()) == {2}
    assert summary["heldout_pairs"] == sorted(f"{o}:{a}" for o, a in DEFAULT_HOLDOUT)


def test_audio_track_matches_video_and_speech_is_where_the_words_are(world: Path) -> None:
    for row in read_manifest(world)[:6]:
        path = clip_path(world, row)
        info = probe(path)
        assert info.video.fps == 8 and info.video.codec == "h264"
        assert info.audio.codec == "aac" and info.audio.sample_rate == 16000
        assert info.video.duration == pytest.approx(1.0)
        frames = read_video(path)
        assert frames.shape == (8, 64, 64, 3)
        audio = read_audio(path, 16000)
        assert len(audio) == 16000  # exactly frames / fps seconds
        start = int(row["words"][0]["start_ms"] * 16)
        end = int(row["words"][-1]["end_ms"] * 16)
        inside = np.sqrt(np.mean(audio[start:end] ** 2))
        outside = np.sqrt(np.mean(np.concatenate([audio[: start - 160], audio[end + 160 :]]) ** 2))
        assert inside > 0.03 and inside > 10 * outside, (row["id"], inside, outside)
        # The row's params re-render the clip (up to H.264 loss).
        again = render_clip(ClipParams.from_dict(row["params"]))
        assert np.abs(again.astype(int) - frames).mean() < 4


def test_same_seed_same_world_any_worker_count(world: Path, tmp_path: Path) -> None:
    serial = generate(tmp_path / "serial", TINY, workers=1, progress=False)
    assert (serial / "manifest.jsonl").read_bytes() == (world / "manifest.jsonl").read_bytes()
    assert (serial / "dataset.json").read_bytes() == (world / "dataset.json").read_bytes()
    for cid in ("obj-000000", "obj-000017", "obj-000049"):
        a, b = world / "clips" / f"{cid}.mp4", serial / "clips" / f"{cid}.mp4"
        assert np.array_equal(read_video(a), read_video(b))
        assert np.array_equal(read_audio(a), read_audio(b))
    other = generate(
        tmp_path / "other", dataclasses.replace(TINY, size=5, seed=1), workers=1, progress=False
    )
    first = [r["params"] for r in read_manifest(world)[:5]]
    assert [r["params"] for r in read_manifest(other)] != first
    assert not np.array_equal(
        read_video(other / "clips" / "obj-000000.mp4"),
        read_video(world / "clips" / "obj-000000.mp4"),
    )


def test_rerun_regenerates_only_missing_clips(world: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(world, copy)
    clips = copy / "clips"
    gone = ["obj-000003", "obj-000030"]
    for cid in gone:
        (clips / f"{cid}.mp4").unlink()
        (clips / f"{cid}.json").unlink()
    (clips / "obj-000040.json").unlink()  # killed between the MP4 and its sidecar
    (clips / ".obj-000041.mp4.abc123.mp4").write_bytes(b"half")  # a killed write's temp file
    (copy / "manifest.jsonl").unlink()  # killed before the end
    before = {p.name: p.stat().st_mtime_ns for p in clips.iterdir()}
    generate(copy, TINY, workers=2, progress=False)
    after = {p.name: p.stat().st_mtime_ns for p in clips.iterdir()}
    changed = sorted(n for n in after if after[n] != before.get(n))
    assert changed == sorted(
        [f"{c}.{ext}" for c in gone for ext in ("mp4", "json")]
        + ["obj-000040.json", "obj-000040.mp4"]
    )
    assert not any(n.startswith(".") for n in after)
    assert (copy / "manifest.jsonl").read_bytes() == (world / "manifest.jsonl").read_bytes()
    for cid in gone:
        assert np.array_equal(
            read_video(clips / f"{cid}.mp4"), read_video(world / "clips" / f"{cid}.mp4")
        )


def test_refuses_to_mix_worlds(world: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"already holds a different dataset \(seed: 0 -> 3"):
        generate(world, dataclasses.replace(TINY, seed=3), workers=1, progress=False)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty and not a dataset"):
        generate(tmp_path, TINY, workers=1, progress=False)

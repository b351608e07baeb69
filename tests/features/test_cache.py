"""The feature cache: layout, memory-mapped reads, reuse, invalidation, resume, failed clips."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from xmodal.data.manifest import read_manifest, write_dataset_info, write_manifest
from xmodal.features.base import Encoder
from xmodal.features.cache import cache_path, extract_dataset, is_cached, load_features
from xmodal.features.video import PixelsEncoder
from xmodal.types import Modality

FPS = 8


def make_tiny_dataset(
    root: Path, n: int = 6, corrupt: Sequence[int] = (3,), no_text: Sequence[int] = (4,)
) -> Path:
    """A tiny object-action-like world: n one-second 32x32 clips at 8 fps with a tone each.

    Clip ``i`` is a moving square (brightness by clip) and a ``200 (i + 1)`` Hz tone;
    splits are train for the first ``n - 2`` clips, then val, test. Clips in ``corrupt``
    are garbage bytes; rows in ``no_text`` have no ``text``.
    """
    from xmodal.media import write_mp4

    rows = []
    t = np.arange(16000) / 16000
    for i in range(n):
        cid = f"clip-{i:03d}"
        rel = f"clips/{cid}.mp4"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if i in corrupt:
            path.write_bytes(b"this is not an mp4 file" * 10)
        else:
            frames = np.zeros((FPS, 32, 32, 3), np.uint8)
            for k in range(FPS):
                frames[k, 8:20, 2 + 2 * k : 14 + 2 * k] = 60 + 30 * i
            tone = (0.3 * np.sin(2 * np.pi * 200 * (i + 1) * t)).astype(np.float32)
            write_mp4(path, frames, fps=FPS, audio=tone)
        split = "train" if i < n - 2 else ("val" if i == n - 2 else "test")
        row = {"id": cid, "path": rel, "split": split}
        if i not in no_text:
            row["text"] = f"move object {i} left"
        rows.append(row)
    write_manifest(root, rows)
    write_dataset_info(root, {"kind": "tiny-test", "seed": 0})
    return root


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return make_tiny_dataset(tmp_path / "ds")


@dataclass
class CountingPixels(PixelsEncoder):
    """Pixels that count the clips it encodes and can be 'killed' after some calls."""

    clips_seen: int = field(default=0, compare=False)
    kill_after_calls: int | None = field(default=None, compare=False)
    calls: int = field(default=0, compare=False)

    def extract_batch(self, items: Sequence[np.ndarray]) -> list[np.ndarray]:
        if self.kill_after_calls is not None and self.calls >= self.kill_after_calls:
            raise KeyboardInterrupt  # as if the process were killed mid-run
        self.calls += 1
        self.clips_seen += len(items)
        return super().extract_batch(items)


def test_extract_writes_layout_and_reads_back_memory_mapped(dataset, capsys) -> None:
    from xmodal.media import read_video

    enc = PixelsEncoder(height=4, width=4)
    out = extract_dataset(dataset, enc, progress=False)
    assert out == dataset / "features" / "pixels-4x4" == cache_path(dataset, enc.id)
    assert sorted(p.name for p in out.iterdir()) == ["data.npy", "meta.json", "offsets.npy"]

    fs = load_features(dataset, "pixels-4x4")
    expected_ids = ["clip-000", "clip-001", "clip-002", "clip-004", "clip-005"]
    assert fs.ids == expected_ids and len(fs) == 5 and "clip-003" not in fs
    assert isinstance(fs.data, np.memmap) and fs.data.dtype == np.float32
    for row in read_manifest(dataset):
        if row["id"] in fs:
            direct = enc.extract(read_video(dataset / row["path"]))
            np.testing.assert_array_equal(fs[row["id"]], direct)
    assert isinstance(fs["clip-000"], np.memmap)  # a view, not a copy

    meta = fs.meta
    assert meta["encoder_id"] == "pixels-4x4" and meta["modality"] == "video"
    assert meta["dim"] == 48 and meta["dtype"] == "float32" and meta["shape"] == [40, 48]
    assert meta["lengths"] == [8] * 5 and meta["step_s"] == [1 / FPS] * 5
    assert fs.step_seconds("clip-001") == 1 / FPS
    assert meta["extract_seconds"] > 0 and meta["seconds_per_clip"] > 0
    (failed,) = meta["failed"]
    assert failed["id"] == "clip-003" and failed["path"] == "clips/clip-003.mp4"
    assert failed["reason"]
    err = capsys.readouterr().err
    assert f"skipped {dataset / 'clips/clip-003.mp4'}" in err  # reported by path
    with pytest.raises(KeyError, match="clip-003"):
        fs["clip-003"]  # left out, never zero-filled


def test_rerun_is_a_noop_and_a_new_parameter_is_a_new_entry(dataset, capsys) -> None:
    enc = CountingPixels(height=4, width=4)
    out = extract_dataset(dataset, enc, progress=False)
    assert enc.clips_seen == 5
    stamp = (out / "meta.json").stat().st_mtime_ns
    again = CountingPixels(height=4, width=4)
    assert is_cached(dataset, again)
    assert extract_dataset(dataset, again, progress=True) == out
    assert again.clips_seen == 0 and (out / "meta.json").stat().st_mtime_ns == stamp
    assert "pixels-4x4: cached" in capsys.readouterr().err

    other = CountingPixels(height=2, width=2)
    assert not is_cached(dataset, other)
    out2 = extract_dataset(dataset, other, progress=False)
    assert out2.name == "pixels-2x2" and out2 != out and other.clips_seen == 5
    assert load_features(dataset, "pixels-4x4").dim == 48
    assert load_features(dataset, other).dim == 12


def test_changed_manifest_invalidates_the_entry(dataset) -> None:
    extract_dataset(dataset, PixelsEncoder(height=2, width=2), progress=False)
    rows = read_manifest(dataset)
    write_manifest(dataset, rows[:2])
    enc = CountingPixels(height=2, width=2)
    assert not is_cached(dataset, enc)
    extract_dataset(dataset, enc, progress=False)
    assert enc.clips_seen == 2 and load_features(dataset, enc).ids == ["clip-000", "clip-001"]


def test_killed_run_resumes_from_the_last_committed_chunk(dataset, tmp_path) -> None:
    killed = CountingPixels(height=4, width=4, kill_after_calls=2)
    with pytest.raises(KeyboardInterrupt):
        extract_dataset(dataset, killed, chunk_size=2, progress=False)
    out = cache_path(dataset, killed.id)
    # Two chunks of two clips were committed before the kill: clip-000..002 encoded, and
    # clip-003 recorded as failed (it does not decode).
    assert killed.clips_seen == 3
    assert not (out / "meta.json").exists()
    with pytest.raises(FileNotFoundError, match="unfinished"):
        load_features(dataset, killed.id)

    resumed = CountingPixels(height=4, width=4)
    extract_dataset(dataset, resumed, chunk_size=2, progress=False)
    assert resumed.clips_seen == 2  # only the last chunk (clip-004, clip-005) was left
    assert not (out / ".parts").exists()

    fresh = extract_dataset(
        dataset, PixelsEncoder(height=4, width=4), cache_dir=tmp_path / "fresh", progress=False
    )
    a, b = load_features(dataset, killed.id), load_features(dataset, killed.id, tmp_path / "fresh")
    assert fresh == tmp_path / "fresh" / "pixels-4x4"
    assert a.ids == b.ids and a.meta["failed"] == b.meta["failed"]
    np.testing.assert_array_equal(np.asarray(a.data), np.asarray(b.data))
    np.testing.assert_array_equal(a.offsets, b.offsets)


def test_audio_features_and_step(dataset) -> None:
    out = extract_dataset(dataset, "logmel", batch_size=None, progress=False)
    fs = load_features(dataset, "logmel-sr16000-nfft400-hop160-mels80")
    assert out.name == fs.encoder_id and fs.modality is Modality.AUDIO and fs.dim == 80
    assert len(fs) == 5 and all(abs(n - 101) <= 2 for n in fs.meta["lengths"])
    assert fs.meta["step_s"] == [0.01] * 5
    import librosa

    centres = librosa.mel_frequencies(n_mels=82, fmin=0, fmax=8000)[1:-1]
    for i in (0, 1, 2):  # each clip's tone is 200 (i + 1) Hz
        peak = centres[np.argmax(fs[f"clip-{i:03d}"][50])]
        assert abs(peak - 200 * (i + 1)) < 60


@dataclass
class _HashText(Encoder):
    """A cheap deterministic text encoder: letter counts."""

    batch_size: int = 8
    name: ClassVar[str] = "hash-text"
    modality: ClassVar[Modality] = Modality.TEXT

    @property
    def id(self) -> str:
        return "hash-text"

    @property
    def dim(self) -> int:
        return 26

    def _extract(self, x: list[str]) -> np.ndarray:
        out = np.zeros((len(x), 26), np.float32)
        for i, s in enumerate(x):
            for ch in s.lower():
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1
        return out


def test_text_rows_without_text_are_skipped_and_listed(dataset) -> None:
    extract_dataset(dataset, _HashText(), progress=False)
    fs = load_features(dataset, "hash-text")
    assert fs.ids == ["clip-000", "clip-001", "clip-002", "clip-003", "clip-005"]
    assert fs.meta["skipped"] == [{"id": "clip-004", "reason": "no text"}]
    assert fs.meta["failed"] == [] and fs["clip-001"].shape == (1, 26)
    assert fs["clip-001"][0, ord("m") - 97] == 1 and fs.step_seconds("clip-001") is None


def test_clear_errors(tmp_path, dataset) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist") as err:
        load_features(dataset, "pixels-9x9")
    assert "cached at" not in str(err.value)  # no entry at any rate
    extract_dataset(dataset, PixelsEncoder(2, 2), progress=False)  # at the native rate
    with pytest.raises(FileNotFoundError, match=r"cached at: the native rate \(no --fps\)$"):
        load_features(dataset, "pixels-2x2", fps=4)
    with pytest.raises(FileNotFoundError, match="dataset directory does not exist"):
        extract_dataset(tmp_path / "missing", PixelsEncoder(), progress=False)
    with pytest.raises(ValueError, match="unknown encoder"):
        extract_dataset(dataset, "nope", progress=False)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        extract_dataset(dataset, "logmel", batch_size=0, progress=False)


def test_integer_and_float_fps_share_one_fingerprint(tmp_path):
    from xmodal.features import get
    from xmodal.features.cache import _fingerprint

    (tmp_path / "manifest.jsonl").write_text("")
    (tmp_path / "dataset.json").write_text("{}")
    enc = get("pixels")
    assert _fingerprint(tmp_path, enc, 4) == _fingerprint(tmp_path, enc, 4.0)
    assert _fingerprint(tmp_path, enc, 4) != _fingerprint(tmp_path, enc, 8)


def test_video_at_a_fixed_rate_has_its_own_entry(dataset: Path) -> None:
    """Native-rate and fixed-rate features of one encoder live side by side: asking for one
    never re-extracts (or returns) the other."""
    enc = PixelsEncoder(height=2, width=2)
    native = extract_dataset(dataset, enc, progress=False)
    stamp = (native / "meta.json").stat().st_mtime_ns
    slow = extract_dataset(dataset, enc, fps=2, progress=False)
    assert native == cache_path(dataset, enc.id) and slow == cache_path(dataset, enc.id, fps=2.0)
    assert slow == dataset / "features" / "fps2" / enc.id
    assert is_cached(dataset, enc) and is_cached(dataset, enc, fps=2)
    assert not is_cached(dataset, enc, fps=4)
    a, b = load_features(dataset, enc), load_features(dataset, enc, fps=2)
    assert [len(x) for x in a.arrays()] == [FPS] * len(a.ids)  # one second at the native rate
    assert [len(x) for x in b.arrays()] == [2] * len(b.ids)  # one second at 2 fps
    assert extract_dataset(dataset, enc, progress=False) == native  # still cached, not redone
    assert (native / "meta.json").stat().st_mtime_ns == stamp

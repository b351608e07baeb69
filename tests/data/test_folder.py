"""Folder datasets: pairing by stem, caption stripping, skipped files, splits, paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xmodal.data.folder import (
    FolderConfig,
    build_folder_dataset,
    caption_to_text,
    format_folder_summary,
)
from xmodal.data.manifest import clip_path, read_dataset_info, read_manifest
from xmodal.media import write_mp4, write_wav

SRT = """1
00:00:00,000 --> 00:00:01,500
<i>Hello</i> there,

2
00:00:01,500 --> 00:00:03,000
general &amp; Kenobi.
"""

VTT = """WEBVTT Kind: captions

NOTE this block is a comment
and spans two lines

STYLE
::cue { color: red }

intro
00:00.000 --> 00:01.000 align:start position:0%
the quick brown

00:01.000 --> 00:02.000
the quick brown
<c.yellow>fox</c> jumps
"""


def test_caption_to_text_strips_subtitle_markup() -> None:
    assert caption_to_text(SRT, ".srt") == "Hello there, general & Kenobi."
    # Header, NOTE/STYLE blocks, the cue identifier, timings with settings, tags and the line a
    # rolling caption repeats are gone.
    assert caption_to_text(VTT, ".VTT") == "the quick brown fox jumps"
    assert caption_to_text("  one\n two\tthree \n", ".txt") == "one two three"
    with pytest.raises(ValueError, match="unknown caption format"):
        caption_to_text("x", ".doc")


def _frames(n: int = 4) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (n, 32, 32, 3), dtype=np.uint8)


def _tone(seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.fixture
def media_folder(tmp_path: Path) -> Path:
    src = tmp_path / "my media"
    (src / "sub").mkdir(parents=True)
    write_mp4(src / "talk.mp4", _frames(), fps=8, audio=_tone())  # video + audio
    write_wav(src / "memo.wav", _tone())  # audio + text
    (src / "memo.txt").write_text("buy more milk\n")
    (src / "memo.srt").write_text(SRT)  # .txt wins
    write_mp4(src / "sub" / "silent.mp4", _frames(), fps=8)  # video + text
    (src / "sub" / "silent.vtt").write_text(VTT)
    write_wav(src / "lonely.wav", _tone())  # audio only: skipped
    write_wav(src / "blank.wav", _tone())  # empty caption: skipped
    (src / "blank.txt").write_text("  \n")
    (src / "broken.mp4").write_bytes(b"not a video at all")  # unreadable: skipped
    (src / "notes.txt").write_text("no media of this name")  # ignored
    return src


def test_build_pairs_media_by_stem(media_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "datasets" / "mine"
    build_folder_dataset(media_folder, out, FolderConfig(seed=3))
    rows = {r["source"]: r for r in read_manifest(out)}
    assert sorted(rows) == ["memo.wav", "sub/silent.mp4", "talk.mp4"]
    assert rows["talk.mp4"]["modalities"] == ["video", "audio"]
    assert "text" not in rows["talk.mp4"]
    assert rows["memo.wav"]["modalities"] == ["audio", "text"]
    assert rows["memo.wav"]["text"] == "buy more milk"
    assert rows["memo.wav"]["caption"] == "memo.txt"
    assert rows["sub/silent.mp4"]["modalities"] == ["video", "text"]
    assert rows["sub/silent.mp4"]["text"] == "the quick brown fox jumps"
    for source, row in rows.items():
        assert not Path(row["path"]).is_absolute()
        assert clip_path(out, row).resolve() == (media_folder / source).resolve()
        assert row["split"] in ("train", "val", "test")
        assert row["duration"] == pytest.approx(0.5, abs=0.1)
    assert len({r["id"] for r in rows.values()}) == 3
    assert not any(p.suffix in (".mp4", ".wav") for p in out.rglob("*"))  # nothing copied

    info = read_dataset_info(out)
    assert info["kind"] == "folder" and info["seed"] == 3
    assert info["modalities"] == {"video": 2, "audio": 2, "text": 2}
    reasons = {s["source"]: s["reason"] for s in info["skipped"]}
    assert reasons["lonely.wav"].startswith("only audio")
    assert reasons["blank.txt"] == "empty caption"
    assert reasons["blank.wav"].startswith("only audio")
    assert "broken.mp4" in reasons
    assert "skipped 4" in format_folder_summary(out)


def test_splits_follow_the_seed(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(20):
        write_wav(src / f"r{i:02d}.wav", _tone(0.1))
        (src / f"r{i:02d}.txt").write_text(f"recording {i}")
    a = read_manifest(build_folder_dataset(src, tmp_path / "a", FolderConfig(seed=0)))
    b = read_manifest(build_folder_dataset(src, tmp_path / "b", FolderConfig(seed=0)))
    c = read_manifest(build_folder_dataset(src, tmp_path / "c", FolderConfig(seed=1)))
    splits = [r["split"] for r in a]
    assert splits == [r["split"] for r in b]
    assert splits != [r["split"] for r in c]
    assert (splits.count("train"), splits.count("val"), splits.count("test")) == (16, 2, 2)
    flat = read_manifest(build_folder_dataset(src, tmp_path / "d", FolderConfig(recursive=False)))
    assert len(flat) == 20


def test_real_recording_with_transcript(shared_media: Path, tmp_path: Path) -> None:
    src = tmp_path / "real"
    src.mkdir()
    (src / "english.wav").symlink_to(shared_media / "sp07_speechrecognition_english.wav")
    (src / "english.txt").write_text("one two three")
    (src / "cover.mp3").symlink_to(shared_media / "mx05_moviepy_with-attached-pic.mp3")
    out = build_folder_dataset(src, tmp_path / "ds")
    (row,) = read_manifest(out)
    assert row["modalities"] == ["audio", "text"] and row["text"] == "one two three"
    # The MP3's cover picture is not a video: a lone recording, skipped.
    (skip,) = read_dataset_info(out)["skipped"]
    assert skip["source"] == "cover.mp3" and skip["reason"].startswith("only audio")


def test_bad_input_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_folder_dataset(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no paired media found"):
        build_folder_dataset(tmp_path / "empty", tmp_path / "out")
    file = tmp_path / "a.txt"
    file.write_text("x")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        build_folder_dataset(file, tmp_path / "out")
    with pytest.raises(ValueError, match="fractions"):
        FolderConfig(fractions=(0.5, 0.4, 0.4))

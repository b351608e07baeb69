"""Reading a clip for sync: grey frames on the 25 fps timeline, log-mel bands, lip clips."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.media import MediaError, read_video, write_mp4
from xmodal.sync.clip import (
    LipClip,
    SyncCheckError,
    audio_bands,
    find_videos,
    gray_frames,
    read_lip_clip,
)


def _ramp_video(path, n=30, fps=30.0, size=48):
    """Frame t is flat grey 8 t: its time can be read back from any pixel."""
    frames = np.stack([np.full((size, size, 3), 8 * t % 256, np.uint8) for t in range(n)])
    write_mp4(path, frames, fps)
    return path


def test_gray_frames_follow_the_timeline_of_read_video(tmp_path):
    path = _ramp_video(tmp_path / "ramp.mp4")
    grey = np.stack(list(gray_frames(path)))  # (T, H, W) at 25 fps
    rgb = read_video(path, fps=25)  # (T, H, W, 3)
    assert grey.shape == rgb.shape[:3] == (25, 48, 48)
    # the same source frame at every output time: limited-range luma (16 + 219/255 of the grey
    # level) against the RGB frame, within coding noise
    expected = 16 + 219 / 255 * rgb.mean((1, 2, 3))
    np.testing.assert_allclose(grey.mean((1, 2)), expected, atol=3)
    assert len(list(gray_frames(path, max_seconds=0.5))) == 13  # times 0, 0.04, ..., 0.48


def test_gray_frames_stop_early(tmp_path):
    path = _ramp_video(tmp_path / "ramp.mp4", n=90)
    it = gray_frames(path)
    first = [next(it) for _ in range(3)]
    it.close()  # the file is closed
    assert len(first) == 3
    with pytest.raises(MediaError):
        list(gray_frames(tmp_path / "missing.mp4"))


def test_audio_bands_shape_and_timing():
    sr = 16000
    tone = np.zeros(sr * 2, np.float32)
    tone[sr : sr + 3200] = np.sin(2 * np.pi * 440 * np.arange(3200) / sr)  # 1.0 .. 1.2 s
    bands = audio_bands(tone, 50)
    assert bands.shape == (50, 40) and np.isfinite(bands).all()
    energy = np.exp(bands).sum(1)
    loud = np.flatnonzero(energy > 0.1 * energy.max())
    assert 24 <= loud.min() <= 26 and 29 <= loud.max() <= 31  # frames 25..30 at 25 fps
    assert audio_bands(tone[:100], 3).shape == (3, 40)  # shorter than one FFT window


def test_lip_clip_round_trip(tmp_path):
    clip = LipClip(
        "a.mp4", np.arange(18, dtype=np.float32).reshape(2, 9), np.ones(1280, np.float32)
    )
    clip.save(tmp_path / "a.npz")
    back = LipClip.load(tmp_path / "a.npz")
    assert back.path == "a.mp4" and back.n_frames == 2
    np.testing.assert_array_equal(back.lips, clip.lips)
    np.testing.assert_array_equal(back.audio, clip.audio)


def test_find_videos(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.mp4", "sub/a.MOV", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in find_videos(tmp_path)] == ["b.mp4", "a.MOV"]
    assert find_videos([tmp_path / "notes.txt"]) == [tmp_path / "notes.txt"]
    with pytest.raises(FileNotFoundError, match="nope"):
        find_videos([tmp_path / "nope"])


def test_read_lip_clip_on_a_real_clip(shared_media):
    pytest.importorskip("dlib")
    clip = read_lip_clip(shared_media / "talking" / "tk16_lipnet_grid_bbaf2n.mpg")
    assert clip.n_frames == 75 and clip.lips.shape == (75, 9)
    assert np.isfinite(clip.lips).all()  # the face is tracked in every frame
    assert len(clip.audio) == pytest.approx(2.98 * 16000, abs=400)


def test_read_lip_clip_refuses_a_silent_file(tmp_path):
    path = _ramp_video(tmp_path / "mute.mp4")
    with pytest.raises(SyncCheckError, match="no audio track"):
        read_lip_clip(path)

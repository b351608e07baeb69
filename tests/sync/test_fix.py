"""`fix_video` and `shift_audio`: the audio moves by the offset, the picture is kept, frame by
frame (a long video is never read whole), and nothing is written on failure."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.media import probe, read_audio, read_video, write_mp4
from xmodal.sync.clip import SyncCheckError
from xmodal.sync.fix import _rgb_frames, fix_video, shift_audio


def test_shift_audio_keeps_length_and_fills_silence():
    x = np.arange(1, 11, dtype=np.float32)
    np.testing.assert_array_equal(shift_audio(x, 2, 10, fps=10), [0, 0, 1, 2, 3, 4, 5, 6, 7, 8])
    np.testing.assert_array_equal(shift_audio(x, -3, 10, fps=10), [4, 5, 6, 7, 8, 9, 10, 0, 0, 0])
    np.testing.assert_array_equal(shift_audio(x, 20, 10, fps=10), np.zeros(10))


@pytest.fixture
def clip(tmp_path):
    """2 s at 25 fps: a bright square that moves right, and one click per second."""
    frames = np.zeros((50, 48, 64, 3), np.uint8)
    for t in range(50):
        frames[t, 10:30, t : t + 12] = 220
    audio = np.zeros(32000, np.float32)
    audio[8000:8160] = 0.8  # a click at 0.5 s
    audio[24000:24160] = 0.8  # and at 1.5 s
    path = tmp_path / "clip.mp4"
    write_mp4(path, frames, 25, audio, 16000)
    return path, frames


def test_rgb_frames_streams_what_read_video_returns(clip):
    path, _ = clip
    streamed = list(_rgb_frames(path))
    np.testing.assert_array_equal(np.stack(streamed), read_video(path))


def test_fix_video_shifts_the_audio_and_keeps_the_picture(clip, tmp_path):
    path, frames = clip
    out = fix_video(path, tmp_path / "fixed.mp4", 5)  # the audio leads by 5 frames: delay it
    info = probe(out)
    assert info.video.n_frames == 50 and info.video.fps == pytest.approx(25)
    picture = read_video(out)
    assert np.abs(picture.astype(int) - frames.astype(int)).mean() < 3  # H.264 at crf 23
    before, after = read_audio(path), read_audio(out)
    assert abs(len(after) - len(before)) <= 1024  # the length is kept (one AAC frame)
    click = int(np.argmax(np.abs(before[:16000])))
    moved = int(np.argmax(np.abs(after[:16000])))
    assert abs(moved - click - 5 * 640) <= 32  # 5 frames = 200 ms = 3200 samples later


def test_fix_video_refuses_and_writes_nothing(clip, tmp_path):
    path, frames = clip
    with pytest.raises(SyncCheckError, match="not overwrite the input"):
        fix_video(path, path, 1)
    mute = tmp_path / "mute.mp4"
    write_mp4(mute, frames, 25)
    with pytest.raises(SyncCheckError, match="needs both a video and an audio stream"):
        fix_video(mute, tmp_path / "out.mp4", 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "mute.mp4"]

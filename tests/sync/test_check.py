"""`check_video` on real footage with the shipped model: offsets, --fix, and no clear offset.

tk19 and tk27 (the frozen split) were never used to train or tune the shipped model; tk16 has
been a training clip since 2026-12-07 (tk01-tk18 and tk22 are).
"""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.media import read_audio, read_video, write_mp4
from xmodal.sync.check import SyncCheck, check_video, load_model
from xmodal.sync.clip import SyncCheckError
from xmodal.sync.fix import fix_video, shift_audio

pytest.importorskip("dlib")
pytest.importorskip("cv2")
TK19 = "tk19_syncnet_example.avi"  # SyncNet's demo clip; SyncNet itself reads it as +3


@pytest.fixture(scope="module")
def tk19(shared_media):
    path = shared_media / "talking" / TK19
    return path, read_video(path), read_audio(path)


def test_the_shipped_model_checks_a_real_clip(tk19):
    result = check_video(tk19[0])
    assert isinstance(result, SyncCheck) and result.model == "shipped"
    assert result.clear and result.reason == ""
    assert 2 <= result.offset_frames <= 5  # SyncNet's own tool says +3
    assert result.offset_ms == 40 * result.offset_frames
    assert result.confidence >= result.threshold > 0
    assert result.curve_kind == "log-probability" and len(result.curve) == 31
    assert int(np.argmax(result.curve)) - 15 == result.offset_frames
    assert result.windows == result.face_frames[1] - result.face_frames[0] + 1 - 30 - 4 + 4
    assert "frames" in result.summary() and "delay it" in result.summary()
    assert result.to_dict()["clear"] is True


def test_fix_puts_a_shifted_real_clip_back_in_sync(tk19, tmp_path):
    path, frames, audio = tk19
    shifted = tmp_path / "leads.mp4"
    write_mp4(shifted, frames, 25, shift_audio(audio, -6, 16000), 16000)  # audio 6 frames early
    first = check_video(shifted)
    assert first.clear and first.offset_frames >= 7  # the clip's own offset plus 6
    fixed = fix_video(shifted, tmp_path / "fixed.mp4", first.offset_frames)
    again = check_video(fixed)
    assert again.clear and abs(again.offset_frames) <= 1


def test_silent_and_foreign_audio_give_no_clear_offset(tk19, shared_media, tmp_path):
    path, frames, audio = tk19
    silent = tmp_path / "silent.mp4"
    write_mp4(silent, frames, 25, np.zeros_like(audio), 16000)
    result = check_video(silent)
    assert not result.clear and result.offset_frames is None and "silent" in result.reason
    assert "no clear offset" in result.summary()
    other = read_audio(shared_media / "talking" / "tk13_deepavsr_lrs2_00016.mp4")
    foreign = tmp_path / "foreign.mp4"
    write_mp4(foreign, frames, 25, np.resize(other, len(audio)), 16000)
    result = check_video(foreign)
    assert not result.clear and "another speaker" in result.reason
    assert result.confidence < result.threshold


def test_refusals(shared_media, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        check_video(tmp_path / "nope.mp4")
    with pytest.raises(SyncCheckError, match="no sync model here"):
        load_model(tmp_path)
    short = tmp_path / "short.mp4"
    path = shared_media / "talking" / "tk16_lipnet_grid_bbaf2n.mpg"
    write_mp4(short, read_video(path)[:30], 25, read_audio(path)[: 30 * 640], 16000)
    with pytest.raises(SyncCheckError, match="too short"):
        check_video(short)


def test_plot_and_the_installed_default(tk19, tmp_path, monkeypatch):
    from xmodal.sync.check import plot_curve
    from xmodal.sync.scorer import default_scorer

    result = check_video(tk19[0], max_seconds=6)
    assert result.face_frames[1] <= 150
    png = plot_curve(result, tmp_path / "curve.png")
    assert png.stat().st_size > 5000
    installed = tmp_path / "installed"
    default_scorer().save(installed / "lips")
    monkeypatch.setenv("XMODAL_SYNC_MODEL", str(installed))
    scorer, where, _ = load_model(None)
    assert where == str(installed) and scorer.threshold == default_scorer().threshold


def test_a_frozen_clip_gets_its_injected_shift_back(shared_media, tmp_path):
    """tk27 is in the frozen final split (docs/sync.md): never trained on, never tuned on.
    Its audio moved 6 frames earlier reads as its own offset plus 6, within a frame."""
    path = shared_media / "talking" / "tk27_mimictalk_German_20s.mp4"
    frames, audio = read_video(path, end=10.0), read_audio(path)[: 10 * 16000]
    own = check_video(path, max_seconds=10)
    early = tmp_path / "early.mp4"
    write_mp4(early, frames, 25, shift_audio(audio, -6, 16000), 16000)
    moved = check_video(early)
    assert own.offset_frames is not None and moved.offset_frames is not None
    assert abs(moved.offset_frames - own.offset_frames - 6) <= 1

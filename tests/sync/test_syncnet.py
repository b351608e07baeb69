"""The SyncNet route (Haar face, mouth crops, MFCCs): errors, audio shifting, and the whole
pipeline on shifted tracks.

The end-to-end tests use the non-learned energy baseline as the "model": it needs no training
and recovers offsets on a long synthetic clip, so the sign convention is checked through the
real pipeline (MP4 -> 25 fps -> Haar face -> mouth crop -> MFCC -> windows -> offset).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xmodal.evaluation.studies.sync import EnergyBaseline
from xmodal.features.face import FaceError
from xmodal.media import read_audio, write_mp4
from xmodal.sync.clip import SyncCheckError
from xmodal.sync.fix import fix_video, shift_audio
from xmodal.sync.syncnet import check_with_syncnet, load_syncnet

pytest.importorskip("cv2")

# Speaker 4 of this world has a light face that the Haar cascade finds in every frame.
FACE_WORLD = dict(size=8, seed=0, speakers=20, resolution=128, min_words=12, max_words=14)
FACE_CLIP = 4


def check_video(path, model):
    return check_with_syncnet(path, model, Path("energy"), "unknown")


@pytest.fixture(scope="module")
def talking_clip():
    from xmodal.data.talking import TalkingConfig, make_clip

    return make_clip(TalkingConfig(**FACE_WORLD), FACE_CLIP)  # about 5.8 s


@pytest.mark.parametrize("injected", [6])
def test_injected_offset_is_recovered_end_to_end(tmp_path, talking_clip, injected):
    frames, audio = talking_clip["frames"], talking_clip["audio"]
    path = tmp_path / "shifted.mp4"
    write_mp4(path, frames, 25, shift_audio(audio, -injected, 16000), 16000)  # audio leads
    result = check_video(path, EnergyBaseline())
    assert abs(result.offset_frames - injected) <= 1
    assert result.offset_ms == pytest.approx(40.0 * result.offset_frames) and result.clear
    assert result.curve_kind == "distance" and result.threshold is None
    assert result.windows == len(frames) - 4 - 30 and result.face_frames == [0, len(frames) - 1]
    assert result.confidence == pytest.approx(np.median(result.curve) - min(result.curve))

    fixed = fix_video(path, tmp_path / "fixed.mp4", result.offset_frames)
    again = check_video(fixed, EnergyBaseline())
    assert abs(again.offset_frames) <= 1
    # the fixed track is the shifted track moved by the estimated offset
    shifted = read_audio(path)
    expected = shift_audio(shifted, result.offset_frames, 16000)
    got = read_audio(fixed)
    n = min(len(expected), len(got))
    assert np.corrcoef(expected[:n], got[:n])[0, 1] > 0.95


def test_no_audio_track(tmp_path, talking_clip):
    path = tmp_path / "silent.mp4"
    write_mp4(path, talking_clip["frames"][:50], 25)
    with pytest.raises(SyncCheckError, match="no audio track"):
        check_video(path, EnergyBaseline())


def test_too_short(tmp_path, talking_clip):
    path = tmp_path / "short.mp4"
    write_mp4(path, talking_clip["frames"][:30], 25, talking_clip["audio"][: 30 * 640], 16000)
    with pytest.raises(SyncCheckError, match="too short .* needs at least 39 frames"):
        check_video(path, EnergyBaseline())


def test_no_face_in_real_footage(shared_media):
    with pytest.raises(FaceError, match="no face"):
        check_video(shared_media / "mx02_moviepy_fire2.mp4", EnergyBaseline())


def test_several_faces(tmp_path):
    skimage_data = pytest.importorskip("skimage.data")
    face = skimage_data.astronaut()[30:200, 140:310]  # (170, 170, 3)
    frame = np.concatenate([face, np.full((170, 60, 3), 200, np.uint8), face], axis=1)
    frames = np.stack([frame[:, :398]] * 50)
    path = tmp_path / "two.mp4"
    rng = np.random.default_rng(0)
    write_mp4(path, frames, 25, (0.1 * rng.standard_normal(32000)).astype(np.float32), 16000)
    with pytest.raises(FaceError, match="2 faces found"):
        check_video(path, EnergyBaseline())


def test_missing_run_is_refused(tmp_path):
    with pytest.raises(SyncCheckError, match="no sync model here"):
        load_syncnet(tmp_path)

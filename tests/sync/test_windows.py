"""Clip arrays on the 25 fps window grid, window datasets, and loading a talking dataset
(:mod:`xmodal.sync.windows`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xmodal.sync.windows import (
    ClipArrays,
    SyncRuns,
    embed_clip,
    load_talking_split,
    mfcc_features,
)


def _clip(n_frames: int = 60, crop: int = 8) -> ClipArrays:
    mouths = np.broadcast_to(
        np.arange(n_frames, dtype=np.uint8)[:, None, None], (n_frames, crop, crop)
    ).copy()
    mfcc = np.repeat(np.arange(4 * n_frames + 1, dtype=np.float32)[:, None], 13, axis=1)
    return ClipArrays("c", mouths, mfcc)


def test_windows_are_aligned():
    clip = _clip()
    assert clip.n_windows == 56  # T - 4
    v, a = clip.video_windows(), clip.audio_windows()
    assert v.shape == (56, 5, 8, 8) and a.shape == (56, 1, 13, 20)
    assert v[10, 3, 0, 0] == 13  # window 10, its 4th frame
    np.testing.assert_array_equal(a[10, 0, 0], np.arange(40, 60))  # MFCC frames 40..59


def test_runs_dataset():
    runs = SyncRuns([_clip(), _clip(30)], run_windows=8, max_offset=5, stride=2)
    # clip 1: t in 5..56-8-5=43 step 2 -> 20 items; clip 2 (26 windows): t in 5..13 -> 5
    assert len(runs) == 25
    item = runs[3]  # clip 0, t = 11
    assert item["video"].shape == (8, 5, 8, 8) and item["audio"].shape == (18, 1, 13, 20)
    assert item["video"][0, 0, 0, 0] == 11
    assert item["audio"][0, 0, 0, 0] == 4 * (11 - 5)  # audio windows start M earlier


def test_mfcc_features_are_normalised_per_clip(rng):
    audio = (0.3 * rng.standard_normal(16000)).astype(np.float32)
    mfcc = mfcc_features(audio)
    assert mfcc.shape == (101, 13) and mfcc.dtype == np.float32
    np.testing.assert_allclose(mfcc.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(mfcc.std(0), 1, atol=1e-3)
    with pytest.raises(ValueError, match="16000 Hz"):
        mfcc_features(audio, 8000)


def test_embed_clip_matches_the_model():
    from xmodal.models.sync_net import SyncNet, SyncNetConfig

    model = SyncNet(SyncNetConfig(channels=4, hidden_dim=8, embed_dim=6, crop_size=8)).eval()
    clip = _clip()
    v, a = embed_clip(model, clip, batch_size=16)
    assert v.shape == (56, 6) and a.shape == (56, 6)
    with torch.no_grad():
        ref = model.encode_video(torch.from_numpy(clip.video_windows()[7:8].copy()))
    np.testing.assert_allclose(v[7], ref[0].numpy(), atol=1e-5)


def test_load_talking_split_uses_stored_boxes_and_caches(tmp_path):
    from xmodal.data.talking import TalkingConfig, generate

    out = tmp_path / "talk"
    generate(
        out,
        TalkingConfig(
            size=3, seed=0, speakers=3, resolution=48, min_words=3, max_words=3, min_duration=1.0
        ),
        workers=1,
        progress=False,
    )
    clips = load_talking_split(out, "train", crop_size=16, workers=1, progress=False)
    assert [c.id for c in clips] == ["talk-000000", "talk-000002"]
    assert clips[0].mouths.shape[1:] == (16, 16) and clips[0].speaker == "spk-000"
    assert len(clips[0].mfcc) == 4 * len(clips[0].mouths) + 1
    assert (out / "cache" / "sync-train-c16.npz").is_file()
    again = load_talking_split(out, "train", crop_size=16, workers=1, progress=False)
    np.testing.assert_array_equal(again[1].mouths, clips[1].mouths)
    np.testing.assert_array_equal(again[1].mfcc, clips[1].mfcc)
    assert load_talking_split(out, "val", progress=False, required=False) == []
    with pytest.raises(ValueError, match="'val' split has no clips"):
        load_talking_split(out, "val", progress=False)

"""The talking-head world: visemes, mouth motion, rendering, splits by speaker, resumable."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.data.manifest import read_manifest
from xmodal.data.talking import (
    VISEMES,
    TalkingConfig,
    generate,
    make_clip,
    mouth_track,
    sample_speaker,
    speaker_splits,
    summarize,
    viseme_of,
)

TINY = TalkingConfig(
    size=6, seed=3, speakers=3, resolution=48, min_words=3, max_words=4, min_duration=1.0
)


def test_viseme_table():
    assert viseme_of("p") == viseme_of("b") == viseme_of("m") == "closed"
    assert viseme_of("f") == "labiodental"
    assert viseme_of("'aI@") == "open"  # stress mark stripped, falls back to "aI"
    assert viseme_of(",u:") == "rounded"
    assert viseme_of("i:") == "spread"
    assert viseme_of("t2") == "alveolar"
    assert viseme_of("@3") == "mid"  # unknown vowel-like mnemonic
    assert VISEMES["closed"].open == 0.0 and VISEMES["open"].open > 0.8


def test_mouth_track_follows_the_phonemes():
    phonemes = [
        {"phoneme": "m", "start_ms": 200.0, "end_ms": 300.0},
        {"phoneme": "'A:", "start_ms": 300.0, "end_ms": 500.0},
        {"phoneme": "w", "start_ms": 500.0, "end_ms": 560.0},
    ]
    track = mouth_track(phonemes, n_frames=25, fps=25)  # (25, 4) for 1 s
    assert track.shape == (25, 4)
    opening = track[:, 0]
    assert opening[0] == pytest.approx(0.0)  # rest before speech
    assert opening[6] < 0.1  # frame 6 = 240-280 ms: the "m" closure
    assert opening[9] > 0.7 and opening[10] > 0.7  # 360-440 ms: the open "A:"
    assert track[13, 2] > 0.5  # frame 13 = 520-560 ms: rounded "w"
    assert opening[-1] == pytest.approx(0.0)  # rest after speech


def test_clip_is_deterministic_and_its_mouth_follows_the_viseme():
    config = TalkingConfig(size=4, seed=1, speakers=2, resolution=64, min_words=4, max_words=5)
    a, b = make_clip(config, 1), make_clip(config, 1)
    np.testing.assert_array_equal(a["frames"], b["frames"])
    np.testing.assert_array_equal(a["audio"], b["audio"])
    row, frames = a["row"], a["frames"]
    t = len(frames)
    assert frames.shape == (t, 64, 64, 3) and t >= 75  # min_duration 3 s at 25 fps
    assert len(a["audio"]) == t * 640 and row["frames"] == t
    assert row["speaker"] == "spk-001" and len(row["mouth_boxes"]) == t
    assert row["words"] and row["phonemes"][0]["start_ms"] >= row["params"]["lead_ms"] - 1
    # the drawn mouth is darker when the viseme track says it is open
    mouth = mouth_track(row["phonemes"], t, 25)[:, 0]
    boxes = np.asarray(row["mouth_boxes"])
    dark = []
    for f, (x0, y0, x1, y1) in zip(frames, boxes, strict=True):
        cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 6
        patch = f[int(cy - r) : int(cy + r) + 1, int(cx - r) : int(cx + r) + 1].mean()
        dark.append(-patch)
    assert np.corrcoef(mouth, dark)[0, 1] > 0.6


def test_speakers_differ_and_splits_are_by_speaker():
    config = TalkingConfig(size=40, seed=0, speakers=10)
    s0, s1 = sample_speaker(config, 0), sample_speaker(config, 1)
    assert s0 != s1 and s0 == sample_speaker(config, 0)
    splits = speaker_splits(config)
    assert (splits.count("train"), splits.count("val"), splits.count("test")) == (7, 1, 2)


def test_generate_resume_and_refuse_other_options(tmp_path):
    out = tmp_path / "talk"
    generate(out, TINY, workers=2, progress=False)
    rows = read_manifest(out)
    assert [r["id"] for r in rows] == [f"talk-{i:06d}" for i in range(6)]
    by_split: dict[str, set[str]] = {}
    for r in rows:
        by_split.setdefault(r["split"], set()).add(r["speaker"])
        assert (out / r["path"]).is_file()
    assert set(by_split) == {"train", "test"}  # 3 speakers: 2 train, 1 test
    assert not by_split["train"] & by_split["test"]
    summary = summarize(out)
    assert summary["clips"] == 6 and summary["speakers"] == {"train": 2, "test": 1}

    victim = out / "clips" / "talk-000004.json"
    before = victim.read_text()
    mp4 = (out / "clips" / "talk-000004.mp4").read_bytes()
    victim.unlink()
    generate(out, TINY, workers=1, progress=False)  # resumes: only clip 4 is made again
    assert victim.read_text() == before
    assert (out / "clips" / "talk-000004.mp4").read_bytes() == mp4
    with pytest.raises(ValueError, match="different dataset"):
        generate(out, TalkingConfig(size=7, seed=3, speakers=3, resolution=48), progress=False)


def test_config_checks():
    with pytest.raises(ValueError):
        TalkingConfig(size=0)
    with pytest.raises(ValueError):
        TalkingConfig(min_words=5, max_words=4)
    assert TalkingConfig.from_dict({**TINY.to_dict(), "kind": "talking"}) == TINY

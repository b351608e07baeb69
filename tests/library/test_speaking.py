"""Who is speaking, on real talking heads: the face of tk06 says its own words, and not those
of the man of tk07 pasted in their place."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xmodal.library.speaking import lips_and_sound, segment_level, segment_speaks, speaking_segments

pytest.importorskip("dlib")


@pytest.fixture(scope="module")
def talking(shared_media: Path) -> Path:
    return shared_media / "talking"


def test_own_words_speak_and_another_voice_does_not(talking: Path) -> None:
    from xmodal.media import read_audio
    from xmodal.sync.clip import LipClip
    from xmodal.sync.scorer import default_scorer

    scorer = default_scorer()
    clip = lips_and_sound(talking / "tk06_w2lgfpgan_kim_7s_raw.mp4")
    assert clip is not None and clip.lips.shape[1] == 9
    assert segment_level(clip, 0.0, 5.0, scorer) == "clear"
    assert segment_speaks(clip, 0.0, 5.0, scorer) is True
    other = read_audio(talking / "tk07_pcavs_00015.mp4", 16000)[: 5 * 16000]
    voice = np.zeros_like(clip.audio)
    voice[: len(other)] = other
    swapped = LipClip(clip.path, clip.lips, voice)
    assert segment_level(swapped, 0.0, 5.0, scorer) == "none"
    assert segment_speaks(swapped, 0.0, 5.0, scorer) is False
    assert segment_speaks(clip, 7.3, 7.4, scorer) is None  # too short to tell


def test_speaking_segments_asks_only_where_told(talking: Path) -> None:
    path = talking / "tk06_w2lgfpgan_kim_7s_raw.mp4"
    assert speaking_segments(path, [(0.0, 5.0), (5.0, 7.4)], [False, False]) == [None, None]
    assert speaking_segments(path, [(0.0, 5.0), (5.0, 7.4)], [True, False]) == [True, None]

"""Flite, the second voice engine: it speaks, deterministically, at the asked pace, and refuses
what it cannot do by name."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.data import flite
from xmodal.data.flite import list_flite_voices, synthesize_flite
from xmodal.data.speech import SpeechError


def test_speaks_trimmed_deterministic_audio_that_whisper_can_read():
    from xmodal.features.asr import transcribe

    assert {"kal16", "slt"} <= set(list_flite_voices())
    wave = synthesize_flite("move the knife up", voice="kal16")
    assert wave.dtype == np.float32 and wave.ndim == 1 and 0.5 < len(wave) / 16000 < 2.5
    assert np.abs(wave).max() <= 1.0
    floor = 0.01 * np.abs(wave).max()  # trimmed: it starts and ends where the voice is heard
    assert np.abs(wave[0]) > floor and np.abs(wave[-1]) > floor
    np.testing.assert_array_equal(wave, synthesize_flite("move the knife up", voice="kal16"))
    slow = synthesize_flite("move the knife up", voice="kal16", rate=120)
    assert len(slow) > 1.25 * len(wave)
    text = transcribe(np.pad(wave, (1600, 1600)), word_timestamps=False).text.lower()
    assert "knife" in text and "up" in text


def test_refuses_unknown_voices_bad_rates_empty_text_and_a_missing_program(monkeypatch):
    with pytest.raises(SpeechError, match="unknown flite voice 'nope'; installed: .*kal16"):
        synthesize_flite("hello", voice="nope")
    with pytest.raises(SpeechError, match="rate 500"):
        synthesize_flite("hello", rate=500)
    with pytest.raises(SpeechError, match="empty text"):
        synthesize_flite("  ")
    monkeypatch.setattr(flite.shutil, "which", lambda name: None)
    with pytest.raises(SpeechError, match="not installed: install Debian's flite"):
        flite.flite_binary()


def test_canonical_voice_with_the_flite_engine():
    from xmodal.data.objects import WorldConfig, dataset_info
    from xmodal.translate import CanonicalSpeechConfig, CanonicalVoice
    from xmodal.translate.voices import parse_candidate

    c = parse_candidate("flite:kal16:175:slots")
    assert (c.engine, c.voice, c.variant, c.rate, c.layout) == (
        "flite",
        "kal16",
        None,
        175,
        "slots",
    )
    assert parse_candidate("en+m1:150:slots").engine == "espeak"
    with pytest.raises(ValueError, match="no variants"):
        CanonicalSpeechConfig(engine="flite", voice="kal16", variant="m1")
    with pytest.raises(ValueError, match="engine must be"):
        CanonicalSpeechConfig(engine="festival")
    info = dataset_info(WorldConfig(size=30, seed=5))
    voice = CanonicalVoice.build(info, c)
    rotate, left = voice.render("knife", "rotate"), voice.render("knife", "left")
    a, b = (int(round(t * voice.sample_rate)) for t in voice.onsets[1:])
    assert np.array_equal(rotate[a:b], left[a:b]) and np.abs(rotate[a:b]).max() > 0.1
    espeak = CanonicalVoice.build(info, CanonicalSpeechConfig(layout="slots"))
    assert not np.array_equal(rotate, espeak.render("knife", "rotate"))
    assert voice.describe()["engine"] == "flite"

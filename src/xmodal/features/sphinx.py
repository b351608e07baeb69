"""Speech recognition with pocketsphinx: grammar-constrained recognition (and free transcription).

xmodal transcribes speech with Whisper (:mod:`xmodal.features.whisper`); pocketsphinx stays for
what Whisper cannot do: answer "which of these phrases was said" under a grammar. The thesis
study judges generated speech with it, beside Whisper's free transcription.

Two ways to recognise a 16 kHz mono waveform:

- **free** (``grammar=None``): the en-us acoustic model, the en-us 3-gram language model and the
  CMU dictionary that ship inside the ``pocketsphinx`` wheel (nothing is downloaded);
- **grammar-constrained**: a JSGF grammar (see :func:`phrase_grammar`) limits the hypotheses to a
  fixed set of phrases, so the answer is always one of them (or empty when nothing matches).
  The thesis study uses it to ask "which of the world's 25 phrases did the generated speech say".

Both return a :class:`Transcript`: the text and each word with its start and end in
milliseconds (pocketsphinx's 10 ms frames). Fillers (``<s>``, ``</s>``, ``<sil>``,
``[NOISE]`` ...) are dropped and alternative pronunciations (``two(2)``) are reported as the
plain word.

Digital silence (runs of exact zeros, as in synthesised speech) upsets pocketsphinx's cepstral
mean normalisation: measured on the world's 25 espeak-ng phrases padded with silence, grammar
recognition gave 7/25 without a noise floor and 25/25 with seeded Gaussian noise of std 1e-3
(about −60 dBFS) added. Real recordings do not need it (the same noise raised the free word
error rate of the cards recording from 0 to 0.33), so ``dither`` defaults to 0 and callers
recognising synthetic or generated speech pass 1e-3.

A :class:`Recogniser` owns one pocketsphinx decoder (about 0.4 s to load) and compiles each
grammar once; before every utterance it re-initialises the feature extraction and the cepstral
mean (both adapt across utterances otherwise), so a transcript depends on its waveform only,
never on what was recognised before. A decoder is not thread-safe, so every call holds the
recogniser's lock; :func:`recognise` uses one shared recogniser per process.

Example:
    >>> grammar = phrase_grammar(["rotate the knife", "move the pen left"])
    >>> recognise(waveform, grammar).text
    'rotate the knife'
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections.abc import Sequence

import numpy as np

from xmodal.features.transcript import (
    SAMPLE_RATE,
    Transcript,
    as_16k,
    normalise_phrase,
)
from xmodal.types import WordTiming

_FRAME_MS = 10  # pocketsphinx's default frame step in ms (-frate 100)
_ALT_PRONUNCIATION = re.compile(r"\(\d+\)$")
_WORD = re.compile(r"^[a-z][a-z'\-]*$")


def phrase_grammar(phrases: Sequence[str], name: str = "phrases") -> str:
    """A JSGF grammar that accepts exactly one of ``phrases`` per utterance.

    Args:
        phrases: the accepted phrases (normalised with :func:`normalise_phrase`; duplicates
            are kept once, in first-seen order).
        name: the grammar's name (letters, digits and underscores).

    Returns:
        The grammar as a JSGF string, e.g.
        ``"#JSGF V1.0;\\ngrammar phrases;\\npublic <phrase> = rotate the knife | ...;\\n"``.

    Raises:
        ValueError: no phrases, an empty phrase, a word with characters JSGF cannot hold, or a
            bad grammar name.
    """
    if not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise ValueError(f"grammar name must be letters, digits and underscores, got {name!r}")
    if isinstance(phrases, str):
        raise ValueError("phrase_grammar takes a list of phrases, not one string")
    clean: list[str] = []
    for phrase in phrases:
        norm = normalise_phrase(phrase)
        if not norm:
            raise ValueError(f"phrase {phrase!r} has no words")
        bad = [w for w in norm.split() if not _WORD.match(w)]
        if bad:
            raise ValueError(f"phrase {phrase!r}: words {bad} cannot appear in a JSGF grammar")
        if norm not in clean:
            clean.append(norm)
    if not clean:
        raise ValueError("phrase_grammar needs at least one phrase")
    alternatives = "\n    | ".join(clean)
    return f"#JSGF V1.0;\ngrammar {name};\npublic <phrase> = {alternatives};\n"


def grammar_words(grammar: str) -> list[str]:
    """The distinct words of a grammar written by :func:`phrase_grammar` (or any simple JSGF).

    Rule references (``<name>``), the header and JSGF operators are ignored.
    """
    body = "\n".join(
        line for line in grammar.splitlines() if not line.lstrip().startswith(("#", "grammar"))
    )
    body = re.sub(r"<[^>]*>", " ", body)  # rule names
    body = re.sub(r"\bpublic\b", " ", body)
    tokens = re.findall(r"[A-Za-z][A-Za-z'\-]*", body)
    return list(dict.fromkeys(t.lower() for t in tokens))


def _to_pcm16(wave: np.ndarray, dither: float) -> bytes:
    """A 16 kHz float32 waveform plus the seeded noise floor, as s16le bytes."""
    if dither > 0:
        noise = np.random.default_rng(0).standard_normal(len(wave)).astype(np.float32)
        wave = wave + np.float32(dither) * noise
    return (np.clip(wave, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class Recogniser:
    """One pocketsphinx decoder with the wheel's en-us model, and the grammars it has compiled.

    Args:
        loglevel: pocketsphinx's log level (``"FATAL"`` keeps it quiet).
        dither: default standard deviation of the seeded Gaussian noise floor added to every
            waveform (0: none); 1e-3 for synthetic or generated speech (module docstring).

    Raises:
        ImportError: pocketsphinx is not installed (the ``asr`` extra).
    """

    def __init__(self, loglevel: str = "FATAL", dither: float = 0.0) -> None:
        if not dither >= 0:
            raise ValueError(f"dither must be >= 0, got {dither}")
        try:
            from pocketsphinx import Decoder
        except ImportError as e:  # pragma: no cover - the asr extra is part of [all]
            raise ImportError(
                "grammar recognition needs the 'asr' extra: pip install 'xmodal[asr]' "
                "(pocketsphinx)"
            ) from e
        self._decoder = Decoder(loglevel=loglevel)
        # Live CMN and the front end carry state from one utterance into the next; resetting
        # both before each utterance makes a transcript a function of its waveform only.
        self._initial_cmn = self._decoder.get_cmn()
        self.dither = float(dither)
        self._searches: dict[str, str] = {}  # grammar text hash -> search name
        self._lock = threading.Lock()

    def unknown_words(self, words: Sequence[str]) -> list[str]:
        """The words (normalised) that the pronunciation dictionary does not have."""
        with self._lock:
            return [
                w
                for w in dict.fromkeys(normalise_phrase(" ".join(words)).split())
                if self._decoder.lookup_word(w) is None
            ]

    def _search_for(self, grammar: str) -> str:
        """Compile ``grammar`` once and return its search name (caller holds the lock)."""
        key = hashlib.sha1(grammar.encode()).hexdigest()[:16]
        if key in self._searches:
            return self._searches[key]
        missing = [w for w in grammar_words(grammar) if self._decoder.lookup_word(w) is None]
        if missing:
            raise ValueError(
                f"the grammar uses words the pronunciation dictionary lacks: {', '.join(missing)}"
            )
        name = f"jsgf_{key}"
        try:
            self._decoder.add_jsgf_string(name, grammar)
        except (ValueError, RuntimeError) as e:
            raise ValueError(f"invalid JSGF grammar: {e}") from None
        self._searches[key] = name
        return name

    def recognise(
        self,
        waveform: np.ndarray,
        grammar: str | None = None,
        sample_rate: int = SAMPLE_RATE,
        dither: float | None = None,
    ) -> Transcript:
        """Recognise speech in one waveform.

        Args:
            waveform: ``(N,)`` float samples in [-1, 1] (mono).
            grammar: a JSGF grammar (e.g. from :func:`phrase_grammar`) to constrain the result
                to; None transcribes freely with the language model.
            sample_rate: the waveform's rate; anything but 16 kHz is resampled.
            dither: noise floor for this call (None: the recogniser's ``dither``); the noise is
                seeded, so the same waveform always gives the same transcript.

        Returns:
            The :class:`Transcript` (empty text when nothing was recognised).

        Raises:
            ValueError: a waveform that is not mono float, empty or not finite; a grammar that
                does not parse or uses words outside the dictionary.
        """
        dither = self.dither if dither is None else float(dither)
        if not dither >= 0:
            raise ValueError(f"dither must be >= 0, got {dither}")
        pcm = _to_pcm16(as_16k(waveform, sample_rate), dither)
        with self._lock:
            search = self._search_for(grammar) if grammar is not None else None
            self._decoder.activate_search(search)  # None: the default language model
            self._decoder.reinit_feat()
            self._decoder.set_cmn(self._initial_cmn)
            self._decoder.start_utt()
            self._decoder.process_raw(pcm, no_search=False, full_utt=True)
            self._decoder.end_utt()
            hyp = self._decoder.hyp()
            segments = list(self._decoder.seg()) if hyp is not None else []
        words = []
        for seg in segments:
            word = _ALT_PRONUNCIATION.sub("", seg.word)
            if word.startswith(("<", "[", "+")) or not word:  # <s>, <sil>, [NOISE], +breath+
                continue
            words.append(
                WordTiming(
                    word=word.lower(),
                    start_ms=seg.start_frame * _FRAME_MS,
                    end_ms=(seg.end_frame + 1) * _FRAME_MS,
                )
            )
        return Transcript(
            text=" ".join(w.word for w in words), words=tuple(words), grammar=grammar is not None
        )


_SHARED_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _shared_recogniser() -> Recogniser:
    return Recogniser()


def shared_recogniser() -> Recogniser:
    """The process-wide :class:`Recogniser` (loaded on first use)."""
    with _SHARED_LOCK:
        return _shared_recogniser()


def recognise(
    waveform: np.ndarray,
    grammar: str | None = None,
    sample_rate: int = SAMPLE_RATE,
    dither: float = 0.0,
) -> Transcript:
    """Recognise speech with the process-wide recogniser (see :meth:`Recogniser.recognise`).

    Args:
        waveform: ``(N,)`` float samples in [-1, 1] (mono), 16 kHz unless ``sample_rate`` says.
        grammar: a JSGF grammar to constrain the result to; None for free transcription.
        sample_rate: the waveform's rate.
        dither: std of a seeded noise floor added first (1e-3 for synthetic speech; see the
            module docstring).

    Returns:
        A :class:`Transcript` with word timings in seconds.
    """
    return shared_recogniser().recognise(waveform, grammar, sample_rate, dither)

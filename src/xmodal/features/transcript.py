"""What a speech recogniser returns, and how transcripts are compared.

- :class:`Transcript`: the text and each word with its timing (:class:`xmodal.types.WordTiming`,
  milliseconds, the type speech synthesis uses too), the same for every recogniser
  (:mod:`xmodal.features.whisper`, :mod:`xmodal.features.sphinx`).
- :func:`normalise_phrase`: the one text normalisation used to compare transcripts (and to write
  grammars): lower case, numerals spelled out, a few spoken-form abbreviations expanded,
  punctuation removed. Whisper writes "Mr. Dashwood had 10 ..." where a reference transcript
  says "mister dashwood had ten ...": both normalise to the same words.
- :func:`word_error_rate`: word-level edit distance over the reference's word count, on
  normalised text.
- :func:`as_16k`: the waveform checks and resampling every recogniser shares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from xmodal.types import WordTiming

SAMPLE_RATE = 16000  # the rate both recognisers' models read

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip
_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor"}
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(st|nd|rd|th)?(?!\w)")


RecognisedWord = WordTiming
"""A recognised word: :class:`xmodal.types.WordTiming` (the name kept for existing callers).
``word`` is as the recogniser wrote it without surrounding punctuation (pocketsphinx: the
lower-case dictionary word; Whisper: cased, e.g. ``"Mr"``); ``start``/``end`` give seconds."""


@dataclass(frozen=True)
class Transcript:
    """What was recognised in one waveform.

    Attributes:
        text: the recognised text ("" when nothing was recognised). pocketsphinx: the words
            joined by single spaces; Whisper: its own written form, cased and punctuated.
            Compare transcripts through :attr:`normalised` (or :func:`word_error_rate`).
        words: the words with their timings (:class:`~xmodal.types.WordTiming`, in ms; ``.start``
            and ``.end`` give seconds), in order (empty when timings were not asked for).
        grammar: whether recognition was constrained to a grammar.
        engine: the recogniser: ``"pocketsphinx"`` or ``"whisper-tiny.en"``.
    """

    text: str
    words: tuple[WordTiming, ...]
    grammar: bool
    engine: str = "pocketsphinx"

    @property
    def normalised(self) -> str:
        """:attr:`text` through :func:`normalise_phrase` (``"Go forward 10 meters."`` ->
        ``"go forward ten meters"``)."""
        return normalise_phrase(self.text)

    def to_dict(self) -> dict:
        """JSON-ready form: ``{"text", "words": [{"word", "start_ms", "end_ms"}, ...],
        "grammar", "engine"}`` (the words as in a manifest)."""
        return {
            "text": self.text,
            "words": [w.to_dict() for w in self.words],
            "grammar": self.grammar,
            "engine": self.engine,
        }


def spell_number(n: int) -> str:
    """An integer in words, as it is read: ``1234`` -> ``"one thousand two hundred thirty
    four"`` (no "and", no hyphens: the form of LibriSpeech-style reference transcripts)."""
    if n < 0:
        return "minus " + spell_number(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {spell_number(rest)}" if rest else "")
    for scale, name in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            return f"{spell_number(high)} {name}" + (f" {spell_number(rest)}" if rest else "")
    raise AssertionError("unreachable")  # pragma: no cover


def _spell_year(n: int) -> str:
    """A four-digit year as it is said: 1984 -> "nineteen eighty four", 1900 -> "nineteen
    hundred", 2024 -> "twenty twenty four"."""
    high, low = divmod(n, 100)
    if low == 0:
        return f"{spell_number(high)} hundred"
    return f"{spell_number(high)} {'oh ' if low < 10 else ''}{spell_number(low)}"


def _ordinal(words: str) -> str:
    head, _, last = words.rpartition(" ")
    if last in _ORDINAL:
        last = _ORDINAL[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head} {last}".strip()


def _spell_match(m: re.Match[str]) -> str:
    digits, fraction, suffix = m.group(1), m.group(2), m.group(3)
    n = int(digits.replace(",", ""))
    year_like = "," not in digits and len(digits) == 4 and fraction is None and not suffix
    if year_like and (1100 <= n <= 1999 or 2010 <= n <= 2099):
        words = _spell_year(n)
    else:
        words = spell_number(n)
    if fraction is not None:
        words += " point " + " ".join(_ONES[int(d)] for d in fraction)
    if suffix:
        words = _ordinal(words)
    return f" {words} "


def normalise_phrase(phrase: str) -> str:
    """Reduce a phrase to lower-case words separated by single spaces, as it would be spoken.

    Numerals are spelled out (``10`` -> ``ten``, ``1,000`` -> ``one thousand``, ``21st`` ->
    ``twenty first``, ``3.5`` -> ``three point five``; a four-digit number between 1100 and
    1999 or 2010 and 2099 is read as a year: ``1984`` -> ``nineteen eighty four``), ``%`` and
    ``&`` become ``percent`` and ``and``, ``Mr``/``Mrs``/``Dr`` become ``mister``/``missus``/
    ``doctor``, and punctuation other than in-word apostrophes and hyphens is removed:
    ``"Rotate the knife!"`` becomes ``"rotate the knife"``.
    """
    text = _NUMBER.sub(_spell_match, phrase.lower())
    text = text.replace("%", " percent ").replace("&", " and ")
    cleaned = re.sub(r"[^a-z'\-\s]", " ", text)
    words = [w.strip("'-") for w in cleaned.split()]
    return " ".join(_ABBREVIATIONS.get(w, w) for w in words if w)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level edit distance divided by the reference's word count.

    Both strings are normalised with :func:`normalise_phrase` first.

    Args:
        reference: the true transcript (must have at least one word).
        hypothesis: the recognised text.

    Returns:
        (substitutions + deletions + insertions) / len(reference words); may exceed 1.
    """
    errors, words = word_errors(reference, hypothesis)
    return errors / words


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """``(edit distance in words, reference word count)`` after :func:`normalise_phrase`, so
    an overall error rate over many utterances is ``sum(errors) / sum(words)``."""
    ref = normalise_phrase(reference).split()
    hyp = normalise_phrase(hypothesis).split()
    if not ref:
        raise ValueError("the reference transcript has no words")
    prev = list(range(len(hyp) + 1))  # distances for the empty reference prefix
    for i, r in enumerate(ref, start=1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1], len(ref)


def as_16k(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    """Validate a mono float waveform and resample it to 16 kHz.

    Args:
        waveform: ``(N,)`` float samples in [-1, 1].
        sample_rate: its rate in Hz.

    Returns:
        ``(M,)`` float32 at :data:`SAMPLE_RATE`.

    Raises:
        ValueError: not mono, empty, not float, not finite, or a non-positive rate.
    """
    wave = np.asarray(waveform)
    if wave.ndim != 1:
        raise ValueError(f"expected a mono waveform (N,), got shape {wave.shape}")
    if wave.size == 0:
        raise ValueError("the waveform is empty")
    if not np.issubdtype(wave.dtype, np.floating):
        raise ValueError(f"expected float samples in [-1, 1], got dtype {wave.dtype}")
    if not np.all(np.isfinite(wave)):
        raise ValueError("the waveform has NaN or infinite samples")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    wave = wave.astype(np.float32, copy=False)
    if sample_rate != SAMPLE_RATE:
        import librosa

        wave = librosa.resample(wave, orig_sr=sample_rate, target_sr=SAMPLE_RATE)
    return wave

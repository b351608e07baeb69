"""What ``xmodal sync check`` would answer on every copy: clear, low confidence, or none.

The lip model (``multiway``) and the training-free cue (``jaw-energy-change``) each estimated
every copy of every clip (:mod:`xmodal.evaluation.studies.sync_real`); here the two views are
joined copy by copy and decided by :func:`xmodal.sync.decide.decide`, with thresholds
calibrated on videos the model did not learn from:

- development clips: each clip is decided with the agreement bonus, floor and clear threshold
  calibrated on the other development clips' leave-one-video-out rows (its own copies and
  every swap involving it left out);
- second and frozen sets: with those calibrated on every development row.

The floor flags ``FLAGGED`` of the calibration swaps as not matching; the bonus (from
``BONUSES``) is the one that then answers the most in-sync copies; the clear threshold is the
balanced-accuracy one on the scores. A copy is right when ``est(k) - est(0)`` is within ±1
frame of its shift ``k`` (relative), or ``est(k)`` itself is (absolute).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xmodal.evaluation.sync import balanced_threshold
from xmodal.sync.decide import (
    LOW,
    NONE,
    Thresholds,
    choose_bonus,
    coverage_accuracy,
    decide,
    row_scores,
)

MODEL, CUE = "multiway", "jaw-energy-change"
BONUSES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
FLAGGED = 0.9  # share of calibration swaps the floor flags as not matching


def _key(row: dict[str, Any]) -> tuple:
    return (row["clip"], row["kind"], row.get("k"), row.get("donor"))


def join_views(model_rows: list[dict[str, Any]], cue_rows: list[dict[str, Any]]) -> list[dict]:
    """The model's shift and swap rows with the cue's offset and confidence of the same copy
    (``cue_offset``), and each shift row's relative and absolute correctness."""
    cue = {_key(r): r for r in cue_rows if r["kind"] in ("shift", "swap")}
    est0 = {r["clip"]: r["offset"] for r in model_rows if r["kind"] == "shift" and r["k"] == 0}
    out = []
    for r in model_rows:
        if r["kind"] not in ("shift", "swap"):
            continue
        c = cue.get(_key(r))
        row = {**r, "cue_offset": None if c is None else c["offset"],
               "cue_confidence": None if c is None else c["confidence"]}  # fmt: skip
        if r["kind"] == "shift":
            row["relative"] = abs(r["offset"] - est0[r["clip"]] - r["k"]) <= 1
            row["absolute"] = abs(r["offset"] - r["k"]) <= 1
        out.append(row)
    return out


def calibrate(rows: list[dict[str, Any]]) -> Thresholds:
    """The thresholds calibrated on ``rows`` (joined shift and swap rows)."""
    bonus, floor, _ = choose_bonus(rows, BONUSES, FLAGGED)
    scores = row_scores(rows, bonus)
    finite = {k: [max(v, -1e9) for v in vs] for k, vs in scores.items()}
    clear = max(balanced_threshold(finite["shift"], finite["swap"]), floor)
    return Thresholds(clear=float(clear), floor=float(floor), agree_bonus=float(bonus))


def _involves(row: dict[str, Any], clip: str) -> bool:
    return clip in (row["clip"], row.get("donor"))


def decide_rows(
    rows: list[dict[str, Any]], calibration: list[dict[str, Any]] | None
) -> tuple[list[dict[str, Any]], dict[str, dict[str, float]]]:  # fmt: skip
    """Each row's verdict (``level``, ``score``), and the thresholds each clip was decided
    with: calibrated on ``calibration`` (None: leave-one-video-out over ``rows``)."""
    clips = sorted({r["clip"] for r in rows})
    shared = calibrate(calibration) if calibration is not None else None
    thresholds, out = {}, []
    for clip in clips:
        t = shared or calibrate([r for r in rows if not _involves(r, clip)])
        thresholds[clip] = t.to_dict()
        for r in rows:
            if r["clip"] == clip:
                v = decide(r["offset"], r["confidence"], r["cue_offset"], t)
                out.append({**r, "level": v.level, "score": v.score, "agree": v.agree})
    return out, thresholds


def summary(decided: list[dict[str, Any]]) -> dict[str, Any]:
    """Coverage, accuracy of the answered copies, levels and swaps flagged."""
    shifts = [r for r in decided if r["kind"] == "shift"]
    swaps = [r for r in decided if r["kind"] == "swap"]
    answered = [r for r in shifts if r["level"] != NONE]

    def share(rows: list, test) -> float | None:
        return float(np.mean([test(r) for r in rows])) if rows else None

    agree = [r for r in shifts if r["agree"] is not None]
    return {
        "copies": len(shifts),
        "coverage": share(shifts, lambda r: r["level"] != NONE),
        "clear": share(shifts, lambda r: r["level"] not in (NONE, LOW)),
        "low": share(shifts, lambda r: r["level"] == LOW),
        "relative_answered": share(answered, lambda r: r["relative"]),
        "absolute_answered": share(answered, lambda r: r["absolute"]),
        "relative_all": share(shifts, lambda r: r["relative"]),
        "swaps": len(swaps),
        "swaps_flagged": share(swaps, lambda r: r["level"] == NONE),
        "views_agree_copies": share(agree, lambda r: r["agree"]),
        "views_agree_swaps": share(
            [r for r in swaps if r["agree"] is not None], lambda r: r["agree"]
        ),  # fmt: skip
        "relative_when_agree": share([r for r in shifts if r["agree"]], lambda r: r["relative"]),
        "relative_when_disagree": share(
            [r for r in shifts if r["agree"] is False], lambda r: r["relative"]
        ),  # fmt: skip
    }


def trade_off(rows: list[dict[str, Any]], bonus: float, points: int = 41) -> list[dict]:
    """Coverage of in-sync copies against the relative accuracy of the answered ones, and the
    share of swaps flagged, as the floor sweeps the scores (``bonus`` fixed)."""
    shifts = [r for r in rows if r["kind"] == "shift"]
    scores = row_scores(rows, bonus)
    s_shift, s_swap = np.asarray(scores["shift"]), np.asarray(scores["swap"])
    finite = np.concatenate([s_shift, s_swap])
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return []
    grid = np.unique(np.quantile(finite, np.linspace(0, 1, points)))
    curve = coverage_accuracy(s_shift, [r["relative"] for r in shifts], grid)
    for point in curve:
        t = point["threshold"]
        point["swaps_flagged"] = float(np.mean(s_swap < t)) if len(s_swap) else float("nan")
    return curve


def shipped_thresholds(dev_rows_by_seed: list[list[dict[str, Any]]]) -> dict[str, float]:
    """The thresholds to ship with a model trained on every development clip: calibrated on
    all leave-one-video-out development rows of each seed, then averaged over seeds."""
    ts = [calibrate(rows) for rows in dev_rows_by_seed]
    return {k: float(np.mean([getattr(t, k) for t in ts]))
            for k in ("clear", "floor", "agree_bonus")}  # fmt: skip


def decisions(rows: dict[str, dict[str, list[list[dict[str, Any]]]]]) -> dict[str, Any]:
    """Per set, the decided copies summarised per seed of the model (the cue is deterministic),
    the trade-off curve (seed 0) and the thresholds to ship.

    Args:
        rows: ``{method: {set: [rows of each seed]}}`` with ``MODEL`` and ``CUE``.
    """
    from xmodal.evaluation.report import mean_std

    model, cue = rows[MODEL], rows[CUE]
    dev = [join_views(seed_rows, cue["dev"][0]) for seed_rows in model["dev"]]
    out: dict[str, Any] = {"model": MODEL, "cue": CUE, "flagged": FLAGGED,
                           "bonuses": list(BONUSES), "sets": {}}  # fmt: skip
    for s, per_seed in model.items():
        if not per_seed or not cue.get(s):
            continue
        seeds = []
        for i, seed_rows in enumerate(per_seed):
            joined = join_views(seed_rows, cue[s][0])
            decided, thresholds = decide_rows(joined, None if s == "dev" else dev[i])
            seeds.append((summary(decided), thresholds, joined, decided))
        keys = seeds[0][0].keys()
        entry = {k: mean_std([np.nan if x[0][k] is None else x[0][k] for x in seeds])
                 for k in keys if k not in ("copies", "swaps")}  # fmt: skip
        entry["copies"], entry["swaps"] = seeds[0][0]["copies"], seeds[0][0]["swaps"]
        entry["thresholds_seed0"] = seeds[0][1]
        bonus = float(np.median([t["agree_bonus"] for t in seeds[0][1].values()]))
        entry["trade_off_seed0"] = trade_off(seeds[0][2], bonus)
        entry["trade_off_bonus"] = bonus
        entry["per_clip_seed0"] = _per_clip(seeds[0][3])
        out["sets"][s] = entry
    out["shipped"] = shipped_thresholds(dev)
    return out


def _per_clip(decided: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    clips: dict[str, dict[str, Any]] = {}
    for r in decided:
        if r["kind"] != "shift":
            continue
        c = clips.setdefault(r["clip"], {"levels": {}, "relative": 0, "answered": 0, "n": 0})
        c["levels"][r["level"]] = c["levels"].get(r["level"], 0) + 1
        c["n"] += 1
        c["answered"] += r["level"] != NONE
        c["relative"] += bool(r["relative"] and r["level"] != NONE)
    return clips

"""Compositional and random splits: held-out pairs stay held out, train keeps every part."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from xmodal.data.splits import (
    ACTIONS,
    DEFAULT_HOLDOUT,
    OBJECTS,
    assign_splits,
    compositional_split,
    format_holdout,
    parse_holdout,
    random_split,
    rows_by_split,
    stratified_split,
    validate_holdout,
)

ALL_PAIRS = [(o, a) for o in OBJECTS for a in ACTIONS]


def _balanced(per_pair: int) -> list[tuple[str, str]]:
    return [p for _ in range(per_pair) for p in ALL_PAIRS]


def test_parse_holdout_accepts_case_spaces_and_none() -> None:
    assert parse_holdout("knife:rotate, PEN:Up") == (("knife", "rotate"), ("pen", "up"))
    assert parse_holdout("knife:rotate,knife:rotate,") == (("knife", "rotate"),)
    assert parse_holdout("none") == ()
    assert parse_holdout("") == ()
    assert parse_holdout(format_holdout(DEFAULT_HOLDOUT)) == DEFAULT_HOLDOUT


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("bogus:thing", "unknown object 'bogus'"),
        ("knife:fly", "unknown action 'fly'"),
        ("knife", "expected OBJECT:ACTION"),
        ("knife:rotate:twice", "expected OBJECT:ACTION"),
        (":up", "expected OBJECT:ACTION"),
    ],
)
def test_parse_holdout_rejects_bad_input(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_holdout(spec)


def test_default_holdout_covers_each_object_and_action_once() -> None:
    assert ("knife", "rotate") in DEFAULT_HOLDOUT
    assert sorted(o for o, _ in DEFAULT_HOLDOUT) == sorted(OBJECTS)
    assert sorted(a for _, a in DEFAULT_HOLDOUT) == sorted(ACTIONS)
    validate_holdout(DEFAULT_HOLDOUT)


def test_holdout_that_removes_an_object_or_action_is_refused() -> None:
    with pytest.raises(ValueError, match="removes object 'fork'"):
        validate_holdout([("fork", a) for a in ACTIONS])
    with pytest.raises(ValueError, match="removes action 'up'"):
        compositional_split(_balanced(2), [(o, "up") for o in OBJECTS], seed=0)
    validate_holdout([("fork", a) for a in ACTIONS[:4]])  # four of five is fine


def test_compositional_split_invariants() -> None:
    pairs = _balanced(8)  # 200 clips
    splits = compositional_split(pairs, DEFAULT_HOLDOUT, seed=3)
    held = set(DEFAULT_HOLDOUT)
    for pair, split in zip(pairs, splits, strict=True):
        assert (split == "heldout") == (pair in held)
    train = {p for p, s in zip(pairs, splits, strict=True) if s == "train"}
    assert train == set(ALL_PAIRS) - held  # every seen pair is in train
    assert {o for o, _ in train} == set(OBJECTS)
    assert {a for _, a in train} == set(ACTIONS)
    # 160 seen clips: exactly round(160 * 0.1) in val and in test.
    assert Counter(splits) == {"train": 128, "val": 16, "test": 16, "heldout": 40}


def test_split_is_deterministic_order_free_and_seed_dependent() -> None:
    pairs = _balanced(6)
    a = compositional_split(pairs, DEFAULT_HOLDOUT, seed=0)
    assert compositional_split(pairs, DEFAULT_HOLDOUT, seed=0) == a
    assert compositional_split(pairs, DEFAULT_HOLDOUT, seed=1) != a
    # Items are picked by group and seed, not by position: reversing the input reverses the
    # output up to which of a group's identical items is picked.
    b = compositional_split(pairs[::-1], DEFAULT_HOLDOUT, seed=0)[::-1]
    assert Counter(zip(pairs, a, strict=True)) == Counter(zip(pairs, b, strict=True))


def test_random_split_has_no_heldout_and_keeps_every_pair_in_train() -> None:
    pairs = _balanced(4)
    splits = assign_splits(pairs, mode="random", seed=0)
    assert "heldout" not in splits
    assert Counter(splits) == {"train": 80, "val": 10, "test": 10}
    assert {p for p, s in zip(pairs, splits, strict=True) if s == "train"} == set(ALL_PAIRS)
    assert random_split(7, seed=0) == random_split(7, seed=0)
    with pytest.raises(ValueError, match="unknown split mode"):
        assign_splits(pairs, mode="sideways")


def test_small_groups_stay_in_train() -> None:
    assert stratified_split(["a", "b", "c"], seed=0) == ["train"] * 3
    splits = stratified_split(["a", "a"] * 5, seed=0, fractions=(0.2, 0.4, 0.4))
    assert splits.count("train") == 2 and splits.count("val") + splits.count("test") == 8


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.9, 0.2, 0.1), (0.0, 0.5, 0.5)])
def test_bad_fractions_are_refused(fractions: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="fractions"):
        stratified_split(["a"], seed=0, fractions=fractions)


def test_rows_by_split_groups_in_standard_order() -> None:
    rows = [{"id": str(i), "split": s} for i, s in enumerate(["test", "train", "heldout", "train"])]
    grouped = rows_by_split(rows)
    assert list(grouped) == ["train", "test", "heldout"]
    assert [r["id"] for r in grouped["train"]] == ["1", "3"]
    with pytest.raises(ValueError, match="no 'split'"):
        rows_by_split([{"id": "x"}])


def test_splits_are_disjoint_and_cover_all_items() -> None:
    rng = np.random.default_rng(0)
    pairs = [ALL_PAIRS[i] for i in rng.integers(0, 25, 300)]  # unbalanced
    splits = compositional_split(pairs, DEFAULT_HOLDOUT, seed=0)
    by = rows_by_split({"id": i, "split": s} for i, s in enumerate(splits))
    ids = [r["id"] for rows in by.values() for r in rows]
    assert sorted(ids) == list(range(300))  # each item in exactly one split


def test_first_per_pair_keeps_the_first_rows_of_each_pair_in_order() -> None:
    from xmodal.data.splits import first_per_pair

    pairs = [("pen", "up"), ("pen", "up"), ("cup", "up"), ("pen", "up"), ("pen", "down"),
             ("cup", "up")]  # fmt: skip
    rows = [{"id": f"c{i}", "object": o, "action": a} for i, (o, a) in enumerate(pairs)]
    assert [r["id"] for r in first_per_pair(rows, 1)] == ["c0", "c2", "c4"]
    assert [r["id"] for r in first_per_pair(rows, 2)] == ["c0", "c1", "c2", "c4", "c5"]
    assert first_per_pair(rows, None) == rows and first_per_pair([], 3) == []
    with pytest.raises(ValueError, match="n >= 1"):
        first_per_pair(rows, 0)

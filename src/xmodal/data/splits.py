"""Train/val/test splits: compositional (held-out object-action pairs) and random.

A **compositional split** holds out a set of (object, action) pairs: their clips go to the
``heldout`` split only, and never appear in train or val. Every object and every action must
still appear in train (in some other pair), otherwise the held-out pairs test something the
model has never seen rather than a new composition of known parts. The remaining ("seen")
clips are split train/val/test, stratified per pair, so every seen pair is in train.

A **random split** has no held-out pairs: every clip goes to train, val or test.

Both are deterministic functions of the seed and the clip labels; they never depend on the order
in which clips are generated.

Example:
    >>> holdout = parse_holdout("knife:rotate,pen:up")
    >>> splits = assign_splits(pairs, mode="compositional", holdout=holdout, seed=0)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np

OBJECTS: tuple[str, ...] = ("pen", "phone", "spoon", "knife", "fork")
ACTIONS: tuple[str, ...] = ("left", "right", "up", "down", "rotate")
SPLITS: tuple[str, ...] = ("train", "val", "test", "heldout")
SPLIT_MODES: tuple[str, ...] = ("compositional", "random")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)
# One pair per object and one per action, so each object and each action keeps four pairs in
# train. (knife, rotate) is the thesis's "rotate the knife, never seen in training".
DEFAULT_HOLDOUT: tuple[tuple[str, str], ...] = (
    ("knife", "rotate"),
    ("pen", "up"),
    ("phone", "left"),
    ("spoon", "down"),
    ("fork", "right"),
)
# Spawn key of the split's random stream, so it never coincides with a clip's [seed, index].
_SPLIT_STREAM = 0x5911


Pair = tuple[str, str]


def parse_holdout(
    spec: str, objects: Sequence[str] = OBJECTS, actions: Sequence[str] = ACTIONS
) -> tuple[Pair, ...]:
    """Parse ``"knife:rotate,pen:up"`` into ``(("knife", "rotate"), ("pen", "up"))``.

    Names are case-insensitive and surrounding spaces are ignored; ``""`` or ``"none"`` means no
    held-out pair. Duplicates are removed (first occurrence kept).

    Args:
        spec: comma-separated ``object:action`` pairs.
        objects: the valid object names.
        actions: the valid action names.

    Returns:
        The pairs, in the order given.

    Raises:
        ValueError: bad syntax or an unknown object or action (the message lists the valid ones).
    """
    if spec.strip().lower() in ("", "none"):
        return ()
    pairs: list[Pair] = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        parts = [p.strip().lower() for p in item.split(":")]
        if len(parts) != 2 or not all(parts):
            raise ValueError(
                f"bad held-out pair {item!r}: expected OBJECT:ACTION, e.g. 'knife:rotate'"
            )
        pair = (parts[0], parts[1])
        _check_names([pair], objects, actions)
        if pair not in pairs:
            pairs.append(pair)
    return tuple(pairs)


def format_holdout(holdout: Iterable[Pair]) -> str:
    """The inverse of :func:`parse_holdout`: ``"knife:rotate,pen:up"`` (``"none"`` if empty)."""
    text = ",".join(f"{o}:{a}" for o, a in holdout)
    return text or "none"


def validate_holdout(
    holdout: Iterable[Pair], objects: Sequence[str] = OBJECTS, actions: Sequence[str] = ACTIONS
) -> None:
    """Check that every object and every action keeps at least one pair outside the holdout.

    Args:
        holdout: the held-out (object, action) pairs.
        objects: every object of the world.
        actions: every action of the world.

    Raises:
        ValueError: an unknown name, or a holdout that removes an object or an action from
            train entirely (e.g. all five pairs of one object).
    """
    held = set(holdout)
    _check_names(held, objects, actions)
    for obj in objects:
        if all((obj, act) in held for act in actions):
            raise ValueError(
                f"the holdout removes object {obj!r} from train entirely (all its pairs are "
                f"held out); keep at least one {obj}:ACTION pair out of --holdout"
            )
    for act in actions:
        if all((obj, act) in held for obj in objects):
            raise ValueError(
                f"the holdout removes action {act!r} from train entirely (all its pairs are "
                f"held out); keep at least one OBJECT:{act} pair out of --holdout"
            )


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Validate (train, val, test) fractions: three non-negative numbers summing to 1, train > 0.

    Raises:
        ValueError: otherwise.
    """
    if len(fractions) != 3:
        raise ValueError(f"split fractions must be (train, val, test), got {tuple(fractions)}")
    train, val, test = (float(f) for f in fractions)
    if min(train, val, test) < 0 or train <= 0 or abs(train + val + test - 1.0) > 1e-6:
        raise ValueError(
            f"split fractions must be non-negative, train > 0, and sum to 1; got "
            f"{(train, val, test)}"
        )
    return train, val, test


def stratified_split(
    groups: Sequence[Hashable],
    seed: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> list[str]:
    """Split items into train/val/test within each group (every non-empty group is in train).

    Overall, ``round(N * val)`` items go to val and ``round(N * test)`` to test (fewer only if
    every group would otherwise lose its last train item). Each group gets its proportional share,
    the remainders going to the groups with the largest fractional parts (ties broken at random),
    and the items are chosen within a group by a random permutation. Everything is drawn from
    ``seed`` and the groups' sorted order, so the result does not depend on the item order.

    Args:
        groups: (N,) the group label of each item (e.g. its (object, action) pair). Labels must
            be sortable.
        seed: the random seed.
        fractions: (train, val, test) fractions.

    Returns:
        (N,) split names.
    """
    _, val_frac, test_frac = check_fractions(fractions)
    members: dict[Hashable, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    keys = sorted(members)  # sorted: independent of the item order
    sizes = np.array([len(members[g]) for g in keys])  # (G,)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_SPLIT_STREAM,)))
    n_val = _quotas(sizes, val_frac, sizes - 1, rng)  # (G,) keep >= 1 per group in train
    n_test = _quotas(sizes, test_frac, sizes - 1 - n_val, rng)
    out = ["train"] * len(groups)
    for k, g in enumerate(keys):
        group_rng = np.random.default_rng(
            np.random.SeedSequence(seed, spawn_key=(_SPLIT_STREAM, k))
        )
        idx = np.asarray(members[g])[group_rng.permutation(sizes[k])]
        for i in idx[: n_val[k]]:
            out[i] = "val"
        for i in idx[n_val[k] : n_val[k] + n_test[k]]:
            out[i] = "test"
    return out


def _quotas(
    sizes: np.ndarray, fraction: float, caps: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Largest-remainder apportionment of ``round(sum(sizes) * fraction)`` items over groups.

    Args:
        sizes: (G,) group sizes.
        fraction: the share to allocate.
        caps: (G,) the most each group may give.
        rng: breaks ties between equal remainders.

    Returns:
        (G,) int counts, each ``<= caps``.
    """
    exact = sizes * fraction  # (G,)
    quota = np.minimum(np.floor(exact).astype(int), caps)
    remaining = int(round(float(sizes.sum()) * fraction)) - int(quota.sum())
    order = np.lexsort((rng.random(len(sizes)), -(exact - np.floor(exact))))  # biggest first
    for g in order:
        if remaining > 0 and quota[g] < min(caps[g], np.ceil(exact[g])):
            quota[g] += 1
            remaining -= 1
    while remaining > 0:  # capped groups could not take their share: others take more
        room = [g for g in order if quota[g] < caps[g]][:remaining]
        if not room:
            break
        quota[room] += 1
        remaining -= len(room)
    return quota


def compositional_split(
    pairs: Sequence[Pair],
    holdout: Iterable[Pair],
    seed: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    objects: Sequence[str] = OBJECTS,
    actions: Sequence[str] = ACTIONS,
) -> list[str]:
    """Held-out pairs go to ``heldout``; the rest is split train/val/test per pair.

    Args:
        pairs: (N,) each clip's (object, action).
        holdout: the held-out pairs (checked with :func:`validate_holdout`).
        seed: the random seed.
        fractions: (train, val, test) fractions of the seen clips.
        objects: every object of the world.
        actions: every action of the world.

    Returns:
        (N,) split names.
    """
    held = set(holdout)
    validate_holdout(held, objects, actions)
    pairs = [tuple(p) for p in pairs]
    seen = [i for i, p in enumerate(pairs) if p not in held]
    seen_splits = stratified_split([pairs[i] for i in seen], seed, fractions)
    out = ["heldout"] * len(pairs)
    for i, s in zip(seen, seen_splits, strict=True):
        out[i] = s
    return out


def random_split(
    n: int,
    seed: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    groups: Sequence[Hashable] | None = None,
) -> list[str]:
    """Split ``n`` items train/val/test at random (stratified per group when ``groups`` is given).

    Args:
        n: number of items.
        seed: the random seed.
        fractions: (train, val, test) fractions.
        groups: optional (n,) group labels to stratify by (e.g. each clip's pair or speaker).

    Returns:
        (n,) split names, never ``heldout``.
    """
    if groups is None:
        groups = [0] * n
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} labels for {n} items")
    return stratified_split(groups, seed, fractions)


def assign_splits(
    pairs: Sequence[Pair],
    mode: str = "compositional",
    holdout: Iterable[Pair] = DEFAULT_HOLDOUT,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> list[str]:
    """Split clips labelled by (object, action) in ``mode`` ``compositional`` or ``random``.

    Args:
        pairs: (N,) each clip's (object, action).
        mode: ``"compositional"`` (held-out pairs in ``heldout``) or ``"random"`` (no heldout;
            the holdout is ignored; stratified per pair).
        holdout: the held-out pairs for compositional mode.
        seed: the random seed.
        fractions: (train, val, test) fractions.

    Returns:
        (N,) split names.
    """
    if mode == "compositional":
        return compositional_split(pairs, holdout, seed, fractions)
    if mode == "random":
        return random_split(len(pairs), seed, fractions, groups=[tuple(p) for p in pairs])
    raise ValueError(f"unknown split mode {mode!r}; expected one of: {', '.join(SPLIT_MODES)}")


def rows_by_split(rows: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Group manifest rows by their ``split`` (rows keep their order within a split).

    Args:
        rows: manifest rows, each with a ``split`` key.

    Returns:
        ``{split: rows}`` with the standard splits first (train, val, test, heldout) when
        present, then any other split names in order of first appearance.
    """
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if "split" not in row:
            raise ValueError(f"manifest row {row.get('id', row)!r} has no 'split'")
        grouped[row["split"]].append(row)
    order = [s for s in SPLITS if s in grouped] + [s for s in grouped if s not in SPLITS]
    return {s: grouped[s] for s in order}


def first_per_pair(rows: Iterable[dict[str, Any]], n: int | None) -> list[dict[str, Any]]:
    """At most ``n`` rows of each (object, action) pair, the first in order (None: every row).

    A quicker look at a split keeps every pair, each as often as the split has it up to ``n``.
    """
    if n is None:
        return list(rows)
    if n < 1:
        raise ValueError(f"at most n rows of each pair needs n >= 1, got {n}")
    taken: dict[tuple[Any, Any], int] = defaultdict(int)
    kept = []
    for row in rows:
        key = (row.get("object"), row.get("action"))
        taken[key] += 1
        if taken[key] <= n:
            kept.append(row)
    return kept


def _check_names(pairs: Iterable[Pair], objects: Sequence[str], actions: Sequence[str]) -> None:
    for obj, act in pairs:
        if obj not in objects:
            raise ValueError(f"unknown object {obj!r}; expected one of: {', '.join(objects)}")
        if act not in actions:
            raise ValueError(f"unknown action {act!r}; expected one of: {', '.join(actions)}")

"""Study reports: mean ± std over seeds, Markdown tables, figures, results.json.

Every study writes ``results.json`` (machine-readable; keys documented in docs/studies.md) beside a
human ``report.md`` with PNG plots. This module holds the pieces they share.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from xmodal.utils import new_figure as new_figure  # re-exported: the figures reports draw
from xmodal.utils import save_figure as save_figure


def mean_std(values: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "std", "values"}`` over seeds (population std; 0 for a single value).

    NaN values are kept in ``values`` and ignored in the statistics.
    """
    arr = np.asarray(values, dtype=np.float64)
    ok = arr[~np.isnan(arr)]
    return {
        "mean": float(ok.mean()) if len(ok) else float("nan"),
        "std": float(ok.std()) if len(ok) else float("nan"),
        "values": [float(v) for v in arr],
    }


def aggregate_seeds(per_seed: Sequence[Mapping[str, float]]) -> dict[str, dict[str, Any]]:
    """Turn a list of per-seed metric dicts into ``metric -> mean_std(...)``.

    Every seed must report the same metric names.
    """
    if not per_seed:
        raise ValueError("no seeds to aggregate")
    keys = list(per_seed[0])
    for i, row in enumerate(per_seed):
        if list(row) != keys:
            raise ValueError(f"seed {i} reports {sorted(row)}, expected {sorted(keys)}")
    return {k: mean_std([row[k] for row in per_seed]) for k in keys}


def fmt_mean_std(stat: Mapping[str, Any], digits: int = 2) -> str:
    """Format a :func:`mean_std` dict as ``"1.23 ± 0.04"`` (just the mean for one value)."""
    mean, std = stat["mean"], stat["std"]
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "n/a"
    if len(stat.get("values", [])) <= 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = [
        "| " + " | ".join(str(h) for h in headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row {row!r} has {len(row)} cells, expected {len(headers)}")
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines) + "\n"

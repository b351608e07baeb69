"""Study reports: mean ± std over seeds, Markdown tables, figures, results.json.

Every study writes ``results.json`` (machine-readable; keys documented in docs/studies.md) beside a
human ``report.md`` with PNG plots. This module holds the pieces they share.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


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


def new_figure(width: float = 6.4, height: float = 4.0):  # -> matplotlib Figure
    """A matplotlib figure on the non-interactive Agg backend (safe on headless machines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(width, height), dpi=110)


def save_figure(fig, path: str | Path) -> Path:
    """Save a figure atomically as PNG and close it."""
    import matplotlib.pyplot as plt

    from xmodal.utils import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.tight_layout()
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path

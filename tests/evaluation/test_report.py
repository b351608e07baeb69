import numpy as np
import pytest

from xmodal.evaluation.report import aggregate_seeds, fmt_mean_std, markdown_table, mean_std


def test_mean_std_over_seeds():
    s = mean_std([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and s["std"] == pytest.approx(np.std([1, 2, 3]))
    assert fmt_mean_std(s) == "2.00 ± 0.82"
    assert fmt_mean_std(mean_std([0.5])) == "0.50"


def test_aggregate_requires_same_keys():
    agg = aggregate_seeds([{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 4.0}])
    assert agg["a"]["mean"] == 2.0 and agg["b"]["values"] == [2.0, 4.0]
    with pytest.raises(ValueError):
        aggregate_seeds([{"a": 1.0}, {"b": 1.0}])


def test_markdown_table():
    t = markdown_table(["x", "y"], [[1, 2], ["a", "b"]])
    assert t.splitlines() == ["| x | y |", "|---|---|", "| 1 | 2 |", "| a | b |"]
    with pytest.raises(ValueError):
        markdown_table(["x"], [[1, 2]])

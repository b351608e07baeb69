"""Typed configs to and from dicts, YAML and JSON."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from xmodal.config import (
    ConfigError,
    from_dict,
    load_json,
    load_yaml,
    save_json,
    save_yaml,
    to_dict,
)
from xmodal.types import Modality


class Kind(enum.Enum):
    SMALL = "small"
    LARGE = "large"


@dataclass
class Inner:
    width: int = 4
    rate: float = 0.5
    kind: Kind = Kind.SMALL

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ValueError(f"width must be >= 1, got {self.width}")


@dataclass
class Outer:
    name: str
    inner: Inner = field(default_factory=Inner)
    maybe: Inner | None = None
    sizes: tuple[int, ...] = (1, 2)
    pair: tuple[str, float] = ("a", 1.0)
    path: Path = Path("runs/x")
    opt_path: Path | None = None
    tags: list[str] = field(default_factory=list)
    weights: dict[Modality, float] = field(default_factory=dict)
    mode: Literal["fast", "slow"] = "fast"
    flag: bool = False


def _example() -> Outer:
    return Outer(
        name="run",
        inner=Inner(width=8, rate=0.25, kind=Kind.LARGE),
        maybe=Inner(width=2),
        sizes=(3, 5, 7),
        pair=("b", 2.5),
        path=Path("/tmp/somewhere"),
        opt_path=Path("rel/p"),
        tags=["x", "y"],
        weights={Modality.VIDEO: 1.0, Modality.AUDIO: 0.5},
        mode="slow",
        flag=True,
    )


def test_to_dict_is_plain() -> None:
    d = to_dict(_example())
    assert d["inner"] == {"width": 8, "rate": 0.25, "kind": "large"}
    assert d["sizes"] == [3, 5, 7]
    assert d["path"] == "/tmp/somewhere"
    assert d["weights"] == {"video": 1.0, "audio": 0.5}
    json.dumps(d)  # JSON-safe


def test_round_trip_dict_yaml_json(tmp_path: Path) -> None:
    cfg = _example()
    assert from_dict(Outer, to_dict(cfg)) == cfg
    save_yaml(cfg, tmp_path / "c.yaml")
    back = load_yaml(Outer, tmp_path / "c.yaml")
    assert back == cfg
    assert isinstance(back.sizes, tuple) and isinstance(back.path, Path)
    assert back.inner.kind is Kind.LARGE
    assert list(back.weights) == [Modality.VIDEO, Modality.AUDIO]
    assert all(isinstance(k, Modality) for k in back.weights)
    save_json(cfg, tmp_path / "c.json")
    assert load_json(Outer, tmp_path / "c.json") == cfg
    # defaults fill what a file leaves out; None stays None
    (tmp_path / "min.yaml").write_text("name: only\n")
    minimal = load_yaml(Outer, tmp_path / "min.yaml")
    assert minimal == Outer(name="only") and minimal.maybe is None


def test_unknown_keys_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key\(s\) for Outer: 'colour', 'size'"):
        from_dict(Outer, {"name": "a", "colour": 1, "size": 2})
    path = tmp_path / "bad.yaml"
    path.write_text("name: a\ninner:\n  width: 3\n  depth: 9\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(Outer, path)
    message = str(err.value)
    assert str(path) in message and "inner" in message and "'depth'" in message
    assert "width" in message  # the valid keys are listed


def test_type_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"inner\.width: expected an integer"):
        from_dict(Outer, {"name": "a", "inner": {"width": "wide"}})
    with pytest.raises(ConfigError, match=r"sizes\[1\]: expected an integer"):
        from_dict(Outer, {"name": "a", "sizes": [1, "x"]})
    with pytest.raises(ConfigError, match=r"pair: expected 2 items, got 3"):
        from_dict(Outer, {"name": "a", "pair": ["a", 1.0, 2.0]})
    with pytest.raises(ConfigError, match=r"inner\.kind: 'huge' is not a valid Kind"):
        from_dict(Outer, {"name": "a", "inner": {"kind": "huge"}})
    with pytest.raises(ConfigError, match=r"mode: 'medium' is not one of 'fast', 'slow'"):
        from_dict(Outer, {"name": "a", "mode": "medium"})
    with pytest.raises(ConfigError, match=r"flag: expected true or false"):
        from_dict(Outer, {"name": "a", "flag": 1})
    with pytest.raises(ConfigError, match=r"missing required key\(s\) for Outer: 'name'"):
        from_dict(Outer, {})


def test_post_init_checks_run_with_location() -> None:
    with pytest.raises(ConfigError, match=r"inner: width must be >= 1, got 0"):
        from_dict(Outer, {"name": "a", "inner": {"width": 0}})


def test_yaml_scientific_notation_and_int_for_float(tmp_path: Path) -> None:
    # YAML 1.1 reads 1e-3 (no dot) as a string; a float field still takes it
    path = tmp_path / "s.yaml"
    path.write_text("name: a\ninner:\n  rate: 1e-3\n  width: 2.0\nmaybe:\n  rate: 2\n")
    cfg = load_yaml(Outer, path)
    assert cfg.inner.rate == pytest.approx(1e-3) and cfg.inner.width == 2
    assert isinstance(cfg.maybe.rate, float) and cfg.maybe.rate == 2.0


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_yaml(Outer, tmp_path / "missing.yaml")
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: invalid YAML"):
        load_yaml(Outer, bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"list\.yaml: .*expected a mapping"):
        load_yaml(Outer, listing)
    badjson = tmp_path / "b.json"
    badjson.write_text("{nope")
    with pytest.raises(ConfigError, match=r"b\.json: invalid JSON"):
        load_json(Outer, badjson)

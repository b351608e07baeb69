"""Typed configs on disk: dataclasses to and from plain dicts, YAML and JSON.

A YAML file in ``configs/`` is a serialised config dataclass, never a second source of truth:
:func:`load_yaml` rebuilds the dataclass (so its ``__post_init__`` checks run) and rejects keys
the dataclass does not have, naming them.

Supported field types: nested dataclasses, ``Enum`` (stored by value), ``tuple[X, ...]`` and
fixed tuples, ``list[X]``, ``dict[K, V]`` (enum keys included), ``pathlib.Path``, ``Optional`` /
``X | None`` and other unions, ``Literal``, ``bool``, ``int``, ``float``, ``str`` and ``Any``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from xmodal.utils import atomic_path, write_json

T = TypeVar("T")

__all__ = [
    "ConfigError",
    "from_dict",
    "load_json",
    "load_yaml",
    "save_json",
    "save_yaml",
    "to_dict",
]


class ConfigError(ValueError):
    """A config file or dict does not match its dataclass; the message says where and why."""


def to_dict(cfg: Any) -> dict[str, Any]:
    """Convert a config dataclass instance to plain JSON/YAML-safe Python values.

    Enums become their values, paths strings, tuples lists; nested dataclasses become dicts.
    Only ``init=True`` fields are written, so :func:`from_dict` can rebuild the instance.

    Args:
        cfg: a dataclass instance.

    Returns:
        A dict of plain values (str, int, float, bool, None, list, dict).
    """
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"to_dict expects a dataclass instance, got {type(cfg).__name__}")
    return {f.name: _plain(getattr(cfg, f.name)) for f in dataclasses.fields(cfg) if f.init}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        return value.item()  # numpy / torch scalars
    return value


def from_dict(cls: type[T], data: Mapping[str, Any], *, where: str = "") -> T:
    """Build a config dataclass from plain values, converting nested types.

    Args:
        cls: the dataclass type.
        data: a mapping of field name to value; missing fields take their defaults.
        where: the key path of ``data`` inside a larger config, for error messages.

    Returns:
        An instance of ``cls`` (its ``__post_init__`` checks have run).

    Raises:
        ConfigError: on unknown keys (all are named), missing required keys, a value of the wrong
            type, or a failed ``__post_init__`` check; the message names the offending key path.
    """
    if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):
        raise TypeError(f"from_dict expects a dataclass type, got {cls!r}")
    label = where or cls.__name__
    if not isinstance(data, Mapping):
        raise ConfigError(f"{label}: expected a mapping for {cls.__name__}, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    init_fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [str(k) for k in data if k not in init_fields]
    if unknown:
        raise ConfigError(
            f"{label}: unknown key(s) for {cls.__name__}: {', '.join(map(repr, unknown))} "
            f"(valid keys: {', '.join(init_fields)})"
        )
    missing = [
        name
        for name, f in init_fields.items()
        if name not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(
            f"{label}: missing required key(s) for {cls.__name__}: {', '.join(map(repr, missing))}"
        )
    kwargs = {
        name: _convert(hints[name], value, f"{where}.{name}" if where else name)
        for name, value in data.items()
    }
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{label}: {exc}") from exc


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _convert(tp: Any, value: Any, where: str) -> Any:
    """Convert ``value`` to type ``tp``; raise ConfigError naming ``where`` if it cannot."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any or tp is object:
        return value
    if origin is typing.Union or origin is types.UnionType:
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{where}: null is not allowed (expected {_type_name(tp)})")
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {_kind(value)} does not match {_type_name(tp)}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
    if value is None:
        raise ConfigError(f"{where}: null is not allowed (expected {_type_name(tp)})")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return from_dict(tp, value, where=where)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _convert_enum(tp, value, where)
    if origin in (tuple, list, set, frozenset):
        if not isinstance(value, list | tuple | set | frozenset):
            raise ConfigError(f"{where}: expected a list, got {_kind(value)}")
        items = list(value)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(items) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(items)}")
            return tuple(
                _convert(a, v, f"{where}[{i}]")
                for i, (a, v) in enumerate(zip(args, items, strict=True))
            )
        item_tp = args[0] if args else Any
        converted = [_convert(item_tp, v, f"{where}[{i}]") for i, v in enumerate(items)]
        return origin(converted)
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {_kind(value)}")
        key_tp, val_tp = args if args else (Any, Any)
        return {
            _convert(key_tp, k, f"{where}<key {k!r}>"): _convert(val_tp, v, f"{where}.{k}")
            for k, v in value.items()
        }
    if tp in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {_kind(value)}")
        return tp(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {_kind(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where}: expected an integer, got {_kind(value)}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {_kind(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {_kind(value)}")
    if isinstance(tp, type) and issubclass(tp, Path):
        if isinstance(value, str | os.PathLike):
            return tp(value)
        raise ConfigError(f"{where}: expected a path string, got {_kind(value)}")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{where}: cannot convert {_kind(value)} to {_type_name(tp)}")


def _convert_enum(tp: type[enum.Enum], value: Any, where: str) -> enum.Enum:
    if isinstance(value, tp):
        return value
    try:
        return tp(value)
    except ValueError:
        pass
    if isinstance(value, str):
        by_name = {m.name.lower(): m for m in tp}
        by_value = {str(m.value).lower(): m for m in tp}
        key = value.strip().lower()
        if key in by_value:
            return by_value[key]
        if key in by_name:
            return by_name[key]
    valid = ", ".join(repr(m.value) for m in tp)
    raise ConfigError(f"{where}: {value!r} is not a valid {tp.__name__} (expected one of {valid})")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def save_yaml(cfg: Any, path: str | os.PathLike[str]) -> None:
    """Write a config dataclass as YAML (keys in field order), atomically."""
    import yaml

    text = yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def load_yaml(cls: type[T], path: str | os.PathLike[str]) -> T:
    """Read a YAML file into config dataclass ``cls``.

    Raises:
        FileNotFoundError: the file does not exist (the message names it).
        ConfigError: invalid YAML, or content that does not match ``cls`` (the message names the
            file and the offending key).
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    try:
        return from_dict(cls, {} if data is None else data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def save_json(cfg: Any, path: str | os.PathLike[str]) -> None:
    """Write a config dataclass as indented JSON, atomically."""
    write_json(path, to_dict(cfg))


def load_json(cls: type[T], path: str | os.PathLike[str]) -> T:
    """Read a JSON file into config dataclass ``cls`` (errors as in :func:`load_yaml`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON: {exc}") from None
    try:
        return from_dict(cls, data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None

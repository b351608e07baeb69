"""The model registry: a name -> (config dataclass, model class) table, and model YAML files.

Every model is registered below by an explicit line, under its class's ``model_name``::

    build_model("beta_vae", {"latent_dim": 8})         # a dict goes through xmodal.config.from_dict
    build_model("seq2seq", Seq2SeqConfig(hidden_dim=64))
    config_class("joint_embedding")                     # -> JointEmbeddingConfig

A model YAML (``configs/<name>.yaml``) is ``model: <name>`` plus ``config: {...}``, the config
dataclass serialised by :func:`xmodal.config.save_yaml`; :func:`load_model_yaml` reads one back
into its dataclass and :func:`write_default_configs` (re)writes one per registered model.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from xmodal.config import ConfigError, from_dict, load_yaml, save_yaml, to_dict
from xmodal.models.beta_vae import BetaVAE, BetaVAEConfig
from xmodal.models.joint_embedding import JointEmbedding, JointEmbeddingConfig
from xmodal.models.lip_sync import LipSync, LipSyncConfig
from xmodal.models.seq2seq import Seq2Seq, Seq2SeqConfig
from xmodal.models.structured import StructuredTranslator, StructuredTranslatorConfig
from xmodal.models.sync_net import SyncNet, SyncNetConfig

__all__ = [
    "ModelSpec",
    "available",
    "build_config",
    "build_model",
    "config_class",
    "load_model_yaml",
    "model_class",
    "register",
    "save_model_yaml",
    "write_default_configs",
]

_REGISTRY: dict[str, tuple[type, type[nn.Module]]] = {}


def register(name: str, config_cls: type, model_cls: type[nn.Module]) -> None:
    """Register a model under ``name``.

    Args:
        name: the registry name; must equal ``model_cls.model_name`` (checkpoints store it).
        config_cls: the model's config dataclass.
        model_cls: an ``nn.Module`` built as ``model_cls(config)``.

    Raises:
        ValueError: ``name`` is taken by other classes, or differs from ``model_name``.
        TypeError: ``config_cls`` is not a dataclass or ``model_cls`` not an ``nn.Module``.
    """
    if not (isinstance(config_cls, type) and dataclasses.is_dataclass(config_cls)):
        raise TypeError(f"register({name!r}): config_cls must be a dataclass, got {config_cls!r}")
    if not (isinstance(model_cls, type) and issubclass(model_cls, nn.Module)):
        raise TypeError(f"register({name!r}): model_cls must be an nn.Module, got {model_cls!r}")
    declared = getattr(model_cls, "model_name", None)
    if declared != name:
        raise ValueError(
            f"register({name!r}): {model_cls.__name__}.model_name is {declared!r}; they must match"
        )
    existing = _REGISTRY.get(name)
    if existing is not None and existing != (config_cls, model_cls):
        raise ValueError(f"a model named {name!r} is already registered ({existing[1].__name__})")
    _REGISTRY[name] = (config_cls, model_cls)


def available() -> list[str]:
    """Names of the registered models, sorted."""
    return sorted(_REGISTRY)


def _entry(name: str) -> tuple[type, type[nn.Module]]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available())}") from None


def config_class(name: str) -> type:
    """The config dataclass of model ``name``."""
    return _entry(name)[0]


def model_class(name: str) -> type[nn.Module]:
    """The ``nn.Module`` class of model ``name``."""
    return _entry(name)[1]


def build_model(name: str, config: Mapping[str, Any] | Any = None) -> nn.Module:
    """Build model ``name`` from its config.

    Args:
        name: a registered model name (see :func:`available`).
        config: an instance of the model's config dataclass, a dict of its fields (converted by
            :func:`xmodal.config.from_dict`; missing fields take their defaults), or None for
            the defaults.

    Returns:
        The model (on the CPU, in training mode).

    Raises:
        ValueError: unknown name; ``xmodal.config.ConfigError`` (a ValueError) for a bad dict.
        TypeError: ``config`` is a dataclass of another type.
    """
    return model_class(name)(build_config(name, config))


@dataclass
class ModelSpec:
    """A model YAML file: which model, and its config as plain values."""

    model: str  # a registered model name
    config: dict[str, Any] = field(default_factory=dict)  # the config dataclass's fields


def save_model_yaml(path: str | os.PathLike[str], name: str, config: Any = None) -> None:
    """Write ``model: name`` + ``config: {...}`` (the dataclass serialised), atomically.

    Args:
        path: the YAML file to write.
        name: a registered model name.
        config: the config dataclass instance (or a dict of its fields); None writes defaults.
    """
    cfg = build_config(name, config)
    save_yaml(ModelSpec(model=name, config=to_dict(cfg)), path)


def build_config(name: str, config: Mapping[str, Any] | Any = None) -> Any:
    """Model ``name``'s config dataclass from an instance, a dict of fields or None (defaults)."""
    config_cls = config_class(name)
    if config is None:
        return config_cls()
    if isinstance(config, config_cls):
        return config
    if isinstance(config, Mapping):
        return from_dict(config_cls, config, where=f"{name} config")
    raise TypeError(f"{name} needs a {config_cls.__name__} or a dict, got {type(config).__name__}")


def load_model_yaml(path: str | os.PathLike[str]) -> tuple[str, Any]:
    """Read a model YAML into (model name, config dataclass instance).

    Raises:
        FileNotFoundError: no such file.
        ConfigError: bad YAML, an unknown model name, or a config that does not fit its
            dataclass; the message names the file and the offending key.
    """
    spec = load_yaml(ModelSpec, path)
    try:
        return spec.model, build_config(spec.model, spec.config)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def write_default_configs(directory: str | os.PathLike[str]) -> list[Path]:
    """Write ``<directory>/<name>.yaml`` with the default config of every registered model."""
    paths = []
    for name in available():
        path = Path(directory) / f"{name}.yaml"
        save_model_yaml(path, name)
        paths.append(path)
    return paths


# Explicit registrations, one line per model.
register("beta_vae", BetaVAEConfig, BetaVAE)
register("seq2seq", Seq2SeqConfig, Seq2Seq)
register("joint_embedding", JointEmbeddingConfig, JointEmbedding)
register("sync_net", SyncNetConfig, SyncNet)
register("lip_sync", LipSyncConfig, LipSync)
register("structured_translator", StructuredTranslatorConfig, StructuredTranslator)

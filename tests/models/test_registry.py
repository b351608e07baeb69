"""The model registry, the model YAMLs in configs/, and each model through the training loop."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import yaml

from xmodal import models
from xmodal.config import ConfigError, load_yaml, to_dict
from xmodal.models.beta_vae import BetaVAE, BetaVAEConfig
from xmodal.models.joint_embedding import JointEmbedding, JointEmbeddingConfig
from xmodal.models.seq2seq import Seq2Seq, Seq2SeqConfig
from xmodal.translate import TranslationConfig
from xmodal.types import Modality

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
REGENERATE = (
    'regenerate with: .venv/bin/python -c "from xmodal.models import save_model_yaml; '
    "save_model_yaml('configs/NAME.yaml', 'NAME')\""
)
V, A, T = Modality.VIDEO, Modality.AUDIO, Modality.TEXT
OURS = {
    "beta_vae": (BetaVAEConfig, BetaVAE),
    "seq2seq": (Seq2SeqConfig, Seq2Seq),
    "joint_embedding": (JointEmbeddingConfig, JointEmbedding),
}


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict:
    """A private copy of the registry, so tests can register throwaway models."""
    table = dict(models._REGISTRY)
    monkeypatch.setattr(models, "_REGISTRY", table)
    return table


def test_registered_models() -> None:
    assert set(OURS) <= set(models.available())
    assert models.available() == sorted(models.available())
    for name, (config_cls, model_cls) in OURS.items():
        assert models.config_class(name) is config_cls
        assert models.model_class(name) is model_cls
        assert model_cls.model_name == name


@pytest.mark.parametrize("name", sorted(OURS))
def test_build_model_from_dict_dataclass_or_defaults(name: str) -> None:
    config_cls, model_cls = OURS[name]
    default = models.build_model(name)
    assert isinstance(default, model_cls) and default.config == config_cls()
    from_dataclass = models.build_model(name, config_cls())
    assert isinstance(from_dataclass, model_cls)
    rebuilt = models.build_model(name, to_dict(default.config))
    assert rebuilt.config == default.config
    assert sum(p.numel() for p in rebuilt.parameters()) == sum(
        p.numel() for p in default.parameters()
    )


def test_build_model_converts_dicts_and_reports_errors() -> None:
    model = models.build_model("beta_vae", {"latent_dim": 8, "variant": "joint-leaky"})
    assert model.config.latent_dim == 8 and model.leaky
    je = models.build_model("joint_embedding", {"input_dims": {"video": 12, "text": 7}})
    assert je.config.input_dims == {V: 12, T: 7}
    with pytest.raises(ValueError, match="unknown model 'nope'.*beta_vae"):
        models.build_model("nope")
    with pytest.raises(ConfigError, match="latent_dimm"):
        models.build_model("beta_vae", {"latent_dimm": 8})
    with pytest.raises(ConfigError, match="variant"):
        models.build_model("beta_vae", {"variant": "leaky"})
    with pytest.raises(TypeError, match="BetaVAEConfig"):
        models.build_model("beta_vae", Seq2SeqConfig())


def test_register_checks(registry: dict) -> None:
    @dataclasses.dataclass
    class ToyConfig:
        width: int = 2  # a width

    class Toy(torch.nn.Module):
        model_name = "toy"

        def __init__(self, config: ToyConfig) -> None:
            super().__init__()
            self.config = config
            self.layer = torch.nn.Linear(config.width, 1)

    models.register("toy", ToyConfig, Toy)
    models.register("toy", ToyConfig, Toy)  # the same entry again is fine
    assert "toy" in models.available()
    assert models.build_model("toy", {"width": 5}).layer.in_features == 5
    with pytest.raises(ValueError, match="already registered"):
        models.register("toy", BetaVAEConfig, Toy)
    with pytest.raises(ValueError, match="model_name"):
        models.register("other", ToyConfig, Toy)
    with pytest.raises(TypeError, match="dataclass"):
        models.register("toy", dict, Toy)
    with pytest.raises(TypeError, match="nn.Module"):
        models.register("toy", ToyConfig, ToyConfig)


PIPELINE_CONFIGS = {"translation": TranslationConfig}  # YAML stem -> its dataclass


def test_every_yaml_in_configs_loads_into_its_dataclass_and_builds() -> None:
    files = sorted(CONFIGS.glob("*.yaml"))
    assert {f.stem for f in files} >= set(OURS)
    for path in files:
        raw = yaml.safe_load(path.read_text())
        if path.stem in PIPELINE_CONFIGS:  # a pipeline's config, not a model's
            assert to_dict(load_yaml(PIPELINE_CONFIGS[path.stem], path)) == raw, path
            continue
        assert isinstance(raw, dict) and set(raw) == {"model", "config"}, (
            f"{path}: not a model config (model: + config:); teach this test its dataclass"
        )
        name, cfg = models.load_model_yaml(path)
        assert name == path.stem, f"{path} holds model {name!r}"
        assert isinstance(cfg, models.config_class(name))
        assert to_dict(cfg) == raw["config"], f"{path}: fields missing from the YAML"
        model = models.build_model(name, cfg)
        assert model.model_name == name and model.config == cfg


def test_each_registered_model_has_its_default_yaml() -> None:
    for name in models.available():
        path = CONFIGS / f"{name}.yaml"
        assert path.is_file(), f"{path} is missing; " + REGENERATE.replace("NAME", name)
        _, cfg = models.load_model_yaml(path)
        default = models.config_class(name)()
        assert cfg == default, (
            f"{path} differs from {type(default).__name__}()'s defaults; "
            + REGENERATE.replace("NAME", name)
        )


def test_model_yaml_round_trip_and_errors(tmp_path: Path) -> None:
    cfg = Seq2SeqConfig(hidden_dim=32, attention="bahdanau")
    path = tmp_path / "s2s.yaml"
    models.save_model_yaml(path, "seq2seq", cfg)
    assert models.load_model_yaml(path) == ("seq2seq", cfg)
    je = tmp_path / "je.yaml"
    models.save_model_yaml(je, "joint_embedding", {"input_dims": {"audio": 3}})
    assert models.load_model_yaml(je)[1].input_dims == {A: 3}

    bad = tmp_path / "bad.yaml"
    bad.write_text("model: nope\nconfig: {}\n")
    with pytest.raises(ConfigError, match="bad.yaml.*unknown model 'nope'"):
        models.load_model_yaml(bad)
    bad.write_text("model: beta_vae\nconfig:\n  latent_dim: many\n")
    with pytest.raises(ConfigError, match="bad.yaml.*latent_dim"):
        models.load_model_yaml(bad)
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        models.load_model_yaml(tmp_path / "missing.yaml")


# ----------------------------------------------------------- every model through the real loop


def _beta_vae_case():
    cfg = {"video_dim": 5, "audio_dim": 3, "seq_len": 4, "latent_dim": 2, "hidden_dim": 8}
    items = [{V: torch.randn(4, 5), A: torch.randn(4, 3)} for _ in range(12)]
    probe = torch.randn(2, 4, 5)
    return (
        cfg,
        items,
        (lambda step, last: {"beta": min(1.0, step / 2)}),
        (lambda m: m.translate(probe)),
    )


def _seq2seq_case():
    cfg = {"source_dim": 2, "target_dim": 3, "hidden_dim": 8}
    items = [{"source": torch.randn(5, 2), "target": torch.randn(4, 3)} for _ in range(12)]
    probe = torch.randn(2, 5, 2)
    return (
        cfg,
        items,
        (lambda step, last: {"teacher_forcing": 0.5}),
        (lambda m: m.generate(probe, steps=4)),
    )


def _joint_embedding_case():
    cfg = {"input_dims": {"video": 5, "audio": 3}, "width": 4, "hidden_dim": 8}
    items = [
        {V: torch.randn(3, 5), A: torch.randn(3), "audio_mask": torch.tensor(i % 4 != 0)}
        for i in range(12)
    ]
    probe = torch.randn(2, 3, 5)
    return cfg, items, None, (lambda m: m.encode(V, probe))


CASES = {
    "beta_vae": _beta_vae_case,
    "seq2seq": _seq2seq_case,
    "joint_embedding": _joint_embedding_case,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_trains_in_the_loop_and_reloads_from_checkpoint(name: str, tmp_path: Path) -> None:
    from xmodal.training.checkpoint import load_model
    from xmodal.training.loop import TrainConfig, train

    cfg, items, hparams, probe = CASES[name]()
    model = models.build_model(name, cfg)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = TrainConfig(max_steps=3, batch_size=4, eval_every=3, log_every=1, lr=1e-2)
    train(model, items, items[:4], config, tmp_path / "run", hparams=hparams, progress=False)
    after = model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "no parameter moved"
    reloaded = load_model(tmp_path / "run", which="last")
    assert type(reloaded) is type(model) and reloaded.config == model.config
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(probe(reloaded), probe(model))

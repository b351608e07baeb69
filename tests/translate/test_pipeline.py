"""The video → speech pipeline on a tiny object-action world (pixels features, few steps)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from xmodal.data.objects import WorldConfig, generate
from xmodal.features.video import SpatialEfficientNetEncoder
from xmodal.training.loop import TrainConfig
from xmodal.translate import (
    LEAKY_LABEL,
    CanonicalSpeechConfig,
    CanonicalVoice,
    FeatureTransform,
    TranslationConfig,
    TranslationPipeline,
    canonical_phrase,
    canonical_phrases,
    load_clip_features,
)
from xmodal.translate.fit import TeacherForcing
from xmodal.translate.speech import template_slots
from xmodal.types import Modality


def tiny_config(**overrides) -> TranslationConfig:
    steps = TrainConfig(max_steps=12, batch_size=16, eval_every=6, log_every=3)
    base = dict(
        video_encoder="pixels:height=8,width=8", video_fps=None, video_pca=6, audio_pca=3,
        speech_steps=24, griffin_lim_iters=4, vae_train=steps, translator_train=steps,
    )  # fmt: skip
    return TranslationConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    generate(out, WorldConfig(size=50, seed=3), workers=2, progress=False)
    return out


@pytest.fixture(scope="module")
def fitted(world, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    pipe = TranslationPipeline.fit(world, run, tiny_config(), seed=0, progress=False)
    return pipe, run


def test_template_slots_and_canonical_phrases(world):
    from xmodal.data.manifest import read_dataset_info

    assert template_slots("move the {o} left", "pen") == ["move the", "pen", "left"]
    assert template_slots("rotate the {o}", "knife") == ["rotate the", "knife", ""]
    with pytest.raises(ValueError, match="placeholder"):
        template_slots("rotate it", "knife")
    info = read_dataset_info(world)
    assert canonical_phrase(info, "knife", "rotate") == "rotate the knife"
    phrases = canonical_phrases(info)
    assert len(phrases) == 25 and len(set(phrases.values())) == 25
    assert phrases[("pen", "left")] == "move the pen left"


def test_canonical_voice_is_slotted_and_recognisable(world):
    """Each slot sits at a fixed onset, so the object stretch of (knife, rotate) is sample for
    sample the object stretch of (knife, left); and pocketsphinx reads the phrases exactly."""
    from xmodal.data.manifest import read_dataset_info
    from xmodal.features.asr import Recogniser, phrase_grammar

    info = read_dataset_info(world)
    voice = CanonicalVoice.build(info, CanonicalSpeechConfig(layout="slots"))
    sr = voice.sample_rate
    rotate, left = voice.render("knife", "rotate"), voice.render("knife", "left")
    assert rotate.shape == left.shape == (int(round(info["duration"] * sr)),)
    a, b = (int(round(t * sr)) for t in voice.onsets[1:])
    assert np.array_equal(rotate[a:b], left[a:b])  # the object slot: same audio
    assert not np.array_equal(rotate[:a], left[:a])  # "rotate the" vs "move the"
    assert np.abs(rotate[b:]).max() == 0.0 and np.abs(left[b:]).max() > 0.1  # no 3rd slot
    assert voice.onsets[0] < voice.onsets[1] < voice.onsets[2] < info["duration"]
    grammar = phrase_grammar(list(canonical_phrases(info).values()))
    rec = Recogniser()
    for pair in [("knife", "rotate"), ("pen", "up"), ("fork", "left"), ("spoon", "down")]:
        said = rec.recognise(voice.render(*pair), grammar, dither=1e-3).text
        assert said == canonical_phrase(info, *pair)


def test_canonical_voice_raises_rate_to_fit_short_clips(world):
    from xmodal.data.manifest import read_dataset_info

    info = {**read_dataset_info(world), "duration": 1.2}
    slow = CanonicalVoice.build(info, CanonicalSpeechConfig(rate=120))
    assert slow.rate > 120
    with pytest.raises(ValueError, match="too short"):
        CanonicalVoice.build({**info, "duration": 0.3}, CanonicalSpeechConfig())


def test_feature_transform_two_streams(rng, tmp_path):
    from xmodal.features.preprocess import segment

    arrays = [rng.normal(size=(int(rng.integers(5, 9)), 12)).astype(np.float32) for _ in range(20)]
    t = FeatureTransform.fit(arrays, steps=4, pca=3, split=8)
    out = t.transform(arrays)
    assert out.shape == (20, 4, 3 + 4)
    assert 0 < t.explained_variance < 1
    # the position columns are only MinMax-scaled: each lies in [0, 1] on the fit data
    assert out[..., 3:].min() == pytest.approx(0.0, abs=1e-6)
    assert out[..., 3:].max() == pytest.approx(1.0, abs=1e-6)
    t.save(tmp_path / "t")
    again = FeatureTransform.load(tmp_path / "t")
    np.testing.assert_allclose(again.transform(arrays), out, atol=1e-6)
    with pytest.raises(ValueError, match="not inverted"):
        t.inverse_transform(out)
    single = FeatureTransform.fit(arrays, steps=4, pca=None)
    expected = np.stack([segment(a, 4) for a in arrays])  # (20, 4, 12)
    np.testing.assert_allclose(single.inverse_transform(single.transform(arrays)), expected,
                               atol=1e-5)  # fmt: skip
    with pytest.raises(FileNotFoundError, match="no saved feature transform"):
        FeatureTransform.load(tmp_path / "missing")


def test_spatial_encoder_appends_a_position_map():
    import xmodal.features as F

    enc = F.get("efficientnet-lite0-spatial:image_size=64,crop=1.0,grid=2")
    assert isinstance(enc, SpatialEfficientNetEncoder)
    assert enc.id == "efficientnet-lite0-spatial2-64-crop1" and enc.dim == 1284
    frames = np.zeros((2, 64, 64, 3), np.uint8)
    frames[0, :32, :32] = 255  # a bright square top-left, then bottom-right
    frames[1, 32:, 32:] = 255
    out = enc.extract(frames)
    base = F.get("efficientnet-lite0:image_size=64,crop=1.0").extract(frames)
    np.testing.assert_allclose(out[:, :1280], base, atol=1e-5)
    where = out[:, 1280:].reshape(2, 2, 2)  # (T, rows, cols)
    assert np.argmax(where[0]) != np.argmax(where[1])  # the map follows the square
    with pytest.raises(ValueError, match="grid"):
        SpatialEfficientNetEncoder(image_size=64, grid=3)


def test_streams_encoder_appearance_ignores_quarter_turns():
    """The structured model's encoder: its appearance columns are the same for a frame and the
    frame turned by 90°; its position map is the unturned frame's (the spatial encoder's)."""
    import xmodal.features as F

    enc = F.get("efficientnet-lite0-streams:image_size=64,crop=1.0,grid=2")
    assert enc.id == "efficientnet-lite0-streams2-r4-64-crop1" and enc.dim == 1284
    assert enc.appearance_dim == 1280
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    frame[8:20, 4:60] = 255  # a long bar
    frames = np.stack([frame, np.rot90(frame).copy()])
    out = enc.extract(frames)
    np.testing.assert_allclose(out[0, :1280], out[1, :1280], rtol=1e-3, atol=1e-3)
    plain = F.get("efficientnet-lite0-spatial:image_size=64,crop=1.0,grid=2").extract(frames)
    assert np.abs(plain[0, :1280] - plain[1, :1280]).max() > 0.1  # without the turns: differ
    np.testing.assert_allclose(out[:, 1280:], plain[:, 1280:], atol=1e-5)
    for bad in ("rotations=2", "rotations=17", "zoom=0.05", "zoom=1.5"):
        with pytest.raises(ValueError, match=bad.split("=")[0]):
            F.get(f"efficientnet-lite0-streams:{bad}")


def test_streams_encoder_eight_turns_and_object_centred_view():
    """``rotations=8`` averages over 45° steps (still exact for quarter turns of the frame);
    ``zoom`` looks at a square centred where the feature map's energy is, so a small object is
    seen larger: the view centred on it differs from the whole frame's."""
    import torch

    import xmodal.features as F
    from xmodal.features.video import _energy_centroid

    enc = F.get("efficientnet-lite0-streams:image_size=64,crop=1.0,grid=2,rotations=8")
    assert enc.id == "efficientnet-lite0-streams2-r8-64-crop1"
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    frame[8:20, 4:60] = 255
    out = enc.extract(np.stack([frame, np.rot90(frame).copy()]))
    np.testing.assert_allclose(out[0, :1280], out[1, :1280], rtol=1e-3, atol=1e-3)
    four = F.get("efficientnet-lite0-streams:image_size=64,crop=1.0,grid=2").extract(frame[None])
    assert np.abs(out[0, :1280] - four[0, :1280]).max() > 0.01  # the 45° views count

    energy = torch.zeros(1, 4, 4)
    energy[0, 0, 3] = 1.0  # top row, right column
    ((x, y),) = _energy_centroid(energy).tolist()
    assert x == pytest.approx(0.75) and y == pytest.approx(-0.75)

    zoomed = F.get("efficientnet-lite0-streams:image_size=64,crop=1.0,grid=2,rotations=8,zoom=0.4")
    assert zoomed.id == "efficientnet-lite0-streams2-r8-64-crop1-z0.4"
    z = zoomed.extract(frame[None])
    assert z.shape == out[:1].shape and np.isfinite(z).all()
    np.testing.assert_allclose(z[:, 1280:], out[:1, 1280:], atol=1e-5)  # the map: whole frame
    assert np.abs(z[0, :1280] - out[0, :1280]).max() > 0.05


def test_streams_encoder_flow_columns():
    """``flow=true`` appends the clip's optical-flow columns, one batch or one clip at a time,
    and leaves the other columns as they were."""
    import xmodal.features as F
    from xmodal.features.flow import flow_features

    enc = F.get("efficientnet-lite0-streams:image_size=64,crop=1.0,grid=2,flow=true")
    assert enc.id == "efficientnet-lite0-streams2-r4-64-crop1-flow"
    assert (enc.dim, enc.flow_dim, enc.appearance_dim) == (1289, 5, 1280)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 60, (64, 64, 3), dtype=np.uint8)
    frames = np.stack([base.copy() for _ in range(4)])
    for t in range(4):
        frames[t, 20:30, 8 + 4 * t : 30 + 4 * t] = 250  # a bar moving right
    out = enc.extract(frames)
    assert out.shape == (4, 1289)
    np.testing.assert_allclose(out[:, -5:], flow_features(frames), atol=1e-6)
    assert out[1:, -5].mean() > 0  # moving right
    batch = enc.extract_batch([frames, frames[:2]])
    np.testing.assert_allclose(batch[0], out, atol=1e-4)
    assert batch[1].shape == (2, 1289)
    plain = F.get("efficientnet-lite0-streams:image_size=64,crop=1.0,grid=2").extract(frames)
    np.testing.assert_allclose(out[:, :-5], plain, atol=1e-5)


def test_teacher_forcing_schedule():
    tf = TeacherForcing(1.0, 0.5, 100)
    assert tf(0)["teacher_forcing"] == 1.0
    assert tf(50)["teacher_forcing"] == pytest.approx(0.75)
    assert tf(500)["teacher_forcing"] == 0.5


def test_config_checks():
    with pytest.raises(ValueError, match="source"):
        TranslationConfig(source="audio")
    with pytest.raises(ValueError, match="joint-leaky"):
        TranslationConfig(source="raw", variant="joint-leaky")
    with pytest.raises(ValueError, match="speech_target"):
        TranslationConfig(speech_target="text")
    with pytest.raises(ValueError, match="vae_audio='track'"):
        TranslationConfig(variant="joint-leaky")
    assert TranslationConfig(variant="joint-leaky", vae_audio="track").label == LEAKY_LABEL
    assert TranslationConfig(source="raw").label == "raw-feature baseline"


def test_fit_load_and_translate(fitted, world):
    pipe, run = fitted
    for name in (
        "pipeline.json",
        "vae/best.safetensors",
        "translator/best.safetensors",
        "preprocess/video/split.json",
        "preprocess/speech/main/preprocessor.json",
    ):
        assert (run / name).is_file(), name  # fmt: skip
    meta = pipe.meta
    assert meta["leaky"] is False and meta["speech"]["target"] == "canonical"
    assert meta["dataset"]["clips"]["heldout"] > 0
    assert meta["speech"]["phrases"]["knife:rotate"] == "rotate the knife"
    loaded = TranslationPipeline.load(run)
    feats = load_clip_features(world, loaded.config, progress=False)
    rows = feats.split("heldout")[:3]
    video = feats.arrays(Modality.VIDEO, rows)
    a = pipe.translate_features(video)
    b = loaded.translate_features(video)
    assert a.shape == (3, 24, 80)
    np.testing.assert_allclose(a, b, atol=1e-5)  # saved and reloaded: same translation
    wave = loaded.translate_clip(world / rows[0]["path"])
    assert wave.dtype == np.float32 and wave.shape == (int(round(rows[0]["duration"] * 16000)),)
    assert 0 < np.abs(wave).max() <= 0.9 + 1e-6


def test_heldout_pairs_are_never_rendered_for_training(world, tmp_path, monkeypatch):
    rendered = []
    original = CanonicalVoice.render

    def spy(self, obj, action):
        rendered.append((obj, action))
        return original(self, obj, action)

    monkeypatch.setattr(CanonicalVoice, "render", spy)
    TranslationPipeline.fit(world, tmp_path / "vae", tiny_config(), seed=1, progress=False)
    from xmodal.data.manifest import read_manifest

    heldout = {(r["object"], r["action"]) for r in read_manifest(world) if r["split"] == "heldout"}
    assert rendered and heldout
    assert not heldout & set(rendered)


def test_leaky_variant_needs_the_audio_and_is_labelled(world, tmp_path):
    cfg = tiny_config(variant="joint-leaky", vae_audio="track")
    pipe = TranslationPipeline.fit(world, tmp_path / "leaky", cfg, seed=0, progress=False)
    assert pipe.leaky and pipe.meta["label"] == LEAKY_LABEL and pipe.meta["leaky"] is True
    feats = load_clip_features(world, cfg, progress=False)
    rows = feats.split("test")[:2]
    with pytest.raises(ValueError, match="leakage audit"):
        pipe.translate_features(feats.arrays(Modality.VIDEO, rows))
    out = pipe.translate_features(feats.arrays(Modality.VIDEO, rows),
                                  feats.arrays(Modality.AUDIO, rows))  # fmt: skip
    assert out.shape == (2, 24, 80)
    with pytest.warns(UserWarning, match="leakage audit"):
        pipe.translate_clip(world / rows[0]["path"])


def test_honest_latent_ignores_the_audio(fitted, world):
    """The honest pipeline's translation of a clip does not change when its audio does."""
    pipe, _ = fitted
    feats = load_clip_features(world, pipe.config, progress=False)
    rows = feats.split("test")[:2]
    video = feats.arrays(Modality.VIDEO, rows)
    audio = feats.arrays(Modality.AUDIO, rows)
    a = pipe.translate_features(video, audio)
    b = pipe.translate_features(video, [np.zeros_like(x) for x in audio])
    np.testing.assert_array_equal(a, b)


def test_load_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a translation run"):
        TranslationPipeline.load(tmp_path)
    (tmp_path / "pipeline.json").write_text('{"kind": "joint"}')
    with pytest.raises(ValueError, match="not a translation pipeline"):
        TranslationPipeline.load(tmp_path)


def test_resume_reuses_finished_training(fitted, world):
    """Fitting again into the same directory continues from the finished checkpoints."""
    pipe, run = fitted
    before = (run / "translator" / "state.pt").stat().st_mtime_ns
    again = TranslationPipeline.fit(world, run, dataclasses.replace(pipe.config), seed=0,
                                    progress=False)  # fmt: skip
    assert (run / "translator" / "state.pt").stat().st_mtime_ns == before
    feats = load_clip_features(world, pipe.config, progress=False)
    video = feats.arrays(Modality.VIDEO, feats.split("test")[:2])
    np.testing.assert_allclose(again.translate_features(video), pipe.translate_features(video),
                               atol=1e-5)  # fmt: skip


def test_chunk_groups_frames_into_decoder_steps(rng):
    from xmodal.translate.fit import chunk, unchunk

    frames = rng.normal(size=(3, 8, 5)).astype(np.float32)
    steps = chunk(frames, 4)
    assert steps.shape == (3, 2, 20)
    np.testing.assert_array_equal(steps[1, 1, 5:10], frames[1, 5])  # step 1 holds frames 4..7
    np.testing.assert_array_equal(unchunk(steps, 4), frames)
    with pytest.raises(ValueError, match="do not split"):
        chunk(frames, 3)
    with pytest.raises(ValueError, match="multiple of frames_per_step"):
        TranslationConfig(speech_steps=102, frames_per_step=4)


def test_the_yaml_in_configs_is_the_default_config():
    from pathlib import Path

    from xmodal.config import load_yaml

    path = Path(__file__).parents[2] / "configs" / "translation.yaml"
    assert load_yaml(TranslationConfig, path) == TranslationConfig()


def test_phrase_layout_speaks_one_utterance(world):
    from xmodal.data.manifest import read_dataset_info

    info = read_dataset_info(world)
    slots = CanonicalVoice.build(info, CanonicalSpeechConfig(layout="slots"))
    phrase = CanonicalVoice.build(info, CanonicalSpeechConfig(layout="phrase"))
    a, b = slots.render("knife", "rotate"), phrase.render("knife", "rotate")
    assert a.shape == b.shape and not np.array_equal(a, b)
    start = int(round(phrase.onsets[0] * phrase.sample_rate))
    assert np.abs(b[:start]).max() == 0.0 and np.abs(b[start:]).max() > 0.1
    with pytest.raises(ValueError, match="layout"):
        CanonicalSpeechConfig(layout="words")


@pytest.fixture(scope="module")
def structured(world, tmp_path_factory):
    from xmodal.translate import model_config

    steps = TrainConfig(max_steps=20, batch_size=16, eval_every=10, log_every=5)
    base = tiny_config(video_encoder="efficientnet-lite0-spatial:image_size=64,crop=1.0,grid=2")
    cfg = model_config("structured", dataclasses.replace(base, structured_train=steps))
    run = tmp_path_factory.mktemp("structured")
    return TranslationPipeline.fit(world, run, cfg, seed=0, progress=False), run


def test_structured_pipeline_fits_saves_and_speaks(world, structured):
    """--model structured: one model (no β-VAE), the slotted voice, whole sequences decoded at
    once; reloaded it says the same, and a clip becomes speech as long as the clip."""
    from xmodal.models.structured import StructuredTranslator
    from xmodal.translate import model_config
    from xmodal.translate.config import STRUCTURED_VOICE

    pipe, tmp_path = structured
    cfg = pipe.config
    assert cfg.source == "structured" and cfg.canonical == STRUCTURED_VOICE
    assert cfg.label == "structured (appearance + motion groups, slot decoder)"
    assert pipe.vae is None and isinstance(pipe.translator, StructuredTranslator)
    assert not (tmp_path / "vae").exists()
    m = pipe.translator.config
    assert (m.appearance_dim, m.map_dim, m.steps, m.target_steps) == (6, 4, cfg.steps, 24)
    assert pipe.meta["speech"]["canonical"]["layout"] == "slots"
    feats = load_clip_features(world, cfg, progress=False)
    rows = feats.split("heldout")[:2]
    video = feats.arrays(Modality.VIDEO, rows)
    loaded = TranslationPipeline.load(tmp_path)
    a, b = pipe.translate_features(video), loaded.translate_features(video)
    assert a.shape == (2, 24, 80)
    np.testing.assert_allclose(a, b, atol=1e-5)
    wave = loaded.translate_clip(world / rows[0]["path"])
    assert wave.shape == (int(round(rows[0]["duration"] * 16000)),)
    # by default it reads the rotation-averaged streams encoder and speaks the slotted voice; a
    # chosen voice or encoder is kept; the other models keep the defaults
    from xmodal.translate.config import STRUCTURED_ENCODER

    assert model_config("structured").video_encoder == STRUCTURED_ENCODER
    assert model_config("structured").canonical == STRUCTURED_VOICE
    own = CanonicalSpeechConfig(voice="en", rate=175)
    assert model_config("structured", TranslationConfig(canonical=own)).canonical == own
    assert cfg.video_encoder == "efficientnet-lite0-spatial:image_size=64,crop=1.0,grid=2"
    assert model_config("raw").canonical == CanonicalSpeechConfig()
    assert model_config("raw").video_encoder == TranslationConfig().video_encoder
    with pytest.raises(ValueError, match="model must be one of"):
        model_config("deep")


def test_structured_needs_a_position_map(world, tmp_path):
    from xmodal.translate import model_config

    cfg = model_config("structured", tiny_config())  # pixels: no position map
    with pytest.raises(ValueError, match="reads a position map.*pixels"):
        TranslationPipeline.fit(world, tmp_path, cfg, seed=0, progress=False)


def test_group_diagnostics_probe_each_group(world, structured, fitted):
    """Per group: probes of object and action on val/test/held-out and MIG/DCI/SAP; only a
    structured pipeline has groups."""
    from xmodal.translate.evaluate import group_diagnostics, groups_tables

    pipe, _ = structured
    feats = load_clip_features(world, pipe.config, progress=False)
    rows = feats.split("test")
    groups = pipe.latent_groups(feats.arrays(Modality.VIDEO, rows))
    latent = pipe.translator.config.latent_dim
    assert {k: v.shape for k, v in groups.items()} == {
        "appearance": (len(rows), latent), "motion": (len(rows), latent)
    }  # fmt: skip
    d = group_diagnostics(pipe, feats)
    assert d["chance"] == {"object": 0.2, "action": 0.2}
    for group in ("appearance", "motion"):
        for factor in ("object", "action"):
            accs = d["probes"][group][factor]
            assert set(accs) == {"val", "test", "heldout"}
            assert all(0.0 <= a <= 1.0 for a in accs.values())
        assert set(d["disentanglement"][group]) == {
            "mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap"
        }  # fmt: skip
    table = groups_tables([d, d])
    assert "| appearance | object | 0.20 |" in table and "| motion | mig" not in table
    with pytest.raises(ValueError, match="has no latent groups"):
        fitted[0].latent_groups(feats.arrays(Modality.VIDEO, rows))

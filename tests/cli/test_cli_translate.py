"""``xmodal train translate``, ``xmodal translate``, ``xmodal eval translate`` and ``xmodal eval
voices`` end to end on a tiny world (8×8 pixel features, few steps), and their refusals."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from xmodal.cli import app
from xmodal.config import save_yaml
from xmodal.data.manifest import read_manifest
from xmodal.data.objects import WorldConfig, generate
from xmodal.training.loop import TrainConfig
from xmodal.translate import TranslationConfig, TranslationPipeline

runner = CliRunner()


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A world and a raw-baseline run fitted by ``xmodal train translate --config``."""
    world = tmp_path_factory.mktemp("world")
    generate(world, WorldConfig(size=40, seed=11), workers=2, progress=False)
    steps = TrainConfig(max_steps=8, batch_size=16, eval_every=4, log_every=2)
    config = TranslationConfig(
        video_encoder="pixels:height=8,width=8", video_fps=None, video_pca=6, audio_pca=3,
        speech_steps=20, griffin_lim_iters=4, vae_train=steps, translator_train=steps,
    )  # fmt: skip
    yaml = tmp_path_factory.mktemp("cfg") / "tiny.yaml"
    save_yaml(config, yaml)
    run = tmp_path_factory.mktemp("run") / "raw"
    result = runner.invoke(app, ["train", "translate", "--data", str(world), "--out", str(run),
                                 "--model", "raw", "--seed", "2", "--config", str(yaml),
                                 "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"wrote {run} (raw-feature baseline, seed 2" in result.output
    return world, run


def test_train_translate_writes_a_loadable_run(fitted):
    _, run = fitted
    pipe = TranslationPipeline.load(run)
    assert pipe.config.source == "raw" and pipe.meta["seed"] == 2
    assert pipe.config.speech_steps == 20 and pipe.vae is None


def test_train_translate_structured_speaks_the_slotted_voice(fitted, tmp_path):
    """--model structured on a tiny spatial encoder: one model, the slotted canonical voice;
    `xmodal translate` speaks a clip with it and `eval translate` probes its latent groups."""
    world, _ = fitted
    steps = TrainConfig(max_steps=6, batch_size=16, eval_every=3, log_every=3)
    config = TranslationConfig(
        video_encoder="efficientnet-lite0-spatial:image_size=64,crop=1.0,grid=2", video_fps=None,
        video_pca=6, speech_steps=20, griffin_lim_iters=4, structured_train=steps,
    )  # fmt: skip
    yaml = tmp_path / "tiny.yaml"
    save_yaml(config, yaml)
    run = tmp_path / "structured"
    result = runner.invoke(app, ["train", "translate", "--data", str(world), "--out", str(run),
                                 "--model", "structured", "--config", str(yaml),
                                 "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"wrote {run} (structured (appearance + motion groups, slot decoder), seed 0" in (
        result.output
    )
    pipe = TranslationPipeline.load(run)
    assert pipe.config.canonical.layout == "slots" and pipe.vae is None
    clip = read_manifest(world)[0]
    said = runner.invoke(app, ["translate", str(world / clip["path"]), "--model", str(run), "-o",
                               str(tmp_path / "said.wav")])  # fmt: skip
    assert said.exit_code == 0, said.output
    assert (tmp_path / "said.wav").stat().st_size > 16000
    judged = runner.invoke(app, ["eval", "translate", "--model", str(run), "--data", str(world),
                                 "--split", "test", "--out", str(tmp_path / "eval"),
                                 "--no-ceilings", "--no-progress"])  # fmt: skip
    assert judged.exit_code == 0, judged.output
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    probes = results["groups"][0]["probes"]
    assert set(probes) == {"appearance", "motion"} and set(probes["motion"]) == {"object", "action"}
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "## What each latent group carries" in report and "## Distance to the target" in report
    test = results["distance"][0]["test"]
    dist = test["cosine_x100"]
    assert set(dist) == {"model", "train mean", "random train clip", "oracle"}
    # a canonical target is the same for every clip of a pair: the oracle is exact
    assert dist["oracle"] == pytest.approx(0.0, abs=1e-6) and dist["train mean"] > 1.0
    assert test["gap_closed"] == pytest.approx(1 - dist["model"] / dist["train mean"])
    assert f"test cosine distance x100: model {dist['model']:.1f}" in judged.output
    quick = runner.invoke(app, ["eval", "translate", "--model", str(run), "--data", str(world),
                                "--split", "test,heldout", "--out", str(tmp_path / "quick"),
                                "--no-judges", "--no-progress"])  # fmt: skip
    assert quick.exit_code == 0, quick.output
    fast = json.loads((tmp_path / "quick" / "results.json").read_text())
    assert (
        fast["splits"] == {}
        and fast["runs"] == []
        and set(fast["distance"][0]) == {"test", "heldout"}
    )
    assert fast["distance"][0]["test"]["cosine_x100"] == pytest.approx(dist)  # unjudged, same
    assert "heldout cosine distance x100: model" in quick.output and "grammar" not in quick.output


def test_translate_writes_a_wav_and_recognises_it(fitted, tmp_path):
    from xmodal.media import probe, read_audio

    world, run = fitted
    clip = next(r for r in read_manifest(world) if r["split"] == "heldout")
    out = tmp_path / "said.wav"
    result = runner.invoke(
        app, ["translate", str(world / clip["path"]), "--model", str(run), "-o", str(out),
              "--recognise"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    assert "grammar hears" in result.output and "whisper hears" in result.output
    info = probe(out)
    assert info.audio.sample_rate == 16000
    assert len(read_audio(out)) == int(round(clip["duration"] * 16000))


@pytest.mark.slow
def test_eval_translate_writes_the_judges_tables(fitted, tmp_path):
    world, run = fitted
    out = tmp_path / "eval"
    args = ["eval", "translate", "--model", str(run), "--data", str(world), "--split", "test"]
    result = runner.invoke(app, [*args, "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    test = results["splits"]["test"]
    n = sum(r["split"] == "test" for r in read_manifest(world))
    assert test["clips"] == n
    run = results["runs"][0]["test"]  # the one run's own scores; "splits" holds mean ± std
    assert results["seeds"] == [2] and test["model"]["grammar"]["both"]["values"] == [
        run["model"]["grammar"]["both"]
    ]
    for kind in ("model", "vocoder_ceiling", "own_audio"):
        for judge in ("grammar", "whisper"):
            t = run[kind][judge]
            assert t["clips"] == n and 0.0 <= t["both"] <= min(t["object"], t["action"]) + 1e-9
            line = f"test {kind} {judge}: object {t['object']:.2f}, action {t['action']:.2f}"
            assert line in result.output
    # the 3 test clips' own espeak audio ("slide the pen to the left", "the phone goes up", ...):
    # Whisper hears the direction words
    assert test["own_audio"]["whisper"]["action"] >= 0.6
    report = (out / "report.md").read_text()
    assert "| ceiling: the clip's own audio | test |" in report and "## Per pair, test" in report
    quick = runner.invoke(app, [*args, "--out", str(tmp_path / "quick"), "--per-pair", "1",
                                "--workers", "1", "--no-ceilings", "--no-progress"])  # fmt: skip
    assert quick.exit_code == 0, quick.output
    one_each = json.loads((tmp_path / "quick" / "results.json").read_text())
    pairs = {(r["object"], r["action"]) for r in read_manifest(world) if r["split"] == "test"}
    assert one_each["per_pair"] == 1 and one_each["splits"]["test"]["clips"] == len(pairs)


def test_commands_refuse_bad_inputs(fitted, tmp_path):
    world, run = fitted
    missing = runner.invoke(app, ["translate", str(tmp_path / "nope.mp4"), "--model", str(run)])
    assert missing.exit_code == 2 and "no such video file" in missing.output
    clip = str(next(iter(sorted((world / "clips").glob("*.mp4")))))
    not_a_run = runner.invoke(app, ["translate", clip, "--model", str(tmp_path)])
    assert not_a_run.exit_code == 2 and "not a translation run directory" in not_a_run.output
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    bad = runner.invoke(app, ["translate", str(junk), "--model", str(run)])
    assert bad.exit_code == 2 and str(junk) in bad.output
    no_data = runner.invoke(app, ["train", "translate", "--data", str(tmp_path / "none"),
                                  "--out", str(tmp_path / "r")])  # fmt: skip
    assert no_data.exit_code == 2 and "dataset directory does not exist" in no_data.output
    kind = runner.invoke(app, ["train", "translate", "--data", str(world), "--out",
                               str(tmp_path / "r"), "--model", "deep"])  # fmt: skip
    assert kind.exit_code == 2
    assert "--model must be one of ['flat', 'raw', 'structured']" in kind.output
    not_run = runner.invoke(app, ["eval", "translate", "--model", str(tmp_path), "--data",
                                  str(world)])  # fmt: skip
    assert not_run.exit_code == 2 and "not a translation run directory" in not_run.output
    split = runner.invoke(app, ["eval", "translate", "--model", str(run), "--data", str(world),
                                "--split", "everything"])  # fmt: skip
    assert split.exit_code == 2 and "unknown splits ['everything']" in split.output
    voice = runner.invoke(app, ["eval", "voices", "--data", str(world), "--out",
                                str(tmp_path / "v"), "--candidates", "en"])  # fmt: skip
    assert voice.exit_code == 2 and "is not [flite:]voice[+variant]:rate[:layout]" in voice.output


@pytest.mark.slow
def test_eval_voices_names_the_winner(fitted, tmp_path):
    world, _ = fitted
    out = tmp_path / "voices"
    result = runner.invoke(app, ["eval", "voices", "--data", str(world), "--out", str(out),
                                 "--candidates", "en:150:phrase", "--speech-steps", "100",
                                 "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "best: en:150:phrase" in result.output
    assert json.loads((out / "results.json").read_text())["best"] == "en:150:phrase"


@pytest.mark.slow
def test_eval_translate_over_seeds_reports_mean_and_std(fitted, tmp_path):
    """Two seeds of one pipeline: each run judged, the table is their mean ± std, the ceilings
    are judged once; runs of different pipelines are refused."""
    import dataclasses

    world, run = fitted
    pipe = TranslationPipeline.load(run)
    other = tmp_path / "raw-s3"
    TranslationPipeline.fit(world, other, pipe.config, seed=3, progress=False)
    out = tmp_path / "eval"
    args = ["eval", "translate", "--model", str(run), "--model", str(other), "--data", str(world)]
    result = runner.invoke(app, [*args, "--split", "test", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["seeds"] == [2, 3] and len(results["runs"]) == 2
    for judge in ("grammar", "whisper"):
        both = results["splits"]["test"]["model"][judge]["both"]
        values = [r["test"]["model"][judge]["both"] for r in results["runs"]]
        assert both["values"] == values
        assert both["mean"] == pytest.approx(sum(values) / 2)
    assert "seeds [2, 3]" in (out / "report.md").read_text()
    flat = tmp_path / "flat"
    TranslationPipeline.fit(world, flat, dataclasses.replace(pipe.config, source="vae"), seed=0,
                            progress=False)  # fmt: skip
    mixed = runner.invoke(app, ["eval", "translate", "--model", str(run), "--model", str(flat),
                                "--data", str(world), "--out", str(tmp_path / "m")])  # fmt: skip
    assert mixed.exit_code == 2 and "are not seeds of one pipeline" in mixed.output

"""``xmodal translate`` end to end: a tiny fitted pipeline, a held-out clip in, a WAV out."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from xmodal.cli import app
from xmodal.data.manifest import read_manifest
from xmodal.data.objects import WorldConfig, generate
from xmodal.pipelines.translation import TranslationConfig, TranslationPipeline
from xmodal.training.loop import TrainConfig

runner = CliRunner()


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    world = tmp_path_factory.mktemp("world")
    generate(world, WorldConfig(size=40, seed=11), workers=2, progress=False)
    steps = TrainConfig(max_steps=8, batch_size=16, eval_every=4, log_every=2)
    config = TranslationConfig(
        video_encoder="pixels:height=8,width=8", video_fps=None, video_pca=6, audio_pca=3,
        speech_steps=20, griffin_lim_iters=4, vae_train=steps, translator_train=steps,
    )  # fmt: skip
    run = tmp_path_factory.mktemp("run")
    TranslationPipeline.fit(world, run, config, seed=0, progress=False)
    return world, run


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
    assert f"wrote {out}" in result.output and "it says" in result.output
    info = probe(out)
    assert info.audio.sample_rate == 16000
    assert len(read_audio(out)) == int(round(clip["duration"] * 16000))


def test_translate_reports_bad_inputs(fitted, tmp_path):
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

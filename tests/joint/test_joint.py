"""The joint-space pipeline: train on a tiny world, load, encode every modality."""

from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

import xmodal
from tests.joint._tiny_joint import tiny_config, tiny_run, tiny_world
from xmodal.data.manifest import read_manifest
from xmodal.evaluation.retrieval import retrieval_metrics
from xmodal.joint import JOINT_FILE, JointSpace, JointTrainConfig, train_joint
from xmodal.media import read_audio, read_video
from xmodal.types import Modality


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "tiny_joint"


@pytest.fixture(scope="module")
def space(base: Path) -> JointSpace:
    return xmodal.load(tiny_run(base))


@pytest.fixture(scope="module")
def clips(base: Path) -> list[Path]:
    world = tiny_world(base)
    return [world / r["path"] for r in read_manifest(world)[:3]]


def _unit_rows(x: np.ndarray) -> None:
    assert x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="at least two modalities"):
        JointTrainConfig(video=None, audio=None)
    with pytest.raises(ValueError, match="segments"):
        JointTrainConfig(segments=0)
    with pytest.raises(ValueError, match="temporal"):
        JointTrainConfig(temporal="stack")  # type: ignore[arg-type]
    # The feature cache keys on the decode rate: an int and a float of one rate must agree.
    fps = JointTrainConfig(fps=4).fps
    assert fps == 4.0 and isinstance(fps, float)


@pytest.mark.slow  # a tiny world + a trained space, built once (~25 s)
def test_run_directory_and_load(base: Path, space: JointSpace) -> None:
    run = tiny_run(base)
    assert (run / JOINT_FILE).is_file() and (run / "best.safetensors").is_file()
    assert (run / "preprocess" / "video" / "preprocessor.json").is_file()
    assert space.width == 32
    assert space.modalities == [Modality.VIDEO, Modality.AUDIO, Modality.TEXT]
    assert space.encoders[Modality.VIDEO].id == "pixels-8x8"
    # flatten: 4 segments x PCA 8 for video/audio; MiniLM's 384 for text.
    assert space.model.config.input_dims == {
        Modality.VIDEO: 32,
        Modality.AUDIO: 32,
        Modality.TEXT: 384,
    }
    assert space.model_id.startswith("joint-") and len(space.model_id) == 18
    assert JointSpace.load(run).model_id == space.model_id  # stable
    # The contrastive loss went down over training.
    with (run / "metrics.csv").open() as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f) if r["split"] == "train"]
    assert len(losses) == 15 and losses[-1] < 0.8 * losses[0]


@pytest.mark.slow  # a tiny world + a trained space, built once (~25 s)
def test_rerun_resumes_without_retraining(base: Path, space: JointSpace) -> None:
    run = train_joint(tiny_world(base), base / "run", tiny_config(), progress=False)
    assert JointSpace.load(run).model_id == space.model_id


@pytest.mark.slow  # a tiny world + a trained space, built once (~25 s)
def test_encode_text(space: JointSpace) -> None:
    texts = ["rotate the knife", "move the pen left", "the fork goes right"]
    batch = space.encode_text(texts)
    assert batch.shape == (3, 32)
    _unit_rows(batch)
    one_by_one = np.concatenate([space.encode_text(t) for t in texts])
    np.testing.assert_allclose(batch, one_by_one, atol=1e-5)
    assert space.encode_text([]).shape == (0, 32)


@pytest.mark.slow  # a tiny world + a trained space, built once (~25 s)
def test_encode_video(space: JointSpace, clips: list[Path]) -> None:
    batch = space.encode_video([str(c) for c in clips])
    assert batch.shape == (3, 32)
    _unit_rows(batch)
    singles = np.concatenate([space.encode_video(c) for c in clips])
    np.testing.assert_allclose(batch, singles, atol=1e-5)
    frames = read_video(clips[0])  # (T, H, W, 3) gives what the path gives
    np.testing.assert_allclose(space.encode_video(frames), batch[:1], atol=1e-5)
    stacked = np.stack([read_video(c) for c in clips[:2]])  # (B, T, H, W, 3)
    np.testing.assert_allclose(space.encode_video(stacked), batch[:2], atol=1e-5)
    with pytest.raises(ValueError, match="rank 4"):
        space.encode_video(np.zeros((8, 8, 3), np.uint8))


@pytest.mark.slow  # a tiny world + a trained space, built once (~25 s)
def test_encode_audio(space: JointSpace, clips: list[Path]) -> None:
    batch = space.encode_audio(clips)
    assert batch.shape == (3, 32)
    _unit_rows(batch)
    waves = [read_audio(c) for c in clips]
    np.testing.assert_allclose(space.encode_audio(waves), batch, atol=1e-5)
    np.testing.assert_allclose(space.encode_audio(waves[1]), batch[1:2], atol=1e-5)
    import librosa

    at_22k = librosa.resample(waves[0], orig_sr=16000, target_sr=22050)
    resampled = space.encode_audio(at_22k, sample_rate=22050)  # back to 16 kHz inside
    _unit_rows(resampled)
    assert float(resampled[0] @ batch[0]) > 0.95  # the same recording at another rate
    assert float(resampled[0] @ batch[1]) < float(resampled[0] @ batch[0])


@pytest.mark.slow  # a tiny world + a trained space, built once (~25 s)
def test_trained_space_retrieves_training_pairs(base: Path, space: JointSpace) -> None:
    """On the clips it was trained on, a clip's sound finds its own video far above chance."""
    world = tiny_world(base)
    rows = [r for r in read_manifest(world) if r["split"] == "train"]
    paths = [world / r["path"] for r in rows]
    video, audio = space.encode_video(paths), space.encode_audio(paths)
    ids = np.arange(len(rows))
    scores = retrieval_metrics(audio, video, ids, ids)
    assert scores.r1 >= 0.8  # chance: 1 / 32 (measured: 1.0 after 150 steps)


@pytest.mark.slow  # a tiny world + a trained space, built once (~25 s)
def test_missing_modalities_train_the_pairs_they_have(base: Path, tmp_path: Path) -> None:
    """A folder dataset where only some videos have captions still trains every head."""
    from xmodal.data.folder import build_folder_dataset
    from xmodal.data.manifest import read_manifest as rm
    from xmodal.joint import build_features, load_dataset_features

    world = tiny_world(base)
    src = tmp_path / "media"
    src.mkdir()
    for k, row in enumerate(read_manifest(world)[:12]):
        (src / f"c{k:02d}.mp4").symlink_to(world / row["path"])
        if k % 2 == 0:
            (src / f"c{k:02d}.txt").write_text(row["text"])
    data = build_folder_dataset(src, tmp_path / "ds")
    cfg = tiny_config(max_steps=6)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, batch_size=4))
    run = train_joint(data, tmp_path / "run", cfg, progress=False)
    space = JointSpace.load(run)
    assert space.modalities == [Modality.VIDEO, Modality.AUDIO, Modality.TEXT]
    feats = load_dataset_features(data, space.encoders, progress=False)
    rows = [r for r in rm(data) if r["split"] == "train"]
    train_set = build_features(rows, feats, space.prepare)
    assert train_set is not None
    has_text = train_set.masks[Modality.TEXT].numpy()
    assert 0 < has_text.sum() < len(has_text)
    assert train_set.masks[Modality.VIDEO].numpy().all()
    item = train_set[int(np.flatnonzero(~has_text)[0])]
    assert not bool(item["text_mask"]) and float(item[Modality.TEXT].abs().sum()) == 0.0
    _unit_rows(space.encode_text("push the pen up"))


def test_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a joint-space run"):
        xmodal.load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=f"has no {JOINT_FILE}"):
        JointSpace.load(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="dataset directory does not exist"):
        train_joint(tmp_path / "no-data", tmp_path / "run", tiny_config(), progress=False)


def test_import_xmodal_stays_light() -> None:
    import subprocess
    import sys

    code = "import sys, xmodal; print('torch' in sys.modules, callable(xmodal.load))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ}, check=True)  # fmt: skip
    assert out.stdout.split() == ["False", "True"]

"""Temporal segmentation, MinMax + PCA fitted on train only, inverse transform, persistence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xmodal.features.preprocess import (
    PreprocessConfig,
    Preprocessor,
    fit_on_split,
    preprocessor_dir,
    segment,
)


def test_segment_means_equal_segments() -> None:
    x = np.arange(12, dtype=np.float32).reshape(6, 2)  # rows (0,1) (2,3) ... (10,11)
    out = segment(x, 3)
    np.testing.assert_allclose(out, [[1, 2], [5, 6], [9, 10]])
    assert out.dtype == np.float32


def test_segment_uneven_lengths_cover_every_row_once() -> None:
    x = np.arange(7, dtype=np.float32)[:, None]  # (7, 1)
    out = segment(x, 3)  # segments [0,1] [2,3] [4,5,6]
    np.testing.assert_allclose(out[:, 0], [0.5, 2.5, 5.0])
    # Mean of the segment means weighted by segment length is the overall mean.
    np.testing.assert_allclose((out[:, 0] * [2, 2, 3]).sum() / 7, x.mean())


def test_segment_identity_when_t_equals_steps() -> None:
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_array_equal(segment(x, 5), x)


def test_segment_short_clip_interpolates_at_segment_centres() -> None:
    x = np.array([[0.0], [10.0]], dtype=np.float32)  # T=2 < steps=4
    out = segment(x, 4)[:, 0]
    # centres at rows -0.25, 0.25, 0.75, 1.25 -> clipped/interpolated
    np.testing.assert_allclose(out, [0.0, 2.5, 7.5, 10.0])
    np.testing.assert_array_equal(segment(np.ones((1, 3)), 4), np.ones((4, 3)))


def test_segment_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\(T, D\)"):
        segment(np.zeros((0, 3)), 2)
    with pytest.raises(ValueError, match="steps"):
        segment(np.zeros((4, 3)), 0)


def _clips(rng: np.random.Generator, n: int, d: int, lo: float, hi: float) -> list[np.ndarray]:
    return [
        rng.uniform(lo, hi, size=(int(rng.integers(5, 12)), d)).astype(np.float32) for _ in range(n)
    ]


def test_minmax_is_fitted_on_train_only(rng: np.random.Generator) -> None:
    """Fails if val/test rows reach the scaler: their values lie outside the train range."""
    train = _clips(rng, 8, 3, 0.0, 1.0)
    val = _clips(rng, 4, 3, 5.0, 9.0)  # far outside train
    rows = [{"id": f"c{i}", "split": "train"} for i in range(8)]
    rows += [{"id": f"c{i}", "split": "val"} for i in range(8, 12)]
    arrays = dict(zip([r["id"] for r in rows], train + val, strict=True))
    fs = _FakeFeatureSet(arrays)
    pre = fit_on_split(fs, rows, PreprocessConfig(steps=4), save=False)

    train_segs = np.concatenate([segment(a, 4) for a in train])
    all_segs = np.concatenate([segment(a, 4) for a in train + val])
    np.testing.assert_allclose(pre.scaler.data_min_, train_segs.min(0), rtol=1e-6)
    np.testing.assert_allclose(pre.scaler.data_max_, train_segs.max(0), rtol=1e-6)
    assert np.all(pre.scaler.data_max_ < all_segs.max(0))  # would be equal had val leaked
    assert pre.fitted_on == {"clips": 8, "split": "train", "encoder_id": "toy"}

    z_train, z_val = pre.transform(train), pre.transform(val)
    assert z_train.min() == pytest.approx(0.0, abs=1e-6)
    assert z_train.max() == pytest.approx(1.0, abs=1e-6)
    assert z_val.min() > 1.0  # not clipped, and not rescaled into [0, 1]


class _FakeFeatureSet:
    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self._a = arrays
        self.path = None
        self.encoder_id = "toy"

    def __contains__(self, cid: object) -> bool:
        return cid in self._a

    def arrays(self, ids: list[str]) -> list[np.ndarray]:
        return [self._a[i] for i in ids]


def test_fit_on_split_needs_clips_of_that_split() -> None:
    fs = _FakeFeatureSet({"a": np.zeros((3, 2), np.float32)})
    with pytest.raises(ValueError, match="no clips of split 'train'"):
        fit_on_split(fs, [{"id": "a", "split": "val"}], save=False)


def test_transform_inverse_round_trip_without_pca(rng: np.random.Generator) -> None:
    clips = _clips(rng, 6, 4, -3.0, 2.0)
    pre = Preprocessor(PreprocessConfig(steps=5)).fit(clips)
    z = pre.transform(clips)
    assert z.shape == (6, 5, 4) and z.dtype == np.float32
    back = pre.inverse_transform(z)
    expected = np.stack([segment(c, 5) for c in clips])
    np.testing.assert_allclose(back, expected, atol=1e-5)
    np.testing.assert_allclose(pre.inverse_transform(z[2]), expected[2], atol=1e-5)


def test_pca_reduces_width_and_inverse_is_exact_on_low_rank_data(
    rng: np.random.Generator,
) -> None:
    basis = rng.normal(size=(2, 10))  # data lives in a 2-d subspace of 10-d
    clips = [(rng.normal(size=(8, 2)) @ basis + 3.0).astype(np.float32) for _ in range(12)]
    pre = Preprocessor(PreprocessConfig(steps=4, pca_dim=2)).fit(clips)
    z = pre.transform(clips)
    assert z.shape == (12, 4, 2)
    assert z.min() >= -1e-6 and z.max() <= 1 + 1e-6
    back = pre.inverse_transform(z)  # (12, 4, 10)
    np.testing.assert_allclose(back, np.stack([segment(c, 4) for c in clips]), atol=1e-4)


def test_pca_wider_than_data_is_a_clear_error(rng: np.random.Generator) -> None:
    with pytest.raises(ValueError, match="pca_dim=7 exceeds"):
        Preprocessor(PreprocessConfig(steps=2, pca_dim=7)).fit(_clips(rng, 1, 5, 0, 1))


def test_save_load_gives_identical_transform(tmp_path, rng: np.random.Generator) -> None:
    clips = _clips(rng, 10, 6, 0.0, 4.0)
    pre = Preprocessor(PreprocessConfig(steps=3, pca_dim=4)).fit(clips, split="train")
    out = pre.save(tmp_path / "pre")
    # No pickle: JSON + npz only.
    assert sorted(p.name for p in out.iterdir()) == ["preprocessor.json", "preprocessor.npz"]
    assert json.loads((out / "preprocessor.json").read_text())["config"]["pca_dim"] == 4
    loaded = Preprocessor.load(out)
    new = _clips(np.random.default_rng(1), 3, 6, 0.0, 4.0)
    np.testing.assert_allclose(loaded.transform(new), pre.transform(new), rtol=1e-6, atol=1e-6)
    z = pre.transform(new)
    np.testing.assert_allclose(loaded.inverse_transform(z), pre.inverse_transform(z), atol=1e-5)
    assert loaded.fitted_on == {"clips": 10, "split": "train"}


def test_unfitted_and_mismatched_inputs_fail_clearly(tmp_path, rng) -> None:
    pre = Preprocessor()
    with pytest.raises(RuntimeError, match="not fitted"):
        pre.transform(_clips(rng, 1, 3, 0, 1))
    with pytest.raises(FileNotFoundError, match="no saved preprocessor"):
        Preprocessor.load(tmp_path)
    pre.fit(_clips(rng, 3, 3, 0, 1))
    with pytest.raises(ValueError, match="width 4, fitted on 3"):
        pre.transform(_clips(rng, 1, 4, 0, 1))


def test_config_checks_and_tag() -> None:
    assert PreprocessConfig(steps=8, pca_dim=17).tag == "T8-minmax-pca17"
    assert PreprocessConfig(minmax=False).tag == "T16"
    assert (
        preprocessor_dir("/x", PreprocessConfig(steps=8), "train").name
        == "preprocess-T8-minmax-train"
    )
    with pytest.raises(ValueError):
        PreprocessConfig(steps=0)
    with pytest.raises(ValueError):
        PreprocessConfig(pca_dim=0)

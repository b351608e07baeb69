"""The encoder registry (``xmodal.features.get``) and the single-item extraction API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

import xmodal.features as F
from xmodal.features.base import Encoder
from xmodal.types import Modality


def test_available_lists_every_encoder_of_the_issue() -> None:
    assert F.available() == [
        "efficientnet-lite0",
        "efficientnet-lite0-spatial",
        "efficientnet-lite0-streams",
        "pixels",
        "clip:<hub id or dir>",
        "logmel",
        "mfcc",
        "whisper-tiny.en",
        "wav2vec2:<hub id or dir>",
        "minilm",
        "sentence-transformers:<hub id or dir>",
    ]
    assert F.available(Modality.AUDIO) == [
        "logmel", "mfcc", "whisper-tiny.en", "wav2vec2:<hub id or dir>",
    ]  # fmt: skip
    assert F.available("text") == ["minilm", "sentence-transformers:<hub id or dir>"]


def test_get_is_lazy_and_returns_fresh_encoders() -> None:
    a, b = F.get("efficientnet-lite0"), F.get("efficientnet-lite0")
    assert a is not b and not a.loaded and a._model is None
    assert (a.id, a.modality, a.dim) == ("efficientnet-lite0-224", Modality.VIDEO, 1280)
    assert not a.loaded  # id/dim of built-in encoders need no weights


def test_get_parses_parameters_and_rejects_bad_ones() -> None:
    enc = F.get("pixels:height=8, width=4")
    assert (enc.height, enc.width) == (8, 4)
    assert F.get("pixels:height=8", width=2).id == "pixels-8x2"  # keywords override the name
    assert F.get("efficientnet-lite0:crop=1").crop == 1.0
    with pytest.raises(ValueError, match="unknown encoder 'resnet50'; available: efficientnet"):
        F.get("resnet50")
    with pytest.raises(ValueError, match="has no parameter 'size'; parameters: height, width"):
        F.get("pixels:size=8")
    with pytest.raises(ValueError, match="height='big' is not a valid int"):
        F.get("pixels:height=big")
    with pytest.raises(ValueError, match="expected key=value"):
        F.get("pixels:8")
    with pytest.raises(ValueError, match=r"needs a model: clip:<hub id or dir>"):
        F.get("clip")
    with pytest.raises(ValueError, match="has no parameter 'depth'"):
        F.get("clip:some/model", depth=3)


@dataclass
class _Ones(Encoder):
    width: int = 2
    name: ClassVar[str] = "ones"
    modality: ClassVar[Modality] = Modality.AUDIO
    sample_rate: ClassVar[int] = 8000

    @property
    def id(self) -> str:
        return f"ones-{self.width}"

    @property
    def dim(self) -> int:
        return self.width

    def _extract(self, x: np.ndarray) -> np.ndarray:
        return np.ones((len(x) // 100, self.width), np.float32)


def test_register_a_new_encoder(monkeypatch) -> None:
    monkeypatch.setattr(F, "_REGISTRY", dict(F._REGISTRY))
    F.register("ones", _Ones, modality=Modality.AUDIO, description="test")
    assert "ones" in F.available() and F.get("ones:width=3").id == "ones-3"
    with pytest.raises(ValueError, match="already registered"):
        F.register("ones", _Ones, modality=Modality.AUDIO, description="again")
    with pytest.raises(ValueError, match="without ':'"):
        F.register("a:b", _Ones, modality=Modality.AUDIO, description="bad")
    # extract_audio resamples arrays given at another rate to the encoder's rate
    out = F.extract_audio(np.zeros(16000, np.float32), _Ones(), sample_rate=16000)
    assert out.shape == (80, 2)  # 1 s at 8 kHz, one row per 100 samples


def test_single_item_api_on_arrays_and_files(tmp_path) -> None:
    from xmodal.media import write_mp4

    frames = np.zeros((4, 16, 16, 3), np.uint8)
    frames[:, :, :, 2] = 255  # blue
    wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000)).astype(np.float32)
    path = tmp_path / "clip.mp4"
    write_mp4(path, frames, fps=8, audio=wave)

    from_frames = F.extract_video(frames, "pixels:height=2,width=2")
    from_file = F.extract_video(path, "pixels:height=2,width=2")
    assert from_frames.shape == from_file.shape == (4, 12)
    np.testing.assert_allclose(from_file, from_frames, atol=0.05)  # H.264 is lossy
    assert F.extract_video(path, "pixels:height=2,width=2", fps=4).shape == (2, 12)

    mel = F.extract_audio(wave, "logmel")
    assert mel.shape == (1 + 8000 // 160, 80)
    mel_file = F.extract_audio(path, "logmel")
    assert abs(mel_file.shape[0] - mel.shape[0]) <= 2  # AAC keeps the length to a frame
    assert np.argmax(mel_file[25]) == np.argmax(mel[25])  # same 440 Hz band

    with pytest.raises(ValueError, match="reads audio, not video"):
        F.extract_video(frames, "logmel")


def test_extract_text_single_string_and_list() -> None:
    one = F.extract_text("rotate the knife")
    many = F.extract_text(["rotate the knife", "move the spoon up"])
    assert one.shape == (384,) and many.shape == (2, 384)
    np.testing.assert_allclose(one, many[0], atol=1e-5)

"""Input checks, hub-model ids and the local-dir -> local-cache -> hub fallback (no network)."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.features.base import (
    EncoderUnavailable,
    check_frames,
    check_texts,
    check_waveform,
    hub_model_id,
    load_hub_model,
    unavailable_message,
)


class _Loader:
    """Records calls; fails for the sources listed in ``fail``."""

    def __init__(self, fail: set[bool]) -> None:
        self.fail = fail
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, name: str, local_only: bool) -> str:
        self.calls.append((name, local_only))
        if local_only in self.fail:
            raise (OSError("not cached") if local_only else ConnectionError("no route to host"))
        return f"model from {'cache' if local_only else 'hub'}"


def test_hub_id_found_in_local_cache_never_goes_online(monkeypatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    loader = _Loader(fail=set())
    assert load_hub_model("clip", "org/model", loader) == "model from cache"
    assert loader.calls == [("org/model", True)]


def test_offline_and_not_cached_raises_the_one_sentence_error(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loader = _Loader(fail={True, False})
    with pytest.raises(EncoderUnavailable) as info:
        load_hub_model("clip", "org/model", loader)
    assert loader.calls == [("org/model", True)]  # the hub was not tried
    msg = str(info.value)
    assert msg == unavailable_message("clip", "org/model")
    assert msg.startswith("Model 'org/model' is not in the local Hugging Face cache")
    assert "clip:/path/to/model" in msg and "huggingface-cli download org/model" in msg
    assert msg.count(". ") == 0 and "\n" not in msg  # one sentence


def test_online_fallback_then_unreachable_hub(monkeypatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    ok = _Loader(fail={True})
    assert load_hub_model("wav2vec2", "org/m", ok) == "model from hub"
    assert ok.calls == [("org/m", True), ("org/m", False)]
    down = _Loader(fail={True, False})
    with pytest.raises(EncoderUnavailable, match="wav2vec2:/path/to/model") as info:
        load_hub_model("wav2vec2", "org/m", down)
    assert isinstance(info.value.__cause__, ConnectionError)
    assert issubclass(EncoderUnavailable, RuntimeError)


def test_local_directory_is_loaded_directly_and_errors_name_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loader = _Loader(fail=set())
    assert load_hub_model("clip", str(tmp_path), loader) == "model from cache"
    assert loader.calls == [(str(tmp_path), True)]
    with pytest.raises(EncoderUnavailable, match=f"{tmp_path}: not a loadable clip model"):
        load_hub_model("clip", str(tmp_path), _Loader(fail={True}))
    missing = tmp_path / "nope" / "model"
    with pytest.raises(EncoderUnavailable, match="model directory does not exist"):
        load_hub_model("clip", str(missing), loader)


def test_hub_model_id_is_stable_readable_and_path_sensitive(tmp_path) -> None:
    a = hub_model_id("clip", "openai/clip-vit-base-patch32")
    assert a == hub_model_id("clip", "openai/clip-vit-base-patch32")
    assert a.startswith("clip-openai-clip-vit-base-patch32-") and len(a.rsplit("-", 1)[1]) == 8
    assert hub_model_id("clip", "openai-clip/vit") != hub_model_id("clip", "openai/clip-vit")
    d1, d2 = tmp_path / "x" / "my model", tmp_path / "y" / "my model"
    d1.mkdir(parents=True)
    d2.mkdir(parents=True)
    assert hub_model_id("clip", str(d1)).startswith("clip-my-model-")
    assert hub_model_id("clip", str(d1)) != hub_model_id("clip", str(d2))


def test_input_checks() -> None:
    assert check_frames(np.zeros((2, 4, 4, 3), np.uint8)).shape == (2, 4, 4, 3)
    with pytest.raises(ValueError, match="uint8"):
        check_frames(np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        check_frames(np.zeros((4, 4, 3), np.uint8))
    assert check_waveform(np.zeros(5, np.float64)).dtype == np.float32
    with pytest.raises(ValueError, match="mono"):
        check_waveform(np.zeros((5, 2), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        check_waveform(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="float"):
        check_waveform(np.zeros(5, np.int16))
    assert check_texts(("a", "b")) == ["a", "b"]
    with pytest.raises(ValueError, match="list of strings"):
        check_texts("a single string")
    with pytest.raises(ValueError, match="got int"):
        check_texts(["a", 3])

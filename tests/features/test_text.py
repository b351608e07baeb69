"""Text encoders: all-MiniLM-L6-v2 from its wheel, and a tiny sentence-transformers model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xmodal.features import EncoderUnavailable, get
from xmodal.features.text import MiniLMEncoder
from xmodal.types import Modality


@pytest.fixture(scope="module")
def minilm() -> MiniLMEncoder:
    return get("minilm").load()


def test_minilm_shape_norm_and_determinism(minilm) -> None:
    assert minilm.id == "minilm-l6-v2" and minilm.dim == 384
    assert minilm.modality is Modality.TEXT
    texts = ["rotate the knife", "move the pen left", "rotate the knife"]
    out = minilm.extract(texts)
    assert out.shape == (3, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out[0], out[2], atol=1e-6)
    np.testing.assert_allclose(minilm.extract(texts[:1])[0], out[0], atol=1e-5)


def test_minilm_weights_are_real(minilm) -> None:
    """Pretrained semantics: a paraphrase is far closer than an unrelated sentence."""
    a, para, other = minilm.extract(
        ["A cat is sitting on the mat.", "A kitten rests on a rug.", "Stock prices fell sharply."]
    )
    assert float(a @ para) > 0.5
    assert float(a @ para) > float(a @ other) + 0.4


@pytest.fixture(scope="module")
def tiny_st_dir(tmp_path_factory) -> Path:
    import torch
    import transformers as tf
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers >= 6
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:  # 3.x - 5.x
        from sentence_transformers.models import Pooling, Transformer

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("models")
    bert = root / "tiny-bert"
    bert.mkdir()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"the a cat dog sat on mat runs".split()]
    (bert / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tf.BertTokenizer(str(bert / "vocab.txt")).save_pretrained(bert)
    config = tf.BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    tf.BertModel(config).save_pretrained(bert)
    word = Transformer(str(bert), max_seq_length=16)
    pool = Pooling(16, pooling_mode="mean")
    path = root / "tiny-st"
    SentenceTransformer(modules=[word, pool], device="cpu").save(str(path))
    return path


def test_tiny_sentence_transformer_through_the_real_loading_path(tiny_st_dir, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = get(f"sentence-transformers:{tiny_st_dir}")
    assert enc.id.startswith("st-tiny-st-")
    out = enc.extract(["the cat sat", "a dog runs", "the cat sat"])
    assert out.shape == (3, 16) and out.dtype == np.float32 and enc.dim == 16
    np.testing.assert_allclose(out[0], out[2], atol=1e-6)
    assert not np.allclose(out[0], out[1])


def test_sentence_transformer_unknown_id_offline(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderUnavailable, match=r"^Model 'xmodal-tests/nope' is not in the local"):
        get("sentence-transformers:xmodal-tests/nope").extract(["hello"])

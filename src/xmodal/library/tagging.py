"""Visual tags of library segments: what ingest stores so text can find what is only seen.

Each video segment is tagged from the frames ingest already embeds
(:class:`~xmodal.features.tags.VisualTagger`: the video encoder's ImageNet head on the pooled
features it computed, plus the face detector), and gets two things search reads:

* ``tag_text``, the tags' words (names, WordNet synonyms and hypernyms), which the stores
  index for full text (the ``tags`` list) and match for the ``--tag`` filter;
* a ``tags-frozen`` vector: the sentence encoder (MiniLM) of each tag as a short phrase
  (:func:`~xmodal.features.tags.concept_text`), averaged with the tags' scores as weights and
  L2-normalised, so a paraphrase ("a parrot on a fence") finds a cockatoo. A text query is
  compared with it by the same MiniLM vector it uses for transcripts.

A segment that was tagged and shows nothing confident has ``tags == []`` and no vector; one that
was never tagged (a library written before tags) has ``tags is None`` until ``xmodal library
reindex`` tags it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from xmodal.features.tags import Tag, concept_text, concepts, tag_text

if TYPE_CHECKING:
    from xmodal.features.base import Encoder
    from xmodal.features.tags import VisualTagger

TAG_SPACE = "tags-frozen"
"""The embedding space of segments' tag phrases (the text encoder's width)."""


def tag_vectors(
    tags: Sequence[Sequence[Tag] | None], text_encoder: Encoder, tagger: VisualTagger
) -> list[np.ndarray | None]:
    """Per segment, the score-weighted mean of its tags' phrase embeddings, unit length.

    Args:
        tags: per segment, its tags (None or empty: no vector).
        text_encoder: the library's sentence encoder.
        tagger: gives the vocabulary the phrases come from.

    Returns:
        Per segment, a ``(Dt,)`` float32 unit vector or None.
    """
    vocab = tagger.vocabulary
    phrases = [[concept_text(c) for c in concepts(t, vocab)] if t else [] for t in tags]
    unique = sorted({p for ps in phrases for p in ps})
    if not unique:
        return [None] * len(tags)
    emb = dict(zip(unique, text_encoder.extract(unique), strict=True))  # phrase -> (Dt,)
    out: list[np.ndarray | None] = []
    for seg_tags, seg_phrases in zip(tags, phrases, strict=True):
        if not seg_phrases:
            out.append(None)
            continue
        rows = np.stack([_unit(emb[p]) for p in seg_phrases])  # (n, Dt)
        weights = np.array([t.score for t in seg_tags or []], np.float32)  # (n,)
        out.append(_unit(weights @ rows))
    return out


def segment_tags(
    tagger: VisualTagger,
    features: Sequence[np.ndarray | None],
    frames: Sequence[np.ndarray | None],
) -> tuple[list[list[Tag]], list[str]]:
    """Tags and tag words of a video's segments.

    Args:
        tagger: the library's tagger.
        features: per segment, the video encoder's ``(T, D)`` features of its frames.
        frames: per segment, those frames ``(T, H, W, 3)``.

    Returns:
        ``(tags, tag_texts)`` per segment (a segment without frames: ``[]`` and ``""``).
    """
    tags = [
        tagger.tag(f, x) if f is not None and x is not None else []
        for f, x in zip(features, frames, strict=True)
    ]
    return tags, [tag_text(t, tagger.vocabulary) for t in tags]


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return (x / max(float(np.linalg.norm(x)), 1e-12)).astype(np.float32)

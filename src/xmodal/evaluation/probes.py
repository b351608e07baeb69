"""What a frozen video encoder already knows: linear probes of the object from its features.

:func:`object_probe` pools each clip's appearance columns over time, fits a standard scaler,
a PCA and a logistic regression on the train split only, and scores val, test and held-out
clips (accuracy and log-loss), plus every held-out pair on its own. It is how the structured
translator's appearance encoder was chosen (``xmodal features probe``, docs/studies.md): labels
are read here and nowhere in a translation model.

    >>> result = object_probe("data/objects", "efficientnet-lite0-streams:rotations=8,zoom=0.4")
    >>> result["splits"]["val"]["accuracy"]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

SPLITS: tuple[str, ...] = ("val", "test", "heldout")


def object_probe(
    dataset_dir: str | os.PathLike[str],
    encoder: str,
    *,
    fps: float | None = 4.0,
    pca: int = 17,
    progress: bool = False,
) -> dict[str, Any]:
    """Extract (or reuse) ``encoder``'s features of a dataset and probe the object from them.

    Columns read: ``[:appearance_dim]`` for encoders that append position or motion columns
    (spatial, streams), every column otherwise; averaged over each clip's frames.

    Args:
        dataset_dir: a dataset with object labels and a train split.
        encoder: a video encoder name with parameters (``xmodal features list``).
        fps: decode rate (the translation pipelines read 4 frames/s).
        pca: components kept (the thesis preprocessing keeps 17), capped by the train clips.
        progress: show the extraction's progress bar.

    Returns:
        ``{"encoder": id, "clips": {split: n}, "chance": 1/objects, "splits": {split:
        {"accuracy", "log_loss"}}, "heldout_pairs": {"object:action": accuracy}}``.

    Raises:
        ValueError: not a video encoder, or no labelled train clips.
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from xmodal.data.manifest import read_manifest
    from xmodal.features import get
    from xmodal.features.cache import extract_dataset, load_features
    from xmodal.types import Modality

    enc = get(encoder)
    if enc.modality is not Modality.VIDEO:
        raise ValueError(f"{encoder!r} reads {enc.modality}, not video")
    rows = [r for r in read_manifest(dataset_dir) if r.get("object")]
    extract_dataset(dataset_dir, enc, fps=fps, progress=progress)
    fs = load_features(dataset_dir, enc, fps=fps)
    have = set(fs.ids)
    rows = [r for r in rows if r["id"] in have]
    width = getattr(enc, "appearance_dim", None)
    pooled = {r["id"]: a[:, :width].mean(axis=0)
              for r, a in zip(rows, fs.arrays([r["id"] for r in rows]), strict=True)}  # fmt: skip
    by_split = {s: [r for r in rows if r["split"] == s] for s in ("train", *SPLITS)}
    train = by_split["train"]
    if len({r["object"] for r in train}) < 2:
        raise ValueError(f"{dataset_dir}: a probe needs train clips of at least two objects")

    def x(rs: Sequence[dict[str, Any]]) -> np.ndarray:
        return np.stack([pooled[r["id"]] for r in rs])

    k = min(pca, len(train) - 1, x(train[:1]).shape[1])
    clf = make_pipeline(StandardScaler(), PCA(k, random_state=0), LogisticRegression(max_iter=3000))
    clf.fit(x(train), [r["object"] for r in train])
    out: dict[str, Any] = {
        "encoder": enc.id, "fps": fps, "pca": k,
        "clips": {s: len(v) for s, v in by_split.items()},
        "chance": 1.0 / len(clf.classes_), "splits": {}, "heldout_pairs": {},
    }  # fmt: skip
    for split in SPLITS:
        rs = by_split[split]
        if not rs:
            continue
        y = [r["object"] for r in rs]
        out["splits"][split] = {
            "accuracy": float(clf.score(x(rs), y)),
            "log_loss": float(log_loss(y, clf.predict_proba(x(rs)), labels=clf.classes_)),
        }
    for pair in sorted({(r["object"], r["action"]) for r in by_split["heldout"]}):
        rs = [r for r in by_split["heldout"] if (r["object"], r["action"]) == pair]
        out["heldout_pairs"][":".join(pair)] = float(clf.score(x(rs), [r["object"] for r in rs]))
    return out


def probe_table(results: Sequence[dict[str, Any]]) -> str:
    """Markdown: one row per encoder, accuracy (log-loss) per split, then each held-out pair."""
    from xmodal.evaluation.report import markdown_table

    splits = [s for s in SPLITS if any(s in r["splits"] for r in results)]
    pairs = sorted({p for r in results for p in r["heldout_pairs"]})
    rows = []
    for r in results:
        cells = [f"{r['splits'][s]['accuracy']:.3f} ({r['splits'][s]['log_loss']:.3f})"
                 if s in r["splits"] else "" for s in splits]  # fmt: skip
        rows.append([f"`{r['encoder']}`", *cells,
                     *(f"{r['heldout_pairs'][p]:.2f}" if p in r["heldout_pairs"] else ""
                       for p in pairs)])  # fmt: skip
    header = ["encoder", *(f"{s}: accuracy (log-loss)" for s in splits), *pairs]
    return markdown_table(header, rows)

"""The retrieval study: cross-modal retrieval in a trained joint space, with reference rows.

For every ordered pair of modalities (text→video, video→text, audio→video, video→audio,
text→audio, audio→text) and every evaluated split (``test``: in-distribution; ``heldout``: the
compositions never seen in training), each clip of the split that has the query modality
queries the clips of the same split that have the gallery modality, and R@1/5/10, median rank
and mAP are computed (:func:`xmodal.evaluation.retrieval.retrieval_metrics`, pessimistic ties).

Relevance:

- ``label`` (datasets whose rows carry ``object`` and ``action``, i.e. the object world): a
  gallery clip is relevant when it has the query's (object, action) pair — many clips share a
  pair, and clips of one pair share their phrases;
- ``instance``: only the query's own clip is relevant. Reported for audio↔video on the object
  world (each clip's sound track belongs to its own video: voice, rate, template), and for every
  pair on folder datasets (no labels).

Every number is mean ± std over the evaluated runs (one run per training seed; the study's
``seeds`` path trains them). Reference rows, computed once (they do not depend on training):

- ``chance``: random unit vectors scored the same way
  (:func:`xmodal.evaluation.retrieval.chance_scores`);
- ``asr_minilm``: the frozen-feature row where a shared space exists without training — the
  audio is transcribed by Whisper tiny.en (free transcription, no prompt) and the transcript is
  embedded by all-MiniLM-L6-v2, as is the text, so text→audio and audio→text are MiniLM
  text↔text similarities. No frozen encoder maps video into a space shared with audio or text
  here (CLIP's text tower would, but its weights are not available offline), so the video pairs
  have no such row.

Outputs in ``out_dir``: ``results.json`` (keys documented in docs/studies.md, "Retrieval"),
``report.md``, ``similarity_<split>.png`` (the text→video, or first pair's, similarity matrix,
clips sorted by label) and ``projection_<split>.png`` (a 2-D PCA of the space coloured by
object and by action, one marker per modality).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.evaluation.report import (
    aggregate_seeds,
    fmt_mean_std,
    markdown_table,
    new_figure,
    save_figure,
)
from xmodal.evaluation.retrieval import RetrievalScores, chance_scores, retrieval_metrics
from xmodal.types import Modality

SPLITS: tuple[str, ...] = ("test", "heldout")
METRICS: tuple[str, ...] = ("r1", "r5", "r10", "median_rank", "mean_ap")
METRIC_NAMES = {"r1": "R@1", "r5": "R@5", "r10": "R@10", "median_rank": "MdR", "mean_ap": "mAP"}
# The targets: held-out compositions of the object world.
TARGETS: tuple[tuple[str, str, str, float], ...] = (
    ("heldout", "text->video", "label", 0.9),
    ("heldout", "audio->video", "label", 0.9),
)
TRANSCRIPTS_FILE = "transcripts.jsonl"


def pair_name(query: Modality, gallery: Modality) -> str:
    """``"text->video"``."""
    return f"{query.value}->{gallery.value}"


def relevance_modes(query: Modality, gallery: Modality, labelled: bool) -> list[str]:
    """Which relevance definitions a pair is scored with (module docstring)."""
    if not labelled:
        return ["instance"]
    if {query, gallery} == {Modality.AUDIO, Modality.VIDEO}:
        return ["label", "instance"]
    return ["label"]


@dataclasses.dataclass
class SplitEmbeddings:
    """One run's embeddings of one split.

    Attributes:
        ids: the split's clip ids (manifest order).
        labels: (N,) ``"object:action"`` per clip, or None for unlabelled datasets.
        embeds: ``{modality: (n_m, E)}`` for the clips that have it.
        index: ``{modality: (n_m,) int}`` positions of those clips in ``ids``.
    """

    ids: list[str]
    labels: np.ndarray | None
    embeds: dict[Modality, np.ndarray]
    index: dict[Modality, np.ndarray]

    def labels_of(self, m: Modality, mode: str) -> np.ndarray:
        """Relevance labels of the clips having ``m``: pair labels or clip ids (instance)."""
        source = np.asarray(self.ids) if mode == "instance" else self.labels
        assert source is not None
        return source[self.index[m]]


def _split_rows(rows: list[dict[str, Any]], split: str) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("split") == split]


def _labels(rows: list[dict[str, Any]]) -> np.ndarray | None:
    if rows and all(r.get("object") and r.get("action") for r in rows):
        return np.array([f"{r['object']}:{r['action']}" for r in rows])
    return None


def embed_split(
    space: Any, feats: dict[Modality, Any], rows: list[dict[str, Any]]
) -> SplitEmbeddings:
    """Embed every clip of ``rows`` in each modality it has features for."""
    ids = [r["id"] for r in rows]
    embeds, index = {}, {}
    for m in space.modalities:
        fs = feats.get(m)
        if fs is None:
            continue
        pos = np.array([i for i, cid in enumerate(ids) if cid in fs], dtype=int)
        if len(pos) == 0:
            continue
        embeds[m] = space.encode_features(m, fs.arrays([ids[i] for i in pos]))  # (n_m, E)
        index[m] = pos
    return SplitEmbeddings(ids, _labels(rows), embeds, index)


def score_pairs(emb: SplitEmbeddings) -> dict[str, dict[str, dict[str, float]]]:
    """``{pair: {relevance: scores}}`` for every ordered pair of modalities present."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for q, g in itertools.permutations(emb.embeds, 2):
        row = {}
        for mode in relevance_modes(q, g, emb.labels is not None):
            ql, gl = emb.labels_of(q, mode), emb.labels_of(g, mode)
            if not np.isin(ql, gl).any():
                continue
            scores = retrieval_metrics(emb.embeds[q], emb.embeds[g], ql, gl)
            row[mode] = _metric_dict(scores)
        if row:
            out[pair_name(q, g)] = row
    return out


def _metric_dict(scores: RetrievalScores) -> dict[str, float]:
    d = scores.to_dict()
    return {**{k: d[k] for k in METRICS}, "n_queries": d["n_queries"]}


def chance_rows(emb: SplitEmbeddings) -> dict[str, dict[str, dict[str, float]]]:
    """The chance reference for the same queries, galleries and relevance."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for q, g in itertools.permutations(emb.embeds, 2):
        row = {}
        for mode in relevance_modes(q, g, emb.labels is not None):
            ql, gl = emb.labels_of(q, mode), emb.labels_of(g, mode)
            if np.isin(ql, gl).any():
                row[mode] = _metric_dict(chance_scores(ql, gl, seed=0))
        if row:
            out[pair_name(q, g)] = row
    return out


# ----------------------------------------------------------------------------- ASR reference


def transcribe_clips(
    dataset_dir: Path, rows: list[dict[str, Any]], cache_file: Path, progress: bool = True
) -> dict[str, str]:
    """Free Whisper tiny.en transcripts of the rows' audio, cached (resumable) in ``cache_file``
    (lines written by another recogniser are not reused)."""
    from tqdm import tqdm

    from xmodal.features.asr import MODEL_NAME, SAMPLE_RATE, transcribe
    from xmodal.media import MediaError, read_audio
    from xmodal.utils import read_jsonl

    key = str(dataset_dir.resolve())
    done = {
        r["id"]: r["text"]
        for r in (read_jsonl(cache_file) if cache_file.is_file() else [])
        if r.get("dataset") == key and r.get("engine") == MODEL_NAME
    }
    todo = [r for r in rows if r["id"] not in done]
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    with cache_file.open("a") as f:
        for row in tqdm(todo, desc="asr", unit="clip", disable=not progress, file=sys.stderr):
            try:
                wave = read_audio(dataset_dir / row["path"], sample_rate=SAMPLE_RATE)
            except MediaError as e:
                print(f"asr: skipped {e}", file=sys.stderr)
                continue
            text = transcribe(wave).text
            done[row["id"]] = text
            line = {"dataset": key, "id": row["id"], "engine": MODEL_NAME, "text": text}
            f.write(_json_line(line))
            f.flush()
    return {r["id"]: done[r["id"]] for r in rows if r["id"] in done}


def _json_line(obj: dict[str, Any]) -> str:
    import json

    return json.dumps(obj) + "\n"


def asr_reference(
    dataset_dir: Path,
    rows: list[dict[str, Any]],
    out_dir: Path,
    progress: bool = True,
) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, Any]] | None:
    """The MiniLM-through-transcript reference rows for text→audio and audio→text.

    Returns:
        ``(rows, info)`` with info ``{"clips", "wer_mean", "empty"}``, or None when no clip has
        both audio and text.
    """
    from xmodal import features
    from xmodal.features.asr import word_error_rate

    rows = [r for r in rows if isinstance(r.get("text"), str) and r["text"].strip()
            and ("modalities" not in r or "audio" in r["modalities"])]  # fmt: skip
    if not rows:
        return None
    transcripts = transcribe_clips(dataset_dir, rows, out_dir / TRANSCRIPTS_FILE, progress)
    rows = [r for r in rows if r["id"] in transcripts]
    if not rows:
        return None
    enc = features.get("minilm")
    texts = _unit(enc.extract([r["text"] for r in rows]))  # (N, 384)
    heard = _unit(enc.extract([transcripts[r["id"]] or " " for r in rows]))  # (N, 384)
    labels = _labels(rows)
    modes = ["label"] if labels is not None else ["instance"]
    ids = np.array([r["id"] for r in rows])
    out: dict[str, dict[str, dict[str, float]]] = {"text->audio": {}, "audio->text": {}}
    for mode in modes:
        lab = labels if mode == "label" else ids
        out["text->audio"][mode] = _metric_dict(retrieval_metrics(texts, heard, lab, lab))
        out["audio->text"][mode] = _metric_dict(retrieval_metrics(heard, texts, lab, lab))
    wers = [word_error_rate(r["text"], transcripts[r["id"]]) for r in rows]
    info = {
        "clips": len(rows),
        "wer_mean": float(np.mean(wers)),
        "empty": int(sum(not transcripts[r["id"]].strip() for r in rows)),
    }
    return out, info


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


# ----------------------------------------------------------------------------- the study


def evaluate_retrieval(
    run_dirs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    dataset_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    splits: Sequence[str] = SPLITS,
    asr: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate one or several joint-space runs (e.g. one per seed) on a dataset's splits.

    Args:
        run_dirs: one run directory, or several (aggregated as mean ± std).
        dataset_dir: the dataset (its features are extracted into its cache if needed).
        out_dir: where results.json, report.md and the figures go (created).
        splits: the splits to evaluate; those with no clip are reported as absent.
        asr: compute the Whisper + MiniLM reference row (transcripts are cached).
        progress: show progress bars.

    Returns:
        The results written to ``results.json``.
    """
    from xmodal.data.manifest import read_manifest
    from xmodal.pipelines.joint import JointSpace, load_dataset_features
    from xmodal.utils import write_json

    runs = (
        [Path(run_dirs)] if isinstance(run_dirs, str | os.PathLike) else [Path(r) for r in run_dirs]
    )
    if not runs:
        raise ValueError("evaluate_retrieval needs at least one run directory")
    dataset_dir, out = Path(dataset_dir).expanduser(), Path(out_dir).expanduser()
    rows = read_manifest(dataset_dir)
    by_split = {s: _split_rows(rows, s) for s in splits}
    present = [s for s in splits if by_split[s]]
    if not present:
        raise ValueError(f"{dataset_dir}: no clip in split(s) {', '.join(splits)}")

    per_run: dict[str, list[dict[str, Any]]] = {s: [] for s in present}
    first: dict[str, SplitEmbeddings] = {}
    model_ids, seeds = [], []
    for run in runs:
        space = JointSpace.load(run)
        model_ids.append(space.model_id)
        seeds.append(space.config.train.seed)
        feats = load_dataset_features(dataset_dir, space.encoders, fps=space.config.fps,
                                      progress=progress)  # fmt: skip
        for s in present:
            emb = embed_split(space, feats, by_split[s])
            per_run[s].append(score_pairs(emb))
            first.setdefault(s, emb)

    results: dict[str, Any] = {
        "study": "retrieval",
        "dataset": str(dataset_dir.resolve()),
        "runs": [str(r.resolve()) for r in runs],
        "model_ids": model_ids,
        "seeds": seeds,
        "modalities": [m.value for m in first[present[0]].embeds],
        "relevance": {
            "label": "a gallery clip is relevant when it has the query's (object, action)",
            "instance": "only the query's own clip is relevant",
        },
        "splits": {},
    }
    asr_info: dict[str, Any] = {}
    for s in present:
        emb = first[s]
        entry: dict[str, Any] = {
            "clips": len(emb.ids),
            "labels": None if emb.labels is None else sorted(set(emb.labels.tolist())),
            "model": _aggregate(per_run[s]),
            "chance": chance_rows(emb),
        }
        if asr and Modality.AUDIO in emb.embeds and Modality.TEXT in emb.embeds:
            ref = _try_asr(dataset_dir, by_split[s], out, progress)
            if isinstance(ref, str):
                asr_info["absent"] = ref
            elif ref is not None:
                entry["asr_minilm"], asr_info[s] = ref
        results["splits"][s] = entry
    results["asr_minilm"] = asr_info or {"absent": "not requested or no clip has audio and text"}
    results["targets"] = _targets(results)
    out.mkdir(parents=True, exist_ok=True)
    figures = {}
    for s in present:
        figures[s] = {
            "similarity": _similarity_figure(first[s], out / f"similarity_{s}.png", s).name,
            "projection": _projection_figure(first[s], out / f"projection_{s}.png", s).name,
        }
    results["figures"] = figures
    write_json(out / "results.json", results)
    (out / "report.md").write_text(format_report(results))
    return results


def _try_asr(dataset_dir: Path, rows: list[dict[str, Any]], out: Path, progress: bool) -> Any:
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        return "faster-whisper is not installed (pip install 'xmodal[asr]')"
    return asr_reference(dataset_dir, rows, out, progress)


def _aggregate(per_run: list[dict[str, dict[str, dict[str, float]]]]) -> dict[str, Any]:
    """Per-run ``{pair: {mode: metrics}}`` -> ``{pair: {mode: {metric: mean_std}}}``."""
    out: dict[str, Any] = {}
    for pair, modes in per_run[0].items():
        out[pair] = {}
        for mode in modes:
            rows = [{k: run[pair][mode][k] for k in METRICS} for run in per_run]
            agg = aggregate_seeds(rows)
            agg["n_queries"] = per_run[0][pair][mode]["n_queries"]
            out[pair][mode] = agg
    return out


def _targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for split, pair, mode, target in TARGETS:
        stat = results["splits"].get(split, {}).get("model", {}).get(pair, {}).get(mode)
        if stat is None:
            continue
        out.append({
            "split": split, "pair": pair, "relevance": mode, "metric": "r1", "target": target,
            "mean": stat["r1"]["mean"], "std": stat["r1"]["std"],
            "met": bool(stat["r1"]["mean"] >= target),
        })  # fmt: skip
    return out


def run_retrieval_study(
    dataset_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: Any = None,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    splits: Sequence[str] = SPLITS,
    asr: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Train one joint space per seed (``out_dir/runs/seed-<s>``, resumable) and evaluate them.

    Args:
        dataset_dir: the dataset to train and evaluate on.
        out_dir: the study directory.
        config: a :class:`xmodal.pipelines.joint.JointTrainConfig` (its ``train.seed`` is
            replaced by each seed).
        seeds: the training seeds (three or more for mean ± std).
        splits: the splits to evaluate (``val`` too when a default is to be chosen).
        asr: compute the ASR + MiniLM reference row.
        progress: show progress bars.

    Returns:
        The aggregated results (also in ``out_dir/results.json``).
    """
    from xmodal.pipelines.joint import JointTrainConfig, train_joint

    if not seeds:
        raise ValueError("run_retrieval_study needs at least one seed")
    config = config or JointTrainConfig()
    out = Path(out_dir)
    runs = []
    for seed in seeds:
        cfg = dataclasses.replace(config, train=dataclasses.replace(config.train, seed=int(seed)))
        runs.append(train_joint(dataset_dir, out / "runs" / f"seed-{seed}", cfg, progress=progress))
    return evaluate_retrieval(runs, dataset_dir, out, splits=splits, asr=asr, progress=progress)


# ----------------------------------------------------------------------------- figures


def _figure_pair(emb: SplitEmbeddings) -> tuple[Modality, Modality]:
    if Modality.TEXT in emb.embeds and Modality.VIDEO in emb.embeds:
        return Modality.TEXT, Modality.VIDEO
    q, g = list(emb.embeds)[:2]
    return q, g


def _similarity_figure(emb: SplitEmbeddings, path: Path, split: str, max_clips: int = 150) -> Path:
    """The query x gallery similarity matrix over clips having both, sorted by label."""
    q, g = _figure_pair(emb)
    both = np.intersect1d(emb.index[q], emb.index[g])  # positions in ids having q and g
    if emb.labels is not None:
        both = both[np.argsort(emb.labels[both], kind="stable")]
    if len(both) > max_clips:  # an even subsample keeps every label's block
        both = both[np.linspace(0, len(both) - 1, max_clips).round().astype(int)]
    rows_q = np.searchsorted(emb.index[q], both)
    rows_g = np.searchsorted(emb.index[g], both)
    sim = emb.embeds[q][rows_q] @ emb.embeds[g][rows_g].T  # (n, n)
    fig = new_figure(6.4, 5.6)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(sim, cmap="viridis", interpolation="nearest")
    fig.colorbar(im, ax=ax, label="cosine similarity")
    ax.set_xlabel(f"{g.value} (gallery)")
    ax.set_ylabel(f"{q.value} (query)")
    ax.set_title(f"{split}: {pair_name(q, g)} similarity ({len(both)} clips)")
    if emb.labels is not None and len(both):
        labs = emb.labels[both]
        starts = [0] + [i for i in range(1, len(labs)) if labs[i] != labs[i - 1]]
        for b in starts[1:]:
            ax.axhline(b - 0.5, color="white", lw=0.5)
            ax.axvline(b - 0.5, color="white", lw=0.5)
        centres = [(a + b - 1) / 2 for a, b in zip(starts, [*starts[1:], len(labs)], strict=True)]
        if len(starts) <= 30:
            ax.set_yticks(centres, [labs[a] for a in starts], fontsize=6)
            ax.set_xticks(centres, [labs[a] for a in starts], fontsize=6, rotation=90)
    return save_figure(fig, path)


def _projection_figure(emb: SplitEmbeddings, path: Path, split: str) -> Path:
    """A 2-D PCA of all the split's embeddings, coloured by object and by action."""
    from sklearn.decomposition import PCA

    mods = list(emb.embeds)
    stacked = np.concatenate([emb.embeds[m] for m in mods])  # (sum n_m, E)
    pos = np.concatenate([emb.index[m] for m in mods])
    which = np.concatenate([[k] * len(emb.embeds[m]) for k, m in enumerate(mods)])
    xy = PCA(n_components=2).fit_transform(stacked) if len(stacked) > 2 else stacked[:, :2]
    markers = {Modality.VIDEO: "o", Modality.AUDIO: "^", Modality.TEXT: "s"}
    if emb.labels is not None:
        parts = np.array([lab.split(":") for lab in emb.labels[pos]])  # (n, 2)
        facets = [("object", parts[:, 0]), ("action", parts[:, 1])]
    else:
        facets = [("modality", np.array([mods[k].value for k in which]))]
    fig = new_figure(5.2 * len(facets), 4.6)
    cmap = __import__("matplotlib").colormaps["tab10"]
    for f, (title, colour_by) in enumerate(facets):
        ax = fig.add_subplot(1, len(facets), f + 1)
        names = sorted(set(colour_by.tolist()))
        for c, name in enumerate(names):
            for k, m in enumerate(mods):
                sel = (colour_by == name) & (which == k)
                if sel.any():
                    ax.scatter(xy[sel, 0], xy[sel, 1], s=10, alpha=0.7, color=cmap(c % 10),
                               marker=markers[m], label=name if k == 0 else None)  # fmt: skip
        ax.set_title(f"{split}: coloured by {title}")
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.legend(fontsize=7, markerscale=1.5, loc="best")
    fig.suptitle("marker: " + ", ".join(f"{markers[m]} {m.value}" for m in mods), fontsize=8)
    return save_figure(fig, path)


# ----------------------------------------------------------------------------- report


def format_report(results: dict[str, Any]) -> str:
    """``report.md`` from ``results.json``'s contents."""
    n = len(results["runs"])
    lines = [
        "# Cross-modal retrieval in the joint space",
        "",
        f"Dataset: `{results['dataset']}`  ",
        f"Runs: {n} (seeds {', '.join(map(str, results['seeds']))}); model ids "
        f"{', '.join(results['model_ids'])}  ",
        "Numbers are mean ± std over the runs; MdR = median rank of the first relevant clip. "
        "Relevance `label` = same (object, action); `instance` = the query's own clip.",
        "",
    ]
    if results["targets"]:
        lines += ["## Targets", ""]
        rows = [[f"{t['split']} {t['pair']} ({t['relevance']}) R@1", f"≥ {t['target']}",
                 fmt_mean_std({"mean": t["mean"], "std": t["std"], "values": [0] * n}, 3),
                 "met" if t["met"] else "**missed**"] for t in results["targets"]]  # fmt: skip
        lines += [markdown_table(["target", "wanted", "measured", ""], rows), ""]
    headers = ["pair", "relevance", "rows", "queries", *[METRIC_NAMES[k] for k in METRICS]]
    for split, entry in results["splits"].items():
        lines += [f"## Split `{split}` ({entry['clips']} clips)", ""]
        table = []
        for pair, modes in entry["model"].items():
            for mode, stat in modes.items():
                table.append([pair, mode, "model", stat["n_queries"],
                              *[fmt_mean_std(stat[k], 3) for k in METRICS]])  # fmt: skip
                for ref in ("asr_minilm", "chance"):
                    r = entry.get(ref, {}).get(pair, {}).get(mode)
                    if r is not None:
                        table.append([pair, mode, ref, r["n_queries"],
                                      *[f"{r[k]:.3f}" for k in METRICS]])  # fmt: skip
        lines += [markdown_table(headers, table), ""]
        figs = results["figures"][split]
        lines += [f"![similarity]({figs['similarity']})", "",
                  f"![projection]({figs['projection']})", ""]  # fmt: skip
    asr = results["asr_minilm"]
    lines += [
        "## Reference rows",
        "",
        "- `chance`: random unit embeddings, same queries, galleries and relevance.",
    ]
    if "absent" in asr:
        lines.append(f"- `asr_minilm`: absent — {asr['absent']}.")
    else:
        for split, info in asr.items():
            lines.append(
                f"- `asr_minilm` ({split}): Whisper tiny.en transcript (free transcription) "
                f"embedded by MiniLM, matched to MiniLM of the text; {info['clips']} clips, "
                f"mean WER {info['wer_mean']:.2f}, {info['empty']} empty transcripts."
            )
    lines.append("- Video pairs have no frozen-feature row: no encoder available offline maps "
                 "video into a space shared with audio or text.")  # fmt: skip
    return "\n".join(lines) + "\n"

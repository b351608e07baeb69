"""``xmodal eval translate``: a fitted run judged on a world's split, as JSON and Markdown.

:func:`evaluate_translation` loads a run directory, speaks every clip of the split and judges
it with both listeners beside their ceilings (:func:`~xmodal.translate.judges.speech_scores`),
then writes ``results.json`` and ``report.md``. :func:`judges_table` and :func:`pairs_table`
render the judges' numbers; the thesis study's report and the demo use them too.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xmodal.data.splits import SPLITS as EVAL_SPLITS
from xmodal.translate.judges import SOURCES

RESULTS_VERSION = 1
SOURCE_LABELS = {
    "model": "model",
    "vocoder_ceiling": "ceiling: canonical phrase through the vocoder",
    "own_audio": "ceiling: the clip's own audio",
}


def _cell(value: Any) -> str:
    from xmodal.evaluation.report import fmt_mean_std

    return fmt_mean_std(value) if isinstance(value, dict) else f"{value:.2f}"


def judges_table(scores: dict[str, dict[str, Any]]) -> str:
    """One row per (pipeline, split, what was heard, judge): object, action, both words.

    Args:
        scores: ``{label: {split: speech_scores(...)}}``; the accuracies may be floats (one
            run) or ``mean_std`` dicts (over seeds). A label ``"ceilings (…)"`` names its
            ceiling rows: ``"ceiling: … through the vocoder (…)"``.
    """
    from xmodal.evaluation.report import markdown_table

    rows = []
    for label, splits in scores.items():
        suffix = label[len("ceilings") :] if label.startswith("ceilings") else ""
        for split, s in splits.items():
            for kind in SOURCES:
                for judge, t in s.get(kind, {}).items():
                    rows.append([label if kind == "model" else SOURCE_LABELS[kind] + suffix, split,
                                 s["clips"], judge, _cell(t["object"]), _cell(t["action"]),
                                 _cell(t["both"])])  # fmt: skip
    return markdown_table(["speech", "split", "clips", "judge", "object heard", "action heard",
                           "both words"], rows)  # fmt: skip


def pairs_table(per_pair: dict[str, dict[str, Any]], top: int = 2) -> str:
    """Per pair, each judge's both-words share and what it heard most often.

    Args:
        per_pair: ``{judge: tally["per_pair"]}`` of one run.
        top: transcripts shown per pair and judge.
    """
    from xmodal.evaluation.report import markdown_table

    judges = list(per_pair)
    pairs = sorted({p for j in judges for p in per_pair[j]})
    headers = ["pair", "clips"]
    for j in judges:
        headers += [f"{j}: both", f"{j}: heard"]
    rows = []
    for pair in pairs:
        first = per_pair[judges[0]][pair]
        row: list[Any] = [pair, first["clips"]]
        for j in judges:
            e = per_pair[j][pair]
            heard = sorted(e["heard"].items(), key=lambda kv: -kv[1])[:top]
            row += [f"{e['both']:.2f}", "; ".join(f"{t!r} ×{n}" for t, n in heard)]
        rows.append(row)
    return markdown_table(headers, rows)


def aggregate(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std over runs (seeds) of one split's :func:`~xmodal.translate.judges.speech_scores`.

    Returns:
        ``{"clips", "chance", "model": {judge: {"object", "action", "both": mean_std}},
        "per_pair_first": {judge: per_pair of the first run}}`` plus the ceilings the first run
        carries (they do not depend on the run).
    """
    from xmodal.evaluation.report import aggregate_seeds

    first = runs[0]
    out: dict[str, Any] = {"clips": first["clips"], "chance": first["chance"]}
    keys = ("object", "action", "both")
    out["model"] = {judge: aggregate_seeds([{k: r["model"][judge][k] for k in keys} for r in runs])
                    for judge in first["model"]}  # fmt: skip
    out["per_pair_first"] = {j: t["per_pair"] for j, t in first["model"].items()}
    for kind in ("vocoder_ceiling", "own_audio"):
        if kind in first:
            out[kind] = first[kind]
    return out


def group_diagnostics(pipe: Any, feats: Any, seed: int = 0) -> dict[str, Any]:
    """What each latent group of a structured pipeline carries (labels used only here).

    - ``probes``: a logistic regression per (group, factor), fitted on the train clips' posterior
      means, scored on val, test and held-out: the object should be read from the appearance
      group and the action from the motion group; crossed, near chance;
    - ``disentanglement``: MIG, DCI (disentanglement, completeness, informativeness) and SAP of
      each group against (object, action), over every clip.

    Returns:
        ``{"chance": {factor: 1/n}, "probes": {group: {factor: {split: accuracy}}},
        "disentanglement": {group: {metric: value}}}``.
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from xmodal.evaluation.disentanglement import dci, mig, sap
    from xmodal.types import Modality

    info = feats.info
    splits = [s for s in ("train", "val", "test", "heldout") if feats.split(s)]
    rows = {s: feats.split(s) for s in splits}
    codes = {s: pipe.latent_groups(feats.arrays(Modality.VIDEO, rows[s])) for s in splits}
    names = {"object": list(info["objects"]), "action": list(info["actions"])}
    labels = {s: {f: np.array([names[f].index(r[f]) for r in rows[s]]) for f in names}
              for s in splits}  # fmt: skip
    out: dict[str, Any] = {"chance": {f: 1.0 / len(v) for f, v in names.items()},
                           "probes": {}, "disentanglement": {}}  # fmt: skip
    for group in codes["train"]:
        out["probes"][group] = {}
        for factor in names:
            clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
            clf.fit(codes["train"][group], labels["train"][factor])
            out["probes"][group][factor] = {
                s: float(clf.score(codes[s][group], labels[s][factor])) for s in splits[1:]
            }
        z = np.concatenate([codes[s][group] for s in splits])
        factors = np.stack([np.concatenate([labels[s][f] for s in splits]) for f in names], 1)
        d = dci(z, factors, seed=seed, n_estimators=20)
        out["disentanglement"][group] = {
            "mig": mig(z, factors), "dci_disentanglement": d.disentanglement,
            "dci_completeness": d.completeness, "dci_informativeness": d.informativeness,
            "sap": sap(z, factors, seed=seed),
        }  # fmt: skip
    return out


def groups_tables(runs: Sequence[dict[str, Any]]) -> str:
    """Markdown of :func:`group_diagnostics` over runs (mean ± std): probes, then MIG/DCI/SAP."""
    from xmodal.evaluation.report import aggregate_seeds, fmt_mean_std, markdown_table

    first = runs[0]
    rows = []
    for group, factors in first["probes"].items():
        for factor, splits in factors.items():
            stats = aggregate_seeds([r["probes"][group][factor] for r in runs])
            rows.append([group, factor, f"{first['chance'][factor]:.2f}",
                         *(fmt_mean_std(stats[s]) for s in splits)])  # fmt: skip
    split_names = list(next(iter(next(iter(first["probes"].values())).values())))
    probes = markdown_table(["group", "probe of", "chance", *split_names], rows)
    metrics = list(next(iter(first["disentanglement"].values())))
    rows = []
    for group in first["disentanglement"]:
        stats = aggregate_seeds([r["disentanglement"][group] for r in runs])
        rows.append([group, *(fmt_mean_std(stats[m]) for m in metrics)])
    return probes + "\n" + markdown_table(["group", *metrics], rows)


def evaluate_translation(
    models: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    splits: tuple[str, ...] = ("test",),
    *,
    ceilings: bool | dict[str, Any] = True,
    workers: int = 1,
    per_pair: int | None = None,
    judges: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Judge fitted translation runs (one, or one per seed) on splits of a world; write
    ``results.json`` + ``report.md``.

    Args:
        models: a run directory (``xmodal train translate``), or several runs of the same
            pipeline (seeds): their scores are reported as mean ± std.
        data: an object-action world (its features are extracted if missing).
        out: the report directory.
        splits: which splits to speak and judge.
        ceilings: judge the vocoder ceiling and the clips' own audio once (True), or take them
            already judged (``{split: ceiling_scores(...)}``), or neither (False).
        workers: processes that speak and judge the clips (1: this one; each loads its own
            Whisper and pocketsphinx).
        per_pair: judge only the first this many clips of each pair of a split (None: all;
            recorded as ``per_pair``).
        judges: speak and judge the clips; False: only the distances to the target and, for a
            structured run, the latent diagnostics (seconds instead of minutes; ``splits`` and
            ``runs`` are then empty).
        progress: show progress bars.

    Returns:
        The results written to ``results.json``: ``models``, ``seeds``, ``label``, ``dataset``,
        ``speech_steps``, ``splits`` (``{split: aggregate(...)}``), ``runs`` (each run's
        ``{split: speech_scores}``), ``distance`` (each run's
        :func:`~xmodal.translate.distance.distance_scores`), ``seconds``.

    Raises:
        FileNotFoundError: not a run directory, or not a dataset directory.
        ValueError: an unknown split, a split the world does not have, or runs that are not
            seeds of one pipeline.
    """
    from xmodal.translate.distance import distance_scores, distance_table
    from xmodal.translate.features import load_clip_features
    from xmodal.translate.judges import ceiling_scores, speech_scores
    from xmodal.translate.pipeline import TranslationPipeline
    from xmodal.utils import write_json
    from xmodal.workers import worker_pool

    bad = [s for s in splits if s not in EVAL_SPLITS]
    if bad:
        raise ValueError(f"unknown splits {bad}; expected some of {list(EVAL_SPLITS)}")
    t0 = time.perf_counter()
    paths = [models] if isinstance(models, (str, os.PathLike)) else list(models)
    if not paths:
        raise ValueError("no translation run to evaluate")
    pipes = [TranslationPipeline.load(m) for m in paths]
    settings = {(p.label, p.config.speech_steps, repr(p.config.canonical)) for p in pipes}
    if len(settings) > 1:
        raise ValueError(f"runs {[str(m) for m in paths]} are not seeds of one pipeline: "
                         f"{sorted(s[0] for s in settings)}")  # fmt: skip
    if not Path(data).is_dir():
        raise FileNotFoundError(f"{data}: dataset directory does not exist")
    feats = load_clip_features(data, pipes[0].config, progress)
    empty = [s for s in splits if not feats.split(s)]
    if empty:
        raise ValueError(f"{data}: no clips in split(s) {empty}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    with contextlib.ExitStack() as stack:
        if not judges:
            splits_judged: tuple[str, ...] = ()
            ceilings = False
        else:
            splits_judged = splits
        pool = (stack.enter_context(worker_pool(workers))
                if workers > 1 and splits_judged else None)  # fmt: skip
        if ceilings is True:
            ceilings = {s: ceiling_scores(feats, s, pipes[0].config, progress=progress,
                                          pool=pool, per_pair=per_pair)
                        for s in splits_judged}  # fmt: skip
        runs = [{s: speech_scores(p, feats, s, progress=progress, pool=pool, per_pair=per_pair,
                                  ceilings=ceilings[s] if ceilings else False)
                 for s in splits_judged} for p in pipes] if splits_judged else []  # fmt: skip
    pipe = pipes[0]
    results = {
        "study": "eval-translate",
        "version": RESULTS_VERSION,
        "models": [str(Path(m).resolve()) for m in paths],
        "seeds": [p.meta["seed"] for p in pipes],
        "label": pipe.label,
        "dataset": str(Path(data).resolve()),
        "speech_steps": pipe.config.speech_steps,
        "per_pair": per_pair,
        "splits": {s: aggregate([r[s] for r in runs]) for s in splits_judged},
        "runs": runs,
    }
    results["distance"] = [distance_scores(p, feats, splits, seed=p.meta["seed"]) for p in pipes]
    if pipes[0].config.source == "structured":
        results["groups"] = [group_diagnostics(p, feats, seed=p.meta["seed"]) for p in pipes]
    results["seconds"] = round(time.perf_counter() - t0, 1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", results)
    how = "not spoken or judged (--no-judges)."
    if judges:
        how = (
            "Griffin–Lim. Judges: pocketsphinx under the 25-phrase grammar, and Whisper "
            "tiny.en free transcription (no prompt)."
            + ("" if per_pair is None else f" The first {per_pair} clips of each pair only.")
        )
    lines = [
        f"# Translation judged: {pipe.label}",
        "",
        f"{len(paths)} run(s) (seeds {results['seeds']}; mean ± std over them) on "
        f"`{results['dataset']}`; speech at {pipe.config.speech_steps} log-mel frames per clip, "
        + how,
    ]
    if judges:
        lines += ["", judges_table({pipe.label: results["splits"]})]
    for split, s in results["splits"].items():
        lines += ["", f"## Per pair, {split} (seed {results['seeds'][0]})", "",
                  pairs_table(s["per_pair_first"])]  # fmt: skip
    lines += ["", "## Distance to the target", "",
              "Cosine distance ×100 between each clip's predicted and target speech frames "
              "(what the pipeline learnt to say; standardised with the train targets), beside "
              "the reference rows and the oracle (each pair's mean target; it reads the "
              "targets). Gap closed = (train mean − model) / (train mean − oracle). Every clip "
              "of each split:", "",
              distance_table(results["distance"])]  # fmt: skip
    if "groups" in results:
        lines += ["", "## What each latent group carries", "",
                  "Linear probes fitted on the train clips' posterior means (labels are used "
                  "for these diagnostics only), and MIG/DCI/SAP of each group over every clip:",
                  "", groups_tables(results["groups"])]  # fmt: skip
    lines += ["", f"Wall time {results['seconds']:.0f} s."]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return results


def plot_clip(
    path: str | os.PathLike[str],
    frames: Any,
    predicted: Any,
    canonical: Any,
    *,
    title: str,
    heard: dict[str, str] | None = None,
    n_frames: int = 6,
) -> Path:
    """A PNG of one translated clip: frames across the clip, then the predicted and the
    canonical log-mel on one colour scale.

    Args:
        path: the PNG to write.
        frames: ``(T, H, W, 3)`` uint8 video frames.
        predicted: ``(S, n_mels)`` the translator's log-mel.
        canonical: ``(S, n_mels)`` the canonical phrase's log-mel at the same S.
        title: the figure's title.
        heard: ``{judge: transcript}`` shown under the predicted log-mel.
        n_frames: frames shown.
    """
    import numpy as np

    from xmodal.evaluation.report import new_figure, save_figure

    frames = np.asarray(frames)
    fig = new_figure(11, 6.2)
    grid = fig.add_gridspec(3, n_frames, height_ratios=[1.0, 1.1, 1.1])
    picks = np.linspace(0, len(frames) - 1, n_frames).round().astype(int)
    for i, t in enumerate(picks):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(frames[t])
        ax.set_axis_off()
        ax.set_title(f"frame {t}", fontsize=7)
    lo = float(min(np.min(predicted), np.min(canonical)))
    hi = float(max(np.max(predicted), np.max(canonical)))
    listened = "; ".join(f"{j}: {t!r}" for j, t in (heard or {}).items())
    panels = ((predicted, f"predicted log-mel  ({listened})"),
              (canonical, "canonical phrase log-mel"))  # fmt: skip
    for row, (logmel, name) in enumerate(panels, start=1):
        ax = fig.add_subplot(grid[row, :])
        ax.imshow(np.asarray(logmel).T, origin="lower", aspect="auto", cmap="magma", vmin=lo,
                  vmax=hi)  # fmt: skip
        ax.set_ylabel("mel bin", fontsize=7)
        ax.set_title(name, fontsize=8, loc="left")
    ax.set_xlabel("log-mel frame")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)

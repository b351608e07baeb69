"""``xmodal eval translate``: a fitted run judged on a world's split, as JSON and Markdown.

:func:`evaluate_translation` loads a run directory, speaks every clip of the split and judges
it with both listeners beside their ceilings (:func:`~xmodal.translate.judges.speech_scores`),
then writes ``results.json`` and ``report.md``. :func:`judges_table` and :func:`pairs_table`
render the judges' numbers; the thesis study's report and the demo use them too.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from xmodal.translate.judges import SOURCES

RESULTS_VERSION = 1
SOURCE_LABELS = {
    "model": "model",
    "vocoder_ceiling": "ceiling: canonical phrase through the vocoder",
    "own_audio": "ceiling: the clip's own audio",
}
EVAL_SPLITS = ("train", "val", "test", "heldout")


def _cell(value: Any) -> str:
    from xmodal.evaluation.report import fmt_mean_std

    return fmt_mean_std(value) if isinstance(value, dict) else f"{value:.2f}"


def judges_table(scores: dict[str, dict[str, Any]]) -> str:
    """One row per (pipeline, split, what was heard, judge): object, action, both words.

    Args:
        scores: ``{label: {split: speech_scores(...)}}``; the accuracies may be floats (one
            run) or ``mean_std`` dicts (over seeds).
    """
    from xmodal.evaluation.report import markdown_table

    rows = []
    for label, splits in scores.items():
        for split, s in splits.items():
            for kind in SOURCES:
                for judge, t in s.get(kind, {}).items():
                    rows.append([label if kind == "model" else SOURCE_LABELS[kind], split,
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


def evaluate_translation(
    model: str | os.PathLike[str],
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    splits: tuple[str, ...] = ("test",),
    *,
    ceilings: bool | dict[str, Any] = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Judge a fitted translation run on splits of a world; write ``results.json`` + ``report.md``.

    Args:
        model: a run directory (``xmodal train translate``).
        data: an object-action world (its features are extracted if missing).
        out: the report directory.
        splits: which splits to speak and judge.
        ceilings: also judge the vocoder ceiling and the clips' own audio (True), or take them
            already judged (``{split: ceiling_scores(...)}``), or neither (False).
        progress: show progress bars.

    Returns:
        The results written to ``results.json``: ``model``, ``label``, ``dataset``, ``splits``
        (``{split: speech_scores}``), ``seconds``.

    Raises:
        FileNotFoundError: not a run directory, or not a dataset directory.
        ValueError: an unknown split, or a split the world does not have.
    """
    from xmodal.translate.features import load_clip_features
    from xmodal.translate.judges import speech_scores
    from xmodal.translate.pipeline import TranslationPipeline
    from xmodal.utils import write_json

    bad = [s for s in splits if s not in EVAL_SPLITS]
    if bad:
        raise ValueError(f"unknown splits {bad}; expected some of {list(EVAL_SPLITS)}")
    t0 = time.perf_counter()
    pipe = TranslationPipeline.load(model)
    if not Path(data).is_dir():
        raise FileNotFoundError(f"{data}: dataset directory does not exist")
    feats = load_clip_features(data, pipe.config, progress)
    empty = [s for s in splits if not feats.split(s)]
    if empty:
        raise ValueError(f"{data}: no clips in split(s) {empty}")
    scores = {s: speech_scores(pipe, feats, s, progress=progress,
                               ceilings=ceilings[s] if isinstance(ceilings, dict) else ceilings)
              for s in splits}  # fmt: skip
    results = {
        "study": "eval-translate",
        "version": RESULTS_VERSION,
        "model": str(Path(model).resolve()),
        "label": pipe.label,
        "dataset": str(Path(data).resolve()),
        "speech_steps": pipe.config.speech_steps,
        "splits": scores,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", results)
    lines = [
        f"# Translation judged: {pipe.label}",
        "",
        f"Run `{results['model']}` on `{results['dataset']}`; speech at "
        f"{pipe.config.speech_steps} log-mel steps per clip, Griffin–Lim. Judges: pocketsphinx "
        "under the 25-phrase grammar, and Whisper tiny.en free transcription (no prompt).",
        "",
        judges_table({pipe.label: scores}),
    ]
    for split, s in scores.items():
        lines += ["", f"## Per pair, {split}", "",
                  pairs_table({j: t["per_pair"] for j, t in s["model"].items()})]  # fmt: skip
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

"""The real-footage sync study's report: results.json, report.md and its plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xmodal.evaluation.report import fmt_mean_std, markdown_table, new_figure, save_figure

SET_TITLES = {
    "dev": "Development clips (every choice made here; learned methods leave-one-video-out)",
    "second": "Second set (never used for a choice; learned methods trained on all dev clips)",
    "frozen": "Frozen final split (picked before any tuning, reported once; trained on all dev "
    "clips)",
}
TARGETS = {"relative": 0.90, "absolute": 0.90, "swaps_flagged": 0.90, "in_sync_matching": 0.90}
FLOORS = {"relative": 0.75, "absolute": 0.50}


def _main(results: dict[str, Any]) -> dict[str, Any]:
    """The main method's entry: ``multiway`` when it ran, else the last method."""
    methods = results["methods"]
    return methods.get("multiway") or methods[list(methods)[-1]]


def _pct(stat: dict[str, Any]) -> str:
    if not stat or stat.get("mean") is None or np.isnan(stat["mean"]):
        return "n/a"
    scaled = {**stat, "mean": 100 * stat["mean"], "std": 100 * stat["std"]}
    scaled["values"] = stat.get("values", [])
    return fmt_mean_std(scaled, 1)


def summary_table(results: dict[str, Any], s: str) -> str:
    """One row per method on set ``s``: accuracies, errors and flags."""
    headers = [
        "method",
        "relative ±1 %",
        "absolute ±1 %",
        "absolute ±2 %",
        "MAE abs (frames)",
        "in-sync matching %",
        "swaps flagged %",
        "ROC AUC",
    ]
    rows = []
    for m in results["methods"].values():
        e = m.get(s)
        if not e:
            continue
        rows.append(
            [
                m["title"],
                _pct(e["relative"]),
                _pct(e["absolute"]),
                _pct(e["absolute_2"]),
                fmt_mean_std(e["mae_absolute"], 2),
                _pct(e.get("in_sync_matching", {})),
                _pct(e.get("swaps_flagged", {})),
                fmt_mean_std(e["auc"], 3) if e.get("auc") else "n/a",
            ]
        )
    return markdown_table(headers, rows)


def clip_table(results: dict[str, Any], s: str) -> str:
    """Per clip, the main method (seed 0): its estimate at 0, accuracies and confidence."""
    main = _main(results)
    e = main.get(s)
    if not e:
        return ""
    conf0 = {
        r["clip"]: r["confidence"] for r in e["confidences"] if r["kind"] == "shift" and r["k"] == 0
    }
    rows = []
    for clip, c in e["per_clip"][0].items():
        others = [
            m[s]["per_clip"][0][clip]["est0"] for m in results["methods"].values() if m.get(s)
        ]
        rows.append(
            [
                clip,
                f"{c['est0']:+d}",
                " ".join(f"{o:+d}" for o in others),
                f"{100 * c['relative']:.0f}",
                f"{100 * c['absolute']:.0f}",
                f"{conf0.get(clip, float('nan')):.1f}",
            ]
        )
    headers = [
        "clip",
        "est. offset of the published clip",
        "same, every method (table order)",
        "relative %",
        "absolute %",
        "confidence",
    ]
    return markdown_table(headers, rows)


def _finish(fig: Any, ax: Any, xlabel: str, ylabel: str, title: str, out: Path) -> Path:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    return save_figure(fig, out)


def plot_offsets(results: dict[str, Any], s: str, out: Path) -> Path | None:
    """Estimated against injected offset, per clip (main method, seed 0)."""
    main = _main(results)
    e = main.get(s)
    if not e:
        return None
    ks = results["config"]["offsets"]
    fig = new_figure(6.4, 4.6)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(ks, ks, color="black", lw=2, label="truth (absolute)")
    for clip, c in e["per_clip"][0].items():
        ax.plot(ks, c["estimates"], marker=".", lw=0.8, alpha=0.8, label=clip[:14])
    xlabel = "injected offset (frames; positive = audio leads)"
    return _finish(fig, ax, xlabel, "estimated offset (frames)", f"{main['title']}: {s}", out)


def plot_curves(results: dict[str, Any], s: str, out: Path) -> Path | None:
    """The main method's evidence curve of each published clip (seed 0)."""
    e = results["methods"].get("multiway", {}).get(s)
    if not e or not e["curves"]:
        return None
    m = results["config"]["max_offset"]
    fig = new_figure(6.4, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    for clip, curve in e["curves"].items():
        c = np.asarray(curve)
        ax.plot(range(-m, m + 1), c - np.median(c), lw=1, label=clip[:14])
    ax.axvline(0, color="black", lw=0.8)
    title = f"multi-way evidence per offset, published clips ({s})"
    xlabel = "offset (frames; positive = audio leads)"
    return _finish(fig, ax, xlabel, "mean log-probability - median", title, out)


def plot_roc(results: dict[str, Any], s: str, out: Path) -> Path | None:
    """ROC of the confidence: in-sync copies against swapped audio, per method (seed 0)."""
    fig = new_figure(4.8, 4.4)
    ax = fig.add_subplot(1, 1, 1)
    drawn = False
    for m in results["methods"].values():
        e = m.get(s)
        if e and e.get("roc"):
            auc = e["auc"]["mean"]
            ax.plot(e["roc"]["fpr"], e["roc"]["tpr"], label=f"{m['title'][:34]} ({auc:.3f})")
            drawn = True
    if not drawn:
        return None
    ax.plot([0, 1], [0, 1], color="grey", ls=":")
    ax.set_xlabel("swapped audio called matching (FPR)")
    ax.set_ylabel("in-sync copies called matching (TPR)")
    ax.set_title(f"confidence ROC ({s})", fontsize=9)
    ax.legend(fontsize=6)
    return save_figure(fig, out)


def report_markdown(results: dict[str, Any]) -> str:
    """The human report."""
    cfg = results["config"]
    lines = [
        "# Sync on real footage",
        "",
        f"Data: `{results['data']}`. Offsets injected: {cfg['offsets'][0]}..{cfg['offsets'][-1]} "
        f"frames ({len(cfg['offsets'])} copies per clip); search ±{cfg['max_offset']} frames; "
        f"seeds of the multi-way model: {cfg['seeds']}. Accuracy: estimate within ±1 frame.",
        "",
    ]
    for s, title in SET_TITLES.items():
        clips = results["clips"].get(s) or []
        if not clips:
            continue
        lines += [f"## {title}", "", f"{len(clips)} clips: {', '.join(clips)}.", ""]
        lines += [summary_table(results, s), clip_table(results, s)]
        main = _main(results).get(s, {})
        thr = main.get("dev_threshold") or {}
        if thr:
            lines.append(
                f"Confidence threshold chosen on the development clips (all of them): "
                f"{fmt_mean_std(thr, 2)}; on the development set each clip is judged with the "
                f"threshold chosen without it.\n"
            )
    if results.get("decisions"):
        lines += decisions_markdown(results["decisions"])
    if results["skipped"]:
        lines += ["## Skipped", ""] + [f"- {s}" for s in results["skipped"]] + [""]
    lines.append(f"Study time: {results['seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


def decisions_table(dec: dict[str, Any]) -> str:
    """Per set: what `xmodal sync check` answers, and how right the answers are."""
    headers = ["set", "copies", "answered %", "clear %", "low confidence %",
               "relative ±1 of answered %", "absolute ±1 of answered %", "relative ±1 of all %",
               "swaps", "swaps flagged not matching %",
               "views agree (copies / swaps) %"]  # fmt: skip
    rows = []
    for s, e in dec["sets"].items():
        rows.append([s, e["copies"], _pct(e["coverage"]), _pct(e["clear"]), _pct(e["low"]),
                     _pct(e["relative_answered"]), _pct(e["absolute_answered"]),
                     _pct(e["relative_all"]), e["swaps"], _pct(e["swaps_flagged"]),
                     f"{_pct(e['views_agree_copies'])} / "
                     f"{_pct(e['views_agree_swaps'])}"])  # fmt: skip
    return markdown_table(headers, rows)


def decisions_markdown(dec: dict[str, Any]) -> list[str]:
    """The section on degraded answers and the two views."""
    shipped = dec["shipped"]
    lines = [
        "## What `xmodal sync check` answers: clear, low confidence, or not matching", "",
        f"The lip model ({dec['model']}) and a training-free cue ({dec['cue']}) decide together "
        "(xmodal.sync.decide): the score is the model's confidence, plus a bonus when the cue's "
        "offset is within a frame of the model's; at or above the clear threshold the offset is "
        "clear, at or above the floor it is given with low confidence, below it the answer is "
        f"not matching. The floor flags {100 * dec['flagged']:.0f}% of the calibration swaps; "
        f"the bonus (among {', '.join(f'{b:g}' for b in dec['bonuses'])}) is the one answering "
        "the most in-sync copies there. Development clips are decided with thresholds "
        "calibrated without them (leave-one-video-out); other sets with those of every "
        "development row. Multi-way seeds: mean ± std.", "",
        decisions_table(dec), "",
        f"Thresholds to ship (all development rows, mean over seeds): clear "
        f"{shipped['clear']:.2f}, floor {shipped['floor']:.2f}, agreement bonus "
        f"{shipped['agree_bonus']:.2f}.", "",
    ]  # fmt: skip
    for s in dec["sets"]:
        lines.append(f"![coverage against accuracy, {s}](tradeoff_{s}.png)")
    return lines + [""]


def plot_trade_off(results: dict[str, Any], s: str, out: Path) -> Path | None:
    """Coverage of in-sync copies against the relative accuracy of the answered ones, and the
    share of swaps flagged, as the floor sweeps (seed 0)."""
    e = (results.get("decisions") or {}).get("sets", {}).get(s)
    if not e or not e["trade_off_seed0"]:
        return None
    pts = e["trade_off_seed0"]
    fig = new_figure(5.6, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    cov = [p["coverage"] for p in pts]
    ax.plot(cov, [p["accuracy"] for p in pts], marker=".", label="relative ±1 of the answered")
    ax.plot(cov, [p["swaps_flagged"] for p in pts], marker=".", ls="--",
            label="swaps flagged not matching")  # fmt: skip
    ax.scatter([e["coverage"]["mean"]], [e["relative_answered"]["mean"]], color="tab:red",
               zorder=5, label="the calibrated floor")  # fmt: skip
    ax.set_ylim(0, 1.02)
    title = f"{s}: the floor swept (agreement bonus {e['trade_off_bonus']:g}, seed 0)"
    return _finish(fig, ax, "in-sync copies answered (coverage)", "share", title, out)


def write_report(results: dict[str, Any], out: Path) -> None:
    """``results.json``, ``report.md`` and the plots in ``out``."""
    from xmodal.utils import atomic_path, write_json

    out.mkdir(parents=True, exist_ok=True)
    plots = {}
    for s in SET_TITLES:
        for kind, fn in (("offsets", plot_offsets), ("curves", plot_curves), ("roc", plot_roc),
                         ("tradeoff", plot_trade_off)):  # fmt: skip
            path = fn(results, s, out / f"{kind}_{s}.png")
            if path is not None:
                plots[f"{kind}_{s}"] = path.name
    results["plots"] = plots
    write_json(out / "results.json", results)
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(report_markdown(results))

"""The thesis study's report: tables, ``report.md`` and the plots (measured facts only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xmodal.evaluation.studies.thesis.config import SPLITS, THESIS_CLAIMS, ThesisStudyConfig
from xmodal.evaluation.studies.thesis.tasks import ThesisData
from xmodal.translate.evaluate import pairs_table
from xmodal.types import Modality


def target_line(target: dict[str, Any]) -> str:
    """One target of ``results["targets"]`` as text: what, the measured value and the target."""
    return (
        f"{target['what']}: {target['value']:.3f} "
        f"(target {target['comparison']} {target['target']})"
    )


def results_table(results: dict[str, Any], schedules: str = "main") -> str:
    """The main table: every row (a)–(d) and the reference rows, mean ± std over seeds.

    Args:
        results: what :func:`run_study` returned.
        schedules: ``"main"`` lists (b)/(c) for the main schedule only; ``"all"`` for each.
    """
    from xmodal.evaluation.report import fmt_mean_std, markdown_table

    main = results["config"]["main_schedule"]
    headers = ["row", "test cos×100", "test MSE", "held-out cos×100", "held-out MSE",
               "held-out object acc", "held-out action acc"]  # fmt: skip

    def cells(metrics: dict[str, Any]) -> list[str]:
        out = []
        for split, metric, digits in (("test", "cosine_x100", 2), ("test", "mse", 3),
                                      ("heldout", "cosine_x100", 2), ("heldout", "mse", 3),
                                      ("heldout", "object_accuracy", 2),
                                      ("heldout", "action_accuracy", 2)):  # fmt: skip
            stat = metrics.get(split, {}).get(metric)
            out.append(fmt_mean_std(stat, digits) if stat else "n/a")
        return out

    rows = []
    for key, model in results["models"].items():
        tag = key.split("/", 1)[-1]
        if schedules == "main" and key != "baseline" and tag not in (main, "leaky"):
            continue
        rows.append([model["label"], *cells(model["metrics"])])
    for name, metrics in results["references"].items():
        rows.append([f"reference: {name}", *cells(metrics)])
    return markdown_table(headers, rows)


def speech_table(results: dict[str, Any]) -> str:
    """Object, action and both words heard in the generated speech, per pipeline, split and
    judge, beside each judge's ceilings (mean ± std over seeds)."""
    from xmodal.translate.evaluate import judges_table

    rows, ceilings = {}, {"ceilings": results["speech"].get("ceilings", {})}
    for source, m in results["speech"]["models"].items():
        rows[m["label"]] = {s: {k: v for k, v in e.items() if k != "vocoder_ceiling"}
                            for s, e in m["splits"].items()}  # fmt: skip
        own = {s: {"clips": e["clips"], "vocoder_ceiling": e["vocoder_ceiling"]}
               for s, e in m["splits"].items() if "vocoder_ceiling" in e}  # fmt: skip
        if own:  # a pipeline with its own voice (variants share their model's): named once
            v = m.get("voice", {})
            ceilings[f"ceilings ({v.get('engine')} {v.get('voice')}, {v.get('layout')}: the "
                     f"{source.partition('-')[0]} model's voice)"] = own  # fmt: skip
    return judges_table({**rows, **ceilings})


def report_markdown(results: dict[str, Any]) -> str:
    """The human report (``report.md``)."""
    from xmodal.evaluation.report import fmt_mean_std, markdown_table

    cfg, feats, ds = results["config"], results["features"], results["dataset"]
    ev = feats["explained_variance"]
    n = len(results["seeds"])
    lines = [
        "# Thesis study: β-VAE latents + Seq2Seq, 9 β schedules, compositional generalisation",
        "",
        f"Dataset `{ds['path']}`: {ds['clips']} clips, splits {ds['splits']}; held-out pairs "
        f"{', '.join(ds['heldout_pairs'])} (never in train/val).",
        f"Features: video `{feats['video']}` at {feats['video_fps'] or 'native'} fps, audio "
        f"`{feats['audio']}`; {feats['steps']} segments; PCA video {feats['video_pca']} "
        f"(explained variance {_pct(ev.get('video'))}), audio {feats['audio_pca']} "
        f"({_pct(ev.get('audio'))}); MinMax; all fitted on train.",
        f"Target of rows (a)–(d): {results['target']}. Mean ± std over {n} seed(s).",
        "",
        "## Results (cosine distance ×100, MSE; lower is better)",
        "",
        results_table(results, "main"),
        "The pair-mean bound predicts each clip with the mean of its split's other clips of the "
        "same (object, action) (leave-one-out): it reads the targets, so it is not a model but "
        "the distance that the audio's own variety (voice, template, rate, onset) leaves to any "
        "predictor of the conditional mean.",
        "",
        _claims_line(),
        "",
        "![results](results.png)",
        "",
        "### Every schedule",
        "",
        results_table(results, "all"),
    ]
    if results["disentanglement"]:
        rows = [[tag, *(fmt_mean_std(d[k], 3) for k in ("mig", "dci_disentanglement",
                                                        "dci_completeness",
                                                        "dci_informativeness", "sap"))]
                for tag, d in results["disentanglement"].items()]  # fmt: skip
        lines += ["", "## Disentanglement of the video latents (object, action)", "",
                  markdown_table(["schedule", "MIG", "DCI disentanglement", "DCI completeness",
                                  "DCI informativeness", "SAP"], rows),
                  "![disentanglement](disentanglement.png)", "",
                  f"![traversal](traversal.png) Latent traversal of the {cfg['main_schedule']} "
                  "β-VAE: each row varies one latent dimension (all time steps) of a held-out "
                  "clip's video latent, each cell is the audio decoder's output "
                  "as log-mel."]  # fmt: skip
    if results["speech"]["models"]:
        sp = results["speech"]
        lines += ["", "## Speech out: what listeners hear in the generated speech", "",
                  f"Target of the speech translator: `{sp['target']}` ({sp['steps']} log-mel steps "
                  "per clip); Griffin–Lim. Judges: pocketsphinx under a JSGF grammar of the "
                  "world's 25 canonical phrases, and Whisper tiny.en free transcription (no "
                  "prompt). A word is heard right when the transcript names the clip's object "
                  "(action).", "", speech_table(results)]  # fmt: skip
        picks = results.get("structured_picks")
        if picks:
            val = picks["val_cosine_x100"]
            ranked = ", ".join(f"{s} {val[s]['mean']:.2f}" for s in sorted(
                val, key=lambda s: val[s]["mean"]))  # fmt: skip
            lines += [
                "",
                f"The structured model's other schedules: the best "
                f"{len(picks['picked'])} of row (b) by {picks['by']}: "
                f"{', '.join(picks['picked'])} (all: {ranked}); rows added: "
                f"{', '.join(picks['rows']) or 'none (its own schedule stands for it)'}.",
            ]
        vae = sp["models"].get("vae", {}).get("splits", {}).get("heldout")
        if vae:
            lines += ["", "What the β-VAE pipeline's speech was heard as, per held-out pair "
                      "(seed 0):", "", pairs_table(vae["per_pair_seed0"])]  # fmt: skip
    second = results["speech"].get("holdout2")
    if second:
        lines += ["", "### The second held-out set", "",
                  f"World `{second['world']}`: the study world's twin (same size, seed and "
                  f"rendering) holding out {', '.join(second['heldout_pairs'])} instead; the "
                  "flat, raw and structured speech rows trained on its train split and judged on "
                  "it.", "",
                  speech_table({"speech": second})]  # fmt: skip
        st = second["models"].get("structured", {}).get("splits", {}).get("heldout")
        if st:
            lines += ["", "What the structured pipeline's speech was heard as, per held-out "
                      "pair of the second set (seed 0):", "",
                      pairs_table(st["per_pair_seed0"])]  # fmt: skip
    if results.get("learning_curve"):
        lines += ["", "## Learning curve: held-out both-words against world size", "",
                  curve_note(results["learning_curve"]), "", curve_table(results),
                  "", "![learning curve](learning_curve.png)"]  # fmt: skip
    if results["leakage"]:
        lines += ["", "## Leakage audit", ""]
        for kind, splits in results["leakage"].items():
            for split, g in splits.items():
                share = g["share_of_honest_distance_removed"]
                lines.append(
                    f"- {kind}, {split}: honest {g['honest_cosine_x100']:.2f} vs joint-leaky "
                    f"{g['leaky_cosine_x100']:.2f} — seeing the target audio removes "
                    f"{g['gap']:.2f} points ({_pct(share)} of the honest distance)."
                )
    lines += ["", "## Targets", ""]
    for t in results["targets"].values():
        verdict = "met" if t["met"] else "**missed**"
        lines.append(f"- {target_line(t)} — {verdict}.")
    lines += [
        "",
        "## Figures",
        "",
        "![schedules](schedules.png)",
        "",
        "![training curves](training_curves.png)",
        "",
    ]
    return "\n".join(lines) + "\n"


def curve_note(curve: dict[str, Any]) -> str:
    """What the learning curve measured, in one paragraph."""
    return (
        "Each pipeline is trained on the train and val clips among the world's first N clips "
        f"and judged on the same held-out clips at every size (the first {curve['per_pair']} of "
        f"each held-out pair: {', '.join(curve['heldout_pairs'])}), speech judged by both "
        f"listeners. The thesis' world had {curve['thesis_world']:,} clips; the plot's axis runs "
        "to it, where the curve would extend."
    )


def curve_table(results: dict[str, Any]) -> str:
    """Markdown: one row per world size, held-out both-words per source and judge."""
    from xmodal.evaluation.report import fmt_mean_std, markdown_table

    curve = results["learning_curve"]
    sources = curve["sources"]
    points = [p for src in sources.values() for p in src["points"].values()]
    judges = [j for j in ("grammar", "whisper") if all(j in p for p in points)]
    header = ["world clips", "train clips"] + [
        f"{src['label'].split(' (')[0]}: {judge}" for src in sources.values() for judge in judges
    ]
    rows = []
    for size in curve["sizes"]:
        points = [src["points"][str(size)] for src in sources.values()]
        rows.append([f"{size:,}", points[0]["train_clips"],
                     *(fmt_mean_std(p[j]) for p in points for j in judges)])  # fmt: skip
    return markdown_table(header, rows)


def _claims_line() -> str:
    test, held = THESIS_CLAIMS["test"], THESIS_CLAIMS["heldout"]
    return (
        f"The thesis claimed test {test['β-VAE + Seq2Seq']} vs baseline {test['baseline']}, "
        f"held-out {held['β-VAE + Seq2Seq']} vs {held['baseline']} — with the leak of row (d)."
    )


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def plots(results: dict[str, Any], data: ThesisData, config: ThesisStudyConfig, out: Path) -> None:
    from xmodal.schedules import plot_schedules

    plot_schedules(out / "schedules.png", total_steps=config.pipeline.vae_train.max_steps)
    _plot_results(results, out / "results.png")
    _plot_curves(results, config, out / "training_curves.png", out)
    if results["disentanglement"]:
        _plot_disentanglement(results, out / "disentanglement.png")
        _plot_traversal(data, config, out)
    if results.get("learning_curve"):
        plot_learning_curve(results["learning_curve"], out / "learning_curve.png")


def plot_learning_curve(curve: dict[str, Any], path: Path) -> None:
    """Held-out both-words (Whisper solid, grammar dashed) against world size, log axis running
    to the thesis' world, mean ± std over seeds."""
    from xmodal.evaluation.report import new_figure, save_figure

    fig = new_figure(6.4, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    sizes = np.array(curve["sizes"], dtype=float)
    for i, src in enumerate(curve["sources"].values()):
        name = src["label"].split(" (")[0]
        for judge, style in (("whisper", "-"), ("grammar", "--")):
            points = [src["points"][str(int(n))].get(judge) for n in sizes]
            if any(p is None for p in points):
                continue
            ax.errorbar(sizes, [p["mean"] for p in points], yerr=[p["std"] for p in points],
                        color=f"C{i}", linestyle=style, marker="o", capsize=3,
                        label=f"{name}, {judge}")  # fmt: skip
    ax.axvline(curve["thesis_world"], color="grey", linestyle=":", linewidth=1)
    ax.text(curve["thesis_world"], 0.02, f"thesis world\n{curve['thesis_world']:,} clips",
            ha="right", va="bottom", fontsize=7, color="grey")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlim(sizes.min() / 1.5, curve["thesis_world"] * 1.5)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("world size (clips; log scale)")
    ax.set_ylabel("held-out both words heard")
    ax.set_title("Learning curve (mean ± std over seeds)")
    ax.legend(fontsize=7, loc="center right")
    save_figure(fig, path)


def _plot_results(results: dict[str, Any], path: Path) -> None:
    from xmodal.evaluation.report import new_figure, save_figure

    keys = [k for k in results["models"]]
    fig = new_figure(max(6.4, 0.45 * len(keys) + 3), 4.2)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(keys))
    for i, split in enumerate(SPLITS):
        means = [results["models"][k]["metrics"].get(split, {}).get("cosine_x100", {})
                 .get("mean", np.nan) for k in keys]  # fmt: skip
        stds = [results["models"][k]["metrics"].get(split, {}).get("cosine_x100", {})
                .get("std", 0.0) for k in keys]  # fmt: skip
        ax.bar(x + (i - 0.5) * 0.4, means, 0.4, yerr=stds, label=split, capsize=2)
    for j, (name, ref) in enumerate(results["references"].items()):
        value = ref.get("heldout", {}).get("cosine_x100", {}).get("mean")
        if value is not None:
            ax.axhline(value, color=f"C{j + 2}", linestyle="--", linewidth=1,
                       label=f"held-out {name.split(' (')[0]}")  # fmt: skip
    ax.set_xticks(x, keys, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("cosine distance ×100 (lower is better)")
    ax.set_title("Translation to the real audio track (mean ± std over seeds)")
    ax.legend(fontsize=6)
    save_figure(fig, path)


def _read_curve(path: Path, split: str, column: str) -> tuple[list[int], list[float]]:
    import csv

    if not path.is_file():
        return [], []
    steps, values = [], []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row.get("split") == split and row.get(column) not in (None, ""):
                steps.append(int(row["step"]))
                values.append(float(row[column]))
    return steps, values


def _plot_curves(results: dict[str, Any], config: ThesisStudyConfig, path: Path, out: Path) -> None:
    from xmodal.evaluation.report import new_figure, save_figure

    runs = out / "runs" / f"s{config.first_seed}"
    fig = new_figure(12, 3.8)
    axes = [fig.add_subplot(1, 3, i + 1) for i in range(3)]
    tags = list(config.schedules) + (["leaky"] if config.leaky else [])
    for i, tag in enumerate(tags):
        s, v = _read_curve(runs / tag / "vae" / "metrics.csv", "val", "cross_video_to_audio")
        axes[0].plot(s, v, label=tag, color=f"C{i % 10}")
        s, b = _read_curve(runs / tag / "vae" / "metrics.csv", "train", "beta")
        axes[1].plot(s, b, label=tag, color=f"C{i % 10}")
    for i, name in enumerate(["baseline", *tags]):
        s, v = _read_curve(runs / name / "translator" / "metrics.csv", "val", "mse")
        axes[2].plot(s, v, label=name, color=f"C{i % 10}")
    axes[0].set_title("β-VAE val: audio decoded from video latent")
    axes[1].set_title("β (or γ for capacity) per step")
    axes[2].set_title("Seq2Seq val MSE (scheduled sampling)")
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend(fontsize=6)
    axes[1].set_yscale("symlog", linthresh=1e-2)
    save_figure(fig, path)


def _plot_disentanglement(results: dict[str, Any], path: Path) -> None:
    from xmodal.evaluation.report import new_figure, save_figure

    tags = list(results["disentanglement"])
    keys = ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap")
    fig = new_figure(max(6.4, 0.9 * len(tags) + 2), 4.0)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(tags))
    w = 0.8 / len(keys)
    for i, k in enumerate(keys):
        means = [results["disentanglement"][t][k]["mean"] for t in tags]
        stds = [results["disentanglement"][t][k]["std"] for t in tags]
        ax.bar(x + (i - len(keys) / 2 + 0.5) * w, means, w, yerr=stds, label=k, capsize=2)
    ax.set_xticks(x, tags, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title("Disentanglement of the video latents vs (object, action), per β schedule")
    ax.legend(fontsize=7)
    save_figure(fig, path)


def _plot_traversal(data: ThesisData, config: ThesisStudyConfig, out: Path, n_dims: int = 6,
                    n_values: int = 7) -> None:  # fmt: skip
    """Vary the most active latent dims of a held-out clip's video latent; show decoded audio."""
    import torch

    from xmodal.evaluation.report import new_figure, save_figure
    from xmodal.training.checkpoint import load_model
    from xmodal.translate.fit import video_latents

    vae = load_model(out / "runs" / f"s{config.first_seed}" / config.main_schedule / "vae")
    z_all = video_latents(vae, data.video["train"])  # (N, [T',] Z)
    spread = z_all.reshape(-1, z_all.shape[-1]).std(0)  # (Z,)
    dims = np.argsort(spread)[::-1][:n_dims]
    z0 = video_latents(vae, data.video["heldout"][:1])[0]  # ([T',] Z)
    values = np.linspace(-2.5, 2.5, n_values)
    fig = new_figure(1.3 * n_values + 1, 1.2 * len(dims) + 0.8)
    for i, d in enumerate(dims):
        for j, v in enumerate(values):
            z = z0.copy()
            z[..., d] = z0[..., d] + v * spread[d]
            with torch.no_grad():
                audio = vae.decode(torch.from_numpy(z[None]), Modality.AUDIO).numpy()  # (1,T,Da)
            logmel = data.audio_pre.inverse_transform(audio)[0]  # (T, 80)
            ax = fig.add_subplot(len(dims), n_values, i * n_values + j + 1)
            ax.imshow(logmel.T, origin="lower", aspect="auto", cmap="magma")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(f"z{d}", fontsize=8)
            if i == 0:
                ax.set_title(f"{v:+.1f}σ", fontsize=8)
    fig.suptitle(f"Latent traversal ({config.main_schedule} β-VAE): decoded audio log-mel")
    save_figure(fig, out / "traversal.png")

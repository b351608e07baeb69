"""The thesis study: β-VAE latents + Seq2Seq against a raw-feature baseline, 9 β schedules,
compositional generalisation, speech out, and a leakage audit.

On one object-action world, with the same features and splits for every row:

(a) **baseline** — a Seq2Seq translator reads the preprocessed video features directly;
(b) **β-VAE + Seq2Seq** (the thesis) — a multimodal β-VAE is trained with each of the nine β
    schedules; the translator reads the video posterior's latent sequence (from video alone);
(c) **cross-decoding** — each β-VAE's video encoder → its audio decoder (no translator);
(d) **joint-leaky** — the thesis code's variant whose "video" latent reads the audio too, trained
    under the same settings, labelled "joint-leaky (sees the target audio — leakage audit)".

The target of (a)–(d) is the thesis setting: the clip's real audio track as 80-bin log-mel,
segmented to ``steps`` (16) steps, projected to ``audio_pca`` (5) dims and MinMax-scaled — all
fitted on train. Metrics (docs/studies.md, "Definitions that must not drift"): **cosine distance
×100** and **MSE** on the train-standardised sequences, on the in-distribution ``test`` split and
on the ``heldout`` compositions, beside the two reference rows (predict the train mean, predict a
random train clip) and a third, labelled bound: the mean of the evaluated split's *other* clips
of the same pair (leave-one-out; it reads the targets, so it is no model, but it shows how much
of the distance is the audio's own variety — voice, template, rate, onset — that a predictor of
the conditional mean cannot remove). Object and
action accuracy of a translated clip: the label of the nearest train prototype (mean real-audio
sequence of each object, of each action).

**Disentanglement** of each schedule's video latents (flattened over time) against the
(object, action) factors: MIG, DCI and SAP. **Speech out**: for each seed a
:class:`~xmodal.translate.pipeline.TranslationPipeline` (β-VAE with the linear schedule, and
the raw-feature baseline) is fitted, the held-out clips are translated to speech with
Griffin–Lim and recognised by pocketsphinx under a JSGF grammar of the world's 25 canonical
phrases; phrase accuracy is whether the recognised phrase's (object, action) is the clip's.

Every number is the mean ± std over ``seeds`` seeds (model initialisation and data order).
Outputs in ``out_dir``: ``results.json`` (keys in docs/studies.md), ``report.md``, PNG plots, and
``runs/s<seed>/<run>/`` (training runs; a rerun resumes them and reuses finished evaluations).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from xmodal.evaluation.studies.thesis.config import (
    ALL_SCHEDULES,
    BOUND,
    RESULTS_VERSION,
    TARGETS,
    THESIS_CLAIMS,
    ThesisStudyConfig,
    fit_to_world,
    model_label,
    pick_schedules,
    picked_rows,
    row_config,
    schedule_config,
    source_config,
    speech_rows,
)
from xmodal.evaluation.studies.thesis.report import (
    plots,
    report_markdown,
    results_table,
    speech_table,
    target_line,
)
from xmodal.evaluation.studies.thesis.tasks import (
    ThesisData,
    _cached,
    prepare_data,
    reference_scores,
    run_task,
    run_tasks,
    score,
    second_world,
    speech_setup,
    study_tasks,
)
from xmodal.translate.evaluate import aggregate
from xmodal.translate.judges import ceiling_scores

__all__ = [
    "ALL_SCHEDULES",
    "BOUND",
    "ThesisData",
    "ThesisStudyConfig",
    "model_label",
    "prepare_data",
    "reference_scores",
    "report_markdown",
    "results_table",
    "row_config",
    "plan_study",
    "run_study",
    "run_task",
    "run_tasks",
    "schedule_config",
    "score",
    "speech_table",
    "study_tasks",
    "target_line",
]


def _aggregate(per_seed: list[dict[str, dict[str, float]]]) -> dict[str, Any]:
    from xmodal.evaluation.report import aggregate_seeds

    return {split: aggregate_seeds([s[split] for s in per_seed]) for split in per_seed[0]}


def run_study(
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: ThesisStudyConfig | None = None,
    *,
    workers: int = 1,
    progress: bool = True,
    estimates: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Run the whole study and write ``results.json``, ``report.md`` and the plots.

    Args:
        data_dir: an object-action world (``xmodal data objects``); features are extracted into
            it if missing.
        out_dir: the report directory (a rerun resumes).
        config: the settings (default: the full study).
        workers: processes training runs in parallel (1: all in this process).
        progress: show progress bars.
        estimates: seconds per task key (:func:`plan_study`): the progress bar shows the time
            left.

    Returns:
        The results dict written to ``results.json``.
    """
    from xmodal.config import to_dict
    from xmodal.data.objects import summarize
    from xmodal.evaluation.report import mean_std
    from xmodal.translate.features import load_clip_features
    from xmodal.utils import write_json

    config = config or ThesisStudyConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    feats = load_clip_features(data_dir, config.pipeline, progress)
    t_feats = time.perf_counter() - t0
    data = prepare_data(feats, config.pipeline)
    if "heldout" not in data.audio:
        raise ValueError(f"{data_dir}: no held-out clips (generate a compositional world)")
    config, _ = fit_to_world(config, len(feats.rows))
    world2 = None
    if config.speech and config.second_holdout:
        world2 = second_world(data_dir, out, config.second_holdout, progress=progress)
    if config.speech:  # each source's own features, extracted here once, not by two workers
        curve = config.curve_sources if config.curve_sizes else ()
        for source in dict.fromkeys((*speech_rows(config), *curve)):
            cfg, _ = speech_setup(data, config, source, progress=progress)
            if world2 is not None and source in config.speech_sources:
                load_clip_features(world2, cfg, progress)
    seeds = list(range(config.first_seed, config.first_seed + config.seeds))
    grouped = run_tasks(data, config, out, workers=workers, progress=progress,
                        estimates=estimates)  # fmt: skip
    per_seed = [{**grouped[s], "references": reference_scores(data, s)} for s in seeds]
    picks = _picks(per_seed, config)
    if picks:
        rows = picked_rows(config, picks["picked"])
        config = dataclasses.replace(config, structured_schedules=(
            *config.structured_schedules, *(r.partition("-")[2] for r in rows)))  # fmt: skip

    models = {}
    for key in per_seed[0]["models"]:
        group, label = model_label(key)
        tag = key.split("/", 1)[-1]
        models[key] = {"label": label, "group": group,
                       "schedule": None if key == "baseline" else
                       (config.main_schedule if tag == "leaky" else tag),
                       "leaky": tag == "leaky",
                       "metrics": _aggregate([p["models"][key] for p in per_seed])}  # fmt: skip
    references = {name: _aggregate([p["references"][name] for p in per_seed])
                  for name in per_seed[0]["references"]}  # fmt: skip
    disent = {tag: {k: mean_std([p["disentanglement"][tag][k] for p in per_seed])
                    for k in per_seed[0]["disentanglement"][tag]}
              for tag in per_seed[0]["disentanglement"]}  # fmt: skip
    speech = _speech_models(per_seed, "speech", config, out,
                            lambda source: speech_setup(data, config, source)[1])  # fmt: skip

    ceilings: dict[str, Any] = {}
    if speech:  # the same for every pipeline and seed: judged once per split, cached

        def judge_ceilings(split: str) -> Any:
            return lambda: ceiling_scores(feats, split, config.pipeline)

        ceilings = {s: _cached(out / "ceilings" / f"{s}.json", judge_ceilings(s))
                    for s in config.speech_splits if feats.split(s)}  # fmt: skip
    results: dict[str, Any] = {
        "study": "thesis",
        "version": RESULTS_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "dataset": {"path": str(Path(data_dir).resolve()), **summarize(data_dir)},
        "config": to_dict(config),
        "seeds": seeds,
        "features": {
            "video": feats.video.encoder_id,
            "video_fps": config.pipeline.video_fps,
            "audio": feats.audio.encoder_id,
            "steps": config.pipeline.steps,
            "video_pca": config.pipeline.video_pca,
            "audio_pca": config.pipeline.audio_pca,
            "explained_variance": data.explained_variance,
        },  # fmt: skip
        "target": (
            f"the clip's real audio track: log-mel, {config.pipeline.steps}-step "
            f"segmentation, PCA-{config.pipeline.audio_pca}, MinMax (train-fitted); "
            "metrics on train-standardised sequences"
        ),  # fmt: skip
        "models": models,
        "references": references,
        "disentanglement": disent,
        "speech": {
            "target": config.pipeline.speech_target,
            "steps": config.pipeline.speech_steps,
            "models": speech,
            "ceilings": ceilings,
        },
        "thesis_claims": THESIS_CLAIMS,
        "timings": {
            "features_s": round(t_feats, 1),
            "total_s": round(time.perf_counter() - t0, 1),
        },  # fmt: skip
    }
    if picks:
        results["structured_picks"] = picks
    if config.speech and config.curve_sizes:
        results["learning_curve"] = _learning_curve(per_seed, config, data)
    if world2 is not None:
        results["speech"]["holdout2"] = _second_holdout(per_seed, config, out, world2)
    results["leakage"] = _leakage(results, config)
    results["targets"] = _targets(results, config)
    write_json(out / "results.json", results)
    plots(results, data, config, out)
    (out / "report.md").write_text(report_markdown(results))
    return results


def plan_study(
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: ThesisStudyConfig,
    *,
    workers: int = 1,
    budget_minutes: float | None = None,
    progress: bool = True,
) -> tuple[ThesisStudyConfig, list[dict[str, Any]], list[str]]:
    """What the study would run and how long each run would take, measured on this machine
    (:mod:`~xmodal.evaluation.studies.thesis.plan`); with ``budget_minutes``, the largest study
    that fits.

    Returns:
        The config to run (``config``, or a smaller one that fits the budget), its plan (one
        entry per task: ``key``, ``done``, ``estimate_s``) and what the budget left out.
    """
    from xmodal.evaluation.studies.thesis.plan import calibrate, fit_budget, make_plan
    from xmodal.translate.features import load_clip_features

    out = Path(out_dir)
    data = prepare_data(load_clip_features(data_dir, config.pipeline, progress), config.pipeline)
    config, left_out = fit_to_world(config, len(data.feats.rows))
    cal = calibrate(data, config)
    if budget_minutes is not None:
        config, budget_left = fit_budget(data, config, out, cal, budget_minutes, workers)
        left_out += budget_left
    return config, make_plan(data, config, out, cal), left_out


def _picks(per_seed: list[dict[str, Any]], config: ThesisStudyConfig) -> dict[str, Any] | None:
    """Which schedules the structured model was trained under: the best ``structured_best``
    of row (b) by val cosine distance ×100 (mean ± std over seeds), and the rows they added."""
    from xmodal.evaluation.report import mean_std

    if not (config.speech and config.structured_best and "structured" in config.speech_sources):
        return None
    vals = {s: [p["val"][s]["cosine_x100"] for p in per_seed] for s in config.schedules}
    picked = pick_schedules(vals, config.structured_best)
    return {"by": "row (b)'s val cosine distance ×100, mean over seeds (lower is better)",
            "val_cosine_x100": {s: mean_std(v) for s, v in vals.items()}, "picked": picked,
            "rows": list(picked_rows(config, picked))}  # fmt: skip


def _speech_models(per_seed: list[dict[str, Any]], key: str, config: ThesisStudyConfig,
                   out: Path, features: Any, prefix: str = "") -> dict[str, Any]:  # fmt: skip
    """The speech rows of one world (``per_seed[i][key]``): per source its label, voice and
    splits (mean ± std over seeds, seed 0's pairs), and for a source with its own voice that
    voice's vocoder ceiling, judged once per split and cached as
    ``OUT/ceilings/<prefix><model>-<split>.json`` (a variant speaks its model's voice).
    ``features(source)`` gives the world's features that source reads."""
    speech: dict[str, Any] = {}
    for source in speech_rows(config):
        if source not in per_seed[0][key]:
            continue
        cfg, label = source_config(config, source)
        own_voice = cfg.canonical != config.pipeline.canonical
        feats = features(source) if own_voice else None
        splits = {}
        for split in config.speech_splits:
            runs = [p[key][source][split] for p in per_seed]
            if not runs[0].get("clips"):
                continue
            entry = aggregate(runs)
            entry["per_pair_seed0"] = entry.pop("per_pair_first")
            if own_voice:

                def judge(split: str = split, cfg: Any = cfg, f: Any = feats) -> Any:
                    return ceiling_scores(f, split, cfg, own_audio=False)

                path = out / "ceilings" / f"{prefix}{source.partition('-')[0]}-{split}.json"
                entry["vocoder_ceiling"] = _cached(path, judge)["vocoder_ceiling"]
            splits[split] = entry
        speech[source] = {"label": label, "splits": splits,
                          "voice": dataclasses.asdict(cfg.canonical)}  # fmt: skip
    return speech


def _second_holdout(per_seed: list[dict[str, Any]], config: ThesisStudyConfig, out: Path,
                    world: Path) -> dict[str, Any]:  # fmt: skip
    """The speech rows on the second held-out set's world, beside its vocoder ceilings (the
    default voice's, and each own voice's on its rows)."""
    from xmodal.data.objects import summarize
    from xmodal.translate.features import load_clip_features

    def features(source: str) -> Any:
        return load_clip_features(world, source_config(config, source)[0], progress=False)

    models = _speech_models(per_seed, "speech2", config, out, features, prefix="holdout2-")
    ceilings = {}
    if any(m["voice"] == dataclasses.asdict(config.pipeline.canonical) for m in models.values()):
        feats = load_clip_features(world, config.pipeline, progress=False)
        for split in config.speech_splits:
            if feats.split(split):

                def judge(split: str = split) -> Any:
                    return ceiling_scores(feats, split, config.pipeline, own_audio=False)

                ceiling = _cached(out / "ceilings" / f"holdout2-default-{split}.json", judge)
                ceilings[split] = {"clips": ceiling["clips"],
                                   "vocoder_ceiling": ceiling["vocoder_ceiling"]}  # fmt: skip
    return {"world": str(world), "heldout_pairs": summarize(world)["heldout_pairs"],
            "models": models, "ceilings": ceilings}  # fmt: skip


def _learning_curve(per_seed: list[dict[str, Any]], config: ThesisStudyConfig,
                    data: ThesisData) -> dict[str, Any]:  # fmt: skip
    """Held-out both-words (each judge) against world size, per source, mean ± std over seeds."""
    from xmodal.evaluation.report import mean_std
    from xmodal.evaluation.studies.thesis.config import SPEECH_SOURCES, THESIS_WORLD
    from xmodal.translate.config import model_config

    sources = {}
    for source in config.curve_sources:
        points = {}
        for size in sorted(config.curve_sizes):
            runs = [p["curve"][source][size] for p in per_seed]
            points[str(size)] = {
                "train_clips": runs[0]["train_clips"], "clips": runs[0]["clips"],
                **{judge: mean_std([r["model"][judge]["both"] for r in runs])
                   for judge in runs[0]["model"]},
            }  # fmt: skip
        label = model_config(SPEECH_SOURCES[source], config.pipeline).label
        sources[source] = {"label": label, "points": points}
    return {"sizes": sorted(config.curve_sizes), "per_pair": config.curve_per_pair,
            "heldout_pairs": sorted({f"{r['object']}:{r['action']}"
                                     for r in data.rows["heldout"]}),
            "thesis_world": THESIS_WORLD, "sources": sources}  # fmt: skip


def _metric(results: dict[str, Any], key: str, split: str, metric: str = "cosine_x100") -> float:
    return results["models"][key]["metrics"][split][metric]["mean"]


def _leakage(results: dict[str, Any], config: ThesisStudyConfig) -> dict[str, Any]:
    """How much the joint-leaky variant's numbers owe to seeing the target."""
    main = config.main_schedule
    out: dict[str, Any] = {}
    for kind in ("vae+seq2seq", "cross"):
        honest, leaky = f"{kind}/{main}", f"{kind}/leaky"
        if leaky not in results["models"]:
            continue
        for split in results["models"][honest]["metrics"]:
            h, lk = _metric(results, honest, split), _metric(results, leaky, split)
            out.setdefault(kind, {})[split] = {
                "honest_cosine_x100": h, "leaky_cosine_x100": lk, "gap": h - lk,
                "share_of_honest_distance_removed": (h - lk) / h if h > 0 else None,
            }  # fmt: skip
    return out


def _target(name: str, value: float, what: str, **details: Any) -> dict[str, Any]:
    """One entry of ``results["targets"]``: ``met`` follows from :data:`TARGETS`' comparison."""
    comparison, bound = TARGETS[name]
    met = value <= bound if comparison == "≤" else value >= bound
    return {"value": value, "comparison": comparison, "target": bound, "met": met, **details,
            "what": what}  # fmt: skip


def _targets(results: dict[str, Any], config: ThesisStudyConfig) -> dict[str, Any]:
    main = f"vae+seq2seq/{config.main_schedule}"
    out: dict[str, Any] = {}
    if "heldout" in results["models"]["baseline"]["metrics"]:
        ratio = _metric(results, main, "heldout") / _metric(results, "baseline", "heldout")
        bound = results["references"][BOUND]
        best = bound["heldout"]["cosine_x100"]["mean"] / _metric(results, "baseline", "heldout")
        out["heldout_cosine_ratio"] = _target(
            "heldout_cosine_ratio", ratio,
            "held-out cosine distance of the honest β-VAE pipeline / the baseline's",
            bound_ratio=best,
        )  # fmt: skip
    speech = results["speech"]["models"]

    def both(source: str, split: str, judge: str, kind: str = "model") -> float | None:
        entry = speech.get(source, {}).get("splits", {}).get(split, {}).get(kind, {})
        return entry[judge]["both"]["mean"] if judge in entry else None

    held = both("vae", "heldout", "grammar")
    if held is not None:
        out["phrase_accuracy"] = _target(
            "phrase_accuracy", held,
            "held-out both-words accuracy (grammar judge) of the β-VAE pipeline's speech",
            whisper=both("vae", "heldout", "whisper"), raw=both("raw", "heldout", "grammar"),
        )  # fmt: skip
    grammar = {s: both(s, "test", "grammar") for s in speech}
    grammar = {s: v for s, v in grammar.items() if v is not None}
    if grammar:
        best = max(grammar, key=grammar.__getitem__)
        out["test_grammar"] = _target(
            "test_grammar", grammar[best],
            f"test (seen pairs) both-words accuracy, grammar judge, best pipeline ({best})",
        )  # fmt: skip
    test_ceiling = results["speech"]["ceilings"].get("test", {}).get("vocoder_ceiling", {})

    def ceiling_of(source: str) -> float | None:  # the ceiling of the pipeline's own voice
        own = speech[source]["splits"].get("test", {}).get("vocoder_ceiling", test_ceiling)
        return own.get("whisper", {}).get("both")

    ratios = {}
    for source in speech:
        model, ceiling = both(source, "test", "whisper"), ceiling_of(source)
        if model is not None and ceiling:
            ratios[source] = (model / ceiling, model, ceiling)
    curve = results.get("learning_curve", {}).get("sources", {})
    if {"vae", "structured"} <= set(curve):
        from xmodal.evaluation.studies.thesis.config import CURVE_FROM

        margins = {n: curve["structured"]["points"][n]["whisper"]["mean"]
                   - curve["vae"]["points"][n]["whisper"]["mean"]
                   for n in curve["vae"]["points"] if int(n) >= CURVE_FROM}  # fmt: skip
        if margins:
            worst = min(margins, key=margins.__getitem__)
            out["curve_margin"] = _target(
                "curve_margin", margins[worst],
                f"learning curve: structured − flat held-out both-words (Whisper), smallest over "
                f"world sizes ≥ {CURVE_FROM} (at {int(worst):,} clips)",
                per_size=margins,
            )  # fmt: skip
    if ratios:
        best = max(ratios, key=lambda s: ratios[s][0])
        out["test_whisper_vs_ceiling"] = _target(
            "test_whisper_vs_ceiling", ratios[best][0],
            f"test both-words accuracy, Whisper judge, best pipeline ({best}) / the vocoder "
            "ceiling of its voice",
            model=ratios[best][1], ceiling=ratios[best][2],
        )  # fmt: skip
    return out

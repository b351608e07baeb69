"""The thesis study's data and its runs.

:func:`prepare_data` gives the thesis-setting arrays (segment, PCA, MinMax, fitted on train);
:func:`score` and :func:`reference_scores` measure predictions against them. A **task** is one
piece of one seed (:func:`study_tasks`); :func:`run_task` trains it through the translation
package's one fit entry point (:func:`xmodal.translate.fit.fit_models`) and caches its scores
beside its runs, so a rerun reuses everything finished; :func:`run_tasks` runs them in worker
processes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.evaluation.studies.thesis.config import (
    BOUND,
    SPLITS,
    ThesisStudyConfig,
    pick_schedules,
    picked_rows,
    row_config,
    speech_rows,
)
from xmodal.translate.config import TranslationConfig
from xmodal.translate.features import ClipFeatures
from xmodal.types import Modality


@dataclass
class ThesisData:
    """The study's preprocessed arrays (thesis setting), fitted on train only."""

    feats: ClipFeatures
    rows: dict[str, list[dict[str, Any]]]  # split -> rows
    video: dict[str, np.ndarray]  # split -> (N, T, Dv)
    audio: dict[str, np.ndarray]  # split -> (N, T, Da)
    explained_variance: dict[str, float | None]
    std: Any  # Standardiser fitted on train audio
    prototypes: dict[str, tuple[np.ndarray, np.ndarray]]  # factor -> (classes, (C, T, Da))
    audio_pre: Any  # the fitted audio Preprocessor (for traversal images)


def prepare_data(feats: ClipFeatures, config: TranslationConfig) -> ThesisData:
    """Segment, PCA and MinMax every split with transforms fitted on train (thesis setting)."""
    from xmodal.evaluation.translation import Standardiser, class_prototypes
    from xmodal.translate.features import FeatureTransform, video_split

    rows = {s: feats.split(s) for s in ("train", "val", "test", "heldout")}
    if not rows["val"]:
        rows["val"] = rows["train"]
    pres = {
        Modality.VIDEO: FeatureTransform.fit(feats.arrays(Modality.VIDEO, rows["train"]),
                                             config.steps, config.video_pca,
                                             video_split(config.video_encoder)),
        Modality.AUDIO: FeatureTransform.fit(feats.arrays(Modality.AUDIO, rows["train"]),
                                             config.steps, config.audio_pca),
    }  # fmt: skip
    video = {s: pres[Modality.VIDEO].transform(feats.arrays(Modality.VIDEO, r))
             for s, r in rows.items() if r}  # fmt: skip
    audio = {s: pres[Modality.AUDIO].transform(feats.arrays(Modality.AUDIO, r))
             for s, r in rows.items() if r}  # fmt: skip
    labels = {f: np.array([r[f] for r in rows["train"]]) for f in ("object", "action")}
    return ThesisData(
        feats=feats, rows=rows, video=video, audio=audio,
        explained_variance={m.value: p.explained_variance for m, p in pres.items()},
        std=Standardiser.fit(audio["train"]),
        prototypes={f: class_prototypes(audio["train"], labels[f]) for f in labels},
        audio_pre=pres[Modality.AUDIO],
    )  # fmt: skip


def score(data: ThesisData, split: str, pred: np.ndarray) -> dict[str, float]:
    """Cosine distance ×100, MSE and prototype object/action accuracy of predictions."""
    from xmodal.evaluation.translation import cosine_distance_x100, mse, prototype_accuracy

    target = data.audio[split]
    out = {"cosine_x100": cosine_distance_x100(pred, target, data.std),
           "mse": mse(pred, target, data.std)}  # fmt: skip
    for f in ("object", "action"):
        classes, protos = data.prototypes[f]
        labels = np.array([r[f] for r in data.rows[split]])
        out[f"{f}_accuracy"] = prototype_accuracy(pred, labels, classes, protos, data.std)
    return out


def reference_scores(data: ThesisData, seed: int) -> dict[str, dict[str, dict[str, float]]]:
    """The reference rows per split: train mean, random train clip, and the pair-mean bound."""
    from xmodal.evaluation.translation import reference_predictions

    out: dict[str, dict[str, dict[str, float]]] = {}
    for split in SPLITS:
        if split not in data.audio:
            continue
        target = data.audio[split]
        refs = reference_predictions(data.audio["train"], len(target), seed=seed)
        pairs = np.array([f"{r['object']}:{r['action']}" for r in data.rows[split]])
        bound = np.empty_like(target)
        for i, p in enumerate(pairs):  # leave-one-out: the other clips of the same pair
            others = (pairs == p) & (np.arange(len(pairs)) != i)
            bound[i] = (
                target[others].mean(0)
                if others.any()
                else target[np.arange(len(pairs)) != i].mean(0)
            )
        refs[BOUND] = bound
        for name, pred in refs.items():
            out.setdefault(name, {})[split] = score(data, split, pred)
    return out


def disentanglement_scores(
    codes: np.ndarray, rows: list[dict[str, Any]], info: dict[str, Any], config: ThesisStudyConfig,
    seed: int,
) -> dict[str, float]:  # fmt: skip
    """MIG, DCI and SAP of latents ``(N, ...)`` (flattened) against (object, action)."""
    from xmodal.evaluation.disentanglement import dci, mig, sap

    codes = codes.reshape(len(codes), -1)  # (N, T'·Z)
    factors = np.array([[info["objects"].index(r["object"]), info["actions"].index(r["action"])]
                        for r in rows])  # fmt: skip
    if len(codes) > config.disentanglement_clips:
        keep = np.random.default_rng(seed).choice(len(codes), config.disentanglement_clips,
                                                  replace=False)  # fmt: skip
        codes, factors = codes[keep], factors[keep]
    d = dci(codes, factors, seed=seed, n_estimators=config.dci_trees)
    return {"mig": mig(codes, factors), "dci_disentanglement": d.disentanglement,
            "dci_completeness": d.completeness, "dci_informativeness": d.informativeness,
            "sap": sap(codes, factors, seed=seed)}  # fmt: skip


def _cached(path: Path, compute) -> dict[str, Any]:
    from xmodal.utils import read_json, write_json

    if path.is_file():
        return read_json(path)
    value = compute()
    write_json(path, value)
    return value


def _pair(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return arrays["train"], arrays["val"]


def _row(data: ThesisData, cfg: TranslationConfig, seed: int, run: Path,
         progress: bool) -> tuple[Any, dict[str, np.ndarray]]:  # fmt: skip
    """Fit one thesis-setting row into ``run`` (the real audio track is the target)."""
    from xmodal.translate.fit import fit_models, video_latents

    models = fit_models(cfg, _pair(data.video), _pair(data.audio), _pair(data.audio), run, seed,
                        progress=progress)  # fmt: skip
    source = data.video
    if models.vae is not None:
        leak = cfg.variant == "joint-leaky"
        source = {s: video_latents(models.vae, data.video[s], data.audio[s] if leak else None)
                  for s in data.video}  # fmt: skip
    return models, source


def run_task(data: ThesisData, config: ThesisStudyConfig, task: dict[str, Any], out: Path,
             progress: bool = False) -> dict[str, Any]:  # fmt: skip
    """Train and evaluate one piece of one seed; results are cached beside its runs.

    Tasks: ``{"kind": "baseline", "seed"}``, ``{"kind": "vae", "seed", "tag", "schedule",
    "variant"}`` (β-VAE → its Seq2Seq, cross-decoding and, if honest, disentanglement),
    ``{"kind": "speech", "seed", "source"}`` (a speech-out pipeline judged by both listeners;
    with ``"world"``, on the second held-out set's world)
    and ``{"kind": "curve", "seed", "source", "size"}`` (that pipeline trained on the world's
    first ``size`` clips, judged on held-out clips: a point of the learning curve).

    Returns:
        ``{"models": {key: {split: metrics}}, "disentanglement": {tag: scores},
        "speech": {source: {split: scores}}, "speech2": {...}, "curve": {source: {size:
        scores}}, "val": {schedule: metrics}}`` (the parts this task produced; "val": an
        honest β-VAE row's val scores, which pick the structured model's schedules).
    """
    from xmodal.translate.fit import generate

    seed = task["seed"]
    runs = out / "runs" / f"s{seed}"
    result: dict[str, Any] = {"models": {}, "disentanglement": {}, "speech": {}, "curve": {},
                              "speech2": {}, "val": {}}  # fmt: skip
    steps = data.audio["train"].shape[1]
    if task["kind"] in ("baseline", "vae"):
        raw = task["kind"] == "baseline"
        tag = "baseline" if raw else task["tag"]
        cfg = (row_config(config, "raw") if raw else
               row_config(config, "vae", task["schedule"], task["variant"]))  # fmt: skip
        run = runs / tag
        fitted: dict[str, Any] = {}

        def models() -> tuple[Any, dict[str, np.ndarray]]:
            if not fitted:
                fitted["row"] = _row(data, cfg, seed, run, progress)
            return fitted["row"]

        def translate() -> dict[str, Any]:
            m, source = models()
            return {s: score(data, s, generate(m.translator, source[s], steps))
                    for s in SPLITS if s in data.audio}  # fmt: skip

        key = "baseline" if raw else f"vae+seq2seq/{tag}"
        result["models"][key] = _cached(run / "eval.json", translate)
        if task.get("variant") == "honest":  # what picks the structured model's schedules

            def val() -> dict[str, Any]:
                m, source = models()
                return score(data, "val", generate(m.translator, source["val"], steps))

            result["val"][tag] = _cached(run / "val.json", val)
        if not raw:

            def cross() -> dict[str, Any]:
                import torch

                m, source = models()
                with torch.no_grad():
                    return {s: score(data, s, m.vae.decode(torch.from_numpy(source[s]),
                                                           Modality.AUDIO).numpy())
                            for s in SPLITS if s in data.audio}  # fmt: skip

            result["models"][f"cross/{tag}"] = _cached(run / "cross.json", cross)
            if task["variant"] == "honest":

                def disentangle() -> dict[str, Any]:
                    _, source = models()
                    rows = [r for s in data.video for r in data.rows[s]]
                    codes = np.concatenate([source[s] for s in data.video])
                    return disentanglement_scores(codes, rows, data.feats.info, config, seed)

                result["disentanglement"][tag] = _cached(run / "disentanglement.json",
                                                         disentangle)  # fmt: skip
    elif task["kind"] == "speech" and task.get("world"):
        result["speech2"][task["source"]] = _second_world_task(config, task, out, progress)
    elif task["kind"] == "speech":
        result["speech"][task["source"]] = _speech_task(data, config, task, runs, progress)
    elif task["kind"] == "curve":
        result["curve"] = {task["source"]: {task["size"]: _curve_task(data, config, task, out,
                                                                       progress)}}  # fmt: skip
    else:
        raise ValueError(f"unknown task kind {task['kind']!r}")
    return result


def _speech_task(data: ThesisData, config: ThesisStudyConfig, task: dict[str, Any], runs: Path,
                 progress: bool) -> dict[str, Any]:  # fmt: skip
    """Fit (or reload) a speech-out pipeline and judge its speech on the speech splits."""
    cfg, feats = speech_setup(data, config, task["source"])
    return _judged(cfg, feats, runs / f"speech-{task['source']}", config.speech_splits,
                   task["seed"], progress)  # fmt: skip


def _judged(cfg: TranslationConfig, feats: ClipFeatures, run_dir: Path, splits: tuple[str, ...],
            seed: int, progress: bool) -> dict[str, Any]:  # fmt: skip
    """The speech scores of ``run_dir``'s pipeline on ``splits``: fitted (or reloaded) and
    judged, cached per split in ``speech_eval.json`` (a rerun adds only the new splits)."""
    from xmodal.translate.config import PIPELINE_FILE
    from xmodal.translate.judges import speech_scores
    from xmodal.translate.pipeline import TranslationPipeline
    from xmodal.utils import read_json, write_json

    path = run_dir / "speech_eval.json"
    scores = read_json(path) if path.is_file() else {}
    todo = [s for s in splits if s not in scores]
    if todo:
        if (run_dir / PIPELINE_FILE).is_file():  # fitted before: only the new splits
            pipe = TranslationPipeline.load(run_dir)
        else:
            pipe = TranslationPipeline.fit(feats.dataset_dir, run_dir, cfg, seed=seed,
                                           progress=progress, features=feats)  # fmt: skip
        scores.update({s: speech_scores(pipe, feats, s, ceilings=False) for s in todo})
        write_json(path, scores)
    return {s: scores[s] for s in splits}


SECOND_WORLD = "world-holdout2"  # the second held-out set's world, in the study directory


def second_world(data_dir: str | Path, out: Path, pairs: str, progress: bool = False) -> Path:
    """Generate (or finish) the study world's twin holding out ``pairs`` instead: the same
    size, seed, split fractions and rendering, so only the held-out pairs differ."""
    from xmodal.data.manifest import read_dataset_info
    from xmodal.data.objects import WorldConfig, generate
    from xmodal.data.splits import parse_holdout

    info = read_dataset_info(data_dir)
    keys = ("size", "seed", "frames", "fps", "resolution", "sample_rate")
    missing = [k for k in keys if k not in info]
    if info.get("kind") != "objects" or missing:
        lacks = missing or ["kind"]
        raise ValueError(f"{data_dir}: a second held-out set needs an object world "
                         f"(xmodal data objects); dataset.json lacks {lacks}")  # fmt: skip
    world = WorldConfig(**{k: info[k] for k in keys}, holdout=parse_holdout(pairs),
                        fractions=tuple(info.get("fractions", (0.8, 0.1, 0.1))))  # fmt: skip
    return generate(Path(out) / SECOND_WORLD, world, progress=progress)


def _second_world_task(config: ThesisStudyConfig, task: dict[str, Any], out: Path,
                       progress: bool) -> dict[str, Any]:  # fmt: skip
    """Fit a speech-out pipeline on the second world and judge it on the speech splits."""
    from xmodal.evaluation.studies.thesis.config import source_config
    from xmodal.translate.features import load_clip_features

    cfg, _ = source_config(config, task["source"])
    feats = load_clip_features(Path(out) / SECOND_WORLD, cfg, progress=False)
    run_dir = Path(out) / "runs" / f"s{task['seed']}" / f"speech-{task['source']}-holdout2"
    return _judged(cfg, feats, run_dir, config.speech_splits, task["seed"], progress)


def curve_dir(out: Path, task: dict[str, Any]) -> Path:
    """Where a learning-curve task's pipeline and scores live in the study directory."""
    return Path(out) / "curve" / f"n{task['size']}" / f"s{task['seed']}" / task["source"]


def curve_features(feats: ClipFeatures, size: int) -> ClipFeatures:
    """A world of ``size`` clips for the learning curve: the train and val clips among the
    world's first ``size`` clips (manifest order), and every test and held-out clip, so each
    size is judged on the same clips."""
    first = {r["id"] for r in feats.rows[:size]}
    rows = [r for r in feats.rows if r["id"] in first or r["split"] in ("test", "heldout")]
    return dataclasses.replace(feats, rows=rows)


def _curve_task(data: ThesisData, config: ThesisStudyConfig, task: dict[str, Any], out: Path,
                progress: bool) -> dict[str, Any]:  # fmt: skip
    """Fit a speech-out pipeline on a world's first clips and judge its held-out speech."""
    from xmodal.translate.config import PIPELINE_FILE
    from xmodal.translate.judges import speech_scores
    from xmodal.translate.pipeline import TranslationPipeline

    cfg, feats = speech_setup(data, config, task["source"])
    run_dir = curve_dir(out, task)
    sub = curve_features(feats, task["size"])

    def judged() -> dict[str, Any]:
        if (run_dir / PIPELINE_FILE).is_file():
            pipe = TranslationPipeline.load(run_dir)
        else:
            pipe = TranslationPipeline.fit(sub.dataset_dir, run_dir, cfg, seed=task["seed"],
                                           progress=progress, features=sub)  # fmt: skip
        scores = speech_scores(pipe, sub, "heldout", ceilings=False, per_pair=config.curve_per_pair)
        scores["train_clips"] = len(sub.split("train"))
        return scores

    return _cached(run_dir / "speech_eval.json", judged)


def speech_setup(data: ThesisData, config: ThesisStudyConfig, source: str,
                 progress: bool = False) -> tuple[TranslationConfig, ClipFeatures]:  # fmt: skip
    """The pipeline config of a speech-out source (:func:`~.config.source_config`) and the
    features it reads: the study's own, or for the structured model its streams encoder's
    (extracted into the world once)."""
    from xmodal.evaluation.studies.thesis.config import source_config
    from xmodal.translate.features import load_clip_features

    cfg, _ = source_config(config, source)
    if cfg.video_encoder == config.pipeline.video_encoder:
        return cfg, data.feats
    return cfg, load_clip_features(data.feats.dataset_dir, cfg, progress=progress)


def study_tasks(config: ThesisStudyConfig) -> list[dict[str, Any]]:
    """Every task of the study but the picked schedules' (:func:`pick_tasks`): rows (a), (b)
    and (d) first (quick, and row (b) picks the structured model's schedules), then the
    speech rows, then the learning curve."""
    tasks: list[dict[str, Any]] = []
    for seed in range(config.first_seed, config.first_seed + config.seeds):
        if config.speech:
            tasks += [{"kind": "speech", "seed": seed, "source": src}
                      for src in speech_rows(config)]  # fmt: skip
        tasks.append({"kind": "baseline", "seed": seed})
        tasks += [{"kind": "vae", "seed": seed, "tag": s, "schedule": s, "variant": "honest"}
                  for s in config.schedules]  # fmt: skip
        if config.leaky:
            tasks.append({"kind": "vae", "seed": seed, "tag": "leaky",
                          "schedule": config.main_schedule, "variant": "joint-leaky"})  # fmt: skip
        if config.speech and config.second_holdout:
            tasks += [{"kind": "speech", "seed": seed, "source": src, "world": SECOND_WORLD}
                      for src in config.speech_sources]  # fmt: skip
        if config.speech:
            tasks += [{"kind": "curve", "seed": seed, "source": src, "size": n}
                      for n in sorted(config.curve_sizes, reverse=True)
                      for src in config.curve_sources]  # fmt: skip
    fast = ("baseline", "vae")  # first, so the picked schedules are known early
    return (
        [t for t in tasks if t["kind"] in fast]
        + [t for t in tasks if t["kind"] == "speech"]
        + [t for t in tasks if t["kind"] == "curve"]
    )


def pick_tasks(config: ThesisStudyConfig, picks: list[str] | None) -> list[dict[str, Any]]:
    """The speech tasks of the structured model under the picked schedules (``picks``:
    :func:`~.config.pick_schedules`), every seed; with ``picks`` None (row (b) not done yet),
    ``structured_best`` placeholders ``structured-best<i>`` that only plans count."""
    if not (config.speech and config.structured_best and "structured" in config.speech_sources):
        return []
    sources = (picked_rows(config, picks) if picks is not None else
               tuple(f"structured-best{i + 1}" for i in range(config.structured_best)))  # fmt: skip
    mark = {} if picks is not None else {"pick": True}
    return [{"kind": "speech", "seed": seed, "source": src, **mark}
            for seed in range(config.first_seed, config.first_seed + config.seeds)
            for src in sources]  # fmt: skip


def val_scores(config: ThesisStudyConfig, out: Path) -> dict[str, list[float]] | None:
    """Row (b)'s val cosine distance ×100 per schedule, one value per seed, read from the study
    directory; None until every seed of every schedule has one."""
    from xmodal.utils import read_json

    vals: dict[str, list[float]] = {}
    for schedule in config.schedules:
        for seed in range(config.first_seed, config.first_seed + config.seeds):
            path = Path(out) / "runs" / f"s{seed}" / schedule / "val.json"
            if not path.is_file():
                return None
            vals.setdefault(schedule, []).append(read_json(path)["cosine_x100"])
    return vals


def study_picks(config: ThesisStudyConfig, out: Path) -> list[str] | None:
    """The schedules picked for the structured model (:func:`~.config.pick_schedules` on
    :func:`val_scores`), or None until row (b) is done (or when nothing is picked)."""
    if not config.structured_best:
        return None
    vals = val_scores(config, out)
    return None if vals is None else pick_schedules(vals, config.structured_best)


_WORKER: dict[str, Any] = {}  # the worker process's study inputs (set by _init_worker)


def _init_worker(data_dir: str, config: dict[str, Any], out: str) -> None:
    import torch

    from xmodal.config import from_dict
    from xmodal.translate.features import load_clip_features

    torch.set_num_threads(1)
    cfg = from_dict(ThesisStudyConfig, config)
    feats = load_clip_features(data_dir, cfg.pipeline, progress=False)
    _WORKER.update(data=prepare_data(feats, cfg.pipeline), config=cfg, out=Path(out))


def _worker_task(task: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return task, run_task(_WORKER["data"], _WORKER["config"], task, _WORKER["out"])


def run_tasks(data: ThesisData, config: ThesisStudyConfig, out: Path, *, workers: int = 1,
              progress: bool = True,
              estimates: dict[str, float] | None = None) -> dict[int, dict[str, Any]]:  # fmt: skip
    """Run :func:`study_tasks` (in ``workers`` processes that leave with this one) and group
    the results by seed. Finished tasks come from their caches; ``estimates`` (seconds per
    task key, :func:`~xmodal.evaluation.studies.thesis.plan.make_plan`) give the progress bar
    its time left. Once every honest β-VAE row has its val scores, the structured model's
    picked schedules (:func:`pick_tasks`) join the queue."""
    from tqdm.auto import tqdm

    from xmodal.evaluation.studies.thesis.plan import TimeLeft, task_key

    picks = study_picks(config, out)
    tasks = study_tasks(config)
    waiting = picks is None and bool(pick_tasks(config, None))  # row (b) picks them later
    tasks += pick_tasks(config, picks) if picks is not None else []
    per_seed: dict[int, dict[str, Any]] = {
        s: {"models": {}, "disentanglement": {}, "speech": {}, "curve": {}, "speech2": {},
            "val": {}}
        for s in range(config.first_seed, config.first_seed + config.seeds)
    }  # fmt: skip
    total = len(tasks) + (len(pick_tasks(config, None)) if waiting else 0)
    bar = tqdm(total=total, desc="thesis study", unit="run", disable=not progress)
    left = TimeLeft(estimates or {}, workers) if estimates else None

    def merge(task: dict[str, Any], part: dict[str, Any]) -> None:
        for key, value in part.items():
            if key == "curve":  # {source: {size: scores}}: one size per task
                for source, sizes in value.items():
                    per_seed[task["seed"]]["curve"].setdefault(source, {}).update(sizes)
            else:
                per_seed[task["seed"]][key].update(value)
        if left is not None:
            left.finished(task_key(task))
            bar.set_postfix_str(f"about {left.seconds() / 60:.0f} min left", refresh=False)
        bar.update()

    def picked() -> list[dict[str, Any]]:
        """The picked schedules' tasks, once row (b) is done (then only once)."""
        nonlocal waiting
        vals = {s: [p["val"].get(s) for p in per_seed.values()] for s in config.schedules}
        if not waiting or any(v is None for vs in vals.values() for v in vs):
            return []
        waiting = False
        chosen = pick_schedules({s: [v["cosine_x100"] for v in vs] for s, vs in vals.items()},
                                config.structured_best)  # fmt: skip
        more = pick_tasks(config, chosen)
        bar.total = len(tasks) + len(more)
        bar.refresh()
        return more

    with bar:
        if workers <= 1:
            queue = list(tasks)
            while queue:
                task = queue.pop(0)
                merge(task, run_task(data, config, task, out, progress=False))
                queue += picked()
        else:
            from concurrent.futures import FIRST_COMPLETED, wait

            from xmodal.config import to_dict
            from xmodal.workers import worker_pool

            init = (str(data.feats.dataset_dir), to_dict(config), str(out))
            with worker_pool(workers, initializer=_init_worker, initargs=init) as pool:
                pending = {pool.submit(_worker_task, t) for t in tasks}
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        merge(*future.result())
                        pending |= {pool.submit(_worker_task, t) for t in picked()}
    models_order = [k for t in tasks for k in _task_keys(t)]
    for part in per_seed.values():  # a stable row order, whatever order tasks finished in
        part["models"] = {k: part["models"][k] for k in models_order if k in part["models"]}
    return per_seed


def _task_keys(task: dict[str, Any]) -> list[str]:
    if task["kind"] == "baseline":
        return ["baseline"]
    if task["kind"] == "vae":
        return [f"vae+seq2seq/{task['tag']}", f"cross/{task['tag']}"]
    return []

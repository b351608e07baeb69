"""What a thesis study will run and how long it will take: the plan, its cost, the time left.

A study is a list of tasks (:func:`~xmodal.evaluation.studies.thesis.tasks.study_tasks`), each
cached in the study directory as soon as it is done (:func:`task_done` reads those caches, so a
rerun skips them). Before a study starts, :func:`calibrate` measures on this machine and on the
study's own array shapes what one optimiser step of each model costs and what speaking and
judging one clip costs; :func:`estimate_seconds` turns a task into CPU seconds from those
(steps × seconds per step + judged clips × seconds per clip). :func:`make_plan` lists every task
with its estimate and whether it is done; :func:`fit_budget` drops schedules, then seeds, until
the rest fits a wall-clock budget; :class:`TimeLeft` rescales the estimates by how long the
finished tasks really took.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from xmodal.evaluation.studies.thesis.config import ThesisStudyConfig
    from xmodal.evaluation.studies.thesis.tasks import ThesisData

STEP_KINDS = ("thesis_seq2seq", "thesis_vae", "speech_seq2seq", "speech_vae", "structured")


@dataclass
class Calibration:
    """Measured costs: CPU seconds per optimiser step of each model, per judged clip, and per
    disentanglement evaluation."""

    step_s: dict[str, float]
    judge_clip_s: float
    disentangle_s: float


def task_key(task: dict[str, Any]) -> str:
    """A task's name in plans and progress, e.g. ``s0/speech-vae``, ``s1/vae-cosine``."""
    if task["kind"] == "speech":
        world = "@holdout2" if task.get("world") else ""
        return f"s{task['seed']}/speech-{task['source']}{world}"
    if task["kind"] == "curve":
        return f"s{task['seed']}/curve-{task['source']}-n{task['size']}"
    if task["kind"] == "baseline":
        return f"s{task['seed']}/baseline"
    return f"s{task['seed']}/vae-{task['tag']}"


def task_done(task: dict[str, Any], config: ThesisStudyConfig, out: Path) -> bool:
    """Whether every result of ``task`` is already cached in the study directory ``out``."""
    from xmodal.evaluation.studies.thesis.tasks import curve_dir
    from xmodal.utils import read_json

    if task["kind"] == "curve":
        return (curve_dir(out, task) / "speech_eval.json").is_file()
    runs = Path(out) / "runs" / f"s{task['seed']}"
    if task.get("pick"):  # a placeholder for a schedule not picked yet
        return False
    if task["kind"] == "speech":
        world = "-holdout2" if task.get("world") else ""
        path = runs / f"speech-{task['source']}{world}" / "speech_eval.json"
        return path.is_file() and all(s in read_json(path) for s in config.speech_splits)
    if task["kind"] == "baseline":
        return (runs / "baseline" / "eval.json").is_file()
    names = ["eval.json", "cross.json"]
    if task["variant"] == "honest":
        names += ["disentanglement.json", "val.json"]
    return all((runs / task["tag"] / n).is_file() for n in names)


def _step_seconds(model: Any, batch: dict[str, Any], steps: int) -> float:
    """Median seconds of one AdamW step of ``model`` on ``batch`` (after one warm-up step)."""
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        model.compute_loss(batch)["loss"].backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def calibrate(data: ThesisData, config: ThesisStudyConfig, steps: int = 5) -> Calibration:
    """Time each model's optimiser step on the study's shapes (one torch thread, as each study
    worker runs), and speaking plus judging a few clips with both listeners."""
    import torch

    from xmodal.models.beta_vae import BetaVAE
    from xmodal.models.seq2seq import Seq2Seq
    from xmodal.models.structured import StructuredTranslator
    from xmodal.translate.fit import torch_threads
    from xmodal.types import Modality

    pc = config.pipeline
    rng = np.random.default_rng(0)
    video = data.video["train"]  # (N, T, Dv)

    def batch_of(*shape: int) -> torch.Tensor:
        return torch.from_numpy(rng.random(shape, dtype=np.float32))

    def vae(audio_dim: int, batch: int) -> tuple[Any, dict[Any, Any]]:
        cfg = dataclasses.replace(pc.vae, video_dim=video.shape[2], audio_dim=audio_dim,
                                  seq_len=video.shape[1])  # fmt: skip
        shapes = {Modality.VIDEO: video.shape[1:], Modality.AUDIO: (video.shape[1], audio_dim)}
        return BetaVAE(cfg), {m: batch_of(batch, *shape) for m, shape in shapes.items()}

    def seq2seq(cfg: Any, src: tuple[int, ...], tgt: tuple[int, ...], batch: int) -> tuple:
        model = Seq2Seq(dataclasses.replace(cfg, source_dim=src[-1], target_dim=tgt[-1]))
        return model, {"source": batch_of(batch, *src), "target": batch_of(batch, *tgt)}

    n_audio = data.audio["train"].shape[1:]
    speech = (pc.speech_steps // pc.frames_per_step, 80 * pc.frames_per_step)
    from xmodal.translate.config import model_config

    st = model_config("structured", pc)
    st_cfg = dataclasses.replace(st.structured, appearance_dim=pc.video_pca, map_dim=16,
                                 flow_dim=5, steps=pc.steps, target_steps=pc.speech_steps,
                                 target_dim=80)  # fmt: skip
    builds = {
        "thesis_seq2seq": seq2seq(config.translator, video.shape[1:], n_audio,
                                  config.translator_train.batch_size),
        "thesis_vae": vae(n_audio[-1], pc.vae_train.batch_size),
        "speech_seq2seq": seq2seq(pc.translator, video.shape[1:], speech,
                                  pc.translator_train.batch_size),
        "speech_vae": vae(pc.vae_audio_pca or 80, pc.vae_train.batch_size),
        "structured": (StructuredTranslator(st_cfg),
                       {"source": batch_of(st.structured_train.batch_size, pc.steps,
                                           st_cfg.appearance_dim + 16 + 5),
                        "target": batch_of(st.structured_train.batch_size, pc.speech_steps, 80)}),
    }  # fmt: skip
    with torch_threads(1):
        step_s = {k: _step_seconds(m, b, steps) for k, (m, b) in builds.items()}
    return Calibration(step_s=step_s, judge_clip_s=_judge_seconds(data, config),
                       disentangle_s=_disentangle_seconds(data, config))  # fmt: skip


def _judge_seconds(data: ThesisData, config: ThesisStudyConfig, clips: int = 3) -> float:
    """Seconds to speak (Griffin–Lim) and judge (both listeners) one clip, from ``clips`` of the
    train split's own audio after one warm-up clip (which loads the listeners)."""
    from xmodal.features import get
    from xmodal.translate.judges import JUDGES, Listener
    from xmodal.translate.speech import speak
    from xmodal.types import Modality

    feats = data.feats
    rows = feats.split("train")[: clips + 1]
    enc = get(config.pipeline.audio_encoder)
    listener = Listener(feats.info)
    times = []
    for i, (row, logmel) in enumerate(zip(rows, feats.arrays(Modality.AUDIO, rows), strict=True)):
        t0 = time.perf_counter()
        wave = speak(enc, logmel, float(row.get("duration") or 2.0),
                     config.pipeline.griffin_lim_iters)  # fmt: skip
        for judge in JUDGES:
            listener.hear(wave, judge)
        if i:
            times.append(time.perf_counter() - t0)
    return float(np.median(times)) if times else 1.0


def _disentangle_seconds(data: ThesisData, config: ThesisStudyConfig) -> float:
    """Seconds of one MIG/DCI/SAP evaluation on random codes of the study's size."""
    from xmodal.evaluation.studies.thesis.tasks import disentanglement_scores

    rows = [r for s in data.rows.values() for r in s]
    n = min(len(rows), config.disentanglement_clips)
    codes = np.random.default_rng(0).normal(size=(n, 8 * config.pipeline.vae.latent_dim))
    t0 = time.perf_counter()
    disentanglement_scores(codes.astype(np.float32), rows[:n], data.feats.info, config, seed=0)
    return time.perf_counter() - t0


def estimate_seconds(task: dict[str, Any], config: ThesisStudyConfig, cal: Calibration,
                     judged: int) -> float:  # fmt: skip
    """CPU seconds of one task: its optimiser steps at the measured rates, plus ``judged``
    clips spoken and judged (speech and curve tasks) or one disentanglement evaluation (honest
    β-VAE). A curve task trains as many steps as a speech task, on fewer clips."""
    from xmodal.translate.config import model_config

    s, pc = cal.step_s, config.pipeline
    if task["kind"] == "baseline":
        return config.translator_train.max_steps * s["thesis_seq2seq"]
    if task["kind"] == "vae":
        fit = config.vae_steps * s["thesis_vae"] + config.translator_train.max_steps * s[
            "thesis_seq2seq"]  # fmt: skip
        return fit + (cal.disentangle_s if task["variant"] == "honest" else 0.0)
    judge = judged * cal.judge_clip_s
    if task["source"].startswith("structured"):
        return model_config("structured", pc).structured_train.max_steps * s["structured"] + judge
    fit = pc.translator_train.max_steps * s["speech_seq2seq"]
    if task["source"] == "vae":
        fit += pc.vae_train.max_steps * s["speech_vae"]
    return fit + judge


def make_plan(data: ThesisData, config: ThesisStudyConfig, out: Path,
              cal: Calibration) -> list[dict[str, Any]]:  # fmt: skip
    """Every task of the study with ``key``, ``done`` and ``estimate_s`` (0 when done). The
    structured model's picked schedules are named once row (b) is done in ``out``, and counted
    as ``structured-best<i>`` until then."""
    from xmodal.evaluation.studies.thesis.tasks import pick_tasks, study_picks, study_tasks

    judged = sum(len(data.feats.split(s)) for s in config.speech_splits)
    curve_judged = len(data.feats.split("heldout", config.curve_per_pair))
    plan = []
    for task in study_tasks(config) + pick_tasks(config, study_picks(config, out)):
        done = task_done(task, config, out)
        n = curve_judged if task["kind"] == "curve" else judged
        est = 0.0 if done else estimate_seconds(task, config, cal, n)
        plan.append({"task": task, "key": task_key(task), "done": done, "estimate_s": est})
    return plan


def plan_table(plan: list[dict[str, Any]], workers: int) -> str:
    """The plan as text: one line per task, then the CPU time and the wall time on
    ``workers`` processes (the longest task bounds it from below)."""
    lines = [f"{'task':<28} {'status':<6} {'estimate':>9}"]
    for p in plan:
        status = "done" if p["done"] else "to run"
        lines.append(f"{p['key']:<28} {status:<6} {p['estimate_s'] / 60:>7.1f} m")
    lines.append(plan_summary(plan, workers))
    return "\n".join(lines)


def wall_seconds(plan: list[dict[str, Any]], workers: int) -> float:
    """Wall time of the runs still to do on ``workers`` processes, a core each (the longest run
    bounds it from below)."""
    todo = [p["estimate_s"] for p in plan if not p["done"]]
    return max(sum(todo) / max(1, workers), max(todo, default=0.0))


def plan_summary(plan: list[dict[str, Any]], workers: int) -> str:
    todo = [p["estimate_s"] for p in plan if not p["done"]]
    cpu, wall = sum(todo), wall_seconds(plan, workers)
    return (f"{len(todo)} of {len(plan)} runs to do: about {cpu / 60:.0f} min of CPU, "
            f"{wall / 60:.0f} min on {workers} worker(s)")  # fmt: skip


def fit_budget(data: ThesisData, config: ThesisStudyConfig, out: Path, cal: Calibration,
               minutes: float, workers: int) -> tuple[ThesisStudyConfig, list[str]]:  # fmt: skip
    """The largest study that fits ``minutes`` of wall time on ``workers``. It gives up, in
    this order: schedules (the main schedule stays; every seed keeps its mean ± std), then the
    structured model's extra rows (its picked schedules, then its ablations), then the second
    held-out set, then learning-curve sizes (the largest first), then seeds. Returns the config
    and what it left out.

    Raises:
        ValueError: not even one seed of the main schedule fits.
    """
    from xmodal.evaluation.studies.thesis.config import ALL_SCHEDULES

    def wall(cfg: ThesisStudyConfig) -> float:
        return wall_seconds(make_plan(data, cfg, out, cal), workers)

    order = [config.main_schedule] + [
        s for s in ALL_SCHEDULES if s in config.schedules and s != config.main_schedule
    ]
    sizes = sorted(config.curve_sizes)
    # the extras, each level giving up one more: (overrides, what it left out)
    extras: list[tuple[dict[str, Any], str]] = [({}, "")]
    if config.structured_best or config.structured_schedules:
        extras.append(({"structured_best": 0, "structured_schedules": ()},
                       "the structured model's other schedules"))  # fmt: skip
    if config.structured_ablations:
        extras.append(({"structured_ablations": ()}, "the structured ablations"))
    if config.second_holdout:
        extras.append(({"second_holdout": ""}, "the second held-out set"))

    def left_out(seeds: int, k: int, e: int, n: int) -> list[str]:
        left = []
        if seeds < config.seeds:
            first, last = config.first_seed + seeds, config.first_seed + config.seeds - 1
            left.append(f"seed {first}" if first == last else f"seeds {first}–{last}")
        if k < len(sizes):
            left.append("learning-curve sizes " + ", ".join(f"{m:,}" for m in sizes[k:]))
        left += [what for _, what in extras[1 : e + 1]]
        if n < len(order):
            left.append("schedules " + ", ".join(order[n:]))
        return left

    # the last loop gives up first
    for seeds, k, e, n in itertools.product(range(config.seeds, 0, -1),
                                            range(len(sizes), -1, -1), range(len(extras)),
                                            range(len(order), 0, -1)):  # fmt: skip
        dropped = {key: v for over, _ in extras[: e + 1] for key, v in over.items()}
        cfg = dataclasses.replace(config, seeds=seeds, schedules=tuple(order[:n]),
                                  curve_sizes=tuple(sizes[:k]), **dropped)  # fmt: skip
        if wall(cfg) <= minutes * 60:
            return cfg, left_out(seeds, k, e, n)
    dropped = {key: v for over, _ in extras for key, v in over.items()}
    one = dataclasses.replace(config, seeds=1, schedules=(order[0],), curve_sizes=(), **dropped)
    raise ValueError(f"even one seed of the {config.main_schedule} schedule takes about "
                     f"{wall(one) / 60:.0f} min; the budget is {minutes:g} min")  # fmt: skip


class TimeLeft:
    """The time a study has left: the estimates of the tasks still to run, rescaled by how
    long the finished ones really took against their estimates."""

    def __init__(self, estimates: dict[str, float], workers: int) -> None:
        self.left = dict(estimates)
        self.workers = max(1, workers)
        self.t0 = time.perf_counter()
        self.done_estimate = 0.0

    def finished(self, key: str) -> None:
        self.done_estimate += self.left.pop(key, 0.0)

    def seconds(self) -> float:
        rest = sum(self.left.values())
        if self.done_estimate <= 0:
            return rest / self.workers
        elapsed = time.perf_counter() - self.t0
        return rest * elapsed / self.done_estimate

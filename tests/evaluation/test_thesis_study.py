"""The thesis study: metric glue on known values, and the quick study end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from xmodal.data.objects import WorldConfig, generate
from xmodal.evaluation.studies.thesis import (
    ALL_SCHEDULES,
    BOUND,
    ThesisStudyConfig,
    model_label,
    prepare_data,
    reference_scores,
    run_study,
    schedule_config,
    score,
    study_tasks,
)
from xmodal.translate import LEAKY_LABEL, load_clip_features

RESULT_KEYS = {
    "study", "version", "created", "dataset", "config", "seeds", "features", "target", "models",
    "references", "disentanglement", "speech", "thesis_claims", "timings", "leakage", "targets",
    "learning_curve",
}  # fmt: skip
# the quick study with a learning curve of 25 clips (100 is more than the world has: left out)
# and every speech row on a second held-out set
CURVE = {
    "curve_sizes": (25, 100),
    "curve_per_pair": 1,
    "second_holdout": "knife:up,pen:left,phone:down,spoon:right,fork:rotate",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    generate(out, WorldConfig(size=50, seed=7), workers=2, progress=False)
    return out


@pytest.fixture(scope="module")
def data(world):
    config = ThesisStudyConfig.quick().pipeline
    return prepare_data(load_clip_features(world, config, progress=False), config)


def test_every_schedule_has_a_valid_scaled_config():
    assert len(ALL_SCHEDULES) == 9
    for name in ALL_SCHEDULES:
        cfg = schedule_config(name, 0.02)
        assert cfg.name == name
    assert schedule_config("linear", 0.02).resolved()["beta_max"] == 0.02
    assert schedule_config("constant", 0.02).resolved()["beta"] == 0.02
    assert schedule_config("capacity", 0.02).resolved()["gamma"] == pytest.approx(0.2)


def test_score_of_perfect_and_reference_predictions(data):
    for split in ("test", "heldout"):
        perfect = score(data, split, data.audio[split])
        assert perfect["cosine_x100"] == pytest.approx(0.0, abs=1e-9)
        assert perfect["mse"] == pytest.approx(0.0, abs=1e-12)
    refs = reference_scores(data, seed=0)
    assert set(refs) == {"train mean", "random train clip", BOUND}
    for name, splits in refs.items():
        for split in ("test", "heldout"):
            m = splits[split]
            assert 0.0 < m["cosine_x100"] < 200.0, name
            assert 0.0 <= m["object_accuracy"] <= 1.0 and 0.0 <= m["action_accuracy"] <= 1.0
    # the train mean predicts the same sequence for every clip: one prototype wins for all
    assert refs["train mean"]["test"]["object_accuracy"] <= 0.5


def test_prototype_accuracy_of_class_means(data):
    """Predicting each train clip's own object prototype gives object accuracy 1."""
    classes, protos = data.prototypes["object"]
    labels = np.array([r["object"] for r in data.rows["train"]])
    pred = protos[np.searchsorted(classes, labels)]  # (N, T, D)
    data.audio["_protos"] = pred
    data.rows["_protos"] = data.rows["train"]
    try:
        assert score(data, "_protos", pred)["object_accuracy"] == 1.0
    finally:
        del data.audio["_protos"], data.rows["_protos"]


def test_labels_and_tasks():
    assert model_label("baseline")[0] == "a"
    assert model_label("vae+seq2seq/linear") == ("b", "(b) β-VAE (linear) latents + Seq2Seq")
    assert model_label("cross/cosine")[0] == "c"
    group, label = model_label("vae+seq2seq/leaky")
    assert group == "d" and LEAKY_LABEL in label
    tasks = study_tasks(ThesisStudyConfig(seeds=2))
    # (a)-(d); speech (flat, raw, structured and its 3 ablations); the same 3 on the second
    # held-out set; the learning curve (3 sizes x flat, structured)
    assert len(tasks) == 2 * (1 + 9 + 1 + 6 + 3 + 6)
    assert [t["kind"] for t in tasks[:22]] == ["baseline"] + ["vae"] * 10 + ["baseline"] + [
        "vae"
    ] * 10  # quick, and row (b) picks the structured model's schedules
    speech = [(t["seed"], t["source"], t.get("world")) for t in tasks if t["kind"] == "speech"]
    assert speech[:9] == [
        (0, "vae", None), (0, "raw", None), (0, "structured", None),
        (0, "structured-norot", None), (0, "structured-nomotion", None),
        (0, "structured-noslots", None), (0, "vae", "world-holdout2"),
        (0, "raw", "world-holdout2"), (0, "structured", "world-holdout2"),
    ]  # fmt: skip
    curve = [(t["seed"], t["size"], t["source"]) for t in tasks if t["kind"] == "curve"]
    assert curve[:3] == [(0, 1000, "vae"), (0, 1000, "structured"), (0, 500, "vae")]
    assert tasks[-1]["kind"] == "curve"
    from xmodal.evaluation.studies.thesis import row_config

    cfg = ThesisStudyConfig()
    row = row_config(cfg, "vae", "cosine", "joint-leaky")
    assert (row.source, row.variant, row.vae_audio, row.frames_per_step) == (
        "vae",
        "joint-leaky",
        "track",
        1,
    )
    assert row.schedule.name == "cosine" and row.vae_train.max_steps == cfg.vae_steps
    assert row.translator == cfg.translator
    with pytest.raises(ValueError, match="unknown schedules"):
        ThesisStudyConfig(schedules=("linear", "steep"))
    with pytest.raises(ValueError, match="main_schedule"):
        ThesisStudyConfig(schedules=("cosine",))


def test_the_structured_model_takes_the_best_schedules_by_val(tmp_path):
    """Row (b)'s val cosine distance (mean over seeds) picks the structured model's extra
    schedules once every seed of every schedule has one; its own schedule (linear) is its
    default row; until then a plan counts placeholders."""
    from xmodal.evaluation.studies.thesis.config import pick_schedules, picked_rows
    from xmodal.evaluation.studies.thesis.plan import task_done, task_key
    from xmodal.evaluation.studies.thesis.tasks import pick_tasks, study_picks, val_scores
    from xmodal.utils import write_json

    vals = {"linear": [5.0, 7.0], "cosine": [6.5, 5.0], "capacity": [9.0, 1.0], "sigmoid": [8, 9]}
    # means: linear 6.0, cosine 5.75, capacity 5.0 (ties: the earlier schedule), sigmoid 8.5
    assert pick_schedules(vals, 3) == ["capacity", "cosine", "linear"]
    assert pick_schedules({"cosine": [1.0], "linear": [1.0]}, 1) == ["linear"]
    config = ThesisStudyConfig(seeds=2, schedules=tuple(vals), structured_schedules=("cosine",))
    assert picked_rows(config, ["capacity", "cosine", "linear"]) == ("structured-capacity",)
    assert picked_rows(ThesisStudyConfig(speech_sources=("vae",)), ["capacity"]) == ()
    waiting = pick_tasks(config, None)
    assert [task_key(t) for t in waiting] == [f"s{s}/speech-structured-best{i}"
                                              for s in (0, 1) for i in (1, 2, 3)]  # fmt: skip
    assert not task_done(waiting[0], config, tmp_path)
    assert study_picks(config, tmp_path) is None and val_scores(config, tmp_path) is None
    for schedule, values in vals.items():
        for seed, value in enumerate(values):
            write_json(tmp_path / "runs" / f"s{seed}" / schedule / "val.json",
                       {"cosine_x100": value})  # fmt: skip
    assert val_scores(config, tmp_path) == vals
    assert study_picks(config, tmp_path) == ["capacity", "cosine", "linear"]
    picked = pick_tasks(config, study_picks(config, tmp_path))
    assert [task_key(t) for t in picked] == ["s0/speech-structured-capacity",
                                             "s1/speech-structured-capacity"]  # fmt: skip
    assert pick_tasks(ThesisStudyConfig(structured_best=0), None) == []
    with pytest.raises(ValueError, match="structured_best"):
        ThesisStudyConfig(structured_best=-1)


def test_curve_worlds_and_the_margin_target(data):
    """A curve world of N clips trains on the train/val clips among the first N and judges the
    same test and held-out clips at every size; sizes over the world's are left out, by name;
    the margin target is the smallest structured − flat gap from 500 clips on."""
    from xmodal.evaluation.studies import thesis
    from xmodal.evaluation.studies.thesis.config import fit_to_world
    from xmodal.evaluation.studies.thesis.tasks import curve_features

    feats = data.feats
    first = {r["id"] for r in feats.rows[:25]}
    small = curve_features(feats, 25)
    assert {r["id"] for r in small.split("train")} == {
        r["id"] for r in feats.split("train") if r["id"] in first
    }
    assert small.split("heldout") == feats.split("heldout")
    assert small.split("test") == feats.split("test")
    assert curve_features(feats, 50).rows == feats.rows
    cfg, left = fit_to_world(ThesisStudyConfig(), 600)
    assert cfg.curve_sizes == (250, 500) and left == [
        "learning-curve sizes 1,000 (the world has 600 clips: generate a bigger one with "
        "xmodal data objects --size)"
    ]
    with pytest.raises(ValueError, match="curve sizes"):
        ThesisStudyConfig(curve_sizes=(10,))

    def point(whisper: float) -> dict:
        return {"whisper": {"mean": whisper, "std": 0.0}}

    curve = {"sources": {
        "vae": {"points": {"250": point(0.1), "500": point(0.2), "1000": point(0.3)}},
        "structured": {"points": {"250": point(0.2), "500": point(0.7), "1000": point(0.5)}},
    }}  # fmt: skip
    results = {"models": {"baseline": {"metrics": {}}}, "learning_curve": curve,
               "speech": {"models": {}, "ceilings": {}}}  # fmt: skip
    margin = thesis._targets(results, ThesisStudyConfig())["curve_margin"]
    assert margin["value"] == pytest.approx(0.2) and not margin["met"]  # at 1,000; 250 ignored
    assert margin["per_size"] == {"500": pytest.approx(0.5), "1000": pytest.approx(0.2)}


def test_plan_estimates_every_run_and_fits_a_budget(world, data, tmp_path):
    """The plan times each model's optimiser step and a judged clip on this machine, lists
    every task with its CPU estimate, and a budget drops schedules before seeds."""
    from xmodal.evaluation.studies.thesis import plan as planning

    config = ThesisStudyConfig.quick(seeds=2)
    cal = planning.calibrate(data, config, steps=2)
    assert set(cal.step_s) == set(planning.STEP_KINDS) and all(v > 0 for v in cal.step_s.values())
    assert cal.judge_clip_s > 0 and cal.disentangle_s > 0
    plan = planning.make_plan(data, config, tmp_path, cal)
    assert [p["key"] for p in plan] == [planning.task_key(t) for t in study_tasks(config)]
    assert not any(p["done"] for p in plan) and all(p["estimate_s"] > 0 for p in plan)
    speech = next(p for p in plan if p["key"] == "s0/speech-raw")["estimate_s"]
    judged = sum(len(data.feats.split(s)) for s in config.speech_splits)
    steps = config.pipeline.translator_train.max_steps
    assert speech == pytest.approx(steps * cal.step_s["speech_seq2seq"] + judged * cal.judge_clip_s)
    cpu = sum(p["estimate_s"] for p in plan)
    same, left = planning.fit_budget(data, config, tmp_path, cal, cpu / 60 + 1, workers=1)
    assert same == config and left == []
    one_seed = sum(p["estimate_s"] for p in plan if p["key"].startswith("s0/"))
    capacity = next(p for p in plan if p["key"] == "s1/vae-capacity")["estimate_s"]
    smaller, left = planning.fit_budget(data, config, tmp_path, cal, (cpu - capacity * 1.5) / 60, 1)
    assert smaller.seeds == 2 and smaller.schedules == ("linear",)
    assert left == ["schedules capacity"]
    fewer, left = planning.fit_budget(data, config, tmp_path, cal, one_seed / 60 + 1e-3, 1)
    assert fewer.seeds == 1 and left[0] == "seed 1"
    with pytest.raises(ValueError, match="even one seed of the linear schedule takes"):
        planning.fit_budget(data, config, tmp_path, cal, 1e-6, workers=1)
    # learning-curve runs: the largest size first, judged on up to curve_per_pair clips of
    # each held-out pair; a budget drops schedules, then the largest sizes, then seeds
    curved = ThesisStudyConfig.quick(seeds=2, curve_sizes=(25, 50))
    plan = planning.make_plan(data, curved, tmp_path, cal)
    est = {p["key"]: p["estimate_s"] for p in plan}
    assert [k for k in est if "/curve-" in k] == [
        "s0/curve-vae-n50",
        "s0/curve-vae-n25",
        "s1/curve-vae-n50",
        "s1/curve-vae-n25",
    ]
    fit = curved.pipeline.translator_train.max_steps * cal.step_s["speech_seq2seq"] + (
        curved.pipeline.vae_train.max_steps * cal.step_s["speech_vae"]
    )
    held = len(data.feats.split("heldout", curved.curve_per_pair))
    assert est["s0/curve-vae-n25"] == pytest.approx(fit + held * cal.judge_clip_s)
    cpu = sum(est.values())
    n50 = est["s0/curve-vae-n50"] + est["s1/curve-vae-n50"]
    cap = est["s0/vae-capacity"] + est["s1/vae-capacity"]
    both, left = planning.fit_budget(data, curved, tmp_path, cal, (cpu - n50 - cap) / 60 + 1e-3, 1)
    assert (both.seeds, both.curve_sizes, both.schedules) == (2, (25,), ("linear",))
    assert left == ["learning-curve sizes 50", "schedules capacity"]
    # the second held-out set goes after the schedules and before the curve sizes and seeds
    second = ThesisStudyConfig.quick(seeds=2, second_holdout=CURVE["second_holdout"])
    est = {p["key"]: p["estimate_s"] for p in planning.make_plan(data, second, tmp_path, cal)}
    h2 = sum(v for k, v in est.items() if k.endswith("@holdout2"))
    assert h2 > 0 and "s1/speech-raw@holdout2" in est
    budget = (sum(est.values()) - h2 - cap) / 60 + 1e-3
    fewer, left = planning.fit_budget(data, second, tmp_path, cal, budget, 1)
    assert (fewer.seeds, fewer.second_holdout, fewer.schedules) == (2, "", ("linear",))
    assert left == ["the second held-out set", "schedules capacity"]
    left = planning.TimeLeft({"a": 30.0, "b": 10.0}, workers=2)
    assert left.seconds() == pytest.approx(20.0)  # nothing finished: the estimates / workers
    left.finished("a")  # finished at once: the rest will go as fast
    assert left.seconds() < 1.0


@pytest.mark.slow
def test_quick_study_end_to_end(world, tmp_path):
    """The quick study on a 50-clip world (~40 s): every row, reference and plot is written."""
    out = tmp_path / "report"
    results = run_study(world, out, ThesisStudyConfig.quick(**CURVE), progress=False)
    import json

    on_disk = json.loads((out / "results.json").read_text())
    assert set(on_disk) == RESULT_KEYS
    assert on_disk["seeds"] == [0]
    models = on_disk["models"]
    assert list(models) == [
        "baseline", "vae+seq2seq/linear", "cross/linear", "vae+seq2seq/capacity",
        "cross/capacity", "vae+seq2seq/leaky", "cross/leaky",
    ]  # fmt: skip
    for key, model in models.items():
        assert model["leaky"] == key.endswith("/leaky")
        assert (LEAKY_LABEL in model["label"]) == model["leaky"]
        for split in ("test", "heldout"):
            m = model["metrics"][split]
            assert set(m) == {"cosine_x100", "mse", "object_accuracy", "action_accuracy"}
            assert 0.0 <= m["cosine_x100"]["mean"] <= 200.0
            assert m["cosine_x100"]["values"] == [m["cosine_x100"]["mean"]]
    assert set(on_disk["references"]) == {"train mean", "random train clip", BOUND}
    assert set(on_disk["disentanglement"]) == {"linear", "capacity"}
    for scores in on_disk["disentanglement"].values():
        for key in ("mig", "dci_disentanglement", "dci_completeness", "sap"):
            assert 0.0 <= scores[key]["mean"] <= 1.0
    held = on_disk["speech"]["models"]["vae"]["splits"]["heldout"]
    assert held["chance"] == pytest.approx(1 / 25) and held["clips"] > 0
    for judge in ("grammar", "whisper"):
        both = held["model"][judge]["both"]
        assert 0.0 <= both["mean"] <= 1.0 and both["values"] == [both["mean"]]
        assert set(held["per_pair_seed0"][judge]) == set(on_disk["dataset"]["heldout_pairs"])
    ceilings = on_disk["speech"]["ceilings"]
    assert set(ceilings) == {"test", "heldout"} and ceilings["heldout"]["clips"] == held["clips"]
    for kind in ("vocoder_ceiling", "own_audio"):
        assert set(ceilings["heldout"][kind]) == {"grammar", "whisper"}
    assert (out / "ceilings" / "heldout.json").is_file()
    gap = on_disk["leakage"]["vae+seq2seq"]["heldout"]
    assert math.isclose(gap["gap"], gap["honest_cosine_x100"] - gap["leaky_cosine_x100"])
    targets = on_disk["targets"]
    assert {"heldout_cosine_ratio", "phrase_accuracy", "test_grammar"} <= set(targets)
    assert targets["phrase_accuracy"]["value"] == held["model"]["grammar"]["both"]["mean"]
    seen = {src: m["splits"]["test"]["model"]["grammar"]["both"]["mean"]
            for src, m in on_disk["speech"]["models"].items()}  # fmt: skip
    assert targets["test_grammar"]["value"] == max(seen.values())
    ceiling = ceilings["test"]["vocoder_ceiling"]["whisper"]["both"]
    assert ("test_whisper_vs_ceiling" in targets) == (ceiling > 0)
    report = (out / "report.md").read_text()
    assert "## Leakage audit" in report and LEAKY_LABEL in report
    assert "reference: train mean" in report and "## Targets" in report
    for png in ("schedules", "results", "training_curves", "disentanglement", "traversal"):
        assert (out / f"{png}.png").stat().st_size > 1000, png
    curve = on_disk["learning_curve"]
    assert curve["sizes"] == [25] and curve["thesis_world"] == 36_000 and curve["per_pair"] == 1
    point = curve["sources"]["vae"]["points"]["25"]
    assert point["clips"] == len(curve["heldout_pairs"]) == 5  # one clip of each held-out pair
    assert 0 < point["train_clips"] < on_disk["dataset"]["splits"]["train"]
    assert set(point) == {"train_clips", "clips", "grammar", "whisper"}
    assert 0.0 <= point["whisper"]["mean"] <= 1.0 and point["whisper"]["values"] == [
        point["whisper"]["mean"]
    ]
    assert "## Learning curve" in report and "| 25 |" in report
    assert (out / "learning_curve.png").stat().st_size > 1000
    assert (out / "curve" / "n25" / "s0" / "vae" / "speech_eval.json").is_file()
    second = on_disk["speech"]["holdout2"]
    assert second["heldout_pairs"] == ["fork:rotate", "knife:up", "pen:left", "phone:down",
                                       "spoon:right"]  # fmt: skip
    assert set(second["models"]) == {"vae", "raw"} and set(second["ceilings"]) == {
        "test",
        "heldout",
    }
    h2 = second["models"]["vae"]["splits"]["heldout"]
    assert set(h2["per_pair_seed0"]["grammar"]) == set(second["heldout_pairs"])
    assert h2["clips"] == second["ceilings"]["heldout"]["clips"] > 0
    assert "### The second held-out set" in report
    assert (out / "world-holdout2" / "manifest.jsonl").is_file()
    assert (out / "runs" / "s0" / "speech-raw-holdout2" / "speech_eval.json").is_file()
    # a rerun reuses every finished run and evaluation
    cached = out / "runs" / "s0" / "baseline" / "eval.json"
    before = cached.stat().st_mtime_ns
    again = run_study(world, out, ThesisStudyConfig.quick(**CURVE), progress=False)
    assert cached.stat().st_mtime_ns == before
    assert again["models"]["baseline"]["metrics"] == results["models"]["baseline"]["metrics"]
    # asking for one more speech split evaluates it with the fitted pipeline, refitting nothing
    speech_run = out / "runs" / "s0" / "speech-vae"
    fitted = (speech_run / "pipeline.json").stat().st_mtime_ns
    more = run_study(world, out,
                     ThesisStudyConfig.quick(speech_splits=("val", "test", "heldout"), **CURVE),
                     progress=False)  # fmt: skip
    assert (speech_run / "pipeline.json").stat().st_mtime_ns == fitted
    assert list(more["speech"]["models"]["vae"]["splits"]) == ["val", "test", "heldout"]
    assert (
        more["speech"]["models"]["vae"]["splits"]["heldout"]
        == again["speech"]["models"]["vae"]["splits"]["heldout"]
    )


@pytest.mark.slow
def test_the_structured_row_speaks_in_its_own_voice_beside_its_own_ceiling(world, tmp_path):
    """``speech_sources=("structured",)``: the structured pipeline reads its own streams
    features, speaks its own voice, and is judged beside that voice's ceiling."""
    import dataclasses

    from xmodal.evaluation.studies.thesis import speech_setup
    from xmodal.training.loop import TrainConfig
    from xmodal.translate import TranslationConfig
    from xmodal.translate.config import STRUCTURED_ENCODER, STRUCTURED_VOICE

    short = TrainConfig(max_steps=20, batch_size=32, eval_every=10, log_every=5)
    pipe = TranslationConfig(structured_train=short, vae_train=short, translator_train=short)
    config = ThesisStudyConfig(seeds=1, schedules=("linear",), pipeline=pipe, leaky=False,
                               translator_train=short, vae_steps=20, speech_sources=("structured",),
                               speech_splits=("heldout",), disentanglement_clips=20,
                               dci_trees=5, structured_ablations=("nomotion",),
                               structured_schedules=("cosine",), second_holdout="",
                               structured_best=2)  # fmt: skip
    config = dataclasses.replace(config, schedules=("linear", "capacity"))
    results = run_study(world, tmp_path, config, progress=False)
    models = results["speech"]["models"]
    # both schedules are the best 2: linear is the structured model's own (its default row)
    picks = results["structured_picks"]
    assert sorted(picks["picked"]) == ["capacity", "linear"] and picks["rows"] == [
        "structured-capacity"
    ]
    assert set(picks["val_cosine_x100"]) == {"linear", "capacity"}
    assert list(models) == ["structured", "structured-nomotion", "structured-cosine",
                            "structured-capacity"]  # fmt: skip
    assert (tmp_path / "runs" / "s0" / "linear" / "val.json").is_file()
    assert models["structured-nomotion"]["label"] == "structured — no motion stream"
    assert models["structured-cosine"]["label"] == "structured — β schedule cosine"
    assert (
        json.loads(
            (tmp_path / "runs" / "s0" / "speech-structured-cosine" / "pipeline.json").read_text()
        )["config"]["structured_schedule"]["name"]
        == "cosine"
    )
    for variant in ("structured-nomotion", "structured-cosine"):  # judged beside the same voice
        assert (models[variant]["splits"]["heldout"]["vocoder_ceiling"]
                == models["structured"]["splits"]["heldout"]["vocoder_ceiling"])  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "ceilings").iterdir()) == [
        "heldout.json",
        "structured-heldout.json",
    ]
    structured = results["speech"]["models"]["structured"]
    assert structured["label"].startswith("structured (appearance + motion groups")
    assert structured["voice"] == dataclasses.asdict(STRUCTURED_VOICE)
    held = structured["splits"]["heldout"]
    assert set(held["model"]) == {"grammar", "whisper"}
    assert held["clips"] == held["vocoder_ceiling"]["grammar"]["clips"]
    assert (tmp_path / "ceilings" / "structured-heldout.json").is_file()
    report = (tmp_path / "report.md").read_text()
    voice = f"{STRUCTURED_VOICE.engine} {STRUCTURED_VOICE.voice}, {STRUCTURED_VOICE.layout}"
    assert f"vocoder ({voice}: the structured model's voice) | heldout |" in report
    assert report.count(f"vocoder ({voice}") == 2  # grammar and whisper, once for all three
    assert "| structured — no motion stream | heldout |" in report
    data = prepare_data(load_clip_features(world, pipe, progress=False), pipe)
    cfg, feats = speech_setup(data, config, "structured")
    assert (
        cfg.video_encoder == STRUCTURED_ENCODER
        and feats.video.encoder_id != data.feats.video.encoder_id
    )
    run = tmp_path / "runs" / "s0" / "speech-structured"
    assert (run / "pipeline.json").is_file() and (run / "speech_eval.json").is_file()


@pytest.mark.slow
def test_a_killed_study_leaves_no_worker_and_resumes_to_the_same_results(world, tmp_path):
    """SIGKILL the study once its first run is cached: its workers leave with it, and the rerun
    reuses that run and ends with the results of a study that was never killed."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    from tests.test_workers import _children, _kill_and_check

    def study(out: Path) -> dict:
        return run_study(world, out, ThesisStudyConfig.quick(speech=False), workers=2,
                         progress=False)  # fmt: skip

    out = tmp_path / "killed"
    script = ("from xmodal.evaluation.studies.thesis import ThesisStudyConfig, run_study\n"
              f"run_study({str(world)!r}, {str(out)!r}, ThesisStudyConfig.quick(speech=False), "
              "workers=2, progress=False)\n")  # fmt: skip
    root = Path(__file__).resolve().parents[2]
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=root)
    try:
        deadline = time.monotonic() + 240
        while not list(out.glob("runs/s0/*/eval.json")):
            assert parent.poll() is None, "the study ended before it was killed"
            assert time.monotonic() < deadline, "no run finished within 240 s"
            time.sleep(0.1)
        first = {p: p.stat().st_mtime_ns for p in out.glob("runs/s0/*/eval.json")}
        _kill_and_check(parent, _children(parent.pid))
    finally:
        parent.kill()
        parent.wait(30)
    assert not (out / "results.json").exists()
    resumed = study(out)
    assert all(p.stat().st_mtime_ns == t for p, t in first.items())  # reused, not redone
    fresh = study(tmp_path / "fresh")

    def numbers(tree: object, at: str = "") -> dict[str, float]:
        """Every float of a nested results dict, by its path."""
        if isinstance(tree, (dict, list)):
            items = tree.items() if isinstance(tree, dict) else enumerate(tree)
            return {k: v for key, sub in items for k, v in numbers(sub, f"{at}/{key}").items()}
        return {at: tree} if isinstance(tree, float) else {}

    for key in ("models", "references", "disentanglement"):
        got, want = numbers(resumed[key]), numbers(fresh[key])
        assert got.keys() == want.keys() and len(want) > 10, key
        assert got == pytest.approx(want, rel=1e-6, abs=1e-9), key

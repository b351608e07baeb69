"""The real-footage sync study: offsets injected into real in-sync clips, estimated back.

For every in-sync clip of a folder, copies with the audio shifted by each of ``offsets``
(default -10..+10 frames) are made by trimming (``k > 0``, the audio leads: its first ``k``
frames are cut; ``k < 0``: the first ``-k`` video frames are cut), so every frame stays real;
the faces are tracked once per clip and the audio is re-analysed for every copy. Each method
(:mod:`.methods`) estimates every copy's offset:

- **relative**: ``est(k) - est(0)`` within ±1 frame of ``k`` (consistency);
- **absolute**: ``est(k)`` within ±1 frame of ``k``, assuming the clip was published in sync.

Clips come in two sets. The **development** clips (``dev`` globs) are the only ones any choice
was made on; learned methods are scored on them leave-one-video-out (trained on the other
development clips). The **second** set (``second`` globs) is never used for a choice: learned
methods are trained on all development clips.

Confidence: each clip's video is also paired with the audio of every other clip of its set
(looped to length). A confidence threshold is chosen leave-one-video-out on the development
clips (balanced accuracy over the other clips' copies and swaps), the second set uses the one
chosen on all development clips, and the study reports the share of swapped pairs flagged "no
clear offset" and of in-sync clips flagged as matching, with the ROC.

Learned methods run with ``seeds`` initialisations; results are mean ± std over seeds
(training-free methods are deterministic: std 0). Outputs in ``out_dir``: ``results.json``,
``report.md``, ``offsets_<set>.png``, ``curves_<set>.png``, ``roc_<set>.png``, and
``clips/`` (the tracked lips of each clip, reused by a rerun).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.evaluation.studies.sync_real.decisions import CUE, MODEL, decisions
from xmodal.evaluation.studies.sync_real.methods import METHODS, TITLES, Clip
from xmodal.evaluation.sync import balanced_threshold, relative_absolute_accuracy, roc_curve
from xmodal.sync.offsets import DEFAULT_MAX_OFFSET

SETS = ("dev", "second", "frozen")
# the frozen final split, picked before any tuning of issue 26 (2026-12-07): the five camera
# clips added to ../shared/media/talking last (tk26-tk30), never read by a choice or a design
# run; `xmodal study sync-real --frozen` reports them once, at the end
FROZEN = ("tk26*", "tk27*", "tk28*", "tk29*", "tk30*")


@dataclass
class SyncRealConfig:
    """Settings of the real-footage sync study."""

    dev: tuple[str, ...] = ("*",)  # file-name globs of the development clips (in sync)
    second: tuple[str, ...] = ()  # file-name globs of clips never used for a choice (in sync)
    frozen: tuple[str, ...] = ()  # globs of the frozen final split (FROZEN), reported once
    offsets: tuple[int, ...] = tuple(range(-10, 11))  # injected shifts (frames; 0 included)
    seeds: int = 3  # initialisations of the learned methods
    methods: tuple[str, ...] = tuple(METHODS)  # methods compared; "multiway" is the main one
    max_offset: int = DEFAULT_MAX_OFFSET  # offsets searched: -M..M frames
    swaps: bool = True  # pair each video with every other clip's audio of its set
    steps: int | None = None  # multi-way training steps (None: LipTrainConfig's default)

    def __post_init__(self) -> None:
        self.dev, self.second, self.frozen = tuple(self.dev), tuple(self.second), tuple(self.frozen)
        self.offsets = tuple(sorted({int(k) for k in self.offsets} | {0}))
        self.methods = tuple(self.methods)
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ValueError(f"methods must be among {', '.join(METHODS)}, got {bad}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {self.seeds}")
        if max(abs(k) for k in self.offsets) >= self.max_offset:
            raise ValueError(f"injected offsets must lie inside ±{self.max_offset}")

    @classmethod
    def quick(cls, **overrides: Any) -> SyncRealConfig:
        """A smoke run: 3 offsets, one seed, a short training (not a result)."""
        return cls(**{"offsets": (-6, 0, 6), "seeds": 1, "steps": 20, **overrides})


# ----------------------------------------------------------------------------- data


def select_clips(folder: Path, config: SyncRealConfig) -> dict[str, list[Path]]:
    """The development, second-set and frozen videos of ``folder`` (a frozen match wins, then a
    second-set one)."""
    from xmodal.sync.clip import find_videos

    def matching(globs: tuple[str, ...], taken: list[Path]) -> list[Path]:
        return [p for p in videos
                if p not in taken and any(fnmatch.fnmatch(p.name, g) for g in globs)]  # fmt: skip

    videos = find_videos(folder)
    frozen = matching(config.frozen, [])
    second = matching(config.second, frozen)
    return {"dev": matching(config.dev, frozen + second), "second": second, "frozen": frozen}


def read_clips(paths: list[Path], cache: Path, progress: bool) -> tuple[dict, list[str]]:
    """Lip clips by file stem (cached in ``cache``), and ``"path: reason"`` for failures."""
    from tqdm.auto import tqdm

    from xmodal.features.face import FaceError
    from xmodal.media import MediaError
    from xmodal.sync.clip import LipClip, SyncCheckError, read_lip_clip

    clips, skipped = {}, []
    for p in tqdm(paths, desc="faces", unit="clip", disable=not progress):
        cached = cache / f"{p.stem}.npz"
        try:
            clip = LipClip.load(cached) if cached.is_file() else read_lip_clip(p)
        except (MediaError, SyncCheckError, FaceError) as e:
            skipped.append(f"{p}: {e}")
            continue
        if not cached.is_file():
            clip.save(cached)
        clips[p.stem] = clip
    return clips, skipped


def shifted(clip: Any, k: int) -> Clip:
    """(lips, bands) of a clip with its audio made to lead by ``k`` frames (trimming)."""
    from xmodal.sync.clip import SAMPLES_PER_FRAME, audio_bands

    lips, audio = clip.lips, clip.audio
    if k > 0:
        audio = audio[k * SAMPLES_PER_FRAME :]
    elif k < 0:
        lips = lips[-k:]
    return lips, audio_bands(audio, len(audio) // SAMPLES_PER_FRAME)


def swapped(clip: Any, donor: Any) -> Clip:
    """(lips, bands) of a clip's video with another clip's audio, looped to its length."""
    from xmodal.sync.clip import SAMPLES_PER_FRAME, audio_bands

    n = len(clip.audio)
    audio = np.resize(donor.audio, n) if len(donor.audio) < n else donor.audio[:n]
    return clip.lips, audio_bands(audio, n // SAMPLES_PER_FRAME)


# ----------------------------------------------------------------------------- evaluation


def _evaluate_set(
    method_name: str,
    seed: int,
    names: list[str],
    inputs: dict[str, dict[int, Clip]],
    swaps: dict[str, dict[str, Clip]],
    train_names: list[str] | None,
    config: SyncRealConfig,
) -> list[dict[str, Any]]:
    """Rows ``{clip, kind, k | donor, offset, confidence}`` of one method and seed on a set.

    ``train_names`` None: leave-one-video-out over ``names``; else one model on those clips.
    """
    method = METHODS[method_name]
    kwargs = {"steps": config.steps} if method_name.startswith("multiway") else {}
    rows = []
    shared = None
    if train_names is not None:
        shared = method(config.max_offset, **kwargs).fit([inputs[n][0] for n in train_names], seed)
    for name in names:
        est = shared
        if est is None:
            train = [inputs[n][0] for n in names if n != name]
            est = method(config.max_offset, **kwargs).fit(train, seed)
        for k in config.offsets:
            e = est.estimate(*inputs[name][k])
            rows.append({"clip": name, "kind": "shift", "k": k, **dataclasses.asdict(e)})
        for donor, pair in swaps.get(name, {}).items():
            e = est.estimate(*pair)
            rows.append({"clip": name, "kind": "swap", "donor": donor, **dataclasses.asdict(e)})
        if method_name == "multiway" and seed == 0:
            rows.append(
                {"clip": name, "kind": "curve", "curve": est.curve(*inputs[name][0]).tolist()}
            )
    return rows


def _score(rows: list[dict[str, Any]], offsets: tuple[int, ...]) -> dict[str, Any]:
    """Accuracies and errors of one method, seed and set."""
    per_clip: dict[str, dict[str, Any]] = {}
    rel_all, abs_all, abs2, err_abs, err_rel = [], [], [], [], []
    for row in rows:
        if row["kind"] == "shift":
            per_clip.setdefault(row["clip"], {})[row["k"]] = row["offset"]
    for clip, est in per_clip.items():
        rel, ab = relative_absolute_accuracy(est)
        ks = sorted(est)
        rel_all += rel
        abs_all += ab
        abs2 += [abs(est[k] - k) <= 2 for k in ks]
        err_abs += [abs(est[k] - k) for k in ks]
        err_rel += [abs(est[k] - est[0] - k) for k in ks]
        per_clip[clip] = {
            "est0": est[0],
            "relative": float(np.mean(rel)),
            "absolute": float(np.mean(ab)),
            "estimates": [est[k] for k in ks],
        }
    return {
        "relative": float(np.mean(rel_all)),
        "absolute": float(np.mean(abs_all)),
        "absolute_2": float(np.mean(abs2)),
        "mae_absolute": float(np.mean(err_abs)),
        "mae_relative": float(np.mean(err_rel)),
        "copies": len(abs_all),
        "per_clip": per_clip,
    }


def _flags(rows: list[dict[str, Any]], thresholds: dict[str, float]) -> dict[str, Any]:
    """Shares flagged with each clip's threshold: in-sync originals and copies as matching,
    swapped audio as not matching; and the ROC of in-sync copies against swaps."""
    conf = lambda r: r["confidence"] if np.isfinite(r["confidence"]) else -np.inf  # noqa: E731
    orig = [conf(r) >= thresholds[r["clip"]] for r in rows if r["kind"] == "shift" and r["k"] == 0]
    copies = [conf(r) >= thresholds[r["clip"]] for r in rows if r["kind"] == "shift"]
    swaps = [conf(r) < thresholds[r["clip"]] for r in rows if r["kind"] == "swap"]
    pos = [conf(r) for r in rows if r["kind"] == "shift"]
    neg = [conf(r) for r in rows if r["kind"] == "swap"]
    out = {
        "in_sync_matching": float(np.mean(orig)) if orig else None,
        "copies_matching": float(np.mean(copies)) if copies else None,
        "swaps_flagged": float(np.mean(swaps)) if swaps else None,
        "n_swaps": len(swaps),
    }
    if pos and neg:
        roc = roc_curve(np.nan_to_num(pos, neginf=-1e9), np.nan_to_num(neg, neginf=-1e9))
        out["auc"] = roc["auc"]
        out["roc"] = {"fpr": roc["fpr"], "tpr": roc["tpr"]}
    return out


def _confidences(rows: list[dict[str, Any]], exclude: str | None = None) -> tuple[list, list]:
    """Confidences of in-sync copies and of swaps, leaving out every row that involves a clip."""
    ok = lambda r: exclude is None or exclude not in (r["clip"], r.get("donor"))  # noqa: E731
    finite = lambda r: r["confidence"] if np.isfinite(r["confidence"]) else -1e9  # noqa: E731
    pos = [finite(r) for r in rows if r["kind"] == "shift" and ok(r)]
    neg = [finite(r) for r in rows if r["kind"] == "swap" and ok(r)]
    return pos, neg


def _run_seed(
    name: str,
    seed: int,
    names: dict[str, list[str]],
    inputs: dict[str, dict[int, Clip]],
    swaps: dict[str, dict[str, Clip]],
    config: SyncRealConfig,
) -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """One method and seed on every set: ``{set: (scores, rows)}``.

    Thresholds: on the development set each clip gets the one chosen on the other clips' rows
    (leave-one-video-out); the second and frozen sets get the one chosen on every development
    row.
    """
    dev_rows = _evaluate_set(name, seed, names["dev"], inputs, swaps, None, config)
    train = names["dev"] if METHODS[name].learned else None
    other = {s: _evaluate_set(name, seed, names[s], inputs, swaps, train, config)
             for s in SETS[1:] if names[s]}  # fmt: skip
    dev_threshold = balanced_threshold(*_confidences(dev_rows)) if config.swaps else None
    out = {}
    for s, rows in (("dev", dev_rows), *other.items()):
        if not rows:
            continue
        scores = _score(rows, config.offsets)
        if config.swaps and len(names[s]) > 1:
            thresholds = {
                n: balanced_threshold(*_confidences(dev_rows, n)) if s == "dev" else dev_threshold
                for n in names[s]
            }
            scores["flags"] = _flags(rows, thresholds)
            scores["thresholds"] = thresholds
        scores["dev_threshold"] = dev_threshold
        out[s] = (scores, rows)
    return out


def _mean_std(values: list[float | None]) -> dict[str, Any]:
    from xmodal.evaluation.report import mean_std

    return mean_std([np.nan if v is None else v for v in values])


# ----------------------------------------------------------------------------- the study


def run_study(
    data: str | Path,
    out_dir: str | Path,
    config: SyncRealConfig | None = None,
    *,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the study on a folder of real clips and write its report (see the module docstring).

    Raises:
        ValueError: fewer than 3 usable development clips.
    """
    from tqdm.auto import tqdm

    from xmodal.evaluation.studies.sync_real.report import write_report

    config = config or SyncRealConfig()
    data, out = Path(data), Path(out_dir)
    started = time.perf_counter()
    chosen = select_clips(data, config)
    clips, skipped = read_clips([p for s in SETS for p in chosen[s]], out / "clips", progress)
    names = {s: [p.stem for p in chosen[s] if p.stem in clips] for s in SETS}
    if len(names["dev"]) < 3:
        raise ValueError(
            f"{data}: {len(names['dev'])} usable development clips (matching "
            f"{', '.join(config.dev)}); the study needs at least 3" + "".join(
                f"\n  skipped {s}" for s in skipped)
        )  # fmt: skip
    inputs = {n: {k: shifted(c, k) for k in config.offsets} for n, c in clips.items()}
    swaps = {
        n: {d: swapped(clips[n], clips[d]) for d in names[s] if d != n}
        for s in SETS
        for n in names[s]
        if config.swaps
    }
    results: dict[str, Any] = {
        "study": "sync-real",
        "data": str(data.resolve()),
        "config": dataclasses.asdict(config),
        "clips": names,
        "skipped": skipped,
        "methods": {},
    }
    seeds = {m: config.seeds if m.startswith("multiway") else 1 for m in config.methods}
    bar = tqdm(total=sum(seeds.values()), desc="methods", unit="run", disable=not progress)
    all_rows: dict[str, dict[str, list[list[dict[str, Any]]]]] = {}
    for name in config.methods:  # training-free methods are deterministic: one run
        per_seed: dict[str, list[dict[str, Any]]] = {s: [] for s in SETS}
        rows_by_seed: dict[str, list[list[dict[str, Any]]]] = {s: [] for s in SETS}
        for seed in range(seeds[name]):
            bar.set_postfix_str(f"{name} seed {seed}")
            for s, (scores, rows) in _run_seed(name, seed, names, inputs, swaps, config).items():
                per_seed[s].append(scores)
                rows_by_seed[s].append(rows)
            bar.update()
        results["methods"][name] = _summarise(name, per_seed, rows_by_seed)
        all_rows[name] = rows_by_seed
    bar.close()
    if config.swaps and MODEL in all_rows and CUE in all_rows and len(names["dev"]) >= 3:
        results["decisions"] = decisions(all_rows)
    results["seconds"] = time.perf_counter() - started
    write_report(results, out)
    return results


def _summarise(
    name: str, per_seed: dict[str, list[dict[str, Any]]], rows: dict[str, list[list[dict]]]
) -> dict[str, Any]:
    out: dict[str, Any] = {"title": TITLES[name], "learned": METHODS[name].learned}
    for s, seeds in per_seed.items():
        if not seeds:
            continue
        keys = ("relative", "absolute", "absolute_2", "mae_absolute", "mae_relative")
        entry: dict[str, Any] = {k: _mean_std([x[k] for x in seeds]) for k in keys}
        entry["copies"] = seeds[0]["copies"]
        entry["per_clip"] = [x["per_clip"] for x in seeds]
        if "flags" in seeds[0]:
            for k in ("in_sync_matching", "copies_matching", "swaps_flagged", "auc"):
                entry[k] = _mean_std([x["flags"].get(k) for x in seeds])
            entry["roc"] = seeds[0]["flags"].get("roc")
            entry["n_swaps"] = seeds[0]["flags"]["n_swaps"]
        entry["dev_threshold"] = _mean_std([x["dev_threshold"] for x in seeds])
        entry["curves"] = {r["clip"]: r["curve"] for r in rows[s][0] if r["kind"] == "curve"}
        entry["confidences"] = [
            {k: r.get(k) for k in ("clip", "kind", "k", "donor", "offset", "confidence")}
            for r in rows[s][0]
            if r["kind"] != "curve"
        ]
        out[s] = entry
    return out

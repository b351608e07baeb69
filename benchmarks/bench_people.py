"""Benchmark the people building block (issue 28): face tracks per library segment, clustered.

For every talking-head clip of the shared media (``../shared/media/talking``), the frames the
library samples are decoded exactly as ingest does (5 s windows of
:func:`xmodal.library.embed.windows`, ``frames_per_segment`` frames per window at the centres
of equal sub-spans, the shorter side at most ``frame_short_side``; checked against
``Embedder._chunk_frames`` clip by clip), and :class:`xmodal.features.identity.FaceDescriber`
turns each window's frames into face tracks. The tracks are then clustered
(:func:`xmodal.features.identity.cluster_descriptors`) and scored against the hand-made ground
truth ``benchmarks/data/talking_identities.json`` (a track inherits its clip's identity):

1. the threshold is chosen on the **val** identities only: the highest pairwise recall with
   pairwise precision >= ``--min-precision``, for dlib's Chinese whispers (``--choose-from``;
   average-linkage agglomerative clustering is swept too, as a reference: it needs memory
   quadratic in the number of faces, which a library of years of video does not have);
2. pairwise precision and recall over face tracks with that setting on the **test** identities
   and on all clips, beside reference rows (every track its own cluster; one cluster; each
   clip its own cluster, an oracle);
3. both ways the describer follows a face (``--views``: ``best``, one descriptor per track;
   ``all``, every sighting described) are run; the library's is the one that is cheapest on
   the val clips among those whose val choice reaches recall ``--min-recall``;
4. the CPU time (``time.process_time`` of this process, all threads) of face description per
   minute of video against that of the library's default ingest without faces
   (``Embedder(IngestConfig(faces=False)).embed_media``: frames, tags, Whisper, the sentence
   encoder) on the same clips in the same run; decoding is shared with ingest and not counted
   for faces. Wall time (``perf_counter``) is reported too.

Targets (issue 28): pairwise precision >= 0.95 and recall >= 0.9; faces <= 25% of ingest time.

Usage:
    python benchmarks/bench_people.py [--out .cache/bench_people/results.json] [--repeat 2]
                                      [--views best,all] [--no-ingest] [--no-transcribe]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TRUTH = REPO / "benchmarks" / "data" / "talking_identities.json"


def _media_dir() -> Path:
    env = os.environ.get("XMODAL_TEST_MEDIA")
    root = Path(env) if env else REPO.parent / "shared" / "media"
    return root / "talking"


# ----------------------------------------------------------------------------- sampling


def frame_size(width: int, height: int, short_side: int) -> tuple[int, int] | None:
    """Decode size ``(H, W)`` with the shorter side at most ``short_side`` (as
    ``Embedder.frame_size``)."""
    short = min(width, height)
    if short <= short_side or short == 0:
        return None
    scale = short_side / short
    return max(1, round(height * scale)), max(1, round(width * scale))


def library_frames(path: Path, cfg) -> tuple[list[tuple[float, float]], list[np.ndarray | None]]:
    """The windows of a video and the frames ingest samples in each (as ``embed_media`` and
    ``Embedder._chunk_frames`` do).

    Returns:
        ``(spans, frames)``: per window ``(start, end)`` and its (T, H, W, 3) uint8 frames (None
        where nothing was decoded).
    """
    from xmodal.library.embed import windows
    from xmodal.media import probe, read_video

    info = probe(path)
    duration = info.duration
    if duration is None or duration <= 0:
        duration = max((s.duration or 0.0) for s in (info.video, info.audio) if s is not None)
    spans = windows(duration, cfg.segment_seconds, cfg.min_tail_seconds)
    frames: list[np.ndarray | None] = [None] * len(spans)
    per_chunk = max(1, int(cfg.chunk_seconds // cfg.segment_seconds))
    span_len = min(cfg.segment_seconds, max(spans[-1][1], 1e-3))
    fps = cfg.frames_per_segment / span_len
    size = frame_size(info.video.width, info.video.height, cfg.frame_short_side)
    for c in range(0, len(spans), per_chunk):
        idx = list(range(c, min(len(spans), c + per_chunk)))
        c0, c1 = spans[idx[0]][0], spans[idx[-1]][1]
        stack = read_video(path, fps=fps, size=size, start=c0 + 0.5 / fps, end=c1)  # (T,H,W,3)
        if len(stack) == 0:
            stack = read_video(path, size=size, start=c0, end=c1, max_frames=1)
        if len(stack) == 0:
            continue
        times = c0 + (np.arange(len(stack)) + 0.5) / fps  # (T,)
        for i in idx:
            a, b = spans[i]
            inside = np.flatnonzero((times >= a) & (times < b))
            if len(inside) == 0:
                inside = np.array([int(np.argmin(np.abs(times - (a + b) / 2)))])
            frames[i] = stack[inside]
    return spans, frames


def same_as_library(embedder, path: Path, spans, frames) -> bool:
    """Whether ``frames`` equal what ``Embedder._chunk_frames`` decodes for these windows."""
    from xmodal.media import probe

    info = probe(path)
    theirs: list[np.ndarray | None] = [None] * len(spans)
    per_chunk = max(1, int(embedder.config.chunk_seconds // embedder.config.segment_seconds))
    for c in range(0, len(spans), per_chunk):
        idx = list(range(c, min(len(spans), c + per_chunk)))
        embedder._chunk_frames(path, info, list(spans), idx, theirs)
    return all(
        (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))
        for a, b in zip(frames, theirs, strict=True)
    )


# ----------------------------------------------------------------------------- scoring


def pairwise(labels: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Pairwise precision and recall of a clustering against true identities.

    Precision: of the track pairs put together, the share of one person (1.0 when none are
    put together); recall: of the pairs of one person, the share put together.
    """
    iu = np.triu_indices(len(labels), k=1)
    pred = (labels[:, None] == labels[None, :])[iu]
    true = (truth[:, None] == truth[None, :])[iu]
    tp = int((pred & true).sum())
    precision = tp / int(pred.sum()) if pred.any() else 1.0
    recall = tp / int(true.sum()) if true.any() else 1.0
    return {"precision": precision, "recall": recall, "pairs_true": int(true.sum()),
            "pairs_pred": int(pred.sum()), "clusters": int(len(set(labels.tolist())))}  # fmt: skip


def choose(sweep: list[dict], min_precision: float) -> dict:
    """The sweep row with the highest recall among those with precision >= ``min_precision``.

    Ties: higher precision; then the method whose best (recall, precision) holds over the
    widest range of thresholds (the least sensitive to the threshold); then the median
    threshold of that range, away from its edges; then the method's name.
    """
    ok = [r for r in sweep if r["precision"] >= min_precision]
    if not ok:
        raise SystemExit(f"no setting reaches precision {min_precision} on val")
    top = max((r["recall"], r["precision"]) for r in ok)
    tied = [r for r in ok if (r["recall"], r["precision"]) == top]
    methods = sorted({r["method"] for r in tied})
    width = {m: sum(r["method"] == m for r in tied) for m in methods}
    method = max(methods, key=lambda m: (width[m], [-ord(c) for c in m]))
    rows = sorted((r for r in tied if r["method"] == method), key=lambda r: r["threshold"])
    return {**rows[(len(rows) - 1) // 2], "plateau": [rows[0]["threshold"], rows[-1]["threshold"]]}


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, default=None, help="the talking-head clips")
    parser.add_argument("--truth", type=Path, default=TRUTH, help="identities ground truth")
    parser.add_argument("--out", type=Path, default=REPO / ".cache/bench_people/results.json")
    parser.add_argument("--min-precision", type=float, default=0.95, help="val constraint")
    parser.add_argument("--min-recall", type=float, default=0.9, help="val target (views)")
    parser.add_argument("--views", default="best,all", help="FaceDescriber views to compare")
    parser.add_argument(
        "--choose-from",
        default="whispers",
        help="clustering methods the library may use (average linkage needs "
        "memory quadratic in the library's faces: a reference row only)",
    )
    parser.add_argument("--no-ingest", action="store_true", help="skip the ingest timing")
    parser.add_argument(
        "--no-transcribe",
        action="store_true",
        help="time ingest without speech recognition (not the default)",
    )
    parser.add_argument("--clips", type=int, default=None, help="only the first N clips")
    parser.add_argument("--repeat", type=int, default=1, help="timings: best of N runs")
    args = parser.parse_args()

    from xmodal.features.identity import (
        CLUSTERING,
        CLUSTERINGS,
        DEFAULT_THRESHOLD,
        VIEWS,
        FaceDescriber,
        cluster_descriptors,
        dlib_identity_models,
    )
    from xmodal.library.embed import Embedder, IngestConfig

    media = args.media or _media_dir()
    truth = json.loads(args.truth.read_text())
    clips = sorted(truth["clips"])[: args.clips]
    missing = [c for c in clips if not (media / c).is_file()]
    if missing:
        raise SystemExit(f"missing clips under {media}: {missing}")
    # the baseline: ingest as `library add` runs it by default (speech transcribed), no faces
    cfg = IngestConfig(transcribe=not args.no_transcribe, faces=False)
    embedder = Embedder(cfg)
    modes = [m.strip() for m in args.views.split(",") if m.strip()]
    choose_from = {m.strip() for m in args.choose_from.split(",") if m.strip()}
    describers = {m: FaceDescriber(views=m) for m in modes}
    dlib_identity_models()  # load outside the timings

    if not args.no_ingest:  # warm-up: encoder weights, ONNX session, first-call costs
        embedder.embed_media(media / clips[0], "0" * 64)

    tracks: dict[str, list[dict]] = {m: [] for m in modes}
    per_clip: list[dict] = []
    for name in clips:
        path = media / name
        known = truth["clips"][name]
        spans, frames = library_frames(path, cfg)
        match = same_as_library(embedder, path, spans, frames)
        if not match:
            print(f"warning: {name}: sampled frames differ from Embedder._chunk_frames",
                  file=sys.stderr)  # fmt: skip
        row = {"clip": name, "split": known["split"], "duration": spans[-1][1],
               "windows": len(spans), "frames_match_library": match}  # fmt: skip
        for mode, describer in describers.items():
            cpu = wall = 0.0
            n_frames = n_found = 0
            for w, stack in enumerate(frames):
                if stack is None:
                    continue
                fastest = (float("inf"), float("inf"))
                for _ in range(max(1, args.repeat)):
                    c0, w0 = time.process_time(), time.perf_counter()
                    seen = describer.describe(stack)
                    fastest = min(fastest, (time.process_time() - c0, time.perf_counter() - w0))
                cpu += fastest[0]
                wall += fastest[1]
                n_frames += len(stack)
                n_found += len({t for f in seen for t in f.frames})
                for f in seen:
                    tracks[mode].append({"clip": name, "window": w, "identity": known["identity"],
                                         "split": known["split"], "frames": list(f.frames),
                                         "size": f.size, "score": f.score,
                                         "descriptor": f.descriptor.tolist()})  # fmt: skip
            row[mode] = {"frames": n_frames, "frames_with_face": n_found,
                         "tracks": sum(t["clip"] == name for t in tracks[mode]),
                         "faces_cpu_s": cpu, "faces_wall_s": wall}  # fmt: skip
        if not args.no_ingest:
            entry_id = hashlib.sha256(path.read_bytes()).hexdigest()
            fastest = (float("inf"), float("inf"))
            for _ in range(max(1, args.repeat)):
                c0, w0 = time.process_time(), time.perf_counter()
                embedder.embed_media(path, entry_id)
                fastest = min(fastest, (time.process_time() - c0, time.perf_counter() - w0))
            row["ingest_cpu_s"], row["ingest_wall_s"] = fastest
        per_clip.append(row)
        costs = "  ".join(f"{m} {row[m]['faces_cpu_s']:5.2f} s" for m in modes)
        print(f"{name:<42} windows {len(spans):>2}  faces cpu: {costs}" + (
              f"  ingest {row['ingest_cpu_s']:6.2f} s" if "ingest_cpu_s" in row else ""),
              flush=True)  # fmt: skip

    minutes = sum(r["duration"] for r in per_clip) / 60
    val_minutes = sum(r["duration"] for r in per_clip if r["split"] == "val") / 60
    per_mode: dict[str, dict] = {}
    for mode in modes:
        found = tracks[mode]
        desc = np.array([t["descriptor"] for t in found], np.float64).reshape(-1, 128)
        ident = np.array([t["identity"] for t in found])
        split = np.array([t["split"] for t in found])
        clip = np.array([t["clip"] for t in found])
        val = split == "val"
        sweep = [
            {"method": m, "threshold": round(float(th), 3),
             **pairwise(cluster_descriptors(desc[val], float(th), m), ident[val])}
            for m in CLUSTERINGS
            for th in np.arange(0.30, 0.801, 0.01)
        ]  # fmt: skip
        best = {m: choose([r for r in sweep if r["method"] == m], args.min_precision)
                for m in CLUSTERINGS}  # fmt: skip
        per_mode[mode] = {
            "desc": desc, "ident": ident, "split": split, "clip": clip, "sweep": sweep,
            "best": best,
            "chosen": choose([r for r in sweep if r["method"] in choose_from], args.min_precision),
            "val_cpu_s_per_min": sum(r[mode]["faces_cpu_s"] for r in per_clip
                                     if r["split"] == "val") / val_minutes,
            "faces_cpu_s_per_min": sum(r[mode]["faces_cpu_s"] for r in per_clip) / minutes,
            "faces_wall_s_per_min": sum(r[mode]["faces_wall_s"] for r in per_clip) / minutes,
        }  # fmt: skip
    # views: the cheapest (on the val clips) whose val choice meets both targets
    meets = [m for m in modes if per_mode[m]["chosen"]["recall"] >= args.min_recall]
    views = min(meets or modes, key=lambda m: (m not in meets, per_mode[m]["val_cpu_s_per_min"]))
    pick = per_mode[views]
    desc, ident, split, clip = pick["desc"], pick["ident"], pick["split"], pick["clip"]
    method, threshold = pick["chosen"]["method"], pick["chosen"]["threshold"]

    rows = []
    for part in ("test", "all"):
        for mode in modes:
            m = per_mode[mode]
            mask = m["split"] == "test" if part == "test" else np.ones(len(m["ident"]), bool)
            n = int(mask.sum())
            c = m["chosen"]
            refs = {f"views={mode}, {c['method']} @ {c['threshold']:.2f} (chosen on val)"
                    + (" <- chosen" if mode == views else ""):
                    cluster_descriptors(m["desc"][mask], c["threshold"], c["method"])}  # fmt: skip
            if mode == views:
                refs.update({
                    f"views={mode}, library default ({CLUSTERING} @ {DEFAULT_THRESHOLD:.2f})":
                        cluster_descriptors(m["desc"][mask]),
                    "every track its own cluster": np.arange(n),
                    "one cluster": np.zeros(n, np.int64),
                    "each clip its own cluster (oracle)":
                        np.unique(m["clip"][mask], return_inverse=True)[1],
                })  # fmt: skip
            for label, labels in refs.items():
                rows.append({"part": part, "setting": label, "tracks": n,
                             "identities": int(len(set(m["ident"][mask].tolist()))),
                             **pairwise(np.asarray(labels), m["ident"][mask])})  # fmt: skip

    # the library's incremental placement (library add, clip by clip in name order): each new
    # track joins the person of its nearest placed track within the threshold, the others are
    # grouped among themselves (xmodal.library.people.add_faces)
    from xmodal.library.people import assign

    inc = np.full(len(desc), -1, np.int64)
    next_label = 0
    for name in sorted(set(clip.tolist())):
        idx = np.flatnonzero(clip == name)
        done = np.flatnonzero(inc >= 0)
        placed = assign(desc[done], inc[done].tolist(), desc[idx], threshold)
        rest = [i for i, owner in zip(idx, placed, strict=True) if owner is None]
        for i, owner in zip(idx, placed, strict=True):
            if owner is not None:
                inc[i] = owner
        if rest:
            labels = cluster_descriptors(desc[rest], threshold, method)
            inc[rest] = labels + next_label
            next_label += int(labels.max()) + 1
    for part in ("test", "all"):
        mask = split == "test" if part == "test" else np.ones(len(desc), bool)
        rows.append({"part": part, "setting": f"views={views}, added clip by clip (the "
                     f"library's add_faces @ {threshold:.2f})", "tracks": int(mask.sum()),
                     "identities": int(len(set(ident[mask].tolist()))),
                     **pairwise(inc[mask], ident[mask])})  # fmt: skip

    errors = []  # the chosen setting's mistakes on all clips
    labels_all = cluster_descriptors(desc, threshold, method)
    for k in sorted(set(labels_all.tolist())):
        members = sorted(set(ident[labels_all == k].tolist()))
        if len(members) > 1:
            errors.append({"merged": members, "clips": sorted(set(clip[labels_all == k]))})
    for person in sorted(set(ident.tolist())):
        ks = sorted(set(labels_all[ident == person].tolist()))
        if len(ks) > 1:
            errors.append({"split": person, "clusters": len(ks),
                           "tracks": int((ident == person).sum())})  # fmt: skip

    margins = {}  # how far apart people are: the nearest two of different people, farthest of one
    for mode in modes:
        m = per_mode[mode]
        d = np.linalg.norm(m["desc"][:, None] - m["desc"][None], axis=-1)  # (N, N)
        same = m["ident"][:, None] == m["ident"][None]
        off = ~np.eye(len(d), dtype=bool)
        far = np.where(same & off, d, -1.0)
        i, j = np.unravel_index(int(np.argmax(far)), d.shape)
        near = np.where(~same, d, np.inf)
        a, b = np.unravel_index(int(np.argmin(near)), d.shape)
        margins[mode] = {
            "farthest_same_person": [float(d[i, j]), m["clip"][i], m["clip"][j]],
            "nearest_different_people": [float(d[a, b]), m["clip"][a], m["clip"][b]],
        }

    timing = {
        "clock": "time.process_time (CPU of this process, all threads); wall: perf_counter",
        "repeat": f"best of {max(1, args.repeat)} per window (faces) and per clip (ingest)",
        "video_minutes": minutes,
        **{f"faces_{mode}_cpu_s_per_min": per_mode[mode]["faces_cpu_s_per_min"] for mode in modes},
        **{
            f"faces_{mode}_wall_s_per_min": per_mode[mode]["faces_wall_s_per_min"] for mode in modes
        },  # fmt: skip
    }
    if not args.no_ingest:
        timing["ingest_cpu_s_per_min"] = sum(r["ingest_cpu_s"] for r in per_clip) / minutes
        timing["ingest_wall_s_per_min"] = sum(r["ingest_wall_s"] for r in per_clip) / minutes
        for mode in modes:
            timing[f"faces_{mode}_over_ingest_cpu"] = (
                per_mode[mode]["faces_cpu_s_per_min"] / timing["ingest_cpu_s_per_min"]
            )

    results = {
        "truth": str(args.truth), "media": str(media), "min_precision": args.min_precision,
        "min_recall": args.min_recall, "library_views": VIEWS, "chosen_views": views,
        "describers": {m: {"upsample": d.upsample, "min_face_side": d.min_face_side,
                           "link_iou": d.link_iou, "link_distance": d.link_distance}
                       for m, d in describers.items()},
        "val": {m: {"best_per_method": per_mode[m]["best"], "chosen": per_mode[m]["chosen"],
                    "cpu_s_per_min": per_mode[m]["val_cpu_s_per_min"]} for m in modes},
        "chosen": {"views": views, **pick["chosen"]}, "rows": rows, "errors": errors,
        "margins": margins,
        "timing": timing, "clips": per_clip,
        "sweep": {m: per_mode[m]["sweep"] for m in modes}, "tracks": tracks,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")

    n_windows = sum(r["windows"] for r in per_clip)
    counts = ", ".join(f"{len(tracks[m])} ({m})" for m in modes)
    print(f"\nface tracks: {counts} from {len(clips)} clips "
          f"({n_windows} windows, {minutes:.2f} min of video)")  # fmt: skip
    print("\nval (choosing): best recall with precision >= "
          f"{args.min_precision} per views and method")  # fmt: skip
    print("| views | method | threshold | same result from .. to | precision | recall | "
          "faces CPU s / min (val clips) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for mode in modes:
        for m, r in per_mode[mode]["best"].items():
            print(f"| {mode} | {m} | {r['threshold']:.2f} | {r['plateau'][0]:.2f} .. "
                  f"{r['plateau'][1]:.2f} | {r['precision']:.3f} | {r['recall']:.3f} | "
                  f"{per_mode[mode]['val_cpu_s_per_min']:.2f} |")  # fmt: skip
    print(f"chosen: views={views}, {method} @ {threshold:.2f} (the cheapest views whose val "
          f"choice has recall >= {args.min_recall})")  # fmt: skip
    print("\n| part | setting | tracks | identities | clusters | precision | recall |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['part']} | {r['setting']} | {r['tracks']} | {r['identities']} | "
              f"{r['clusters']} | {r['precision']:.3f} | {r['recall']:.3f} |")  # fmt: skip
    print("\n| cost per minute of video | CPU s | wall s |\n|---|---|---|")
    for mode in modes:
        print(f"| faces, views={mode} | {per_mode[mode]['faces_cpu_s_per_min']:.2f} "
              f"| {per_mode[mode]['faces_wall_s_per_min']:.2f} |")  # fmt: skip
    if not args.no_ingest:
        print(
            f"| ingest without faces (embed_media, transcribe={cfg.transcribe}) | "
            f"{timing['ingest_cpu_s_per_min']:.2f} | {timing['ingest_wall_s_per_min']:.2f} |"
        )
        for mode in modes:
            print(f"| faces ({mode}) / ingest | {timing[f'faces_{mode}_over_ingest_cpu']:.0%} | |")
    print("\n| views | farthest tracks of one person | nearest tracks of two people |")
    print("|---|---|---|")
    for mode, g in margins.items():
        (fd, f1, f2), (nd, n1, n2) = g["farthest_same_person"], g["nearest_different_people"]
        print(f"| {mode} | {fd:.3f} ({f1}, {f2}) | {nd:.3f} ({n1}, {n2}) |")
    if errors:
        print("\nchosen setting's mistakes (all clips):")
        for e in errors:
            print(f"  {e}")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()

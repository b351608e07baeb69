"""Benchmark who is speaking (issue 28): is the face of a library segment the one that speaks?

For every talking-head clip of the shared media (``../shared/media/talking``: the visible face
is the speaker) the file is read as :mod:`xmodal.library.speaking` reads it (lip signals of
every 25 fps frame, the 16 kHz audio), cut into the library's 5 s segments, and each segment is
decided by the shipped lip model (:func:`xmodal.library.speaking.segment_speaks`):

* **attributed**: the share of segments (with speech and the face) judged speaking, on the clip's
  own audio (target >= 0.9);
* **falsely attributed**: the same segments with the audio of another speaker's clip (the next
  clip in name order whose person differs, by ``benchmarks/data/talking_identities.json``; the
  same position in it), judged speaking (target <= 0.1).

Both for the library's rule (the face speaks when the lip model answers "clear" or "low";
:data:`xmodal.library.speaking.SPEAKING_LEVELS`) and for "clear" only.

Rows by the lip model's own split (``docs/sync.md``): the development clips it was trained and
calibrated on, the frozen split tk26-tk30 it never saw, and the rest (tk19-tk21 known delays,
generated clips, tk31-tk32 music under the voice). Segments whose own audio is silent are left
out of both. The CPU time of reading and deciding is reported per minute of video against the
library's default ingest without faces on the same clips, in the same run.

Usage:
    python benchmarks/bench_speaking.py [--out .cache/bench_speaking/results.json] [--no-ingest]
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEV = ("tk0*", "tk1[0-8]*", "tk22*")  # the shipped lip model's development clips (docs/sync.md)
FROZEN = ("tk26*", "tk27*", "tk28*", "tk29*", "tk30*")
TRUTH = REPO / "benchmarks" / "data" / "talking_identities.json"


def split_of(name: str) -> str:
    if any(fnmatch.fnmatch(name, p) for p in DEV):
        return "development (trained on)"
    if any(fnmatch.fnmatch(name, p) for p in FROZEN):
        return "frozen (never seen)"
    return "other (delays, generated, music)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, default=None, help="the talking-head clips")
    parser.add_argument("--out", type=Path, default=REPO / ".cache/bench_speaking/results.json")
    parser.add_argument("--no-ingest", action="store_true", help="skip the ingest timing")
    args = parser.parse_args()

    from xmodal.library.embed import Embedder, IngestConfig, windows
    from xmodal.library.speaking import SPEAKING_LEVELS, lips_and_sound, segment_level
    from xmodal.sync.check import SILENCE_RMS
    from xmodal.sync.clip import LipClip
    from xmodal.sync.scorer import default_scorer

    env = os.environ.get("XMODAL_TEST_MEDIA")
    media = args.media or (Path(env) if env else REPO.parent / "shared" / "media") / "talking"
    names = sorted(p.name for p in media.iterdir() if p.suffix in (".mp4", ".avi", ".mpg"))
    truth = json.loads(TRUTH.read_text())["clips"]  # who is who (tk19-tk21: one man, ...)
    identity = {n: truth[n]["identity"] for n in names}
    scorer = default_scorer()
    cfg = IngestConfig(faces=False)
    embedder = None if args.no_ingest else Embedder(cfg)
    if embedder is not None:
        embedder.embed_media(media / names[0], "0" * 64)  # warm-up

    clips, cpu_read, minutes, ingest_cpu = {}, 0.0, 0.0, 0.0
    for name in names:
        c0 = time.process_time()
        clips[name] = lips_and_sound(media / name)
        cpu_read += time.process_time() - c0
        if embedder is not None:
            c0 = time.process_time()
            embedder.embed_media(media / name, hashlib.sha256(name.encode()).hexdigest())
            ingest_cpu += time.process_time() - c0
    rows, cpu_decide = [], 0.0
    for k, name in enumerate(names):
        clip = clips[name]
        others = names[k + 1 :] + names[:k]  # the next clip of another person
        other_name = next(n for n in others if identity[n] != identity[name])
        other = clips[other_name]
        if clip is None:
            rows.append({"clip": name, "split": split_of(name), "readable": False})
            continue
        duration = len(clip.lips) / 25.0
        minutes += duration / 60
        for a, b in windows(duration, cfg.segment_seconds, cfg.min_tail_seconds):
            own = clip.audio[int(a * 16000) : int(b * 16000)]
            if len(own) == 0 or np.sqrt(np.mean(np.square(own, dtype=np.float64))) < SILENCE_RMS:
                continue
            c0 = time.process_time()
            speaks = segment_level(clip, a, b, scorer)
            cpu_decide += time.process_time() - c0
            swapped = None
            if other is not None:
                audio = other.audio[int(a * 16000) : int(b * 16000)]
                if len(audio) >= len(own) * 0.9:
                    mixed = LipClip(clip.path, clip.lips, np.zeros(len(clip.audio), np.float32))
                    mixed.audio[int(a * 16000) : int(a * 16000) + len(audio)] = audio[
                        : len(mixed.audio) - int(a * 16000)
                    ]
                    swapped = segment_level(mixed, a, b, scorer)
            rows.append({"clip": name, "split": split_of(name), "readable": True, "start": a,
                         "end": b, "speaks": speaks, "other": other_name,
                         "swapped_speaks": swapped})  # fmt: skip

    def share(levels: list[str | None], rule: tuple[str, ...]) -> tuple[float | None, int]:
        decided = [lv in rule for lv in levels if lv is not None]
        return ((sum(decided) / len(decided)) if decided else None, len(decided))

    rules = {"clear or low": ("clear", "low"), "clear only": ("clear",)}
    table = []
    for split in sorted({r["split"] for r in rows}) + ["all"]:
        mine = [r for r in rows if r["readable"] and (split == "all" or r["split"] == split)]
        for label, rule in rules.items():
            own, n_own = share([r["speaks"] for r in mine], rule)
            swap, n_swap = share([r["swapped_speaks"] for r in mine], rule)
            table.append({"split": split, "rule": label, "clips": len({r["clip"] for r in mine}),
                          "segments": len(mine), "attributed": own, "decided": n_own,
                          "falsely_attributed": swap, "swapped_decided": n_swap,
                          "library": rule == SPEAKING_LEVELS})  # fmt: skip
    timing = {"clock": "time.process_time", "video_minutes": minutes,
              "speaking_cpu_s_per_min": (cpu_read + cpu_decide) / minutes}  # fmt: skip
    if embedder is not None:
        timing["ingest_cpu_s_per_min"] = ingest_cpu / minutes
        timing["speaking_over_ingest"] = timing["speaking_cpu_s_per_min"] / timing[
            "ingest_cpu_s_per_min"]  # fmt: skip
    unreadable = [r["clip"] for r in rows if not r["readable"]]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"table": table, "timing": timing, "unreadable": unreadable,
                                    "rows": rows}, indent=1) + "\n")  # fmt: skip

    def fmt(x: float | None) -> str:
        return "—" if x is None else f"{x:.2f}"

    print(f"{len(names)} clips, {minutes:.2f} min of video; no single face to follow: "
          f"{', '.join(unreadable) or 'none'}")  # fmt: skip
    print(
        "\n| clips | speaking when the lip model says | segments with speech | attributed to "
        "the face (own audio) | decided | attributed with another speaker's audio | decided |"
    )
    print("|---|---|---|---|---|---|---|")
    for t in table:
        mark = " (the library's)" if t["library"] else ""
        print(
            f"| {t['split']} ({t['clips']}) | {t['rule']}{mark} | {t['segments']} | "
            f"{fmt(t['attributed'])} | {t['decided']} | {fmt(t['falsely_attributed'])} | "
            f"{t['swapped_decided']} |"
        )
    print(
        f"\nCPU: {timing['speaking_cpu_s_per_min']:.2f} s per minute of video"
        + (
            f", {timing['speaking_over_ingest']:.0%} of ingest without faces "
            f"({timing['ingest_cpu_s_per_min']:.2f} s)"
            if embedder is not None
            else ""
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

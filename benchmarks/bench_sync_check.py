"""Benchmark ``xmodal sync check``: seconds of video analysed per second (real-time factor).

Measures, in one run, on a real 25 fps 512 x 512 talking-head clip (tk03-tk05 of the shared
media; ``--video`` for another):

1. the baseline: decoding alone (grayscale frames on the 25 fps timeline + 16 kHz audio, what
   every check must read);
2. faces: dlib detection once a second, 68 landmarks tracked in every frame, lip signals
   (decoding included);
3. the whole check with the shipped model (decode, faces, log-mel bands, the ±15-frame offset
   search and the confidence's rotated-audio null);

and prints each as a real-time factor (seconds of video per second of wall time; the target is
>= 10x on 2 cores) and the whole check's cost relative to decoding alone. Wall and process CPU
time are both reported: on a shared machine other processes inflate wall time.

Usage:
    python benchmarks/bench_sync_check.py [--repeat 3] [--video PATH]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

CLIPS = ("tk03_sadtalker_WDA_EdMarkey0_000.mp4", "tk04_sadtalker_RD_Radio34_000.mp4",
         "tk05_sadtalker_RD_Radio2_000.mp4")  # fmt: skip


def _timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best-of-``repeat`` (wall, CPU) seconds of one call of ``fn``."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - w0, time.process_time() - c0))
    return best


def _media_dir() -> Path:
    env = os.environ.get("XMODAL_TEST_MEDIA")
    root = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "media"
    return root / "talking"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of N timings")
    parser.add_argument("--video", type=Path, action="append", help="clip(s) to time")
    args = parser.parse_args()

    from xmodal.media import probe, read_audio
    from xmodal.sync.check import check_video
    from xmodal.sync.clip import gray_frames, read_lip_clip
    from xmodal.sync.scorer import default_scorer

    videos = args.video or [_media_dir() / c for c in CLIPS if (_media_dir() / c).is_file()]
    if not videos:
        raise SystemExit(f"no clip: pass --video (the shared clips are not at {_media_dir()})")
    scorer = default_scorer()
    check_video(videos[0], scorer)  # warm-up: imports, dlib models, first-call costs
    print(f"{'clip':<14}{'size':>10}{'stage':>28}{'wall s':>8}{'cpu s':>8}{'x real time':>13}")
    factors, cpu_factors = [], []
    for path in videos:
        info = probe(path)
        seconds = info.duration or 0.0
        size = f"{info.video.width}x{info.video.height}"
        stages = {
            "decode (baseline)": lambda p=path: (sum(1 for _ in gray_frames(p)), read_audio(p)),
            "faces + landmarks": lambda p=path: read_lip_clip(p),
            "sync check (whole)": lambda p=path: check_video(p, scorer),
        }
        walls, cpus = {}, {}
        for name, fn in stages.items():
            wall, cpu = _timed(fn, args.repeat)
            walls[name], cpus[name] = wall, cpu
            print(f"{path.stem[:13]:<14}{size:>10}{name:>28}{wall:>8.3f}{cpu:>8.3f}"
                  f"{seconds / wall:>12.1f}x")  # fmt: skip
        factors.append(seconds / walls["sync check (whole)"])
        cpu_factors.append(seconds / cpus["sync check (whole)"])
        ratio = walls["sync check (whole)"] / walls["decode (baseline)"]
        print(f"{path.stem[:13]:<14}whole check / decode alone: {ratio:.1f}x the time")
    print(f"whole check, {len(factors)} clips: {min(factors):.1f}x to {max(factors):.1f}x real "
          f"time (target >= 10x on 2 cores)")  # fmt: skip
    print(f"by process CPU time: {min(cpu_factors):.1f}x to {max(cpu_factors):.1f}x (what the "
          "check costs, whatever else runs; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")  # fmt: skip


if __name__ == "__main__":
    main()

"""Benchmark ``xmodal sync check``: seconds of video analysed per second.

Measures, in one run on this machine, on a talking clip rendered at two sizes (the synthetic
128 px clip and the same frames upscaled to 480 px, closer to real footage):

1. the baseline: decoding alone (25 fps grayscale frames + 16 kHz audio, what every check must
   read), in seconds of video per second;
2. the face pipeline: Haar detection every 5 frames, tracking and mouth crops;
3. the whole check (decode, faces, MFCC, both network streams over every 0.2 s window, the
   ±15-frame offset search) with an untrained default :class:`SyncNet` (weights do not change
   the speed);

and prints each as a real-time factor (seconds of video per second of compute, > 1 is faster
than real time) and the whole check's cost relative to decoding alone.

Wall time and process CPU time are both reported: on a shared machine other processes inflate
wall time, CPU time is what this process itself spent.

Usage:
    python benchmarks/bench_sync_check.py [--repeat 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best-of-``repeat`` (wall, CPU) seconds of one call of ``fn``."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - w0, time.process_time() - c0))
    return best


def make_clips(folder: Path) -> tuple[list[Path], float]:
    """A Haar-detectable talking clip at 128 px and upscaled to 480 px; returns their duration."""
    import cv2

    from xmodal.data.talking import TalkingConfig, make_clip
    from xmodal.media import write_mp4

    world = TalkingConfig(size=8, seed=0, speakers=20, resolution=128, min_words=12, max_words=14)
    clip = make_clip(world, 4)
    frames, audio = clip["frames"], clip["audio"]
    big = np.stack([cv2.resize(f, (480, 480), interpolation=cv2.INTER_CUBIC) for f in frames])
    paths = [folder / "talk128.mp4", folder / "talk480.mp4"]
    write_mp4(paths[0], frames, 25, audio, 16000)
    write_mp4(paths[1], big, 25, audio, 16000)
    return paths, len(frames) / 25


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="best of N timings")
    args = parser.parse_args()

    import torch

    from xmodal.evaluation.sync_check import check_video, face_clip, read_clip
    from xmodal.models.sync_net import SyncNet, SyncNetConfig

    torch.manual_seed(0)
    model = SyncNet(SyncNetConfig()).eval()
    with tempfile.TemporaryDirectory() as tmp:
        paths, seconds = make_clips(Path(tmp))
        check_video(paths[0], model=model)  # warm-up: imports, first-call costs
        print(f"clip: {seconds:.2f} s of video; torch threads {torch.get_num_threads()}")
        print(f"{'input':<12}{'stage':<34}{'wall s':>8}{'cpu s':>8}{'video s/s':>11}")
        for path in paths:
            gray, audio = read_clip(path)
            stages = {
                "decode (baseline)": lambda p=path: read_clip(p),
                "faces: detect+track+crop": lambda g=gray, a=audio: face_clip("b", g, a, 24),
                "sync check (whole)": lambda p=path: check_video(p, model=model),
            }
            walls = {}
            for name, fn in stages.items():
                wall, cpu = _timed(fn, args.repeat)
                walls[name] = wall
                print(f"{path.stem:<12}{name:<34}{wall:>8.2f}{cpu:>8.2f}{seconds / wall:>11.1f}")
            ratio = walls["sync check (whole)"] / walls["decode (baseline)"]
            print(f"{path.stem:<12}whole check / decode alone: {ratio:.1f}x the time")


if __name__ == "__main__":
    main()

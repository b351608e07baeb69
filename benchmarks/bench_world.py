"""Benchmark the object-action world generator: clips per second, end to end.

Measures, in one run on this machine:

1. the end-to-end rate of ``generate`` with the default worker count (every core);
2. the single-worker rate (``workers=1``, one OpenCV thread): the in-run baseline, and the
   parallel speed-up over it;
3. where a clip's time goes, measured single-process on a sample: parameter sampling, speech
   synthesis (espeak + fitting), rendering, MP4 encoding (H.264 + AAC) and the sidecar, in wall
   and CPU time (CPU time is what other processes on a shared machine cannot inflate);
4. the ratio of the end-to-end rate to the 20 clips/s target.

Usage:
    python benchmarks/bench_world.py [--size 200] [--frames 16] [--resolution 128]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

TARGET_CLIPS_PER_S = 20.0


def _rate(out: Path, config: object, workers: int) -> float:
    from xmodal.data.objects import generate

    start = time.perf_counter()
    generate(out, config, workers=workers, progress=False)
    return config.size / (time.perf_counter() - start)


def _stages(config: object, sample: int, tmp: Path) -> dict[str, tuple[float, float]]:
    """Mean (wall, CPU) seconds per clip of each stage, single process."""
    from xmodal.data.objects import render_clip, sample_params, synthesize_track, voice_variants
    from xmodal.media import write_mp4
    from xmodal.utils import write_json

    variants = voice_variants()
    names = ("params", "speech", "render", "encode", "sidecar")
    wall, cpu = dict.fromkeys(names, 0.0), dict.fromkeys(names, 0.0)
    for i in range(sample):
        marks = [(time.perf_counter(), time.process_time())]
        params = sample_params(config, i, variants)
        marks.append((time.perf_counter(), time.process_time()))
        track = synthesize_track(params)
        marks.append((time.perf_counter(), time.process_time()))
        frames = render_clip(track.params)
        marks.append((time.perf_counter(), time.process_time()))
        write_mp4(tmp / f"{i}.mp4", frames, config.fps, track.audio, config.sample_rate)
        marks.append((time.perf_counter(), time.process_time()))
        write_json(tmp / f"{i}.json", {"params": track.params.to_dict(), "words": track.words})
        marks.append((time.perf_counter(), time.process_time()))
        for name, (w0, c0), (w1, c1) in zip(names, marks[:-1], marks[1:], strict=True):
            wall[name] += w1 - w0
            cpu[name] += c1 - c0
    return {k: (wall[k] / sample, cpu[k] / sample) for k in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=200, help="clips per generation run")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--sample", type=int, default=40, help="clips timed stage by stage")
    args = parser.parse_args()

    import cv2

    from xmodal.data.objects import WorldConfig, render_clip, sample_params, synthesize_track
    from xmodal.utils import default_workers

    config = WorldConfig(size=args.size, frames=args.frames, resolution=args.resolution)
    workers = default_workers()
    # Warm up imports and caches (espeak, sprite footprints) so no run pays them alone.
    synthesize_track(sample_params(config, 0))
    render_clip(sample_params(config, 0))
    print(
        f"world: {args.size} clips, {config.frames} frames of {config.resolution}px at "
        f"{config.fps} fps, {config.duration:.1f} s audio at {config.sample_rate} Hz; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start"
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        parallel = _rate(tmp / "parallel", config, workers)
        cv2.setNumThreads(1)  # the baseline is one core's worth of work
        serial = _rate(tmp / "serial", config, 1)
        (tmp / "stages").mkdir()
        stages = _stages(config, min(args.sample, args.size), tmp / "stages")

    wall_total = sum(w for w, _ in stages.values())
    cpu_total = sum(c for _, c in stages.values())
    print(f"\nend to end, {workers} workers : {parallel:6.1f} clips/s")
    print(f"single worker (baseline) : {serial:6.1f} clips/s")
    print(f"parallel speed-up        : {parallel / serial:6.2f}x over 1 worker ({workers} workers)")
    print(
        f"vs target {TARGET_CLIPS_PER_S:.0f} clips/s      : {parallel / TARGET_CLIPS_PER_S:6.2f}x "
        f"({'meets' if parallel >= TARGET_CLIPS_PER_S else 'misses'} the target)"
    )
    n = min(args.sample, args.size)
    print(
        f"\nper clip, single process ({n} clips): {1000 * wall_total:.1f} ms wall, "
        f"{1000 * cpu_total:.1f} ms CPU"
    )
    print(f"  {'stage':<8} {'wall ms':>8} {'CPU ms':>8} {'share of CPU':>13}")
    for name, (w, c) in stages.items():
        print(f"  {name:<8} {1000 * w:8.1f} {1000 * c:8.1f} {100 * c / cpu_total:12.1f}%")
    print(
        f"CPU-bound ceiling with {workers} idle cores: {workers / cpu_total:.1f} clips/s "
        f"({workers / cpu_total / TARGET_CLIPS_PER_S:.2f}x the target; wall/CPU = "
        f"{wall_total / cpu_total:.2f} shows how contended the cores were)"
    )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""Benchmark the frozen encoders: EfficientNet-Lite0 frames/s and how close to the hardware limit,
log-mel and MFCC clips/s.

Measures, in one run on this machine (torch threads = every core this process may use):

1. the float32 matmul throughput of this machine (a large ``torch.mm``; the in-run hardware
   reference, in GFLOP/s);
2. EfficientNet-Lite0's FLOPs per 224 px frame, counted with
   ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add counts as 2 FLOPs);
3. EfficientNet-Lite0 frames/s at 224 px, one frame at a time and batched, the batched/single
   ratio (target >= 4x) and, for each, the achieved FLOP/s as a fraction of the matmul
   throughput (1.0 = as fast as a large matmul, the practical ceiling);
4. the network's trunk in ONNX Runtime (what the encoders run) against the same network in
   PyTorch (channels-last oneDNN), at 128 and 224 px, and the ratio;
5. the structured translator's streams encoder (128 px, optical flow) with quarter turns of the
   whole frame against eight turns of an object-centred view: clips/s and CPU s per clip;
6. log-mel and MFCC clips/s on 2 s clips at 16 kHz, as real-time factors (seconds of audio per
   second of compute), and the log-mel inverse (Griffin-Lim, 32 iterations).

Wall time and process CPU time are both reported: on a shared machine other processes inflate
wall time, CPU time is what this process itself spent.

Usage:
    python benchmarks/bench_features.py [--frames 64] [--batch-size 32] [--clips 20]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

TARGET_BATCHED_OVER_SINGLE = 4.0


def _timed(fn: Callable[[], object], repeat: int = 1) -> tuple[float, float]:
    """Best-of-``repeat`` (wall, CPU) seconds of one call of ``fn``."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - w0, time.process_time() - c0))
    return best


def matmul_gflops(n: int = 2048, repeat: int = 5) -> float:
    """Float32 ``torch.mm`` throughput of an ``n x n`` product, best of ``repeat``."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    wall, _ = _timed(lambda: torch.mm(a, b), repeat)
    return 2 * n**3 / wall / 1e9


def efficientnet_flops(encoder: object) -> int:
    """FLOPs of one 224 px frame through the feature extractor (conv stack + pooling)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, 3, encoder.image_size, encoder.image_size)
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        encoder.model.extract_features(x)
    return int(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=64, help="frames per EfficientNet run")
    parser.add_argument("--batch-size", type=int, default=32, help="frames per batched forward")
    parser.add_argument("--clips", type=int, default=20, help="2 s clips per audio encoder run")
    args = parser.parse_args()

    import torch

    from xmodal.features import get
    from xmodal.utils import default_workers

    torch.set_num_threads(default_workers())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    peak = matmul_gflops()
    print(f"matmul (2048^3 float32): {peak:.1f} GFLOP/s  [hardware reference]")

    enc = get("efficientnet-lite0").load()
    flops = efficientnet_flops(enc)
    print(
        f"EfficientNet-Lite0 @224: {flops / 1e9:.3f} GFLOP per frame "
        f"({flops / 2e9:.3f} G multiply-adds)"
    )

    # 256 px frames: the 0.875 centre crop is exactly 224 px, so no resize is timed.
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (args.frames, 256, 256, 3), dtype=np.uint8)
    enc.extract(frames[:2])  # warm-up (oneDNN primitive creation)

    n_single = max(4, args.frames // 4)
    wall_1, cpu_1 = _timed(lambda: [enc.extract(frames[i : i + 1]) for i in range(n_single)], 2)
    single = n_single / wall_1
    enc.batch_size = args.batch_size
    wall_b, cpu_b = _timed(lambda: enc.extract(frames), repeat=2)
    batched = args.frames / wall_b

    print("\nEfficientNet-Lite0 frames/s at 224 px (features incl. preprocessing):")
    print(f"  {'mode':<22}{'frames/s':>10}{'CPU s/frame':>13}{'of matmul peak':>16}")
    for name, rate, cpu, n in (
        ("one frame at a time", single, cpu_1, n_single),
        (f"batched ({args.batch_size})", batched, cpu_b, args.frames),
    ):
        print(f"  {name:<22}{rate:>10.1f}{cpu / n:>13.4f}{rate * flops / 1e9 / peak:>16.3f}")
    ratio = batched / single
    verdict = "met" if ratio >= TARGET_BATCHED_OVER_SINGLE else "NOT met"
    print(
        f"  batched / single = {ratio:.2f}x (target >= {TARGET_BATCHED_OVER_SINGLE:.0f}x: "
        f"{verdict}); CPU-time ratio {(cpu_1 / n_single) / (cpu_b / args.frames):.2f}x"
    )

    print(
        "\nEfficientNet-Lite0 trunk, ONNX Runtime (the encoders' path) against PyTorch's, "
        f"{args.batch_size} frames a batch:"
    )
    import torch

    def trunks(side: int) -> tuple[float, float]:
        x = torch.from_numpy(rng.standard_normal((args.batch_size, 3, side, side), np.float32))
        with torch.inference_mode():
            nhwc = x.contiguous(memory_format=torch.channels_last)  # oneDNN's fastest layout
            wall_t, _ = _timed(lambda: enc.model.extract_features(nhwc), repeat=3)
        wall_o, _ = _timed(lambda: enc.features_map(x), repeat=3)
        return wall_t, wall_o

    for side in (128, 224):
        wall_t, wall_o = trunks(side)
        n = args.batch_size
        print(f"  {side} px: PyTorch {1000 * wall_t / n:.2f} ms/frame, ONNX Runtime "
              f"{1000 * wall_o / n:.2f} ms/frame -> {wall_t / wall_o:.2f}x")  # fmt: skip

    # the structured translator's streams: 8 frames of a 2 s clip at 4 fps, 128 px, with flow
    streams = (
        ("quarter turns (before)", "rotations=4"),
        ("8 turns, object-centred", "rotations=8,zoom=0.4"),
    )
    clip = rng.integers(0, 256, (8, 128, 128, 3), dtype=np.uint8)
    print(f"\nstreams encoder (128 px, flow), {args.clips} clips of 8 frames:")
    print(f"  {'appearance view':<26}{'clips/s':>10}{'CPU s/clip':>12}{'CPU ratio':>11}")
    base_cpu = None
    for name, params in streams:
        senc = get(f"efficientnet-lite0-streams:image_size=128,crop=1.0,flow=true,{params}")
        senc.extract(clip)  # warm-up (loads the trunk)
        wall, cpu = _timed(lambda senc=senc: senc.extract_batch([clip] * args.clips), repeat=2)
        base_cpu = base_cpu or cpu
        print(f"  {name:<26}{args.clips / wall:>10.1f}{cpu / args.clips:>12.3f}"
              f"{cpu / base_cpu:>10.2f}x")  # fmt: skip

    print(f"\naudio encoders, {args.clips} clips of 2 s at 16 kHz:")
    t = np.arange(32000) / 16000
    clips = [
        (0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t) + 0.01 * rng.standard_normal(len(t))).astype(
            np.float32
        )
        for i in range(args.clips)
    ]
    audio_seconds = 2.0 * args.clips
    print(f"  {'encoder':<26}{'clips/s':>10}{'x real time':>13}{'CPU x real time':>17}")
    for name in ("logmel", "mfcc"):
        aenc = get(name).load()
        aenc.extract(clips[0])  # warm-up (librosa caches, numba)
        wall, cpu = _timed(lambda aenc=aenc: [aenc.extract(c) for c in clips], repeat=2)
        print(
            f"  {name:<26}{args.clips / wall:>10.1f}{audio_seconds / wall:>13.0f}"
            f"{audio_seconds / cpu:>17.0f}"
        )
    logmel = get("logmel").load()
    mels = [logmel.extract(c) for c in clips[:4]]
    logmel.inverse(mels[0], n_iter=2)  # warm-up
    wall, cpu = _timed(lambda: [logmel.inverse(m) for m in mels])
    print(
        f"  {'logmel inverse (GL 32 it)':<26}{len(mels) / wall:>10.1f}"
        f"{2.0 * len(mels) / wall:>13.1f}{2.0 * len(mels) / cpu:>17.1f}"
    )


if __name__ == "__main__":
    main()

"""Encoding throughput of the joint-space API: texts/s and clips/s, batched vs one at a time.

Through ``xmodal.load(RUN).encode_text / encode_video / encode_audio`` (frozen encoder + fitted
preprocessing + projection head, media decoding included for clips), measured in one run:

- **one at a time** (the in-run baseline): a Python loop calling the API with one item;
- **batched**: one call with the whole list (frames of every clip go through the frozen
  encoder together, one head forward per 64 items).

The ratio batched / one-at-a-time is printed for each modality. Wall time and process CPU time
are both reported (on a shared machine other processes inflate wall time).

Without ``--run``, a small object world (``--clips`` clips) is generated in a temporary
directory and a joint space with the requested encoders is trained on it for a few steps: the
throughput does not depend on how well the heads are trained.

Usage:
    python benchmarks/bench_joint_encode.py [--run RUN_DIR --data DATASET] [--clips 24]
        [--texts 256] [--repeat 2] [--video efficientnet-lite0] [--audio logmel] [--text minilm]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _timed(fn: Callable[[], object], repeat: int = 1) -> tuple[float, float]:
    """Best-of-``repeat`` (wall, CPU) seconds of one call of ``fn``."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - w0, time.process_time() - c0))
    return best


def build_space(workdir: Path, clips: int, video: str, audio: str, text: str) -> tuple[Path, Path]:
    """A world of ``clips`` clips and a joint space trained 10 steps on it."""
    from xmodal.data.objects import WorldConfig, generate
    from xmodal.joint import JointTrainConfig, train_joint

    world = generate(workdir / "world", WorldConfig(size=clips, seed=0), progress=False)
    cfg = JointTrainConfig(video=video, audio=audio, text=text)
    cfg = dataclasses.replace(
        cfg, train=dataclasses.replace(cfg.train, max_steps=10, batch_size=8, eval_every=10)
    )
    return train_joint(world, workdir / "run", cfg, progress=False), world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=None, help="A trained joint-space run.")
    parser.add_argument("--data", type=Path, default=None, help="Dataset whose clips to encode.")
    parser.add_argument("--clips", type=int, default=24, help="Clips to encode.")
    parser.add_argument("--texts", type=int, default=256, help="Sentences to encode.")
    parser.add_argument("--repeat", type=int, default=2, help="Best of this many timings.")
    parser.add_argument("--video", default="efficientnet-lite0")
    parser.add_argument("--audio", default="logmel")
    parser.add_argument("--text", default="minilm")
    args = parser.parse_args()

    import xmodal
    from xmodal.data.manifest import read_manifest
    from xmodal.data.objects import TEMPLATES
    from xmodal.data.splits import OBJECTS

    with tempfile.TemporaryDirectory() as tmp:
        if args.run is None:
            t0 = time.perf_counter()
            run, world = build_space(Path(tmp), args.clips, args.video, args.audio, args.text)
            print(f"built a {args.clips}-clip world and a joint space in "
                  f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
        else:
            if args.data is None:
                parser.error("--run needs --data (the clips to encode)")
            run, world = args.run, args.data
        space = xmodal.load(run)
        print(space)
        paths = [world / r["path"] for r in read_manifest(world)[: args.clips]]
        phrases = [t.format(o=o) for ts in TEMPLATES.values() for t in ts for o in OBJECTS]
        texts = [f"{phrases[i % len(phrases)]} ({i})" for i in range(args.texts)]

        # Warm-up: load every encoder's weights and the heads' first forward.
        space.encode_text(texts[:2])
        space.encode_video(paths[:1])
        space.encode_audio(paths[:1])

        rows = []
        for name, unit, items, fn in (
            ("text", "texts", texts, space.encode_text),
            ("video", "clips", paths, space.encode_video),
            ("audio", "clips", paths, space.encode_audio),
        ):
            single_wall, single_cpu = _timed(
                lambda fn=fn, items=items: [fn(x) for x in items], args.repeat
            )
            batch_wall, batch_cpu = _timed(lambda fn=fn, items=items: fn(items), args.repeat)
            n = len(items)
            rows.append((name, unit, n, n / single_wall, n / batch_wall, single_cpu, batch_cpu,
                         single_wall / batch_wall))  # fmt: skip

    print(f"\n{'modality':8} {'items':>6} {'one-at-a-time':>16} {'batched':>16} "
          f"{'CPU s (1x1 / batch)':>20} {'batched / single':>17}")  # fmt: skip
    for name, unit, n, single, batched, s_cpu, b_cpu, ratio in rows:
        print(f"{name:8} {n:6d} {single:10.1f} {unit:>5}/s {batched:10.1f} {unit:>5}/s "
              f"{s_cpu:9.2f} / {b_cpu:<8.2f} {ratio:16.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()

"""Benchmark the main job: ``xmodal demo`` end to end on a fresh directory.

Runs ``xmodal demo --out <fresh temp dir> --size N`` in a subprocess and measures, on this
machine and in this run:

1. wall time of the whole demo and of each of its five stages (world, features, starting the
   translation's worker, the memory library while the translation fits and is judged, the
   judged table and the spoken clip), read from the stage lines it prints;
2. peak resident memory of the process tree (the demo and every worker it starts), sampled
   every 0.2 s from ``/proc`` and summed over the tree, with the stage it fell in and how many
   processes the tree had then;
3. the ratios to the targets: 5 minutes and 4 GiB (a ratio <= 1 meets the target);
4. the machine's load average at the start and the end (the cores may be shared).

Usage:
    python benchmarks/bench_demo.py [--size 500] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TARGET_SECONDS = 300.0
TARGET_BYTES = 4 * 1024**3
STAGES = ("1/5", "2/5", "3/5", "4/5", "5/5")


def _tree_rss(root: int) -> tuple[int, int]:
    """Resident bytes of ``root`` and all its descendants, and how many processes they are,
    read from ``/proc`` (Linux)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            statm = Path(entry.path, "statm").read_text().split()
        except OSError:  # the process ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        pid, ppid = int(entry.name), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(statm[1]) * page
    total, count, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        count += pid in rss
        todo.extend(children.get(pid, []))
    return total, count


def run(size: int, out: Path) -> dict[str, object]:
    """Run the demo once; return wall times, stage times, peak RSS and the exit code."""
    xmodal = Path(sys.executable).with_name("xmodal")
    cmd = [str(xmodal), "demo", "--out", str(out), "--size", str(size), "--no-progress"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)  # fmt: skip
    peak, peak_at, peak_procs = 0, 0.0, 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_at, peak_procs
        while not done.is_set():
            rss, procs = _tree_rss(proc.pid)
            if rss > peak:
                peak, peak_at, peak_procs = rss, time.perf_counter() - start, procs
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    marks: dict[str, float] = {}
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        stripped = line.strip()
        for stage in STAGES:
            if stripped.startswith(stage):
                marks[stage] = time.perf_counter() - start
    code = proc.wait()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    bounds = [marks.get(s) for s in STAGES] + [wall]
    stages = {
        s: (bounds[i + 1] - bounds[i]) if bounds[i] is not None and bounds[i + 1] is not None
        else None
        for i, s in enumerate(STAGES)
    }  # fmt: skip
    peak_stage = max((s for s in STAGES if marks.get(s, wall) <= peak_at), default=None,
                     key=STAGES.index)  # fmt: skip
    return {"code": code, "wall": wall, "peak_rss": peak, "peak_stage": peak_stage,
            "peak_procs": peak_procs, "stages": stages, "output": lines}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500, help="clips in the demo world")
    parser.add_argument("--keep", type=Path, default=None, help="run here and keep the output")
    args = parser.parse_args()
    load0 = os.getloadavg()
    tmp = None
    if args.keep is None:
        tmp = Path(tempfile.mkdtemp(prefix="xmodal-bench-demo-"))
        out = tmp / "demo"
    else:
        out = args.keep
        if out.exists():
            sys.exit(f"{out} exists; the benchmark needs a fresh directory")
    try:
        result = run(args.size, out)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    load1 = os.getloadavg()
    if result["code"] != 0:
        sys.stdout.write("".join(result["output"][-40:]))
        sys.exit(f"xmodal demo failed with exit code {result['code']}")
    names = {"1/5": "world", "2/5": "features", "3/5": "start translation",
             "4/5": "library (+ translation in a worker)", "5/5": "judged + speak"}  # fmt: skip
    print(f"xmodal demo --size {args.size} on {os.cpu_count()} cores "
          f"(load average {load0[0]:.1f} at start, {load1[0]:.1f} at end)")  # fmt: skip
    for stage, seconds in result["stages"].items():  # type: ignore[union-attr]
        shown = "n/a" if seconds is None else f"{seconds:7.1f} s"
        print(f"  {names[stage]:<38} {shown}")
    wall, peak = float(result["wall"]), int(result["peak_rss"])  # type: ignore[arg-type]
    print(
        f"  {'total':<38} {wall:7.1f} s   ratio to the 5 min target: "
        f"{wall / TARGET_SECONDS:.2f} ({'met' if wall <= TARGET_SECONDS else 'missed'})"
    )
    print(
        f"  peak memory (process tree) {peak / 1024**3:.2f} GiB   ratio to the 4 GiB target: "
        f"{peak / TARGET_BYTES:.2f} ({'met' if peak <= TARGET_BYTES else 'missed'}), in stage "
        f"{result['peak_stage']}, {result['peak_procs']} processes"
    )


if __name__ == "__main__":
    main()

"""Load test of ``xmodal serve``: 1,000 searches at concurrency 16 over loopback.

Measures, in one run on this machine:

1. the in-process baseline: ``Library.search`` latency (p50/p99, mean) on the same library and
   queries, called directly (no HTTP), half before and half after the load;
2. the server: ``xmodal serve`` started in a subprocess on a free loopback port, then
   ``--requests`` ``GET /search`` calls from ``--concurrency`` concurrent clients (httpx,
   asyncio); every reply must be 200 with results (zero errors is asserted);
3. latency p50/p95/p99 and throughput, and the ratios to the baseline: per-request server time
   (wall / requests) over the in-process mean is the HTTP + JSON overhead factor (the server
   calls the library under one lock, so concurrent requests queue: client latency ~
   concurrency x service time).

Bounded: a fixed request count, a per-request timeout and a whole-run ``--timeout``; the server
is stopped at the end, also on failure. Loopback only.

Usage:
    python benchmarks/bench_server_load.py [--requests 1000] [--concurrency 16]
        [--library DIR] [--timeout 900]

Without ``--library`` a small library is built first in a temporary directory (speech clips,
recordings and notes, ingested with ``Library.add``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUERIES = [
    ("welcome to the garden", {}),
    ("happy birthday", {}),
    ("garden", {"modality": "video"}),
    ("birthday party", {"modality": "audio,video"}),
    ("oat milk and coffee", {"modality": "text"}),
    ("smoke alarm batteries", {"k": "5"}),
    ("electricity bill", {"path": "*.md"}),
    ("what did we say in the garden", {}),
    ("a song for someone's birthday", {"k": "3"}),
    ("shopping list", {"since": "2000-01-01"}),
    ("welcome", {}),
    ("open the window", {}),
]

SPEECH = {
    "garden.mp4": "welcome to the garden",
    "party.mp4": "happy birthday to you",
    "memo.wav": "welcome to the garden",
    "song.wav": "happy birthday to you",
}
NOTES = {
    "groceries.md": "Shopping list: oat milk, coffee beans and batteries for the smoke alarm.",
    "bills.md": "Pay the electricity bill before the end of the month.",
    "garden.md": "Plant tomatoes in the garden once the nights are warmer.",
}


def build_library(root: Path) -> Path:
    """Write a few speech clips, recordings and notes, and ingest them; returns the library."""
    import numpy as np

    from xmodal.data.speech import synthesize
    from xmodal.library.library import Library
    from xmodal.media import write_mp4, write_wav

    media = root / "media"
    media.mkdir(parents=True)
    sr, fps = 16000, 10
    rng = np.random.default_rng(0)
    for name, text in SPEECH.items():
        speech = synthesize(text, rate=140).waveform
        audio = np.concatenate([np.zeros(sr // 2, np.float32), speech, np.zeros(sr, np.float32)])
        audio += 1e-3 * rng.standard_normal(len(audio)).astype(np.float32)  # a noise floor
        if name.endswith(".wav"):
            write_wav(media / name, audio, sr)
            continue
        frames = np.full((int(len(audio) / sr * fps), 96, 128, 3), 90, np.uint8)  # (T, H, W, 3)
        for t in range(len(frames)):
            frames[t, 30:60, (t * 7) % 100 : (t * 7) % 100 + 24] = 255
        write_mp4(media / name, frames, fps, audio, sr)
    for name, text in NOTES.items():
        (media / name).write_text(text + "\n")
    library = root / "library"
    with Library.open(library) as lib:
        report = lib.add([media], progress=False, workers=1)
    if report.failed:
        raise SystemExit(f"ingest failed: {report.failed}")
    print(f"built {library}: {report.summary()}")
    return library


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def baseline(library: Path, calls: int) -> list[float]:
    """Seconds per ``Library.search`` call, in this process (after a warm-up call)."""
    from xmodal.library.library import Library

    times = []
    with Library.open(library, create=False) as lib:
        lib.search("warm up", k=10)
        for i in range(calls):
            query, options = QUERIES[i % len(QUERIES)]
            kwargs = {
                "modalities": options.get("modality"),
                "since": options.get("since"),
                "path_glob": options.get("path"),
                "k": int(options.get("k", 10)),
            }
            start = time.perf_counter()
            lib.search(query, **kwargs)
            times.append(time.perf_counter() - start)
    return times


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(library: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("XMODAL_TOKEN", None)
    cmd = [sys.executable, "-m", "xmodal", "serve", "--library", str(library)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def wait_ready(base: str, proc: subprocess.Popen[bytes], limit_s: float) -> None:
    import httpx

    deadline = time.monotonic() + limit_s
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"server exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                if (await client.get(base + "/health")).status_code == 200:
                    # The first search loads the encoders: keep it out of the measurement.
                    await client.get(base + "/search", params={"q": "warm up"}, timeout=120)
                    return
            except httpx.TransportError:
                await asyncio.sleep(0.2)
    raise SystemExit(f"server not ready after {limit_s:.0f} s")


async def load(base: str, requests: int, concurrency: int) -> tuple[list[float], list[str]]:
    """Send ``requests`` searches from ``concurrency`` workers; returns latencies and errors."""
    import httpx

    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            query, options = QUERIES[i % len(QUERIES)]
            start = time.perf_counter()
            try:
                reply = await client.get(base + "/search", params={"q": query, **options})
                latencies.append(time.perf_counter() - start)
                if reply.status_code != 200 or not reply.json()["results"]:
                    errors.append(f"#{i} {query!r}: {reply.status_code} {reply.text[:200]}")
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                errors.append(f"#{i} {query!r}: {type(exc).__name__}: {exc}")

    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--library", type=Path, default=None, help="an existing library")
    parser.add_argument("--baseline-calls", type=int, default=100, help="in-process calls (>= 2)")
    parser.add_argument("--timeout", type=float, default=900.0, help="limit for the load phase")
    args = parser.parse_args()
    if not 1 <= args.requests <= 100_000 or not 1 <= args.concurrency <= 256:
        raise SystemExit("--requests must be in 1..100000 and --concurrency in 1..256")
    if args.baseline_calls < 2:
        raise SystemExit("--baseline-calls must be >= 2")

    import torch

    torch.set_num_threads(1)  # what the server gets through OMP_NUM_THREADS=1
    with tempfile.TemporaryDirectory(prefix="xmodal-bench-") as tmp:
        library = args.library or build_library(Path(tmp))
        before = baseline(library, args.baseline_calls // 2)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = start_server(library, port)
        try:
            asyncio.run(wait_ready(base, proc, 180))
            start = time.perf_counter()
            latencies, errors = asyncio.run(
                asyncio.wait_for(load(base, args.requests, args.concurrency), args.timeout)
            )
            wall = time.perf_counter() - start
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        # Measured before and after the load: a shared machine's speed drifts during a run.
        after = baseline(library, args.baseline_calls - args.baseline_calls // 2)
        inproc = before + after

    in_p50, in_p99, in_mean = (
        percentile(inproc, 50),
        percentile(inproc, 99),
        statistics.mean(inproc),
    )
    p50, p95, p99 = (percentile(latencies, q) for q in (50, 95, 99))
    per_request = wall / args.requests
    print(f"in-process Library.search ({len(inproc)} calls, half before and half after the "
          f"load): p50 {in_p50 * 1e3:.1f} ms, p99 {in_p99 * 1e3:.1f} ms, "
          f"mean {in_mean * 1e3:.1f} ms (before {statistics.mean(before) * 1e3:.1f}, "
          f"after {statistics.mean(after) * 1e3:.1f})")  # fmt: skip
    print(f"server: {args.requests} GET /search at concurrency {args.concurrency} in {wall:.1f} s "
          f"= {args.requests / wall:.1f} req/s; errors {len(errors)}")  # fmt: skip
    print(f"server latency: p50 {p50 * 1e3:.1f} ms, p95 {p95 * 1e3:.1f} ms, "
          f"p99 {p99 * 1e3:.1f} ms")  # fmt: skip
    print(f"per-request server time {per_request * 1e3:.1f} ms = "
          f"{per_request / in_mean:.2f}x the in-process mean (HTTP + JSON overhead)")  # fmt: skip
    print(f"p50 latency / in-process p50 = {p50 / in_p50:.1f}x "
          f"(requests queue for the library lock; ~{args.concurrency} in flight)")  # fmt: skip
    for line in errors[:10]:
        print("  error:", line)
    assert not errors, f"{len(errors)} of {args.requests} requests failed"
    assert len(latencies) == args.requests, f"{len(latencies)} of {args.requests} answered"


if __name__ == "__main__":
    main()

"""Load test of ``xmodal serve`` at concurrency 1, 4 and 16, and where one text search's time goes.

Measures, in one run on this machine:

1. **In-process text search, broken down** — on the small library the server serves, and on a
   synthetic library of ``--segments`` (default 100,000) segments: the query's encoding
   (MiniLM), each vector list (``text-frozen``; ``tags-frozen`` and ``joint`` when the library
   has them), the full-text lists (``fts``: segments and whole entries; ``tags``: segments'
   tag words), and the fusion, each timed on its own, one after
   the other (their sum is what a search cost when it ran them in sequence); then
   ``Library.search`` end to end, as it runs now (encoding in the search pool, the lists side by
   side, the full-text list started during the encoding) and with ``pool=None`` (everything in
   the calling thread, in sequence), interleaved query by query.
2. **The server** — ``xmodal serve`` started in a subprocess on a free loopback port (one torch
   thread per query-encoding thread), then ``--requests`` ``GET /search`` calls at each
   concurrency (httpx, asyncio). Every reply must be 200 with results. Reported per
   concurrency: throughput, p50/p95/p99 latency, the server's CPU time per request (its
   process and its query-encoding processes) and
   the cores it kept busy (CPU time / wall time: on a machine shared with other work, what
   the server was given), and the ratios the targets are about (throughput at the highest
   concurrency over concurrency 1; p99 over p50 there).
   With ``--baseline-src DIR`` (a source tree of an earlier xmodal, e.g. a checkout of main
   before the concurrent server) the same load is sent to a server started from that tree too,
   on the same library, in the same run, alternating rounds so both see the same machine.

Targets: concurrency 16 throughput >= 1.7x concurrency 1 on 2 cores, 0 errors, p99 <= 3x p50;
in-process text search p50 <= 20 ms at 100,000 segments.

Usage:
    python benchmarks/bench_server_load.py [--requests 300] [--concurrency 1,4,16]
        [--segments 100000] [--baseline-src DIR] [--library DIR] [--cache .cache/bench]

The small library (speech clips, recordings and notes, ingested with ``Library.add``) and the
synthetic one (8 random dictionary words per segment and their MiniLM ``text-frozen`` vectors)
are built once under ``--cache`` and reused.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

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


# ----------------------------------------------------------------------------- libraries


def build_library(library: Path) -> Path:
    """Write a few speech clips, recordings and notes beside ``library``, and ingest them."""
    from xmodal.data.speech import synthesize
    from xmodal.library import Library
    from xmodal.media import write_mp4, write_wav

    media = library.parent / "media"
    media.mkdir(parents=True, exist_ok=True)
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
    with Library.open(library) as lib:
        report = lib.add([media], progress=False, workers=1)
    if report.failed:
        raise SystemExit(f"ingest failed: {report.failed}")
    print(f"built {library}: {report.summary()}")
    return library


def vocabulary(size: int = 5000) -> list[str]:
    """Dictionary words (whole alphabetic words of the MiniLM tokenizer's vocabulary)."""
    from xmodal import features

    enc = features.get("minilm").load()
    vocab = enc._model.tokenizer.get_vocab()  # the model's own word list, offline
    words = sorted(w for w in vocab if w.isalpha() and w.isascii() and len(w) >= 4)
    rng = np.random.default_rng(1)
    return [str(w) for w in rng.choice(words, size=min(size, len(words)), replace=False)]


def build_synthetic(library: Path, segments: int, per_entry: int = 10) -> Path:
    """A library of ``segments`` transcript segments: 8 random dictionary words each, and their
    real MiniLM ``text-frozen`` vectors (the library's real model id, so the real encoders
    search it; MiniLM vectors of random words spread like the model's other vectors, which is
    what the approximate index is calibrated on)."""
    from xmodal.library import Entry, Library, Segment
    from xmodal.types import Modality

    words = vocabulary()
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    with Library.open(library) as lib:
        encoder = lib.embedder.ready(lib.embedder.text)
        batch = []
        for i in range(segments // per_entry):
            texts = [" ".join(rng.choice(words, 8)) for _ in range(per_entry)]
            e = Entry(id=hashlib.sha256(f"synthetic-{i}".encode()).hexdigest(),
                      path=f"/synthetic/rec{i:06d}.wav", modality=Modality.AUDIO,
                      created=1.7e9 + i, modified=1.7e9 + i, duration=5.0 * per_entry,
                      text=" ".join(texts))  # fmt: skip
            batch.append((e, texts))
            if len(batch) == 200 or i == segments // per_entry - 1:
                flat = [t for _, ts in batch for t in ts]
                vecs = encoder.extract(flat)  # (B * per_entry, 384), unit rows
                items, row = [], 0
                for entry, ts in batch:
                    segs = [
                        Segment(entry.id, j, 5.0 * j, 5.0 * j + 5, ts[j], {"text-frozen": v})
                        for j, v in enumerate(vecs[row : row + per_entry])
                    ]
                    row += per_entry
                    items.append((entry, segs))
                lib.store.upsert_entries(items)
                batch = []
        lib.store.optimize()  # IVF_SQ index, calibrated; full-text index
        stats = lib.store.stats()
    print(f"built {library}: {stats['segments']:,} segments in {time.perf_counter() - t0:.0f} s")
    return library


# ----------------------------------------------------------------------------- in-process


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def breakdown(library: Path, queries: list[str], k: int = 10) -> dict[str, list[float]]:
    """Seconds per stage and per end-to-end search (see the module docstring, point 1)."""
    from xmodal.library import Filters, Library
    from xmodal.library.embed import JOINT_SPACE, TEXT_SPACE
    from xmodal.library.search import fuse, search
    from xmodal.library.tagging import TAG_SPACE
    from xmodal.types import Modality

    times: dict[str, list[float]] = {}

    def timed(name: str, fn, *args, **kwargs):
        start, cpu = time.perf_counter(), time.process_time()
        out = fn(*args, **kwargs)
        times.setdefault(name, []).append(time.perf_counter() - start)
        times.setdefault(f"cpu:{name}", []).append(time.process_time() - cpu)
        return out

    with Library.open(library, create=False) as lib:
        store, emb = lib.store, lib.embedder
        spaces = store.meta().spaces
        joint = emb.joint if JOINT_SPACE in spaces and emb.has_joint else None
        candidates, none = max(3 * k, 30), Filters()
        for q in queries[:3]:  # load the encoders, warm the caches
            lib.search(q, k=k)
            search(store, emb, q, k=k)
        for q in queries:
            feat = timed("encode (MiniLM)", emb.text.extract, [q])[0]  # (384,)
            lists = {}
            vectors = {s: feat for s in (TEXT_SPACE, TAG_SPACE) if s in spaces}
            if joint is not None:
                vectors[JOINT_SPACE] = timed("encode (joint head)", joint.encode_features,
                                             Modality.TEXT, [feat])[0]  # fmt: skip
            for space, vec in vectors.items():
                unit = (vec / np.linalg.norm(vec)).astype(np.float32)
                lists[space] = timed(f"list {space}", store.search_vector, space, unit,
                                     k=candidates, filters=none)  # fmt: skip
            lists["fts"] = timed("list fts", store.search_text, q, k=candidates, filters=none)
            lists["tags"] = timed("list tags", store.search_tags, q, k=candidates, filters=none)
            timed("fusion", fuse, lists, k, re.findall(r"\w+", q))
            timed("search, sequential (pool=None)", search, store, emb, q, k=k)
            timed("search, as served (pool)", lib.search, q, k=k)
    return times


def print_breakdown(title: str, times: dict[str, list[float]]) -> None:
    """Wall-clock p50/p99 per stage, and the process's CPU time (all its threads, LanceDB's
    included), which a busy shared machine inflates far less than wall time."""
    stages = [n for n in times if not n.startswith(("search", "cpu:"))]
    print(f"\n{title} ({len(times[stages[0]])} queries; ms)")
    print(f"  {'stage':34s} {'p50':>7s} {'p99':>7s} {'CPU p50':>8s}")
    total = cpu_total = 0.0
    for name in [*stages, "search, sequential (pool=None)", "search, as served (pool)"]:
        ms = [t * 1e3 for t in times[name]]
        cpu = percentile([t * 1e3 for t in times[f"cpu:{name}"]], 50)
        if name in stages:
            total += percentile(ms, 50)
            cpu_total += cpu
        elif name.startswith("search, seq"):
            print(f"  {'sum of the stage p50s':34s} {total:7.2f} {'':7s} {cpu_total:8.2f}")
        print(f"  {name:34s} {percentile(ms, 50):7.2f} {percentile(ms, 99):7.2f} {cpu:8.2f}")


# ----------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(library: Path, port: int, src: Path | None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("XMODAL_TOKEN", None)
    if src is not None:
        env["PYTHONPATH"] = str(src)
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
                    for q, _ in QUERIES:  # load the encoders, keep first calls out of it
                        await client.get(base + "/search", params={"q": q}, timeout=120)
                    return
            except httpx.TransportError:
                await asyncio.sleep(0.2)
    raise SystemExit(f"server not ready after {limit_s:.0f} s")


async def load(base: str, requests: int, concurrency: int) -> tuple[list[float], list[str], float]:
    """Send ``requests`` searches from ``concurrency`` workers: latencies, errors, wall time."""
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

    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return latencies, errors, time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its children (the server's query
    encoders are child processes), from Linux ``/proc``."""
    total = 0.0
    for child in Path("/proc").iterdir():
        if not child.name.isdigit():
            continue
        try:
            fields = (child / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(child.name) == pid or int(fields[1]) == pid:  # itself, or its parent is pid
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def serve_rounds(
    library: Path,
    servers: dict[str, Path | None],
    levels: list[int],
    requests: int,
    rounds: int,
    timeout: float,
) -> dict[tuple[str, int], dict]:
    """Every server, every concurrency, ``rounds`` times, alternating; pooled per cell."""
    procs, bases = {}, {}
    cells: dict[tuple[str, int], dict] = {}
    try:
        for name, src in servers.items():
            port = free_port()
            bases[name] = f"http://127.0.0.1:{port}"
            procs[name] = start_server(library, port, src)
            asyncio.run(wait_ready(bases[name], procs[name], 300))
        share = max(1, requests // rounds)
        for _ in range(rounds):
            for level in levels:
                for name in servers:
                    cpu = cpu_seconds(procs[name].pid)
                    lat, err, wall = asyncio.run(
                        asyncio.wait_for(load(bases[name], share, level), timeout)
                    )
                    cell = cells.setdefault(
                        (name, level), {"lat": [], "err": [], "wall": 0.0, "cpu": 0.0}
                    )
                    cell["lat"] += lat
                    cell["err"] += err
                    cell["wall"] += wall
                    cell["cpu"] += cpu_seconds(procs[name].pid) - cpu
    finally:
        for proc in procs.values():
            stop(proc)
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="per server and concurrency")
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated levels")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per level")
    parser.add_argument("--segments", type=int, default=100_000, help="synthetic library size")
    parser.add_argument("--queries", type=int, default=60, help="in-process queries per library")
    parser.add_argument("--library", type=Path, default=None, help="an existing library to serve")
    parser.add_argument("--baseline-src", type=Path, default=None,
                        help="src/ of an earlier xmodal to load-test beside this one")  # fmt: skip
    parser.add_argument("--cache", type=Path, default=Path(".cache/bench"))
    parser.add_argument("--timeout", type=float, default=900.0, help="limit per load round")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    if not 1 <= args.requests <= 100_000 or not all(1 <= c <= 256 for c in levels):
        raise SystemExit("--requests must be in 1..100000 and each concurrency in 1..256")

    import torch

    torch.set_num_threads(1)  # what the server's encoding threads get
    print(f"load average before: {os.getloadavg()} on {os.cpu_count()} cores")
    small = args.library or args.cache / "small" / "library"
    if not (small / "meta.lance").exists():
        build_library(small)
    synthetic = args.cache / f"synthetic-{args.segments}" / "library"
    if args.segments and not (synthetic / "meta.lance").exists():
        build_synthetic(synthetic, args.segments)

    texts = [q for q, _ in QUERIES]
    cycled = [texts[i % len(texts)] for i in range(args.queries)]
    print_breakdown(f"in-process text search, {small}", breakdown(small, cycled))
    if args.segments:
        words = vocabulary()
        rng = np.random.default_rng(2)
        probes = [" ".join(rng.choice(words, 1 + i % 3)) for i in range(args.queries)]
        print_breakdown(f"in-process text search, {args.segments:,} segments",
                        breakdown(synthetic, probes))  # fmt: skip

    servers: dict[str, Path | None] = {"this tree": None}
    if args.baseline_src is not None:
        servers = {"baseline": args.baseline_src.resolve(), "this tree": None}
    cells = serve_rounds(small, servers, levels, args.requests, args.rounds, args.timeout)
    print(f"\nserver: GET /search over loopback, {args.rounds} alternating rounds "
          f"(load average after: {os.getloadavg()})")  # fmt: skip
    head = ["server", "conc.", "req/s", "p50 ms", "p95 ms", "p99 ms", "p99/p50", "errors"]
    widths = [-10, 5, 7, 8, 8, 8, 7, 6, 10, 5]
    head += ["CPU ms/req", "cores"]
    cols = zip(head, widths, strict=True)
    print("  " + " ".join(f"{h:<{-w}}" if w < 0 else f"{h:>{w}}" for h, w in cols))
    failed = 0
    for name in servers:
        for level in levels:
            cell = cells[(name, level)]
            lat = cell["lat"]
            p50, p95, p99 = (percentile(lat, q) * 1e3 for q in (50, 95, 99))
            rate = len(lat) / cell["wall"]
            cell["rate"], cell["p50"], cell["p99"] = rate, p50, p99
            failed += len(cell["err"])
            print(f"  {name:10s} {level:5d} {rate:7.1f} {p50:8.1f} {p95:8.1f} {p99:8.1f} "
                  f"{p99 / p50:7.2f} {len(cell['err']):6d} {cell['cpu'] / len(lat) * 1e3:10.1f} "
                  f"{cell['cpu'] / cell['wall']:5.2f}")  # fmt: skip
            for line in cell["err"][:5]:
                print("    error:", line)
        top, one = cells[(name, levels[-1])], cells[(name, levels[0])]
        print(f"  {name}: throughput at {levels[-1]} / at {levels[0]} = "
              f"{top['rate'] / one['rate']:.2f}x (target >= 1.7); p99/p50 at {levels[-1]} = "
              f"{top['p99'] / top['p50']:.2f} (target <= 3)")  # fmt: skip
    assert failed == 0, f"{failed} requests failed"


if __name__ == "__main__":
    main()

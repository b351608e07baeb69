"""Benchmark library ingest against an honest bound: decoding the files plus transcribing their
speech, the two things ingest cannot skip (target: ingest >= 50% of the throughput of
decode-only + transcribe-only, i.e. ingest takes at most twice as long as those two alone).

Measures, in one run on this machine:

1. **decode-only**: every file decoded fully at its native rate and size
   (``xmodal.media.read_video`` + ``read_audio`` at 16 kHz);
2. **transcribe-only**: Whisper tiny.en (:func:`xmodal.features.asr.transcribe`) on the same
   files' already decoded audio, cut into the chunks ingest transcribes (``chunk_seconds``);
3. **ingest**: ``Library.add`` of the same files into a fresh library: probe, hash, frames
   sampled per 5 s segment + EfficientNet-Lite0, log-mel, speech recognition (Whisper),
   MiniLM of the transcripts, atomic store writes;
4. **ingest without speech recognition** (``transcribe=False``), to show ASR's share.

Both runs use the same worker count. Encoders, the recogniser and the store are warmed up on
a throw-away file first (model loading is a one-time cost, not throughput); with
``--workers > 1`` worker start-up is included. The files are synthetic but shaped like a
phone's: H.264 + AAC at ``--width`` x ``--height`` (1080p by default) and ``--fps``, with
real speech (the LibriVox and LJ Speech recordings of ``../shared/media``) over the whole
length, the worst case for speech recognition. Ingest decodes every frame too (H.264 needs
it) but converts to RGB only the few it samples, which is why it can beat decode-only.

Wall and process CPU time are both reported (on a shared machine other processes inflate wall
time); the ratio is (decode-only + transcribe-only) time / ingest time, in wall time and in
CPU time (the latter is what other jobs on a shared machine cannot inflate).

**Notes** (``--notes-mb MB``): one plain-text note of ``MB`` megabytes of English prose
(paragraphs drawn from this repository's docs, shuffled, repeated to size) against the bound
for notes: the sentence encoder (MiniLM) alone, batched as ingest batches it, on a sample of
the same note's chunks, in ``--workers`` processes of one thread each (the parallelism ingest
uses). Reports MB/s of note text for both and their ratio (target: ingest >= 0.7 of the
encoder's rate), and the ingest's wall time (target: an 11 MB note in <= 2 minutes).

Usage:
    python benchmarks/bench_library_ingest.py [--files 3] [--seconds 8] [--workers 1]
        [--width 1920 --height 1080 --fps 30]
    python benchmarks/bench_library_ingest.py --notes-mb 11 --workers 2
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

TARGET_RATIO = 0.5
NOTES_TARGET_RATIO = 0.7
NOTES_TARGET_S_PER_11MB = 120.0
REPO = Path(__file__).resolve().parents[1]
SR = 16000
MEDIA = Path(os.environ.get("XMODAL_TEST_MEDIA", Path(__file__).resolve().parents[2] / "shared"
                            / "media"))  # fmt: skip


def make_files(out: Path, n: int, seconds: float, size: tuple[int, int], fps: int) -> list[Path]:
    """``n`` MP4s of moving shapes over a gradient with real speech (or tones without media)."""
    import cv2

    from xmodal.media import read_audio, write_mp4

    speech = [MEDIA / f for f in ("sp01_librivox_sas_0870.wav", "sp05_ljspeech_LJ001-0001.wav")]
    if all(p.is_file() for p in speech):
        voice = np.concatenate([read_audio(p, SR) for p in speech])
    else:  # no shared media: a warbling tone (ASR then finds little)
        t = np.arange(int(20 * SR)) / SR
        voice = (0.3 * np.sin(2 * np.pi * (220 + 40 * np.sin(3 * t)) * t)).astype(np.float32)
    h, w = size
    files = []
    rng = np.random.default_rng(0)
    for i in range(n):
        frames = np.empty((int(seconds * fps), h, w, 3), np.uint8)
        base = np.linspace(0, 255, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3))
        base = (base * rng.uniform(0.3, 1.0, 3)).astype(np.uint8)
        for k in range(len(frames)):
            img = base.copy()
            x = int((k * 7 + i * 50) % w)
            cv2.circle(img, (x, h // 2), h // 6, (255, 255 - 20 * i % 255, 40), -1)
            cv2.rectangle(img, (w - x, h // 4), (w - x + w // 8, h // 2), (30, 200, 90), -1)
            frames[k] = img
        reps = int(np.ceil(seconds * SR / len(voice)))
        audio = np.roll(np.tile(voice, reps), i * SR)[: int(seconds * SR)]
        path = out / f"clip-{i:03d}.mp4"
        write_mp4(path, frames, fps, audio, SR)
        files.append(path)
    return files


def _decode(path: str) -> int:
    from xmodal.media import read_audio, read_video

    return len(read_video(path)) + len(read_audio(path, SR))


def decode_only(files: list[Path], workers: int) -> None:
    if workers <= 1:
        for f in files:
            _decode(str(f))
        return
    import multiprocessing

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_decode, [str(f) for f in files]))


def _transcribe(wave: np.ndarray) -> int:
    from xmodal.features.asr import transcribe

    return len(transcribe(wave, SR).words)


def chunks(files: list[Path]) -> list[np.ndarray]:
    """The audio ingest sends to speech recognition: each file in ``chunk_seconds`` pieces."""
    from xmodal.library.embed import IngestConfig
    from xmodal.media import read_audio

    step = int(IngestConfig().chunk_seconds * SR)
    out = []
    for f in files:
        wave = read_audio(f, SR)
        out += [wave[i : i + step] for i in range(0, len(wave), step)]
    return [c for c in out if len(c) and np.abs(c).max() > 1e-3]  # ingest skips silent chunks


def transcribe_only(waves: list[np.ndarray], workers: int) -> None:
    if workers <= 1:
        for w in waves:
            _transcribe(w)
        return
    import multiprocessing

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_transcribe, waves))


def _cpu() -> float:
    """CPU seconds of this process and its finished children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn, *args) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), _cpu()
    fn(*args)
    return time.perf_counter() - w0, _cpu() - c0


def ingest(files: list[Path], lib_dir: Path, workers: int, transcribe: bool) -> None:
    from xmodal.library.embed import IngestConfig
    from xmodal.library.library import Library

    with Library.open(lib_dir, config=IngestConfig(transcribe=transcribe)) as lib:
        report = lib.add(files, workers=workers, progress=False)
    if report.failed or len(report.added) != len(files):
        raise RuntimeError(f"ingest failed: {report.failed}")


def make_note(path: Path, megabytes: float, seed: int = 0) -> Path:
    """A plain-text note of about ``megabytes`` MB: this repository's docs' paragraphs, shuffled
    and repeated (real prose and code, as a long journal or export holds)."""
    import random
    import re

    paragraphs = []
    for doc in sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]:
        text = doc.read_text(encoding="utf-8")
        paragraphs += [p.strip() for p in re.split(r"\n\s*\n", text) if len(p.strip()) > 40]
    rng = random.Random(seed)
    out, size = [], 0
    while size < megabytes * 1e6:
        rng.shuffle(paragraphs)
        for p in paragraphs:
            out.append(p)
            size += len(p.encode("utf-8")) + 2
            if size >= megabytes * 1e6:
                break
    path.write_text("\n\n".join(out), encoding="utf-8")
    return path


def _encode_rate(chunks: list[str]) -> tuple[float, float]:
    """(bytes, seconds) of MiniLM encoding ``chunks`` in this process on one thread, after a
    warm-up (what one ingest worker does)."""
    import torch

    from xmodal.library.embed import IngestConfig, shared_encoder

    torch.set_num_threads(1)
    encoder = shared_encoder(IngestConfig().text_encoder).load()
    encoder.extract(chunks[:8])
    t0 = time.perf_counter()
    encoder.extract(chunks)
    return float(sum(len(c.encode("utf-8")) for c in chunks)), time.perf_counter() - t0


def encoder_bound(chunks: list[str], workers: int) -> float:
    """MB/s of the sentence encoder alone on ``chunks`` in ``workers`` one-thread processes."""
    import multiprocessing

    share = [chunks[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        rates = [b / s for b, s in pool.map(_encode_rate, share)]
    return sum(rates) / 1e6


def notes_bench(megabytes: float, workers: int, sample: int) -> None:
    from xmodal.library.embed import IngestConfig
    from xmodal.library.library import Library
    from xmodal.library.notes import chunk_note

    tmp = Path(tempfile.mkdtemp(prefix="bench-notes-"))
    try:
        note = make_note(tmp / "journal.txt", megabytes)
        size = note.stat().st_size / 1e6
        config = IngestConfig()
        chunks = chunk_note(note.read_text(encoding="utf-8"), config.note_chunk_chars)
        rng = np.random.default_rng(0)
        picked = sorted(rng.choice(len(chunks), min(sample, len(chunks)), replace=False))
        bound = encoder_bound([chunks[i] for i in picked], workers)
        warm = make_note(tmp / "warm.txt", 0.01, seed=1)
        with Library.open(tmp / "warm-lib") as lib:
            lib.add([warm], workers=1, progress=False)
        with Library.open(tmp / "lib") as lib:
            wall, cpu = timed(lambda: lib.add([note], workers=workers, progress=False))
            stats = lib.stats()
        if stats["entries"] != 1 or stats["segments"] != len(chunks):
            raise RuntimeError(
                f"ingest stored {stats['entries']} entries and "
                f"{stats['segments']} segments, expected 1 and {len(chunks)}"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rate = size / wall
    print(f"one {size:.2f} MB text note, {len(chunks)} chunks of <= {config.note_chunk_chars} "
          f"characters, {workers} worker(s)")  # fmt: skip
    print(f"bound: the sentence encoder alone on {len(picked)} of its chunks: {bound:.4f} MB/s")
    print(f"ingest: {wall:.1f} s wall, {cpu:.1f} s CPU: {rate:.4f} MB/s")
    ratio = rate / bound
    verdict = "meets" if ratio >= NOTES_TARGET_RATIO else "misses"
    print(f"ingest = {ratio:.2f} x the encoder's rate ({verdict} the target >= "
          f"{NOTES_TARGET_RATIO})")  # fmt: skip
    eleven = 11.0 / rate
    verdict = "meets" if eleven <= NOTES_TARGET_S_PER_11MB else "misses"
    print(f"an 11 MB note at this rate: {eleven:.0f} s ({verdict} the target <= "
          f"{NOTES_TARGET_S_PER_11MB:.0f} s); the encoder alone: {11.0 / bound:.0f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=3, help="files to ingest")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each file")
    parser.add_argument("--width", type=int, default=1920, help="frame width (a phone's 1080p)")
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--workers", type=int, default=1, help="processes for both runs")
    parser.add_argument(
        "--notes-mb",
        type=float,
        default=None,
        help="benchmark one text note of this many MB instead of media",
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=256,
        help="notes: chunks the encoder-alone bound is measured on",
    )
    args = parser.parse_args()
    if args.notes_mb is not None:
        notes_bench(args.notes_mb, args.workers, args.sample)
        return

    import torch

    if args.workers <= 1:
        torch.set_num_threads(1)  # one core per file, as each pool worker does
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        files = make_files(tmp / "media", args.files, args.seconds, (args.height, args.width),
                           args.fps)  # fmt: skip
        warm = make_files(tmp / "warm", 1, 2.0, (args.height, args.width), args.fps)
        ingest(warm, tmp / "warm-lib", 1, True)  # loads encoders, recogniser, store code
        decode_only(warm, 1)
        waves = chunks(files)

        media_s = args.files * args.seconds
        dec = timed(decode_only, files, args.workers)
        asr = timed(transcribe_only, waves, args.workers)
        full = timed(ingest, files, tmp / "lib", args.workers, True)
        no_asr = timed(ingest, files, tmp / "lib-no-asr", args.workers, False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{args.files} files x {args.seconds:g} s, {args.width}x{args.height} @ {args.fps} fps "
          f"+ speech, {args.workers} worker(s)")  # fmt: skip
    bound = (dec[0] + asr[0], dec[1] + asr[1])
    print(f"{'run':<34}{'wall s':>9}{'cpu s':>9}{'media s/s':>11}")
    for name, (wall, cpu) in (("decode only (read_video+audio)", dec),
                              ("transcribe only (Whisper)", asr),
                              ("bound: decode + transcribe", bound), ("ingest", full),
                              ("ingest, no speech recognition", no_asr)):  # fmt: skip
        print(f"{name:<34}{wall:>9.2f}{cpu:>9.2f}{media_s / wall:>11.1f}")
    ratio, cpu_ratio = bound[0] / full[0], bound[1] / full[1]
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    print(f"ingest throughput = {ratio:.2f} x (decode + transcribe) in wall time, "
          f"{cpu_ratio:.2f} x in CPU time ({verdict} the target >= {TARGET_RATIO})")  # fmt: skip


if __name__ == "__main__":
    main()

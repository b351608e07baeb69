"""Benchmark speech recognition: word error rate and CPU-seconds per second of speech, Whisper
tiny.en against pocketsphinx, in the same run (targets: WER <= 10% overall, <= 0.1 CPU-s per
second of speech).

The recordings are every file of ``../shared/media`` whose row in ``SOURCES.md`` has a
transcript (sp01, sp03, sp05, sp07, mx12, mx14, mx15: LibriVox, LJ Speech, the pocketsphinx
test recordings; 8-bit WAV, 24-bit stereo FLAC and headerless PCM among them). Each is decoded
to 16 kHz mono, then recognised by

- **Whisper** (:func:`xmodal.features.asr.transcribe`: tiny.en, int8, one CTranslate2 thread,
  VAD, word timestamps, free transcription), and
- **pocketsphinx** (:func:`xmodal.features.asr.recognise`, free: en-us 3-gram LM).

WER compares normalised text (:func:`xmodal.features.asr.normalise_phrase`: numerals spelled
out, "Mr" read "mister", case and punctuation dropped) and is pooled over all words
(sum of errors / sum of reference words). CPU time is this process's (all its threads), after
each model is loaded and warmed once; "per second of speech" divides by the recordings'
duration.

Whisper always encodes 30 s windows, so a 3 s recording costs nearly what a 30 s one does. The
second table shows the rate on the same speech as one long recording: the seven recordings one
after another with 0.5 s of silence between them, as a library ingests a long file.

``--val DATASET`` instead compares Whisper's beam widths (1 = greedy, 5) on the spoken phrases
of a synthetic world's ``val`` split (espeak-ng voices, the text in the manifest): the default
beam is chosen there, never on the real recordings above.

Usage:
    python benchmarks/bench_asr.py [--media DIR] [--beam-size 5] [--repeats 3]
    python benchmarks/bench_asr.py --val .cache/joint/world1000 [--clips 100]
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

import numpy as np

SR = 16000
WER_TARGET = 0.10
CPU_TARGET = 0.10  # CPU-s per second of speech
MEDIA = Path(os.environ.get("XMODAL_TEST_MEDIA", Path(__file__).resolve().parents[2] / "shared"
                            / "media"))  # fmt: skip


def recordings(media: Path) -> list[tuple[str, str]]:
    """``(file name, transcript)`` of every row of ``SOURCES.md`` that has a transcript."""
    rows = []
    for line in (media / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not re.match(r"^[a-z]{2}\d\d_", cells[0]):
            continue
        if cells[3]:
            rows.append((cells[0], cells[3]))
    return rows


def load(media: Path, name: str) -> np.ndarray:
    from xmodal.media import RawAudioFormat, read_audio

    raw = RawAudioFormat() if name.endswith(".raw") else None  # s16le 16 kHz mono (SOURCES.md)
    return read_audio(media / name, sample_rate=SR, raw=raw)


def cpu_time(fn, repeats: int) -> tuple[float, object]:
    """The smallest process CPU time of ``repeats`` calls (other jobs on a shared machine only
    ever add to it), and the result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        c0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - c0)
    return best, out


def choose_beam(dataset: Path, clips: int, beams: tuple[int, ...] = (1, 5)) -> None:
    """WER and CPU-s per second of each beam width on the first ``clips`` val clips."""
    from xmodal.data.manifest import read_manifest
    from xmodal.features.asr import WhisperRecogniser, word_errors
    from xmodal.media import read_audio

    rows = [r for r in read_manifest(dataset) if r.get("split") == "val"][:clips]
    waves = [read_audio(dataset / r["path"], sample_rate=SR) for r in rows]
    seconds = sum(len(w) for w in waves) / SR
    print(f"{dataset}: {len(rows)} val clips, {seconds:.1f} s of speech")
    print(f"{'beam':>5}{'WER':>8}{'cpu s/s':>9}")
    for beam in beams:
        rec = WhisperRecogniser(beam_size=beam)
        rec.transcribe(waves[0])  # warm-up
        errors = words = 0
        c0 = time.process_time()
        for row, wave in zip(rows, waves, strict=True):
            e, n = word_errors(row["text"], rec.transcribe(wave).text)
            errors, words = errors + e, words + n
        cpu = time.process_time() - c0
        print(f"{beam:>5}{errors / words:>8.3f}{cpu / seconds:>9.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--media", type=Path, default=MEDIA, help="the shared media folder")
    parser.add_argument(
        "--beam-size", type=int, default=None, help="Whisper beam (default: xmodal's)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per recording (min)")
    parser.add_argument("--val", type=Path, default=None, help="choose the beam on this world")
    parser.add_argument("--clips", type=int, default=100, help="--val: clips to transcribe")
    args = parser.parse_args()
    if args.val is not None:
        choose_beam(args.val, args.clips)
        return

    from xmodal.features.asr import Recogniser, WhisperRecogniser, word_errors

    waves = [(name, truth, load(args.media, name)) for name, truth in recordings(args.media)]
    if not waves:
        raise SystemExit(f"no recordings with transcripts in {args.media / 'SOURCES.md'}")
    t0 = time.perf_counter()
    whisper = WhisperRecogniser(**({} if args.beam_size is None else {"beam_size": args.beam_size}))
    load_s = time.perf_counter() - t0
    sphinx = Recogniser()
    engines = {
        "whisper": lambda w: whisper.transcribe(w).text,
        "pocketsphinx": lambda w: sphinx.recognise(w).text,
    }
    for run in engines.values():  # warm-up: first-call allocations are not throughput
        run(waves[0][2])

    totals = {e: [0, 0, 0.0] for e in engines}  # errors, words, cpu
    speech_s = sum(len(w) for _, _, w in waves) / SR
    print(f"Whisper tiny.en loaded in {load_s:.2f} s (wall); beam {whisper.beam_size}, "
          f"{whisper.threads} thread; {len(waves)} recordings, "
          f"{speech_s:.1f} s of speech")  # fmt: skip
    print(f"{'recording':<42}{'s':>6}  {'engine':<13}{'WER':>6}{'cpu s/s':>9}  text")
    for name, truth, wave in waves:
        for engine, run in engines.items():
            cpu, text = cpu_time(lambda run=run, wave=wave: run(wave), args.repeats)
            errors, words = word_errors(truth, str(text))
            t = totals[engine]
            t[0], t[1], t[2] = t[0] + errors, t[1] + words, t[2] + cpu
            print(f"{name:<42}{len(wave) / SR:>6.2f}  {engine:<13}{errors / words:>6.3f}"
                  f"{cpu / (len(wave) / SR):>9.3f}  {text!r}")  # fmt: skip

    gap = np.zeros(SR // 2, np.float32)
    long_wave = np.concatenate([x for _, _, w in waves for x in (w, gap)])
    long_truth = " ".join(truth for _, truth, _ in waves)
    long_s = len(long_wave) / SR
    print()
    head = f"{'WER':>8}{'cpu s/s':>9}"
    print(f"{'engine':<14}{head}   {'one long recording':<20}{head}")
    for engine, run in engines.items():
        errors, words, cpu = totals[engine]
        cpu_long, text = cpu_time(lambda run=run: run(long_wave), args.repeats)
        e_long, n_long = word_errors(long_truth, str(text))
        print(f"{engine:<14}{errors / words:>8.3f}{cpu / speech_s:>9.3f}   "
              f"{f'{long_s:.1f} s':<20}{e_long / n_long:>8.3f}"
              f"{cpu_long / long_s:>9.3f}")  # fmt: skip
    errors, words, cpu = totals["whisper"]
    wer, rate = errors / words, cpu / speech_s
    for what, value, target in (("WER", wer, WER_TARGET), ("CPU-s per s", rate, CPU_TARGET)):
        verdict = "meets" if value <= target else "misses"
        print(f"whisper {what} over the {len(waves)} recordings = {value:.3f} "
              f"({verdict} the target <= {target})")  # fmt: skip


if __name__ == "__main__":
    main()

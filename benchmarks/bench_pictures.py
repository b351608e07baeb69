"""Benchmark what pictures and playback cost: thumbnails at ingest, and playable copies.

Measures, in one run on this machine:

1. **Thumbnails**: ``library add`` of ``--files`` phone-like clips (H.264 + AAC at 1080p,
   speech over their whole length; :func:`bench_library_ingest.make_files`) with the default
   ingest, its process CPU time, against the CPU time of drawing their thumbnails alone: the
   frames ingest samples for each segment, decoded the same way, then
   :meth:`~xmodal.library.thumbs.Pictures.add_frames` (pick the middle frame, scale, JPEG).
   Target: thumbnails <= 5% of ingest's CPU.
2. **Proxies** (:func:`xmodal.library.proxies.make_proxy`) of files a browser cannot play:
   the SyncNet AVI (MPEG-4 Part 2, 224x224) and a GRID MPEG-1 clip from ``../shared/media``,
   and 10 s MPEG-2 MKVs written here at 480p and 1080p: seconds per minute of media, the wait
   before a first play (the whole copy is made before it is served), and size against the
   original. Target: a first play of a 10 s clip within 3 s.
3. **Eager proxies** (``library add --proxies``): the same MKVs ingested with and without
   making their proxies at ingest, to show what moving the cost to ingest costs.

Usage:
    python benchmarks/bench_pictures.py [--files 3] [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_library_ingest import MEDIA, make_files  # noqa: E402

THUMB_TARGET = 0.05
FIRST_PLAY_TARGET_S = 3.0


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def thumbnails_cpu(files: list[Path], config) -> tuple[float, int]:
    """CPU seconds of drawing the files' thumbnails from the frames ingest samples, and the
    number of thumbnails (the frames are decoded outside the timed part)."""
    from xmodal.library.embed import Embedder, windows
    from xmodal.library.thumbs import Pictures
    from xmodal.media import probe

    embedder = Embedder(config)
    total, count = 0.0, 0
    for path in files:
        info = probe(path)
        spans = windows(info.duration, config.segment_seconds, config.min_tail_seconds)
        frames: list[np.ndarray | None] = [None] * len(spans)
        embedder._chunk_frames(path, info, spans, list(range(len(spans))), frames)
        pictures = Pictures()
        t0 = time.process_time()
        pictures.add_frames(frames)
        total += time.process_time() - t0
        count += len(pictures.jpegs)
    return total, count


def write_mkv(path: Path, seconds: float, height: int) -> Path:
    """A ``seconds`` MPEG-2 + MP2 MKV at ``height`` lines (16:9), moving shapes, real speech."""
    import av
    import cv2

    from xmodal.media import read_audio

    width = height * 16 // 9 // 2 * 2
    fps = 25
    voice = read_audio(MEDIA / "sp01_librivox_sas_0870.wav", 48000)
    with av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream("mpeg2video", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = 8_000_000 if height > 720 else 2_500_000
        sound = out.add_stream("mp2", rate=48000)
        sound.layout = "mono"
        for i in range(int(seconds * fps)):
            img = np.full((height, width, 3), 60, np.uint8)
            x = int(i * width / (seconds * fps))
            cv2.circle(img, (x, height // 2), height // 6, (240, 200, 40), -1)
            cv2.rectangle(img, (width - x, height // 4), (width - x + width // 8, height // 2),
                          (30, 200, 90), -1)  # fmt: skip
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        n = int(seconds * 48000)
        audio = np.resize(voice, n).astype(np.float32)
        for k in range(0, n, 1152):
            chunk = audio[None, k : k + 1152]
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, k
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=3, help="clips for the thumbnail cost")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each clip")
    args = parser.parse_args()

    from xmodal.library.embed import IngestConfig
    from xmodal.library.library import Library
    from xmodal.library.proxies import make_proxy
    from xmodal.media import probe

    tmp = Path(tempfile.mkdtemp(prefix="bench-pictures-"))
    try:
        files = make_files(tmp / "media", args.files, args.seconds, (1080, 1920), 30)
        warm = make_files(tmp / "warm", 1, 2.0, (1080, 1920), 30)
        config = IngestConfig()
        with Library.open(tmp / "warm-lib", config=config) as lib:
            lib.add(warm, workers=1, progress=False)
        with Library.open(tmp / "lib", config=config) as lib:
            c0 = _cpu()
            lib.add(files, workers=1, progress=False)
            ingest_cpu = _cpu() - c0
        thumbs_cpu, n_thumbs = thumbnails_cpu(files, config)
        minutes = args.files * args.seconds / 60
        share = thumbs_cpu / ingest_cpu
        verdict = "meets" if share <= THUMB_TARGET else "misses"
        print(f"thumbnails: {args.files} clips x {args.seconds:g} s at 1920x1080 @ 30 fps + speech")
        print(f"  ingest CPU {ingest_cpu:.1f} s ({ingest_cpu / minutes:.1f} s per minute); "
              f"{n_thumbs} thumbnails {thumbs_cpu * 1000:.1f} ms CPU "
              f"({thumbs_cpu / minutes * 1000:.1f} ms per minute): {share:.2%} of ingest "
              f"({verdict} the target <= {THUMB_TARGET:.0%})")  # fmt: skip

        sources = [MEDIA / "talking" / "tk19_syncnet_example.avi",
                   MEDIA / "talking" / "tk16_lipnet_grid_bbaf2n.mpg",
                   write_mkv(tmp / "dvd-480p.mkv", 10.0, 480),
                   write_mkv(tmp / "broadcast-1080p.mkv", 10.0, 1080)]  # fmt: skip
        print("proxies (first play waits for the whole copy):")
        print(f"  {'file':<34}{'media s':>8}{'proxy s':>9}{'s/min':>7}{'size':>8}  first play")
        for src in sources:
            info = probe(src)
            out = tmp / f"{src.stem}.proxy.mp4"
            t0 = time.perf_counter()
            make_proxy(src, out, info)
            wall = time.perf_counter() - t0
            ratio = out.stat().st_size / src.stat().st_size
            if info.duration <= 15:
                ok = "meets" if wall <= FIRST_PLAY_TARGET_S * info.duration / 10 else "misses"
                first = f"{wall:.2f} s ({ok} <= {FIRST_PLAY_TARGET_S:g} s per 10 s)"
            else:
                first = f"{wall:.2f} s"
            print(f"  {src.name:<34}{info.duration:>8.1f}{wall:>9.2f}"
                  f"{wall / info.duration * 60:>7.1f}{ratio:>7.2f}x  {first}")  # fmt: skip

        mkvs = sources[2:]
        for eager in (False, True):
            with Library.open(tmp / f"lib-eager-{eager}", config=config) as lib:
                t0 = time.perf_counter()
                lib.add(mkvs, workers=1, progress=False, proxies=eager)
                wall = time.perf_counter() - t0
            print(f"ingest of the two MKVs {'with' if eager else 'without'} --proxies: "
                  f"{wall:.1f} s")  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

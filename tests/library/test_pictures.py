"""Pictures and playback: thumbnails and waveforms drawn at ingest, playable copies (proxies) of
files a browser cannot play, and their cache.

Real inputs: the SyncNet AVI and a GRID MPEG-1 clip of ``shared_media/talking``, an MPEG-2 MKV
and an AIFF each test writes with PyAV, and the shared recordings.
"""

from __future__ import annotations

import re
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tests.library.test_ingest import speech, write_aiff, write_clip
from xmodal.library.embed import IngestConfig
from xmodal.library.library import Library
from xmodal.library.proxies import ProxyCache, make_proxy, playable
from xmodal.library.thumbs import (
    Pictures,
    Thumbnails,
    jpeg_bytes,
    library_data_dir,
    peaks,
    waveform_svg,
)
from xmodal.media import probe, read_audio, read_video

LIGHT = IngestConfig(video_encoder="pixels:height=8,width=8", transcribe=False, tags=False,
                     segment_seconds=2.0)  # fmt: skip


def write_mpeg2_mkv(
    path: Path, seconds: float = 3.0, fps: int = 25, voice: np.ndarray | None = None
) -> Path:
    """An MPEG-2 video + MP2 audio Matroska file (what a DVD rip or a broadcast recorder
    leaves), a moving bar over grey, with ``voice`` (16 kHz mono) or a 440 Hz tone."""
    import av
    import soxr

    with av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream("mpeg2video", rate=fps)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        sound = out.add_stream("mp2", rate=48000)
        sound.layout = "stereo"
        for i in range(int(seconds * fps)):
            img = np.full((240, 320, 3), 90, np.uint8)
            img[:, (i * 8) % 320 : (i * 8) % 320 + 20] = 250
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        t = np.arange(int(seconds * 48000)) / 48000
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        if voice is not None:
            tone = np.zeros(len(t), np.float32)
            up = soxr.resample(voice, 16000, 48000).astype(np.float32)[: len(t)]
            tone[: len(up)] = up
        for k in range(0, len(tone), 1152):
            chunk = np.stack([tone[k : k + 1152]] * 2)  # (2, n) planar
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 48000, k
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    return path


# ----------------------------------------------------------------------------- drawing


def test_jpeg_peaks_and_waveform() -> None:
    import cv2

    frame = np.zeros((256, 455, 3), np.uint8)
    frame[:, :200, 0] = 255  # red on the left
    data = jpeg_bytes(frame)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # BGR
    assert img.shape == (180, 320, 3)  # the longer side scaled to 320
    assert img[90, 20, 2] > 200 and img[90, 300, 2] < 40
    wave = np.concatenate([np.zeros(800, np.float32), 0.5 * np.ones(800, np.float32)])
    assert peaks(wave, 16000).tolist() == [0.0, 0.5]  # 50 ms slices of 800 samples
    svg = waveform_svg(np.array([0.0, 0.5, 1.0, 0.25]), bars=4)
    heights = [float(h) for h in re.findall(r'height="([\d.]+)"', svg)]
    assert heights == [1.0, 19.0, 38.0, 9.5]  # silence draws a 1-unit line; loudest fills 38
    flat = waveform_svg(np.zeros(10), bars=3)
    assert flat.count('height="1.0"') == 3


def test_library_data_dir_never_beside_the_users_files(tmp_path: Path) -> None:
    assert library_data_dir(str(tmp_path / "lib"), "thumbnails") == tmp_path / "lib" / "thumbnails"
    url = "postgresql://me@db.local:5432/mem (schema xmodal)"
    pg = library_data_dir(url, "proxies", data_home=tmp_path)
    assert pg.parent == tmp_path / "xmodal" / "proxies" and pg.name.startswith("pg-")
    assert library_data_dir(url, "proxies", data_home=tmp_path) == pg  # stable
    other = library_data_dir(url.replace("xmodal)", "other)"), "proxies", data_home=tmp_path)
    assert other != pg


def test_ingest_draws_each_segment_and_recording_and_remove_deletes_them(
    tmp_path: Path, shared_media: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    clip = write_clip(src / "stripes.mp4", "stripes", 5.0)  # 3 segments of 2 s
    memo = write_aiff(src / "memo.aiff", speech(shared_media, 2.0))
    with Library.open(tmp_path / "lib", config=LIGHT) as lib:
        report = lib.add([src], workers=1, progress=False)
        assert sorted(report.added) == sorted([str(clip), str(memo)])
        ids = {Path(e.path).name: e.id for e in lib.entries()}
        assert lib.thumbs.root == tmp_path / "lib" / "thumbnails"
        video = lib.thumbs.folder(ids["stripes.mp4"])
        assert sorted(p.name for p in video.iterdir()) == [f"seg-0000{i}.jpg" for i in range(3)]
        # the thumbnail is the sampled frame nearest the segment's middle (t = 2.875 s)
        import cv2

        thumb = cv2.imdecode(np.fromfile(video / "seg-00001.jpg", np.uint8), cv2.IMREAD_COLOR)
        frames = read_video(clip, fps=2.0, start=2.875 - 0.25, end=2.875 + 0.25)
        expected = cv2.resize(frames[0], (thumb.shape[1], thumb.shape[0]))[..., ::-1]
        assert np.abs(thumb.astype(int) - expected.astype(int)).mean() < 12
        wave = lib.thumbs.wave_path(ids["memo.aiff"])
        assert wave.read_text().startswith("<svg") and wave.read_text().count("<rect") == 96
        assert lib.picture(ids["memo.aiff"]) == wave
        assert lib.picture(ids["stripes.mp4"], 2) == video / "seg-00002.jpg"
        assert lib.picture(ids["stripes.mp4"], 9) == video / "seg-00000.jpg"  # its first
        lib.remove(clip)
        assert not video.exists() and lib.thumbs.has(ids["memo.aiff"])


def test_reindex_thumbnails_draws_what_is_missing(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "checker.mp4", "checker", 3.0)
    with Library.open(tmp_path / "lib", config=LIGHT) as lib:
        lib.add([clip], workers=1, progress=False)
        (entry,) = lib.entries()
        before = sorted(p.read_bytes() for p in lib.thumbs.folder(entry.id).iterdir())
        lib.thumbs.remove(entry.id)  # a library ingested before pictures
        report = lib.reindex(thumbnails=True, workers=1, progress=False)
        assert report.updated == [str(clip)] and not report.failed
        assert sorted(p.read_bytes() for p in lib.thumbs.folder(entry.id).iterdir()) == before
        again = lib.reindex(thumbnails=True, workers=1, progress=False)
        assert again.updated == []  # nothing missing
        clip.unlink()
        lib.thumbs.remove(entry.id)
        gone = lib.reindex(thumbnails=True, workers=1, progress=False)
        assert gone.failed == [(str(clip), "file is missing")]


def test_pictures_finish_draws_audio_only() -> None:
    pictures = Pictures(envelope=[np.array([0.1, 0.2], np.float32)])
    pictures.finish(video=True)
    assert not pictures and pictures.wave is None
    audio = Pictures(envelope=[np.array([0.1, 0.2], np.float32)])
    audio.finish(video=False)
    assert audio and audio.wave is not None and audio.wave.startswith("<svg")


def test_thumbnails_layout(tmp_path: Path) -> None:
    thumbs = Thumbnails(tmp_path)
    eid = "ab" + "0" * 62
    assert thumbs.segment_path(eid, 7) == tmp_path / "ab" / eid / "seg-00007.jpg"
    assert thumbs.picture(eid, 0) is None and not thumbs.has(eid)
    thumbs.write_segments(eid, [(7, b"\xff\xd8jpeg")])
    assert thumbs.picture(eid, 7).read_bytes() == b"\xff\xd8jpeg"
    thumbs.remove(eid)
    assert not (tmp_path / "ab" / eid).exists()


# ----------------------------------------------------------------------------- playback


@pytest.mark.parametrize(
    ("name", "plays"),
    [
        ("talking/tk19_syncnet_example.avi", False),  # MPEG-4 Part 2 + PCM in AVI
        ("talking/tk16_lipnet_grid_bbaf2n.mpg", False),  # MPEG-1 + MP2
        ("mx02_moviepy_fire2.mp4", True),  # H.264 + AAC
        ("mx04_moviepy_no_duration.webm", True),  # VP9 + Opus
        ("mx05_moviepy_with-attached-pic.mp3", True),
        ("mx14_speechrecognition_mono_8bit.wav", True),
        ("mx15_speechrecognition_stereo_24bit.flac", True),
    ],
)
def test_playable_follows_what_chromium_decodes(shared_media: Path, name: str, plays: bool):
    assert playable(probe(shared_media / name)) is plays


def test_proxies_of_avi_mpeg2_mkv_and_aiff_play_in_mp4(tmp_path: Path, shared_media: Path):
    avi = shared_media / "talking" / "tk19_syncnet_example.avi"
    mkv = write_mpeg2_mkv(tmp_path / "broadcast.mkv")
    aiff = write_aiff(tmp_path / "memo.aiff", speech(shared_media, 2.0))
    assert not any(playable(probe(p)) for p in (mkv, aiff))
    for source, kind in ((avi, "video/mp4"), (mkv, "video/mp4"), (aiff, "audio/mp4")):
        target = tmp_path / f"{source.stem}.proxy{'.mp4' if kind == 'video/mp4' else '.m4a'}"
        assert make_proxy(source, target) == kind
        src, out = probe(source), probe(target)
        assert playable(out, target), (source.name, out)
        assert abs(out.duration - src.duration) < 0.15, (source.name, src.duration, out.duration)
        assert out.audio is not None and out.audio.codec == "aac"
        if kind == "video/mp4":
            assert out.video.codec == "h264" and out.video.height <= 720
            assert (out.video.width, out.video.height) == (src.video.width, src.video.height)
    voice = read_audio(tmp_path / "memo.proxy.m4a", 16000)
    assert np.corrcoef(voice[:16000], read_audio(aiff, 16000)[:16000])[0, 1] > 0.9


def test_proxy_cache_makes_once_reuses_and_evicts_least_recently_played(tmp_path: Path):
    calls: list[str] = []
    gate = threading.Event()

    def fake_make(source: Path, target: Path, info) -> str:
        calls.append(source.name)
        gate.wait(5)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"x" * 400)
        return "video/mp4"

    class Info:
        video = object()

    sources = []
    for name in ("a", "b", "c"):
        (tmp_path / name).write_bytes(b"source")
        sources.append(tmp_path / name)
    cache = ProxyCache(tmp_path / "proxies", budget_bytes=1000)
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        cache.get("a" * 64, sources[0], Info(), make=fake_make))) for _ in range(2)]  # fmt: skip
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    assert calls == ["a"] and {r.path for r in results} == {cache.path("a" * 64)}
    assert sorted(r.seconds == 0.0 for r in results) == [False, True]  # one made, one reused
    cache.get("b" * 64, sources[1], Info(), make=fake_make)
    cache.get("a" * 64, sources[0], Info(), make=fake_make)  # played again: most recent
    import os
    import time

    old = time.time() - 100
    os.utime(cache.path("b" * 64), (old, old))
    cache.get("c" * 64, sources[2], Info(), make=fake_make)  # 1200 bytes > 1000: evict b
    assert calls == ["a", "b", "c"]
    assert not cache.path("b" * 64).exists() and cache.path("a" * 64).exists()
    assert cache.size() == 800
    with pytest.raises(ValueError, match="budget"):
        ProxyCache(tmp_path, -1)

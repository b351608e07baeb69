"""Ingest: segmentation helpers, real ingest of media and notes, failures, dedupe, crash-resume.

The media are tiny hand-made clips carrying real speech from ``shared_media`` (Whisper
transcribes it, so transcripts are real), plus silent synthetic clips.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from xmodal.features.transcript import normalise_phrase, word_error_rate
from xmodal.library.dates import parse_when
from xmodal.library.embed import (
    AUDIO_SPACE,
    TEXT_SPACE,
    VIDEO_SPACE,
    Embedder,
    IngestConfig,
    parse_model_id,
    windows,
)
from xmodal.library.library import Library
from xmodal.library.notes import chunk_note, front_matter_date, split_front_matter
from xmodal.library.records import LibraryError
from xmodal.library.tagging import TAG_SPACE
from xmodal.types import Modality

SR = 16000
REPO = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- media helpers


def pattern_frames(kind: str, n: int, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    """``(n, H, W, 3)`` uint8 frames of a recognisable pattern (checker, stripes, red, ...)."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    if kind == "checker":
        img = np.repeat((((yy // 8 + xx // 8) % 2) * 255)[..., None], 3, axis=2)
    elif kind == "stripes":
        img = np.zeros((h, w, 3), np.int64)
        img[..., 2] = ((xx // 6) % 2) * 255
        img[..., 1] = 90
    elif kind == "red":
        img = np.zeros((h, w, 3), np.int64)
        img[..., 0] = 210
        img[h // 4 : h // 2, w // 3 : 2 * w // 3, 1] = 255
    else:
        raise ValueError(kind)
    frames = np.repeat(img.astype(np.uint8)[None], n, axis=0)
    frames[:, :, :2] = np.arange(n, dtype=np.uint8)[:, None, None, None] * 7  # motion
    return frames


def write_clip(path: Path, kind: str, seconds: float, audio: np.ndarray | None = None) -> Path:
    """An MP4 of ``seconds`` at 8 fps with a pattern, and optional 16 kHz audio."""
    from xmodal.media import write_mp4

    write_mp4(path, pattern_frames(kind, max(2, round(seconds * 8))), 8, audio, SR)
    return path


def cards_speech(shared_media: Path, lead: float = 2.0) -> np.ndarray:
    """``lead`` s of silence, then "eight of spades four of clubs seven of hearts" (3.5 s)."""
    from xmodal.media import read_audio

    speech = read_audio(shared_media / "sp03_pocketsphinx_cards_005.wav", SR)
    return np.concatenate([np.zeros(round(lead * SR), np.float32), speech])


def goforward_wav(shared_media: Path, path: Path) -> Path:
    """A WAV of "go forward ten meters" (from the headerless PCM)."""
    from xmodal.media import write_wav

    raw = np.fromfile(shared_media / "mx12_pocketsphinx_goforward.raw", dtype="<i2")
    write_wav(path, raw.astype(np.float32) / 32768.0, SR)
    return path


def write_notes(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    groceries = folder / "groceries.md"
    groceries.write_text(
        "---\ndate: 2023-04-05\ntags: [food, shopping]\n---\n"
        "# Weekend\n\nBuy oat milk and cardamom for the weekend baking.\n"
    )
    meeting = folder / "meeting.txt"
    meeting.write_text("Quarterly budget review with the finance team.\nTravel costs went up.\n")
    return {"groceries": groceries, "meeting": meeting}


# ----------------------------------------------------------------------------- pure helpers


def test_windows_cover_the_duration_and_merge_a_short_tail() -> None:
    assert windows(5.5, 2.0) == [(0.0, 2.0), (2.0, 4.0), (4.0, 5.5)]
    assert windows(4.2, 2.0) == [(0.0, 2.0), (2.0, 4.2)]  # 0.2 s tail joins the window before
    assert windows(1.3, 5.0) == [(0.0, 1.3)]
    assert windows(10.0, 5.0) == [(0.0, 5.0), (5.0, 10.0)]


def test_notes_front_matter_chunks_and_dates() -> None:
    body, front = split_front_matter("---\ndate: 2023-04-05\ntags: a, b\n---\nHello\n")
    assert body == "Hello\n" and front["tags"] == "a, b"
    assert front_matter_date(front) == pytest.approx(parse_when("2023-04-05"))
    assert split_front_matter("--- not yaml: [\n")[1] == {}
    text = "\n\n".join(f"paragraph {i} " + "word " * 30 for i in range(10))
    chunks = chunk_note(text, 400)
    assert all(len(c) <= 400 for c in chunks) and len(chunks) == 5  # 2 paragraphs each
    assert " ".join(" ".join(chunks).split()) == " ".join(text.split())
    assert chunk_note("   \n\n  ", 400) == []
    long_word_run = "x" * 50 + " " + "y " * 300
    assert all(len(c) <= 120 for c in chunk_note(long_word_run, 120))


def test_parse_when_dates_and_errors() -> None:
    day = parse_when("2024-05-01")
    assert parse_when("2024-05-01", end_of_day=True) == pytest.approx(day + 86400 - 1e-3)
    assert parse_when("2024-05-01T12:00") == pytest.approx(day + 12 * 3600)
    assert parse_when(12.5) == 12.5 and parse_when(None) is None
    with pytest.raises(ValueError, match="bad date 'yesterday'"):
        parse_when("yesterday")


def test_model_id_names_the_encoders_and_parses_back() -> None:
    emb = Embedder(IngestConfig(video_encoder="pixels:height=4,width=4", audio_encoder=None))
    mid = emb.model_id()
    assert mid == (
        "xmodal-library/1;video=pixels:height=4,width=4(pixels-4x4);text=minilm(minilm-l6-v2);"
        "audio=none;joint=none"
    )
    names, joint = parse_model_id(mid)
    assert names == {"video": "pixels:height=4,width=4", "text": "minilm", "audio": None}
    assert joint is None
    assert emb.spaces() == {VIDEO_SPACE: 48, TEXT_SPACE: 384, TAG_SPACE: 384}
    with pytest.raises(LibraryError, match="not written by xmodal"):
        parse_model_id("some-other-model")


# ----------------------------------------------------------------------------- real ingest


_CORPUS: dict | None = None


def corpus(tmp_path_factory: pytest.TempPathFactory, shared_media: Path) -> dict:
    """Good and bad files ingested once per test process into one library (2 s segments).

    Shared read-only by this module and ``test_search`` (building it decodes, transcribes and
    embeds every file, the most expensive fixture of the library tests).
    """
    global _CORPUS
    if _CORPUS is not None:
        return _CORPUS
    root = tmp_path_factory.mktemp("corpus")
    src = root / "src"
    notes = write_notes(src / "notes")
    (src / "notes" / "empty.md").write_text("---\ntags: [x]\n---\n\n   \n")
    cards = write_clip(src / "cards.mp4", "red", 5.5, cards_speech(shared_media))
    checker = write_clip(src / "checker.mp4", "checker", 2.0)
    fire = src / "phone" / "fire.mp4"
    fire.parent.mkdir()
    shutil.copyfile(shared_media / "mx02_moviepy_fire2.mp4", fire)  # real, rotated phone clip
    go = goforward_wav(shared_media, src / "audio" / "goforward.wav")
    (src / "broken.mp4").write_bytes(b"definitely not a video " * 40)
    data = cards.read_bytes()
    (src / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (src / "sidecar.json").write_text("{}")  # not media: ignored inside a folder
    (src / ".hidden.md").write_text("never ingested")
    blob = root / "data.bin"
    blob.write_bytes(os.urandom(300))
    missing = root / "nope.mp4"
    lib = Library.open(root / "lib", config=IngestConfig(segment_seconds=2.0))
    report = lib.add([src, blob, missing], workers=1, progress=False)
    _CORPUS = {"lib": lib, "report": report, "cards": cards, "checker": checker, "fire": fire,
               "go": go, "notes": notes, "src": src, "blob": blob, "missing": missing,
               "root": root}  # fmt: skip
    return _CORPUS


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, shared_media: Path) -> dict:
    return corpus(tmp_path_factory, shared_media)


def test_ingest_adds_good_files_and_reports_bad_ones(mixed: dict) -> None:
    report, src = mixed["report"], mixed["src"]
    good = {mixed["cards"], mixed["checker"], mixed["fire"], mixed["go"], *mixed["notes"].values()}
    assert sorted(report.added) == sorted(str(p) for p in good)
    failed = dict(report.failed)
    assert set(failed) == {
        str(src / "broken.mp4"), str(src / "truncated.mp4"), str(src / "notes" / "empty.md"),
        str(mixed["blob"]), str(mixed["missing"]),
    }  # fmt: skip
    assert "not a readable media file" in failed[str(src / "broken.mp4")]
    assert failed[str(src / "notes" / "empty.md")] == "empty note (no text to index)"
    assert failed[str(mixed["blob"])].startswith("unsupported file type '.bin'")
    assert failed[str(mixed["missing"])] == "no such file or directory"
    assert report.ignored == 1 and report.ok
    assert report.summary().startswith("6 added, 0 updated, 0 moved, 0 unchanged, 0 dup")


def test_media_is_segmented_transcribed_and_embedded(mixed: dict) -> None:
    lib: Library = mixed["lib"]
    entries = {Path(e.path).name: e for e in lib.entries()}
    assert set(entries) == {
        "cards.mp4",
        "checker.mp4",
        "fire.mp4",
        "goforward.wav",
        "groceries.md",
        "meeting.txt",
    }
    cards = entries["cards.mp4"]
    assert cards.modality is Modality.VIDEO and cards.duration == pytest.approx(5.5, abs=0.05)
    segs = lib.segments(cards.id)
    spans = [(0.0, 2.0), (2.0, 4.0), (4.0, pytest.approx(5.5, abs=0.05))]
    assert [(s.start, s.end) for s in segs] == spans
    assert segs[0].text == ""  # the 2 s of silence
    assert "spades" in segs[1].text and "hearts" in segs[2].text
    # Whisper's transcript, as written ("Eight of spades, four of close, seven of hearts.")
    assert word_error_rate("eight of spades four of clubs seven of hearts", cards.text) <= 0.2
    assert cards.text[0].isupper() and cards.text.endswith(".")
    assert normalise_phrase(segs[1].text).startswith("eight of spades")  # words in windows
    for s in segs:
        assert s.vectors[VIDEO_SPACE].shape == (1280,) and AUDIO_SPACE in s.vectors
        assert np.linalg.norm(s.vectors[VIDEO_SPACE]) == pytest.approx(1.0, abs=1e-4)
    assert TEXT_SPACE not in segs[0].vectors and TEXT_SPACE in segs[1].vectors
    go = entries["goforward.wav"]
    assert go.modality is Modality.AUDIO and word_error_rate("go forward ten meters", go.text) == 0
    assert all(VIDEO_SPACE not in s.vectors for s in lib.segments(go.id))
    note = entries["groceries.md"]
    assert note.modality is Modality.TEXT and note.duration is None
    assert note.tags == ["food", "shopping"]
    assert note.created == pytest.approx(parse_when("2023-04-05"))
    (seg,) = lib.segments(note.id)
    assert seg.text.startswith("# Weekend") and set(seg.vectors) == {TEXT_SPACE}


# ----------------------------------------------------------------------------- dedupe


def test_moves_renames_copies_and_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    src = tmp_path / "src"
    notes = write_notes(src)
    clip = write_clip(src / "checker.mp4", "checker", 2.0)  # silent: no speech to transcribe
    calls: list[str] = []
    original_note, original_media = Embedder.embed_note, Embedder.embed_media

    def count_note(self, path, *a, **kw):
        calls.append(Path(path).name)
        return original_note(self, path, *a, **kw)

    def count_media(self, path, *a, **kw):
        calls.append(Path(path).name)
        return original_media(self, path, *a, **kw)

    monkeypatch.setattr(Embedder, "embed_note", count_note)
    monkeypatch.setattr(Embedder, "embed_media", count_media)
    with Library.open(tmp_path / "lib") as lib:
        first = lib.add([src], workers=1, progress=False)
        assert len(first.added) == 3 and sorted(calls) == ["checker.mp4", "groceries.md",
                                                           "meeting.txt"]  # fmt: skip
        before = {e.id: e for e in lib.entries()}

        calls.clear()
        again = lib.add([src], workers=1, progress=False)
        assert len(again.unchanged) == 3 and not again.added and calls == []

        # rename a note, move the video into a sub-folder: paths change, nothing is embedded
        renamed = notes["meeting"].rename(src / "budget-meeting.txt")
        (src / "clips").mkdir()
        moved_clip = clip.rename(src / "clips" / "checker.mp4")
        moved = lib.add([src], workers=1, progress=False)
        assert sorted(moved.moved) == sorted([str(renamed), str(moved_clip)]) and calls == []
        after = {e.id: e for e in lib.entries()}
        assert set(after) == set(before)
        for eid, e in after.items():
            assert e.added == before[eid].added  # the same stored entry, not a new one
        assert Path(lib.get(next(i for i, e in after.items()
                                 if e.path.endswith(".mp4"))).path) == moved_clip  # fmt: skip

        # a copy is a duplicate of the stored file
        copy = src / "copy-of-groceries.md"
        shutil.copyfile(notes["groceries"], copy)
        dup = lib.add([src], workers=1, progress=False)
        assert dup.duplicates == [(str(copy), str(notes["groceries"]))] and calls == []

        # a changed file is re-embedded and replaces its old entry
        old_id = next(i for i, e in after.items() if e.path == str(notes["groceries"]))
        notes["groceries"].write_text("Buy saffron instead.\n")
        changed = lib.add([notes["groceries"]], workers=1, progress=False)
        assert changed.updated == [str(notes["groceries"])] and calls == ["groceries.md"]
        assert lib.store.get_entry(old_id) is None
        entry = lib.store.find_by_path(str(notes["groceries"]))
        assert entry is not None and entry.text == "Buy saffron instead."
        assert lib.stats()["entries"] == 3


# ----------------------------------------------------------------------------- crash-resume

_CHILD = """
import sys, time
from xmodal.library import ingest
from xmodal.library.library import Library

flush = ingest.Committer.flush
def slow_flush(self):  # commit one entry at a time, slowly, so the kill lands mid-ingest
    flush(self)
    time.sleep(0.4)
ingest.Committer.flush = slow_flush
config = ingest.IngestConfig(commit_every=1, commit_seconds=0.0)
with Library.open(sys.argv[1], config=config) as lib:
    lib.add([sys.argv[2]], workers=1, progress=False)
print("finished")
"""


@pytest.mark.slow
def test_killed_ingest_resumes_with_exact_counts(tmp_path: Path) -> None:
    from xmodal.library.lancedb import LanceStore

    src = tmp_path / "src"
    src.mkdir()
    n_notes = 14
    for i in range(n_notes):
        (src / f"note-{i:02d}.md").write_text(f"Memory number {i}: the {i}th walk in the park.\n")
    write_clip(src / "a.mp4", "checker", 2.0)
    write_clip(src / "b.mp4", "stripes", 3.0)
    total = n_notes + 2
    lib_dir = tmp_path / "lib"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_CHILD), str(lib_dir), str(src)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    committed = 0
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.2)
            if not (lib_dir / "meta.lance").exists():
                continue
            try:
                with LanceStore(lib_dir) as store:
                    committed = store.stats()["entries"]
            except LibraryError:
                continue
            if committed >= 3:
                break
        assert child.poll() is None, child.stderr.read().decode()[-2000:] if child.stderr else ""
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    with LanceStore(lib_dir) as store:
        committed = store.stats()["entries"]
    assert 3 <= committed < total  # killed mid-ingest

    with Library.open(lib_dir) as lib:
        report = lib.add([src], workers=1, progress=False)
        assert len(report.added) == total - committed
        assert len(report.unchanged) == committed and not report.failed
        entries = list(lib.entries())
        assert len(entries) == total
        assert len({e.id for e in entries}) == total and len({e.path for e in entries}) == total
        stats = lib.stats()
        assert stats["entries"] == total
        assert stats["segments"] == n_notes + 1 + 1  # one per note, one per short clip
        assert stats["vectors"][TEXT_SPACE] == n_notes
        assert stats["vectors"][VIDEO_SPACE] == 2
        rerun = lib.add([src], workers=1, progress=False)
        assert len(rerun.unchanged) == total and not rerun.added


# ----------------------------------------------------------------------------- parallel


@pytest.mark.slow
def test_worker_processes_give_the_same_vectors_as_one_process(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_notes(src)
    write_clip(src / "a.mp4", "checker", 2.0)
    write_clip(src / "b.mp4", "stripes", 2.0)
    config = IngestConfig(video_encoder="pixels:height=8,width=8", audio_encoder=None)  # light
    with Library.open(tmp_path / "one", config=config) as one:
        one.add([src], workers=1, progress=False)
        ref = {e.id: one.segments(e.id) for e in one.entries()}
    with Library.open(tmp_path / "two", config=config) as two:
        report = two.add([src], workers=2, progress=False)
        assert len(report.added) == 4 and not report.failed
        for e in two.entries():
            for a, b in zip(ref[e.id], two.segments(e.id), strict=True):
                assert set(a.vectors) == set(b.vectors)
                for space in a.vectors:
                    np.testing.assert_allclose(a.vectors[space], b.vectors[space], atol=1e-4)


# ----------------------------------------------------------------------------- by content


def speech(shared_media: Path, seconds: float = 1.5) -> np.ndarray:
    """The first ``seconds`` of a real LibriVox recording, 16 kHz mono."""
    from xmodal.media import read_audio

    return read_audio(shared_media / "sp01_librivox_sas_0870.wav", SR, start=0.0, end=seconds)


def write_aiff(path: Path, audio: np.ndarray) -> Path:
    """Apple AIFF (big-endian 16-bit PCM), written by FFmpeg's own muxer."""
    import av

    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)[None]
    with av.open(str(path), "w", format="aiff") as out:
        stream = out.add_stream("pcm_s16be", rate=SR, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = SR
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return path


def write_sphere(path: Path, audio: np.ndarray) -> Path:
    """NIST SPHERE: FFmpeg reads it but has no muxer, so the header is written as the format
    defines it (``NIST_1A``, its 1024-byte size, typed ``key -type value`` fields, ``end_head``,
    padding), followed by little-endian 16-bit PCM."""
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype("<i2")
    fields = [("sample_count", "-i", len(pcm)), ("sample_n_bytes", "-i", 2),
              ("channel_count", "-i", 1), ("sample_byte_format", "-s2", "01"),
              ("sample_rate", "-i", SR), ("sample_coding", "-s3", "pcm")]  # fmt: skip
    header = "NIST_1A\n   1024\n" + "".join(f"{k} {t} {v}\n" for k, t, v in fields) + "end_head\n"
    path.write_bytes(header.encode("ascii").ljust(1024, b" ") + pcm.tobytes())
    return path


def write_jpeg(path: Path) -> Path:
    from PIL import Image

    Image.fromarray(pattern_frames("checker", 1)[0]).save(path, quality=90)
    return path


@pytest.fixture
def recordings(tmp_path: Path, shared_media: Path) -> dict[str, Path]:
    """A folder of recordings with suffixes the library does not list, and non-media."""
    src = tmp_path / "recordings"
    (src / "day2").mkdir(parents=True)
    audio = speech(shared_media)
    files = {
        "aiff": write_aiff(src / "memo.aiff", audio),
        "aif": write_aiff(src / "day2" / "memo.aif", audio[: SR // 2]),
        "sph": write_sphere(src / "call.sph", audio),
        "wav": goforward_wav(shared_media, src / "goforward.wav"),
        "xyz": src / "notes.xyz",
        "bin": src / "tiny.bin",
        "jpg": write_jpeg(src / "photo.jpg"),
        "json": src / "sidecar.json",
    }
    files["xyz"].write_text("Call the plumber about the kitchen tap on Monday.\n" * 20)
    files["bin"].write_bytes(os.urandom(100))
    files["json"].write_text('{"recorded": "2024-05-01"}\n' * 40)
    return files


def test_discover_takes_recordings_by_content(recordings: dict[str, Path]) -> None:
    from xmodal.library.discover import discover
    from xmodal.media import probe

    assert probe(recordings["sph"]).format_name == "nistsphere"  # really SPHERE, for FFmpeg
    src = recordings["aiff"].parent
    files, failed, ignored = discover([src])
    assert files == sorted(recordings[k] for k in ("aiff", "aif", "sph", "wav")) and not failed
    reasons = dict(ignored)
    assert list(reasons) == sorted(str(recordings[k]) for k in ("xyz", "bin", "jpg", "json"))
    assert reasons[str(recordings["xyz"])].startswith("not media: not a readable media file")
    assert reasons[str(recordings["bin"])] == "too small to be media"
    assert reasons[str(recordings["jpg"])] == "image (not ingested)"
    assert reasons[str(recordings["json"])] == "unsupported type '.json'"

    # named explicitly as well, a file is taken (and tried at ingest), not listed as ignored
    files, _, ignored = discover([src, recordings["xyz"]])
    assert recordings["xyz"] in files and len(ignored) == 3


def test_discover_does_not_probe_files_that_cannot_be_media(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import xmodal.library.discover as discovery

    src = tmp_path / "many"
    src.mkdir()
    for i in range(250):
        (src / f"{i:03d}.json").write_text('{"k": 1}\n' * 100)
        (src / f"{i:03d}.jpg").write_bytes(b"\xff\xd8\xff" + bytes(1000))
        (src / f"{i:03d}.dat").write_bytes(b"x" * 100)
        (src / f"{i:03d}.log").write_text("12:00 started the run without trouble\n" * 20)
    probed: list[Path] = []
    real = discovery._probe_reason

    def counting(path: Path) -> str | None:
        probed.append(path)
        return real(path)

    monkeypatch.setattr(discovery, "_probe_reason", counting)
    t0 = time.perf_counter()
    files, failed, ignored = discovery.discover([src])
    elapsed = time.perf_counter() - t0
    assert not files and not failed and len(ignored) == 1000
    assert sorted(p.suffix for p in probed) == [".log"] * 250  # only the unknown, big enough
    assert {r for p, r in ignored if p.endswith(".log")} == {
        "not media: not a readable media file: unknown format, corrupt or truncated "
        "(Invalid data found when processing input)"
    }
    assert elapsed < 10.0, f"discovering 1,000 ignorable files took {elapsed:.1f} s"


def test_an_aiff_in_a_folder_ingests_as_audio(tmp_path: Path, recordings: dict[str, Path]):
    config = IngestConfig(video_encoder="pixels:height=4,width=4", transcribe=False, tags=False)
    src = recordings["aiff"].parent
    for key in ("aif", "sph", "wav"):  # keep the run to one recording
        recordings[key].unlink()
    with Library.open(tmp_path / "lib", config=config) as lib:
        report = lib.add([src], workers=1, progress=False)
        assert report.added == [str(recordings["aiff"])] and not report.failed, report.failed
        assert report.ignored == 4 and report.summary().startswith("1 added")
        assert "4 ignored" in report.summary()
        rows = report.to_dict()["ignored_files"]
        assert {"path": str(recordings["jpg"]), "reason": "image (not ingested)"} in rows
        (entry,) = lib.entries()
        assert entry.modality is Modality.AUDIO and entry.path == str(recordings["aiff"])
        assert entry.duration == pytest.approx(1.5, abs=0.02)
        segs = lib.segments(entry.id)
        assert segs and all(AUDIO_SPACE in s.vectors and VIDEO_SPACE not in s.vectors
                            for s in segs)  # fmt: skip

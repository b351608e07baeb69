"""Fixtures of the server tests: a fake library (a labelled test double) with real files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.server.fake_library import FakeLibrary
from xmodal.server.app import create_app
from xmodal.server.settings import ServerSettings

CLIP_BYTES = bytes(range(256)) * 40  # 10240 bytes with a known pattern, to check ranges


@dataclass
class FakeWorld:
    """A fake library over three real files, and the ids of its entries."""

    library: FakeLibrary
    root: Path
    video: str
    audio: str
    note: str


@pytest.fixture
def fake_world(tmp_path: Path) -> FakeWorld:
    """TEST DOUBLE library: a 'video' (patterned bytes), a 'recording' and a note."""
    media = tmp_path / "media"
    media.mkdir()
    (media / "kitchen.mp4").write_bytes(CLIP_BYTES)
    (media / "memo.wav").write_bytes(b"RIFF" + bytes(2000))
    (media / "todo.txt").write_text("Buy milk and call the dentist tomorrow.")
    lib = FakeLibrary()
    video = lib.put(
        media / "kitchen.mp4",
        [(0.0, 2.0, "the kettle is boiling"), (2.0, 4.5, "now pour the tea")],
        created="2024-05-01T10:00:00",
    )
    audio = lib.put(
        media / "memo.wav", [(0.0, 1.5, "remember to call the dentist")], "2024-05-02T08:00:00"
    )
    note = lib.put(media / "todo.txt", created="2024-05-01T21:00:00")
    return FakeWorld(lib, tmp_path, video, audio, note)


@pytest.fixture
def make_client(
    fake_world: FakeWorld,
) -> Callable[..., TestClient]:
    """Build a TestClient over the fake library with the given settings overrides."""

    def make(**overrides: object) -> TestClient:
        options: dict[str, object] = {
            "library_dir": fake_world.root / "library",
            "uploads_dir": fake_world.root / "uploads",
        }
        options.update(overrides)
        app = create_app(fake_world.library, ServerSettings(**options))  # type: ignore[arg-type]
        return TestClient(app, base_url="http://127.0.0.1:8765", raise_server_exceptions=False)

    return make


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """A loopback client without a token."""
    return make_client()


# ----------------------------------------------------------------------------- a real library


@dataclass
class RealWorld:
    """A real ``Library`` (LanceDB) over synthesized media, and what it holds."""

    library: Any
    root: Path
    ids: dict[str, str]  # file name -> entry id


GARDEN_PHRASE = "welcome to the garden"
GARDEN_QUERY = "garden"
"""The word of :data:`GARDEN_PHRASE` that speech recognition reliably hears."""


def make_media(folder: Path) -> list[Path]:
    """Write a talking clip, a recording and a note (espeak speech, drawn frames).

    ``garden.mp4`` (7.5 s) is quiet for 5.5 s, then says :data:`GARDEN_PHRASE`: the words fall
    in its second 5-second segment, so a player that starts at the matched segment starts at 5 s.
    """
    import numpy as np

    from xmodal.data.speech import synthesize
    from xmodal.media import write_mp4, write_wav

    folder.mkdir(parents=True, exist_ok=True)
    sr, fps = 16000, 10
    phrase = synthesize(GARDEN_PHRASE, rate=140).waveform
    lead, tail = np.zeros(int(5.5 * sr), np.float32), np.zeros(int(7.5 * sr), np.float32)
    audio = np.concatenate([lead, phrase, tail])[: int(7.5 * sr)]
    rng = np.random.default_rng(0)  # a microphone's noise floor: real recordings are never
    audio = audio + 1e-3 * rng.standard_normal(len(audio)).astype(np.float32)  # digital silence
    frames = np.zeros((int(len(audio) / sr * fps), 96, 128, 3), np.uint8)  # (T, H, W, 3)
    frames[..., 1] = 120
    for t in range(len(frames)):  # a white square crossing the picture
        x = int(t / len(frames) * 100)
        frames[t, 30:60, x : x + 24] = 255
    write_mp4(folder / "garden.mp4", frames, fps, audio, sr)
    speech = synthesize("happy birthday to you", rate=140).waveform
    pad = np.zeros(sr // 2, np.float32)
    song = np.concatenate([pad, speech, pad])
    write_wav(
        folder / "birthday.wav", song + 1e-3 * rng.standard_normal(len(song)).astype(np.float32), sr
    )
    (folder / "groceries.md").write_text(
        "Shopping list: oat milk, coffee beans and batteries for the smoke alarm.\n"
    )
    return [folder / "garden.mp4", folder / "birthday.wav", folder / "groceries.md"]


@pytest.fixture(scope="session")
def real_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealWorld]:
    """A real library built with ``Library.add`` from :func:`make_media` (once per session)."""
    import torch

    from xmodal.library.embed import IngestConfig
    from xmodal.library.library import Library

    root = tmp_path_factory.mktemp("real-library")
    files = make_media(root / "media")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny inputs: one thread is fastest on a shared machine
    try:
        lib = Library.open(root / "library", config=IngestConfig(frames_per_segment=2))
        report = lib.add(files, progress=False, workers=1)
    finally:
        torch.set_num_threads(threads)
    assert not report.failed, report.failed
    assert len(report.added) == 3
    ids = {Path(e.path).name: e.id for e in lib.entries()}
    try:
        yield RealWorld(lib, root, ids)
    finally:
        lib.close()


PLAYBACK_FILES = ("tk19_syncnet_example.avi", "tk16_lipnet_grid_bbaf2n.mpg", "broadcast.mkv",
                  "memo.aiff")  # fmt: skip
"""What a browser cannot play as it is: MPEG-4 Part 2 in AVI, MPEG-1, MPEG-2 in MKV, AIFF."""


@pytest.fixture(scope="session")
def playback_world(
    tmp_path_factory: pytest.TempPathFactory, shared_media: Path
) -> Iterator[RealWorld]:
    """A real library of the four :data:`PLAYBACK_FILES` (the AVI and the MPEG-1 clip from
    ``shared_media/talking``; an MPEG-2 MKV and an AIFF written with PyAV, with real speech),
    transcribed, so each one is found by a word of its own transcript."""
    import shutil

    import torch

    from tests.library.test_ingest import speech, write_aiff
    from tests.library.test_pictures import write_mpeg2_mkv
    from xmodal.library.embed import IngestConfig
    from xmodal.library.library import Library

    root = tmp_path_factory.mktemp("playback-library")
    media = root / "media"
    media.mkdir()
    for name in PLAYBACK_FILES[:2]:
        shutil.copyfile(shared_media / "talking" / name, media / name)
    write_mpeg2_mkv(media / "broadcast.mkv", seconds=4.0, voice=speech(shared_media, 4.0))
    from xmodal.media import read_audio

    lj = read_audio(shared_media / "sp05_ljspeech_LJ001-0001.wav", 16000)[: 16000 * 4]
    write_aiff(media / "memo.aiff", lj)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = IngestConfig(video_encoder="pixels:height=8,width=8", tags=False,
                              segment_seconds=2.0)  # fmt: skip
        lib = Library.open(root / "library", config=config)
        report = lib.add([media], progress=False, workers=1)
    finally:
        torch.set_num_threads(threads)
    assert not report.failed and len(report.added) == 4, report
    ids = {Path(e.path).name: e.id for e in lib.entries()}
    try:
        yield RealWorld(lib, root, ids)
    finally:
        lib.close()

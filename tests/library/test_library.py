"""The Library facade: opening, reading, housekeeping, export, watching, training + reindex."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.library.test_ingest import pattern_frames, write_clip, write_notes
from xmodal.library.dates import parse_when
from xmodal.library.embed import TEXT_SPACE
from xmodal.library.library import Library, make_filters
from xmodal.library.records import LibraryError
from xmodal.library.watch import Watcher, watch
from xmodal.types import Modality


@pytest.fixture(autouse=True)
def _data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the default library and the model registry out of the real home directory."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    monkeypatch.delenv("XMODAL_DATABASE_URL", raising=False)


@pytest.fixture
def notes_lib(tmp_path: Path):
    notes = write_notes(tmp_path / "src" / "notes")
    (tmp_path / "src" / "notes" / "2023-trip.md").write_text(
        "---\ndate: 2023-08-10T09:30:00\n---\nWe hiked to the glacier and saw marmots.\n"
    )
    with Library.open(tmp_path / "lib") as lib:
        report = lib.add([tmp_path / "src"], workers=1, progress=False)
        assert len(report.added) == 3
        yield lib, notes, tmp_path


def test_open_without_create_names_the_missing_library(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match=f"no library at {tmp_path / 'none'}"):
        Library.open(tmp_path / "none", create=False)
    assert not (tmp_path / "none").exists()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "photo.jpg").write_bytes(b"x")
    with pytest.raises(LibraryError, match="not an xmodal library"):
        Library.open(tmp_path / "busy")


def test_default_location_follows_xdg_data_home(tmp_path: Path) -> None:
    with Library.open() as lib:
        assert lib.location == str(tmp_path / "data-home" / "xmodal" / "library")
        assert lib.stats()["entries"] == 0 and lib.search("anything") == []


def test_get_media_path_stats_and_timeline(notes_lib) -> None:
    lib, notes, _ = notes_lib
    entry = lib.store.find_by_path(str(notes["meeting"]))
    assert lib.get(entry.id) == entry and lib.get(entry.id[:10]) == entry
    assert lib.media_path(entry.id) == notes["meeting"]
    with pytest.raises(LibraryError, match="no entry 'feedbeef'"):
        lib.get("feedbeef")
    stats = lib.stats()
    assert stats["entries"] == 3 and stats["entries_by_modality"]["text"] == 3
    assert stats["backend"] == "lancedb" and stats["joint_model"] is None
    assert stats["vectors"][TEXT_SPACE] == 3 and stats["warnings"] == []
    timeline = lib.timeline()
    assert timeline[0] == {"date": "2023-04-05", "video": 0, "audio": 0, "text": 1}
    assert timeline[1] == {"date": "2023-08-10", "video": 0, "audio": 0, "text": 1}
    assert sum(row["text"] for row in timeline) == 3
    notes["meeting"].unlink()
    with pytest.raises(LibraryError, match="is missing"):
        lib.media_path(entry.id)


def test_export_writes_every_entry_with_segments(notes_lib) -> None:
    lib, notes, tmp = notes_lib
    assert lib.export(tmp / "out.jsonl") == 3
    rows = [json.loads(line) for line in (tmp / "out.jsonl").read_text().splitlines()]
    assert [Path(r["path"]).name for r in rows] == ["2023-trip.md", "groceries.md",
                                                    "meeting.txt"]  # fmt: skip
    groceries = rows[1]
    assert groceries["tags"] == ["food", "shopping"] and groceries["modality"] == "text"
    assert groceries["created"] == pytest.approx(parse_when("2023-04-05"))
    assert groceries["segments"][0]["text"].endswith("weekend baking.")
    assert "vectors" not in groceries["segments"][0]
    lib.export(tmp / "vec.jsonl", vectors=True)
    seg = json.loads((tmp / "vec.jsonl").read_text().splitlines()[0])["segments"][0]
    vec = np.array(seg["vectors"][TEXT_SPACE])
    assert vec.shape == (384,) and np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-4)


def test_remove_by_id_path_and_folder(notes_lib) -> None:
    lib, notes, tmp = notes_lib
    entry = lib.store.find_by_path(str(notes["meeting"]))
    assert [e.id for e in lib.remove(entry.id[:12])] == [entry.id]
    assert [e.path for e in lib.remove(notes["groceries"])] == [str(notes["groceries"])]
    with pytest.raises(LibraryError, match="no entry at this path"):
        lib.remove(notes["groceries"])
    removed = lib.remove(str(tmp / "src"))  # everything under a folder
    assert [Path(e.path).name for e in removed] == ["2023-trip.md"]
    assert lib.stats()["entries"] == 0
    assert notes["groceries"].is_file()  # files are never touched


def test_make_filters_parses_user_values(tmp_path: Path) -> None:
    f = make_filters("video,text", "2024-01-02", "2024-01-03", "clips/*.mp4")
    assert f.modalities == frozenset({Modality.VIDEO, Modality.TEXT})
    assert f.until - f.since == pytest.approx(2 * 86400 - 1e-3)
    assert f.path_glob == "*/clips/*.mp4"
    (tmp_path / "d").mkdir()
    assert make_filters(path_glob=str(tmp_path / "d")).path_glob == str(tmp_path / "d") + "/*"
    with pytest.raises(ValueError, match="after until"):
        make_filters(since="2024-02-01", until="2024-01-01")


# ----------------------------------------------------------------------------- watching


def test_watcher_reports_new_and_changed_files_once_settled(tmp_path: Path) -> None:
    (tmp_path / "old.md").write_text("already there")
    w = Watcher([tmp_path])
    assert w.poll() == []
    new = tmp_path / "sub" / "new.md"
    new.parent.mkdir()
    new.write_text("first version")
    (tmp_path / "ignored.json").write_text("{}")
    (tmp_path / ".hidden.md").write_text("hidden")
    assert w.poll() == []  # seen once: maybe still being written
    assert w.poll() == [new]  # unchanged since the last poll: settled
    assert w.poll() == []
    new.write_text("second, longer version")
    assert w.poll() == [] and w.poll() == [new]
    new.unlink()
    assert w.poll() == []
    assert Watcher([tmp_path], baseline=False).poll() == []  # first poll only records sizes


def test_watch_ingests_a_note_written_while_watching(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    stop, seen = threading.Event(), []

    def on_report(paths, report) -> None:
        seen.append((paths, report))
        stop.set()

    with Library.open(tmp_path / "lib") as lib:
        thread = threading.Thread(
            target=watch, args=(lib, [folder]),
            kwargs={"interval": 0.05, "stop": stop, "on_report": on_report, "workers": 1},
        )  # fmt: skip
        thread.start()
        time.sleep(0.2)
        (folder / "idea.md").write_text("Paint the fence blue.")
        assert stop.wait(120), "the watcher never ingested the new note"
        thread.join(10)
        (paths, report), *_ = seen
        assert paths == [folder / "idea.md"] and report.added == [str(folder / "idea.md")]
        assert lib.search("fence", k=1)[0].path == str(folder / "idea.md")


# ----------------------------------------------------------------------------- PostgreSQL


def test_the_facade_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    """The same ingest, dedupe, hybrid search and removal through the PostgreSQL backend."""
    import psycopg

    from tests.library.test_search import _write_png

    src = tmp_path / "src"
    notes = write_notes(src)
    write_clip(src / "checker.mp4", "checker", 2.0)
    write_clip(src / "stripes.mp4", "stripes", 2.0)
    try:
        with Library.open(db_url=postgres_url) as lib:
            report = lib.add([src], workers=1, progress=False)
            assert len(report.added) == 4 and lib.stats()["backend"] == "postgres"
            top = lib.search("cardamom", k=3)[0]
            assert top.path == str(notes["groceries"]) and "fts" in top.matched_by
            png = _write_png(tmp_path / "q.png", pattern_frames("checker", 1)[0])
            assert lib.search(png, k=1)[0].path == str(src / "checker.mp4")
            renamed = notes["meeting"].rename(src / "budget.txt")
            assert lib.add([src], workers=1, progress=False).moved == [str(renamed)]
            assert [e.path for e in lib.remove(renamed)] == [str(renamed)]
        with Library.open(db_url=postgres_url, create=False) as lib:
            assert lib.stats()["entries"] == 3
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS xmodal CASCADE")


# ----------------------------------------------------------------------------- threads


def test_searches_do_not_wait_for_an_ingest_in_progress(
    notes_lib, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ingest holds the library's write lock while it embeds; searches from other threads
    run meanwhile, see only what is committed, and see the new file once it is."""
    from xmodal.library.embed import Embedder

    lib, notes, tmp_path = notes_lib
    slow = tmp_path / "src" / "notes" / "slow.md"
    slow.write_text("The quokka smiled at the ferry.\n")
    embedding, release = threading.Event(), threading.Event()
    original = Embedder.embed_note

    def held(self, path, entry_id, *args, **kwargs):
        if path.name == "slow.md":
            embedding.set()
            assert release.wait(60)
        return original(self, path, entry_id, *args, **kwargs)

    monkeypatch.setattr(Embedder, "embed_note", held)
    options = {"workers": 1, "progress": False}
    ingest = threading.Thread(target=lib.add, args=([slow],), kwargs=options)
    ingest.start()
    try:
        assert embedding.wait(60)
        start = time.monotonic()
        for _ in range(3):
            assert str(slow) not in {r.path for r in lib.search("quokka", k=5)}  # not yet
            assert lib.search("cardamom", k=1)[0].path == str(notes["groceries"])
        assert ingest.is_alive() and time.monotonic() - start < 60
        assert lib.stats()["entries"] == 3
    finally:
        release.set()
        ingest.join(60)
    assert not ingest.is_alive()
    assert lib.search("quokka", k=1)[0].path == str(slow)

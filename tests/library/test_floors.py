"""Relevance floors: which results are strong matches, and "no strong match" end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.library.test_ingest import write_notes
from xmodal.library import search as search_module
from xmodal.library.floors import FLOORS_FILE, is_strong, load_floors
from xmodal.library.library import Library
from xmodal.library.search import strong_match

FLOORS = {"text-frozen": 0.5, "tags-frozen": 0.4, "tags": None}


def test_is_strong_rules() -> None:
    assert is_strong({"fts": 0.01}, FLOORS)  # every query word occurs
    assert is_strong({"text-frozen": 0.51}, FLOORS)
    assert not is_strong({"text-frozen": 0.49, "tags-frozen": 0.39}, FLOORS)
    assert not is_strong({"tags": 99.0}, FLOORS)  # None: never strong on its own
    assert is_strong({"joint": 0.01}, FLOORS)  # no floor measured: no absence claimed
    assert is_strong({"text-frozen": 0.0}, {})  # an encoder without floors: all strong


def test_load_floors_reads_the_encoders_entry(tmp_path: Path) -> None:
    path = tmp_path / "floors.json"
    path.write_text(json.dumps({"minilm-l6-v2": {"floors": {"text-frozen": 0.3, "tags": None}}}))
    assert load_floors("minilm-l6-v2", str(path)) == {"text-frozen": 0.3, "tags": None}
    assert load_floors("another-encoder", str(path)) == {}
    assert load_floors("minilm-l6-v2", str(tmp_path / "missing.json")) == {}


def test_shipped_floors_were_measured_by_the_benchmark() -> None:
    shipped = json.loads(FLOORS_FILE.read_text())
    entry = shipped["minilm-l6-v2"]
    assert entry["measured"]["command"] == "python benchmarks/bench_no_match.py --write"
    assert set(entry["floors"]) <= {"text-frozen", "tags-frozen", "tags"}
    assert load_floors("minilm-l6-v2") == entry["floors"]


@pytest.fixture
def floored_notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Library, Path]:
    monkeypatch.setattr(search_module, "load_floors", lambda _: dict(FLOORS))
    src = tmp_path / "src"
    write_notes(src)
    lib = Library.open(tmp_path / "lib")
    lib.add([src], workers=1, progress=False)
    yield lib, tmp_path
    lib.close()


def test_search_marks_weak_results_and_says_no_strong_match(floored_notes) -> None:
    lib, tmp_path = floored_notes
    found = lib.search("cardamom for the weekend baking", k=3)  # every word in groceries.md
    assert strong_match(found) and found[0].strong and "fts" in found[0].matched_by
    absent = lib.search("an elephant crossing a river", k=3)
    assert absent and not strong_match(absent) and not any(r.strong for r in absent)
    assert absent[0].to_dict()["strong"] is False
    assert not strong_match([])

    from xmodal.cli import app

    out = CliRunner().invoke(
        app, ["library", "search", "an elephant crossing a river", "--library",
              str(tmp_path / "lib")], catch_exceptions=False,
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert out.stdout.startswith("no strong match for 'an elephant crossing a river'")
    assert "closest (weak) hits" in out.stdout
    hit = CliRunner().invoke(
        app, ["library", "search", "cardamom", "--library", str(tmp_path / "lib")],
        catch_exceptions=False,
    )  # fmt: skip
    assert "no strong match" not in hit.stdout


def test_a_note_as_the_query_is_floored_like_its_text(floored_notes) -> None:
    lib, tmp_path = floored_notes
    note = tmp_path / "query.md"
    note.write_text("An elephant crossing a river at dawn.\n")
    by_note = lib.search(note, k=2)
    assert by_note and not strong_match(by_note)
    assert [r.strong for r in by_note] == [r.strong for r in lib.search(note.read_text(), k=2)]

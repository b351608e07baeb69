"""Notes: encodings, formats with places, big notes split across workers and joined whole.

The files are small ones each test writes in the encoding or format it checks.
"""

from __future__ import annotations

import codecs
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from xmodal.library import tasks as tasks_module
from xmodal.library.documents import Part
from xmodal.library.embed import TEXT_SPACE, IngestConfig
from xmodal.library.library import Library
from xmodal.library.notes import (
    NotTextError,
    chunk_note,
    chunk_parts,
    decode_text,
    read_note,
)
from xmodal.media import MediaError

REPO = Path(__file__).resolve().parents[2]
CAFE = "Café notes: rotate the knife"


# ----------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        (CAFE.encode("utf-8"), CAFE, "utf-8"),
        (codecs.BOM_UTF8 + CAFE.encode("utf-8"), CAFE, "utf-8-sig"),
        (codecs.BOM_UTF16_LE + CAFE.encode("utf-16-le"), CAFE, "utf-16"),
        (codecs.BOM_UTF16_BE + CAFE.encode("utf-16-be"), CAFE, "utf-16"),
        (CAFE.encode("latin-1"), CAFE, "cp1252"),  # the 29-byte note of the issue
        (
            "“Rotate the knife” – twice… Café".encode("cp1252"),
            "“Rotate the knife” – twice… Café",
            "cp1252",
        ),  # fmt: skip
    ],
)
def test_decode_text_detects_the_encoding(data: bytes, text: str, encoding: str) -> None:
    assert decode_text(data) == (text, encoding)


def test_decode_text_keeps_western_and_cyrillic_letters() -> None:
    french = "Les élèves étaient très contents de la fête à Noël, naïve façon. " * 4
    assert decode_text(french.encode("latin-1")) == (french, "cp1252")  # not cp1250's "élčves"
    russian = "Привет, это заметка о ноже, который вращается на столе. " * 3
    assert decode_text(russian.encode("cp1251")) == (russian, "cp1251")


def test_binary_is_refused_with_the_reason() -> None:
    with pytest.raises(NotTextError, match="binary data, not text \\(a NUL byte at offset 4\\)"):
        decode_text(b"\x89PNG\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(NotTextError, match="not utf-16 text despite its byte-order mark"):
        decode_text(codecs.BOM_UTF16_LE + b"\x00\xd8")  # a lone surrogate


def test_read_note_records_encoding_front_matter_and_markdown_places(tmp_path: Path) -> None:
    md = tmp_path / "trip.md"
    md.write_bytes(
        "---\ndate: 2023-04-05\ntags: [travel]\n---\n"
        "Intro line.\n\n# Lyon\n\nLe café près de la gare.\n\n## Day 2\n\nMusée.\n".encode("cp1252")
    )
    note = read_note(md)
    assert note.encoding == "cp1252" and note.tags == ("travel",) and note.created is not None
    assert [p.place for p in note.parts] == ["", "Lyon", "Lyon › Day 2"]
    assert "Le café près de la gare." in note.parts[1].text
    chunks, places = chunk_parts(note.parts, 1500)
    assert places == ["", "Lyon", "Lyon › Day 2"] and chunks[0] == "Intro line."
    blob = tmp_path / "photo.txt"
    blob.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(64))
    with pytest.raises(MediaError, match="photo.txt: binary data, not text"):
        read_note(blob)


def test_chunk_note_is_linear_on_one_huge_paragraph() -> None:
    text = "word " * 400_000  # 2 MB without a blank line
    t0 = time.perf_counter()
    chunks = chunk_note(text, 1500)
    assert time.perf_counter() - t0 < 5.0  # quadratic copying took minutes
    assert all(len(c) <= 1500 for c in chunks) and len(chunks) == -(-2_000_000 // 1500)
    assert " ".join(chunks).split() == text.split()


def test_chunk_parts_never_join_two_parts() -> None:
    parts = [Part("page 1", "short one"), Part("page 2", "short two")]
    assert chunk_parts(parts, 1500) == (["short one", "short two"], ["page 1", "page 2"])


# ----------------------------------------------------------------------------- ingest


def test_library_takes_notes_in_every_encoding(tmp_path: Path) -> None:
    src = tmp_path / "notes"
    src.mkdir()
    written = {
        "utf8.md": CAFE.encode("utf-8"),
        "bom.txt": codecs.BOM_UTF8 + b"Kitchen knife, rotating slowly.",
        "utf16.txt": codecs.BOM_UTF16_LE + "Spoon pushed to the left.".encode("utf-16-le"),
        "latin1.md": CAFE.replace("Café", "Crème").encode("latin-1"),
        "cp1252.txt": "Phone moved “up” – fast.".encode("cp1252"),
        "binary.txt": b"\x00\x01\x02 not text" * 40,
    }
    for name, data in written.items():
        (src / name).write_bytes(data)
    with Library.open(tmp_path / "lib") as lib:
        report = lib.add([src], workers=1, progress=False)
        assert sorted(Path(p).name for p in report.added) == sorted(set(written) - {"binary.txt"})
        assert report.failed == [(str(src / "binary.txt"),
                                  "binary data, not text (a NUL byte at offset 0)")]  # fmt: skip
        got = {Path(e.path).name: (e.encoding, e.text) for e in lib.entries()}
        assert got["utf8.md"] == ("utf-8", CAFE)
        assert got["bom.txt"] == ("utf-8-sig", "Kitchen knife, rotating slowly.")
        assert got["utf16.txt"] == ("utf-16", "Spoon pushed to the left.")
        assert got["latin1.md"] == ("cp1252", "Crème notes: rotate the knife")
        assert got["cp1252.txt"] == ("cp1252", "Phone moved “up” – fast.")
        hits = lib.search("Crème", k=3)
        assert Path(hits[0].path).name == "latin1.md"


def test_a_big_note_is_embedded_in_parts_and_joined_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks_module, "BIG_NOTE_BYTES", 2_000)
    monkeypatch.setattr(tasks_module, "PART_CHUNKS", 4)
    paragraphs = [f"Paragraph {i}: the {i}th walk along the river, with a red kite overhead."
                  for i in range(30)]  # fmt: skip
    big = tmp_path / "journal.txt"
    big.write_text("\n\n".join(paragraphs))
    config = IngestConfig(note_chunk_chars=160)
    with Library.open(tmp_path / "lib", config=config) as lib:
        report = lib.add([big], workers=2, progress=False)
        assert report.added == [str(big)] and not report.failed
        (entry,) = lib.entries()
        segs = lib.segments(entry.id)
        assert [s.index for s in segs] == list(range(len(segs)))
        assert [s.text for s in segs] == chunk_note(big.read_text(), 160)
        assert all(TEXT_SPACE in s.vectors for s in segs)
    with Library.open(tmp_path / "one", config=config) as one:  # the same vectors unsplit
        monkeypatch.setattr(tasks_module, "BIG_NOTE_BYTES", 10**9)
        one.add([big], workers=1, progress=False)
        (ref,) = one.entries()
        for a, b in zip(one.segments(ref.id), segs, strict=True):
            assert a.text == b.text
            assert float(a.vectors[TEXT_SPACE] @ b.vectors[TEXT_SPACE]) == pytest.approx(
                1, abs=1e-5
            )


_CHILD = """
import sys, time
from xmodal.library import ingest, tasks
from xmodal.library.library import Library
tasks.BIG_NOTE_BYTES, tasks.PART_CHUNKS = 1000, 2
run_task = tasks.run_task
def slow_task(embedder, task):
    time.sleep(0.3)
    print("part", task.first, flush=True)
    return run_task(embedder, task)
tasks.run_task = slow_task
with Library.open(sys.argv[1], config=ingest.IngestConfig(note_chunk_chars=120)) as lib:
    lib.add([sys.argv[2]], workers=1, progress=False)
print("finished", flush=True)
"""


@pytest.mark.slow
def test_a_killed_big_note_ingest_leaves_no_half_entry(tmp_path: Path) -> None:
    big = tmp_path / "journal.txt"
    big.write_text("\n\n".join(f"Entry {i}: rain again, and the kettle." for i in range(40)))
    lib_dir = tmp_path / "lib"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_CHILD), str(lib_dir), str(big)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        parts = 0
        assert child.stdout is not None
        while parts < 5:  # several parts embedded, the note not yet whole
            line = child.stdout.readline()
            assert line, child.stderr.read() if child.stderr else ""
            parts += line.startswith("part")
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    with Library.open(lib_dir) as lib:
        assert list(lib.entries()) == [] and lib.stats()["segments"] == 0
        report = lib.add([big], workers=1, progress=False)
        assert report.added == [str(big)]
        (entry,) = lib.entries()
        assert len(lib.segments(entry.id)) == len(chunk_note(big.read_text(), 1500))


# ----------------------------------------------------------------------------- documents


def test_pdf_word_and_html_notes_are_searched_and_hits_say_where(tmp_path: Path) -> None:
    from tests.library.test_documents import encrypt_pdf, write_docx, write_pdf
    from xmodal.cli.library import results_table

    src = tmp_path / "docs"
    src.mkdir()
    filler = ["Minutes of the residents' meeting.", "Bins go out on Tuesday."]
    pdf = write_pdf(src / "minutes.pdf", [filler, ["Garden rota agreed."],
                                          ["We discussed the quarterly lease renewal."],
                                          ["Any other business: none."]])  # fmt: skip
    encrypt_pdf(pdf, src / "locked.pdf", "secret", "owner")
    (src / "broken.pdf").write_bytes(pdf.read_bytes()[: pdf.stat().st_size // 2])
    write_docx(src / "field.docx")
    (src / "page.html").write_bytes(
        '<html><head><meta charset="windows-1252"><title>t</title></head><body>'
        "<h1>Recipes</h1><p>Crêpes with a naïve amount of butter.</p></body></html>".encode(
            "cp1252"
        )
    )
    with Library.open(tmp_path / "lib") as lib:
        report = lib.add([src], workers=1, progress=False)
        added = sorted(Path(p).name for p in report.added)
        assert added == ["field.docx", "minutes.pdf", "page.html"]
        failed = {Path(p).name: reason for p, reason in report.failed}
        assert failed["locked.pdf"] == "encrypted PDF (needs a password)"
        assert failed["broken.pdf"].startswith("broken PDF")
        (hit,) = [r for r in lib.search("quarterly lease renewal", k=5)
                  if Path(r.path).name == "minutes.pdf"][:1]  # fmt: skip
        assert hit.place == "page 3" and "lease renewal" in hit.text and hit.rank == 1
        entries = {Path(e.path).name: e for e in lib.entries()}
        assert entries["page.html"].encoding == "cp1252" and entries["minutes.pdf"].encoding is None
        segs = lib.segments(entries["page.html"].id)
        assert [s.place for s in segs] == ["Recipes"] and "Crêpes" in segs[0].text
        from rich.console import Console

        console = Console(width=200, record=True)
        console.print(results_table([hit]))
        assert "page 3" in console.export_text()


def test_reindex_keeps_places(tmp_path: Path) -> None:
    from tests.library.test_documents import write_pdf

    pdf = write_pdf(tmp_path / "a.pdf", [["First page words."], ["Second page about kites."]])
    with Library.open(tmp_path / "lib") as lib:
        lib.add([pdf], workers=1, progress=False)
        (entry,) = lib.entries()
        before = [(s.place, s.text) for s in lib.segments(entry.id)]
        assert [p for p, _ in before] == ["page 1", "page 2"]
        lib.reindex(force=True, workers=1, progress=False)
        assert [(s.place, s.text) for s in lib.segments(entry.id)] == before

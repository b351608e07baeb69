"""Reading PDF, Word and HTML documents (and Markdown bodies) into placed parts.

The PDFs are written by fpdf2 (real text on given pages), the Word files by python-docx, and
encrypted PDFs by pypdf's writer, all into ``tmp_path``.
"""

from __future__ import annotations

import random
import time
import zipfile
from pathlib import Path

import pytest

from xmodal.library.documents import (
    DOCUMENT_SUFFIXES,
    Document,
    Part,
    _pdf_text,
    markdown_parts,
    read_document,
)
from xmodal.media import MediaError

PAGES = [
    ["Minutes of the   March meeting.", "Present: Ana, Bo and Cy."],
    ["Budget review for the spring.", "Travel costs were cut."],
    ["Ana raised the quarterly lease renewal.", "It is due in June."],
    ["Next meeting in April."],
]


def write_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A PDF with one page per entry of ``pages``, each a list of lines (empty: blank page)."""
    import fpdf

    pdf = fpdf.FPDF()
    pdf.set_font("Helvetica", size=12)
    for lines in pages:
        pdf.add_page()
        for line in lines:
            pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def encrypt_pdf(source: Path, target: Path, user_password: str, owner_password: str) -> Path:
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=source)
    writer.encrypt(user_password, owner_password)
    writer.write(target)
    return target


def reason(path: Path) -> str:
    """The reason read_document gives for failing on ``path`` (only MediaError may escape)."""
    with pytest.raises(MediaError) as info:
        read_document(path)
    assert info.value.path == path
    return info.value.reason


# --- PDF ----------------------------------------------------------------------------------


def test_pdf_reads_one_part_per_page(tmp_path):
    doc = read_document(write_pdf(tmp_path / "minutes.pdf", PAGES))

    assert isinstance(doc, Document)
    assert (doc.format, doc.encoding) == ("pdf", None)
    assert [p.place for p in doc.parts] == ["page 1", "page 2", "page 3", "page 4"]
    assert doc.parts[0] == Part("page 1", "Minutes of the March meeting. Present: Ana, Bo and Cy.")
    assert [p.place for p in doc.parts if "the quarterly lease renewal" in p.text] == ["page 3"]


def test_pdf_places_are_physical_pages_and_blank_pages_are_dropped(tmp_path):
    doc = read_document(write_pdf(tmp_path / "gap.PDF", [PAGES[0], [], PAGES[2]]))

    assert [p.place for p in doc.parts] == ["page 1", "page 3"]
    assert doc.parts[1].text == "Ana raised the quarterly lease renewal. It is due in June."


def test_pdf_with_a_password_is_refused(tmp_path):
    plain = write_pdf(tmp_path / "plain.pdf", PAGES)
    locked = encrypt_pdf(plain, tmp_path / "locked.pdf", "secret", "owner")

    assert reason(locked) == "encrypted PDF (needs a password)"


def test_pdf_with_an_empty_user_password_opens(tmp_path):
    plain = write_pdf(tmp_path / "plain.pdf", PAGES)
    restricted = encrypt_pdf(plain, tmp_path / "restricted.pdf", "", "owner")

    assert read_document(restricted).parts == read_document(plain).parts


def test_pdf_needing_a_missing_decryption_library_is_refused(tmp_path, monkeypatch):
    import pypdf

    plain = write_pdf(tmp_path / "plain.pdf", PAGES)
    aes = encrypt_pdf(plain, tmp_path / "aes.pdf", "", "owner")

    def decrypt(self, password):
        raise pypdf.errors.DependencyError("cryptography>=3.1 is required for AES algorithm")

    monkeypatch.setattr(pypdf.PdfReader, "decrypt", decrypt)

    assert reason(aes) == "encrypted PDF (cryptography>=3.1 is required for AES algorithm)"


@pytest.mark.parametrize("damage", ["garbage", "garbage after a header", "cut in half", "empty"])
def test_broken_pdf_raises_media_error(tmp_path, damage):
    whole = write_pdf(tmp_path / "whole.pdf", PAGES).read_bytes()
    noise = random.Random(0).randbytes(4000)
    data = {
        "garbage": noise,
        "garbage after a header": b"%PDF-1.7\n" + noise,
        "cut in half": whole[: len(whole) // 2],
        "empty": b"",
    }[damage]
    path = tmp_path / "broken.pdf"
    path.write_bytes(data)

    assert reason(path).startswith("broken PDF (")


def test_pdf_without_text_is_refused(tmp_path):
    blank = write_pdf(tmp_path / "scan.pdf", [[], []])

    assert reason(blank) == "no text in the document (a scan without a text layer?)"


def test_pdf_of_300_pages_reads_in_seconds(tmp_path):
    pages = [[f"Entry {n} of the ledger.", "Nothing else happened."] for n in range(1, 301)]
    path = write_pdf(tmp_path / "ledger.pdf", pages)

    start = time.perf_counter()
    doc = read_document(path)
    elapsed = time.perf_counter() - start

    assert len(doc.parts) == 300
    assert doc.parts[-1] == Part("page 300", "Entry 300 of the ledger. Nothing else happened.")
    assert elapsed < 10  # about 0.3 s here; a generous bound for a loaded machine


def test_pdf_text_joins_lines_into_paragraphs():
    raw = "The  quar-\nterly lease\r\nrenewal is due.\n\n \nA \ufb01ne second\xad\nparagraph.\x00\n"

    assert _pdf_text(raw) == "The quar-terly lease renewal is due.\n\nA fine secondparagraph."
    assert _pdf_text(" \n\n ") == ""


# --- Word .docx -----------------------------------------------------------------------------


def write_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.add_paragraph("Written   before the title.")
    d.add_heading("Field Notes", level=0)  # the "Title" style
    d.add_paragraph("Kept by the night shift.")
    d.add_heading("Setup", level=1)
    d.add_paragraph("Plug in the box.")
    d.add_paragraph("")
    d.add_paragraph("Then wait.")
    d.add_heading("Cables", level=2)
    d.add_paragraph("Use the red cable.")
    d.add_heading("Results", level=1)
    table = d.add_table(rows=2, cols=2)
    for (r, c), text in {(0, 0): "Voltage", (0, 1): "12 V", (1, 0): "Current"}.items():
        table.cell(r, c).text = text
    table.cell(1, 1).text = "2 A"
    d.add_paragraph("All within range.")
    d.add_heading("Wiring", level=3)  # skips level 2
    d.add_paragraph("Neat.")
    d.save(str(path))
    return path


def test_docx_parts_follow_the_headings(tmp_path):
    doc = read_document(write_docx(tmp_path / "notes.docx"))

    assert (doc.format, doc.encoding) == ("docx", None)
    assert [(p.place, p.text) for p in doc.parts] == [
        ("", "Written before the title."),
        ("Field Notes", "Field Notes\n\nKept by the night shift."),
        ("Setup", "Setup\n\nPlug in the box.\n\nThen wait."),
        ("Setup › Cables", "Cables\n\nUse the red cable."),
        ("Results", "Results\n\nVoltage 12 V\n\nCurrent 2 A\n\nAll within range."),
        ("Results › Wiring", "Wiring\n\nNeat."),
    ]


def test_docx_that_is_not_a_word_file_is_refused(tmp_path):
    text = tmp_path / "text.docx"
    text.write_text("Just a text file with the wrong name.\n")
    other_zip = tmp_path / "other.docx"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("readme.txt", "not a Word document")
    sheet = tmp_path / "sheet.docx"  # a real OPC package, but not a word-processing one
    with zipfile.ZipFile(write_docx(tmp_path / "real.docx")) as src:
        with zipfile.ZipFile(sheet, "w") as dst:
            for item in src.infolist():
                data = src.read(item)
                if item.filename == "[Content_Types].xml":
                    data = data.replace(
                        b"wordprocessingml.document.main+xml", b"spreadsheetml.sheet.main+xml"
                    )
                dst.writestr(item, data)

    assert reason(text) == "not a Word .docx file (not a zip archive)"
    assert reason(other_zip).startswith("not a Word .docx file (")
    assert reason(sheet) == "not a Word .docx file (another kind of Office file)"


def test_docx_without_text_is_refused(tmp_path):
    import docx

    path = tmp_path / "empty.docx"
    d = docx.Document()
    d.add_paragraph("   ")
    d.save(str(path))

    assert reason(path) == "no text in the document"


# --- HTML -----------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Browser tab title</title>
<style>p { color: red }</style><script>var secret = "from the head";</script></head>
<body>
<script>document.write("from the body")</script><noscript>Enable scripts</noscript>
<p>Welcome   to the <b>site</b>&nbsp;&amp; its <a href="#">links</a>!</p>
<h1>Setup <small>guide</small></h1>
<p>Unpack the box.</p><div>First line<br>second line</div>
<ul><li>cable</li><li>power   <i>brick</i></li></ul>
<h2>Cables</h2>
<table><tr><th>Colour</th><th>Use</th></tr><tr><td>red</td><td>power</td></tr></table>
<pre>  make   build
  make test</pre>
<!-- a comment --><template><p>hidden template</p></template>
<h1>Results</h1><blockquote>It works.</blockquote>
</body></html>
"""


def test_html_parts_follow_the_headings(tmp_path):
    path = tmp_path / "guide.html"
    path.write_bytes(PAGE.encode("utf-8"))

    doc = read_document(path)

    assert (doc.format, doc.encoding) == ("html", "utf-8")
    assert [(p.place, p.text) for p in doc.parts] == [
        ("", "Welcome to the site & its links!"),
        (
            "Setup guide",
            "Setup guide\n\nUnpack the box.\n\nFirst line\n\nsecond line\n\ncable\n\npower brick",
        ),
        ("Setup guide › Cables", "Cables\n\nColour Use\n\nred power\n\nmake build\nmake test"),
        ("Results", "Results\n\nIt works."),
    ]
    text = " ".join(p.text for p in doc.parts)
    for absent in ("secret", "from the body", "color", "Enable scripts", "Browser", "hidden"):
        assert absent not in text


def test_html_declared_windows_1252_is_decoded(tmp_path):
    path = tmp_path / "menu.HTM"
    html = '<html><head><meta charset="windows-1252"></head><body><h1>Café</h1>'
    html += "<p>A naïve “quote” — 5 €</p></body></html>"
    data = html.encode("cp1252")
    assert b"Caf\xe9" in data and b"na\xefve" in data
    path.write_bytes(data)

    doc = read_document(path)

    assert doc.encoding == "cp1252"
    assert doc.parts == [Part("Café", "Café\n\nA naïve “quote” — 5 €")]


@pytest.mark.parametrize(
    "head",
    [
        "",  # no declaration, not UTF-8: read as windows-1252, as browsers do
        '<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">',
        '<meta charset="utf-8">',  # a wrong declaration is not trusted
    ],
)
def test_html_legacy_bytes_read_as_windows_1252(tmp_path, head):
    path = tmp_path / "old.html"
    path.write_bytes(f"<html><head>{head}</head><body><p>Café “naïve”</p>".encode("cp1252"))

    doc = read_document(path)

    assert (doc.encoding, doc.parts) == ("cp1252", [Part("", "Café “naïve”")])


def test_html_without_text_is_refused(tmp_path):
    path = tmp_path / "blank.html"
    path.write_bytes(b"<html><head><title>Only a title</title></head><body> </body></html>")

    assert reason(path) == "no text in the document"


# --- dispatch -------------------------------------------------------------------------------


def test_read_document_refuses_what_it_cannot_read(tmp_path):
    assert DOCUMENT_SUFFIXES == (".pdf", ".docx", ".html", ".htm")
    other = tmp_path / "notes.rtf"
    other.write_text("{\\rtf1 hi}")
    folder = tmp_path / "folder.pdf"
    folder.mkdir()

    assert reason(other).startswith("not a document type")
    assert reason(tmp_path / "missing.docx") == "cannot read: No such file or directory"
    assert reason(tmp_path / "missing.html") == "cannot read: No such file or directory"
    assert reason(folder) == "cannot read: Is a directory"


# --- Markdown -------------------------------------------------------------------------------


def test_markdown_parts_follow_the_heading_path():
    body = """Text before   any heading.

# Setup
Unpack the box.

## Cables ##
Use the red one.
#hashtag is not a heading
### Colours
#### 
# Results
Done.
"""
    assert markdown_parts(body) == [
        Part("", "Text before any heading."),
        Part("Setup", "# Setup\n\nUnpack the box."),
        Part("Setup › Cables", "## Cables ##\n\nUse the red one.\n#hashtag is not a heading"),
        Part("Setup › Cables › Colours", "### Colours\n\n####"),
        Part("Results", "# Results\n\nDone."),
    ]


def test_markdown_headings_inside_fenced_code_stay_text():
    body = """# Script
Run this:

```bash
# not a heading
echo hi
```
~~~~
## not one either
~~~
~~~~
## Output
ok
"""
    assert markdown_parts(body) == [
        Part(
            "Script",
            "# Script\n\nRun this:\n\n```bash\n# not a heading\necho hi\n```\n~~~~\n"
            "## not one either\n~~~\n~~~~",
        ),
        Part("Script › Output", "## Output\n\nok"),
    ]


def test_markdown_skipped_levels_and_empty_bodies():
    assert markdown_parts("") == []
    assert markdown_parts("\n  \n") == []
    assert markdown_parts("# A\n### C\n## B\n") == [
        Part("A", "# A"),
        Part("A › C", "### C"),
        Part("A › B", "## B"),
    ]

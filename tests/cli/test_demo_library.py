"""The demo's library stage: a world's clips ingested, searched by a sentence, a recording and a
frame, and the hits judged against the world's manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from xmodal.cli.demo_library import demo_library, match_counts
from xmodal.library import SearchResult
from xmodal.library.embed import VIDEO_SPACE
from xmodal.types import Modality


@pytest.mark.slow
def test_demo_searches_find_the_clips_the_queries_came_from(tmp_path: Path) -> None:
    from xmodal.data.objects import WorldConfig, generate

    config = WorldConfig(size=8, frames=8, fps=8, resolution=64, seed=3)
    world = generate(tmp_path / "world", config, workers=1, progress=False)
    report, searches = demo_library(world, tmp_path / "lib", workers=1, k=3, progress=False)
    assert len(report.added) == 8 and report.ignored == 8  # the JSON sidecars
    assert len(searches) == 3
    (sentence, said), (recording, heard), (frame, seen) = searches
    assert sentence.startswith('sentence "') and said
    clip_of = {f"obj-{i:06d}": str(world / "clips" / f"obj-{i:06d}.mp4") for i in range(8)}
    heard_id = recording.split("audio track of ")[1].split()[0]
    seen_id = frame.split(" of ")[1].split()[0]
    assert heard[0].path == clip_of[heard_id] and "audio-frozen" in heard[0].matched_by
    assert seen[0].path == clip_of[seen_id] and seen[0].matched_by == [VIDEO_SPACE]
    assert (tmp_path / "library-queries" / f"{heard_id}.wav").is_file()
    again, _ = demo_library(world, tmp_path / "lib", workers=1, k=3, progress=False)
    assert len(again.unchanged) == 8 and not again.added  # a rerun reuses the library


@pytest.mark.slow
def test_demo_library_ingests_only_the_named_splits_and_queries_from_outside(
    tmp_path: Path,
) -> None:
    from xmodal.data.manifest import read_manifest, write_manifest
    from xmodal.data.objects import WorldConfig, generate

    config = WorldConfig(size=30, frames=8, fps=8, resolution=64, seed=5, split="random")
    world = generate(tmp_path / "world", config, workers=1, progress=False)
    rows, seen = read_manifest(world), set()
    for r in rows:  # re-split: the first clip of each pair goes to "test", the rest to "train"
        pair = (r["object"], r["action"])
        r["split"] = "train" if pair in seen else "test"
        seen.add(pair)
    write_manifest(world, rows)
    inside = {r["id"] for r in rows if r["split"] == "test"}
    assert len(inside) < len(rows)  # some pairs have a second clip, outside the library
    report, searches = demo_library(world, tmp_path / "lib", workers=1, k=3, splits=["test"],
                                    progress=False)  # fmt: skip
    assert {Path(p).stem for p in report.added} == inside
    (_, _), (recording, _), (frame, _) = searches
    heard_id = recording.split("audio track of ")[1].split()[0]
    seen_id = frame.split(" of ")[1].split()[0]
    pairs_inside = {(r["object"], r["action"]) for r in rows if r["id"] in inside}
    for cid in (heard_id, seen_id):  # from outside the library, showing a pair inside it
        row = next(r for r in rows if r["id"] == cid)
        assert cid not in inside and (row["object"], row["action"]) in pairs_inside
    with pytest.raises(ValueError, match="no clips in the splits"):
        demo_library(world, tmp_path / "lib2", workers=1, splits=["nope"], progress=False)


def test_match_counts_compares_hits_with_the_query_pair(tmp_path: Path) -> None:
    from xmodal.data.manifest import write_manifest

    shows = {"a": ("knife", "rotate"), "b": ("knife", "up"), "c": ("pen", "rotate")}
    rows = [{"id": cid, "path": f"clips/{cid}.mp4", "split": "test", "object": o, "action": a}
            for cid, (o, a) in shows.items()]  # fmt: skip
    write_manifest(tmp_path, rows)

    def hit(cid: str, rank: int) -> SearchResult:
        return SearchResult(entry_id=cid, path=str(tmp_path / "clips" / f"{cid}.mp4"),
                            modality=Modality.VIDEO, score=1.0, start=0.0, end=2.0, text="",
                            matched_by=["joint"], rank=rank)  # fmt: skip

    hits = [hit("a", 1), hit("b", 2), hit("c", 3), hit("elsewhere", 4)]
    searches = [
        ('sentence "rotate the knife" (spoken in x (knife, rotate))', hits),
        ("frame 4 of y (pen, up)", hits[:2]),
        ("a query without a pair", hits),
    ]
    assert match_counts(tmp_path, searches) == [(2, 1, 4), (0, 0, 2), (0, 0, 4)]

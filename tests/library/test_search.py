"""Search: query parsing, reciprocal rank fusion, and hybrid cross-modal search on real media.

The library is the shared corpus of ``test_ingest`` (notes, a clip whose speech says "eight of
spades four of clubs seven of hearts" after 2 s of silence, a checkerboard clip, a real phone
clip, a recording of "go forward ten meters").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.library.test_ingest import corpus, pattern_frames, write_clip
from xmodal.library.embed import TEXT_SPACE, VIDEO_SPACE
from xmodal.library.records import Entry, Hit, LibraryError
from xmodal.library.search import RRF_K, Query, excerpt, fuse, parse_query
from xmodal.types import Modality


@pytest.fixture(scope="module")
def lib_corpus(tmp_path_factory: pytest.TempPathFactory, shared_media: Path) -> dict:
    return corpus(tmp_path_factory, shared_media)


def _write_png(path: Path, rgb: np.ndarray) -> Path:
    import cv2

    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


# ----------------------------------------------------------------------------- pure parts


def _entry(name: str, modality: Modality = Modality.VIDEO) -> Entry:
    return Entry(id=(name * 64)[:64].encode().hex()[:64], path=f"/x/{name}", modality=modality,
                 created=0.0, modified=0.0)  # fmt: skip


def _hit(entry: Entry, seg: int | None, space: str, rank: int, score: float = 0.5) -> Hit:
    start = None if seg is None else float(seg * 5)
    end = None if seg is None else float(seg * 5 + 5)
    return Hit(entry, seg, start, end, f"text of {entry.path}", score, space, rank)


def test_fuse_is_reciprocal_rank_fusion_grouped_by_segment() -> None:
    a, b, note = _entry("a"), _entry("b"), _entry("n", Modality.TEXT)
    lists = {
        "text-frozen": [_hit(a, 1, "text-frozen", 1, 0.9), _hit(b, 0, "text-frozen", 2, 0.8)],
        "fts": [_hit(b, 0, "fts", 1, 7.0), _hit(note, 0, "fts", 2, 3.0)],
        "joint": [
            _hit(b, 0, "joint", 1, 0.6),
            _hit(a, 1, "joint", 2, 0.5),
            _hit(a, 2, "joint", 3, 0.4),
        ],  # fmt: skip
    }
    out = fuse(lists, k=10, words=[])
    assert [(r.path, r.segment) for r in out] == [("/x/b", 0), ("/x/a", 1), ("/x/n", 0),
                                                  ("/x/a", 2)]  # fmt: skip
    assert out[0].score == pytest.approx(1 / (RRF_K + 2) + 1 / (RRF_K + 1) + 1 / (RRF_K + 1))
    assert out[1].score == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + 2))
    assert out[0].matched_by == ["text-frozen", "fts", "joint"]
    assert out[0].scores == {"text-frozen": 0.8, "fts": 7.0, "joint": 0.6}
    assert (out[0].start, out[0].end) == (0.0, 5.0) and [r.rank for r in out] == [1, 2, 3, 4]
    assert out[2].start is None and out[2].modality is Modality.TEXT  # notes have no time
    assert len(fuse(lists, k=2)) == 2


def test_excerpt_centres_on_a_query_word() -> None:
    text = "alpha " * 100 + "cardamom " + "omega " * 100
    piece = excerpt(text, ["cardamom"], width=60)
    assert "cardamom" in piece and piece.startswith("…") and piece.endswith("…")
    assert len(piece) <= 62
    assert excerpt("short text", ["x"]) == "short text"


def test_parse_query_kinds(tmp_path: Path) -> None:
    assert parse_query("birthday cake") == Query("text", text="birthday cake")
    png = _write_png(tmp_path / "q.png", pattern_frames("checker", 1)[0])
    assert parse_query(str(png)).kind == "image" and parse_query(png).path == png
    clip = write_clip(tmp_path / "c.mp4", "checker", 1.0)
    assert parse_query(clip).kind == "video"
    note = tmp_path / "n.md"
    note.write_text("---\ndate: 2024-01-01\n---\nremember the keys\n")
    assert parse_query(note) == Query("text", text="remember the keys", path=note)
    with pytest.raises(LibraryError, match="query file does not exist"):
        parse_query(str(tmp_path / "missing.jpg"))
    with pytest.raises(LibraryError, match="query file does not exist"):
        parse_query(tmp_path / "missing")
    with pytest.raises(LibraryError, match="empty query"):
        parse_query("   ")
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"\x00\x01junk" * 50)
    with pytest.raises(LibraryError, match="not an image, video, recording or note"):
        parse_query(junk)


# ----------------------------------------------------------------------------- hybrid search


def test_a_word_finds_its_note(lib_corpus: dict) -> None:
    results = lib_corpus["lib"].search("cardamom", k=5)
    top = results[0]
    assert top.path == str(lib_corpus["notes"]["groceries"])
    assert {"fts", TEXT_SPACE} <= set(top.matched_by)
    assert top.start is None and "cardamom" in top.text
    assert all(r.path != top.path for r in results[1:])  # one segment per note


def test_a_spoken_word_finds_its_video_moment(lib_corpus: dict) -> None:
    lib, cards = lib_corpus["lib"], str(lib_corpus["cards"])
    spades = lib.search("spades", k=5)[0]
    assert (spades.path, spades.start, spades.end) == (cards, 2.0, 4.0)
    assert "fts" in spades.matched_by and "spades" in spades.text
    hearts = lib.search("hearts", k=5)[0]
    assert hearts.path == cards and hearts.start == 4.0 and "fts" in hearts.matched_by
    assert hearts.modality is Modality.VIDEO


def test_an_image_finds_the_video_it_was_cut_from(lib_corpus: dict, tmp_path: Path) -> None:
    from xmodal.media import read_video

    lib = lib_corpus["lib"]
    for clip in (lib_corpus["fire"], lib_corpus["checker"]):
        frames = read_video(clip)
        png = _write_png(tmp_path / f"{clip.stem}.png", frames[len(frames) // 2])
        top = lib.search(png, k=3)[0]
        assert top.path == str(clip) and top.matched_by == [VIDEO_SPACE]
        assert top.scores[VIDEO_SPACE] > 0.6


def test_a_recording_finds_itself_and_what_was_said(lib_corpus: dict, tmp_path: Path) -> None:
    import shutil

    query = tmp_path / "query.wav"
    shutil.copyfile(lib_corpus["go"], query)
    top = lib_corpus["lib"].search(query, k=3)[0]
    assert top.path == str(lib_corpus["go"])
    assert {"fts", TEXT_SPACE, "audio-frozen"} <= set(top.matched_by)
    assert top.scores["audio-frozen"] > 0.99


def test_a_video_finds_similar_video(lib_corpus: dict, tmp_path: Path) -> None:
    query = tmp_path / "other-checker.mp4"
    from xmodal.media import write_mp4

    write_mp4(query, pattern_frames("checker", 12, size=(96, 128)), 6)  # other size and rate
    top = lib_corpus["lib"].search(query, k=3)[0]
    assert top.path == str(lib_corpus["checker"]) and top.matched_by == [VIDEO_SPACE]


def test_filters_restrict_modality_date_and_path(lib_corpus: dict) -> None:
    lib, notes = lib_corpus["lib"], lib_corpus["notes"]
    only_text = lib.search("spades", modalities="text", k=10)
    assert only_text and all(r.modality is Modality.TEXT for r in only_text)
    media = lib.search("spades", modalities=[Modality.VIDEO, Modality.AUDIO], k=10)
    assert {r.modality for r in media} <= {Modality.VIDEO, Modality.AUDIO}
    dated = lib.search("budget", since="2023-04-05", until="2023-04-05", k=10)
    assert [r.path for r in dated] == [str(notes["groceries"])]  # its front-matter date
    assert lib.search("budget", until="2023-04-04", k=10) == []
    in_folder = lib.search("walk", path_glob="notes/*", k=10)
    assert {r.path for r in in_folder} == {str(p) for p in notes.values()}
    assert {r.path for r in lib.search("walk", path_glob="*.wav", k=10)} == {str(lib_corpus["go"])}
    with pytest.raises(ValueError, match="unknown modality 'photo'"):
        lib.search("walk", modalities="photo")
    with pytest.raises(ValueError, match="bad date"):
        lib.search("walk", since="last week")


def test_the_pool_gives_the_same_results_as_one_thread(lib_corpus: dict, tmp_path: Path) -> None:
    from xmodal.library.pool import PoolConfig, SearchPool
    from xmodal.library.search import search

    lib = lib_corpus["lib"]
    png = _write_png(tmp_path / "q.png", pattern_frames("checker", 1)[0])
    pool = SearchPool(PoolConfig(encode_workers=2, list_workers=4))
    try:
        for query in ("cardamom", "eight of spades", png, lib_corpus["go"]):
            alone = search(lib.store, lib.embedder, query, k=5)
            pooled = search(lib.store, lib.embedder, query, k=5, pool=pool)
            assert [r.to_dict() for r in pooled] == [r.to_dict() for r in alone]
            assert alone
    finally:
        pool.close()

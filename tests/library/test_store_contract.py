"""The storage contract, run unchanged against LanceDB (embedded) and PostgreSQL + pgvector.

Every test taking ``store`` or ``backend`` runs once per backend (see ``conftest.py``); the rest
check the records, the filters' reference semantics and the factory.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.library.conftest import META, Backend
from xmodal.features.tags import Tag
from xmodal.library.columns import glob_to_like
from xmodal.library.records import (
    FACE_DIM,
    FTS_SPACE,
    SCHEMA_VERSION,
    TAGS_LIST,
    Entry,
    Face,
    Filters,
    LibraryError,
    LibraryMeta,
    Segment,
)
from xmodal.library.store import Store, open_store
from xmodal.types import Modality

DAY = 86400.0
T0 = 1_700_000_000.0


def unit(*xs: float) -> np.ndarray:
    v = np.asarray(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def entry(
    name: str,
    modality: Modality = Modality.VIDEO,
    created: float = T0,
    text: str = "",
    duration: float | None = 10.0,
    tags: tuple[str, ...] = (),
    folder: str = "/media",
) -> Entry:
    return Entry(
        id=hashlib.sha256(name.encode()).hexdigest(),
        path=f"{folder}/{name}",
        modality=modality,
        created=created,
        modified=created + 5.0,
        duration=duration,
        text=text,
        tags=list(tags),
        added=T0 + 100.0,
    )


def segs(
    e: Entry,
    joint: list[np.ndarray | None],
    texts: list[str] | None = None,
    text_frozen: list[np.ndarray | None] | None = None,
) -> list[Segment]:
    out = []
    for i, vec in enumerate(joint):
        vectors = {} if vec is None else {"joint": vec}
        if text_frozen is not None and text_frozen[i] is not None:
            vectors["text-frozen"] = text_frozen[i]
        out.append(
            Segment(e.id, i, 2.0 * i, 2.0 * i + 2.0, (texts or [""] * len(joint))[i], vectors)
        )
    return out


COCKATOO = Tag("sulphur-crested cockatoo", 0.71, "n01819313")
SUIT = Tag("suit", 0.3, "n04350905")
FACE = Tag("face", 1.0, "n05600637")
WORDS = {  # tag_text as xmodal.features.tags.tag_text writes it (shortened)
    COCKATOO: "sulphur-crested cockatoo, Kakatoe galerita, cockatoo, parrot, bird, animal",
    SUIT: "suit, suit of clothes, garment, clothing",
    FACE: "face, human face, person, someone",
}


def tagged(e: Entry, index: int, tags: list[Tag] | None, vec: np.ndarray | None = None) -> Segment:
    """A segment with these tags (``None``: untagged) and their words."""
    vectors = {"joint": vec if vec is not None else unit(1, 0, 0, 0)}
    text = "; ".join(WORDS[t] for t in tags or [])
    return Segment(e.id, index, 5.0 * index, 5.0 * index + 5, "", vectors, tags, text)


def hit_keys(hits: list) -> list[tuple[str, int | None]]:
    return [(Path(h.entry.path).name, h.segment) for h in hits]


# ----------------------------------------------------------------------------- records


def test_records_validate_their_fields() -> None:
    good = entry("a.mp4")
    assert good.modality is Modality.VIDEO and good.tags == []
    with pytest.raises(ValueError, match="64 lowercase hex"):
        replace(good, id="abc")
    with pytest.raises(ValueError, match="absolute"):
        replace(good, path="relative/a.mp4")
    with pytest.raises(ValueError, match="unknown modality"):
        replace(good, modality="smell")
    with pytest.raises(ValueError, match="start <= end"):
        Segment(good.id, 0, 3.0, 1.0)
    with pytest.raises(ValueError, match="NaN"):
        Segment(good.id, 0, 0.0, 1.0, vectors={"joint": np.array([np.nan, 1.0])})
    with pytest.raises(ValueError, match="after until"):
        Filters(since=2.0, until=1.0)
    assert Filters(modalities={"video"}).modalities == frozenset({Modality.VIDEO})
    with pytest.raises(ValueError, match="collide"):
        LibraryMeta("m", {"a-b": 2, "a_b": 2})
    with pytest.raises(ValueError, match="reserved"):
        LibraryMeta("m", {FTS_SPACE: 2})
    with pytest.raises(ValueError, match="positive int"):
        LibraryMeta("m", {"joint": 0})
    assert LibraryMeta.from_json(META.to_json()) == META


@pytest.mark.parametrize(
    ("glob", "like", "exact"),
    [
        ("/media/*.mp4", "/media/%.mp4", True),
        ("/a/?_b%", "/a/_\\_b\\%", True),
        ("/x/[ab]*.wav", "/x/%", False),
        ("C:\\dir\\*", "C:\\\\dir\\\\%", True),
    ],
)
def test_glob_to_like(glob: str, like: str, exact: bool) -> None:
    assert glob_to_like(glob) == (like, exact)


def test_filters_reference_semantics() -> None:
    e = entry("trip/beach.mp4", created=T0, folder="/home/ann/holiday")
    assert Filters(path_glob="*/holiday/*").matches(e)  # '*' crosses '/'
    assert not Filters(path_glob="*/work/*").matches(e)
    assert Filters(since=T0, until=T0).matches(e)  # both bounds inclusive
    assert not Filters(since=T0 + 1).matches(e)
    assert not Filters(until=T0 - 1).matches(e)
    assert not Filters(modalities={Modality.AUDIO, Modality.TEXT}).matches(e)


# ----------------------------------------------------------------------------- meta


def test_init_meta_and_reopen(backend: Backend) -> None:
    with backend.open() as st:
        assert isinstance(st, Store)
        assert st.meta() == replace(META, schema_version=SCHEMA_VERSION)
        stats = st.stats()
        assert (stats["entries"], stats["segments"]) == (0, 0)
        assert stats["spaces"] == {"joint": 4, "text-frozen": 3}
        assert stats["entries_by_modality"] == {"video": 0, "audio": 0, "text": 0}
        e = entry("a.mp4")
        st.upsert_entry(e, segs(e, [unit(1, 0, 0, 0)]))
    with backend.open(meta=None) as st:  # read-only reopen
        assert st.meta().spaces == {"joint": 4, "text-frozen": 3}
        assert st.has_entry(e.id)
    wider = LibraryMeta(META.model_id, {**META.spaces, "audio-frozen": 2})
    with backend.open(wider) as st:  # a new space is added, the old data stays
        assert st.meta().spaces["audio-frozen"] == 2
        f = entry("b.wav", Modality.AUDIO)
        st.upsert_entry(f, [Segment(f.id, 0, 0.0, 1.0, vectors={"audio-frozen": unit(1, 1)})])
        hits = st.search_vector("audio-frozen", unit(1, 1), k=5)
        assert hit_keys(hits) == [("b.wav", 0)]
        assert st.segments(e.id)[0].vectors.keys() == {"joint"}


def test_missing_library_is_refused_when_reading(backend: Backend) -> None:
    with pytest.raises(LibraryError, match="no library"):
        backend.open(meta=None)


def test_width_or_model_change_is_refused(backend: Backend) -> None:
    backend.open().close()
    with pytest.raises(LibraryError, match=r"4-d.*8-d.*xmodal library reindex"):
        backend.open(LibraryMeta(META.model_id, {"joint": 8}))
    with pytest.raises(LibraryError, match="xmodal library reindex"):
        backend.open(replace(META, model_id="another-model"))


def test_older_schema_is_refused_or_migrated(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    st = backend.open()
    e = entry("a.mp4")
    st.upsert_entry(e, segs(e, [unit(1, 0, 0, 0)]))
    old = replace(st.meta(), schema_version=SCHEMA_VERSION - 1)
    st._write_meta(old)  # what an older xmodal would have left
    store_cls = type(st)
    st.close()
    msg = rf"schema version {SCHEMA_VERSION - 1}.*version {SCHEMA_VERSION}.*no migration"
    monkeypatch.setattr(store_cls, "MIGRATIONS", {})
    with pytest.raises(LibraryError, match=msg):
        backend.open(meta=None)

    calls = []
    monkeypatch.setattr(store_cls, "MIGRATIONS", {SCHEMA_VERSION - 1: calls.append})
    with backend.open(meta=None) as st:
        assert len(calls) == 1
        assert st.meta().schema_version == SCHEMA_VERSION
        assert st.get_entry(e.id) == e
    with backend.open(meta=None) as st:  # migrated once, for good
        assert len(calls) == 1
        st._write_meta(replace(st.meta(), schema_version=SCHEMA_VERSION + 1))
    with pytest.raises(LibraryError, match="newer.*upgrade xmodal"):
        backend.open(meta=None)


def test_a_version_1_library_gains_tag_columns(backend: Backend) -> None:
    """Schema 1 -> 2: a library written before tags opens, its segments read as untagged,
    and new segments store their tags."""
    st = backend.open()
    e = entry("old.mp4", text="before tags")
    st.upsert_entry(e, segs(e, [unit(1, 0, 0, 0)], ["before tags"]))
    if backend.name == "lancedb":  # what schema 1 had: no tag columns, no tag index
        st._segments.drop_index("tag_text_idx")
        st._segments.drop_columns(["tags", "tag_text", "tag_terms"])
    else:
        with st._tx() as cur:
            cur.execute(
                f"ALTER TABLE {backend.pg_schema}.segments DROP COLUMN tag_tsv, DROP COLUMN tags, "
                "DROP COLUMN tag_text, DROP COLUMN tag_terms"
            )
    st._write_meta(replace(st.meta(), schema_version=1))
    st.close()
    with backend.open(meta=None) as st:
        assert st.meta().schema_version == SCHEMA_VERSION == 4
        (old,) = st.segments(e.id)
        assert old.tags is None and old.tag_text == "" and old.text == "before tags"
        assert st.search_tags("bird") == []
        new = entry("new.mp4")
        st.upsert_entry(new, [tagged(new, 0, [COCKATOO])])
        assert hit_keys(st.search_tags("parrot")) == [("new.mp4", 0)]
        assert st.segments(new.id)[0].tags == [COCKATOO]


def test_a_version_2_library_gains_encoding_and_place(backend: Backend) -> None:
    """Schema 2 -> 3: a library written before places opens, its note reads with no encoding
    and its segments with no place, and new notes store both (and search returns the place)."""
    st = backend.open()
    e = entry("old.txt", modality=Modality.TEXT, text="lease renewal")
    st.upsert_entry(e, segs(e, [unit(1, 0, 0, 0)], ["lease renewal"]))
    if backend.name == "lancedb":  # what schema 2 had: no encoding, no place
        st._entries.drop_columns(["encoding"])
        st._segments.drop_columns(["place"])
    else:  # ... and an unbounded full-text column on the entries
        with st._tx() as cur:
            table = f"{backend.pg_schema}.entries"
            cur.execute(f"ALTER TABLE {table} DROP COLUMN encoding, DROP COLUMN tsv")
            cur.execute(f"ALTER TABLE {table} ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
                        "(to_tsvector('english', text)) STORED")  # fmt: skip
            cur.execute(f"ALTER TABLE {backend.pg_schema}.segments DROP COLUMN place")
    st._write_meta(replace(st.meta(), schema_version=2))
    st.close()
    with backend.open(meta=None) as st:
        assert st.meta().schema_version == SCHEMA_VERSION == 4
        assert st.get_entry(e.id) == e and e.encoding is None
        (old,) = st.segments(e.id)
        assert old.place == "" and old.text == "lease renewal"
        new = replace(entry("new.pdf", modality=Modality.TEXT, text="the quarterly lease"),
                      encoding="cp1252")  # fmt: skip
        page = Segment(new.id, 0, 0.0, 0.0, "the quarterly lease", {"joint": unit(0, 1, 0, 0)},
                       place="page 3")  # fmt: skip
        st.upsert_entry(new, [page])
        assert st.get_entry(new.id).encoding == "cp1252"
        assert st.segments(new.id)[0].place == "page 3"
        (hit,) = st.search_text("quarterly")
        assert (hit.segment, hit.place) == (0, "page 3")
        (near,) = st.search_vector("joint", unit(0, 1, 0, 0), k=1)
        assert near.place == "page 3" and near.entry.encoding == "cp1252"
        assert [h.entry.id for h in st.search_text("lease renewal")] == [e.id]  # entry-level
        words = " ".join(f"w{i:06d}x" for i in range(150_000))  # an unbounded tsvector: 2 MB
        big = entry("big.txt", modality=Modality.TEXT, text=words + " lark", duration=None)
        st.upsert_entry(big, [])
        assert st.get_entry(big.id).text.endswith("lark")


def face(index: int, seed: int, box=(0.25, 0.1, 0.75, 0.7)) -> Face:
    rng = np.random.default_rng(seed)
    return Face(index, box, frames=3, size=88.5, descriptor=rng.normal(0, 0.1, FACE_DIM))


def test_a_version_3_library_gains_faces_and_people(backend: Backend) -> None:
    """Schema 3 -> 4: a library written before faces opens, its segments read as never looked
    at, and new segments store their faces; the people document starts empty."""
    st = backend.open()
    e = entry("old.mp4")
    st.upsert_entry(e, segs(e, [unit(1, 0, 0, 0)]))
    if backend.name == "lancedb":  # what schema 3 had: no faces column
        st._segments.drop_columns(["faces"])
    else:
        with st._tx() as cur:
            cur.execute(f"ALTER TABLE {backend.pg_schema}.segments DROP COLUMN faces")
    st._write_meta(replace(st.meta(), schema_version=3))
    st.close()
    with backend.open(meta=None) as st:
        assert st.meta().schema_version == SCHEMA_VERSION == 4
        (old,) = st.segments(e.id)
        assert old.faces is None and st.people() == {}
        new = entry("new.mp4")
        st.upsert_entry(new, [Segment(new.id, 0, 0.0, 5.0, faces=[face(0, 1), face(1, 2)])])
        got = st.segments(new.id)[0].faces
        assert [f.index for f in got] == [0, 1] and got[1].box == (0.25, 0.1, 0.75, 0.7)
        np.testing.assert_allclose(got[1].descriptor, face(1, 2).descriptor, atol=1e-6)


def test_faces_round_trip_are_replaced_atomically_and_people_persist(store: Store) -> None:
    e = entry("party.mp4", duration=10.0)
    two = [Segment(e.id, 0, 0.0, 5.0, "hello", {"joint": unit(1, 0, 0, 0)}, faces=[]),
           Segment(e.id, 1, 5.0, 10.0, "kettle", {"joint": unit(0, 1, 0, 0)},
                   faces=[face(0, 7), face(3, 8, (0.0, 0.0, 1.0, 1.0))])]  # fmt: skip
    store.upsert_entry(e, two)
    got = store.segments(e.id)
    assert got[0].faces == [] and [f.index for f in got[1].faces] == [0, 3]
    (only,) = store.iter_faces()  # segment 0 has none, so only segment 1
    assert only[0] == e and only[1:4] == (1, 5.0, 10.0) and [f.index for f in only[4]] == [0, 3]
    assert got[1].faces[1].frames == 3 and got[1].faces[1].size == 88.5
    assert got[1].faces[0].speaking is None
    kept = replace(got[1].faces[1], speaking=True)
    store.set_faces(e.id, [None, [kept]])  # forget face 0 of segment 1
    after = store.segments(e.id)
    assert after[0].faces is None and [f.index for f in after[1].faces] == [3]
    assert after[1].faces[0].speaking is True
    assert [s.text for s in after] == ["hello", "kettle"]  # the rest of the rows stays
    np.testing.assert_allclose(after[1].vectors["joint"], unit(0, 1, 0, 0))
    assert hit_keys(store.search_text("kettle")) == [("party.mp4", 1)]
    with pytest.raises(ValueError, match="2 segments but faces for 1"):
        store.set_faces(e.id, [None])
    with pytest.raises(ValueError, match="distinct"):
        store.set_faces(e.id, [None, [face(1, 1), face(1, 2)]])
    with pytest.raises(KeyError):
        store.set_faces("f" * 64, [None])
    assert store.people() == {}
    doc = {"version": 1, "people": [{"id": 1, "name": "Ada", "faces": [[e.id, 1, 3]]}]}
    store.set_people(doc)
    assert store.people() == doc
    store.set_people({**doc, "people": []})
    assert store.people()["people"] == []
    with pytest.raises(ValueError, match="distinct"):
        Segment(e.id, 0, 0.0, 1.0, faces=[face(0, 1), face(0, 2)])
    with pytest.raises(ValueError, match="descriptor"):
        Face(0, (0, 0, 1, 1), 1, 10.0, np.zeros(12))
    with pytest.raises(ValueError, match="box"):
        Face(0, (0.5, 0, 0.2, 1), 1, 10.0, np.zeros(FACE_DIM))


def test_segment_filter_keeps_only_those_segments_in_every_search(store: Store) -> None:
    """A person's moments: vector, text and tag searches keep only the listed segments and
    drop whole-entry hits; an empty set keeps nothing."""
    a, b = entry("a.mp4", text="kettle kettle"), entry("b.mp4", text="kettle")
    items = [(a, [tagged(a, i, [COCKATOO], unit(1, 0.1 * i, 0, 0)) for i in range(3)]),
             (b, [tagged(b, i, [COCKATOO], unit(1, 0, 0.1 * i, 0)) for i in range(2)])]  # fmt: skip
    for _, segments in items:
        for seg in segments:
            seg.text = "kettle"
    store.upsert_entries(items)
    only = Filters(segments=frozenset({(a.id, 2), (b.id, 0)}))
    near = store.search_vector("joint", unit(1, 0, 0, 0), k=10, filters=only)
    assert sorted(hit_keys(near)) == [("a.mp4", 2), ("b.mp4", 0)]
    assert sorted(hit_keys(store.search_text("kettle", k=10, filters=only))) == [
        ("a.mp4", 2), ("b.mp4", 0)]  # fmt: skip
    assert sorted(hit_keys(store.search_tags("parrot", k=10, filters=only))) == [
        ("a.mp4", 2), ("b.mp4", 0)]  # fmt: skip
    none = Filters(segments=frozenset())
    assert store.search_vector("joint", unit(1, 0, 0, 0), k=5, filters=none) == []
    assert store.search_text("kettle", k=5, filters=none) == []
    assert len(hit_keys(store.search_text("kettle", k=10))) == 5  # unfiltered: all of them
    with pytest.raises(ValueError, match="entry id"):
        Filters(segments=frozenset({("nope", 1)}))


# ----------------------------------------------------------------------------- entries


def test_entry_round_trip_and_lifecycle(store: Store) -> None:
    e = entry("talk.mp4", text="hello there", tags=("work", "2024"), duration=4.0)
    s = segs(
        e, [unit(1, 0, 0, 0), None], ["hello", "there"], text_frozen=[unit(0, 1, 0), unit(1, 1, 1)]
    )
    assert not store.has_entry(e.id) and store.get_entry(e.id) is None
    store.upsert_entry(e, s)
    assert store.has_entry(e.id)
    assert store.get_entry(e.id) == e
    assert store.find_by_path(e.path) == e
    assert store.find_by_path("/media/other.mp4") is None
    got = store.segments(e.id)
    assert [(g.index, g.start, g.end, g.text) for g in got] == [
        (0, 0.0, 2.0, "hello"),
        (1, 2.0, 4.0, "there"),
    ]
    assert got[0].vectors.keys() == {"joint", "text-frozen"}
    assert got[1].vectors.keys() == {"text-frozen"}  # a missing vector stays missing
    np.testing.assert_array_equal(got[0].vectors["joint"], s[0].vectors["joint"])
    np.testing.assert_array_equal(got[1].vectors["text-frozen"], s[1].vectors["text-frozen"])

    assert store.update_path(e.id, "/archive/talk.mp4")
    moved = store.get_entry(e.id)
    assert moved is not None and moved.path == "/archive/talk.mp4"
    assert store.find_by_path(e.path) is None and store.find_by_path("/archive/talk.mp4") == moved
    hits = store.search_vector(
        "joint", unit(1, 0, 0, 0), k=3, filters=Filters(path_glob="/archive/*")
    )
    assert [h.entry.path for h in hits] == ["/archive/talk.mp4"]
    assert (
        store.search_vector("joint", unit(1, 0, 0, 0), filters=Filters(path_glob="/media/*")) == []
    )
    assert len(store.segments(e.id)) == 2
    assert not store.update_path("0" * 64, "/x")

    # replacing an entry replaces all of its segments
    e2 = replace(e, path="/archive/talk.mp4", text="new transcript")
    store.upsert_entry(e2, segs(e2, [unit(0, 0, 1, 0)], ["only one"]))
    assert [g.text for g in store.segments(e.id)] == ["only one"]
    assert store.get_entry(e.id).text == "new transcript"
    assert store.stats()["segments"] == 1

    assert store.remove_entry(e.id)
    assert not store.has_entry(e.id) and store.segments(e.id) == []
    assert store.search_vector("joint", unit(0, 0, 1, 0)) == []
    assert store.search_text("only") == []
    assert not store.remove_entry(e.id)


def test_upsert_rejects_inconsistent_input_and_writes_nothing(store: Store) -> None:
    e, other = entry("a.mp4"), entry("b.mp4")
    cases = [
        ([Segment(other.id, 0, 0, 1, vectors={"joint": unit(1, 0, 0, 0)})], "belongs to"),
        ([Segment(e.id, 0, 0, 1, vectors={"joint": unit(1, 0, 0)})], "4-d vectors"),
        ([Segment(e.id, 0, 0, 1, vectors={"nope": unit(1, 0)})], "unknown space"),
        ([Segment(e.id, 0, 0, 1), Segment(e.id, 0, 1, 2)], "appears twice"),
    ]
    for bad, msg in cases:
        with pytest.raises(ValueError, match=msg):
            store.upsert_entry(e, bad)
    with pytest.raises(ValueError, match="twice in one batch"):
        store.upsert_entries([(e, []), (e, [])])
    assert not store.has_entry(e.id) and store.stats()["segments"] == 0


def test_batch_upsert_iter_and_stats(store: Store) -> None:
    v = entry("b.mp4", Modality.VIDEO, duration=30.0)
    a = entry("a.wav", Modality.AUDIO, duration=12.5)
    n = entry("c.txt", Modality.TEXT, duration=None, text="a note")
    store.upsert_entries(
        [
            (v, segs(v, [unit(1, 0, 0, 0), unit(0, 1, 0, 0), unit(0, 0, 1, 0)])),
            (a, segs(a, [unit(1, 1, 0, 0)], text_frozen=[unit(1, 0, 0)])),
            (n, []),
        ]
    )
    assert [e.path for e in store.iter_entries()] == [
        "/media/a.wav",
        "/media/b.mp4",
        "/media/c.txt",
    ]
    stats = store.stats()
    assert stats["entries"] == 3
    assert stats["entries_by_modality"] == {"video": 1, "audio": 1, "text": 1}
    assert stats["segments"] == 4
    assert stats["vectors"] == {"joint": 4, "text-frozen": 1}
    assert stats["duration_s"] == pytest.approx(42.5)
    assert stats["model_id"] == META.model_id and stats["schema_version"] == SCHEMA_VERSION
    assert stats["size_bytes"] > 0


# ----------------------------------------------------------------------------- search


@pytest.fixture
def filled(store: Store) -> Store:
    """Five entries with known vectors, times, folders and words."""
    rows = [
        (
            "holiday/beach.mp4",
            Modality.VIDEO,
            T0,
            "waves crash on the sandy beach",
            [unit(1, 0, 0, 0), unit(0.8, 0.6, 0, 0)],
            ["waves crash", "on the sandy beach"],
        ),
        (
            "holiday/song.wav",
            Modality.AUDIO,
            T0 + 1 * DAY,
            "a guitar song by the fire",
            [unit(0.6, 0.8, 0, 0)],
            ["a guitar song by the fire"],
        ),
        (
            "work/meeting.mp4",
            Modality.VIDEO,
            T0 + 2 * DAY,
            "the budget meeting about oranges",
            [unit(0, 1, 0, 0), unit(0, 0.6, 0.8, 0)],
            ["the budget meeting", "about oranges"],
        ),
        (
            "work/idea.txt",
            Modality.TEXT,
            T0 + 3 * DAY,
            "remember to buy oranges and dogs food",
            [unit(0, 0, 0, 1)],
            [""],
        ),
        (
            "b1.wav",
            Modality.AUDIO,
            T0 + 4 * DAY,
            "dogs were barking loudly",
            [unit(0.9, 0, 0.1, 0)],
            ["dogs were barking loudly"],
        ),
    ]
    for name, mod, created, text, vecs, texts in rows:
        e = entry(
            name, mod, created=created, text=text, duration=None if mod is Modality.TEXT else 4.0
        )
        store.upsert_entry(e, segs(e, vecs, texts))
    return store


def test_vector_search_returns_the_exact_nearest(filled: Store) -> None:
    q = unit(1, 0.05, 0, 0)
    hits = filled.search_vector("joint", q, k=10)
    # all 7 segments with a joint vector, by cosine similarity to q
    vectors = {
        (Path(e.path).name, s.index): s.vectors["joint"]
        for e in filled.iter_entries()
        for s in filled.segments(e.id)
    }
    expected = sorted(vectors, key=lambda key: -float(vectors[key] @ q))
    assert hit_keys(hits) == expected
    assert hit_keys(hits)[:3] == [("beach.mp4", 0), ("b1.wav", 0), ("beach.mp4", 1)]
    for h in hits:
        assert h.score == pytest.approx(
            float(vectors[(Path(h.entry.path).name, h.segment)] @ q), abs=1e-5
        )
        assert h.space == "joint"
    assert [h.rank for h in hits] == list(range(1, 8))
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))
    assert hits[0].start == 0.0 and hits[0].end == 2.0 and hits[0].text == "waves crash"

    top2 = filled.search_vector("joint", q, k=2)
    assert hit_keys(top2) == expected[:2]
    assert filled.search_vector("text-frozen", unit(1, 0, 0), k=5) == []  # nobody has one
    with pytest.raises(ValueError, match="4-d queries"):
        filled.search_vector("joint", unit(1, 0, 0))
    with pytest.raises(ValueError, match="unknown space"):
        filled.search_vector("nope", unit(1, 0, 0, 0))


@pytest.mark.parametrize(
    "filters",
    [
        Filters(modalities={Modality.AUDIO}),
        Filters(modalities={Modality.VIDEO, Modality.TEXT}),
        Filters(since=T0 + 1 * DAY),
        Filters(until=T0 + 2 * DAY),
        Filters(since=T0 + 1 * DAY, until=T0 + 1 * DAY),
        Filters(path_glob="*/holiday/*"),
        Filters(path_glob="/media/work/*.mp4"),
        Filters(path_glob="/media/b?.wav"),
        Filters(path_glob="/media/[bw]*"),
        Filters(modalities={Modality.VIDEO}, path_glob="*holiday*", since=T0 - DAY),
    ],
    ids=[
        "audio",
        "video+text",
        "since",
        "until",
        "one-day",
        "glob-dir",
        "glob-ext",
        "glob-?",
        "glob-class",
        "combined",
    ],
)
def test_filters_exclude_exactly(filled: Store, filters: Filters) -> None:
    q = unit(1, 1, 1, 1)
    everything = filled.search_vector("joint", q, k=50)
    assert len(everything) == 7
    expected = [
        (Path(h.entry.path).name, h.segment) for h in everything if filters.matches(h.entry)
    ]
    assert 0 < len(expected) < 7  # each filter removes something and keeps something
    assert hit_keys(filled.search_vector("joint", q, k=50, filters=filters)) == expected

    text_all = filled.search_text("oranges", k=50) + filled.search_text("beach", k=50)
    text_kept = filled.search_text("oranges", k=50, filters=filters) + filled.search_text(
        "beach", k=50, filters=filters
    )
    assert {h.entry.path for h in text_kept} == {
        h.entry.path for h in text_all if filters.matches(h.entry)
    }


def test_full_text_finds_notes_and_segments(filled: Store) -> None:
    # a word only in a note (entry text, no segment text) finds the note as a whole
    hits = filled.search_text("buy")
    assert hit_keys(hits) == [("idea.txt", None)]
    assert hits[0].space == FTS_SPACE and hits[0].start is None and hits[0].rank == 1
    # a word in a segment finds that segment (not the entry a second time)
    assert hit_keys(filled.search_text("guitar")) == [("song.wav", 0)]
    oranges = filled.search_text("oranges")  # a note's word and a segment's word, one list
    assert sorted(hit_keys(oranges), key=str) == [("idea.txt", None), ("meeting.mp4", 1)]
    assert [h.rank for h in oranges] == [1, 2] and oranges[0].score >= oranges[1].score
    # stemming and case folding: "Barks" ~ "barking", "dog" ~ "dogs"
    assert ("b1.wav", 0) in hit_keys(filled.search_text("Barks"))
    assert {k for k in hit_keys(filled.search_text("dog"))} == {("b1.wav", 0), ("idea.txt", None)}
    # every word must occur: two words of different segments match only the whole entry
    assert hit_keys(filled.search_text("budget oranges")) == [("meeting.mp4", None)]
    # absent words and empty queries find nothing
    assert filled.search_text("zebra") == []
    assert filled.search_text("budget zebra") == []
    assert filled.search_text("  ?! ") == []
    assert len(filled.search_text("oranges", k=1)) == 1


def test_a_big_note_is_stored_and_found_by_its_last_words(store: Store) -> None:
    """An 11 MB journal's entry text is more than PostgreSQL's 1 MB tsvector holds: it is
    stored whole, and its segments' text finds any part of it."""
    words = [f"w{i:06d}x" for i in range(300_000)]  # 3 MB of distinct words
    chunks = [" ".join(words[i : i + 150]) for i in range(0, len(words), 150)]
    e = entry("journal.txt", modality=Modality.TEXT, text="\n\n".join(chunks), duration=None)
    store.upsert_entry(e, [Segment(e.id, i, 0.0, 0.0, c, {"joint": unit(1, 0, 0, 0)})
                           for i, c in enumerate(chunks)])  # fmt: skip
    assert store.get_entry(e.id).text == e.text
    (hit,) = store.search_text(words[-1])
    assert hit.segment == len(chunks) - 1 and hit.entry.id == e.id


# ----------------------------------------------------------------------------- tags


def test_tags_round_trip_search_and_filter(store: Store) -> None:
    birds = entry("birds.mp4", text="look at that")
    talk = entry("talk.mp4", modality=Modality.VIDEO, text="good evening")
    song = entry("song.wav", modality=Modality.AUDIO, text="a parrot song")  # said, not seen
    store.upsert_entries(
        [
            (birds, [tagged(birds, 0, [COCKATOO]), tagged(birds, 1, [], unit(0, 1, 0, 0))]),
            (talk, [tagged(talk, 0, [SUIT, FACE], unit(0.9, 0.1, 0, 0))]),
            (song, [Segment(song.id, 0, 0.0, 3.0, "a parrot song", {"joint": unit(0, 0, 1, 0)})]),
        ]
    )
    # round trip: the tags, their order and scores, "[]" (tagged, nothing seen) vs None
    got = store.segments(birds.id)
    assert [g.tags for g in got] == [[COCKATOO], []]
    assert got[0].tag_text == WORDS[COCKATOO] and got[1].tag_text == ""
    assert store.segments(talk.id)[0].tags == [SUIT, FACE]
    assert store.segments(song.id)[0].tags is None
    # full text over tag words: a synonym, a hypernym; stemmed; words outside the tags ignored
    for query in ("cockatoo", "Parrots", "bird animal", "a white bird on the fence"):
        hits = store.search_tags(query)
        assert hit_keys(hits) == [("birds.mp4", 0)], query
        assert hits[0].space == TAGS_LIST and hits[0].tags == (COCKATOO,)
    assert hit_keys(store.search_tags("person")) == [("talk.mp4", 0)]
    assert store.search_tags("zebra") == [] and store.search_tags(" ?! ") == []
    # any word matches; more matching words rank higher
    both = store.search_tags("a person in a suit and clothing, or a parrot")
    assert hit_keys(both) == [("talk.mp4", 0), ("birds.mp4", 0)]
    assert hit_keys(store.search_text("parrot")) == [("song.wav", 0)]  # transcripts stay apart
    # hits of every list carry the segment's tags
    (near,) = store.search_vector("joint", unit(0.9, 0.1, 0, 0), k=1)
    assert near.tags == (SUIT, FACE)
    # the tag filter: exact words (name, synonym or hypernym), any of several
    everything = store.search_vector("joint", unit(1, 1, 1, 1), k=10)
    assert len(everything) == 4
    only = Filters(tags=frozenset({"Bird"}))
    assert hit_keys(store.search_vector("joint", unit(1, 1, 1, 1), k=10, filters=only)) == [
        ("birds.mp4", 0)
    ]
    either = Filters(tags=frozenset({"bird", "human face"}))
    assert sorted(
        hit_keys(store.search_vector("joint", unit(1, 1, 1, 1), k=10, filters=either))
    ) == [
        ("birds.mp4", 0),
        ("talk.mp4", 0),
    ]
    assert store.search_vector("joint", unit(1, 1, 1, 1), filters=Filters(tags={"bir"})) == []
    assert hit_keys(store.search_tags("cockatoo", filters=Filters(tags={"person"}))) == []
    # a tag filter drops whole-entry text hits (an entry has no tags)
    assert hit_keys(store.search_text("look", filters=Filters(tags={"bird"}))) == []
    assert hit_keys(store.search_text("look")) == [("birds.mp4", None)]


def test_tag_filter_reference_semantics() -> None:
    f = Filters(tags={" Human  Face ", "BIRD"})
    assert f.tags == frozenset({"human face", "bird"}) and not f.empty
    assert f.matches_tags("face, human face, person") and f.matches_tags("cockatoo; Bird")
    assert (
        not f.matches_tags("birds, parrot") and not f.matches_tags("") and not f.matches_tags(None)
    )
    assert Filters().matches_tags(None)
    for bad in ("bird", [], [""], ["a|b"]):
        with pytest.raises(ValueError):
            Filters(tags=bad)


# ----------------------------------------------------------------------------- reindex


def test_set_vectors_clear_and_reset_meta(backend: Backend, filled: Store) -> None:
    store = filled
    beach = store.find_by_path("/media/holiday/beach.mp4")
    store.set_vectors(beach.id, "joint", np.stack([unit(0, 0, 0, 1), unit(0, 0, 1, 0)]))
    assert hit_keys(store.search_vector("joint", unit(0, 0, 0, 1), k=2))[0] in {
        ("beach.mp4", 0),
        ("idea.txt", 0),
    }
    np.testing.assert_array_equal(store.segments(beach.id)[1].vectors["joint"], unit(0, 0, 1, 0))
    store.set_vectors(beach.id, "text-frozen", np.stack([unit(1, 0, 0), unit(0, 1, 0)]))
    assert hit_keys(store.search_vector("text-frozen", unit(0, 1, 0), k=1)) == [("beach.mp4", 1)]
    with pytest.raises(ValueError, match=r"\(2, 4\)"):
        store.set_vectors(beach.id, "joint", np.zeros((3, 4), np.float32))
    with pytest.raises(KeyError):
        store.set_vectors("0" * 64, "joint", np.zeros((1, 4), np.float32))

    store.clear_vectors("joint")
    assert store.search_vector("joint", unit(1, 0, 0, 0), k=10) == []
    assert store.stats()["vectors"] == {"joint": 0, "text-frozen": 2}
    assert store.stats()["segments"] == 7  # text and segments stay
    assert hit_keys(store.search_text("guitar")) == [("song.wav", 0)]

    new = LibraryMeta("test-model-v2", {"joint": 8})
    assert sorted(store.reset_meta(new)) == ["joint"]
    assert store.meta().spaces == {"joint": 8} and store.meta().model_id == "test-model-v2"
    assert store.stats()["vectors"] == {"joint": 0}
    wide = np.zeros((2, 8), np.float32)
    wide[0, 7] = wide[1, 6] = 1.0
    store.set_vectors(beach.id, "joint", wide)
    assert hit_keys(store.search_vector("joint", wide[1], k=5)) == [
        ("beach.mp4", 1),
        ("beach.mp4", 0),
    ]
    store.close()
    with pytest.raises(LibraryError, match="reindex"):
        backend.open(META)
    with backend.open(new) as reopened:
        assert reopened.stats()["vectors"] == {"joint": 2}


# ----------------------------------------------------------------------------- crash safety


def test_failure_between_segment_and_entry_writes_leaves_no_partial_entry(
    backend: Backend, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = entry("old.mp4", text="old words")
    store.upsert_entry(old, segs(old, [unit(1, 0, 0, 0)], ["old words"]))
    before = store.stats()

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(store, "_write_entries", crash)
    new = entry("new.mp4", text="fresh words")
    with pytest.raises(RuntimeError, match="simulated crash"):
        store.upsert_entry(new, segs(new, [unit(0, 1, 0, 0), unit(0, 0, 1, 0)], ["fresh", "words"]))
    replacement = replace(old, text="replacement")
    with pytest.raises(RuntimeError, match="simulated crash"):
        store.upsert_entry(replacement, segs(replacement, [unit(0, 0, 0, 1)] * 3, ["a", "b", "c"]))

    def visible_state(st: Store) -> tuple:
        return (
            st.has_entry(new.id),
            st.get_entry(old.id),
            [(s.index, s.text) for s in st.segments(old.id)],
            st.segments(new.id),
            hit_keys(st.search_vector("joint", unit(1, 1, 1, 1), k=10)),
            hit_keys(st.search_text("fresh")) + hit_keys(st.search_text("replacement")),
            {k: v for k, v in st.stats().items() if k != "size_bytes"},
        )

    expected = (
        False,
        old,
        [(0, "old words")],
        [],
        [("old.mp4", 0)],
        [],
        {k: v for k, v in before.items() if k != "size_bytes"},
    )
    assert visible_state(store) == expected
    monkeypatch.undo()
    store.close()
    with backend.open() as reopened:  # reopening (which cleans orphans) keeps it that way
        assert visible_state(reopened) == expected
        reopened.upsert_entry(new, segs(new, [unit(0, 1, 0, 0)], ["fresh"]))
        assert hit_keys(reopened.search_text("fresh")) == [("new.mp4", 0)]


# ----------------------------------------------------------------------------- factory


def test_open_store_chooses_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from xmodal.library.lancedb import LanceStore

    monkeypatch.delenv("XMODAL_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    with open_store(meta=META) as st:
        assert isinstance(st, LanceStore)
        assert st.location == str(tmp_path / "xdg" / "xmodal" / "library")
    monkeypatch.setenv("XMODAL_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    with open_store(library_dir=tmp_path / "lib", meta=META) as st:  # --library beats the env
        assert isinstance(st, LanceStore)
    with pytest.raises(LibraryError, match="either"):
        open_store(library_dir=tmp_path / "lib", db_url="postgresql://x@127.0.0.1:1/db")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "photo.jpg").write_bytes(b"x")
    with pytest.raises(LibraryError, match="not an xmodal library"):
        open_store(library_dir=junk, meta=META)


def test_open_store_uses_the_database_url_env(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xmodal.library.postgres import PostgresStore, PostgresStoreConfig

    monkeypatch.setenv("XMODAL_DATABASE_URL", postgres_url)
    config = PostgresStoreConfig(schema="t_env")
    try:
        with open_store(meta=META, postgres_config=config) as st:
            assert isinstance(st, PostgresStore)
            assert "127.0.0.1" in st.location and "t_env" in st.location
    finally:
        import psycopg

        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS t_env CASCADE")


def test_unreachable_database_is_a_clear_error() -> None:
    url = "postgresql://someone:s3cret@127.0.0.1:1/lib"
    with pytest.raises(
        LibraryError, match="cannot connect to PostgreSQL at postgresql://someone@"
    ) as info:
        open_store(db_url=url)
    assert "s3cret" not in str(info.value)


# ----------------------------------------------------------------------------- LanceDB only


def test_lancedb_orphans_are_removed_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xmodal.library.lancedb import LanceStore, LanceStoreConfig

    config = LanceStoreConfig(orphan_grace_s=0.0)
    st = LanceStore(tmp_path / "lib", create=True, config=config)
    st.init(META)
    e = entry("a.mp4")

    def disk_full(table: object) -> None:
        raise OSError("disk")

    monkeypatch.setattr(st, "_write_entries", disk_full)
    with pytest.raises(OSError, match="disk"):
        st.upsert_entry(e, segs(e, [unit(1, 0, 0, 0)] * 3))
    assert st._segments.count_rows() == 3 and st.stats()["segments"] == 0
    st.close()
    st = LanceStore(tmp_path / "lib", config=config)
    assert st._segments.count_rows() == 0
    young = LanceStore(tmp_path / "lib", config=LanceStoreConfig(orphan_grace_s=3600.0))
    monkeypatch.setattr(young, "_write_entries", disk_full)
    with pytest.raises(OSError):
        young.upsert_entry(e, segs(e, [unit(1, 0, 0, 0)]))
    reopened = LanceStore(tmp_path / "lib", config=LanceStoreConfig(orphan_grace_s=3600.0))
    assert reopened._segments.count_rows() == 1  # a writer's in-flight rows are spared


def test_approximate_index_is_calibrated_to_the_recall_target(backend: Backend) -> None:
    rng = np.random.default_rng(0)
    dim, n_entries, per = 16, 150, 8  # 1200 vectors in 6 clusters
    meta = LibraryMeta("m", {"joint": dim})
    options = {"index_threshold": 256, "calibration_queries": 16}
    if backend.name == "lancedb":
        options["partition_rows"] = 256
    st = backend.open(meta, **options)
    centers = rng.standard_normal((6, dim))
    items, keys = [], []
    for i in range(n_entries):
        e = entry(f"clip{i:03d}.mp4")
        vecs = centers[i % 6] + 0.3 * rng.standard_normal((per, dim))
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        items.append(
            (e, [Segment(e.id, j, j, j + 1.0, vectors={"joint": v}) for j, v in enumerate(vecs)])
        )
        keys += [(e.path, j) for j in range(per)]
    st.upsert_entries(items[:75])
    st.upsert_entries(items[75:])
    st.optimize()
    params = st._index["joint"]
    assert params["rows"] == 1200
    assert params["calibrated_recall_at_10"] >= 0.97
    if backend.name == "lancedb":
        assert params["partitions"] == 4
        assert ["v_joint"] in [i.columns for i in st._segments.list_indices()]
    mat = np.stack([v for _, segs in items for v in (s.vectors["joint"] for s in segs)])
    queries = mat[rng.choice(len(mat), 20, replace=False)] + 0.1 * rng.standard_normal((20, dim))
    found = 0
    for q in queries.astype(np.float32):
        exact = {keys[i] for i in np.argsort(-(mat @ q))[:10]}
        hits = st.search_vector("joint", q, k=10)
        found += len({(h.entry.path, h.segment) for h in hits} & exact)
    assert found / 200 >= 0.95
    assert st.stats()["segments"] == 1200
    st.close()
    with backend.open(meta=None) as again:  # the tuned parameters persist
        assert again._index["joint"] == params


# ----------------------------------------------------------------------------- threads


def test_readers_run_beside_writers_and_see_only_committed_entries(backend: Backend) -> None:
    """8 threads search (vector and full text; 2 more search tag words) while one thread ingests
    and one removes: no error, no duplicate hit, no half-written entry, nothing removed before a
    search began, every entry committed before it began and not being removed, and an exact
    final state. One store handle is shared by every thread, as in the server."""
    import threading

    rng = np.random.default_rng(7)
    store = backend.open()

    def item(name: str) -> tuple[Entry, list[Segment]]:
        e = entry(name, text=f"zebra crossing {name}")
        vecs = [unit(*rng.standard_normal(4)) for _ in range(3)]
        plain = segs(e, vecs, texts=[f"zebra {name} part {i}" for i in range(3)])
        return e, [replace(s, tags=[COCKATOO], tag_text=WORDS[COCKATOO]) for s in plain]

    initial = [item(f"old-{i:02d}") for i in range(30)]
    store.upsert_entries(initial)
    to_remove = [e.id for e, _ in initial[:20]]
    keep = {e.id for e, _ in initial[20:]}
    fresh = [item(f"new-{i:02d}") for i in range(30)]
    every_id = {e.id for e, _ in initial + fresh}
    added: list[str] = []
    removed: list[str] = []
    errors: list[str] = []
    writing = threading.Event()
    writing.set()

    def ingest() -> None:
        for e, s in fresh:
            store.upsert_entries([(e, s)])
            added.append(e.id)

    def remove() -> None:
        for eid in to_remove:
            assert store.remove_entry(eid)
            removed.append(eid)

    def search(worker: int) -> None:
        query = unit(*rng.standard_normal(4))
        n = 0
        while writing.is_set() or n < 3:
            n += 1
            before_added, before_removed = set(added), set(removed)
            if worker >= 8:
                hits = store.search_tags("parrot", k=1000)
            elif worker % 2:
                hits = store.search_text("zebra", k=1000)
            else:
                hits = store.search_vector("joint", query, k=1000)
            keys = [(h.entry.id, h.segment) for h in hits]
            per_entry: dict[str, set[int | None]] = {}
            for eid, seg in keys:
                per_entry.setdefault(eid, set()).add(seg)
            problems = []
            if len(set(keys)) != len(keys):
                problems.append("duplicate hits")
            if set(per_entry) - every_id:
                problems.append("unknown entries")
            if set(per_entry) & before_removed:
                problems.append("entries removed before the search")
            if (keep | before_added) - set(per_entry):
                problems.append("committed entries missing")
            # all three segments, or (full text only) a whole-entry match: an entry committed
            # between the segment and the entry text queries of one search
            whole = {None} if worker < 8 and worker % 2 else set()
            partial = [
                sorted(s, key=str) for s in per_entry.values() if s not in ({0, 1, 2}, whole)
            ]
            if partial:
                problems.append(f"entries without all their segments: {partial[:3]}")
            if problems:
                errors.append(f"worker {worker}: {', '.join(problems)}")

    def guarded(fn, *args) -> None:
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - every failure is reported by the test
            errors.append(f"{fn.__name__}: {type(exc).__name__}: {exc}")

    readers = [threading.Thread(target=guarded, args=(search, w)) for w in range(10)]
    writers = [threading.Thread(target=guarded, args=(f,)) for f in (ingest, remove)]
    try:
        for t in readers + writers:
            t.start()
        for t in writers:
            t.join(timeout=300)
        writing.clear()
        for t in readers:
            t.join(timeout=300)
        assert errors == []
        assert not any(t.is_alive() for t in readers + writers)
        final = {e.id for e in store.iter_entries()}
        assert final == keep | {e.id for e, _ in fresh}
        assert store.stats()["entries"] == 40 and store.stats()["segments"] == 120
        assert len(store.search_text("zebra", k=1000)) == 120
        assert len(store.search_tags("parrot", k=1000)) == 120
    finally:
        store.close()

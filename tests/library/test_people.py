"""People: faces grouped over the library, ids and names that survive regrouping, and the
user's corrections (name, merge, split, forget) on both backends, with made-up descriptors."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import numpy as np
import pytest

from xmodal.library import people as P
from xmodal.library.records import FACE_DIM, Entry, Face, LibraryError, Segment
from xmodal.library.store import Store
from xmodal.library.thumbs import Thumbnails
from xmodal.types import Modality

RNG = np.random.default_rng(0)
CENTRES = {who: RNG.normal(0, 1, FACE_DIM) for who in "abc"}


def descriptor(who: str, seed: int) -> np.ndarray:
    """A made-up descriptor of person ``who``: their centre, scaled to length 1 (dlib's are
    about that long), plus a little noise (within-person distances ~0.1, between ~1.4)."""
    c = CENTRES[who] / np.linalg.norm(CENTRES[who])
    return c + np.random.default_rng(seed).normal(0, 0.1 / np.sqrt(FACE_DIM), FACE_DIM)


def video(name: str, faces: list[list[str]]) -> tuple[Entry, list[Segment]]:
    """An entry whose segment i shows the people ``faces[i]`` (one face each)."""
    e = Entry(hashlib.sha256(name.encode()).hexdigest(), f"/media/{name}", Modality.VIDEO,
              1.7e9, 1.7e9, 5.0 * len(faces))  # fmt: skip
    segs = [
        Segment(e.id, i, 5.0 * i, 5.0 * i + 5.0, vectors={"joint": np.ones(4, np.float32) / 2},
                faces=[Face(j, (0.1, 0.1, 0.4, 0.5), 2, 80.0,
                            descriptor(who, zlib.crc32(f"{name}/{i}/{j}".encode())))
                       for j, who in enumerate(seen)])
        for i, seen in enumerate(faces)
    ]  # fmt: skip
    return e, segs


def who_is(store: Store) -> dict[str, set[str]]:
    """person label -> the file names their faces are in."""
    out: dict[str, set[str]] = {}
    for p in P.People.load(store).people:
        out[p.label] = {Path(store.get_entry(k[0]).path).name for k in p.faces}
    return out


def test_regroup_finds_people_and_keeps_ids_names_and_pins(store: Store) -> None:
    store.upsert_entries([video("one.mp4", [["a"], ["a", "b"]]), video("two.mp4", [["b"], ["a"]])])
    people = P.update_people(store)
    assert sorted(len(p.faces) for p in people.people) == [2, 3]
    ids = {p.id for p in people.people}
    assert ids == {1, 2} and people.next_id == 3
    ada = next(p for p in people.people if len(p.faces) == 3)
    P.name_person(store, ada.id, "  Ada   Lovelace ")
    assert P.People.load(store).get("ada lovelace").id == ada.id  # by name, any case

    store.upsert_entries([video("three.mp4", [["a"], ["c"]])])  # a new file, a new person
    again = P.update_people(store)
    assert again.get("Ada Lovelace").id == ada.id and len(again.get(ada.id).faces) == 4
    assert {p.id for p in again.people} == {1, 2, 3} and again.next_id == 4
    assert who_is(store)["Ada Lovelace"] == {"one.mp4", "two.mp4", "three.mp4"}

    store.remove_entry(video("three.mp4", [])[0].id)  # their file goes: person 3 goes
    after = P.update_people(store)
    assert {p.id for p in after.people} == {1, 2} and after.next_id == 4  # ids never reused
    assert after.get(ada.id).name == "Ada Lovelace"


def test_merge_split_and_pins_survive_regrouping(store: Store) -> None:
    store.upsert_entries([video("one.mp4", [["a"], ["b"]]), video("two.mp4", [["a"], ["b"]])])
    people = P.update_people(store)
    a, b = sorted(people.people, key=lambda p: min(p.faces))
    merged = P.merge_people(store, a.id, [b.id])
    assert len(merged.faces) == 4
    assert len(P.update_people(store).people) == 1  # the clustering would split them: pinned

    new = P.split_person(store, a.id, [video("two.mp4", [])[0].id])
    assert len(new.faces) == 2 and new.id == 3
    regrouped = P.update_people(store)
    assert sorted(len(p.faces) for p in regrouped.people) == [2, 2]
    assert {p.id for p in regrouped.people} == {a.id, 3}
    with pytest.raises(LibraryError, match="no face in those files"):
        P.split_person(store, 3, [video("one.mp4", [])[0].id])
    with pytest.raises(LibraryError, match="nothing to split"):
        P.split_person(store, 3, [video("two.mp4", [])[0].id])
    with pytest.raises(LibraryError, match=r"no person 'zed'.*people: "):
        P.People.load(store).get("zed")
    P.name_person(store, 3, "Bea")
    with pytest.raises(LibraryError, match="already called 'bea'.*merge"):
        P.name_person(store, a.id, "bea")
    with pytest.raises(LibraryError, match="needs letters"):
        P.name_person(store, a.id, "42")


def test_forget_deletes_descriptors_and_pictures(store: Store, tmp_path: Path) -> None:
    one, two = video("one.mp4", [["a", "b"], ["b"]]), video("two.mp4", [["a"]])
    store.upsert_entries([one, two])
    thumbs = Thumbnails(tmp_path / "thumbs")
    for e, segs in (one, two):
        for s in segs:
            for f in s.faces:
                thumbs.face_path(e.id, s.index, f.index).parent.mkdir(parents=True, exist_ok=True)
                thumbs.face_path(e.id, s.index, f.index).write_bytes(b"jpeg")
    people = P.update_people(store)
    bea = next(p for p in people.people if one[0].id in {k[0] for k in p.faces}
               and two[0].id not in {k[0] for k in p.faces})  # fmt: skip
    gone = P.forget_person(store, bea.id, thumbs)
    assert len(gone.faces) == 2
    left = [(e.id, s.index, f.index) for e in (one[0], two[0])
            for s in store.segments(e.id) for f in s.faces or []]  # fmt: skip
    assert sorted(left) == sorted(k for p in P.People.load(store).people for k in p.faces)
    assert len(left) == 2 and not set(left) & set(gone.faces)
    assert store.segments(one[0].id)[1].faces == []  # looked at, and no face left
    assert sorted(p.name for p in thumbs.root.rglob("face-*.jpg")) == [
        "face-00000-00.jpg", "face-00000-00.jpg"]  # fmt: skip
    assert [p.id for p in P.update_people(store).people] != [bea.id]  # not regrouped back
    assert bea.id not in {p.id for p in P.People.load(store).people}


def test_summaries_count_faces_files_and_pick_the_best_face(store: Store) -> None:
    e, segs = video("one.mp4", [["a"], ["a"]])
    segs[1].faces = [Face(0, (0.2, 0.2, 0.8, 0.9), 4, 150.0, descriptor("a", 9))]
    store.upsert_entries([(e, segs), video("two.mp4", [["a"]])])
    (ada,) = P.summarize(store, P.update_people(store))
    assert (ada.faces, ada.entries, ada.picture) == (3, 2, (e.id, 1, 0))
    assert ada.first_seen == ada.last_seen == 1.7e9 and ada.label == "person 1"
    assert P.summarize(store, P.People([])) == []
    assert P.regroup([], P.People([])).people == []


def test_a_name_in_a_query_finds_their_moments_and_the_rest_searches_on(store: Store) -> None:
    from xmodal.library.records import Filters
    from xmodal.library.search import PERSON_LIST, named_people, parse_query, person_hits

    one, two = video("one.mp4", [["a"], ["b"], ["a", "b"]]), video("two.mp4", [["a"]])
    one[1][2].faces[0] = Face(0, (0.2, 0.2, 0.8, 0.9), 4, 150.0, descriptor("a", 5))
    store.upsert_entries([one, two])
    people = P.update_people(store)
    ada = next(p for p in people.people if len(p.faces) == 3)
    P.name_person(store, ada.id, "Ada Lovelace")
    named, rest = named_people(store, parse_query("what did ada lovelace say about the lease"))
    assert [p.name for p in named] == ["Ada Lovelace"] and rest == "what did say about the lease"
    assert named_people(store, parse_query("lovelace alone")) == ([], None)  # the whole name
    hits = person_hits(store, named, Filters(), k=10)
    assert [(Path(h.entry.path).name, h.segment) for h in hits] == [
        ("one.mp4", 2),
        ("one.mp4", 0),
        ("two.mp4", 0),
    ]  # best view (4 frames) first
    assert {h.space for h in hits} == {PERSON_LIST} and [h.rank for h in hits] == [1, 2, 3]
    only_two = Filters(path_glob="*/two.mp4")
    assert [h.entry.path for h in person_hits(store, named, only_two, k=10)] == ["/media/two.mp4"]
    assert len(person_hits(store, named, Filters(), k=2)) == 2


def test_speaking_faces_keeps_the_faces_judged_speaking(store: Store) -> None:
    e, segs = video("talk.mp4", [["a"], ["a"], ["a"]])
    segs[0].faces[0].speaking, segs[1].faces[0].speaking = True, False  # segment 2: undecided
    store.upsert_entries([(e, segs)])
    keys = [(e.id, i, 0) for i in range(3)]
    assert P.speaking_faces(store, keys) == [(e.id, 0, 0)]
    assert P.speaking_faces(store, []) == []


def test_adding_files_places_new_faces_without_regrouping_the_rest(store: Store) -> None:
    store.upsert_entries([video("one.mp4", [["a"], ["b"]])])
    first = P.add_faces(store)  # nobody yet: the new faces are grouped among themselves
    assert sorted(len(p.faces) for p in first.people) == [1, 1]
    ada = next(p for p in first.people if p.faces[0][1] == 0)
    P.name_person(store, ada.id, "Ada")
    store.upsert_entries([video("two.mp4", [["a"], ["c"], ["c"]])])
    after = P.add_faces(store)
    assert after.get("Ada").id == ada.id and len(after.get("Ada").faces) == 2
    assert who_is(store)["Ada"] == {"one.mp4", "two.mp4"}
    assert sorted(len(p.faces) for p in after.people) == [1, 2, 2]  # c: a new person of 2
    assert after.next_id == 4
    store.remove_entry(video("one.mp4", [])[0].id)
    gone = P.add_faces(store)  # b's only face is gone, and b with it
    assert sorted(p.label for p in gone.people) == ["Ada", "person 3"]
    assert len(gone.get("Ada").faces) == 1


def test_assign_takes_the_nearest_grouped_face_within_the_threshold() -> None:
    known = np.stack([descriptor("a", 1), descriptor("b", 2)])
    new = np.stack([descriptor("b", 3), descriptor("c", 4), descriptor("a", 5)])
    assert P.assign(known, [7, 9], new, threshold=0.5) == [9, None, 7]
    assert P.assign(known[:0], [], new, threshold=0.5) == [None, None, None]
    assert P.assign(known, [7, 9], new[:0], threshold=0.5) == []

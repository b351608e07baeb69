"""People: the library's face tracks grouped by who they are, named and corrected by the user.

Ingest stores every face it follows through a video segment's sampled frames, with a dlib
descriptor (:class:`~xmodal.library.records.Face`; a face is named for good by its key
``(entry id, segment index, face index)``). This module groups them over the whole library
(:func:`~xmodal.features.identity.cluster_descriptors`) into **people** and keeps that grouping
in the store's people document (:meth:`Store.people`; ``threshold``: the one last given to
:func:`update_people`, null for the default)::

    {"version": 1, "threshold": null, "next_id": 4,
     "people": [{"id": 1, "name": "Ada", "faces": [[entry, segment, face], ...],
                 "pinned": [[entry, segment, face], ...]}, ...]}

After ``library add`` and ``remove`` new faces are placed (:func:`add_faces`: a face joins the
person of its nearest grouped face, the rest are grouped among themselves) and vanished ones
dropped, in time linear in the library's faces. Regrouping everything (``library people
--update``, ``reindex --faces``; :func:`regroup`) keeps what the user said and what did not
change:

* a **pinned** face (one the user named, merged or split) stays with its person whatever the
  clustering says, and the rest of its cluster follows it (the person most pinned in it);
* a cluster with no pinned face keeps the id of the old person it shares most faces with (each
  old id goes to one cluster), so ids and names survive files being added and removed;
* anything else is a new person with a new id (ids are never reused).

People whose faces are all gone (their files removed) are dropped, names included.
:func:`forget` deletes a person's descriptors from the store and their face pictures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xmodal.library.records import Entry, Face, LibraryError
from xmodal.library.store import Store

FaceKey = tuple[str, int, int]
"""``(entry id, segment index, face index)``."""
PEOPLE_VERSION = 1


@dataclass(frozen=True)
class FaceRef:
    """One stored face with where it is."""

    key: FaceKey
    entry: Entry
    start: float
    end: float
    face: Face


@dataclass
class Person:
    """One person of the library (see the module docstring).

    Attributes:
        id: stable number (never reused).
        name: what the user called them, or None.
        faces: their face keys.
        pinned: the keys the user assigned by hand (name, merge, split).
    """

    id: int
    name: str | None
    faces: list[FaceKey]
    pinned: list[FaceKey]

    @property
    def label(self) -> str:
        """The name, or ``person N``."""
        return self.name or f"person {self.id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "faces": [list(k) for k in sorted(self.faces)],
            "pinned": [list(k) for k in sorted(self.pinned)],
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Person:
        return cls(
            int(obj["id"]),
            obj.get("name") or None,
            [_key(k) for k in obj.get("faces", [])],
            [_key(k) for k in obj.get("pinned", [])],
        )


def _key(k: Sequence[Any]) -> FaceKey:
    return (str(k[0]), int(k[1]), int(k[2]))


@dataclass
class People:
    """The people document (see the module docstring)."""

    people: list[Person]
    next_id: int = 1
    threshold: float | None = None

    @classmethod
    def load(cls, store: Store) -> People:
        doc = store.people()
        if not doc:
            return cls([])
        if int(doc.get("version", 0)) > PEOPLE_VERSION:
            raise LibraryError(
                f"library at {store.location}: its people were written by a newer xmodal "
                f"(version {doc['version']}); upgrade xmodal"
            )
        people = [Person.from_json(p) for p in doc.get("people", [])]
        return cls(people, int(doc.get("next_id", 1)), doc.get("threshold"))

    def save(self, store: Store) -> None:
        store.set_people(
            {
                "version": PEOPLE_VERSION,
                "threshold": self.threshold,
                "next_id": self.next_id,
                "people": [p.to_json() for p in sorted(self.people, key=lambda p: p.id)],
            }
        )

    def get(self, ref: str | int) -> Person:
        """A person by id (``3``, ``"3"``) or by name (case-insensitive)."""
        text = str(ref).strip()
        if text.isdigit():
            for p in self.people:
                if p.id == int(text):
                    return p
        else:
            named = [p for p in self.people if p.name and p.name.casefold() == text.casefold()]
            if len(named) == 1:
                return named[0]
        known = ", ".join(f"{p.id} ({p.label})" for p in self.people[:8]) or "none yet"
        raise LibraryError(f"no person {ref!r} in the library (people: {known})")

    def threshold_for(self, given: float | None = None) -> float:
        """The grouping threshold: ``given``, else the one this library was last grouped with,
        else :data:`~xmodal.features.identity.DEFAULT_THRESHOLD`."""
        from xmodal.features.identity import DEFAULT_THRESHOLD

        return float(given if given is not None else self.threshold or DEFAULT_THRESHOLD)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


def iter_faces(store: Store) -> Iterator[FaceRef]:
    """Every stored face of the library, entry by entry (in path order)."""
    for entry, index, start, end, faces in store.iter_faces():
        for face in faces:
            yield FaceRef((entry.id, index, face.index), entry, start, end, face)


def regroup(faces: Sequence[FaceRef], old: People, threshold: float | None = None) -> People:
    """Group ``faces`` into people, keeping ``old``'s ids, names and pinned faces (see the
    module docstring for the rules)."""
    from xmodal.features.identity import cluster_descriptors

    threshold = old.threshold_for(threshold)
    out = People([], old.next_id, threshold)
    if not faces:
        return out
    keys = [f.key for f in faces]
    present = set(keys)
    labels = cluster_descriptors(np.stack([f.face.descriptor for f in faces]), threshold)
    clusters: dict[int, list[FaceKey]] = {}
    for key, label in zip(keys, labels, strict=True):
        clusters.setdefault(int(label), []).append(key)
    pinned_to = {k: p.id for p in old.people for k in p.pinned if k in present}
    member_of = {k: p.id for p in old.people for k in p.faces if k in present}
    by_id = {p.id: p for p in old.people}
    members: dict[int, list[FaceKey]] = {}
    unpinned: list[list[FaceKey]] = []
    for cluster in clusters.values():
        votes = Counter(pinned_to[k] for k in cluster if k in pinned_to)
        if not votes:
            unpinned.append(cluster)
            continue
        lead = min(votes, key=lambda pid: (-votes[pid], pid))
        for k in cluster:
            members.setdefault(pinned_to.get(k, lead), []).append(k)
    # clusters without a pinned face: the old person sharing most faces, largest overlaps first
    overlaps = []
    for n, cluster in enumerate(unpinned):
        for pid, count in Counter(member_of[k] for k in cluster if k in member_of).items():
            overlaps.append((-count, pid, n))
    taken: set[int] = set(members)
    assigned: dict[int, int] = {}
    for _, pid, n in sorted(overlaps):
        if pid not in taken and n not in assigned:
            taken.add(pid)
            assigned[n] = pid
    for n, cluster in enumerate(unpinned):
        pid = assigned.get(n)
        if pid is None:
            pid = out.new_id()
        members.setdefault(pid, []).extend(cluster)
    for pid, keys_of in sorted(members.items()):
        before = by_id.get(pid)
        pinned = [k for k in (before.pinned if before else []) if k in present]
        out.people.append(Person(pid, before.name if before else None, sorted(keys_of), pinned))
    out.people.sort(key=lambda p: (-len(p.faces), p.id))
    return out


def speaking_faces(store: Store, keys: Iterable[FaceKey]) -> list[FaceKey]:
    """Those of ``keys`` whose face was judged speaking (:attr:`Face.speaking`)."""
    wanted = sorted(set(keys))
    out = []
    for entry_id in sorted({k[0] for k in wanted}):
        speaks = {(entry_id, s.index, f.index) for s in store.segments(entry_id)
                  for f in s.faces or [] if f.speaking}  # fmt: skip
        out += [k for k in wanted if k[0] == entry_id and k in speaks]
    return out


def assign(
    known: np.ndarray, owners: Sequence[int], new: np.ndarray, threshold: float
) -> list[int | None]:
    """For each new descriptor, the owner of its nearest known descriptor when that is closer
    than ``threshold``, else None.

    Args:
        known: (N, 128) descriptors already grouped.
        owners: their people (N ids).
        new: (M, 128) descriptors to place.
        threshold: most distance within one person.
    """
    from xmodal.features.identity import descriptor_distances

    out: list[int | None] = [None] * len(new)
    if len(known) == 0 or len(new) == 0:
        return out
    for a in range(0, len(new), 256):  # (256, N) distances at a time
        d = descriptor_distances(new[a : a + 256], known)
        best = np.argmin(d, axis=1)
        for i, j in enumerate(best):
            if d[i, j] < threshold:
                out[a + i] = int(owners[j])
    return out


def add_faces(store: Store, threshold: float | None = None) -> People:
    """Place the faces no person has yet (after ``library add``) and drop those that are gone
    (after ``remove``), without regrouping the rest: a new face joins the person of its
    nearest grouped face when closer than the threshold; the others are grouped among
    themselves (as :func:`regroup` does) into new people. Linear in the library's faces, where
    a regroup is quadratic; ``library people --update`` regroups everything."""
    from xmodal.features.identity import cluster_descriptors

    people = People.load(store)
    threshold = people.threshold_for(threshold)
    refs = list(iter_faces(store))
    present = {r.key for r in refs}
    for p in people.people:
        p.faces = [k for k in p.faces if k in present]
        p.pinned = [k for k in p.pinned if k in present]
    people.people = [p for p in people.people if p.faces]
    owner = {k: p.id for p in people.people for k in p.faces}
    known = [r for r in refs if r.key in owner]
    new = [r for r in refs if r.key not in owner]
    if new:
        stack = np.stack([r.face.descriptor for r in new])
        placed = assign(np.stack([r.face.descriptor for r in known]) if known else stack[:0],
                        [owner[r.key] for r in known], stack, threshold)  # fmt: skip
        by_id = {p.id: p for p in people.people}
        rest = [i for i, pid in enumerate(placed) if pid is None]
        for r, pid in zip(new, placed, strict=True):
            if pid is not None:
                by_id[pid].faces.append(r.key)
        groups: dict[int, list[FaceKey]] = {}
        labels = cluster_descriptors(stack[rest], threshold) if rest else []
        for i, label in zip(rest, labels, strict=True):
            groups.setdefault(int(label), []).append(new[i].key)
        for keys in groups.values():
            people.people.append(Person(people.new_id(), None, keys, []))
    for p in people.people:
        p.faces.sort()
    people.people.sort(key=lambda p: (-len(p.faces), p.id))
    people.save(store)
    return people


def update_people(store: Store, threshold: float | None = None) -> People:
    """Regroup every face of the library and save the result (see :func:`regroup`)."""
    people = regroup(list(iter_faces(store)), People.load(store), threshold)
    people.save(store)
    return people


def name_person(store: Store, ref: str | int, name: str) -> Person:
    """Name a person (their current faces are pinned to them)."""
    name = " ".join(name.split())
    if not name or name.isdigit():
        raise LibraryError(f"a name needs letters, got {name!r}")
    people = People.load(store)
    person = people.get(ref)
    clash = [
        p for p in people.people if p is not person and (p.name or "").casefold() == name.casefold()
    ]
    if clash:
        raise LibraryError(
            f"{clash[0].label} (person {clash[0].id}) is already called {name!r}; "
            f"merge them instead: xmodal library people merge {clash[0].id} {person.id}"
        )
    person.name = name
    person.pinned = sorted(set(person.pinned) | set(person.faces))
    people.save(store)
    return person


def merge_people(store: Store, into: str | int, others: Iterable[str | int]) -> Person:
    """Move the faces of ``others`` into ``into`` (pinned there); the others are gone. ``into``
    keeps its name, or takes the first other's name if it had none."""
    people = People.load(store)
    target = people.get(into)
    for ref in others:
        other = people.get(ref)
        if other is target:
            continue
        target.faces = sorted(set(target.faces) | set(other.faces))
        target.name = target.name or other.name
        people.people.remove(other)
    target.pinned = sorted(set(target.pinned) | set(target.faces))
    people.save(store)
    return target


def split_person(store: Store, ref: str | int, entry_ids: Iterable[str]) -> Person:
    """Take a person's faces in the given entries away into a new person (both sides pinned).

    Raises:
        LibraryError: the person has no face in those entries, or only faces there.
    """
    people = People.load(store)
    person = people.get(ref)
    ids = set(entry_ids)
    moved = [k for k in person.faces if k[0] in ids]
    if not moved:
        raise LibraryError(f"{person.label} has no face in those files")
    if len(moved) == len(person.faces):
        raise LibraryError(f"all of {person.label}'s faces are in those files: nothing to split")
    person.faces = [k for k in person.faces if k[0] not in ids]
    person.pinned = sorted(set(person.faces) | {k for k in person.pinned if k[0] not in ids})
    new = Person(people.new_id(), None, sorted(moved), sorted(moved))
    people.people.append(new)
    people.save(store)
    return new


def forget_person(store: Store, ref: str | int, thumbnails: Any | None = None) -> Person:
    """Delete a person: their face descriptors from the store, their face pictures, and them.

    Args:
        store: the library.
        ref: the person's id or name.
        thumbnails: the library's :class:`~xmodal.library.thumbs.Thumbnails` (face pictures).
    """
    people = People.load(store)
    person = people.get(ref)
    gone = set(person.faces)
    for entry_id in sorted({k[0] for k in gone}):
        segments = store.segments(entry_id)
        if not segments:
            continue
        kept = [
            None
            if s.faces is None
            else [f for f in s.faces if (entry_id, s.index, f.index) not in gone]
            for s in segments
        ]
        store.set_faces(entry_id, kept)
        if thumbnails is not None:
            for _, segment, face in (k for k in gone if k[0] == entry_id):
                thumbnails.face_path(entry_id, segment, face).unlink(missing_ok=True)
    people.people.remove(person)
    people.save(store)
    return person


@dataclass(frozen=True)
class PersonSummary:
    """What ``library people`` lists of one person."""

    id: int
    name: str | None
    faces: int
    entries: int
    first_seen: float | None
    last_seen: float | None
    picture: FaceKey | None

    @property
    def label(self) -> str:
        return self.name or f"person {self.id}"


def summarize(store: Store, people: People) -> list[PersonSummary]:
    """Counts, first and last seen (the entries' created times) and the best face (the
    largest, seen in most frames) of each person, most seen first."""
    refs = {f.key: f for f in iter_faces(store)}
    out = []
    for p in people.people:
        mine = [refs[k] for k in p.faces if k in refs]
        created = [r.entry.created for r in mine]
        best = max(mine, key=lambda r: (r.face.frames, r.face.size), default=None)
        out.append(
            PersonSummary(
                p.id,
                p.name,
                len(mine),
                len({r.key[0] for r in mine}),
                min(created, default=None),
                max(created, default=None),
                None if best is None else best.key,
            )
        )
    return sorted(out, key=lambda p: (-p.faces, p.id))

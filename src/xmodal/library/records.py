"""The memory library's records: entries, segments, hits, filters, and what vectors mean.

An **entry** is one ingested file or note, identified by the SHA-256 of its content
(:func:`content_id`); its **segments** are time spans, each with one vector per embedding space
and the transcript words spoken in it (a video's segments also carry the visual tags of what is
seen). :class:`LibraryMeta` names the model that made the vectors and each space's width. How
the backends lay these out in columns is :mod:`xmodal.library.columns`, and the checks they share
are in :mod:`xmodal.library.checks`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.features.identity import FACE_DIM
from xmodal.features.tags import Tag
from xmodal.library.columns import normal_term, space_column, tag_terms
from xmodal.types import Modality

SCHEMA_VERSION = 4
"""The storage schema this code reads and writes (bump it with a migration in each backend).

Version 2 added each segment's visual tags (``Segment.tags``, ``Segment.tag_text``); version 3
a note's character encoding (``Entry.encoding``) and where in its document a segment is
(``Segment.place``: "page 3", a heading); version 4 the faces seen in a segment
(``Segment.faces``) and the library's people (:meth:`Store.people`)."""


FTS_SPACE = "fts"
"""``Hit.space`` of full-text hits."""
TAGS_LIST = "tags"
"""``Hit.space`` of full-text hits on segments' tag words (:meth:`Store.search_tags`)."""

_HEX64 = re.compile(r"[0-9a-f]{64}")
_SPACE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,47}")
_RESERVED_SPACES = {FTS_SPACE, TAGS_LIST}


def is_entry_id(text: str) -> bool:
    """Whether ``text`` is a whole entry id: 64 lowercase hex digits (a SHA-256)."""
    return isinstance(text, str) and _HEX64.fullmatch(text) is not None


class LibraryError(Exception):
    """A library that cannot be opened or used as asked; the message says what to do."""


def content_id(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """The entry id of a file: the hex SHA-256 of its bytes (read in chunks)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _check_time(name: str, value: float | None, optional: bool = False) -> float | None:
    if value is None:
        if optional:
            return None
        raise ValueError(f"{name} is required")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


@dataclass
class Entry:
    """One ingested file or note.

    Attributes:
        id: hex SHA-256 of the content (see :func:`content_id`); identical files share one entry.
        path: absolute path of the file (a moved file keeps its id: :meth:`Store.update_path`).
        modality: what the file is (a note is ``Modality.TEXT``).
        created: creation time, epoch seconds (what ``--since/--until`` filter on).
        modified: modification time, epoch seconds.
        duration: length in seconds, ``None`` for notes and other timeless entries.
        text: the whole transcript (audio/video) or the note's text; ``""`` if none.
        tags: free-form labels.
        added: when it was ingested, epoch seconds.
        encoding: the character encoding a text note (or HTML page) was decoded from
            (``"utf-8"``, ``"utf-16"``, ``"cp1252"``, ...); ``None`` for media, PDF and Word.
    """

    id: str
    path: str
    modality: Modality
    created: float
    modified: float
    duration: float | None = None
    text: str = ""
    tags: list[str] = field(default_factory=list)
    added: float = field(default_factory=time.time)
    encoding: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _HEX64.fullmatch(self.id):
            raise ValueError(f"entry id must be 64 lowercase hex digits (SHA-256), got {self.id!r}")
        self.path = str(self.path)
        if not Path(self.path).is_absolute():
            raise ValueError(f"entry path must be absolute, got {self.path!r}")
        self.modality = Modality.parse(self.modality)
        self.created = _check_time("created", self.created)  # type: ignore[assignment]
        self.modified = _check_time("modified", self.modified)  # type: ignore[assignment]
        self.added = _check_time("added", self.added)  # type: ignore[assignment]
        self.duration = _check_time("duration", self.duration, optional=True)
        if self.duration is not None and self.duration < 0:
            raise ValueError(f"duration must be >= 0, got {self.duration}")
        if not isinstance(self.text, str):
            raise ValueError("text must be a string")
        if isinstance(self.tags, str) or not all(isinstance(t, str) for t in self.tags):
            raise ValueError(f"tags must be a list of strings, got {self.tags!r}")
        self.tags = list(self.tags)
        if self.encoding is not None and (not isinstance(self.encoding, str) or not self.encoding):
            raise ValueError(f"encoding must be a non-empty string or None, got {self.encoding!r}")


@dataclass
class Face:
    """One face followed through a segment's sampled frames (a face track).

    Attributes:
        index: its number within the segment (kept when other faces are forgotten), so
            ``(entry id, segment index, face index)`` names a face for good.
        box: ``(x0, y0, x1, y1)`` where it is largest among its frames, as fractions of the
            frame's width and height (0..1).
        frames: in how many of the segment's sampled frames it was seen.
        size: the face box's median side, in pixels of the decoded frame.
        descriptor: (:data:`FACE_DIM`,) float32 dlib descriptor (of its best view; see
            :class:`~xmodal.features.identity.FaceDescriber`).
        speaking: whether this face says the segment's words (its lips move with the sound;
            :mod:`xmodal.library.speaking`); None when it was not decided.
    """

    index: int
    box: tuple[float, float, float, float]
    frames: int
    size: float
    descriptor: np.ndarray
    speaking: bool | None = None

    def __post_init__(self) -> None:
        self.index = int(self.index)
        if self.index < 0:
            raise ValueError(f"face index must be >= 0, got {self.index}")
        box = tuple(float(v) for v in self.box)
        ok = len(box) == 4 and all(0.0 <= v <= 1.0 for v in box)
        if not ok or box[2] < box[0] or box[3] < box[1]:
            raise ValueError(f"face box must be x0 <= x1, y0 <= y1 in frame fractions, got {box}")
        self.box = box  # type: ignore[assignment]
        self.frames = int(self.frames)
        if self.frames < 1:
            raise ValueError(f"a face is seen in >= 1 frame, got {self.frames}")
        self.size = float(self.size)
        arr = np.ascontiguousarray(self.descriptor, dtype=np.float32)
        if arr.shape != (FACE_DIM,) or not np.isfinite(arr).all():
            raise ValueError(f"face descriptor must be ({FACE_DIM},) and finite, got {arr.shape}")
        self.descriptor = arr
        if self.speaking is not None:
            self.speaking = bool(self.speaking)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the descriptor to 6 decimals: float32 holds about 7 digits)."""
        out = {
            "i": self.index,
            "box": [round(v, 5) for v in self.box],
            "frames": self.frames,
            "size": round(self.size, 2),
            "d": [round(float(v), 6) for v in self.descriptor],
        }
        if self.speaking is not None:
            out["s"] = bool(self.speaking)
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Face:
        """Inverse of :meth:`to_json`."""
        return cls(obj["i"], tuple(obj["box"]), obj["frames"], obj["size"], np.asarray(obj["d"]),
                   obj.get("s"))  # fmt: skip


def check_face_list(faces: Sequence[Face]) -> list[Face]:
    """One segment's faces as a list, checked: :class:`Face` items with distinct indices.

    Raises:
        ValueError: another type, or two faces with one index.
    """
    if isinstance(faces, str) or not all(isinstance(f, Face) for f in faces):
        raise ValueError(f"faces must be a list of Face, got {faces!r}")
    if len({f.index for f in faces}) != len(faces):
        raise ValueError("faces of a segment need distinct indices")
    return list(faces)


def faces_json(faces: list[Face] | None) -> str | None:
    """A segment's faces as both backends store them (a JSON list; ``None``: never looked at
    for faces)."""
    return None if faces is None else json.dumps([f.to_json() for f in faces])


def faces_from_json(value: str | list | None) -> list[Face] | None:
    """Inverse of :func:`faces_json` (also takes the list a JSON column already decoded)."""
    if value is None:
        return None
    items = json.loads(value) if isinstance(value, str) else value
    return [Face.from_json(f) for f in items]


@dataclass
class Segment:
    """A time span of an entry with its vectors.

    Attributes:
        entry_id: the owning entry's id.
        index: position within the entry (0, 1, ...; unique per entry).
        start: start time in seconds.
        end: end time in seconds (``>= start``).
        text: the transcript words spoken in this span (searched by full text); may be ``""``.
        vectors: embedding space name -> (D,) float32 vector, L2-normalised by the caller. A
            space may be missing (e.g. a note has no ``"audio-frozen"`` vector).
        tags: what is seen in the span (:class:`~xmodal.features.tags.Tag`, best first);
            ``None`` when it was never tagged (a library written before tags, or a note).
        tag_text: the tags' words, searched by :meth:`Store.search_tags` and matched by
            :attr:`Filters.tags` (comma- or semicolon-separated; see
            :func:`~xmodal.features.tags.tag_text`).
        place: where in its document the segment is, for notes with pages or headings
            (``"page 3"``, ``"Setup › Cables"``); ``""`` when there is none.
        faces: the faces seen in the span (:class:`Face`, distinct indices); ``None`` when
            it was never looked at for faces (a note, a recording, ``--no-faces``, a library
            written before faces).
    """

    entry_id: str
    index: int
    start: float
    end: float
    text: str = ""
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    tags: list[Tag] | None = None
    tag_text: str = ""
    place: str = ""
    faces: list[Face] | None = None

    def __post_init__(self) -> None:
        self.index = int(self.index)
        if self.index < 0:
            raise ValueError(f"segment index must be >= 0, got {self.index}")
        if self.faces is not None:
            self.faces = check_face_list(self.faces)
        self.start = _check_time("start", self.start)  # type: ignore[assignment]
        self.end = _check_time("end", self.end)  # type: ignore[assignment]
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"segment needs 0 <= start <= end, got [{self.start}, {self.end}]")
        vectors = {}
        for space, vec in self.vectors.items():
            arr = np.ascontiguousarray(vec, dtype=np.float32)
            if arr.ndim != 1 or arr.size == 0:
                raise ValueError(f"vector for space {space!r} must be 1-D (D,), got {arr.shape}")
            if not np.isfinite(arr).all():
                raise ValueError(f"vector for space {space!r} has NaN or inf values")
            vectors[space] = arr
        self.vectors = vectors
        if self.tags is not None:
            if isinstance(self.tags, str) or not all(isinstance(t, Tag) for t in self.tags):
                raise ValueError(f"tags must be a list of Tag, got {self.tags!r}")
            self.tags = list(self.tags)
        if not isinstance(self.tag_text, str):
            raise ValueError("tag_text must be a string")
        if not isinstance(self.place, str):
            raise ValueError("place must be a string")


@dataclass(frozen=True)
class Hit:
    """One search result.

    Attributes:
        entry: the matching entry.
        segment: index of the matching segment, ``None`` for a whole-entry text match.
        start: the segment's start time (s), ``None`` for a whole-entry match.
        end: the segment's end time (s), ``None`` for a whole-entry match.
        text: the segment's text (a whole-entry match: the entry's text).
        score: cosine similarity for vector hits; the backend's text relevance for ``"fts"``.
        space: the embedding space searched, ``"fts"`` or ``"tags"``.
        rank: 1-based position in its result list.
        tags: the segment's tags (``None``: untagged, or a whole-entry hit).
        place: the segment's place in its document (``"page 3"``; ``""``: none).
    """

    entry: Entry
    segment: int | None
    start: float | None
    end: float | None
    text: str
    score: float
    space: str
    rank: int
    tags: tuple[Tag, ...] | None = None
    place: str = ""


@dataclass(frozen=True)
class Filters:
    """Which entries a search may return (every given condition must hold).

    Attributes:
        modalities: allowed modalities; ``None`` means all.
        since: earliest ``Entry.created`` (inclusive, epoch s); ``None`` means unbounded.
        until: latest ``Entry.created`` (inclusive, epoch s); ``None`` means unbounded.
        path_glob: :func:`fnmatch.fnmatchcase` pattern on ``Entry.path`` (``*`` crosses ``/``).
        tags: only segments with a tag word equal (case-insensitively) to one of these; a
            tag's words are its name, synonyms and hypernyms ("bird" keeps a cockatoo).
            Whole-entry text hits have no tags and are dropped.
        segments: only these segments, ``(entry id, segment index)`` (a person's moments);
            whole-entry text hits are dropped. An empty set keeps nothing.
    """

    modalities: frozenset[Modality] | None = None
    since: float | None = None
    until: float | None = None
    path_glob: str | None = None
    tags: frozenset[str] | None = None
    segments: frozenset[tuple[str, int]] | None = None

    def __post_init__(self) -> None:
        if self.modalities is not None:
            mods = frozenset(Modality.parse(m) for m in self.modalities)
            if not mods:
                raise ValueError("modalities must not be empty (use None for all)")
            object.__setattr__(self, "modalities", mods)
        object.__setattr__(self, "since", _check_time("since", self.since, optional=True))
        object.__setattr__(self, "until", _check_time("until", self.until, optional=True))
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError(f"since ({self.since}) is after until ({self.until})")
        if self.path_glob is not None and not self.path_glob:
            raise ValueError("path_glob must not be empty (use None for all)")
        if self.tags is not None:
            if isinstance(self.tags, str):
                raise ValueError("tags must be a collection of words, not one string")
            words = frozenset(normal_term(str(t)) for t in self.tags)
            if not words or "" in words or any("|" in w for w in words):
                raise ValueError(f"tags must be non-empty words without '|', got {self.tags!r}")
            object.__setattr__(self, "tags", words)
        if self.segments is not None:
            keys = frozenset((str(e), int(i)) for e, i in self.segments)
            if not all(is_entry_id(e) and i >= 0 for e, i in keys):
                raise ValueError("segments must be (entry id, index >= 0) pairs")
            object.__setattr__(self, "segments", keys)

    @property
    def empty(self) -> bool:
        """True when no condition is set."""
        return (
            self.modalities is None
            and self.since is None
            and self.until is None
            and self.path_glob is None
            and self.tags is None
            and self.segments is None
        )

    @property
    def segment_only(self) -> bool:
        """Whether whole-entry hits are dropped (a condition only segments can meet)."""
        return self.tags is not None or self.segments is not None

    def segments_by_entry(self) -> dict[str, list[int]]:
        """:attr:`segments` grouped: entry id -> its sorted segment indices (sorted ids)."""
        out: dict[str, list[int]] = {}
        for e, i in sorted(self.segments or ()):
            out.setdefault(e, []).append(i)
        return out

    def matches_tags(self, tag_text: str | None) -> bool:
        """Whether a segment with these tag words passes :attr:`tags` (reference semantics)."""
        if self.tags is None:
            return True
        return bool(self.tags & set(tag_terms(tag_text or "")))

    def matches(self, entry: Entry) -> bool:
        """Whether ``entry`` passes every condition (the reference semantics for backends)."""
        if self.modalities is not None and entry.modality not in self.modalities:
            return False
        if self.since is not None and entry.created < self.since:
            return False
        if self.until is not None and entry.created > self.until:
            return False
        return self.path_glob is None or fnmatch.fnmatchcase(entry.path, self.path_glob)


@dataclass(frozen=True)
class LibraryMeta:
    """What a library's vectors mean.

    Attributes:
        model_id: id of the embedding model (or model set) that produced the vectors.
        spaces: embedding space name -> vector width, e.g. ``{"joint": 256, "text-frozen": 384}``.
            Names: lowercase letters, digits, ``_`` and ``-``, starting with a letter.
        schema_version: the storage schema (set by the store; leave the default).
    """

    model_id: str
    spaces: Mapping[str, int]
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.model_id, str) or not self.model_id.strip():
            raise ValueError("model_id must be a non-empty string")
        spaces = dict(self.spaces)
        if not spaces:
            raise ValueError("a library needs at least one embedding space")
        columns: dict[str, str] = {}
        for name, width in spaces.items():
            if not isinstance(name, str) or not _SPACE_NAME.fullmatch(name):
                raise ValueError(
                    f"bad space name {name!r}: use lowercase letters, digits, '_' and '-', "
                    "starting with a letter (at most 48 characters)"
                )
            if name in _RESERVED_SPACES:
                raise ValueError(f"space name {name!r} is reserved")
            if isinstance(width, bool) or not isinstance(width, int | np.integer) or width < 1:
                raise ValueError(f"width of space {name!r} must be a positive int, got {width!r}")
            col = space_column(name)
            if col in columns:
                raise ValueError(f"space names {columns[col]!r} and {name!r} collide")
            columns[col] = name
            spaces[name] = int(width)
        object.__setattr__(self, "spaces", spaces)
        if int(self.schema_version) < 0:
            raise ValueError("schema_version must be >= 0")
        object.__setattr__(self, "schema_version", int(self.schema_version))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "schema_version": self.schema_version,
            "model_id": self.model_id,
            "spaces": dict(self.spaces),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> LibraryMeta:
        """Inverse of :meth:`to_json`."""
        return cls(
            model_id=obj["model_id"],
            spaces=dict(obj["spaces"]),
            schema_version=int(obj["schema_version"]),
        )

"""The memory library's storage layer: one small protocol, its records, and the factory.

A library holds **entries** (one per ingested file or note, identified by the SHA-256 of its
content) and their **segments** (time spans of an entry, each with one vector per embedding
space and the transcript words spoken in it). Two backends implement :class:`Store`:

* :class:`~xmodal.library.lancedb_store.LanceStore` — the embedded default, a directory
  (``$XDG_DATA_HOME/xmodal/library``, i.e. ``~/.local/share/xmodal/library``, or ``--library``);
* :class:`~xmodal.library.postgres_store.PostgresStore` — PostgreSQL + pgvector, chosen by a
  URL (``--db`` or ``XMODAL_DATABASE_URL``) for a shared server or a library that outgrows one
  machine.

Both are checked by the same contract test suite. The contract, for code built on top:

* ``upsert_entry(entry, segments)`` is atomic: after it returns, or after a crash at any point
  inside it, readers see either the old version of the entry with all its old segments, or the
  new version with all its new segments — never a mix, never an entry without its segments.
* Vector search is cosine similarity (``Hit.score`` in [-1, 1]); callers pass L2-normalised
  vectors (the store compares directions either way). Segments without a vector in a space are
  not candidates in that space.
* Full-text search matches segments (by their ``text``) and entries (by their transcript or
  note, ``Entry.text``); every word of the query must occur (stemmed, case-folded, English stop
  words ignored). A whole-entry hit (``Hit.segment is None``) is returned only for entries none
  of whose segments is already in the list. ``Hit.score`` there is the backend's relevance
  (BM25 for LanceDB, ``ts_rank`` for PostgreSQL): compare ranks, not scores, across backends.
  Fusing vector and text results (reciprocal rank fusion) is done above the store.
* :class:`Filters` apply to both searches identically: modality set, ``since <= created <=
  until`` (inclusive, epoch seconds, on the entry's *created* time) and a path glob with
  :func:`fnmatch.fnmatchcase` semantics (``*`` also crosses ``/``).
* A library records its embedding model id and the width of every space (:class:`LibraryMeta`).
  Opening it for a model with another id or width raises :class:`LibraryError` telling the user
  to run ``xmodal library reindex`` (which calls :meth:`Store.reset_meta` then
  :meth:`Store.set_vectors` per entry). A library written by an older schema version is
  migrated when a migration exists, else refused with a message naming both versions.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from xmodal.features.tags import Tag
from xmodal.types import Modality

if TYPE_CHECKING:
    from xmodal.library.lancedb_store import LanceStoreConfig
    from xmodal.library.postgres_store import PostgresStoreConfig

SCHEMA_VERSION = 2
"""The storage schema this code reads and writes (bump it with a migration in each backend).

Version 2 added each segment's visual tags (``Segment.tags``, ``Segment.tag_text``)."""

DATABASE_URL_ENV = "XMODAL_DATABASE_URL"
FTS_SPACE = "fts"
"""``Hit.space`` of full-text hits."""
TAGS_LIST = "tags"
"""``Hit.space`` of full-text hits on segments' tag words (:meth:`Store.search_tags`)."""

_HEX64 = re.compile(r"[0-9a-f]{64}")
_SPACE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,47}")
_RESERVED_SPACES = {FTS_SPACE, TAGS_LIST}


class LibraryError(Exception):
    """A library that cannot be opened or used as asked; the message says what to do."""


# ----------------------------------------------------------------------------- records


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
    """

    entry_id: str
    index: int
    start: float
    end: float
    text: str = ""
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    tags: list[Tag] | None = None
    tag_text: str = ""

    def __post_init__(self) -> None:
        self.index = int(self.index)
        if self.index < 0:
            raise ValueError(f"segment index must be >= 0, got {self.index}")
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
    """

    modalities: frozenset[Modality] | None = None
    since: float | None = None
    until: float | None = None
    path_glob: str | None = None
    tags: frozenset[str] | None = None

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
            words = frozenset(_TERM_SPACE.sub(" ", str(t)).strip().lower() for t in self.tags)
            if not words or "" in words or any("|" in w for w in words):
                raise ValueError(f"tags must be non-empty words without '|', got {self.tags!r}")
            object.__setattr__(self, "tags", words)

    @property
    def empty(self) -> bool:
        """True when no condition is set."""
        return (
            self.modalities is None
            and self.since is None
            and self.until is None
            and self.path_glob is None
            and self.tags is None
        )

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


_TERM_SPLIT = re.compile(r"[,;]")
_TERM_SPACE = re.compile(r"\s+")


def tag_terms(tag_text: str) -> list[str]:
    """The words of a segment's ``tag_text`` as a ``--tag`` filter matches them: split at
    ``,``/``;``, whitespace collapsed, lower-cased, each once, in order."""
    out: dict[str, None] = {}
    for part in _TERM_SPLIT.split(tag_text):
        word = _TERM_SPACE.sub(" ", part).strip().lower()
        if word:
            out[word] = None
    return list(out)


def tag_terms_column(tag_text: str) -> str:
    """What both backends store for :attr:`Filters.tags`: ``"|word|word|"`` (``""``: none), so
    one word is ``LIKE '%|word|%'``."""
    terms = [t.replace("|", " ") for t in tag_terms(tag_text)]
    return "|" + "|".join(terms) + "|" if terms else ""


def tags_json(tags: list[Tag] | None) -> str | None:
    """A segment's tags as stored (JSON list; ``None`` for untagged)."""
    import json

    return None if tags is None else json.dumps([t.to_json() for t in tags])


def tags_from_json(value: str | None) -> list[Tag] | None:
    """Inverse of :func:`tags_json`."""
    import json

    return None if value is None else [Tag.from_json(t) for t in json.loads(value)]


def glob_to_like(glob: str) -> tuple[str, bool]:
    """Translate an fnmatch glob to a SQL ``LIKE`` pattern (escape character ``\\``).

    Returns:
        ``(pattern, exact)``. ``exact`` is False when the glob has a ``[...]`` class, which
        ``LIKE`` cannot express: the pattern then matches a superset (the literal prefix before
        the class) and callers post-filter with :meth:`Filters.matches`.
    """
    out = []
    for ch in glob:
        if ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        elif ch == "[":
            out.append("%")
            return "".join(out), False
        elif ch in "%_\\":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out), True


def space_column(space: str) -> str:
    """The column that holds a space's vectors in both backends (``v_`` + name, ``-`` -> ``_``)."""
    return "v_" + space.replace("-", "_")


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


def check_compatible(stored: LibraryMeta, wanted: LibraryMeta, location: str) -> None:
    """Raise :class:`LibraryError` unless ``wanted`` may write into a library holding ``stored``.

    Spaces of ``wanted`` that the library lacks are fine (they are added); a space whose width
    differs, or another model id, is refused with the reindex instruction.
    """
    reindex = "run `xmodal library reindex` to re-embed the library with the new model"
    if stored.model_id != wanted.model_id:
        raise LibraryError(
            f"library at {location} holds vectors of model {stored.model_id!r}, "
            f"not {wanted.model_id!r}: {reindex}"
        )
    for space, width in wanted.spaces.items():
        have = stored.spaces.get(space)
        if have is not None and have != width:
            raise LibraryError(
                f"library at {location} stores {have}-d vectors in space {space!r}, "
                f"the model gives {width}-d: a library never mixes widths; {reindex}"
            )


def schema_error(location: str, found: int) -> LibraryError:
    """The error for a library whose schema version this code cannot read or migrate."""
    if found > SCHEMA_VERSION:
        return LibraryError(
            f"library at {location} has schema version {found}, newer than version "
            f"{SCHEMA_VERSION} that this xmodal reads: upgrade xmodal"
        )
    return LibraryError(
        f"library at {location} has schema version {found}; this xmodal uses version "
        f"{SCHEMA_VERSION} and has no migration from {found}: ingest your files into a new "
        "library (another --library or --db) and remove the old one"
    )


def validate_upsert(meta: LibraryMeta, entry: Entry, segments: list[Segment]) -> None:
    """Check that ``segments`` belong to ``entry`` and their vectors fit the library's spaces."""
    seen: set[int] = set()
    for seg in segments:
        if seg.entry_id != entry.id:
            raise ValueError(
                f"segment {seg.index} belongs to entry {seg.entry_id[:12]}…, not {entry.id[:12]}…"
            )
        if seg.index in seen:
            raise ValueError(f"entry {entry.path}: segment index {seg.index} appears twice")
        seen.add(seg.index)
        for space, vec in seg.vectors.items():
            width = meta.spaces.get(space)
            if width is None:
                raise ValueError(
                    f"entry {entry.path}: unknown space {space!r}; the library has "
                    f"{sorted(meta.spaces)}"
                )
            if vec.shape != (width,):
                raise ValueError(
                    f"entry {entry.path}: space {space!r} takes {width}-d vectors, "
                    f"segment {seg.index} has {vec.shape[0]}-d"
                )


def check_query(meta: LibraryMeta, space: str, vector: np.ndarray, k: int) -> np.ndarray:
    """Validate a vector query; returns the query as a (D,) float32 array."""
    if space not in meta.spaces:
        raise ValueError(f"unknown space {space!r}; the library has {sorted(meta.spaces)}")
    q = np.ascontiguousarray(vector, dtype=np.float32)
    if q.shape != (meta.spaces[space],):
        raise ValueError(
            f"space {space!r} takes {meta.spaces[space]}-d queries, got shape {q.shape}"
        )
    if not np.isfinite(q).all() or not np.any(q):
        raise ValueError("query vector must be finite and non-zero")
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return q


def merge_text_hits(
    segment_hits: list[SegmentMatch],
    entry_hits: list[tuple[Entry, float]],
    k: int,
    space: str = FTS_SPACE,
) -> list[Hit]:
    """Combine segment and whole-entry text matches into one ranked list of at most ``k``.

    An entry-level match is dropped when one of that entry's segments is in the list (its
    transcript is the segments' text, so the same words would count twice).

    Args:
        segment_hits: ``(entry, index, start, end, text, score, tags)``, any order.
        entry_hits: ``(entry, score)``, any order.
        k: list length.
        space: the hits' ``space`` (``"fts"``, or ``"tags"`` for tag matches).
    """
    rows: list[tuple[float, Entry, int | None, float | None, float | None, str, Any]] = [
        (score, e, i, s, t_end, text, tags) for e, i, s, t_end, text, score, tags in segment_hits
    ]
    with_segments = {e.id for e, *_ in segment_hits}
    rows += [
        (score, e, None, None, None, e.text, None)
        for e, score in entry_hits
        if e.id not in with_segments
    ]
    rows.sort(key=lambda r: (-r[0], r[1].path, -1 if r[2] is None else r[2]))
    return [
        _hit(rank, space, (e, i, s, t_end, text, score, tags))
        for rank, (score, e, i, s, t_end, text, tags) in enumerate(rows[:k], start=1)
    ]


def _hit(rank: int, space: str, match: tuple[Any, ...]) -> Hit:
    """A :class:`Hit` from ``(entry, index, start, end, text, score, tags)``."""
    e, i, s, t, text, score, tags = match
    return Hit(
        entry=e, segment=i, start=s, end=t, text=text, score=float(score), space=space,
        rank=rank, tags=None if tags is None else tuple(tags),
    )  # fmt: skip


SegmentMatch = tuple[Entry, int, float, float, str, float, "list[Tag] | None"]
"""A matching segment before ranking: ``(entry, index, start, end, text, score, tags)``."""


def fetch_until(k: int, exact: bool, run: Callable[[int], tuple[int, list[Any]]]) -> list[Any]:
    """Over-fetch for post-filtering: call ``run(limit)`` -> ``(rows fetched, rows kept)`` with
    a growing limit until ``k`` rows are kept or the source is exhausted.

    Args:
        k: rows wanted.
        exact: whether the backend's own filter is exact (start at ``k``, else ``4 k``).
        run: one query with a limit.
    """
    limit = k if exact else 4 * k
    while True:
        got, kept = run(limit)
        if len(kept) >= k or got < limit:
            return kept
        limit *= 4


def rank_vector_hits(matches: list[SegmentMatch], k: int, space: str) -> list[Hit]:
    """The best ``k`` matches as hits, by score (ties: path, then segment index)."""
    matches = sorted(matches, key=lambda m: (-m[5], m[0].path, m[1]))[:k]
    return [_hit(r, space, m) for r, m in enumerate(matches, start=1)]


CALIBRATION_NOISE = 2.0
"""Norm of the noise that turns a stored vector into a calibration query (cosine to it ~0.45,
about what a query from another modality has to its match: harder than a near-duplicate)."""
CALIBRATION_SEED = 0x5EEDCA1B
"""Seed of the calibration noise (not 0, so it never replays the draws that made the data)."""


def calibration_queries(seeds: np.ndarray) -> np.ndarray:
    """Queries for tuning an approximate index, from vectors sampled out of the library.

    Half are *related* queries (a stored vector moved off by noise, like a query from another
    modality near its match), half are *unrelated* directions (random mixtures of the samples,
    the hard case for any index). Calibrating on both keeps recall for either kind.

    Args:
        seeds: (Q, D) vectors sampled from the library.

    Returns:
        (Q, D) float32 unit vectors.
    """
    rng = np.random.default_rng(CALIBRATION_SEED)
    s = np.asarray(seeds, dtype=np.float32)
    s = s / np.maximum(np.linalg.norm(s, axis=1, keepdims=True), 1e-12)  # (Q, D)
    n, dim = s.shape
    noise = rng.standard_normal((n, dim)).astype(np.float32) / math.sqrt(dim)
    related = s + CALIBRATION_NOISE * noise  # (Q, D)
    unrelated = rng.standard_normal((n, n)).astype(np.float32) @ s  # (Q, Q) @ (Q, D)
    q = np.concatenate([related[: n - n // 2], unrelated[: n // 2]])  # (Q, D)
    return q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)


def calibrate(
    settings: list[Any],
    truth: list[set[Any]],
    search: Callable[[Any, int], set[Any]],
    target: float,
) -> tuple[Any, float]:
    """The first (cheapest) setting whose recall@10 reaches ``target``, else the last one.

    Args:
        settings: search parameters, cheapest first.
        truth: per calibration query, the keys of its exact 10 nearest.
        search: ``search(setting, query_index)`` -> keys the index returns for that query.
        target: the recall to reach.

    Returns:
        ``(setting, recall)``.
    """
    total = max(1, sum(len(t) for t in truth))
    recall = 0.0
    for setting in settings:
        recall = sum(len(search(setting, i) & t) for i, t in enumerate(truth)) / total
        if recall >= target:
            break
    return setting, recall


# ----------------------------------------------------------------------------- protocol


@runtime_checkable
class Store(Protocol):
    """A library's storage. Open one with :func:`open_store`; use it as a context manager.

    A store is used from one thread at a time (open one per worker).
    """

    @property
    def location(self) -> str:
        """Where the library lives (a directory, or the database URL without password)."""
        ...

    def meta(self) -> LibraryMeta:
        """The library's model id and spaces; :class:`LibraryError` if not initialised."""
        ...

    def init(self, meta: LibraryMeta) -> None:
        """Create the library for ``meta``, or check an existing one against it (adding spaces
        it lacks). A different model id or space width raises :class:`LibraryError`."""
        ...

    def reset_meta(self, meta: LibraryMeta) -> list[str]:
        """Adopt a new model (the first step of ``xmodal library reindex``).

        Spaces absent from ``meta`` are dropped; the vectors of every space that is new,
        changed width, or (if the model id changed) all spaces, are cleared. Entries, segments
        and text stay. Returns the spaces to refill with :meth:`set_vectors`.
        """
        ...

    def upsert_entry(self, entry: Entry, segments: list[Segment]) -> None:
        """Insert or replace an entry with all its segments, atomically."""
        ...

    def upsert_entries(self, items: Iterable[tuple[Entry, list[Segment]]]) -> None:
        """Insert or replace several entries; the batch becomes visible at once (faster than
        one call per entry; ingest commits in batches of tens to hundreds)."""
        ...

    def get_entry(self, entry_id: str) -> Entry | None:
        """The entry with this id, or ``None``."""
        ...

    def has_entry(self, entry_id: str) -> bool:
        """Whether an entry with this id exists."""
        ...

    def find_by_path(self, path: str) -> Entry | None:
        """The entry stored under this absolute path (the latest added if several), or None."""
        ...

    def update_path(self, entry_id: str, new_path: str) -> bool:
        """Record that an entry's file moved; False if the id is unknown."""
        ...

    def remove_entry(self, entry_id: str) -> bool:
        """Delete an entry and its segments; False if the id is unknown."""
        ...

    def iter_entries(self) -> Iterator[Entry]:
        """Every entry, in path order."""
        ...

    def segments(self, entry_id: str) -> list[Segment]:
        """An entry's segments in index order, with their vectors ([] if unknown)."""
        ...

    def set_vectors(self, entry_id: str, space: str, vectors: np.ndarray) -> None:
        """Replace one space's vectors of an entry's segments, atomically.

        Args:
            entry_id: the entry.
            space: a space of the library.
            vectors: (S, D) float32, row i for the i-th segment in index order
                (as :meth:`segments` lists them).
        """
        ...

    def clear_vectors(self, space: str) -> None:
        """Remove every vector of a space (segments and text stay)."""
        ...

    def search_vector(
        self, space: str, vector: np.ndarray, k: int = 10, filters: Filters | None = None
    ) -> list[Hit]:
        """The ``k`` segments most similar (cosine) to ``vector`` (D,) in ``space``, best first."""
        ...

    def search_text(self, query: str, k: int = 10, filters: Filters | None = None) -> list[Hit]:
        """Full-text matches of ``query`` in segment texts and entry texts, best first."""
        ...

    def search_tags(self, query: str, k: int = 10, filters: Filters | None = None) -> list[Hit]:
        """Full-text matches of ``query`` in segments' ``tag_text``, best first; ``Hit.space`` is
        ``"tags"``. Unlike :meth:`search_text`, *any* word may match (tag words are a bag, and
        a sentence says more than any tag): segments matching more, and rarer, words rank
        higher. Stemming and stop words as in :meth:`search_text`."""
        ...

    def stats(self) -> dict[str, Any]:
        """Counts and sizes.

        Keys: ``backend``, ``location``, ``schema_version``, ``model_id``, ``spaces``
        (name -> width), ``entries``, ``entries_by_modality`` (every modality, 0 included),
        ``segments``, ``vectors`` (space -> segments with a vector there), ``duration_s``
        (sum of entry durations), ``size_bytes`` (on disk; ``None`` if unknown).
        """
        ...

    def optimize(self) -> None:
        """Compact storage and bring indexes up to date; call after a batch of writes."""
        ...

    def close(self) -> None:
        """Release files and connections."""
        ...

    def __enter__(self) -> Store: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


# ----------------------------------------------------------------------------- factory


def default_library_dir() -> Path:
    """``$XDG_DATA_HOME/xmodal/library`` (``~/.local/share/xmodal/library`` by default)."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "xmodal" / "library"


def open_store(
    library_dir: str | os.PathLike[str] | None = None,
    db_url: str | None = None,
    *,
    meta: LibraryMeta | None = None,
    lance_config: LanceStoreConfig | None = None,
    postgres_config: PostgresStoreConfig | None = None,
) -> Store:
    """Open a library.

    The backend is chosen by, in order: ``db_url`` (PostgreSQL), ``library_dir`` (LanceDB),
    the ``XMODAL_DATABASE_URL`` environment variable (PostgreSQL), then the default directory
    :func:`default_library_dir` (LanceDB).

    Args:
        library_dir: a LanceDB library directory (``--library``).
        db_url: a PostgreSQL URL (``--db``), e.g. ``postgresql://user@host:5432/db``.
        meta: the model the caller will write with. Given: the library is created if needed
            and checked against it (:meth:`Store.init`). Omitted (read-only use such as
            search): a library that does not exist yet raises :class:`LibraryError`.
        lance_config: options of the LanceDB backend.
        postgres_config: options of the PostgreSQL backend.

    Returns:
        The open store (a context manager).
    """
    if db_url and library_dir is not None:
        raise LibraryError("give either a library directory (--library) or a database (--db)")
    url = db_url or (None if library_dir is not None else os.environ.get(DATABASE_URL_ENV))
    store: Store
    if url:
        from xmodal.library.postgres_store import PostgresStore

        store = PostgresStore(url, create=meta is not None, config=postgres_config)
    else:
        from xmodal.library.lancedb_store import LanceStore

        path = Path(library_dir) if library_dir is not None else default_library_dir()
        store = LanceStore(path, create=meta is not None, config=lance_config)
    if meta is not None:
        try:
            store.init(meta)
        except BaseException:
            store.close()
            raise
    return store

"""Search: any query (text, image, recording, video, note) against every modality.

A query is routed to ranked lists, one per way of matching it; the lists are fused by
reciprocal rank fusion (RRF, ``k = 60``): a segment's score is ``sum over lists of
1 / (60 + rank)``. Hits are grouped by (entry, segment), and each result says which lists found
it (``matched_by``).

================ ===========================================================================
query            ranked lists
================ ===========================================================================
text             ``text-frozen`` (MiniLM of the query vs. transcripts and notes), ``fts``
                 (every word in a transcript or note), ``tags`` (any word among a segment's
                 visual tag words), ``tags-frozen`` (MiniLM of the query vs. the tags),
                 ``joint`` (text -> all modalities); a person's name in it: ``person`` (the
                 moments they are seen in, their best views first), and the other lists
                 search the rest of the words
image file       ``video-frozen`` (EfficientNet-Lite0 of the picture vs. segment frames),
                 ``joint`` (as a one-frame video); ``person`` (the moments of the people
                 whose faces are in the picture)
video file       ``video-frozen`` (mean of its sampled frames), ``joint`` (video)
audio file       its transcript (speech recognition) -> ``text-frozen`` and ``fts``;
                 ``audio-frozen`` (spectral shape); ``joint`` (audio)
note file        its text, as a text query
================ ===========================================================================

Lists whose space the library lacks (no joint model yet) are skipped. Each list fetches
``max(3 k, 30)`` candidates under the same :class:`~xmodal.library.records.Filters`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.features.tags import Tag
from xmodal.library.embed import (
    AUDIO_SPACE,
    JOINT_SPACE,
    MEDIA_SUFFIXES,
    TEXT_SPACE,
    VIDEO_SPACE,
    Embedder,
    IngestConfig,
)
from xmodal.library.floors import is_strong, load_floors
from xmodal.library.notes import NOTE_SUFFIXES, chunk_parts, read_note
from xmodal.library.pool import SearchPool
from xmodal.library.records import FTS_SPACE, TAGS_LIST, Filters, Hit, LibraryError
from xmodal.library.store import Store
from xmodal.library.tagging import TAG_SPACE
from xmodal.types import Modality

RRF_K = 60
PERSON_LIST = "person"
"""The ranked list of the moments of a person named in a text query, or pictured in an image."""
PICTURE_SIDE = 640  # an image query is looked at for faces at most this large (longer side)
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
QUERY_KINDS = ("text", "image", "video", "audio")
_EXCERPT_CHARS = 240


@dataclass
class SearchResult:
    """One fused hit.

    Attributes:
        entry_id: the entry's id (content hash).
        path: the file.
        modality: the entry's modality.
        score: reciprocal-rank-fusion score (sum of ``1 / (60 + rank)`` over the lists).
        start: segment start (s); None for notes and whole-entry text matches.
        end: segment end (s); None likewise.
        text: the segment's transcript or the note excerpt.
        matched_by: the lists that found it (``"joint"``, ``"video-frozen"``, ``"fts"``, ...).
        rank: 1-based position.
        segment: the segment index (None for a whole-entry text match).
        scores: per list, its own score (cosine similarity; text relevance for ``"fts"``).
        created: the entry's created time (epoch s).
        tags: the segment's visual tags, best first (``[]``: none; notes, sound and untagged
            segments have none).
        place: where in its document the hit is (``"page 3"``, a heading; ``""``: none).
        strong: whether it is a strong match (:mod:`xmodal.library.floors`); a search whose
            results are all weak found nothing that clearly shows or says the query.
    """

    entry_id: str
    path: str
    modality: Modality
    score: float
    start: float | None
    end: float | None
    text: str
    matched_by: list[str]
    rank: int
    segment: int | None = None
    scores: dict[str, float] = field(default_factory=dict)
    created: float | None = None
    tags: list[Tag] = field(default_factory=list)
    place: str = ""
    strong: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "entry_id": self.entry_id,
            "path": self.path,
            "modality": self.modality.value,
            "segment": self.segment,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "matched_by": list(self.matched_by),
            "scores": {k: round(v, 6) for k, v in self.scores.items()},
            "created": self.created,
            "tags": [t.to_json() for t in self.tags],
            "place": self.place,
            "strong": self.strong,
        }


@dataclass
class Query:
    """A parsed query: its kind and its text or file."""

    kind: str  # one of QUERY_KINDS
    text: str = ""
    path: Path | None = None

    def describe(self) -> str:
        return f'"{self.text}"' if self.path is None else f"{self.kind} {self.path}"


def parse_query(query: str | os.PathLike[str]) -> Query:
    """Decide what a query is: a file (image, video, audio, note) or text.

    A string is a file when it names an existing file; a single word ending in a media, image
    or note suffix that names no file is an error (a mistyped path), anything else is text.

    Raises:
        LibraryError: an empty query, a missing query file, or a file that is none of these.
    """
    if isinstance(query, os.PathLike):
        path = Path(query).expanduser()
        if not path.is_file():
            raise LibraryError(f"{path}: query file does not exist")
    else:
        text = str(query).strip()
        if not text:
            raise LibraryError("empty query: give words to search for or a file to search with")
        path = Path(text).expanduser()
        looks = "\n" not in text and len(text) < 4096
        if not (looks and path.is_file()):
            suffixes = IMAGE_SUFFIXES + MEDIA_SUFFIXES + NOTE_SUFFIXES
            if looks and " " not in text and path.suffix.lower() in suffixes:
                raise LibraryError(
                    f"{path}: query file does not exist (to search for this as text, "
                    "add another word)"
                )
            return Query("text", text=text)
    suffix = path.suffix.lower()
    if suffix in NOTE_SUFFIXES:
        from xmodal.media import MediaError

        try:
            chunks, _ = chunk_parts(read_note(path).parts, 1500)
        except MediaError as e:
            raise LibraryError(f"{path}: cannot read the note ({e.reason})") from None
        if not chunks:
            raise LibraryError(f"{path}: the note is empty")
        return Query("text", text=chunks[0], path=path)
    if suffix in IMAGE_SUFFIXES:
        return Query("image", path=path)
    from xmodal.media import MediaError, probe

    try:
        info = probe(path)
    except MediaError as e:
        if _read_image(path) is not None:
            return Query("image", path=path)
        raise LibraryError(
            f"{path}: not an image, video, recording or note to search with ({e.reason})"
        ) from None
    return Query("video" if info.has_video else "audio", path=path)


def _read_image(path: Path) -> np.ndarray | None:
    """An image file as ``(H, W, 3)`` uint8 RGB, or None if OpenCV cannot read it."""
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return None if img is None else np.ascontiguousarray(img[:, :, ::-1])


def query_vectors(
    embedder: Embedder, query: Query, spaces: set[str]
) -> tuple[dict[str, np.ndarray], str]:
    """Encode a query for the vector spaces it is searched in (the CPU-heavy step of a search).

    Args:
        embedder: the library's encoders (and joint space).
        query: the parsed query.
        spaces: the library's spaces.

    Returns:
        ``({space: (D,) vector}, the text to search by full text, if any)``; vectors are not yet
        normalised and may include spaces the library lacks.
    """
    joint = embedder.joint if JOINT_SPACE in spaces and embedder.has_joint else None
    vectors: dict[str, np.ndarray] = {}
    text = query.text
    if query.kind == "text":
        feat = embedder.ready(embedder.text).extract([text])  # (1, Dt)
        vectors[TEXT_SPACE] = feat[0]
        vectors[TAG_SPACE] = feat[0]  # the tags' phrases are embedded by the same encoder
        if joint is not None and Modality.TEXT in joint.encoders:
            if joint.encoders[Modality.TEXT].id == embedder.text.id:
                vectors[JOINT_SPACE] = joint.encode_features(Modality.TEXT, [feat[0]])[0]
            else:
                vectors[JOINT_SPACE] = joint.encode_text(text)[0]
    elif query.kind in ("image", "video"):
        frames = _query_frames(embedder, query)  # (T, H, W, 3)
        feats = embedder.frame_features([frames])[0]  # (T, Dv)
        vectors[VIDEO_SPACE] = feats.mean(axis=0)
        if joint is not None and Modality.VIDEO in joint.encoders:
            enc = joint.encoders[Modality.VIDEO]
            jf = feats if enc.id == embedder.video.id else embedder.ready(enc).extract(frames)
            vectors[JOINT_SPACE] = joint.encode_features(Modality.VIDEO, [jf])[0]
    else:  # audio
        from xmodal.media import read_audio

        assert query.path is not None
        wave = read_audio(query.path, sample_rate=16000, end=embedder.config.chunk_seconds)
        if len(wave) < 2:
            raise LibraryError(f"{query.path}: the recording is empty")
        if np.abs(wave).max() > 1e-3:
            from xmodal.features.asr import transcribe

            text = transcribe(wave).text
        if text:
            vectors[TEXT_SPACE] = embedder.ready(embedder.text).extract([text])[0]
        afeats = embedder.audio_features(wave) if embedder.audio is not None else None
        if afeats is not None:
            vectors[AUDIO_SPACE] = embedder.audio_vector(afeats)
        if joint is not None and Modality.AUDIO in joint.encoders:
            enc = joint.encoders[Modality.AUDIO]
            if afeats is not None and enc.id == embedder.audio.id:  # type: ignore[union-attr]
                vectors[JOINT_SPACE] = joint.encode_features(Modality.AUDIO, [afeats])[0]
            else:
                vectors[JOINT_SPACE] = joint.encode_audio(wave)[0]
    return vectors, text


_WORKER_EMBEDDERS: dict[str, Embedder] = {}


def worker_embedder(spec: tuple[IngestConfig, str | None]) -> Embedder:
    """The embedder of ``spec`` in this (worker) process, built once (see
    :meth:`Embedder.spec`)."""
    key = repr(spec)
    if key not in _WORKER_EMBEDDERS:
        _WORKER_EMBEDDERS[key] = Embedder(*spec)
    return _WORKER_EMBEDDERS[key]


def warm_worker(spec: tuple[IngestConfig, str | None]) -> None:
    """Load a worker process's text encoder (and joint space) before its first query."""
    embedder = worker_embedder(spec)
    embedder.ready(embedder.text)
    if embedder.has_joint:
        embedder.joint  # noqa: B018 - loads it


def encode_in_worker(
    spec: tuple[IngestConfig, str | None], query: Query, spaces: set[str]
) -> tuple[dict[str, np.ndarray], str]:
    """:func:`query_vectors` in an encoding worker process."""
    return query_vectors(worker_embedder(spec), query, spaces)


def query_lists(
    store: Store,
    embedder: Embedder,
    query: Query,
    filters: Filters,
    candidates: int,
    pool: SearchPool | None = None,
) -> tuple[dict[str, list[Hit]], str]:
    """Run the ranked lists of a query (module docstring's table).

    Without a pool everything runs in the calling thread, one step after the other. With one,
    the query is encoded in the pool's encoding threads and the lists run side by side in its
    list threads; a text query's full-text lists start before its encoding. The lists and their
    order (vector spaces, then ``fts``, then ``tags`` for a text query) are the same either way.

    Returns:
        ``({list name: hits}, the text that was searched, if any)``.
    """
    spaces = set(store.meta().spaces)
    full_text = {FTS_SPACE: store.search_text}
    if query.kind == "text":  # words of what is seen: for words, not for a recording's speech
        full_text[TAGS_LIST] = store.search_tags
    early: dict[str, Future[list[Hit]]] = {}
    if pool is not None and query.kind == "text" and re.search(r"\w", query.text):
        for name, run in full_text.items():
            early[name] = pool.submit_list(run, query.text, k=candidates, filters=filters)
    spec = embedder.spec() if pool is not None and pool.processes else None
    if pool is None:
        vectors, text = query_vectors(embedder, query, spaces)
    elif spec is not None:
        vectors, text = pool.encode(encode_in_worker, spec, query, spaces)
    else:
        vectors, text = pool.encode(query_vectors, embedder, query, spaces)
    jobs: dict[str, Future[list[Hit]] | list[Hit]] = {}
    for space, vec in vectors.items():
        if space not in spaces or not np.any(vec):
            continue
        unit = (vec / np.linalg.norm(vec)).astype(np.float32)
        if pool is None:
            jobs[space] = store.search_vector(space, unit, k=candidates, filters=filters)
        else:
            jobs[space] = pool.submit_list(store.search_vector, space, unit, k=candidates,
                                           filters=filters)  # fmt: skip
    if text and re.search(r"\w", text):
        for name, run in full_text.items():
            if name in early and text == query.text:
                jobs[name] = early[name]
            elif pool is None:
                jobs[name] = run(text, k=candidates, filters=filters)
            else:
                jobs[name] = pool.submit_list(run, text, k=candidates, filters=filters)
    lists = {name: job.result() if isinstance(job, Future) else job for name, job in jobs.items()}
    return lists, text


def _query_frames(embedder: Embedder, query: Query) -> np.ndarray:
    """Frames of an image or video query, sized like ingested frames: ``(T, H, W, 3)``."""
    assert query.path is not None
    if query.kind == "image":
        img = _read_image(query.path)
        if img is None:
            raise LibraryError(f"{query.path}: cannot read the image")
        size = embedder.frame_size(img.shape[1], img.shape[0])
        if size is not None:
            import cv2

            img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        return img[None]  # (1, H, W, 3)
    from xmodal.media import probe, read_video

    info = probe(query.path)
    assert info.video is not None
    cfg = embedder.config
    duration = info.duration or info.video.duration or cfg.segment_seconds
    n = int(np.clip(round(duration / cfg.segment_seconds * cfg.frames_per_segment), 4, 32))
    fps = n / max(duration, 1e-3)
    size = embedder.frame_size(info.video.width, info.video.height)
    frames = read_video(query.path, fps=fps, size=size, start=0.5 / fps, max_frames=n)
    if len(frames) == 0:
        frames = read_video(query.path, size=size, max_frames=1)
    if len(frames) == 0:
        raise LibraryError(f"{query.path}: no decodable video frames")
    return frames


def fuse(lists: dict[str, list[Hit]], k: int, words: Sequence[str] = ()) -> list[SearchResult]:
    """Reciprocal rank fusion of ranked lists, grouped by (entry, segment).

    Args:
        lists: list name -> hits, best first.
        k: results to return.
        words: query words, to centre text excerpts on.

    Returns:
        The top ``k`` results, best first (ties: path, then segment).
    """
    acc: dict[tuple[str, int | None], dict[str, Any]] = {}
    for name, hits in lists.items():
        for rank, hit in enumerate(hits, start=1):
            key = (hit.entry.id, hit.segment)
            item = acc.setdefault(key, {"hit": hit, "score": 0.0, "by": {}, "tags": None})
            item["score"] += 1.0 / (RRF_K + rank)
            item["by"].setdefault(name, hit.score)
            if item["tags"] is None and hit.tags is not None:
                item["tags"] = list(hit.tags)
    ranked = sorted(
        acc.values(),
        key=lambda it: (-it["score"], it["hit"].entry.path, it["hit"].segment or 0),
    )
    out = []
    for rank, item in enumerate(ranked[:k], start=1):
        hit: Hit = item["hit"]
        note = hit.entry.modality is Modality.TEXT
        timed = not note and hit.segment is not None
        out.append(
            SearchResult(
                entry_id=hit.entry.id,
                path=hit.entry.path,
                modality=hit.entry.modality,
                score=float(item["score"]),
                start=hit.start if timed else None,
                end=hit.end if timed else None,
                text=excerpt(hit.text, words),
                matched_by=list(item["by"]),
                rank=rank,
                segment=hit.segment,
                scores={n: float(s) for n, s in item["by"].items()},
                created=hit.entry.created,
                tags=item["tags"] or [],
                place=hit.place,
            )
        )
    return out


def excerpt(text: str, words: Sequence[str] = (), width: int = _EXCERPT_CHARS) -> str:
    """At most ``width`` characters of ``text``, around the first query word it contains."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    lower = text.lower()
    hits = [lower.find(w.lower()) for w in words if len(w) > 2 and w.lower() in lower]
    centre = min(hits) if hits else 0
    start = max(0, min(centre - width // 3, len(text) - width))
    piece = text[start : start + width].strip()
    return ("…" if start > 0 else "") + piece + ("…" if start + width < len(text) else "")


def search(
    store: Store,
    embedder: Embedder,
    query: str | os.PathLike[str],
    *,
    filters: Filters | None = None,
    k: int = 10,
    lists: Iterable[str] | None = None,
    pool: SearchPool | None = None,
) -> list[SearchResult]:
    """Search a library with any query (see the module docstring for the routing).

    Args:
        store: the open library.
        embedder: the library's encoders (and joint space, if it has one).
        query: text, or a path to an image, video, recording or note.
        filters: modality, date, path and tag filters.
        k: results to return.
        lists: fuse only these ranked lists (None: every list the query has).
        pool: threads to encode the query and run its lists in (None: this thread only).

    Returns:
        Up to ``k`` results, best first, each marked strong or weak
        (:func:`xmodal.library.floors.is_strong`; :func:`strong_match` of the list says
        whether anything clearly matched).
    """
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    parsed = parse_query(query)
    candidates = max(3 * int(k), 30)
    filters = filters or Filters()
    named, rest = named_people(store, parsed)
    ranked: dict[str, list[Hit]] = {}
    text = parsed.text
    if rest is None or re.search(r"\w", rest):
        words = parsed if rest is None else Query("text", text=rest)
        ranked, text = query_lists(store, embedder, words, filters, candidates, pool)
    if parsed.kind == "image":
        named = pictured_people(store, embedder, parsed)
    if named:
        ranked[PERSON_LIST] = person_hits(store, named, filters, candidates)
    if lists is not None:
        keep = set(lists)
        ranked = {name: hits for name, hits in ranked.items() if name in keep}
    results = fuse(ranked, int(k), re.findall(r"\w+", text or ""))
    floors = load_floors(embedder.text.id) if parsed.kind == "text" else {}
    for r in results:
        r.strong = is_strong(r.scores, floors)
    return results


def named_people(store: Store, query: Query) -> tuple[list[Any], str | None]:
    """The people a text query names (whole words, any case) and the query without their
    names; ``([], None)`` when it names nobody or is not text."""
    from xmodal.library.people import People

    if query.kind != "text" or query.path is not None:
        return [], None
    named, rest = [], query.text
    for person in People.load(store).people:
        if not person.name:
            continue
        pattern = re.compile(r"(?<!\w)" + re.escape(person.name) + r"(?!\w)", re.IGNORECASE)
        if pattern.search(rest):
            named.append(person)
            rest = pattern.sub(" ", rest)
    return (named, " ".join(rest.split())) if named else ([], None)


def pictured_people(store: Store, embedder: Embedder, query: Query) -> list[Any]:
    """The people whose faces are in an image query: for each face found in it (the
    library's face describer), the people with a stored face closer than the library's
    grouping threshold, nearest first."""
    from xmodal.features.identity import descriptor_distances
    from xmodal.library.people import People, iter_faces

    people = People.load(store)
    if not people.people or query.path is None:
        return []
    image = _read_image(query.path)
    if image is None:
        return []
    scale = PICTURE_SIDE / max(image.shape[:2])
    if scale < 1:
        import cv2

        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    seen = embedder.describer.describe(image[None])
    if not seen:
        return []
    owner = {k: p.id for p in people.people for k in p.faces}
    refs = [r for r in iter_faces(store) if r.key in owner]
    if not refs:
        return []
    threshold = people.threshold_for()
    queried = np.stack([f.descriptor for f in seen])  # (M, 128)
    stored = np.stack([r.face.descriptor for r in refs])  # (N, 128)
    closest = descriptor_distances(stored, queried).min(axis=1)  # (N,): to any face in it
    nearest: dict[int, float] = {}
    for ref, d in zip(refs, closest, strict=True):
        pid = owner[ref.key]
        if d < threshold and d < nearest.get(pid, float("inf")):
            nearest[pid] = float(d)
    by_id = {p.id: p for p in people.people}
    return [by_id[i] for i in sorted(nearest, key=lambda i: (nearest[i], i))]


def person_hits(store: Store, people: Sequence[Any], filters: Filters, k: int) -> list[Hit]:
    """The moments the named people are seen in, under ``filters``: the ones where their face
    is seen longest and largest first, at most ``k``."""
    keys: dict[tuple[str, int], set[int]] = {}
    for person in people:
        for entry_id, segment, face in person.faces:
            keys.setdefault((entry_id, segment), set()).add(face)
    found = []
    for entry_id in sorted({e for e, _ in keys}):
        entry = store.get_entry(entry_id)
        if entry is None or not filters.matches(entry):
            continue
        for seg in store.segments(entry_id):
            faces = keys.get((entry_id, seg.index))
            if faces is None or not filters.matches_tags(seg.tag_text):
                continue
            if filters.segments is not None and (entry_id, seg.index) not in filters.segments:
                continue
            view = max(((f.frames, f.size) for f in seg.faces or [] if f.index in faces),
                       default=(0, 0.0))  # fmt: skip
            found.append((view, entry, seg))
    found.sort(key=lambda t: (-t[0][0], -t[0][1], t[1].path, t[2].index))
    return [
        Hit(entry, seg.index, seg.start, seg.end, seg.text, float(view[0]), PERSON_LIST, rank,
            None if seg.tags is None else tuple(seg.tags), seg.place)
        for rank, (view, entry, seg) in enumerate(found[:k], start=1)
    ]  # fmt: skip


def strong_match(results: Sequence[SearchResult]) -> bool:
    """Whether a search found anything strong (False: say "no strong match", and show the
    results as the closest there is). An empty list has no strong match either."""
    return any(r.strong for r in results)

"""Search: any query (text, image, recording, video, note) against every modality.

A query is routed to ranked lists, one per way of matching it; the lists are fused by
reciprocal rank fusion (RRF, ``k = 60``): a segment's score is ``sum over lists of
1 / (60 + rank)``. Hits are grouped by (entry, segment), and each result says which lists found
it (``matched_by``).

================ ===========================================================================
query            ranked lists
================ ===========================================================================
text             ``text-frozen`` (MiniLM of the query vs. transcripts and notes), ``fts``
                 (every word in a transcript or note), ``joint`` (text -> all modalities)
image file       ``video-frozen`` (EfficientNet-Lite0 of the picture vs. segment frames),
                 ``joint`` (as a one-frame video)
video file       ``video-frozen`` (mean of its sampled frames), ``joint`` (video)
audio file       its transcript (speech recognition) -> ``text-frozen`` and ``fts``;
                 ``audio-frozen`` (spectral shape); ``joint`` (audio)
note file        its text, as a text query
================ ===========================================================================

Lists whose space the library lacks (no joint model yet) are skipped. Each list fetches
``max(3 k, 30)`` candidates under the same :class:`~xmodal.library.store.Filters`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xmodal.library.embed import (
    AUDIO_SPACE,
    JOINT_SPACE,
    MEDIA_SUFFIXES,
    NOTE_SUFFIXES,
    TEXT_SPACE,
    VIDEO_SPACE,
    Embedder,
    chunk_note,
    split_front_matter,
)
from xmodal.library.store import FTS_SPACE, Filters, Hit, LibraryError, Store
from xmodal.types import Modality

if TYPE_CHECKING:
    from xmodal.library.library import Library

RRF_K = 60
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
        try:
            body, _ = split_front_matter(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError) as e:
            raise LibraryError(f"{path}: cannot read the note ({e})") from None
        chunks = chunk_note(body, 1500)
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


def query_lists(
    store: Store,
    embedder: Embedder,
    query: Query,
    filters: Filters,
    candidates: int,
) -> tuple[dict[str, list[Hit]], str]:
    """Run the ranked lists of a query (module docstring's table).

    Returns:
        ``({list name: hits}, the text that was searched, if any)``.
    """
    spaces = set(store.meta().spaces)
    joint = embedder.joint if JOINT_SPACE in spaces and embedder.has_joint else None
    vectors: dict[str, np.ndarray] = {}
    text = query.text
    if query.kind == "text":
        feat = embedder.text.extract([text])  # (1, Dt)
        vectors[TEXT_SPACE] = feat[0]
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
            jf = feats if enc.id == embedder.video.id else enc.extract(frames)
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
            vectors[TEXT_SPACE] = embedder.text.extract([text])[0]
        afeats = embedder.audio_features(wave) if embedder.audio is not None else None
        if afeats is not None:
            vectors[AUDIO_SPACE] = embedder.audio_vector(afeats)
        if joint is not None and Modality.AUDIO in joint.encoders:
            enc = joint.encoders[Modality.AUDIO]
            if afeats is not None and enc.id == embedder.audio.id:  # type: ignore[union-attr]
                vectors[JOINT_SPACE] = joint.encode_features(Modality.AUDIO, [afeats])[0]
            else:
                vectors[JOINT_SPACE] = joint.encode_audio(wave)[0]
    lists: dict[str, list[Hit]] = {}
    for space, vec in vectors.items():
        if space not in spaces or not np.any(vec):
            continue
        unit = (vec / np.linalg.norm(vec)).astype(np.float32)
        lists[space] = store.search_vector(space, unit, k=candidates, filters=filters)
    if text and re.search(r"\w", text):
        lists[FTS_SPACE] = store.search_text(text, k=candidates, filters=filters)
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
            item = acc.setdefault(key, {"hit": hit, "score": 0.0, "by": {}})
            item["score"] += 1.0 / (RRF_K + rank)
            item["by"].setdefault(name, hit.score)
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
) -> list[SearchResult]:
    """Search a library with any query (see the module docstring for the routing).

    Args:
        store: the open library.
        embedder: the library's encoders (and joint space, if it has one).
        query: text, or a path to an image, video, recording or note.
        filters: modality, date and path filters.
        k: results to return.

    Returns:
        Up to ``k`` results, best first.
    """
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    parsed = parse_query(query)
    candidates = max(3 * int(k), 30)
    lists, text = query_lists(store, embedder, parsed, filters or Filters(), candidates)
    return fuse(lists, int(k), re.findall(r"\w+", text))


# ----------------------------------------------------------------------------- demo


def demo_searches(
    lib: Library,
    world_dir: str | os.PathLike[str],
    query_dir: str | os.PathLike[str] | None = None,
    k: int = 5,
    ingested: Sequence[str] | None = None,
) -> list[tuple[str, list[SearchResult]]]:
    """Three cross-modal searches of a library holding (part of) an object-action world.

    1. a **sentence**: the spoken phrase of a held-out clip (or the first clip), as text;
    2. a **recording**: the audio track of another clip, written to a WAV file;
    3. a **frame**: the middle frame of a third clip, written to a PNG file.

    When ``ingested`` names the clips in the library, the recording and the frame come from
    clips *outside* it whose (object, action) pair is inside it (two different pairs where
    possible), so a good hit is another clip of the same pair, not the query's own file.

    Args:
        lib: the library (the world's clips ingested).
        world_dir: the world's dataset directory (``manifest.jsonl``).
        query_dir: where the query files go (default: ``world_dir/../library-queries``;
            never inside the world, so re-ingesting it does not pick them up).
        k: results per search.
        ingested: ids of the clips in the library (None: every clip of the world).

    Returns:
        ``[(description, results), ...]``; each description names the clip the query came from
        and its (object, action) pair.
    """
    from xmodal.data.manifest import clip_path, read_manifest
    from xmodal.media import read_audio, read_video, write_wav
    from xmodal.utils import atomic_path

    world = Path(world_dir)
    rows = read_manifest(world)
    if len(rows) < 3:
        raise ValueError(f"{world}: the demo searches need at least 3 clips, found {len(rows)}")
    qdir = Path(query_dir) if query_dir is not None else world.parent / "library-queries"
    qdir.mkdir(parents=True, exist_ok=True)
    inside = {r["id"] for r in rows} if ingested is None else set(ingested)
    heldout = [r for r in rows if r.get("split") == "heldout" and r["id"] in inside]
    sentence_row = heldout[0] if heldout else rows[0]
    audio_row, frame_row = _example_rows(rows, inside, exclude=sentence_row["id"])
    out: list[tuple[str, list[SearchResult]]] = []

    text = sentence_row.get("text") or sentence_row["id"]
    out.append((f'sentence "{text}" (spoken in {sentence_row["id"]}{_pair(sentence_row)})',
                lib.search(text, k=k)))  # fmt: skip

    wav = qdir / f"{audio_row['id']}.wav"
    write_wav(wav, read_audio(clip_path(world, audio_row), sample_rate=16000), 16000)
    said = f' "{audio_row["text"]}"' if audio_row.get("text") else ""
    out.append((f"recording: the audio track of {audio_row['id']}{said}{_pair(audio_row)}",
                lib.search(wav, k=k)))  # fmt: skip

    import cv2

    frames = read_video(clip_path(world, frame_row))  # (T, H, W, 3)
    middle = len(frames) // 2
    png = qdir / f"{frame_row['id']}-frame{middle}.png"
    with atomic_path(png) as tmp:
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(frames[middle][:, :, ::-1])):
            raise OSError(f"{png}: could not write the query frame")
    out.append((f"frame {middle} of {frame_row['id']}{_pair(frame_row)}", lib.search(png, k=k)))
    return out


def _pair(row: dict[str, Any]) -> str:
    what = ", ".join(str(row[key]) for key in ("object", "action") if row.get(key))
    return f" ({what})" if what else ""


def _example_rows(
    rows: list[dict[str, Any]], inside: set[str], exclude: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The recording's and the frame's source clips (see :func:`demo_searches`)."""

    def pair(r: dict[str, Any]) -> tuple[Any, Any]:
        return r.get("object"), r.get("action")

    pairs_inside = {pair(r) for r in rows if r["id"] in inside}
    outside = [r for r in rows if r["id"] not in inside and pair(r) in pairs_inside]
    if outside:
        first = outside[0]
        other = [r for r in outside[1:] if pair(r) != pair(first)] or outside[1:] or [first]
        return first, other[len(other) // 2]
    others = [r for r in rows if r["id"] != exclude]
    return others[0], others[len(others) // 2]


def match_counts(
    world_dir: str | os.PathLike[str], searches: list[tuple[str, list[SearchResult]]]
) -> list[tuple[int, int, int]]:
    """For each demo search, ``(hits showing the query's object, hits showing its (object,
    action) pair, hits)``. A single frame shows an object, rarely its motion: judge a frame
    query by the first count, a sentence or a recording by the second.

    The query's pair is read from its description (as :func:`demo_searches` writes it); a hit's
    pair from the world's manifest, by path.
    """
    from xmodal.data.manifest import clip_path, read_manifest

    world = Path(world_dir)
    pair_of = {str(clip_path(world, r).resolve()): (r.get("object"), r.get("action"))
               for r in read_manifest(world)}  # fmt: skip
    counts = []
    for description, results in searches:
        found = re.findall(r"\((\w+), (\w+)\)", description)  # the last one is the query's
        want = tuple(found[-1]) if found else None
        hits = [pair_of.get(str(Path(r.path).resolve())) for r in results]
        same_object = sum(want is not None and h is not None and h[0] == want[0] for h in hits)
        same_pair = sum(want is not None and h == want for h in hits)
        counts.append((same_object, same_pair, len(results)))
    return counts


def demo_library(
    world_dir: str | os.PathLike[str],
    library_dir: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    k: int = 3,
    splits: Sequence[str] | None = None,
    progress: bool = True,
) -> tuple[Any, list[tuple[str, list[SearchResult]]]]:
    """The main demo's library step: ingest a world's clips into its own embedded library
    (reused and completed on reruns; reindexed when ``model`` changed) and run
    :func:`demo_searches`.

    Args:
        world_dir: an object-action world (``manifest.jsonl``, ``clips/``).
        library_dir: the demo's library directory (the query files go beside it, in
            ``library-queries/``).
        model: a joint space run directory to embed with (None: frozen encoders only).
        workers: ingest worker processes.
        k: results per search.
        splits: ingest only the clips of these splits (None: the whole ``clips/`` folder).
        progress: show progress bars.

    Returns:
        ``(IngestReport, [(description, results), ...])``.
    """
    from xmodal.data.manifest import clip_path, read_manifest
    from xmodal.library.library import Library

    world, library_dir = Path(world_dir), Path(library_dir)
    paths: list[Path] = [world / "clips"]
    ingested = None
    if splits is not None:
        rows = [r for r in read_manifest(world) if r.get("split") in set(splits)]
        if not rows:
            raise ValueError(f"{world}: no clips in the splits {list(splits)}")
        paths, ingested = [clip_path(world, r) for r in rows], [r["id"] for r in rows]
    with Library.open(library_dir, model=model) as lib:
        if lib.needs_reindex is not None:
            lib.reindex(model, frozen_only=model is None, workers=workers, progress=progress)
        report = lib.add(paths, workers=workers, progress=progress)
        queries = library_dir.parent / "library-queries"
        return report, demo_searches(lib, world, queries, k=k, ingested=ingested)

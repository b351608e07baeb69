"""The fifth stage of ``xmodal demo``: a memory library of an object-action world, searched.

The world's clips (some splits of them) are ingested into the demo's own embedded library, and
three cross-modal searches are run against it — a sentence, a recording and a frame — whose hits
are then judged against the world's manifest (:func:`match_counts`). This is demo code: it reads
a world's ``manifest.jsonl`` and so lives beside the demo command, not in the library.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.library import Library, SearchResult


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
    per_pair: int | None = None,
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
        per_pair: with ``splits``, at most this many clips of each (object, action) pair, the
            first in the manifest (None: all of them).
        progress: show progress bars.

    Returns:
        ``(IngestReport, [(description, results), ...])``.
    """
    from xmodal.data.manifest import clip_path, read_manifest
    from xmodal.data.splits import first_per_pair

    world, library_dir = Path(world_dir), Path(library_dir)
    paths: list[Path] = [world / "clips"]
    ingested = None
    if splits is not None:
        rows = first_per_pair([r for r in read_manifest(world) if r.get("split") in splits],
                              per_pair)  # fmt: skip
        if not rows:
            raise ValueError(f"{world}: no clips in the splits {list(splits)}")
        paths, ingested = [clip_path(world, r) for r in rows], [r["id"] for r in rows]
    with Library.open(library_dir, model=model) as lib:
        if lib.needs_reindex is not None:
            lib.reindex(model, frozen_only=model is None, workers=workers, progress=progress)
        report = lib.add(paths, workers=workers, progress=progress)
        queries = library_dir.parent / "library-queries"
        return report, demo_searches(lib, world, queries, k=k, ingested=ingested)

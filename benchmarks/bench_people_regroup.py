"""Benchmark regrouping a library's people: reading every face, and clustering them.

After every ``library add`` and ``remove`` the library regroups its faces into people
(:func:`xmodal.library.people.update_people`). This builds a LanceDB library of ``--entries``
made-up videos (``--segments`` segments each, one face per segment, ``--people`` people) and
times, in the same run:

* reading every face with one scan of the faces column (``Store.iter_faces``, what the library
  does), against reading every entry's segments one entry at a time (``Store.segments``, with
  their vectors: the baseline);
* clustering them (dlib's Chinese whispers at the library's threshold) and the whole regroup;
* after 20 more videos: placing their faces (``add_faces``, what ``library add`` does) against
  regrouping everything (``update_people``).

Usage:
    python benchmarks/bench_people_regroup.py [--entries 2000] [--segments 3] [--people 50]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--segments", type=int, default=3)
    parser.add_argument("--people", type=int, default=50)
    args = parser.parse_args()

    from xmodal.library import people as P
    from xmodal.library.records import FACE_DIM, Entry, Face, LibraryMeta, Segment
    from xmodal.library.store import open_store
    from xmodal.types import Modality

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (args.people, FACE_DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)  # people ~1.4 apart
    meta = LibraryMeta("bench-people", {"video-frozen": 1280, "text-frozen": 384})
    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp) / "lib", meta=meta) as store:
        batch = []
        for i in range(args.entries):
            eid = hashlib.sha256(f"clip-{i}".encode()).hexdigest()
            entry = Entry(eid, f"/videos/clip-{i:05d}.mp4", Modality.VIDEO, 1.7e9 + i, 1.7e9 + i,
                          5.0 * args.segments)  # fmt: skip
            segs = []
            for j in range(args.segments):
                who = int(rng.integers(args.people))
                d = centres[who] + rng.normal(0, 0.1 / np.sqrt(FACE_DIM), FACE_DIM)
                vectors = {"video-frozen": rng.normal(size=1280).astype(np.float32),
                           "text-frozen": rng.normal(size=384).astype(np.float32)}  # fmt: skip
                segs.append(Segment(eid, j, 5.0 * j, 5.0 * j + 5, "words", vectors,
                                    faces=[Face(0, (0.2, 0.2, 0.6, 0.7), 3, 90.0, d)]))  # fmt: skip
            batch.append((entry, segs))
            if len(batch) == 200:
                store.upsert_entries(batch)
                batch = []
        if batch:
            store.upsert_entries(batch)
        store.optimize()

        t0 = time.perf_counter()
        old = [(e.id, s.index) for e in store.iter_entries() for s in store.segments(e.id)
               for _ in s.faces or []]  # fmt: skip
        t_old = time.perf_counter() - t0
        t0 = time.perf_counter()
        new = [(r.key[0], r.key[1]) for r in P.iter_faces(store)]
        t_new = time.perf_counter() - t0
        assert sorted(old) == sorted(new), "both ways must read the same faces"
        t0 = time.perf_counter()
        people = P.update_people(store)
        t_all = time.perf_counter() - t0
        more = []  # then 20 more videos, placed as `library add` places them
        for i in range(args.entries, args.entries + 20):
            eid = hashlib.sha256(f"clip-{i}".encode()).hexdigest()
            entry = Entry(eid, f"/videos/clip-{i:05d}.mp4", Modality.VIDEO, 1.7e9 + i, 1.7e9 + i,
                          5.0)  # fmt: skip
            d = centres[int(rng.integers(args.people))] + rng.normal(0, 0.01, FACE_DIM)
            more.append(
                (
                    entry,
                    [
                        Segment(
                            eid,
                            0,
                            0.0,
                            5.0,
                            "words",
                            {},
                            faces=[Face(0, (0.2, 0.2, 0.6, 0.7), 3, 90.0, d)],
                        )
                    ],
                )
            )
        store.upsert_entries(more)
        t0 = time.perf_counter()
        placed = P.add_faces(store)
        t_add = time.perf_counter() - t0
        t0 = time.perf_counter()
        P.update_people(store)
        t_again = time.perf_counter() - t0
    n = len(new)
    print(
        f"{args.entries} entries, {n} faces, {args.people} people made up; "
        f"regrouped into {len(people.people)}"
    )
    print("| step | seconds | ratio |\n|---|---|---|")
    print(f"| read faces, entry by entry (Store.segments; baseline) | {t_old:.2f} | 1.00 |")
    print(
        f"| read faces, one scan (Store.iter_faces) | {t_new:.2f} | {t_old / t_new:.1f} x faster |"
    )
    print(f"| whole regroup (read, cluster, save) | {t_all:.2f} | |")
    print(f"| 20 more videos: regroup everything | {t_again:.2f} | 1.00 |")
    print(
        f"| 20 more videos: place the new faces (add_faces, what add does) | {t_add:.2f} | "
        f"{t_again / t_add:.1f} x faster |"
    )
    print(f"people after placing: {len(placed.people)}")


if __name__ == "__main__":
    main()

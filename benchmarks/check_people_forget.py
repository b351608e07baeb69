"""Check issue 28's privacy target on real footage: ``library add`` the 32 talking clips, then
``people forget`` one person: no descriptor, face picture or search hit of theirs remains.

The person forgotten is the one of tk06 and tk23 (the same woman in two files). After the
forget this script counts, for that person's files: faces left in the store's segments, face
pictures left under the library, results of a search by a photo of her face that come through
the "person" list, and whether any person still has faces in those files. It prints each count
(all must be 0) and exits 1 if one is not.

Usage:
    python benchmarks/check_people_forget.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HER = ("tk06_w2lgfpgan_kim_7s_raw.mp4", "tk23_w2lgfpgan_kim_lip_synced_gen.mp4")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, default=None, help="build the library here")
    args = parser.parse_args()

    import cv2

    from xmodal.library.library import Library
    from xmodal.media import read_video

    env = os.environ.get("XMODAL_TEST_MEDIA")
    media = (Path(env) if env else REPO.parent / "shared" / "media") / "talking"
    root = args.keep or Path(tempfile.mkdtemp(prefix="xmodal-forget-"))
    try:
        t0 = time.perf_counter()
        with Library.open(root / "library", create=True) as lib:
            report = lib.add([media], progress=False)
            print(report.summary())
            people = lib.people()
            ids = {Path(e.path).name: e.id for e in lib.entries()}
            hers = {ids[n] for n in HER}
            (her,) = [p for p in people if p.picture and p.picture[0] in hers]
            print(f"{len(people)} people in {len(ids)} files; forgetting person {her.id} "
                  f"({her.faces} faces in {her.entries} files)")  # fmt: skip
            photo = root / "photo.jpg"
            (frame,) = read_video(media / HER[0], start=3.0, max_frames=1)
            cv2.imwrite(str(photo), frame[:, :, ::-1])
            before = [r for r in lib.search(photo, k=50) if "person" in r.matched_by]
            lib.forget_person(her.id)
            faces_left = sum(len(s.faces or []) for e in hers for s in lib.segments(e))
            pictures_left = sum(len(list(lib.thumbs.folder(e).glob("face-*.jpg"))) for e in hers)
            hits_left = [r for r in lib.search(photo, k=50) if "person" in r.matched_by]
            owners = [p.id for p in lib.people() if p.picture and p.picture[0] in hers]
        counts = {"photo hits through 'person' before": len(before),
                  "faces left in her files": faces_left,
                  "face pictures left": pictures_left,
                  "photo hits through 'person' after": len(hits_left),
                  "people with faces in her files": len(owners)}  # fmt: skip
        for k, v in counts.items():
            print(f"{k}: {v}")
        print(f"({time.perf_counter() - t0:.0f} s)")
        bad = before == [] or any(v for k, v in counts.items() if "before" not in k)
        sys.exit(1 if bad else 0)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

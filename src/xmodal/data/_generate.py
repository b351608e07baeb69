"""Shared machinery of the synthetic worlds: resumable parallel generation, OpenCV helpers.

A world is a directory holding ``dataset.json`` (what made it), ``clips/`` and, once every clip
is there, ``manifest.jsonl``. :func:`generate_clips` fills it resumably: a world-specific
*builder* writes one clip's MP4 and then its JSON sidecar (its manifest row), each atomically,
so a clip whose two files exist is complete and a rerun after a kill only builds the others.
Clips are built in a pool of processes (forked when this process runs one Python thread, else
spawned), each running OpenCV single-threaded, with a tqdm progress bar; the manifest is
assembled from the sidecars at the end, in the order of the ids.

Used by :mod:`xmodal.data.objects` and :mod:`xmodal.data.talking`. Also here: the tiny
OpenCV helpers both worlds draw with (:func:`cv2_module`, :func:`ellipse`).

Example:
    >>> generate_clips(out, info, ids, build_clip, [(config, i, out) for i in range(n)])
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.data.manifest import read_dataset_info, write_dataset_info, write_manifest
from xmodal.utils import default_workers, read_json
from xmodal.workers import worker_pool


def generate_clips(
    out_dir: str | os.PathLike[str],
    info: dict[str, Any],
    ids: Sequence[str],
    build: Callable[..., object],
    args: Sequence[tuple[Any, ...]],
    *,
    workers: int | None = None,
    progress: bool = True,
    desc: str = "clips",
) -> Path:
    """Generate (or finish generating) a dataset of clips, then write its manifest.

    Clip ``ids[k]`` is made by ``build(*args[k])``, which must write ``clips/{id}.mp4`` and then
    ``clips/{id}.json`` (the clip's manifest row) under ``out_dir``, both atomically; its return
    value is ignored. Clips whose two files already exist are skipped, temp files left by a
    killed run are removed, and ``manifest.jsonl`` is written last from the sidecars, in the
    order of ``ids``.

    Args:
        out_dir: the dataset directory (created if missing).
        info: the dataset's ``dataset.json`` (with a ``kind``); an existing one must equal it.
        ids: every clip's id (no dots), in manifest order.
        build: a module-level function (it is sent to worker processes by reference).
        args: ``build``'s positional arguments for each clip, aligned with ``ids``.
        workers: parallel processes (default: every core); 1 builds in this process.
        progress: show a tqdm progress bar.
        desc: the progress bar's label.

    Returns:
        ``out_dir`` as a Path.

    Raises:
        ValueError: ``workers < 1``, ``ids`` and ``args`` differ in length, or ``out_dir`` holds
            a different dataset or is a non-empty non-dataset folder.
    """
    from tqdm.auto import tqdm

    out = Path(out_dir)
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if len(ids) != len(args):
        raise ValueError(f"{len(ids)} clip ids but {len(args)} argument tuples")
    claim_directory(out, info)
    clips = out / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    remove_stale(clips, ids)
    todo = [k for k, cid in enumerate(ids) if not is_done(clips, cid)]
    bar = tqdm(
        total=len(ids),
        initial=len(ids) - len(todo),
        unit="clip",
        desc=desc,
        disable=not progress,
        dynamic_ncols=True,
    )
    try:
        if workers == 1 or len(todo) <= 1:
            for k in todo:
                build(*args[k])
                bar.update()
        else:
            _build_parallel(build, [args[k] for k in todo], min(workers, len(todo)), bar)
    finally:
        bar.close()
    write_manifest(out, [read_json(clips / f"{cid}.json") for cid in ids])
    return out


def claim_directory(out: Path, info: dict[str, Any]) -> None:
    """Write ``dataset.json``, or check that the existing one describes the same dataset.

    Raises:
        ValueError: ``out`` holds a different dataset (the message names up to four differing
            keys), is a file, or is a non-empty directory without ``dataset.json``.
    """
    if (out / "dataset.json").exists():
        existing = read_dataset_info(out)
        if existing != info:
            keys = sorted(k for k in set(existing) | set(info) if existing.get(k) != info.get(k))
            diffs = "; ".join(f"{k}: {existing.get(k)!r} -> {info.get(k)!r}" for k in keys[:4])
            raise ValueError(
                f"{out} already holds a different dataset ({diffs}); generate into another "
                "directory or delete this one"
            )
        return
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        raise ValueError(
            f"{out}: not empty and not a dataset (no dataset.json); choose an empty or new "
            "directory"
        )
    write_dataset_info(out, info)


def is_done(clips: Path, cid: str) -> bool:
    """Whether clip ``cid`` is complete: its MP4 and its sidecar (written last) both exist."""
    return (clips / f"{cid}.mp4").is_file() and (clips / f"{cid}.json").is_file()


def remove_stale(clips: Path, ids: Sequence[str]) -> None:
    """Delete the temp files a killed run left for these clips (``.{id}.mp4.XXXX.mp4``, ...).

    Those are :func:`xmodal.utils.atomic_path`'s temporaries; other hidden files are kept.
    """
    known = set(ids)
    for path in clips.iterdir():
        if path.name.startswith(".") and path.name[1:].split(".", 1)[0] in known:
            path.unlink(missing_ok=True)


def _build_parallel(
    build: Callable[..., object], jobs: list[tuple[Any, ...]], workers: int, bar: Any
) -> None:
    """Run ``build(*job)`` for every job in ``workers`` worker processes, updating ``bar``
    (they leave with this process if it is killed: :func:`xmodal.workers.worker_pool`)."""
    # fork while this process runs one Python thread: workers start at once, and unguarded
    # scripts and stdin work (spawn re-runs the calling script). A process that has started
    # threads (a server, an executor, a notebook kernel) spawns its workers instead: a forked
    # child inherits the locks those threads held and can hang on one for ever. OpenCV's own
    # pool is made single-threaded while forking: a child forked after it ran threads deadlocks.
    queue = iter(jobs)
    with (
        _opencv_single_threaded(),
        worker_pool(workers, start="auto", initializer=_init_worker) as pool,
    ):
        pending: set[Future] = set()
        try:
            while True:
                for job in itertools.islice(queue, 4 * workers - len(pending)):  # bounded window
                    pending.add(pool.submit(_build_quietly, build, *job))
                if not pending:
                    break
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()  # re-raises a worker's error here
                    bar.update()
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _build_quietly(build: Callable[..., object], *args: Any) -> None:
    """``build(*args)`` in a worker: its result (a row) stays on disk, nothing is sent back."""
    build(*args)


def _init_worker() -> None:
    with contextlib.suppress(ImportError):
        import cv2

        cv2.setNumThreads(1)  # one process per core already


@contextlib.contextmanager
def _opencv_single_threaded() -> Iterator[None]:
    """Run OpenCV (if loaded) with one thread inside the block, then restore its thread count."""
    cv2 = sys.modules.get("cv2")
    if cv2 is None:
        yield
        return
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


# ----------------------------------------------------------------------------- drawing helpers


def cv2_module() -> Any:
    """OpenCV, imported lazily with an actionable error."""
    try:
        import cv2
    except ImportError:
        raise ImportError(
            "the synthetic worlds are drawn with OpenCV: pip install opencv-python-headless "
            "(or xmodal[vision])"
        ) from None
    return cv2


def ellipse(cx: float, cy: float, ax: float, ay: float, n: int = 48) -> np.ndarray:
    """``(n, 2)`` polygon of the ellipse centred at ``(cx, cy)`` with half-axes ``ax``, ``ay``."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + ax * np.cos(t), cy + ay * np.sin(t)], axis=1)  # (n, 2)

"""Discovery: which files of the given paths ingest takes, and why it ignores the others.

Video and audio are taken by suffix (:data:`~xmodal.library.embed.MEDIA_SUFFIXES`), notes by
:data:`~xmodal.library.notes.NOTE_SUFFIXES`. A folder file with another suffix is probed by
content (its headers only, :func:`xmodal.media.probe`) and taken when it holds audio or video
with frames: AIFF, NIST SPHERE, a recorder's own suffix. Images, known non-media and tiny files
are not probed. Each file is then hashed (:func:`hash_files`): its content is its entry id.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from xmodal.library.embed import MEDIA_SUFFIXES
from xmodal.library.notes import NOTE_SUFFIXES
from xmodal.library.records import content_id
from xmodal.types import Modality


def classify(path: Path) -> Modality | None:
    """TEXT for notes, None for media (probed later), by suffix."""
    return Modality.TEXT if path.suffix.lower() in NOTE_SUFFIXES else None


NOT_MEDIA_SUFFIXES: frozenset[str] = frozenset(
    ".pdf .docx .html .htm .json .csv .py .srt .vtt .zip .gz".split()
)
"""Suffixes of folder files ignored without a probe (documents, text, archives), unless
:data:`NOTE_SUFFIXES` lists them by then."""
IMAGE_SUFFIXES: frozenset[str] = frozenset(".jpg .jpeg .png .gif .webp .bmp .tif .tiff".split())
"""Images: ``library add`` does not ingest them (they are ignored, not probed)."""
MIN_MEDIA_BYTES = 512  # smaller folder files are not probed: no recording is that short
_PROBE_THREADS = 4
_IMAGE_FORMATS = frozenset({"image2", "gif", "apng"})  # FFmpeg demuxers; plus every "*_pipe"


def _skip_reason(path: Path, suffix: str) -> str | None:
    """Why a folder file with an unknown suffix is ignored without probing it; None: probe."""
    if suffix in IMAGE_SUFFIXES:
        return "image (not ingested)"
    if suffix in NOT_MEDIA_SUFFIXES:
        return f"unsupported type '{suffix}'"
    try:
        if not path.is_file():
            return "not a regular file"
        if path.stat().st_size < MIN_MEDIA_BYTES:
            return "too small to be media"
    except OSError as e:
        return f"cannot read: {e.strerror or e}"
    return None


def _probe_reason(path: Path) -> str | None:
    """None when ``path`` holds audio or video with frames (read from its headers, like
    :func:`xmodal.media.probe`), else why it is ignored."""
    from xmodal.media import RAW_SUFFIXES, MediaError, probe

    if path.suffix.lower() in RAW_SUFFIXES:
        return f"unsupported type '{path.suffix.lower()}' (headerless PCM)"
    try:
        info = probe(path)
    except MediaError as e:
        return f"not media: {e.reason}"
    except (OSError, ValueError, RuntimeError) as e:  # a demuxer PyAV does not wrap
        return f"not media: {type(e).__name__}: {e}"
    fmt, audio, video = info.format_name, info.audio, info.video
    if fmt == "tty":  # FFmpeg shows .asc/.nfo/.diz text files as ANSI art "video"
        return "not media: a text file"
    if audio is None and video is not None:
        if fmt in _IMAGE_FORMATS or fmt.endswith("_pipe") or video.n_frames == 1:
            return "image (not ingested)"
    length = info.duration or 0.0
    if audio is not None and (audio.duration or length) > 0:
        return None
    if video is not None and (video.n_frames or video.duration or length):
        return None
    return "not media: no audio or video frames"


def discover(
    paths: Iterable[str | os.PathLike[str]],
) -> tuple[list[Path], list[tuple[str, str]], list[tuple[str, str]]]:
    """Expand files and folders into the files to ingest.

    Folder files are taken by suffix (:data:`NOTE_SUFFIXES`, :data:`MEDIA_SUFFIXES`); one with
    another suffix is probed (headers only, in threads) and taken when FFmpeg reads audio or
    video in it (e.g. ``.aiff``, NIST ``.sph``). Images, :data:`NOT_MEDIA_SUFFIXES` and files
    under :data:`MIN_MEDIA_BYTES` are ignored without a probe. Files named explicitly are
    always taken (and probed when ingested).

    Returns:
        ``(files, failed, ignored)``: absolute resolved files (sorted, unique), ``(path,
        reason)`` for paths that do not exist, and ``(path, reason)`` for the folder files not
        taken (sorted by path).
    """
    known = set(NOTE_SUFFIXES) | set(MEDIA_SUFFIXES)  # read now: the note formats may grow
    files: dict[Path, None] = {}
    failed: list[tuple[str, str]] = []
    ignored: dict[Path, str] = {}
    unknown: dict[Path, None] = {}  # folder files to probe
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            failed.append((str(p.absolute()), "no such file or directory"))
            continue
        p = p.resolve()
        if p.is_dir():
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    if name.startswith("."):
                        continue
                    f = Path(root) / name
                    suffix = f.suffix.lower()
                    if suffix in known:
                        if f.is_file():
                            files[f] = None
                        else:
                            ignored[f] = "not a regular file"
                    elif (reason := _skip_reason(f, suffix)) is not None:
                        ignored[f] = reason
                    else:
                        unknown[f] = None
        elif p.is_file():
            files[p] = None
        else:
            failed.append((str(p), "not a regular file"))
    todo = [f for f in unknown if f not in files]
    if todo:
        with ThreadPoolExecutor(min(_PROBE_THREADS, len(todo))) as pool:
            for f, reason in zip(todo, pool.map(_probe_reason, todo), strict=True):
                if reason is None:
                    files[f] = None
                else:
                    ignored[f] = reason
    skipped = sorted((str(f), r) for f, r in ignored.items() if f not in files)
    return sorted(files), failed, skipped


def hash_files(
    files: Sequence[Path], threads: int = 4
) -> tuple[dict[Path, str], list[tuple[str, str]]]:
    """SHA-256 of each file (threads: hashlib releases the GIL).

    Returns:
        ``({path: id}, failed)``.
    """

    def one(p: Path) -> tuple[Path, str | None, str | None]:
        try:
            return p, content_id(p), None
        except OSError as e:
            return p, None, e.strerror or str(e)

    ids: dict[Path, str] = {}
    failed: list[tuple[str, str]] = []
    with ThreadPoolExecutor(max(1, threads)) as pool:
        for p, cid, err in pool.map(one, files):
            if cid is None:
                failed.append((str(p), f"cannot read: {err}"))
            else:
                ids[p] = cid
    return ids, failed

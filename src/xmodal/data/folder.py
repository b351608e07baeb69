"""Folder datasets: a user's own paired media turned into a dataset, without copying the media.

What pairs with what (files are matched by their stem, in the same directory):

- a **video with its audio track** (``talk.mp4``): video + audio;
- a **recording with a transcript or caption file** (``memo.wav`` + ``memo.txt``): audio + text;
- a **video with a caption file** (``clip.mp4`` + ``clip.srt``): video + text, and audio too when
  the video has a sound track.

Caption files are ``.txt`` (used as is, whitespace collapsed), ``.srt`` and ``.vtt`` (cue
numbers, timestamps, headers, notes, styling tags and repeated rolling-caption lines removed);
when several exist for one stem, ``.txt`` wins over ``.srt`` over ``.vtt``. Media that would
have fewer than two modalities (a silent video without captions, a recording without a
transcript), unreadable media and empty captions are listed in ``dataset.json`` under
``skipped`` with the reason, never guessed.

The output directory holds only ``manifest.jsonl`` and ``dataset.json``; each row's ``path``
points at the original file, relative to the output directory (``../../my/media/talk.mp4``),
so moving the output directory and the media together keeps it valid. Rows carry
``modalities`` (which of video/audio/text the clip has), ``text`` when a caption exists,
``duration``, ``source`` (the path below the source folder) and ``caption`` (the caption
file's path below the source folder). Splits are random train/val/test from ``seed``; there is
no ``heldout`` split (folder clips carry no object/action labels).

Example:
    >>> build_folder_dataset("~/Videos/talks", "data/talks", FolderConfig(seed=0))
"""

from __future__ import annotations

import hashlib
import html
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xmodal.data.manifest import write_dataset_info, write_manifest
from xmodal.data.splits import DEFAULT_FRACTIONS, check_fractions, random_split
from xmodal.types import Modality

KIND = "folder"
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg",
                                     ".mpeg", ".ogv")  # fmt: skip
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".m4a", ".aac",
                                     ".opus", ".wma")  # fmt: skip
CAPTION_EXTENSIONS: tuple[str, ...] = (".txt", ".srt", ".vtt")  # in order of preference

_TIMESTAMP = re.compile(r"^\s*(\d+:)?\d{1,2}:\d{2}[.,]\d{1,3}\s*-->")
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")  # <i>, <c.color>, <00:01.000>, {\an8}
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class FolderConfig:
    """How a folder becomes a dataset (stored in ``dataset.json``).

    Attributes:
        seed: seed of the random train/val/test split.
        fractions: (train, val, test) fractions.
        recursive: also look in sub-folders.
    """

    seed: int = 0
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    recursive: bool = True

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        object.__setattr__(self, "fractions", check_fractions(self.fractions))


def caption_to_text(raw: str, suffix: str) -> str:
    """The spoken words of a caption file as one line.

    Args:
        raw: the file's contents.
        suffix: ``".txt"``, ``".srt"`` or ``".vtt"`` (case-insensitive).

    Returns:
        The text, whitespace collapsed; for SRT/VTT without cue numbers, timestamps, the
        ``WEBVTT`` header, ``NOTE``/``STYLE``/``REGION`` blocks, markup tags, and with a line
        repeated by the next cue (rolling captions) kept once.
    """
    suffix = suffix.lower()
    raw = raw.lstrip("\ufeff")
    if suffix == ".txt":
        return _SPACE.sub(" ", raw).strip()
    if suffix not in (".srt", ".vtt"):
        raise ValueError(f"unknown caption format {suffix!r}; expected .txt, .srt or .vtt")
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    lines: list[str] = []
    for block in re.split(r"\n\s*\n", raw):  # cues are separated by blank lines
        block_lines = [line.strip() for line in block.split("\n") if line.strip()]
        if not block_lines:
            continue
        first = block_lines[0].split(" ")[0]
        if suffix == ".vtt" and first in ("WEBVTT", "NOTE", "STYLE", "REGION"):
            continue
        timing = next((i for i, line in enumerate(block_lines) if _TIMESTAMP.match(line)), None)
        if timing is not None:  # drop the cue number / identifier and the timing line
            block_lines = block_lines[timing + 1 :]
        for line in block_lines:
            if line.isdigit():
                continue
            text = _SPACE.sub(" ", html.unescape(_TAG.sub("", line))).strip()
            if text and (not lines or lines[-1] != text):
                lines.append(text)
    return " ".join(lines)


def _find_media(src: Path, recursive: bool) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    media = VIDEO_EXTENSIONS + AUDIO_EXTENSIONS
    found = [
        p
        for p in src.glob(pattern)
        if p.is_file() and p.suffix.lower() in media and not p.name.startswith(".")
    ]
    return sorted(found, key=lambda p: p.relative_to(src).as_posix())


def _caption_for(media: Path) -> Path | None:
    """The caption file beside ``media`` with the same stem (``.txt`` > ``.srt`` > ``.vtt``)."""
    by_suffix: dict[str, Path] = {}
    for candidate in media.parent.glob(f"{glob_escape(media.stem)}.*"):
        suffix = candidate.suffix.lower()
        if candidate.stem == media.stem and suffix in CAPTION_EXTENSIONS and candidate.is_file():
            by_suffix.setdefault(suffix, candidate)
    return next((by_suffix[s] for s in CAPTION_EXTENSIONS if s in by_suffix), None)


def glob_escape(name: str) -> str:
    """Escape ``[``, ``]``, ``*`` and ``?`` so a file name matches itself in ``Path.glob``."""
    return re.sub(r"([\[\]*?])", r"[\1]", name)


def _clip_id(rel: str, taken: set[str]) -> str:
    """A readable, unique id from the media's path below the source folder."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", rel).strip("._-") or "clip"
    cid = base
    if cid in taken:  # two paths that slug the same: disambiguate by a digest of the path
        cid = f"{base}-{hashlib.sha1(rel.encode()).hexdigest()[:8]}"
    taken.add(cid)
    return cid


def scan_folder(src: str | os.PathLike[str], recursive: bool = True) -> tuple[list[dict], list]:
    """Find the paired media in ``src``.

    Args:
        src: the folder of media and caption files.
        recursive: also look in sub-folders.

    Returns:
        ``(items, skipped)``: items are dicts with ``media`` (absolute Path), ``source`` (path
        below ``src``), ``modalities`` (list of :class:`Modality`), ``text`` (or None),
        ``caption`` (path below ``src`` or None) and ``duration``; skipped are
        ``{"source", "reason"}``.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        NotADirectoryError: ``src`` is a file.
    """
    from xmodal.media import MediaError, probe

    src = Path(src).expanduser()
    if not src.exists():
        raise FileNotFoundError(f"{src}: source folder does not exist")
    if not src.is_dir():
        raise NotADirectoryError(f"{src}: not a folder (give the folder that holds the media)")
    src = src.resolve()
    items: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for media in _find_media(src, recursive):
        rel = media.relative_to(src).as_posix()
        try:
            info = probe(media)
        except MediaError as e:
            skipped.append({"source": rel, "reason": e.reason})
            continue
        modalities = []
        if info.video is not None:
            modalities.append(Modality.VIDEO)
        if info.audio is not None:
            modalities.append(Modality.AUDIO)
        caption = _caption_for(media)
        text = None
        if caption is not None:
            try:
                raw = caption.read_text(encoding="utf-8", errors="replace")
            except OSError as e:
                skipped.append({"source": caption.relative_to(src).as_posix(), "reason": str(e)})
                raw = ""
            text = caption_to_text(raw, caption.suffix) or None
            if text is None:
                skipped.append(
                    {"source": caption.relative_to(src).as_posix(), "reason": "empty caption"}
                )
        if text is not None:
            modalities.append(Modality.TEXT)
        if len(modalities) < 2:
            only = modalities[0].value if modalities else "nothing"
            skipped.append(
                {
                    "source": rel,
                    "reason": f"only {only}: a pair needs a video with sound or a caption file "
                    f"({', '.join(CAPTION_EXTENSIONS)}) of the same name",
                }
            )
            continue
        items.append(
            {
                "media": media,
                "source": rel,
                "modalities": modalities,
                "text": text,
                "caption": None if caption is None else caption.relative_to(src).as_posix(),
                "duration": info.duration,
            }
        )
    return items, skipped


def build_folder_dataset(
    src: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: FolderConfig | None = None,
) -> Path:
    """Write ``manifest.jsonl`` + ``dataset.json`` for the paired media in ``src``.

    Args:
        src: the folder of media and caption files (read only; nothing is copied).
        out_dir: the dataset directory to write (created; may not be ``src`` itself).
        config: split seed, fractions, recursion.

    Returns:
        ``out_dir`` as a Path.

    Raises:
        FileNotFoundError / NotADirectoryError: bad ``src``.
        ValueError: no pair was found (the message lists why files were skipped), or
            ``out_dir`` already holds a dataset of another kind.
    """
    from xmodal.data.manifest import dataset_info_path, read_dataset_info

    config = config or FolderConfig()
    out = Path(out_dir).expanduser()
    if dataset_info_path(out).is_file():
        kind = read_dataset_info(out).get("kind")
        if kind != KIND:
            raise ValueError(f"{out}: already holds a {kind!r} dataset; choose another --out")
    items, skipped = scan_folder(src, config.recursive)
    src_abs = Path(src).expanduser().resolve()
    if not items:
        reasons = "; ".join(f"{s['source']}: {s['reason']}" for s in skipped[:5]) or (
            f"no media files ({', '.join(VIDEO_EXTENSIONS + AUDIO_EXTENSIONS)})"
        )
        raise ValueError(f"{src_abs}: no paired media found ({reasons})")
    out.mkdir(parents=True, exist_ok=True)
    out_abs = out.resolve()
    if out_abs == src_abs:
        raise ValueError(f"{out}: write the dataset to another folder than the media's")
    splits = random_split(len(items), config.seed, config.fractions)
    taken: set[str] = set()
    rows = []
    for item, split in zip(items, splits, strict=True):
        row: dict[str, Any] = {
            "id": _clip_id(item["source"], taken),
            "path": os.path.relpath(item["media"], out_abs),
            "split": split,
            "modalities": [m.value for m in item["modalities"]],
        }
        if item["text"] is not None:
            row["text"] = item["text"]
        row.update(duration=item["duration"], source=item["source"], caption=item["caption"])
        rows.append(row)
    counts = {m.value: sum(m in it["modalities"] for it in items) for m in Modality}
    write_manifest(out, rows)
    write_dataset_info(
        out,
        {
            "kind": KIND,
            "source": str(src_abs),
            "seed": config.seed,
            "fractions": list(config.fractions),
            "recursive": config.recursive,
            "clips": len(rows),
            "modalities": counts,
            "splits": {s: splits.count(s) for s in ("train", "val", "test")},
            "skipped": skipped,
        },
    )
    return out


def format_folder_summary(dataset_dir: str | os.PathLike[str]) -> str:
    """One paragraph: clips, modality counts, splits and skipped files of a folder dataset."""
    from xmodal.data.manifest import read_dataset_info

    info = read_dataset_info(dataset_dir)
    mods = ", ".join(f"{k} {v}" for k, v in info["modalities"].items())
    splits = ", ".join(f"{k} {v}" for k, v in info["splits"].items())
    lines = [f"{info['clips']} clips ({mods}); splits: {splits}"]
    if info["skipped"]:
        lines.append(f"skipped {len(info['skipped'])}:")
        lines += [f"  {s['source']}: {s['reason']}" for s in info["skipped"][:20]]
        if len(info["skipped"]) > 20:
            lines.append(f"  ... and {len(info['skipped']) - 20} more (see dataset.json)")
    return "\n".join(lines)

"""TEST DOUBLE — not the real library.

``FakeLibrary`` implements the *contract* of the ``xmodal.library.Library`` facade
(docs/architecture.md, "Library") over a plain dict, so the server's API and pages can be
tested quickly and exhaustively (errors, ranges, auth, uploads) without models. The real
library is exercised by ``test_api.py::test_real_library_*`` and the browser test.

Search semantics here are deliberately simple and deterministic: a text query scores each
segment by the fraction of query words it contains; a file query finds the entry whose
content hash equals the file's.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from xmodal.library.records import Entry, LibraryError
from xmodal.types import Modality

_SUFFIX = {
    ".mp4": Modality.VIDEO,
    ".webm": Modality.VIDEO,
    ".wav": Modality.AUDIO,
    ".mp3": Modality.AUDIO,
    ".txt": Modality.TEXT,
    ".md": Modality.TEXT,
}


@dataclass
class FakeResult:
    """Same fields as ``xmodal.library.SearchResult``."""

    entry_id: str
    path: str
    modality: Modality
    score: float
    start: float | None
    end: float | None
    text: str
    matched_by: list[str]
    rank: int


@dataclass
class FakeReport:
    """Same fields as ``xmodal.library.IngestReport``."""

    added: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class FakeLibrary:
    """In-memory stand-in for ``Library`` (test double)."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.segments: dict[str, list[tuple[float, float, str]]] = {}
        self.queries: list[Any] = []  # every query passed to search, with its kwargs
        self.fail_next: Exception | None = None  # raised by the next call (error paths)

    # -- building ----------------------------------------------------------------------------

    def put(
        self,
        path: Path,
        segments: list[tuple[float, float, str]] | None = None,
        created: str = "2024-05-01T10:00:00",
        text: str | None = None,
    ) -> str:
        """Register an existing file as an entry; returns its id."""
        modality = _SUFFIX[path.suffix.lower()]
        segments = segments or []
        eid = _sha(path)
        ts = datetime.fromisoformat(created).timestamp()
        body = text if text is not None else " ".join(s[2] for s in segments)
        if modality is Modality.TEXT and text is None:
            body = path.read_text()
        duration = max((s[1] for s in segments), default=None)
        self.entries[eid] = Entry(
            id=eid,
            path=str(path.resolve()),
            modality=modality,
            created=ts,
            modified=ts,
            duration=None if modality is Modality.TEXT else duration,
            text=body,
            tags=["demo"],
        )
        self.segments[eid] = segments if modality is not Modality.TEXT else [(0.0, 0.0, body)]
        return eid

    def _maybe_fail(self) -> None:
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc

    # -- the facade's contract -----------------------------------------------------------------

    def add(self, paths: Any, *, progress: bool = True, workers: int | None = None) -> FakeReport:
        self._maybe_fail()
        report = FakeReport()
        for p in paths:
            path = Path(p)
            if path.suffix.lower() not in _SUFFIX:
                report.failed.append((str(path), f"{path}: unsupported file type"))
                continue
            eid = _sha(path)
            if eid in self.entries:
                report.unchanged.append(str(path))
                continue
            words = path.read_text(errors="ignore") if path.suffix == ".txt" else path.stem
            self.put(path, [(0.0, 1.0, words)], created="2024-05-03T09:00:00")
            report.added.append(str(path))
        return report

    def search(
        self,
        query: str | Path,
        *,
        modalities: list[Modality] | None = None,
        since: float | None = None,
        until: float | None = None,
        path_glob: str | None = None,
        k: int = 10,
    ) -> list[FakeResult]:
        self._maybe_fail()
        kwargs = dict(modalities=modalities, since=since, until=until, path_glob=path_glob, k=k)
        if isinstance(query, Path):
            self.queries.append((query, query.exists(), query.read_bytes(), kwargs))
        else:
            self.queries.append((query, kwargs))
        rows: list[tuple[float, Entry, float | None, float | None, str, list[str]]] = []
        for eid, entry in self.entries.items():
            if modalities and entry.modality not in modalities:
                continue
            if since is not None and entry.created < since:
                continue
            if until is not None and entry.created > until:
                continue
            if path_glob and not fnmatch.fnmatchcase(entry.path, path_glob):
                continue
            if isinstance(query, Path):
                if _sha(query) == eid:
                    s0, s1, text = self.segments[eid][0] if self.segments[eid] else (0, 0, "")
                    rows.append((1.0, entry, s0, s1, text, ["joint"]))
                continue
            words = set(re.findall(r"\w+", query.lower()))
            for start, end, text in self.segments[eid]:
                have = set(re.findall(r"\w+", text.lower()))
                score = len(words & have) / max(1, len(words))
                if score > 0:
                    timed = entry.modality is not Modality.TEXT
                    rows.append(
                        (
                            score,
                            entry,
                            start if timed else None,
                            end if timed else None,
                            text,
                            ["fts", "joint"],
                        )
                    )
        rows.sort(key=lambda r: (-r[0], r[1].path, r[2] or 0.0))
        return [
            FakeResult(e.id, e.path, e.modality, s, t0, t1, txt, how, rank)
            for rank, (s, e, t0, t1, txt, how) in enumerate(rows[:k], start=1)
        ]

    def get(self, entry_id: str) -> Entry:
        self._maybe_fail()
        if entry_id not in self.entries:
            raise LibraryError(f"no entry with id {entry_id}")
        return self.entries[entry_id]

    def media_path(self, entry_id: str) -> Path:
        return Path(self.get(entry_id).path)

    def remove(self, entry_id_or_path: str) -> list[Entry]:
        self._maybe_fail()
        entry = self.get(str(entry_id_or_path))
        del self.entries[entry.id]
        return [entry]

    def stats(self) -> dict[str, Any]:
        self._maybe_fail()
        by_mod = {m.value: 0 for m in Modality}
        for e in self.entries.values():
            by_mod[e.modality.value] += 1
        return {
            "backend": "fake",
            "location": "memory",
            "schema_version": 1,
            "model_id": "fake-model",
            "spaces": {"joint": 8},
            "entries": len(self.entries),
            "entries_by_modality": by_mod,
            "segments": sum(len(s) for s in self.segments.values()),
            "vectors": {"joint": sum(len(s) for s in self.segments.values())},
            "duration_s": sum(e.duration or 0.0 for e in self.entries.values()),
            "size_bytes": 12345,
        }

    def timeline(self) -> list[dict[str, Any]]:
        self._maybe_fail()
        days: dict[str, dict[str, Any]] = {}
        for e in self.entries.values():
            day = datetime.fromtimestamp(e.created).strftime("%Y-%m-%d")
            row = days.setdefault(day, {"date": day, "video": 0, "audio": 0, "text": 0})
            row[e.modality.value] += 1
        return [days[d] for d in sorted(days)]

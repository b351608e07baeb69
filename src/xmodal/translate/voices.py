"""Choosing the canonical voice on val: which voice (espeak-ng's or flite's), rate and layout
a listener understands best after the vocoder.

For each candidate :class:`~xmodal.translate.config.CanonicalSpeechConfig`, the canonical
phrase of every pair of the chosen split's clips (``val`` by default: seen pairs only, never a
held-out one) is rendered, taken to log-mel at the pipeline's frame rate and back through
Griffin–Lim, and judged by both listeners (:mod:`xmodal.translate.judges`); the raw rendering
(before the vocoder) is judged by Whisper too. The winner has the highest Whisper both-words
share after the vocoder (ties: the grammar judge's, then the order given).

``xmodal eval voices`` runs it; ``TranslationConfig``'s default voice is its winner on the
demo world's val pairs (docs/studies.md).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xmodal.translate.config import CanonicalSpeechConfig

# [flite:]voice[+variant]:rate:layout, e.g. "en:150:phrase", "en+m1:150:slots" (espeak-ng),
# "flite:kal16:175:slots" (CMU Flite); the fourth round (docs/studies.md)
DEFAULT_CANDIDATES: tuple[str, ...] = (
    "en+m1:150:slots", "flite:kal16:175:slots", "flite:kal16:150:slots", "flite:kal:175:slots",
    "flite:awb:175:slots", "flite:rms:175:slots", "flite:slt:175:slots",
)  # fmt: skip


def parse_candidate(text: str, base: CanonicalSpeechConfig | None = None) -> CanonicalSpeechConfig:
    """``"en-us+m3:150:phrase"`` (espeak-ng) or ``"flite:kal16:175:slots"`` → a
    :class:`CanonicalSpeechConfig` (other fields from ``base``).

    Raises:
        ValueError: not ``[flite:]voice[+variant]:rate[:layout]``.
    """
    parts = text.strip().split(":")
    engine = "flite" if parts[0] == "flite" else "espeak"
    parts = parts[1:] if engine == "flite" else parts
    if len(parts) not in (2, 3) or not parts[0]:
        raise ValueError(f"voice candidate {text!r} is not [flite:]voice[+variant]:rate[:layout]")
    voice, _, variant = parts[0].partition("+")
    try:
        rate = int(parts[1])
    except ValueError:
        raise ValueError(f"voice candidate {text!r}: rate {parts[1]!r} is not an integer") from None
    layout = parts[2] if len(parts) == 3 else (base or CanonicalSpeechConfig()).layout
    return dataclasses.replace(base or CanonicalSpeechConfig(), voice=voice,
                               variant=variant or None, rate=rate, layout=layout,
                               engine=engine)  # fmt: skip


def choose_voice(
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    candidates: Sequence[str] = DEFAULT_CANDIDATES,
    *,
    split: str = "val",
    speech_steps: int | None = None,
    griffin_lim_iters: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Judge every candidate voice on the canonical phrases of ``split``'s pairs.

    Args:
        data: an object-action world.
        out: where ``results.json`` and ``report.md`` go.
        candidates: ``voice[+variant]:rate[:layout]`` strings.
        split: whose pairs are spoken (``val``: choose on val).
        speech_steps: log-mel frames per clip (default: ``TranslationConfig``'s).
        griffin_lim_iters: Griffin–Lim iterations (default: ``TranslationConfig``'s).
        progress: show progress.

    Raises:
        ValueError: a malformed candidate or an espeak-ng voice that does not exist (before any
            judging), or a split without clips.

    Returns:
        ``{"pairs", "speech_steps", "candidates": {text: {"rate", "raw": tally, "vocoded":
        {judge: tally}}}, "best"}`` (also written to ``results.json``).
    """
    from tqdm.auto import tqdm

    from xmodal.data.manifest import read_dataset_info, read_manifest
    from xmodal.data.speech import SpeechError
    from xmodal.evaluation.report import markdown_table
    from xmodal.features import get
    from xmodal.translate.config import TranslationConfig
    from xmodal.translate.judges import Listener, canonical_scores, tally
    from xmodal.translate.speech import CanonicalVoice
    from xmodal.utils import write_json

    configs = [(c, parse_candidate(c)) for c in candidates]  # refuse a bad one before any work
    info, rows = read_dataset_info(data), read_manifest(data)
    pairs = sorted({(r["object"], r["action"]) for r in rows if r.get("split") == split})
    if not pairs:
        raise ValueError(f"{data}: no clips in split {split!r}")
    defaults = TranslationConfig()
    steps = speech_steps or defaults.speech_steps
    iters = griffin_lim_iters or defaults.griffin_lim_iters
    enc = get(defaults.audio_encoder)
    listener = Listener(info)
    t0 = time.perf_counter()
    results: dict[str, Any] = {"split": split, "pairs": [f"{o}:{a}" for o, a in pairs],
                               "speech_steps": steps, "griffin_lim_iters": iters,
                               "candidates": {}}  # fmt: skip
    voices = {}
    for text, cfg in configs:  # every voice built (its words synthesised) before any judging
        try:
            voices[text] = CanonicalVoice.build(info, cfg)
        except SpeechError as e:
            raise ValueError(f"voice candidate {text!r}: {e}") from None
    for text, voice in tqdm(voices.items(), desc="voices", disable=not progress, unit="voice"):
        raw = tally([listener.hear(voice.render(*p), "whisper") for p in pairs], pairs)
        vocoded = canonical_scores(listener, voice, enc, pairs, steps, iters)
        results["candidates"][text] = {"rate": voice.rate, "raw_whisper": raw, "vocoded": vocoded}
    scores = results["candidates"]
    results["best"] = max(scores, key=lambda c: (scores[c]["vocoded"]["whisper"]["both"],
                                                 scores[c]["vocoded"]["grammar"]["both"],
                                                 -candidates.index(c)))  # fmt: skip
    results["seconds"] = round(time.perf_counter() - t0, 1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", results)
    table = []
    for c, s in scores.items():
        w, g = s["vocoded"]["whisper"], s["vocoded"]["grammar"]
        table.append([c, s["rate"], f"{s['raw_whisper']['both']:.2f}", f"{w['object']:.2f}",
                      f"{w['action']:.2f}", f"{w['both']:.2f}", f"{g['both']:.2f}"])  # fmt: skip
    (out / "report.md").write_text("\n".join([
        f"# Canonical voice, chosen on the {split} pairs ({len(pairs)} phrases)", "",
        f"Each phrase rendered, then through log-mel at {steps} frames per clip and Griffin–Lim "
        f"({iters} iterations); Whisper tiny.en free transcription and pocketsphinx under the "
        "25-phrase grammar. Winner by Whisper both-words after the vocoder: "
        f"**{results['best']}**.", "",
        markdown_table(["voice:rate:layout", "rate used", "Whisper both (raw)",
                        "Whisper object", "Whisper action", "Whisper both", "grammar both"], table),
        "", f"Wall time {results['seconds']:.0f} s.", ""]))  # fmt: skip
    return results

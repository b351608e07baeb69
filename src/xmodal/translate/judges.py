"""Judging generated speech: does a listener hear the clip's object and action?

Two listeners (ARCHITECTURE.md, "Phrase accuracy of generated speech"):

- ``"grammar"``: pocketsphinx under a JSGF grammar of the world's 25 canonical phrases. It must
  answer with one of them, so it measures which phrase the speech is closest to.
- ``"whisper"``: free transcription by Whisper tiny.en (:func:`xmodal.features.asr.transcribe`):
  no prompt, no vocabulary hint. It measures whether a person's recogniser understands it.

What a listener heard is read off its words: the **object** is the first of the world's object
words in the transcript, the **action** the first word that only that action's templates use
("rotate", "spin", "turn" and "around" for rotate; "lift" and "up" for up; ...). Scores are the
share of clips whose object, action, or both were heard right, overall and per pair.

Each listener gets two ceilings, judged the same way on the same clips:

- ``vocoder_ceiling``: the clip's canonical phrase itself, at the pipeline's frame rate and
  layout, through the same Griffin–Lim (:func:`~xmodal.translate.speech.speak`): the best the
  output path can carry;
- ``own_audio``: the clip's own soundtrack (espeak voices, templates, rates and onsets that vary).

:func:`speech_scores` is the one function the thesis study, ``xmodal eval translate`` and the
demo judge with.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from xmodal.types import Modality

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from xmodal.translate.config import TranslationConfig
    from xmodal.translate.features import ClipFeatures
    from xmodal.translate.pipeline import TranslationPipeline
    from xmodal.translate.speech import CanonicalVoice

JUDGES: tuple[str, ...] = ("grammar", "whisper")
SOURCES: tuple[str, ...] = ("model", "vocoder_ceiling", "own_audio")
_WORD = re.compile(r"[a-z']+")


@dataclass(frozen=True)
class Heard:
    """What one listener heard in one waveform.

    Attributes:
        text: the transcript ("" when nothing was heard).
        object: the object it names (None: no object word).
        action: the action it names (None: no action word).
    """

    text: str
    object: str | None
    action: str | None


def action_words(info: dict[str, Any]) -> dict[str, set[str]]:
    """The words that only one action's templates use: ``{"rotate": {"rotate", "spin", ...}}``.

    Args:
        info: the world's ``dataset.json`` (``actions``, optionally ``templates``).
    """
    from xmodal.translate.speech import phrase_templates

    templates = phrase_templates(info)
    words = {a: {w for t in templates[a] for w in _WORD.findall(t.replace("{o}", " ").lower())}
             for a in info["actions"]}  # fmt: skip
    return {a: {w for w in ws if all(w not in words[b] for b in words if b != a)}
            for a, ws in words.items()}  # fmt: skip


class Listener:
    """Both judges for one world: the phrase grammar, the object and action words.

    Args:
        info: the world's ``dataset.json``.
        whisper_threads: CTranslate2 threads of Whisper (None: the package default).
    """

    def __init__(self, info: dict[str, Any], whisper_threads: int | None = None) -> None:
        from xmodal.features.asr import phrase_grammar
        from xmodal.translate.speech import canonical_phrases

        self.info = info
        self.phrases = canonical_phrases(info)
        self.grammar = phrase_grammar(list(self.phrases.values()))
        self.objects = list(info["objects"])
        self.actions = action_words(info)
        empty = [a for a, ws in self.actions.items() if not ws]
        if empty:
            raise ValueError(f"actions {empty} share every word with another action's templates")
        self.whisper_threads = whisper_threads

    def parse(self, text: str) -> Heard:
        """Read the object and action off a transcript."""
        words = _WORD.findall(text.lower())
        obj = next((w for w in words if w in self.objects), None)
        action = next((a for w in words for a, ws in self.actions.items() if w in ws), None)
        return Heard(text, obj, action)

    def hear(self, wave: np.ndarray, judge: str) -> Heard:
        """What ``judge`` hears in a 16 kHz waveform."""
        if judge == "grammar":
            from xmodal.features.asr import recognise

            return self.parse(recognise(wave, self.grammar, dither=1e-3).text)
        if judge == "whisper":
            from xmodal.features.asr import transcribe

            text = transcribe(wave, word_timestamps=False, threads=self.whisper_threads).text
            return self.parse(text)
        raise ValueError(f"unknown judge {judge!r}; expected one of {JUDGES}")


def tally(heard: Sequence[Heard], truths: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Object, action and both-words accuracy, overall and per pair.

    Returns:
        ``{"clips", "object", "action", "both", "per_pair": {"obj:act": {"clips", "object",
        "action", "both", "heard": {text: count}}}}`` (accuracies are shares in [0, 1]).
    """
    if len(heard) != len(truths):
        raise ValueError(f"{len(heard)} transcripts for {len(truths)} clips")
    per_pair: dict[str, dict[str, Any]] = {}
    for h, (o, a) in zip(heard, truths, strict=True):
        e = per_pair.setdefault(f"{o}:{a}", {"clips": 0, "object": 0, "action": 0, "both": 0,
                                             "heard": {}})  # fmt: skip
        e["clips"] += 1
        e["object"] += h.object == o
        e["action"] += h.action == a
        e["both"] += h.object == o and h.action == a
        said = h.text.strip() or "(nothing)"
        e["heard"][said] = e["heard"].get(said, 0) + 1
    n = max(1, len(truths))
    out: dict[str, Any] = {"clips": len(truths)}
    for k in ("object", "action", "both"):
        out[k] = sum(e[k] for e in per_pair.values()) / n
    for e in per_pair.values():
        for k in ("object", "action", "both"):
            e[k] = e[k] / e["clips"]
    out["per_pair"] = dict(sorted(per_pair.items()))
    return out


# clips a judging worker takes at a time (a progress step; small enough to share the work out)
CHUNK = 8
Speech = tuple[Any, int]  # (the invertible audio encoder, Griffin–Lim iterations)


def hear_all(
    listener: Listener, items: Sequence[Any], judges: Sequence[str] = JUDGES, *,
    desc: str = "judge", progress: bool = False, pool: Executor | None = None,
    speech: Speech | None = None,
) -> dict[str, list[Heard]]:  # fmt: skip
    """What each judge hears in each of ``items``, in order.

    Args:
        items: 16 kHz waves, or with ``speech`` ``(log-mel, seconds)`` pairs to speak first
            (:func:`~xmodal.translate.speech.speak` with that encoder and that many Griffin–Lim
            iterations) where they are judged.
        pool: speak and judge in these worker processes, :data:`CHUNK` items a task (None:
            here).
    """
    from concurrent.futures import as_completed

    from tqdm.auto import tqdm

    items, judges = list(items), tuple(judges)
    starts = range(0, len(items), CHUNK)
    if pool is None:
        done: Any = ((i, _hear(listener, items[i : i + CHUNK], judges, speech)) for i in starts)
    else:
        futures = {pool.submit(_hear_in_worker, listener.info, items[i : i + CHUNK], judges,
                               speech): i for i in starts}  # fmt: skip
        done = ((futures[f], f.result()) for f in as_completed(futures))
    parts: dict[int, dict[str, list[Heard]]] = {}
    with tqdm(total=len(items), desc=desc, disable=not progress, unit="clip") as bar:
        for i, part in done:
            parts[i] = part
            bar.update(len(items[i : i + CHUNK]))
    return {j: [h for i in starts for h in parts[i][j]] for j in judges}


def judge_waves(
    listener: Listener, waves: Sequence[Any], truths: Sequence[tuple[str, str]],
    judges: Sequence[str] = JUDGES, *, desc: str = "judge", progress: bool = False,
    pool: Executor | None = None, speech: Speech | None = None,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Every judge's :func:`tally` of ``waves`` against their (object, action) (the other
    arguments: :func:`hear_all`)."""
    heard = hear_all(listener, waves, judges, desc=desc, progress=progress, pool=pool,
                     speech=speech)  # fmt: skip
    return {judge: tally(heard[judge], truths) for judge in judges}


_LISTENERS: dict[str, Listener] = {}  # a judging worker's listener, per world


def _hear_in_worker(
    info: dict[str, Any], items: Sequence[Any], judges: tuple[str, ...],
    speech: Speech | None = None,
) -> dict[str, list[Heard]]:  # fmt: skip
    """:func:`_hear` in a worker process, with one :class:`Listener` per world there."""
    import json

    key = json.dumps(info, sort_keys=True, default=str)
    if key not in _LISTENERS:
        _LISTENERS.clear()
        _LISTENERS[key] = Listener(info)
    return _hear(_LISTENERS[key], items, judges, speech)


def _hear(
    listener: Listener, items: Sequence[Any], judges: tuple[str, ...],
    speech: Speech | None = None,
) -> dict[str, list[Heard]]:  # fmt: skip
    """What each judge hears in ``items`` (waves, or log-mel to speak first: ``speech``)."""
    if speech is not None:
        from xmodal.translate.speech import speak

        enc, n_iter = speech
        items = [speak(enc, logmel, seconds, n_iter) for logmel, seconds in items]
    return {judge: [listener.hear(w, judge) for w in items] for judge in judges}


def speech_scores(
    pipe: TranslationPipeline, feats: ClipFeatures, split: str, *,
    judges: Sequence[str] = JUDGES, ceilings: bool | dict[str, Any] = True,
    progress: bool = False, pool: Executor | None = None, per_pair: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Speak every clip of ``split`` with ``pipe`` and judge it, beside both ceilings.

    Args:
        pipe: a fitted pipeline.
        feats: the features of the world the clips come from.
        split: ``train``, ``val``, ``test`` or ``heldout``.
        judges: which listeners (default both).
        ceilings: True: also judge the vocoder ceiling and the clips' own audio
            (:func:`ceiling_scores`); a dict: those already judged; False: neither.
        progress: show progress bars.
        pool: speak and judge in these worker processes (None: here).
        per_pair: only the first this many clips of each pair (None: all).

    Returns:
        ``{"clips", "chance", "judges", "model": {judge: tally}, "vocoder_ceiling": {...},
        "own_audio": {...}}`` (see :func:`tally`); ``{"clips": 0}`` for an empty split.
    """
    rows = feats.split(split, per_pair)
    if not rows:
        return {"clips": 0}
    listener = Listener(feats.info)
    truths = [(r["object"], r["action"]) for r in rows]
    durations = [_duration(r, feats) for r in rows]
    audio = feats.arrays(Modality.AUDIO, rows) if pipe.leaky else None
    logmels = pipe.translate_features(feats.arrays(Modality.VIDEO, rows), audio)
    said = list(zip(logmels, durations, strict=True))
    out: dict[str, Any] = {"clips": len(rows), "chance": 1.0 / len(listener.phrases),
                           "judges": list(judges)}  # fmt: skip
    speech = (pipe.encoder(Modality.AUDIO), pipe.config.griffin_lim_iters)
    out["model"] = judge_waves(listener, said, truths, judges, desc=f"{split} model",
                               progress=progress, pool=pool, speech=speech)  # fmt: skip
    if ceilings is True:
        ceilings = ceiling_scores(feats, split, pipe.config, judges=judges, progress=progress,
                                  pool=pool, per_pair=per_pair)  # fmt: skip
    if ceilings:
        out.update({k: ceilings[k] for k in ("vocoder_ceiling", "own_audio") if k in ceilings})
    return out


def ceiling_scores(
    feats: ClipFeatures, split: str, config: TranslationConfig, *,
    judges: Sequence[str] = JUDGES, own_audio: bool = True, progress: bool = False,
    pool: Executor | None = None, per_pair: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Both ceilings of a split: the canonical phrase at ``config``'s frame rate through the
    vocoder, and (``own_audio``) the clips' own audio. They depend on the world, the split and
    the speech settings only, so one computation serves every pipeline and seed sharing them.

    ``per_pair``: only the first this many clips of each pair (None: all).

    Returns:
        ``{"clips", "vocoder_ceiling": {judge: tally}, "own_audio": {judge: tally}}`` (no
        ``own_audio`` without ``own_audio``).
    """
    from xmodal.features import get
    from xmodal.media import read_audio
    from xmodal.translate.speech import CanonicalVoice

    rows = feats.split(split, per_pair)
    listener = Listener(feats.info)
    truths = [(r["object"], r["action"]) for r in rows]
    voice = CanonicalVoice.build(feats.info, config.canonical)
    vocoded = canonical_scores(listener, voice, get(config.audio_encoder), truths,
                               config.speech_steps, config.griffin_lim_iters, judges,
                               duration=_duration(rows[0], feats) if rows else None,
                               pool=pool)  # fmt: skip
    out = {"clips": len(rows), "vocoder_ceiling": vocoded}
    if own_audio:
        own = [read_audio(feats.dataset_dir / r["path"]) for r in rows]
        out["own_audio"] = judge_waves(listener, own, truths, judges, desc=f"{split} own audio",
                                       progress=progress, pool=pool)  # fmt: skip
    return out


def _duration(row: dict[str, Any], feats: ClipFeatures) -> float:
    return float(row.get("duration") or feats.info.get("duration") or 2.0)


def canonical_scores(
    listener: Listener, voice: CanonicalVoice, enc: Any, truths: Sequence[tuple[str, str]],
    speech_steps: int, n_iter: int, judges: Sequence[str] = JUDGES, *,
    duration: float | None = None, pool: Executor | None = None,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Judge each pair's canonical phrase at ``speech_steps`` through the vocoder (the vocoder
    ceiling), once per pair, counted once for each clip of that pair.

    Args:
        listener: the world's :class:`Listener`.
        voice: the canonical renderer.
        enc: the invertible log-mel encoder.
        truths: ``(object, action)`` of every clip.
        speech_steps: log-mel steps per clip (the translator's output rate).
        n_iter: Griffin–Lim iterations.
        judges: which listeners.
        duration: seconds of speech (default: the voice's clip duration).
    """
    from xmodal.translate.speech import canonical_logmel

    seconds = voice.duration if duration is None else duration
    pairs = list(dict.fromkeys(truths))
    said = [(canonical_logmel(voice, enc, pair, speech_steps), seconds) for pair in pairs]
    heard = hear_all(listener, said, judges, desc="vocoder ceiling", pool=pool,
                     speech=(enc, n_iter))  # fmt: skip
    out = {}
    for judge in judges:
        of_pair = dict(zip(pairs, heard[judge], strict=True))
        out[judge] = tally([of_pair[t] for t in truths], truths)
    return out

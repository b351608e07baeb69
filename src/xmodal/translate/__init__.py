"""Translation: a silent clip in, its spoken description out (the thesis job).

::

    from xmodal.translate import TranslationConfig, TranslationPipeline
    pipe = TranslationPipeline.fit("data/objects", "runs/translate", TranslationConfig(), seed=0)
    wave = TranslationPipeline.load("runs/translate").translate_clip("clip.mp4")

- :mod:`~xmodal.translate.config`: :class:`TranslationConfig`, :class:`CanonicalSpeechConfig`,
  :func:`model_config` (``flat``, ``raw`` or ``structured``);
- :mod:`~xmodal.translate.features`: clip features and the train-only transform;
- :mod:`~xmodal.translate.fit`: :func:`fit_models`, the one fit entry point (the pipeline and
  every thesis-study row train through it);
- :mod:`~xmodal.translate.speech`: canonical targets and the vocoder;
- :mod:`~xmodal.translate.pipeline`: :class:`TranslationPipeline`, a saved run directory.
"""

from xmodal.translate.config import (
    LEAKY_LABEL,
    MODELS,
    PIPELINE_FILE,
    CanonicalSpeechConfig,
    TranslationConfig,
    model_config,
)
from xmodal.translate.features import ClipFeatures, FeatureTransform, load_clip_features
from xmodal.translate.fit import FittedModels, fit_models
from xmodal.translate.pipeline import TranslationPipeline
from xmodal.translate.speech import CanonicalVoice, canonical_phrase, canonical_phrases

__all__ = [
    "LEAKY_LABEL",
    "MODELS",
    "PIPELINE_FILE",
    "CanonicalSpeechConfig",
    "CanonicalVoice",
    "ClipFeatures",
    "FeatureTransform",
    "FittedModels",
    "TranslationConfig",
    "TranslationPipeline",
    "canonical_phrase",
    "canonical_phrases",
    "fit_models",
    "load_clip_features",
    "model_config",
]

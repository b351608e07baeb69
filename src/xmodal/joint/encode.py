"""Encoding with a trained joint space: frozen encoders + fitted preprocessing + JointEmbedding.

::

    space = xmodal.load("runs/joint")                    # JointSpace.load
    v = space.encode_video(["a.mp4", frames])            # (2, E) float32, unit norm
    a = space.encode_audio(waveform)                     # (1, E)
    t = space.encode_text(["rotate the knife", "a pen"]) # (2, E)
    scores = t @ v.T                                     # cosine similarities

How a clip becomes a vector (the same at training and at inference):

1. its modality's **frozen encoder** (``xmodal.features``, by name) gives ``(T, D)`` features;
   text gives one ``(D,)`` vector per string;
2. video and audio are **temporally segmented** to ``segments`` rows (the mean over equal
   segments, :func:`xmodal.features.preprocess.segment`), then, when ``pca_dim`` is set, each
   row is projected by a PCA fitted on the train split's frames only;
3. ``temporal="flatten"`` concatenates the ``segments`` rows into one vector (the order of events —
   left vs right, which word comes first — survives); ``temporal="pool"`` hands the
   ``(segments, D)`` sequence to the head, which pools it (mean or attention, order-free);
4. the modality's **projection head** of :class:`~xmodal.models.joint_embedding.JointEmbedding`
   maps it to the shared, L2-normalised ``width``-d space.

A run directory is the training loop's (``config.json``, ``model.safetensors``,
``best.safetensors``, ``state.pt``, ``metrics.csv``) plus ``joint.json`` (this pipeline's config,
the encoders' names and ids, the modalities, the dataset) and ``preprocess/<modality>/`` (the
fitted transforms). :func:`train_joint` writes one; :meth:`JointSpace.load` reads it back.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from xmodal.joint.config import JointTrainConfig, head_threads
from xmodal.types import Modality

if TYPE_CHECKING:  # heavy imports only for type checkers
    from xmodal.features.base import Encoder
    from xmodal.features.preprocess import Preprocessor
    from xmodal.models.joint_embedding import JointEmbedding

JOINT_FILE = "joint.json"
PREPROCESS_DIRNAME = "preprocess"
FORMAT_VERSION = 1
SEQUENCE_MODALITIES = (Modality.VIDEO, Modality.AUDIO)


class JointSpace:
    """Frozen encoders + fitted preprocessing + a trained :class:`JointEmbedding`.

    Build one with :func:`train_joint` and :meth:`load`; every ``encode_*`` returns
    ``(B, width)`` float32 L2-normalised rows, the same for a batch as one item at a time.

    Args:
        model: the trained joint embedding (eval mode).
        encoders: the frozen encoder of each modality the model has a head for.
        preprocessors: the fitted transform of each sequence modality (None: segmentation only).
        config: the pipeline config it was trained with.
        model_id: a stable id of these weights and settings.
        run_dir: where it was loaded from.
    """

    def __init__(
        self,
        model: JointEmbedding,
        encoders: dict[Modality, Encoder],
        preprocessors: dict[Modality, Preprocessor | None],
        config: JointTrainConfig,
        model_id: str,
        run_dir: Path | None = None,
    ) -> None:
        self.model = model.eval()
        self.encoders = encoders
        self.preprocessors = preprocessors
        self.config = config
        self.model_id = model_id
        self.run_dir = run_dir
        self.batch_size = 64  # items per model forward

    @property
    def width(self) -> int:
        """Width E of the shared space."""
        return int(self.model.config.width)

    @property
    def modalities(self) -> list[Modality]:
        """The modalities this space embeds."""
        return list(self.encoders)

    def __repr__(self) -> str:
        mods = ", ".join(f"{m.value}={e.id}" for m, e in self.encoders.items())
        return f"JointSpace({self.model_id}, width={self.width}, {mods})"

    @classmethod
    def load(cls, run_dir: str | os.PathLike[str], which: Literal["best", "last"] | None = None,
             device: str = "cpu") -> JointSpace:  # fmt: skip
        """Load a run directory written by :func:`train_joint`.

        Args:
            run_dir: the run directory.
            which: ``"best"`` (lowest validation loss) or ``"last"`` weights; None: the run's
                ``config.weights``.
            device: where the projection heads run.

        Raises:
            FileNotFoundError: not a joint-space run (names the missing file).
            ValueError: an encoder no longer has the id it was trained with.
        """
        from xmodal import features
        from xmodal.config import from_dict
        from xmodal.features.preprocess import Preprocessor
        from xmodal.training.checkpoint import BEST_WEIGHTS, LAST_WEIGHTS, load_model
        from xmodal.utils import read_json

        run_dir = Path(run_dir).expanduser()
        spec_file = run_dir / JOINT_FILE
        if not spec_file.is_file():
            what = "does not exist" if not run_dir.exists() else f"has no {JOINT_FILE}"
            raise FileNotFoundError(f"{run_dir}: not a joint-space run ({what}; train one with "
                                    "`xmodal train joint`)")  # fmt: skip
        spec = read_json(spec_file)
        if spec.get("format") != FORMAT_VERSION:
            raise ValueError(f"{spec_file}: unsupported format {spec.get('format')!r}")
        config = from_dict(JointTrainConfig, spec["config"], where=str(spec_file))
        which = which or config.weights
        model = load_model(run_dir, which=which, map_location=device)
        encoders: dict[Modality, Encoder] = {}
        preprocessors: dict[Modality, Preprocessor | None] = {}
        for name, enc_spec in spec["encoders"].items():
            m = Modality.parse(name)
            enc = features.get(enc_spec["name"])
            if enc.id != enc_spec["id"]:
                raise ValueError(
                    f"{spec_file}: the {m.value} encoder {enc_spec['name']!r} now has id "
                    f"{enc.id!r}, the run was trained with {enc_spec['id']!r}"
                )
            encoders[m] = enc
            pre_dir = run_dir / PREPROCESS_DIRNAME / m.value
            preprocessors[m] = Preprocessor.load(pre_dir) if enc_spec.get("pca") else None
        weights = run_dir / (BEST_WEIGHTS if which == "best" else LAST_WEIGHTS)
        return cls(model, encoders, preprocessors, config, _model_id(spec_file, weights), run_dir)

    # ------------------------------------------------------------------------- features

    def prepare(self, modality: Modality | str, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """Frozen features -> the head's input (points 2-3 of the module docstring).

        Args:
            modality: which modality.
            arrays: ``B x (T_i, D)`` encoder features (text: ``B x (D,)`` or ``(1, D)``).

        Returns:
            ``(B, segments * D')`` (flatten), ``(B, segments, D')`` (pool) or ``(B, D)`` (text),
            float32.
        """
        m = Modality.parse(modality)
        if m not in SEQUENCE_MODALITIES:
            return np.stack([np.asarray(a, np.float32).reshape(-1) for a in arrays])  # (B, D)
        return prepare_sequences(arrays, self.config, self.preprocessors.get(m))

    def encode_features(self, modality: Modality | str, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """Embed frozen encoder features (e.g. from the feature cache).

        Args:
            modality: which modality.
            arrays: ``B x (T_i, D)`` features of that modality's encoder (text: ``(D,)`` each).

        Returns:
            ``(B, width)`` float32, L2-normalised.
        """
        import torch

        m = Modality.parse(modality)
        if m not in self.encoders:
            have = ", ".join(x.value for x in self.modalities)
            raise ValueError(f"this joint space has no {m.value} encoder (it has: {have})")
        if len(arrays) == 0:
            return np.zeros((0, self.width), np.float32)
        device = next(self.model.parameters()).device
        out = []
        for s in range(0, len(arrays), self.batch_size):
            x = torch.from_numpy(self.prepare(m, arrays[s : s + self.batch_size]))
            with torch.no_grad(), head_threads():
                out.append(self.model.encode(m, x.to(device)).cpu().numpy())  # (b, E)
        return np.concatenate(out).astype(np.float32)

    # ------------------------------------------------------------------------- raw inputs

    def encode_video(self, video: Any, *, fps: float | None = None) -> np.ndarray:
        """Embed videos.

        Args:
            video: a media path, frames ``(T, H, W, 3)`` uint8 RGB, ``(B, T, H, W, 3)``, or a
                list of paths/frames.
            fps: decode files at this rate (default: the rate the space was trained at).

        Returns:
            ``(B, width)`` float32, L2-normalised (B = 1 for a single video).
        """
        from xmodal.media import read_video

        enc = self._encoder(Modality.VIDEO)
        rate = fps if fps is not None else self.config.fps
        items = _as_items(video, frame_rank=4)
        frames = [x if isinstance(x, np.ndarray) else read_video(x, fps=rate) for x in items]
        return self.encode_features(Modality.VIDEO, _extract_batched(enc, frames))

    def encode_audio(self, audio: Any, *, sample_rate: int | None = None) -> np.ndarray:
        """Embed recordings.

        Args:
            audio: a media path (any container with sound, e.g. a video's track), a mono
                waveform ``(N,)`` float in [-1, 1], ``(B, N)``, or a list of paths/waveforms.
            sample_rate: the waveforms' rate (default: the encoder's, 16 kHz for log-mel);
                ignored for files.

        Returns:
            ``(B, width)`` float32, L2-normalised.
        """
        from xmodal.features import extract_audio

        enc = self._encoder(Modality.AUDIO)
        items = _as_items(audio, frame_rank=1)
        feats = [extract_audio(x, enc, sample_rate=sample_rate) for x in items]
        return self.encode_features(Modality.AUDIO, feats)

    def encode_text(self, text: str | Sequence[str]) -> np.ndarray:
        """Embed sentences.

        Args:
            text: one string or a list of them.

        Returns:
            ``(B, width)`` float32, L2-normalised (B = 1 for one string).
        """
        enc = self._encoder(Modality.TEXT)
        texts = [text] if isinstance(text, str) else list(text)
        if not texts:
            return np.zeros((0, self.width), np.float32)
        feats = enc.extract(texts)  # (B, D)
        return self.encode_features(Modality.TEXT, list(feats))

    def _encoder(self, m: Modality) -> Encoder:
        if m not in self.encoders:
            have = ", ".join(x.value for x in self.modalities)
            raise ValueError(f"this joint space has no {m.value} encoder (it has: {have})")
        return self.encoders[m]


def _as_items(x: Any, frame_rank: int) -> list[Any]:
    """One input or a batch of them -> a list of items (paths or arrays of ``frame_rank``)."""
    if isinstance(x, str | os.PathLike):
        return [x]
    if isinstance(x, np.ndarray):
        if x.ndim == frame_rank:
            return [x]
        if x.ndim == frame_rank + 1:
            return list(x)
        raise ValueError(
            f"expected an array of rank {frame_rank} (one item) or {frame_rank + 1} (a batch), "
            f"got shape {x.shape}"
        )
    if isinstance(x, Sequence):
        return list(x)
    raise TypeError(f"expected a path, an array or a list of them, got {type(x).__name__}")


def _extract_batched(enc: Encoder, frames: list[np.ndarray]) -> list[np.ndarray]:
    """Video features of several clips, batching frames across clips when the encoder can."""
    if not frames:
        return []
    enc.load()
    from xmodal.features.base import check_frames

    return list(enc.extract_batch([check_frames(f) for f in frames]))


def prepare_sequences(
    arrays: Sequence[np.ndarray], config: JointTrainConfig, pre: Preprocessor | None
) -> np.ndarray:
    """Segment (+ fitted PCA) then flatten or keep as sequences (module docstring, 2-3).

    Args:
        arrays: ``B x (T_i, D)`` features.
        config: ``segments`` and ``temporal``.
        pre: the fitted PCA transform, or None for segmentation alone.

    Returns:
        ``(B, segments * D')`` when flattening, else ``(B, segments, D')``; float32.
    """
    from xmodal.features.preprocess import segment

    if pre is not None:
        seqs = pre.transform(list(arrays))  # (B, segments, D')
    else:
        seqs = np.stack([segment(a, config.segments) for a in arrays])  # (B, segments, D)
    if config.temporal == "flatten":
        return seqs.reshape(len(seqs), -1).astype(np.float32)  # (B, segments * D')
    return seqs.astype(np.float32)


def _model_id(spec_file: Path, weights: Path) -> str:
    """``joint-<12 hex>``: a digest of the run's settings and the weights it serves."""
    h = hashlib.sha256(spec_file.read_bytes())
    with weights.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return f"joint-{h.hexdigest()[:12]}"

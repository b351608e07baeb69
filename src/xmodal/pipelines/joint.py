"""The joint space as a product: frozen encoders + fitted preprocessing + a trained JointEmbedding.

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

import contextlib
import hashlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from xmodal.training.loop import TrainConfig
from xmodal.types import Modality

if TYPE_CHECKING:  # heavy imports only for type checkers
    from xmodal.features.base import Encoder
    from xmodal.features.preprocess import Preprocessor
    from xmodal.models.joint_embedding import JointEmbedding

JOINT_FILE = "joint.json"
PREPROCESS_DIRNAME = "preprocess"
FORMAT_VERSION = 1
SEQUENCE_MODALITIES = (Modality.VIDEO, Modality.AUDIO)
# torch threads for the projection heads: their matmuls are small, and on a busy machine extra
# OpenMP threads spin waiting for each other (measured: 1.9 s vs 0.04 s per training step).
HEAD_THREADS = 1


@contextlib.contextmanager
def head_threads(n: int = HEAD_THREADS) -> Iterator[None]:
    """Run the block with ``n`` torch threads, restoring the previous count afterwards."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _default_train() -> TrainConfig:
    return TrainConfig(max_steps=1500, batch_size=128, lr=1e-3, weight_decay=0.01, eval_every=100,
                       log_every=20)  # fmt: skip


@dataclass
class JointTrainConfig:
    """What :func:`train_joint` builds and how it trains it (stored in ``joint.json``)."""

    video: str | None = "efficientnet-lite0"  # video encoder name (None: no video head)
    audio: str | None = "logmel"  # audio encoder name (None: no audio head)
    text: str | None = "minilm"  # text encoder name (None: no text head)
    segments: int = 16  # temporal segments per video/audio clip
    temporal: Literal["flatten", "pool"] = "flatten"  # segments -> one vector, or head pooling
    pca_dim: int | None = 64  # per-frame PCA of video/audio fitted on train (None: keep width)
    fps: float | None = None  # decode video at this rate (None: each file's native rate)
    width: int = 256  # shared embedding width
    hidden_dim: int = 512  # hidden width of each projection head
    num_layers: int = 2  # Linear layers per head
    pooling: Literal["mean", "attention"] = "attention"  # head pooling when temporal="pool"
    dropout: float = 0.1  # dropout inside the heads
    # Which weights the space serves: "last", or "best" (lowest validation loss). On data where
    # many clips share a label (the object world), same-label clips are in-batch negatives, so
    # the validation InfoNCE rises as the space sharpens while retrieval still improves: there
    # "best" stops far too early (measured: held-out audio->video R@1 0.86 best vs 0.93 last).
    weights: Literal["last", "best"] = "last"
    train: TrainConfig = field(default_factory=_default_train)  # the shared loop's settings

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.video, self.audio, self.text)) < 2:
            raise ValueError("a joint space needs encoders for at least two modalities")
        if self.segments < 1:
            raise ValueError(f"segments must be >= 1, got {self.segments}")
        if self.weights not in ("last", "best"):
            raise ValueError(f"weights must be 'last' or 'best', got {self.weights!r}")
        if self.temporal not in ("flatten", "pool"):
            raise ValueError(f"temporal must be 'flatten' or 'pool', got {self.temporal!r}")
        if self.pca_dim is not None and self.pca_dim < 1:
            raise ValueError(f"pca_dim must be >= 1 or None, got {self.pca_dim}")
        if self.fps is not None:
            if not self.fps > 0:
                raise ValueError(f"fps must be > 0 or None, got {self.fps}")
            self.fps = float(self.fps)  # the feature cache keys on it: 4 and 4.0 must agree

    def encoder_names(self) -> dict[Modality, str]:
        """The configured encoder name of each modality."""
        names = {Modality.VIDEO: self.video, Modality.AUDIO: self.audio, Modality.TEXT: self.text}
        return {m: n for m, n in names.items() if n is not None}


# ----------------------------------------------------------------------------- the space


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


# ----------------------------------------------------------------------------- training


class JointFeatures:
    """A map-style dataset of prepared features: one dict per clip for ``compute_loss``.

    Item ``i`` is ``{modality: tensor, f"{modality}_mask": bool}`` for every modality of the
    space; a clip missing a modality has zeros there and its mask False.

    Args:
        inputs: ``{modality: (N, ...) float32}`` prepared inputs (zeros where missing).
        masks: ``{modality: (N,) bool}`` which clips have the modality.
        ids: the N clip ids.
    """

    def __init__(
        self, inputs: dict[Modality, np.ndarray], masks: dict[Modality, np.ndarray], ids: list[str]
    ) -> None:
        import torch

        self.ids = ids
        self.inputs = {m: torch.from_numpy(np.ascontiguousarray(x)) for m, x in inputs.items()}
        self.masks = {m: torch.from_numpy(np.asarray(k, bool)) for m, k in masks.items()}

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[Any, Any]:
        item: dict[Any, Any] = {}
        for m, x in self.inputs.items():
            item[m] = x[i]
            item[f"{m.value}_mask"] = self.masks[m][i]
        return item


def _quiet_log(dataset_dir: Path, rows: list[dict[str, Any]], m: Modality) -> Callable[[str], None]:
    """A cache logger that hides the expected failures of clips that lack ``m``."""
    lacking = {
        f"skipped {dataset_dir / r['path']}:"
        for r in rows
        if "modalities" in r and m.value not in r["modalities"]
    }

    def log(message: str) -> None:
        if not any(message.startswith(p) for p in lacking):
            print(message, file=sys.stderr)

    return log


def load_dataset_features(
    dataset_dir: str | os.PathLike[str],
    encoders: dict[Modality, Encoder],
    *,
    fps: float | None = None,
    progress: bool = True,
) -> dict[Modality, Any]:
    """Extract (or reuse) the cached features of every clip for each encoder.

    Returns:
        ``{modality: FeatureSet}`` (clip ids and their ``(T, D)`` arrays).
    """
    from xmodal.data.manifest import read_manifest
    from xmodal.features.cache import extract_dataset, load_features

    dataset_dir = Path(dataset_dir)
    rows = read_manifest(dataset_dir)
    out = {}
    for m, enc in encoders.items():
        rate = fps if m is Modality.VIDEO else None
        extract_dataset(dataset_dir, enc, fps=rate, progress=progress,
                        log=_quiet_log(dataset_dir, rows, m))  # fmt: skip
        out[m] = load_features(dataset_dir, enc, fps=rate)
    return out


def build_features(
    rows: list[dict[str, Any]],
    feats: dict[Modality, Any],
    prepare: Callable[[Modality, list[np.ndarray]], np.ndarray],
) -> JointFeatures | None:
    """Prepared inputs of the clips in ``rows`` that have two or more modalities (None if none)."""
    keep = [r["id"] for r in rows if sum(r["id"] in fs for fs in feats.values()) >= 2]
    if not keep:
        return None
    inputs, masks = {}, {}
    for m, fs in feats.items():
        has = np.array([cid in fs for cid in keep])
        present = [cid for cid in keep if cid in fs]
        if not present:
            continue
        prepared = prepare(m, fs.arrays(present))  # (n_m, ...)
        full = np.zeros((len(keep), *prepared.shape[1:]), np.float32)  # (N, ...)
        full[has] = prepared
        inputs[m], masks[m] = full, has
    return JointFeatures(inputs, masks, keep)


def train_joint(
    dataset_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: JointTrainConfig | None = None,
    *,
    progress: bool = True,
    resume: bool = True,
) -> Path:
    """Train a joint space on a dataset and save it as a run directory.

    Features come from the cache (extracted on first use); the PCA of each sequence modality is
    fitted on the train split only; the model is initialised from ``config.train.seed`` and
    trained by the shared loop (validation on the val split, resumable); the space serves the
    weights ``config.weights`` names (last, or best validation loss).

    Args:
        dataset_dir: a dataset (object-action world or ``xmodal data folder`` output).
        out_dir: the run directory (created; an unfinished run there resumes).
        config: what to train; defaults to :class:`JointTrainConfig`.
        progress: show progress bars.
        resume: continue an interrupted run in ``out_dir`` (False starts over).

    Returns:
        ``out_dir`` as a Path (load it with :meth:`JointSpace.load` or ``xmodal.load``).

    Raises:
        ValueError: fewer than two modalities with features, or no train clip pairing two.
    """
    from xmodal import features
    from xmodal.config import to_dict
    from xmodal.data.manifest import read_manifest
    from xmodal.features.preprocess import PreprocessConfig, Preprocessor
    from xmodal.models.joint_embedding import JointEmbedding, JointEmbeddingConfig
    from xmodal.training.loop import train
    from xmodal.utils import seed_everything, write_json

    config = config or JointTrainConfig()
    dataset_dir, out = Path(dataset_dir).expanduser(), Path(out_dir).expanduser()
    rows = read_manifest(dataset_dir)
    encoders = {m: features.get(name) for m, name in config.encoder_names().items()}
    feats = load_dataset_features(dataset_dir, encoders, fps=config.fps, progress=progress)
    train_rows = [r for r in rows if r.get("split") == "train"]
    feats = {m: fs for m, fs in feats.items() if any(r["id"] in fs for r in train_rows)}
    if len(feats) < 2:
        have = ", ".join(f"{m.value} ({encoders[m].id})" for m in feats) or "none"
        raise ValueError(f"{dataset_dir}: a joint space needs train clips with features of two "
                         f"modalities; only these have any: {have}")  # fmt: skip
    encoders = {m: encoders[m] for m in feats}
    preprocessors: dict[Modality, Preprocessor | None] = {}
    for m in feats:
        preprocessors[m] = None
        if m in SEQUENCE_MODALITIES and config.pca_dim is not None:
            ids = [r["id"] for r in train_rows if r["id"] in feats[m]]
            pca_dim = min(config.pca_dim, len(ids) * config.segments, feats[m].dim)
            pre_cfg = PreprocessConfig(steps=config.segments, minmax=False, pca_dim=pca_dim)
            pre = Preprocessor(pre_cfg).fit(feats[m].arrays(ids), split="train",
                                            encoder_id=encoders[m].id)  # fmt: skip
            pre.save(out / PREPROCESS_DIRNAME / m.value)
            preprocessors[m] = pre

    def prepare(m: Modality, arrays: list[np.ndarray]) -> np.ndarray:
        if m in SEQUENCE_MODALITIES:
            return prepare_sequences(arrays, config, preprocessors[m])
        return np.stack([np.asarray(a, np.float32).reshape(-1) for a in arrays])

    train_set = build_features(train_rows, feats, prepare)
    if train_set is None or len(train_set) < 2:
        raise ValueError(f"{dataset_dir}: fewer than two train clips have two modalities")
    val_set = build_features([r for r in rows if r.get("split") == "val"], feats, prepare)
    if val_set is not None and len(val_set) < 2:
        val_set = None
    input_dims = {m: int(x.shape[-1]) for m, x in train_set.inputs.items()}
    model_cfg = JointEmbeddingConfig(
        input_dims=input_dims, width=config.width, hidden_dim=config.hidden_dim,
        num_layers=config.num_layers, pooling=config.pooling, dropout=config.dropout,
    )  # fmt: skip
    seed_everything(config.train.seed)  # the heads' initialisation follows the run's seed
    model = JointEmbedding(model_cfg)
    spec = {
        "format": FORMAT_VERSION,
        "kind": "joint",
        "config": to_dict(config),
        "encoders": {
            m.value: {
                "name": config.encoder_names()[m],
                "id": enc.id,
                "dim": enc.dim,
                "pca": preprocessors[m] is not None,
            }
            for m, enc in encoders.items()
        },  # fmt: skip
        "modalities": [m.value for m in encoders],
        "dataset": str(dataset_dir.resolve()),
        "clips": {"train": len(train_set), "val": 0 if val_set is None else len(val_set)},
    }
    write_json(out / JOINT_FILE, spec)
    with head_threads():
        train(model, train_set, val_set, config.train, out, resume=resume, progress=progress,
              extra_config={"pipeline": "joint", "dataset": spec["dataset"]})  # fmt: skip
    return out

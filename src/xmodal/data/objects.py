"""The object-action world: short clips of a drawn object moving, with its spoken description.

Five objects (pen, phone, spoon, knife, fork) perform five actions (left, right, up, down,
rotate). Each clip is one MP4 (H.264 video + AAC speech): the object, drawn with OpenCV as a
recognisable shape (a fork has a handle and 3-4 tines, a knife a blade and a handle, ...), moves
across a textured background while a synthetic voice says what happens ("push the pen to the
left"). This reproduces the thesis's 36,000-clip world (``WorldConfig(size=36000)``).

Everything about clip ``i`` is drawn from ``np.random.default_rng([seed, i])`` (plus a balanced
object-action assignment: the 25 pairs cycle in blocks of 25, each block shuffled from the seed),
so a dataset is identical whatever the number of workers or the order of generation.
Generation is resumable: each clip's MP4 and its JSON sidecar (its manifest row, written after
the MP4) are written atomically; a rerun skips finished clips and ``manifest.jsonl`` is
assembled from the sidecars at the end. Drawing and speaking a clip live in
:mod:`xmodal.data._render_objects` (imported from here); :mod:`xmodal.data._generate` runs
the resumable parallel generation.

Example:
    >>> config = WorldConfig(size=250, seed=0)
    >>> generate("data/objects", config)
    >>> summarize("data/objects")["splits"]       # {"train": ..., "heldout": ...}
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.data._generate import generate_clips
from xmodal.data._render_objects import (
    BACKGROUNDS,
    _footprint,
    _rotation,
    render_clip,
    synthesize_track,
)
from xmodal.data._render_objects import Track as Track  # re-exported: rendering API of the world
from xmodal.data._render_objects import draw_sprite as draw_sprite
from xmodal.data._render_objects import object_track as object_track
from xmodal.data._render_objects import render_background as render_background
from xmodal.data.manifest import read_dataset_info, read_manifest
from xmodal.data.splits import (
    ACTIONS,
    DEFAULT_FRACTIONS,
    DEFAULT_HOLDOUT,
    OBJECTS,
    SPLIT_MODES,
    Pair,
    assign_splits,
    check_fractions,
    format_holdout,
    validate_holdout,
)
from xmodal.utils import write_json

KIND = "objects"
PAIRS: tuple[Pair, ...] = tuple((o, a) for o in OBJECTS for a in ACTIONS)
# Phrase templates per action ("{o}" is the object); the index is stored in each clip's params.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "left": ("move the {o} left", "the {o} goes left", "push the {o} to the left",
             "slide the {o} to the left"),
    "right": ("move the {o} right", "the {o} goes right", "push the {o} to the right",
              "slide the {o} to the right"),
    "up": ("move the {o} up", "the {o} goes up", "push the {o} up", "lift the {o} up"),
    "down": ("move the {o} down", "the {o} goes down", "push the {o} down", "lower the {o}"),
    "rotate": ("rotate the {o}", "turn the {o} around", "spin the {o}", "the {o} rotates"),
}  # fmt: skip
VOICE = "en-us"
# espeak-ng variants used (those present in the installed data, sorted): human-like voices only.
VOICE_VARIANTS: tuple[str, ...] = (
    "f1", "f2", "f3", "f4", "f5", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8",
)  # fmt: skip
# Unit direction of each translation in image coordinates (x right, y down).
DIRECTIONS: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0),
}  # fmt: skip
_PAIR_STREAM = 0xA11  # spawn key of the balanced pair assignment's random stream


@dataclass(frozen=True)
class WorldConfig:
    """Everything that defines an object-action world (stored in ``dataset.json``).

    Attributes:
        size: number of clips (the thesis used 36,000).
        seed: random seed; the same seed and options give identical clips.
        holdout: held-out (object, action) pairs for the compositional split; None means
            :data:`DEFAULT_HOLDOUT` in compositional mode and none in random mode.
        split: ``"compositional"`` (held-out pairs only in ``heldout``) or ``"random"``.
        fractions: (train, val, test) fractions of the non-held-out clips.
        frames: frames per clip.
        fps: frame rate; a clip lasts ``frames / fps`` seconds.
        resolution: frame height and width in pixels.
        sample_rate: audio sample rate (Hz).
    """

    size: int = 2500
    seed: int = 0
    holdout: tuple[Pair, ...] | None = None
    split: str = "compositional"
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    frames: int = 16
    fps: int = 8
    resolution: int = 128
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"size must be >= 1, got {self.size}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.split not in SPLIT_MODES:
            raise ValueError(
                f"unknown split {self.split!r}; expected one of: {', '.join(SPLIT_MODES)}"
            )
        if self.frames < 2:
            raise ValueError(f"frames must be >= 2, got {self.frames}")
        if self.fps < 1:
            raise ValueError(f"fps must be >= 1, got {self.fps}")
        if not 32 <= self.resolution <= 1024:
            raise ValueError(f"resolution must be in 32..1024 pixels, got {self.resolution}")
        if not 8000 <= self.sample_rate <= 48000:
            raise ValueError(f"sample_rate must be in 8000..48000 Hz, got {self.sample_rate}")
        if self.duration < 0.75:
            raise ValueError(
                f"clips of {self.frames} frames at {self.fps} fps last "
                f"{self.duration:.2f} s; the speech needs at least 0.75 s"
            )
        object.__setattr__(self, "fractions", check_fractions(self.fractions))
        holdout = self.holdout
        if holdout is None:
            holdout = DEFAULT_HOLDOUT if self.split == "compositional" else ()
        holdout = tuple((str(o), str(a)) for o, a in holdout)
        if self.split == "random" and holdout:
            raise ValueError("a holdout only applies to the compositional split, not 'random'")
        validate_holdout(holdout)
        object.__setattr__(self, "holdout", holdout)

    @property
    def duration(self) -> float:
        """Clip duration in seconds."""
        return self.frames / self.fps

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (holdout as ``[[object, action], ...]``)."""
        d = dataclasses.asdict(self)
        d["holdout"] = [list(p) for p in self.holdout]
        d["fractions"] = list(self.fractions)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WorldConfig:
        """Inverse of :meth:`to_dict` (unknown keys are ignored, e.g. a whole ``dataset.json``)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if kw.get("holdout") is not None:
            kw["holdout"] = tuple(tuple(p) for p in kw["holdout"])
        if "fractions" in kw:
            kw["fractions"] = tuple(kw["fractions"])
        return cls(**kw)


@dataclass(frozen=True)
class ClipParams:
    """Every generation parameter of one clip; :func:`render_clip` is a pure function of it.

    Positions and lengths are fractions of the frame side; colours are RGB in 0..255.
    """

    index: int
    id: str
    object: str
    action: str
    frames: int
    fps: int
    resolution: int
    sample_rate: int
    color: tuple[int, int, int]  # the object's main colour
    length: float  # the object's long axis, as a fraction of the frame
    tines: int  # a fork's tines (3 or 4); drawn but unused for other objects
    angle: float  # initial orientation (degrees, counter-clockwise on screen)
    start: tuple[float, float]  # (x, y) of the object's centroid at the first frame
    end: tuple[float, float]  # (x, y) at the last frame (== start for rotate)
    distance: float  # path length (fraction of the frame); 0 for rotate
    speed: float  # frame sides per second; 0 for rotate
    rotation: float  # total rotation over the clip (degrees, signed); 0 for translations
    background: str  # one of BACKGROUNDS (or "plain")
    bg_colors: tuple[tuple[int, int, int], tuple[int, int, int]]
    bg_angle: float  # texture direction (degrees)
    bg_period: float  # stripe / checker period (fraction of the frame)
    bg_seed: int  # seed of the blob / noise texture
    brightness: float  # global gain on the frame
    noise: float  # pixel noise std (0..255 units)
    noise_seed: int
    template: int  # index into TEMPLATES[action]
    text: str
    voice: str
    variant: str | None
    rate: int  # words per minute (as spoken: raised if the phrase did not fit)
    pitch: int
    onset_ms: float  # when the speech starts
    gain: float  # peak amplitude of the speech

    @property
    def duration(self) -> float:
        """Clip duration in seconds."""
        return self.frames / self.fps

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClipParams:
        """Inverse of :meth:`to_dict` (e.g. from a manifest row's ``params``)."""
        kw = dict(d)
        for key in ("color", "start", "end"):
            kw[key] = tuple(kw[key])
        kw["bg_colors"] = tuple(tuple(c) for c in kw["bg_colors"])
        return cls(**kw)


def phrase(obj: str, action: str, template: int = 0) -> str:
    """The spoken description, e.g. ``phrase("knife", "rotate", 1) == "turn the knife around"``."""
    return TEMPLATES[action][template].format(o=obj)


def clip_id(index: int) -> str:
    """``"obj-000042"`` for index 42."""
    return f"obj-{index:06d}"


def voice_variants() -> tuple[str, ...]:
    """The variants clips are spoken with: :data:`VOICE_VARIANTS` present in espeak's data."""
    from xmodal.data.speech import list_variants

    available = set(list_variants())
    variants = tuple(sorted(v for v in VOICE_VARIANTS if v in available))
    if not variants:
        raise RuntimeError(f"none of the voice variants {VOICE_VARIANTS} is installed")
    return variants


def clip_pair(seed: int, index: int) -> Pair:
    """The (object, action) of clip ``index``: the 25 pairs cycle in blocks, each block shuffled."""
    block, pos = divmod(index, len(PAIRS))
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_PAIR_STREAM, block)))
    return PAIRS[int(rng.permutation(len(PAIRS))[pos])]


def clip_pairs(config: WorldConfig) -> list[Pair]:
    """The (object, action) of every clip, in index order (as :func:`clip_pair`)."""
    pairs: list[Pair] = []
    for block in range(math.ceil(config.size / len(PAIRS))):
        seq = np.random.SeedSequence(config.seed, spawn_key=(_PAIR_STREAM, block))
        pairs += [PAIRS[int(k)] for k in np.random.default_rng(seq).permutation(len(PAIRS))]
    return pairs[: config.size]


def clip_splits(config: WorldConfig) -> list[str]:
    """The split of every clip, in index order."""
    pairs = clip_pairs(config)
    return assign_splits(pairs, config.split, config.holdout, config.seed, config.fractions)


def sample_params(
    config: WorldConfig, index: int, variants: tuple[str, ...] | None = None
) -> ClipParams:
    """Draw clip ``index``'s parameters from ``np.random.default_rng([seed, index])``.

    Args:
        config: the world.
        index: clip index in ``0..size-1``.
        variants: the voice variants to draw from (default :func:`voice_variants`).

    Returns:
        The clip's parameters (the speaking rate and onset may still be adjusted by
        :func:`synthesize_track` if the phrase does not fit the clip).
    """
    if not 0 <= index < config.size:
        raise ValueError(f"clip index {index} is outside 0..{config.size - 1}")
    variants = voice_variants() if variants is None else variants
    obj, action = clip_pair(config.seed, index)
    rng = np.random.default_rng([config.seed, index])
    color = _object_color(rng)
    length = float(rng.uniform(0.42, 0.58))
    tines = int(rng.integers(3, 5))
    angle = float(rng.uniform(-25.0, 25.0) + 180.0 * rng.integers(0, 2))
    distance = float(rng.uniform(0.22, 0.38))
    rotation = float(rng.uniform(180.0, 360.0) * rng.choice([-1.0, 1.0]))
    # Keep the object in frame: bound the centroid's path by the object's extent around it.
    points = _footprint(obj, tines) @ _rotation(angle).T * length  # (K, 2) frame fractions
    low, high = -points.min(axis=0), points.max(axis=0)  # (2,) extent before / after the centroid
    if action == "rotate":
        distance = 0.0
        low = high = np.full(2, np.sqrt((points**2).sum(axis=1)).max())
    dx, dy = DIRECTIONS.get(action, (0.0, 0.0))
    mid = []
    for axis, d in enumerate((dx, dy)):
        lo = 0.02 + low[axis] + abs(d) * distance / 2
        hi = 0.98 - high[axis] - abs(d) * distance / 2
        u = rng.uniform()  # drawn even if unused: the stream stays aligned
        mid.append(float(lo + u * (hi - lo)) if hi > lo else float(lo + hi) / 2)
    start = (mid[0] - dx * distance / 2, mid[1] - dy * distance / 2)
    end = (mid[0] + dx * distance / 2, mid[1] + dy * distance / 2)
    background = str(rng.choice(BACKGROUNDS))
    bg_colors = _background_colors(rng, color)
    bg_angle = float(rng.uniform(0.0, 180.0))
    bg_period = float(rng.uniform(0.08, 0.25))
    bg_seed = int(rng.integers(2**31))
    brightness = float(rng.uniform(0.8, 1.15))
    noise = float(rng.uniform(0.0, 6.0))
    noise_seed = int(rng.integers(2**31))
    template = int(rng.integers(len(TEMPLATES[action])))
    variant = str(variants[int(rng.integers(len(variants)))])
    rate = int(rng.integers(140, 221))
    pitch = int(rng.integers(30, 71))
    onset_ms = float(rng.uniform(40.0, 300.0))
    gain = float(rng.uniform(0.5, 0.9))
    return ClipParams(
        index=index,
        id=clip_id(index),
        object=obj,
        action=action,
        frames=config.frames,
        fps=config.fps,
        resolution=config.resolution,
        sample_rate=config.sample_rate,
        color=color,
        length=length,
        tines=tines,
        angle=angle,
        start=(round(start[0], 6), round(start[1], 6)),
        end=(round(end[0], 6), round(end[1], 6)),
        distance=distance,
        speed=distance * config.fps / (config.frames - 1),
        rotation=rotation if action == "rotate" else 0.0,
        background=background,
        bg_colors=bg_colors,
        bg_angle=bg_angle,
        bg_period=bg_period,
        bg_seed=bg_seed,
        brightness=brightness,
        noise=noise,
        noise_seed=noise_seed,
        template=template,
        text=phrase(obj, action, template),
        voice=VOICE,
        variant=variant,
        rate=rate,
        pitch=pitch,
        onset_ms=onset_ms,
        gain=gain,
    )


def _luminance(rgb: np.ndarray) -> float:
    return float(np.dot(rgb, [0.299, 0.587, 0.114]))


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    return v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)  # (3,) in [0, 1]


def _object_color(rng: np.random.Generator) -> tuple[int, int, int]:
    rgb = _hsv_to_rgb(rng.uniform(), rng.uniform(0.45, 0.95), rng.uniform(0.55, 1.0))
    return tuple(int(round(c * 255)) for c in rgb)


def _background_colors(
    rng: np.random.Generator, color: tuple[int, int, int]
) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Two background colours whose luminance keeps >= 0.3 away from the object's."""
    obj_lum = _luminance(np.asarray(color) / 255.0)
    low, high = (0.06, obj_lum - 0.3), (obj_lum + 0.3, 0.94)
    spans = [max(0.0, low[1] - low[0]), max(0.0, high[1] - high[0])]
    u = rng.uniform(0.0, sum(spans))
    lum = low[0] + u if u < spans[0] else high[0] + (u - spans[0])
    tint = _hsv_to_rgb(rng.uniform(), rng.uniform(0.0, 0.4), 1.0)
    base = np.clip(tint * lum / _luminance(tint), 0.0, 1.0)
    away = -1.0 if lum < obj_lum else 1.0  # texture contrast never approaches the object
    second = np.clip(base + away * rng.uniform(0.06, 0.2), 0.0, 1.0)
    return (tuple(int(round(c * 255)) for c in base), tuple(int(round(c * 255)) for c in second))


# ----------------------------------------------------------------------------- dataset


def dataset_info(config: WorldConfig, variants: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The ``dataset.json`` of a world: its config plus everything else that shapes the clips."""
    from xmodal import __version__

    return {
        "kind": KIND,
        **config.to_dict(),
        "duration": config.duration,
        "objects": list(OBJECTS),
        "actions": list(ACTIONS),
        "templates": {a: list(t) for a, t in TEMPLATES.items()},
        "voice": VOICE,
        "variants": list(voice_variants() if variants is None else variants),
        "xmodal_version": __version__,
    }


def build_clip(
    config: WorldConfig,
    index: int,
    split: str,
    out_dir: str | os.PathLike[str],
    variants: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Generate clip ``index`` into ``out_dir/clips``: its MP4, then its sidecar row.

    Both files are written atomically and the sidecar last, so a clip with a sidecar is complete.

    Returns:
        The clip's manifest row.
    """
    from xmodal.media import write_mp4

    params = sample_params(config, index, variants)
    track = synthesize_track(params)  # may raise the rate / move the onset
    frames = render_clip(track.params)  # (T, H, W, 3)
    clips = Path(out_dir) / "clips"
    write_mp4(clips / f"{params.id}.mp4", frames, config.fps, track.audio, config.sample_rate)
    row = {
        "id": params.id,
        "path": f"clips/{params.id}.mp4",
        "split": split,
        "object": params.object,
        "action": params.action,
        "text": params.text,
        "words": track.words,
        "phonemes": track.phonemes,
        "duration": config.duration,
        "params": track.params.to_dict(),
    }
    write_json(clips / f"{params.id}.json", row, indent=None)
    return row


def generate(
    out_dir: str | os.PathLike[str],
    config: WorldConfig,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Generate (or finish generating) an object-action dataset.

    Clips already complete in ``out_dir`` (MP4 and sidecar present) are kept, so a killed run
    resumes where it stopped; ``manifest.jsonl`` is written last, in id order.

    Args:
        out_dir: the dataset directory (created if missing).
        config: the world.
        workers: parallel processes (default: every core); 1 runs in this process.
        progress: show a tqdm progress bar.

    Returns:
        ``out_dir`` as a Path.

    Raises:
        ValueError: ``out_dir`` holds a different world, or is a non-empty non-dataset folder.
    """
    out = Path(out_dir)
    variants = voice_variants()
    splits = clip_splits(config)
    return generate_clips(
        out,
        dataset_info(config, variants),
        [clip_id(i) for i in range(config.size)],
        build_clip,
        [(config, i, splits[i], out, variants) for i in range(config.size)],
        workers=workers,
        progress=progress,
        desc="objects",
    )


def summarize(dataset_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Counts of a generated dataset.

    Returns:
        ``{"clips", "duration" (seconds), "splits": {split: n}, "objects": {object: n},
        "actions": {action: n}, "pairs": {"object:action": n}, "heldout_pairs": [...]}``
        (keys in the world's order; ``heldout_pairs`` lists the pairs with heldout clips).
    """
    from xmodal.data.splits import SPLITS

    rows = read_manifest(dataset_dir)
    info = read_dataset_info(dataset_dir)
    objects = info.get("objects", list(OBJECTS))
    actions = info.get("actions", list(ACTIONS))

    def count(values: list[str], order: list[str]) -> dict[str, int]:
        known = {k: values.count(k) for k in order}
        extra = sorted(set(values) - set(order))
        return {**{k: n for k, n in known.items() if n}, **{k: values.count(k) for k in extra}}

    pairs = [f"{r['object']}:{r['action']}" for r in rows]
    heldout = sorted({p for p, r in zip(pairs, rows, strict=True) if r["split"] == "heldout"})
    return {
        "clips": len(rows),
        "duration": round(sum(float(r.get("duration", 0.0)) for r in rows), 3),
        "splits": count([r["split"] for r in rows], list(SPLITS)),
        "objects": count([r["object"] for r in rows], objects),
        "actions": count([r["action"] for r in rows], actions),
        "pairs": count(pairs, [f"{o}:{a}" for o in objects for a in actions]),
        "heldout_pairs": heldout,
    }


def format_summary(summary: dict[str, Any]) -> str:
    """A few human-readable lines for :func:`summarize`'s output."""

    def line(counts: dict[str, int]) -> str:
        return ", ".join(f"{k} {n}" for k, n in counts.items())

    pair_counts = list(summary["pairs"].values())
    return "\n".join(
        [
            f"clips     {summary['clips']} ({summary['duration'] / 3600:.2f} h)",
            f"splits    {line(summary['splits'])}",
            f"objects   {line(summary['objects'])}",
            f"actions   {line(summary['actions'])}",
            f"pairs     {len(pair_counts)} with {min(pair_counts, default=0)}-"
            f"{max(pair_counts, default=0)} clips each",
            f"held out  {format_holdout(tuple(p.split(':')) for p in summary['heldout_pairs'])}",
        ]
    )

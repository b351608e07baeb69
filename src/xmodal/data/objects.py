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
assembled from the sidecars at the end.

Example:
    >>> config = WorldConfig(size=250, seed=0)
    >>> generate("data/objects", config)
    >>> summarize("data/objects")["splits"]       # {"train": ..., "heldout": ...}
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import math
import os
import sys
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.data.manifest import (
    read_dataset_info,
    read_manifest,
    write_dataset_info,
    write_manifest,
)
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
from xmodal.utils import default_workers, read_json, write_json

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
BACKGROUNDS: tuple[str, ...] = ("gradient", "stripes", "checker", "blobs", "noise")
# Unit direction of each translation in image coordinates (x right, y down).
DIRECTIONS: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0),
}  # fmt: skip
_PAIR_STREAM = 0xA11  # spawn key of the balanced pair assignment's random stream
_SUPERSAMPLE = 4  # sprites are drawn at 4x and area-downsampled (antialiasing)
_RATE_MAX = 450  # espeak's fastest rate (words per minute)


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


# ----------------------------------------------------------------------------- drawing


def _cv2() -> Any:
    """OpenCV, imported lazily with an actionable error."""
    try:
        import cv2
    except ImportError:
        raise ImportError(
            "the object-action world is drawn with OpenCV: pip install opencv-python-headless "
            "(or xmodal[vision])"
        ) from None
    return cv2


def _rounded_rect(x0: float, y0: float, x1: float, y1: float, r: float) -> np.ndarray:
    """(K, 2) polygon of a rectangle with rounded corners (unit coordinates)."""
    r = min(r, (x1 - x0) / 2, (y1 - y0) / 2)
    pts = []
    for cx, cy, a0 in (
        (x1 - r, y0 + r, -90),
        (x1 - r, y1 - r, 0),
        (x0 + r, y1 - r, 90),
        (x0 + r, y0 + r, 180),
    ):
        for a in np.radians(np.linspace(a0, a0 + 90, 7)):
            pts.append((cx + r * np.cos(a), cy + r * np.sin(a)))
    return np.asarray(pts)


def _poly(points: str) -> np.ndarray:
    """(K, 2) polygon from ``"x0,y0 x1,y1 ..."`` (unit coordinates)."""
    return np.array([[float(v) for v in p.split(",")] for p in points.split()])


def _ellipse(cx: float, cy: float, ax: float, ay: float, n: int = 48) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + ax * np.cos(t), cy + ay * np.sin(t)], axis=1)  # (n, 2)


def _tapered(x0: float, w0: float, x1: float, w1: float) -> np.ndarray:
    """(K, 2) handle: width ``w0`` at ``x0`` (rounded end) narrowing to ``w1`` at ``x1``."""
    r = w0 / 2
    cap = [(x0 + r + r * np.cos(a), r * np.sin(a)) for a in np.radians(np.linspace(90, 270, 9))]
    return np.asarray([(x1, -w1 / 2), (x1, w1 / 2), *cap])


def _shapes(obj: str, tines: int) -> list[tuple[np.ndarray, str]]:
    """The object's parts as (polygon (K, 2) in units of its length, shade) in drawing order.

    The long axis is x in [-0.5, 0.5]; y points down. Shades: ``main`` (the clip's colour),
    ``dark``, ``light``, ``metal``, ``screen``, ``ink``.
    """
    if obj == "pen":
        return [
            (_rounded_rect(-0.48, -0.045, 0.31, 0.045, 0.04), "main"),
            (_poly("0.30,-0.045 0.30,0.045 0.45,0.014 0.45,-0.014"), "light"),  # cone
            (_poly("0.45,-0.014 0.45,0.014 0.50,0.0"), "ink"),  # tip
            (_rounded_rect(0.17, -0.05, 0.25, 0.05, 0.01), "dark"),  # grip band
            (_rounded_rect(-0.48, -0.046, -0.40, 0.046, 0.03), "dark"),  # end cap
            (_rounded_rect(-0.43, -0.095, -0.37, -0.03, 0.01), "metal"),  # clip joint
            (_rounded_rect(-0.43, -0.095, -0.08, -0.065, 0.012), "metal"),  # clip
        ]
    if obj == "phone":
        return [
            (_rounded_rect(-0.5, -0.26, 0.5, 0.26, 0.09), "main"),
            (_rounded_rect(-0.39, -0.205, 0.38, 0.205, 0.025), "screen"),
            (_poly("-0.1,-0.205 0.08,-0.205 -0.16,0.205 -0.34,0.205"), "glare"),
            (_ellipse(0.445, 0.0, 0.032, 0.032), "dark"),  # home button
            (_rounded_rect(-0.455, -0.07, -0.43, 0.07, 0.012), "dark"),  # speaker slot
        ]
    if obj == "spoon":
        return [
            (_tapered(-0.5, 0.08, 0.16, 0.03), "main"),
            (_ellipse(0.31, 0.0, 0.19, 0.11), "main"),
            (_ellipse(0.32, 0.0, 0.145, 0.077), "light"),  # the bowl's hollow
        ]
    if obj == "knife":
        blade = _poly("-.10,-.05 .38,-.05 .50,-.045 .47,-.01 .40,.035 .28,.065 -.10,.07")
        edge = _poly("-.08,.055 .28,.052 .40,.027 .46,-.012 .47,-.01 .40,.035 .28,.065 -.08,.07")
        return [
            (blade, "metal"),
            (edge, "light"),  # the sharpened edge
            (_rounded_rect(-0.135, -0.06, -0.085, 0.075, 0.01), "dark"),  # bolster
            (_rounded_rect(-0.5, -0.055, -0.12, 0.07, 0.045), "main"),  # handle
            (_ellipse(-0.42, 0.008, 0.016, 0.016), "metal"),  # rivets
            (_ellipse(-0.30, 0.008, 0.016, 0.016), "metal"),
            (_ellipse(-0.18, 0.008, 0.016, 0.016), "metal"),
        ]
    if obj == "fork":
        head = _poly("0.0,-0.022 0.1,-0.11 0.22,-0.12 0.22,0.12 0.1,0.11 0.0,0.022")
        parts = [(_tapered(-0.5, 0.08, 0.02, 0.036), "main"), (head, "main")]
        width = 0.24 / (2 * tines - 1)  # tines as wide as the gaps between them
        for k in range(tines):
            y0 = -0.12 + 2 * k * width  # (tine, gap) pairs across the head
            parts.append((_rounded_rect(0.2, y0, 0.5, y0 + width, width / 2), "main"))
        return parts
    raise ValueError(f"unknown object {obj!r}; expected one of: {', '.join(OBJECTS)}")


def draw_sprite(
    obj: str, color: tuple[int, int, int], length_px: float, tines: int = 4
) -> tuple[np.ndarray, tuple[float, float]]:
    """Draw an object lying along +x, antialiased, with a thin dark rim.

    Args:
        obj: one of :data:`OBJECTS`.
        color: the main colour, RGB 0..255.
        length_px: the object's long axis in output pixels.
        tines: a fork's tine count.

    Returns:
        ``(h, w, 4)`` float32 premultiplied RGBA in [0, 1], and the (x, y) pixel position of its
        alpha centroid (the pivot for rotations).
    """
    cv2 = _cv2()

    s = _SUPERSAMPLE
    main = np.asarray(color, dtype=np.float64) / 255.0
    shades = {
        "main": main,
        "dark": main * 0.55,
        "light": main + (1.0 - main) * 0.45,
        "metal": 0.35 * main + 0.65 * np.array([0.78, 0.80, 0.84]),
        "screen": np.array([0.07, 0.09, 0.15]),
        "glare": np.array([0.16, 0.19, 0.27]),
        "ink": np.array([0.12, 0.12, 0.14]),
    }
    rim = max(0.5, length_px / 140.0)  # output pixels; thin, so it never fills a tine gap
    pad = int(math.ceil(rim)) + 2
    w = int(math.ceil(length_px)) + 2 * pad
    h = int(math.ceil(length_px * 0.56)) + 2 * pad
    rgb = np.zeros((h * s, w * s, 3), np.uint8)
    mask = np.zeros((h * s, w * s), np.uint8)
    origin = np.array([w / 2, h / 2]) * s
    for poly, shade in _shapes(obj, tines):
        pts = np.round((poly * length_px * s + origin) * 16).astype(np.int32)  # 4 bits subpixel
        colour = tuple(int(round(c * 255)) for c in np.clip(shades[shade], 0, 1))
        cv2.fillPoly(rgb, [pts], colour, lineType=cv2.LINE_8, shift=4)
        cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_8, shift=4)
    k = 2 * int(round(rim * s)) + 1
    outline = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    rim_colour = (main * 0.3 * 255).astype(np.uint8)
    rgb[(outline > 0) & (mask == 0)] = rim_colour
    rgba = np.dstack([rgb, outline]).astype(np.float32) / 255.0  # (h*s, w*s, 4), premultiplied
    rgba = cv2.resize(rgba, (w, h), interpolation=cv2.INTER_AREA)  # (h, w, 4)
    alpha = rgba[..., 3]
    ys, xs = np.mgrid[0:h, 0:w]
    total = alpha.sum()
    pivot = (float((alpha * (xs + 0.5)).sum() / total), float((alpha * (ys + 0.5)).sum() / total))
    return rgba, pivot


def render_background(params: ClipParams) -> np.ndarray:
    """The clip's static background, ``(H, W, 3)`` float32 in [0, 1]."""
    cv2 = _cv2()

    n = params.resolution
    c0, c1 = (np.asarray(c, np.float32) / 255.0 for c in params.bg_colors)
    coords = (np.arange(n, dtype=np.float32) + 0.5) / n
    x, y = coords[None, :], coords[:, None]  # (1, W), (H, 1)
    a = math.radians(params.bg_angle)
    u = x * math.cos(a) + y * math.sin(a)  # (H, W) along the texture direction
    v = -x * math.sin(a) + y * math.cos(a)
    kind = params.background
    if kind == "plain":
        t = np.zeros((n, n), np.float32)
    elif kind == "gradient":
        t = (u - u.min()) / max(float(u.max() - u.min()), 1e-6)
    elif kind == "stripes":
        t = 0.5 + 0.5 * np.tanh(3.0 * np.sin(2 * np.pi * u / params.bg_period))
    elif kind == "checker":
        s = np.sin(np.pi * u / params.bg_period) * np.sin(np.pi * v / params.bg_period)
        t = 0.5 + 0.5 * np.tanh(6.0 * s)
    elif kind == "blobs":
        rng = np.random.default_rng(params.bg_seed)
        t = np.zeros((n, n), np.float32)
        for cx, cy, r, w in zip(
            *rng.uniform([0, 0, 0.06, 0.4], [1, 1, 0.2, 1.0], (6, 4)).T, strict=True
        ):
            t += w * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
        t = np.clip(t, 0.0, 1.0)
    elif kind == "noise":
        rng = np.random.default_rng(params.bg_seed)
        cells = max(2, int(round(1.0 / params.bg_period / 2)))
        grid = rng.uniform(0.0, 1.0, (cells, cells)).astype(np.float32)
        t = np.clip(cv2.resize(grid, (n, n), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
    else:
        raise ValueError(f"unknown background {kind!r}; expected plain or one of {BACKGROUNDS}")
    t = np.asarray(t, np.float32)[..., None]  # (H, W, 1)
    return c0 * (1.0 - t) + c1 * t  # (H, W, 3)


def _rotation(degrees: float) -> np.ndarray:
    """(2, 2) rotation by ``degrees`` counter-clockwise on screen (image y points down)."""
    a = math.radians(degrees)
    return np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])


@functools.lru_cache(maxsize=16)
def _footprint(obj: str, tines: int) -> np.ndarray:
    """(K, 2) the object's pixels relative to its centroid, in units of its length."""
    size = 160.0
    sprite, pivot = draw_sprite(obj, (255, 255, 255), size, tines)
    ys, xs = np.nonzero(sprite[..., 3] > 0.02)
    return (np.stack([xs + 0.5, ys + 0.5], axis=1) - pivot) / size  # (K, 2)


def object_track(params: ClipParams) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame centroid position (pixels) and orientation (degrees).

    Returns:
        ``(T, 2)`` float64 (x, y) pixel centres and ``(T,)`` float64 angles.
    """
    t = np.linspace(0.0, 1.0, params.frames)  # (T,) constant speed
    start, end = np.asarray(params.start), np.asarray(params.end)
    centres = (start + (end - start) * t[:, None]) * params.resolution  # (T, 2)
    angles = params.angle + params.rotation * t  # (T,)
    return centres, angles


def render_clip(params: ClipParams) -> np.ndarray:
    """Render a clip's frames.

    Args:
        params: from :func:`sample_params`.

    Returns:
        ``(T, H, W, 3)`` uint8 RGB frames, ``T = params.frames``, ``H = W = params.resolution``.
    """
    cv2 = _cv2()

    n, gain = params.resolution, np.float32(params.brightness * 255.0)
    sprite, (px, py) = draw_sprite(params.object, params.color, params.length * n, params.tines)
    colour = np.ascontiguousarray(sprite[..., :3]) * gain  # (h, w, 3) premultiplied
    alpha = np.ascontiguousarray(sprite[..., 3])  # (h, w)
    centres, angles = object_track(params)
    frames = np.zeros((params.frames, n, n, 3), np.float32)  # (T, H, W, 3)
    cover = np.zeros((params.frames, n, n), np.float32)  # (T, H, W) object alpha
    h, w = alpha.shape
    corners = np.array([[0.0, 0.0], [w, 0.0], [0.0, h], [w, h]])  # (4, 2) sprite box
    for i, ((cx, cy), deg) in enumerate(zip(centres, angles, strict=True)):
        rot = _rotation(deg)  # (2, 2)
        offset = np.array([cx, cy]) - 0.5 - rot @ np.array([px - 0.5, py - 0.5])  # pixel centres
        # Warp only the frame region the sprite can cover (its box's image, clipped).
        box = corners @ rot.T + offset  # (4, 2)
        x0, y0 = np.maximum(np.floor(box.min(axis=0)).astype(int) - 1, 0)
        x1, y1 = np.minimum(np.ceil(box.max(axis=0)).astype(int) + 2, n)
        if x1 <= x0 or y1 <= y0:
            continue  # entirely out of frame
        m = np.hstack([rot, (offset - [x0, y0])[:, None]])  # (2, 3) sprite -> region
        for src, dst in ((colour, frames), (alpha, cover)):
            dst[i, y0:y1, x0:x1] = cv2.warpAffine(
                src,
                m,
                (int(x1 - x0), int(y1 - y0)),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            )
    background = render_background(params) * gain  # (H, W, 3)
    np.subtract(1.0, cover, out=cover)
    frames += background * cover[..., None]  # (T, H, W, 3) "over" compositing
    frames += 0.5  # round to nearest on the final truncation
    if params.noise > 0:
        rng = np.random.default_rng(params.noise_seed)
        codes = np.frombuffer(rng.bytes(frames.size), np.uint8).reshape(frames.shape)
        frames += np.take(_gaussian_table() * np.float32(params.noise), codes)
    return np.clip(frames, 0, 255, out=frames).astype(np.uint8)


@functools.lru_cache(maxsize=1)
def _gaussian_table() -> np.ndarray:
    """(256,) float32 standard-normal quantiles: a uniform byte maps to Gaussian noise."""
    from statistics import NormalDist

    normal = NormalDist()
    return np.array([normal.inv_cdf((k + 0.5) / 256) for k in range(256)], np.float32)


# ----------------------------------------------------------------------------- speech


@dataclass
class Track:
    """A clip's audio track: speech placed at its onset, exactly the clip's duration.

    Attributes:
        audio: ``(round(duration * sample_rate),)`` float32 in [-1, 1].
        words: word timings (ms from the clip's start) as manifest dicts.
        phonemes: phoneme timings (ms from the clip's start) as manifest dicts.
        params: the clip's parameters with the rate and onset actually used.
    """

    audio: np.ndarray
    words: list[dict[str, Any]]
    phonemes: list[dict[str, Any]]
    params: ClipParams


def synthesize_track(params: ClipParams) -> Track:
    """Speak the clip's phrase into a track of exactly the clip's duration.

    If the phrase does not fit after its onset, it is re-synthesised at 15% faster rates (up to
    espeak's maximum), and as a last resort the onset is moved earlier.

    Raises:
        ValueError: the phrase does not fit even at the fastest rate with no onset.
    """
    from xmodal.data.speech import synthesize

    sr = params.sample_rate
    n = int(round(params.frames * sr / params.fps))
    rate, onset = params.rate, int(round(params.onset_ms * sr / 1000.0))
    while True:
        speech = synthesize(
            params.text,
            voice=params.voice,
            variant=params.variant,
            rate=rate,
            pitch=params.pitch,
            sample_rate=sr,
        )
        size = len(speech.waveform)
        if onset + size <= n:
            break
        if rate < _RATE_MAX:
            rate = min(_RATE_MAX, int(math.ceil(rate * 1.15)))
            continue
        if size > n:
            raise ValueError(
                f"{params.text!r} takes {size / sr:.2f} s even at the fastest rate; "
                f"clips of {params.duration:.2f} s are too short"
            )
        onset = n - size
        break
    audio = np.zeros(n, np.float32)
    wave = speech.waveform * np.float32(
        params.gain / max(float(np.abs(speech.waveform).max()), 1e-6)
    )
    audio[onset : onset + size] = wave
    onset_ms = 1000.0 * onset / sr
    timings = speech.to_dict()
    for key in ("words", "phonemes"):
        for item in timings[key]:
            item["start_ms"] = round(item["start_ms"] + onset_ms, 3)
            item["end_ms"] = round(item["end_ms"] + onset_ms, 3)
    used = dataclasses.replace(params, rate=rate, onset_ms=onset_ms)
    return Track(audio, timings["words"], timings["phonemes"], used)


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


def _init_worker() -> None:
    _cv2().setNumThreads(1)  # one process per core already


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
    from tqdm.auto import tqdm

    out = Path(out_dir)
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    variants = voice_variants()
    _claim_directory(out, dataset_info(config, variants))
    clips = out / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    for stale in clips.glob(".obj-*"):  # temp files of a killed run
        stale.unlink(missing_ok=True)
    splits = clip_splits(config)
    todo = [i for i in range(config.size) if not _is_done(clips, clip_id(i))]
    bar = tqdm(
        total=config.size,
        initial=config.size - len(todo),
        unit="clip",
        desc="objects",
        disable=not progress,
        dynamic_ncols=True,
    )
    try:
        if workers == 1 or len(todo) <= 1:
            for i in todo:
                build_clip(config, i, splits[i], out, variants)
                bar.update()
        else:
            _generate_parallel(config, todo, splits, out, variants, min(workers, len(todo)), bar)
    finally:
        bar.close()
    rows = [read_json(clips / f"{clip_id(i)}.json") for i in range(config.size)]
    write_manifest(out, rows)
    return out


def _generate_parallel(
    config: WorldConfig,
    todo: list[int],
    splits: list[str],
    out: Path,
    variants: tuple[str, ...],
    workers: int,
    bar: Any,
) -> None:
    import multiprocessing

    # fork: workers start at once, and unguarded scripts, notebooks and stdin work (spawn and
    # forkserver re-run the calling script). The children use nothing of this process's threads
    # (the speech lock is fork-aware), except OpenCV's pool: a child forked after OpenCV ran
    # threads deadlocks, so OpenCV runs single-threaded here while the workers are forked.
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
    queue = iter(todo)
    with (
        _opencv_single_threaded(),
        ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker) as pool,
    ):
        pending: set[Future] = set()
        try:
            while True:
                for i in itertools.islice(queue, 4 * workers - len(pending)):  # bounded window
                    pending.add(pool.submit(_build_quietly, config, i, splits[i], out, variants))
                if not pending:
                    break
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()  # re-raises a worker's error here
                    bar.update()
        except BaseException:
            for future in pending:
                future.cancel()
            raise


@contextlib.contextmanager
def _opencv_single_threaded() -> Iterator[None]:
    """Run OpenCV (if loaded) with one thread inside the block, then restore its thread count."""
    cv2 = sys.modules.get("cv2")
    if cv2 is None:
        yield
        return
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


def _build_quietly(*args: Any) -> None:
    """:func:`build_clip` in a worker: the row stays on disk, nothing is sent back."""
    build_clip(*args)


def _is_done(clips: Path, cid: str) -> bool:
    return (clips / f"{cid}.mp4").is_file() and (clips / f"{cid}.json").is_file()


def _claim_directory(out: Path, info: dict[str, Any]) -> None:
    """Write ``dataset.json``, or check that the existing one describes the same world."""
    if (out / "dataset.json").exists():
        existing = read_dataset_info(out)
        if existing != info:
            keys = sorted(k for k in set(existing) | set(info) if existing.get(k) != info.get(k))
            diffs = "; ".join(f"{k}: {existing.get(k)!r} -> {info.get(k)!r}" for k in keys[:4])
            raise ValueError(
                f"{out} already holds a different dataset ({diffs}); generate into another "
                f"directory or delete this one"
            )
        return
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        raise ValueError(
            f"{out}: not empty and not a dataset (no dataset.json); choose an empty "
            f"or new directory"
        )
    write_dataset_info(out, info)


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

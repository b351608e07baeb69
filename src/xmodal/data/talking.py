"""The talking-head world: drawn faces whose lips follow synthetic speech (audio-visual sync).

Each clip is one MP4 (25 fps H.264 video + 16 kHz AAC speech): a speaker says a random sentence
with espeak-ng, and a face drawn with OpenCV moves its mouth through a **viseme** table (closed
lips for p/b/m, lip-on-teeth for f/v, rounded lips for w/u:/oU, wide open for a/aI, ...) driven
by the phoneme timings, interpolated between phoneme centres and averaged over each frame's
exposure. A **speaker** is a fixed appearance (skin, hair, face shape, eyes, lips, background,
head-motion style, blink rate, pixel noise) plus a voice (espeak variant, pitch, rate), so
held-out speakers test generalisation to new faces and voices: splits are by speaker (test
speakers never appear in train).

The mouth is located without any face detector: each manifest row stores ``mouth_boxes``, one
square ``[x0, y0, x1, y1]`` per frame (side = half the face width, centred on the mouth),
which follows the head's motion.

Everything about clip ``i`` is drawn from ``np.random.default_rng([seed, i])`` and its speaker's
from ``np.random.default_rng([seed, 1, speaker])``, so a dataset is identical whatever the
number of workers. Generation is resumable: each clip's MP4 and then its JSON sidecar (its
manifest row) are written atomically; a rerun skips finished clips, and ``manifest.jsonl`` is
assembled from the sidecars at the end.

Example:
    >>> generate("data/talking", TalkingConfig(size=600, seed=0))
    >>> rows = read_manifest("data/talking"); rows[0]["speaker"], len(rows[0]["mouth_boxes"])
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.data._generate import cv2_module, ellipse, generate_clips
from xmodal.data.splits import check_fractions, random_split
from xmodal.utils import write_json

KIND = "talking"
VOICE = "en-us"
VOICE_VARIANTS: tuple[str, ...] = tuple("f1 f2 f3 f4 f5 m1 m2 m3 m4 m5 m6 m7 m8".split())
MOUTH_SIDE = 0.5
"""Mouth box side as a fraction of the face width (as :mod:`xmodal.features.face` crops)."""
BACKGROUNDS: tuple[str, ...] = ("plain", "gradient", "stripes", "blotches")
_SPEAKER_STREAM = 1  # default_rng([seed, 1, speaker]) never equals a clip's [seed, index]


@dataclass(frozen=True)
class Viseme:
    """A mouth shape.

    Attributes:
        open: lip opening, 0 (closed) .. 1 (wide open).
        width: mouth width relative to the speaker's rest width.
        round: lip rounding / protrusion, 0 .. 1 (narrows and rounds the mouth).
        teeth: how much of the upper teeth shows inside the opening, 0 .. 1.
    """

    open: float
    width: float
    round: float
    teeth: float


VISEMES: dict[str, Viseme] = {
    "rest": Viseme(0.0, 1.0, 0.0, 0.0),
    "closed": Viseme(0.0, 0.93, 0.1, 0.0),  # p b m: lips pressed together
    "labiodental": Viseme(0.1, 1.0, 0.0, 1.0),  # f v: upper teeth on the lower lip
    "dental": Viseme(0.25, 1.0, 0.0, 1.0),  # T D: tongue between the teeth
    "alveolar": Viseme(0.2, 1.05, 0.0, 0.8),  # t d n l s z: narrow, teeth showing
    "postalveolar": Viseme(0.25, 0.88, 0.6, 0.8),  # S Z tS dZ: pouted, teeth showing
    "velar": Viseme(0.38, 1.0, 0.0, 0.3),  # k g N h
    "r": Viseme(0.22, 0.85, 0.7, 0.2),
    "w": Viseme(0.12, 0.68, 1.0, 0.0),
    "j": Viseme(0.25, 1.1, 0.0, 0.6),
    "open": Viseme(0.9, 1.0, 0.0, 0.3),  # a A: aI aU V 0 O:
    "mid": Viseme(0.5, 1.0, 0.0, 0.4),  # E @ 3:
    "spread": Viseme(0.32, 1.18, 0.0, 0.8),  # i: I e eI
    "rounded": Viseme(0.45, 0.74, 0.9, 0.1),  # u: U oU O OI
}
# espeak-ng (en) phoneme mnemonics -> viseme; longer mnemonics fall back to their prefixes
# ("aI@" -> "aI", "t2" -> "t"), stress marks are stripped.
PHONEME_VISEMES: dict[str, str] = {
    **dict.fromkeys(["p", "b", "m"], "closed"),
    **dict.fromkeys(["f", "v"], "labiodental"),
    **dict.fromkeys(["T", "D"], "dental"),
    **dict.fromkeys(["t", "d", "n", "l", "s", "z", "?"], "alveolar"),
    **dict.fromkeys(["S", "Z", "tS", "dZ"], "postalveolar"),
    **dict.fromkeys(["k", "g", "N", "h", "x"], "velar"),
    "r": "r",
    "w": "w",
    "j": "j",
    **dict.fromkeys(["a", "A", "aI", "aU", "V", "0", "O:", "a#", "A:", "O@", "e@", "A@"], "open"),
    **dict.fromkeys(["E", "@", "3", "3:", "@2", "@5", "@L", "O2"], "mid"),
    **dict.fromkeys(["i", "i:", "I", "I2", "I#", "e", "eI", "i@"], "spread"),
    **dict.fromkeys(["u", "u:", "U", "oU", "O", "OI", "o", "U@"], "rounded"),
}
_VOWEL_START = set("aAeEiIoOuUV03@")

# A tiny grammar for random sentences: [det] [adj] noun verb [det] [adj] noun [prep det noun].
_DETS = ("the", "a", "my", "your", "her", "his", "this", "that", "every", "one")
_ADJS = tuple(
    "big small old young happy quiet bright heavy purple warm funny brave lazy round "
    "sharp smooth strange tiny yellow famous gentle hungry empty busy proud".split()
)
_NOUNS = tuple(
    "cat teacher baby farmer robot window garden bottle monkey pilot river cookie wizard "
    "engine violin pocket mother father driver lemon fish boat mirror village doctor "
    "puppy basket whale shoe moon museum orange pumpkin zebra wolf book".split()
)
_VERBS = tuple(
    "found painted watched pushed opened bought chased visited washed moved carried "
    "followed fixed dropped touched shared borrowed measured cleaned loves remembers "
    "throws keeps needs brings catches makes sees".split()
)
_PREPS = ("near", "behind", "under", "with", "beside", "over", "inside", "before", "after")
_CONJ = ("and then", "but", "while", "because", "so")
_SKINS = (
    (255, 224, 196),
    (241, 194, 160),
    (224, 172, 130),
    (198, 134, 95),
    (160, 102, 68),
    (118, 74, 48),
    (233, 200, 180),
    (210, 160, 120),
)
_HAIRS = (
    (30, 24, 20),
    (70, 45, 30),
    (120, 80, 45),
    (190, 150, 90),
    (230, 210, 150),
    (150, 60, 30),
    (110, 110, 110),
    (220, 220, 220),
    (40, 40, 60),
)


@dataclass(frozen=True)
class TalkingConfig:
    """Everything that defines a talking-head world (stored in ``dataset.json``).

    Attributes:
        size: number of clips.
        seed: random seed; the same seed and options give identical clips.
        speakers: number of distinct speakers (appearance + voice); clips cycle over them.
        fractions: (train, val, test) fractions of the **speakers**.
        fps: video frame rate (SyncNet's windows assume 25).
        resolution: frame height and width in pixels.
        sample_rate: audio sample rate (Hz).
        min_words: fewest words per sentence.
        max_words: most words per sentence.
        min_duration: shortest clip (s); shorter sentences get more trailing silence. 3 s
            leaves every ±15-frame offset at least 15 windows to be estimated from.
    """

    size: int = 600
    seed: int = 0
    speakers: int = 30
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
    fps: int = 25
    resolution: int = 96
    sample_rate: int = 16000
    min_words: int = 6
    max_words: int = 10
    min_duration: float = 3.0

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"size must be >= 1, got {self.size}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.speakers < 1:
            raise ValueError(f"speakers must be >= 1, got {self.speakers}")
        if not 1 <= self.fps <= 120:
            raise ValueError(f"fps must be in 1..120, got {self.fps}")
        if not 48 <= self.resolution <= 1024:
            raise ValueError(f"resolution must be in 48..1024 pixels, got {self.resolution}")
        if not 8000 <= self.sample_rate <= 48000:
            raise ValueError(f"sample_rate must be in 8000..48000 Hz, got {self.sample_rate}")
        if not 3 <= self.min_words <= self.max_words:
            raise ValueError(
                f"need 3 <= min_words <= max_words, got {self.min_words}, {self.max_words}"
            )
        if not 0.0 <= self.min_duration <= 60.0:
            raise ValueError(f"min_duration must be in 0..60 s, got {self.min_duration}")
        object.__setattr__(self, "fractions", check_fractions(self.fractions))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        d = dataclasses.asdict(self)
        d["fractions"] = list(self.fractions)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TalkingConfig:
        """Inverse of :meth:`to_dict` (unknown keys, e.g. the rest of ``dataset.json``, ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if "fractions" in kw:
            kw["fractions"] = tuple(kw["fractions"])
        return cls(**kw)


# ----------------------------------------------------------------------------- parameters


def speaker_id(index: int) -> str:
    """``"spk-007"`` for speaker 7."""
    return f"spk-{index:03d}"


def clip_id(index: int) -> str:
    """``"talk-000042"`` for clip 42."""
    return f"talk-{index:06d}"


def speaker_splits(config: TalkingConfig) -> list[str]:
    """The split of every speaker (train/val/test), in speaker order."""
    return random_split(config.speakers, config.seed, config.fractions)


def sample_speaker(config: TalkingConfig, index: int) -> dict[str, Any]:
    """Draw speaker ``index``'s appearance and voice from ``default_rng([seed, 1, index])``.

    Returns:
        JSON-ready parameters; lengths are fractions of the frame side, colours RGB 0..255.
    """
    rng = np.random.default_rng([config.seed, _SPEAKER_STREAM, index])
    skin = np.asarray(_SKINS[int(rng.integers(len(_SKINS)))], float)
    skin = np.clip(skin * rng.uniform(0.9, 1.08) + rng.normal(0, 6, 3), 30, 255)
    face_w = float(rng.uniform(0.52, 0.66))
    lip = np.clip(skin * np.array([0.78, 0.5, 0.5]) + rng.normal(0, 10, 3), 20, 255)
    bg = [rng.integers(20, 236, 3).tolist() for _ in range(2)]
    return {
        "id": speaker_id(index),
        "index": index,
        "skin": [int(c) for c in skin],
        "hair": list(_HAIRS[int(rng.integers(len(_HAIRS)))]),
        "hair_style": int(rng.integers(0, 3)),  # 0 short, 1 long, 2 bald
        "face_w": face_w,
        "face_h": float(min(0.84, face_w * rng.uniform(1.2, 1.38))),
        "eye_dx": float(rng.uniform(0.32, 0.42)),  # half eye spacing / half face width
        "eye_y": float(rng.uniform(-0.22, -0.1)),  # / half face height, from the centre
        "eye_size": float(rng.uniform(0.09, 0.14)),  # / half face width
        "iris": rng.integers(20, 140, 3).tolist(),
        "nose": float(rng.uniform(0.12, 0.22)),
        "mouth_y": float(rng.uniform(0.46, 0.56)),
        "mouth_w": float(rng.uniform(0.34, 0.44)),  # half mouth width / half face width
        "lip": [int(c) for c in lip],
        "lip_thick": float(rng.uniform(0.045, 0.075)),  # / half face height
        "background": str(rng.choice(BACKGROUNDS)),
        "bg_colors": bg,
        "bg_angle": float(rng.uniform(0, 180)),
        "motion_px": float(rng.uniform(0.0, 0.03)),  # translation amplitude / frame side
        "motion_deg": float(rng.uniform(0.0, 6.0)),
        "blink_rate": float(rng.uniform(0.1, 0.5)),  # per second
        "noise": float(rng.uniform(0.0, 5.0)),  # pixel noise std (0..255)
        "audio_noise": float(rng.uniform(0.0, 0.006)),
        "variant": VOICE_VARIANTS[int(rng.integers(len(VOICE_VARIANTS)))],
        "pitch": int(rng.integers(25, 76)),
        "rate": int(rng.integers(140, 186)),
    }


def random_sentence(rng: np.random.Generator, min_words: int, max_words: int) -> str:
    """A random grammatical English sentence of ``min_words..max_words`` words (commas give
    pauses)."""
    target = int(rng.integers(min_words, max_words + 1))
    words: list[str] = []
    while len(words) < target:
        if words:
            words[-1] += ","
            words += str(rng.choice(_CONJ)).split()
        clause = [str(rng.choice(_DETS))]
        if rng.uniform() < 0.5:
            clause.append(str(rng.choice(_ADJS)))
        clause += [str(rng.choice(_NOUNS)), str(rng.choice(_VERBS)), str(rng.choice(_DETS))]
        if rng.uniform() < 0.5:
            clause.append(str(rng.choice(_ADJS)))
        clause.append(str(rng.choice(_NOUNS)))
        if rng.uniform() < 0.4:
            clause += [str(rng.choice(_PREPS)), str(rng.choice(_DETS)), str(rng.choice(_NOUNS))]
        words += clause
    words = words[:target]
    words[-1] = words[-1].rstrip(",")
    return " ".join(words)


def sample_clip(config: TalkingConfig, index: int) -> dict[str, Any]:
    """Draw clip ``index``'s own parameters (not its speaker's) from ``default_rng([seed, i])``."""
    if not 0 <= index < config.size:
        raise ValueError(f"clip index {index} is outside 0..{config.size - 1}")
    rng = np.random.default_rng([config.seed, index])
    return {
        "index": index,
        "id": clip_id(index),
        "speaker": index % config.speakers,
        "text": random_sentence(rng, config.min_words, config.max_words),
        "rate_jitter": int(rng.integers(-10, 11)),
        "lead_ms": float(rng.uniform(150.0, 500.0)),
        "tail_ms": float(rng.uniform(150.0, 450.0)),
        "gain": float(rng.uniform(0.35, 0.9)),
        "motion_seed": int(rng.integers(2**31)),
        "blink_seed": int(rng.integers(2**31)),
        "noise_seed": int(rng.integers(2**31)),
        "brightness": float(rng.uniform(0.9, 1.1)),
    }


# ----------------------------------------------------------------------------- mouth motion


def viseme_of(phoneme: str) -> str:
    """The viseme name of an espeak phoneme mnemonic (stress marks ignored)."""
    p = phoneme.lstrip("',").rstrip(";")
    while p:
        if p in PHONEME_VISEMES:
            return PHONEME_VISEMES[p]
        p = p[:-1]
    return "mid" if phoneme.lstrip("',")[:1] in _VOWEL_START else "alveolar"


def mouth_track(
    phonemes: list[dict[str, Any]], n_frames: int, fps: float, step_ms: float = 2.0
) -> np.ndarray:
    """Mouth shape per frame from phoneme timings.

    Each phoneme's viseme is a keyframe at its centre; pauses longer than 80 ms get ``rest``
    keyframes 40 ms inside them, and the clip starts and ends at rest. Shapes are linearly
    interpolated between keyframes and averaged over each frame's exposure
    ``[k / fps, (k + 1) / fps)``.

    Args:
        phonemes: ``[{"phoneme", "start_ms", "end_ms"}, ...]`` in time order.
        n_frames: T.
        fps: frame rate.
        step_ms: resolution of the averaged track.

    Returns:
        (T, 4) float64 rows ``open, width, round, teeth``.
    """
    rest = dataclasses.astuple(VISEMES["rest"])
    keys: list[tuple[float, tuple[float, ...]]] = [(0.0, rest)]
    prev_end = 0.0
    for p in phonemes:
        start, end = float(p["start_ms"]), float(p["end_ms"])
        if start - prev_end > 80.0:
            keys += [(prev_end + 40.0, rest), (start - 40.0, rest)]
        keys.append(((start + end) / 2, dataclasses.astuple(VISEMES[viseme_of(p["phoneme"])])))
        prev_end = end
    total_ms = 1000.0 * n_frames / fps
    keys += [(min(prev_end + 40.0, total_ms), rest), (total_ms + step_ms, rest)]
    kt = np.array([k[0] for k in keys])  # (K,)
    kv = np.array([k[1] for k in keys])  # (K, 4)
    order = np.argsort(kt, kind="stable")
    kt, kv = kt[order], kv[order]
    per_frame = max(1, int(round(1000.0 / fps / step_ms)))
    t = (np.arange(n_frames * per_frame) + 0.5) * (1000.0 / fps / per_frame)  # (T * S,)
    track = np.stack([np.interp(t, kt, kv[:, c]) for c in range(4)], axis=1)  # (T * S, 4)
    return track.reshape(n_frames, per_frame, 4).mean(axis=1)  # (T, 4)


def head_motion(
    speaker: dict[str, Any], clip: dict[str, Any], n_frames: int, fps: float, resolution: int
) -> np.ndarray:
    """Per-frame head pose: smooth random translation and in-plane rotation.

    Returns:
        (T, 3) rows ``dx, dy`` (pixels) and ``angle`` (degrees).
    """
    rng = np.random.default_rng(clip["motion_seed"])
    t = np.arange(n_frames) / fps  # (T,)
    amp = np.array([speaker["motion_px"] * resolution] * 2 + [speaker["motion_deg"]])  # (3,)
    out = np.zeros((n_frames, 3))
    for _ in range(2):
        freq = rng.uniform(0.15, 0.8, 3)
        phase = rng.uniform(0, 2 * np.pi, 3)
        out += np.sin(2 * np.pi * freq[None, :] * t[:, None] + phase[None, :])  # (T, 3)
    return out / 2 * amp[None, :]


def blinks(speaker: dict[str, Any], clip: dict[str, Any], n_frames: int, fps: float) -> np.ndarray:
    """Per-frame eye openness in [0, 1] with random blinks (close-closed-open over 3 frames)."""
    rng = np.random.default_rng(clip["blink_seed"])
    eye = np.ones(n_frames)
    t = rng.exponential(1.0 / speaker["blink_rate"])
    while t * fps < n_frames:
        k = int(t * fps)
        for j, v in enumerate((0.45, 0.05, 0.5)):
            if k + j < n_frames:
                eye[k + j] = min(eye[k + j], v)
        t += 0.3 + rng.exponential(1.0 / speaker["blink_rate"])
    return eye


# ----------------------------------------------------------------------------- drawing


def render_background(speaker: dict[str, Any], resolution: int) -> np.ndarray:
    """The speaker's static background, (H, W, 3) float32 in 0..255."""
    n = resolution
    c0, c1 = (np.asarray(c, np.float32) for c in speaker["bg_colors"])
    xy = (np.arange(n, dtype=np.float32) + 0.5) / n
    a = math.radians(speaker["bg_angle"])
    u = xy[None, :] * math.cos(a) + xy[:, None] * math.sin(a)  # (H, W)
    kind = speaker["background"]
    if kind == "plain":
        w = np.zeros((n, n), np.float32)
    elif kind == "gradient":
        w = (u - u.min()) / max(float(u.max() - u.min()), 1e-6)
    elif kind == "stripes":
        w = 0.5 + 0.5 * np.tanh(3 * np.sin(2 * np.pi * u / 0.2))
    else:  # blotches
        rng = np.random.default_rng(int(sum(speaker["bg_colors"][0])) + speaker["index"])
        w = np.zeros((n, n), np.float32)
        for cx, cy, r in rng.uniform([0, 0, 0.08], [1, 1, 0.25], (6, 3)):
            w += np.exp(-((xy[None, :] - cx) ** 2 + (xy[:, None] - cy) ** 2) / (2 * r * r))
        w = np.clip(w, 0, 1)
    w = np.asarray(w, np.float32)[..., None]  # (H, W, 1)
    return c0 * (1 - w) + c1 * w  # (H, W, 3)


def _poly(img: np.ndarray, pts: np.ndarray, color: Any) -> None:
    cv2 = cv2_module()

    cv2.fillPoly(
        img,
        [np.round(pts * 16).astype(np.int32)],
        tuple(float(c) for c in color),
        lineType=cv2.LINE_AA,
        shift=4,
    )


def render_frame(
    speaker: dict[str, Any],
    background: np.ndarray,
    resolution: int,
    pose: np.ndarray,
    mouth: np.ndarray,
    eye_open: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one frame.

    Args:
        speaker: from :func:`sample_speaker`.
        background: (H, W, 3) float32 from :func:`render_background`.
        resolution: frame side in pixels.
        pose: (3,) ``dx, dy`` pixels, ``angle`` degrees.
        mouth: (4,) ``open, width, round, teeth`` (see :class:`Viseme`).
        eye_open: 0 (closed) .. 1.

    Returns:
        ``(frame (H, W, 3) float32 0..255, mouth_box (4,) x0, y0, x1, y1)``.
    """
    n = resolution
    img = background.copy()
    hw, hh = speaker["face_w"] * n / 2, speaker["face_h"] * n / 2  # head half-axes (px)
    centre = np.array([n / 2 + pose[0], n * 0.5 + pose[1]])
    a = math.radians(pose[2])
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])

    def tf(pts: np.ndarray) -> np.ndarray:  # face coordinates (px from the head centre)
        return pts @ rot.T + centre  # (K, 2)

    skin = np.asarray(speaker["skin"], float)
    hair = np.asarray(speaker["hair"], float)
    shade = skin * 0.8
    # neck and shoulders, hair behind the head, ears, head
    _poly(
        img,
        tf(
            np.array(
                [
                    [-0.45 * hw, 0.6 * hh],
                    [0.45 * hw, 0.6 * hh],
                    [0.5 * hw, 2 * hh],
                    [-0.5 * hw, 2 * hh],
                ]
            )
        ),
        shade,
    )
    _poly(img, tf(ellipse(0, 1.35 * hh + 0.3 * n, 1.7 * hw, 0.45 * n, 40)), hair * 0.4 + 60)
    if speaker["hair_style"] == 1:
        _poly(img, tf(ellipse(0, 0.1 * hh, 1.18 * hw, 1.1 * hh, 40)), hair)
    for side in (-1, 1):
        _poly(img, tf(ellipse(side * 0.97 * hw, 0.0, 0.13 * hw, 0.22 * hh, 40)), shade)
    _poly(img, tf(ellipse(0, 0, hw, hh, 64)), skin)
    if speaker["hair_style"] in (0, 1):
        cap = ellipse(0, -0.55 * hh, 1.04 * hw, 0.55 * hh, 48)
        cap = cap[cap[:, 1] <= -0.45 * hh]  # the top of the head
        _poly(img, tf(cap), hair)
    # eyes, brows
    ex, ey, es = speaker["eye_dx"] * hw, speaker["eye_y"] * hh, speaker["eye_size"] * hw
    for side in (-1, 1):
        cx = side * ex
        lid = max(0.08, eye_open)
        _poly(img, tf(ellipse(cx, ey, es * 1.5, es * lid, 24)), (245, 245, 240))
        if eye_open > 0.3:
            _poly(img, tf(ellipse(cx, ey, es * 0.75, es * 0.75 * lid, 16)), speaker["iris"])
            _poly(img, tf(ellipse(cx, ey, es * 0.35, es * 0.35 * lid, 12)), (10, 10, 10))
        brow = np.array(
            [
                [cx - 1.6 * es, ey - 1.9 * es],
                [cx + 1.6 * es, ey - 2.1 * es],
                [cx + 1.6 * es, ey - 1.5 * es],
                [cx - 1.6 * es, ey - 1.4 * es],
            ]
        )
        _poly(img, tf(brow), hair * 0.8)
    # nose
    nl = speaker["nose"] * hh
    nose = np.array([[0, -0.05 * hh], [0.12 * hw, 0.1 * hh + nl], [-0.1 * hw, 0.1 * hh + nl]])
    _poly(img, tf(nose), shade)
    # mouth
    op, width, rnd, teeth = (float(v) for v in mouth)
    my = speaker["mouth_y"] * hh
    half_w = speaker["mouth_w"] * hw * width * (1 - 0.25 * rnd)
    lip = speaker["lip_thick"] * hh
    gap = op * 0.32 * hh  # half opening
    outer = ellipse(0, my, half_w + lip * rnd, gap + lip * (1 + 0.6 * rnd), 40)
    _poly(img, tf(outer), speaker["lip"])
    if gap > 0.25:
        inner = ellipse(0, my, half_w * (0.85 - 0.2 * rnd), gap, 40)
        _poly(img, tf(inner), (55, 18, 22))
        if teeth > 0:
            band = inner.copy()
            band[:, 1] = np.minimum(band[:, 1], my - gap + teeth * min(gap, 0.45 * gap + 1.5))
            _poly(img, tf(band), (235, 232, 220))
    else:
        line = np.array(
            [[-half_w, my - 0.35], [half_w, my - 0.35], [half_w, my + 0.35], [-half_w, my + 0.35]]
        )
        _poly(img, tf(line), np.asarray(speaker["lip"]) * 0.45)
    side = MOUTH_SIDE * 2 * hw
    mc = tf(np.array([[0.0, my]]))[0]
    box = np.array([mc[0] - side / 2, mc[1] - side / 2, mc[0] + side / 2, mc[1] + side / 2])
    return img, box


def render_clip(
    speaker: dict[str, Any],
    clip: dict[str, Any],
    phonemes: list[dict[str, Any]],
    n_frames: int,
    fps: float,
    resolution: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render a clip's frames.

    Returns:
        ``(frames (T, H, W, 3) uint8 RGB, mouth_boxes (T, 4) float, mouth (T, 4) float)`` where
        ``mouth`` holds the drawn viseme parameters (``open, width, round, teeth``).
    """
    background = render_background(speaker, resolution)
    mouth = mouth_track(phonemes, n_frames, fps)  # (T, 4)
    pose = head_motion(speaker, clip, n_frames, fps, resolution)  # (T, 3)
    eyes = blinks(speaker, clip, n_frames, fps)  # (T,)
    frames = np.empty((n_frames, resolution, resolution, 3), np.uint8)
    boxes = np.empty((n_frames, 4))
    noise = np.random.default_rng(clip["noise_seed"])
    for k in range(n_frames):
        img, boxes[k] = render_frame(speaker, background, resolution, pose[k], mouth[k], eyes[k])
        img *= np.float32(clip["brightness"])
        if speaker["noise"] > 0:
            img += noise.standard_normal(img.shape, dtype=np.float32) * np.float32(speaker["noise"])
        frames[k] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return frames, boxes, mouth


# ----------------------------------------------------------------------------- one clip


def make_clip(config: TalkingConfig, index: int) -> dict[str, Any]:
    """Synthesise, render and encode clip ``index`` into memory-light pieces.

    Returns:
        ``{"row": manifest row (without split), "frames": (T, H, W, 3) uint8,
        "audio": (T * sr / fps,) float32}``.
    """
    from xmodal.data.speech import synthesize

    clip = sample_clip(config, index)
    speaker = sample_speaker(config, clip["speaker"])
    sr, fps = config.sample_rate, config.fps
    rate = int(np.clip(speaker["rate"] + clip["rate_jitter"], 80, 450))
    speech = synthesize(
        clip["text"],
        voice=VOICE,
        variant=speaker["variant"],
        rate=rate,
        pitch=speaker["pitch"],
        sample_rate=sr,
    )
    lead = int(round(clip["lead_ms"] * sr / 1000))
    total = lead + len(speech.waveform) + int(round(clip["tail_ms"] * sr / 1000))
    per_frame = sr / fps
    n_frames = max(int(math.ceil(total / per_frame)), int(math.ceil(config.min_duration * fps)))
    audio = np.zeros(int(round(n_frames * per_frame)), np.float32)
    wave = speech.waveform * np.float32(
        clip["gain"] / max(float(np.abs(speech.waveform).max()), 1e-6)
    )
    audio[lead : lead + len(wave)] = wave
    if speaker["audio_noise"] > 0:
        hiss = np.random.default_rng(clip["noise_seed"] + 1).standard_normal(len(audio))
        audio += (hiss * speaker["audio_noise"]).astype(np.float32)
    lead_ms = 1000.0 * lead / sr
    timings = speech.to_dict()
    for key in ("words", "phonemes"):
        for item in timings[key]:
            item["start_ms"] = round(item["start_ms"] + lead_ms, 3)
            item["end_ms"] = round(item["end_ms"] + lead_ms, 3)
    frames, boxes, _ = render_clip(
        speaker, clip, timings["phonemes"], n_frames, fps, config.resolution
    )
    row = {
        "id": clip["id"],
        "path": f"clips/{clip['id']}.mp4",
        "speaker": speaker["id"],
        "text": clip["text"],
        "words": timings["words"],
        "phonemes": timings["phonemes"],
        "duration": n_frames / fps,
        "fps": fps,
        "frames": n_frames,
        "mouth_boxes": np.round(boxes, 2).tolist(),
        "params": {**clip, "rate": rate, "speaker_params": speaker},
    }
    return {"row": row, "frames": frames, "audio": np.clip(audio, -1, 1)}


def build_clip(
    config: TalkingConfig, index: int, split: str, out_dir: str | os.PathLike[str]
) -> dict[str, Any]:
    """Generate clip ``index`` into ``out_dir/clips``: its MP4, then its sidecar row.

    Both files are written atomically and the sidecar last, so a clip with a sidecar is complete.

    Returns:
        The clip's manifest row.
    """
    from xmodal.media import write_mp4

    made = make_clip(config, index)
    row = {**made["row"], "split": split}
    clips = Path(out_dir) / "clips"
    write_mp4(
        clips / f"{row['id']}.mp4", made["frames"], config.fps, made["audio"], config.sample_rate
    )
    write_json(clips / f"{row['id']}.json", row, indent=None)
    return row


def dataset_info(config: TalkingConfig) -> dict[str, Any]:
    """The ``dataset.json`` of a world: its config plus what else shapes the clips."""
    from xmodal import __version__

    return {
        "kind": KIND,
        **config.to_dict(),
        "voice": VOICE,
        "variants": list(VOICE_VARIANTS),
        "speaker_splits": speaker_splits(config),
        "xmodal_version": __version__,
    }


def generate(
    out_dir: str | os.PathLike[str],
    config: TalkingConfig,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Generate (or finish generating) a talking-head dataset.

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
    spk_split = speaker_splits(config)
    return generate_clips(
        out,
        dataset_info(config),
        [clip_id(i) for i in range(config.size)],
        build_clip,
        [(config, i, spk_split[i % config.speakers], out) for i in range(config.size)],
        workers=workers,
        progress=progress,
        desc="talking",
    )


def summarize(dataset_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Counts of a talking-head dataset.

    Returns:
        ``{"clips", "splits": {split: clips}, "speakers": {split: speakers}, "hours"}``.
    """
    from xmodal.data.manifest import read_manifest

    rows = read_manifest(dataset_dir)
    out: dict[str, Any] = {"clips": len(rows), "splits": {}, "speakers": {}, "hours": 0.0}
    for r in rows:
        out["splits"][r["split"]] = out["splits"].get(r["split"], 0) + 1
        out["speakers"].setdefault(r["split"], set()).add(r["speaker"])
        out["hours"] += r["duration"] / 3600
    out["speakers"] = {k: len(v) for k, v in out["speakers"].items()}
    return out


def format_summary(summary: dict[str, Any]) -> str:
    """A few human-readable lines for :func:`summarize`'s output."""
    splits = ", ".join(
        f"{k} {n} ({summary['speakers'].get(k, 0)} speakers)" for k, n in summary["splits"].items()
    )
    return f"clips     {summary['clips']} ({summary['hours']:.2f} h)\nsplits    {splits}"

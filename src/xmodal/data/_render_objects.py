"""Rendering of the object-action world (:mod:`xmodal.data.objects`): a clip's parameters to media.

:func:`render_clip` draws a :class:`~xmodal.data.objects.ClipParams` into frames (an antialiased
sprite from :func:`draw_sprite`, moved along :func:`object_track` over
:func:`render_background`), and :func:`synthesize_track` speaks its phrase into an audio track
of exactly the clip's duration. Both are pure functions of the parameters; the public names are
re-exported by :mod:`xmodal.data.objects`, which is where to import them from.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from xmodal.data._generate import cv2_module, ellipse
from xmodal.data.splits import OBJECTS

if TYPE_CHECKING:
    from xmodal.data.objects import ClipParams

BACKGROUNDS: tuple[str, ...] = ("gradient", "stripes", "checker", "blobs", "noise")
_SUPERSAMPLE = 4  # sprites are drawn at 4x and area-downsampled (antialiasing)
_RATE_MAX = 450  # espeak's fastest rate (words per minute)

# ----------------------------------------------------------------------------- drawing


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
            (ellipse(0.445, 0.0, 0.032, 0.032), "dark"),  # home button
            (_rounded_rect(-0.455, -0.07, -0.43, 0.07, 0.012), "dark"),  # speaker slot
        ]
    if obj == "spoon":
        return [
            (_tapered(-0.5, 0.08, 0.16, 0.03), "main"),
            (ellipse(0.31, 0.0, 0.19, 0.11), "main"),
            (ellipse(0.32, 0.0, 0.145, 0.077), "light"),  # the bowl's hollow
        ]
    if obj == "knife":
        blade = _poly("-.10,-.05 .38,-.05 .50,-.045 .47,-.01 .40,.035 .28,.065 -.10,.07")
        edge = _poly("-.08,.055 .28,.052 .40,.027 .46,-.012 .47,-.01 .40,.035 .28,.065 -.08,.07")
        return [
            (blade, "metal"),
            (edge, "light"),  # the sharpened edge
            (_rounded_rect(-0.135, -0.06, -0.085, 0.075, 0.01), "dark"),  # bolster
            (_rounded_rect(-0.5, -0.055, -0.12, 0.07, 0.045), "main"),  # handle
            (ellipse(-0.42, 0.008, 0.016, 0.016), "metal"),  # rivets
            (ellipse(-0.30, 0.008, 0.016, 0.016), "metal"),
            (ellipse(-0.18, 0.008, 0.016, 0.016), "metal"),
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
    cv2 = cv2_module()

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
    cv2 = cv2_module()

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
        params: from :func:`~xmodal.data.objects.sample_params`.

    Returns:
        ``(T, H, W, 3)`` uint8 RGB frames, ``T = params.frames``, ``H = W = params.resolution``.
    """
    cv2 = cv2_module()

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

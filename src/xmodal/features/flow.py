"""How things move between frames, without what they are: dense optical flow summarised per frame.

:func:`flow_features` runs OpenCV's Farnebäck dense optical flow between consecutive frames
(grayscale, squashed to ``size × size``) and keeps five numbers per frame, all in frame sides
per frame step, none of which depends on the moving thing's colour, texture or shape:

- ``u``, ``v``: the mean flow of the moving pixels (right and down are positive);
- ``omega``: their angular velocity about their own centroid (radians per step, the least-squares
  rigid rotation: ``Σ r × (f − f̄) / Σ |r|²``; positive is clockwise on screen, y down);
- ``abs_omega``: ``|omega|`` (a turn in either direction is a turn);
- ``speed``: ``|(u, v)|``.

"Moving" is a flow magnitude above ``max(min_motion, 0.25 · the frame's largest)``: the
static background and its per-frame noise do not count. Row 0 has no previous frame and is
zero.

``efficientnet-lite0-streams`` appends them as its motion columns; how well the structured
translator's motion group, which reads them, tells the actions apart (and how badly the
objects) is in ``xmodal eval translate``'s group probes (docs/studies.md).
"""

from __future__ import annotations

import numpy as np

FLOW_COLUMNS: tuple[str, ...] = ("u", "v", "omega", "abs_omega", "speed")


def flow_features(frames: np.ndarray, size: int = 96, min_motion: float = 0.004) -> np.ndarray:
    """Per-frame motion summary of a clip.

    Args:
        frames: ``(T, H, W, 3)`` uint8 RGB.
        size: side the grayscale frames are resized to before the flow (the flow is then
            expressed in frame sides, so the numbers do not depend on the clip's resolution).
        min_motion: smallest flow magnitude (frame sides per step) that counts as moving.

    Returns:
        ``(T, 5)`` float32, columns :data:`FLOW_COLUMNS`; row 0 is zeros.

    Raises:
        ValueError: ``frames`` is not ``(T, H, W, 3)``, or ``size`` < 16.
    """
    import cv2

    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected frames of shape (T, H, W, 3), got {frames.shape}")
    if size < 16:
        raise ValueError(f"size must be >= 16 pixels, got {size}")
    gray = [
        cv2.resize(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY), (size, size),
                   interpolation=cv2.INTER_AREA)
        for f in frames
    ]  # fmt: skip
    out = np.zeros((len(frames), len(FLOW_COLUMNS)), np.float32)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size  # (size, size) frame sides
    levels = max(1, min(5, int(np.log2(size / 6)) + 1))  # coarsest level >= ~6 pixels
    for t in range(1, len(gray)):
        flow = cv2.calcOpticalFlowFarneback(gray[t - 1], gray[t], None, 0.5, levels, 21, 3, 7,
                                            1.5, 0)  # fmt: skip
        u, v = flow[..., 0] / size, flow[..., 1] / size  # (size, size) frame sides per step
        magnitude = np.hypot(u, v)
        moving = magnitude > max(min_motion, 0.25 * float(magnitude.max()))
        if not moving.any():
            continue
        x, y, mu, mv = xs[moving], ys[moving], u[moving], v[moving]
        rx, ry = x - x.mean(), y - y.mean()
        mean_u, mean_v = float(mu.mean()), float(mv.mean())
        inertia = float((rx**2 + ry**2).sum()) + 1e-6
        omega = float((rx * (mv - mean_v) - ry * (mu - mean_u)).sum()) / inertia
        out[t] = (mean_u, mean_v, omega, abs(omega), np.hypot(mean_u, mean_v))
    return out

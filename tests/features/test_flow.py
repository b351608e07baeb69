"""Optical-flow motion columns: the right direction, the right turn, nothing for still frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from xmodal.features.flow import FLOW_COLUMNS, flow_features

SIDE = 96


def background(seed: int = 0) -> np.ndarray:
    """A static textured background (stripes + fixed noise) like the worlds' backgrounds."""
    rng = np.random.default_rng(seed)
    x = np.arange(SIDE)
    stripes = (40 + 30 * np.sin(x[None, :] / 5.0) + 0 * x[:, None]).astype(np.float32)
    img = np.repeat(stripes[..., None], 3, axis=2) + rng.normal(0, 3, (SIDE, SIDE, 3))
    return img.clip(0, 255).astype(np.uint8)


def bar(angle_deg: float, centre: tuple[float, float]) -> np.ndarray:
    """Frame with a bright elongated bar (a 'knife') at ``centre`` turned by ``angle_deg``."""
    frame = background().copy()
    box = ((centre[0], centre[1]), (46.0, 10.0), angle_deg)
    pts = cv2.boxPoints(box).astype(np.int32)
    cv2.fillPoly(frame, [pts], (230, 200, 60))
    tip = (int(centre[0] + 18 * np.cos(np.radians(angle_deg))),
           int(centre[1] + 18 * np.sin(np.radians(angle_deg))))  # fmt: skip
    cv2.circle(frame, tip, 4, (20, 20, 200), -1)
    return frame


def test_a_bar_moving_right_then_down() -> None:
    right = np.stack([bar(10.0, (30 + 3 * t, 48)) for t in range(5)])
    f = flow_features(right)
    assert f.shape == (5, len(FLOW_COLUMNS)) and f.dtype == np.float32
    assert np.all(f[0] == 0)
    u, v, omega, abs_omega, speed = f[1:].mean(0)
    assert u == pytest.approx(3 / SIDE, rel=0.35) and abs(v) < 0.3 * u
    assert abs_omega < 0.05 and speed == pytest.approx(np.hypot(u, v), rel=0.2)
    down = flow_features(np.stack([bar(80.0, (48, 30 + 3 * t)) for t in range(5)]))
    assert down[1:, 1].mean() > 0.02 and abs(down[1:, 0].mean()) < 0.01


def test_a_turning_bar_turns_and_does_not_travel() -> None:
    step = 8.0  # degrees per frame, clockwise on screen (y down)
    clockwise = flow_features(np.stack([bar(step * t, (48, 48)) for t in range(6)]))
    omega = clockwise[1:, 2].mean()
    assert omega == pytest.approx(np.radians(step), rel=0.5)
    assert np.hypot(clockwise[1:, 0].mean(), clockwise[1:, 1].mean()) < 0.01
    anti = flow_features(np.stack([bar(-step * t, (48, 48)) for t in range(6)]))
    assert anti[1:, 2].mean() < 0 and anti[1:, 3].mean() == pytest.approx(-anti[1:, 2].mean())


def test_still_frames_have_no_motion_and_bad_input_is_refused() -> None:
    still = np.stack([bar(0.0, (48, 48))] * 4)
    assert np.allclose(flow_features(still), 0.0)
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        flow_features(still[..., 0])
    with pytest.raises(ValueError, match="size must be >= 16"):
        flow_features(still, size=8)

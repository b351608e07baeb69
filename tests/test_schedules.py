"""The nine β schedules: known values, shapes of the curves, the PI controller, the plot."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from xmodal.config import from_dict, to_dict
from xmodal.schedules import (
    SCHEDULES,
    PIController,
    PIParams,
    PIState,
    ScheduleConfig,
    capacity,
    constant,
    cosine,
    cyclical_cosine,
    cyclical_linear,
    delayed_step,
    linear,
    make_hparams,
    pi_step,
    plot_schedules,
    schedule_defaults,
    sigmoid,
)

T = 1000


def test_there_are_nine() -> None:
    assert list(SCHEDULES) == [
        "constant", "linear", "sigmoid", "cosine", "delayed_step", "cyclical_linear",
        "cyclical_cosine", "capacity", "pi_controller",
    ]  # fmt: skip


def test_constant() -> None:
    assert [constant(s, T, beta=4.0) for s in (0, 500, 1000)] == [4.0, 4.0, 4.0]


def test_linear_ramp() -> None:
    # ramp over the first 40% (400 steps) to 2.0, then flat
    values = [linear(s, T, beta_max=2.0, warmup=0.4) for s in (0, 100, 200, 400, 700, 1000)]
    assert values == pytest.approx([0.0, 0.5, 1.0, 2.0, 2.0, 2.0])
    assert linear(5000, T, beta_max=2.0, warmup=0.4) == 2.0  # past the end: final value


def test_sigmoid() -> None:
    assert sigmoid(0, T, beta_max=3.0) == pytest.approx(0.0, abs=1e-12)
    assert sigmoid(T // 2, T, beta_max=3.0) == pytest.approx(1.5)  # symmetric about center=0.5
    assert sigmoid(T, T, beta_max=3.0) == pytest.approx(3.0)
    # centre moves the half-way point
    assert sigmoid(200, T, beta_max=1.0, center=0.2) < 0.5 < sigmoid(300, T, center=0.2)
    # steeper is closer to a step
    assert sigmoid(400, T, steepness=50.0) < sigmoid(400, T, steepness=5.0)


def test_cosine() -> None:
    values = [cosine(s, T, beta_max=1.0, warmup=0.5) for s in (0, 125, 250, 375, 500, 900)]
    expected = [0.0, 0.5 * (1 - math.cos(math.pi / 4)), 0.5, 0.5 * (1 - math.cos(0.75 * math.pi))]
    assert values == pytest.approx([*expected, 1.0, 1.0])


def test_delayed_step() -> None:
    assert delayed_step(299, T, beta_max=2.0, delay=0.3) == 0.0
    assert delayed_step(300, T, beta_max=2.0, delay=0.3) == 2.0
    assert delayed_step(999, T, beta_max=2.0, delay=0.3) == 2.0


def test_cyclical_linear_cycle_boundaries() -> None:
    # Fu et al. 2019: M=4 cycles of 250 steps; ramp over the first R=0.5 (125 steps), then flat
    kw = {"beta_max": 1.0, "cycles": 4, "ratio": 0.5}
    assert [cyclical_linear(s, T, **kw) for s in (0, 25, 62, 125, 200, 249)] == pytest.approx(
        [0.0, 0.2, 0.496, 1.0, 1.0, 1.0]
    )
    for start in (250, 500, 750):  # every cycle restarts at 0 and repeats the first one
        assert cyclical_linear(start, T, **kw) == 0.0
        assert cyclical_linear(start + 25, T, **kw) == pytest.approx(0.2)
        assert cyclical_linear(start + 130, T, **kw) == 1.0
    assert cyclical_linear(T, T, **kw) == 1.0


def test_cyclical_cosine() -> None:
    kw = {"beta_max": 2.0, "cycles": 2, "ratio": 0.4}  # periods of 500, ramp over 200 steps
    assert cyclical_cosine(0, T, **kw) == 0.0
    assert cyclical_cosine(100, T, **kw) == pytest.approx(1.0)  # half-way up the half cosine
    assert cyclical_cosine(200, T, **kw) == pytest.approx(2.0)
    assert cyclical_cosine(500, T, **kw) == 0.0
    assert cyclical_cosine(600, T, **kw) == pytest.approx(1.0)


def test_capacity() -> None:
    assert [capacity(s, T, c_max=25.0) for s in (0, 200, 500, 1000)] == pytest.approx(
        [0.0, 5.0, 12.5, 25.0]
    )
    assert capacity(500, T, c_max=10.0, warmup=0.25) == 10.0


@pytest.mark.parametrize("name", ["linear", "sigmoid", "cosine", "delayed_step", "capacity"])
def test_ramps_are_monotonic_from_zero(name: str) -> None:
    hp = make_hparams(ScheduleConfig(name), T)
    key = "capacity" if name == "capacity" else "beta"
    values = [hp(s, {})[key] for s in range(T + 1)]
    assert values[0] == pytest.approx(0.0, abs=1e-12)
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    assert values[-1] > 0


def test_cyclical_is_monotonic_within_each_cycle() -> None:
    hp = make_hparams(ScheduleConfig("cyclical_linear", {"cycles": 5}), T)
    values = [hp(s, {})["beta"] for s in range(T)]
    for c in range(5):
        cycle = values[c * 200 : (c + 1) * 200]
        assert cycle[0] == 0.0 and cycle[-1] == 1.0
        assert all(b >= a for a, b in zip(cycle, cycle[1:], strict=False))


def test_make_hparams_outputs() -> None:
    assert make_hparams(ScheduleConfig("linear", {"beta_max": 4.0}), 100)(25, {}) == {"beta": 2.0}
    cap = make_hparams(ScheduleConfig("capacity", {"c_max": 10.0, "gamma": 100.0}), 100)
    assert cap(50, {}) == {"beta": 100.0, "capacity": 5.0}


def test_schedule_config_checks() -> None:
    assert schedule_defaults("linear") == {"beta_max": 1.0, "warmup": 0.5}
    assert schedule_defaults("capacity") == {"c_max": 25.0, "warmup": 1.0, "gamma": 1000.0}
    with pytest.raises(ValueError, match="unknown schedule 'warm'"):
        ScheduleConfig("warm")
    with pytest.raises(ValueError, match=r"has no parameter\(s\) 'cycles'; it takes: beta_max"):
        ScheduleConfig("linear", {"cycles": 2})
    with pytest.raises(ValueError, match=r"warmup must be in \(0.0, 1.0\]"):
        ScheduleConfig("linear", {"warmup": 0.0})
    with pytest.raises(ValueError, match="cycles must be an integer"):
        ScheduleConfig("cyclical_linear", {"cycles": 2.5})
    with pytest.raises(ValueError, match="beta_max .* must be >= beta_min"):
        ScheduleConfig("pi_controller", {"beta_min": 2.0, "beta_max": 1.0})
    cfg = ScheduleConfig("cyclical_cosine", {"cycles": 3, "ratio": 0.25})
    assert from_dict(ScheduleConfig, to_dict(cfg)) == cfg


# ----------------------------------------------------------------------------- PI controller

PI = PIParams(target_kl=5.0, kp=0.1, ki=0.02, beta_min=0.0, beta_max=1.0)


def test_pi_step_direction() -> None:
    state = PIState(integral=0.4, beta=0.45)
    beta_mid, _ = pi_step(state, 5.0, PI)  # on target: P = kp / 2, integral unchanged
    assert beta_mid == pytest.approx(0.05 + 0.4)
    beta_low, s_low = pi_step(state, 2.0, PI)  # KL below target -> lower β
    beta_high, s_high = pi_step(state, 9.0, PI)  # KL above target -> raise β
    assert beta_low < beta_mid < beta_high
    assert s_low.integral == pytest.approx(0.4 - 0.02 * 3.0)
    assert s_high.integral == pytest.approx(0.4 + 0.02 * 4.0)
    assert beta_high == pytest.approx(0.1 / (1 + math.exp(-4.0)) + 0.48)


def test_pi_clamps_and_anti_windup() -> None:
    state, betas = PIState(), []
    for _ in range(200):  # KL far above target for a long time
        beta, state = pi_step(state, 1e6, PI)  # huge KL must not overflow
        betas.append(beta)
    assert betas[-1] == 1.0 and max(betas) == 1.0
    assert all(b >= a for a, b in zip(betas, betas[1:], strict=False))
    assert state.integral <= 1.0  # the integral is clamped with the output (anti-windup)
    beta, state = pi_step(state, 0.0, PI)  # KL now below target: β comes off the clamp at once
    assert beta < 1.0
    state = PIState()
    for _ in range(200):
        beta, state = pi_step(state, 0.0, PI)
    assert beta == 0.0 and state.integral > -0.2  # clamped below, integral bounded


def test_pi_controller_reads_kl_and_resumes_exactly() -> None:
    cfg = ScheduleConfig("pi_controller", {"target_kl": 5.0, "kp": 0.1, "ki": 0.02})
    kls = [9.0, 8.0, 7.5, 6.0, 3.0, 2.0, 4.0, 5.5]
    full = make_hparams(cfg, 100)
    assert isinstance(full, PIController)
    assert full(0, {}) == {"beta": 0.0}  # no KL seen yet: beta_min
    betas = [full(step + 1, {"kl": kl, "loss": 1.0})["beta"] for step, kl in enumerate(kls)]
    assert betas[0] > 0 and betas[1] > betas[0]  # KL above target raises β
    assert betas[5] < betas[4]  # below target lowers it
    assert full(len(kls), {"kl": 100.0}) == {"beta": betas[-1]}  # same step: no second update

    first = make_hparams(cfg, 100)
    first(0, {})
    for step, kl in enumerate(kls[:4]):
        first(step + 1, {"kl": kl})
    resumed = make_hparams(cfg, 100)
    resumed.load_state_dict(dict(first.state_dict()))
    rest = [resumed(step + 5, {"kl": kl})["beta"] for step, kl in enumerate(kls[4:])]
    assert rest == betas[4:]
    assert resumed.state_dict() == full.state_dict()
    with pytest.raises(KeyError, match="'kl' entry"):
        make_hparams(cfg, 100)(1, {"loss": 1.0})


def test_plot_schedules(tmp_path: Path) -> None:
    path = tmp_path / "schedules.png"
    plot_schedules(path, total_steps=400)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind

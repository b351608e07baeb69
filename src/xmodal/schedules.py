"""The nine β schedules of the thesis, as pure functions of the training step.

Eight are closed-form functions ``f(step, total_steps, **params) -> float`` of the step alone:

========================  ======================================================================
``constant``              β everywhere.
``linear``                ramp 0 → ``beta_max`` over the first ``warmup`` fraction, then flat
                          (the thesis' "gradual ramp-up", the winner).
``sigmoid``               logistic ramp centred at ``center`` (a fraction of the run), rescaled so
                          it starts at exactly 0 and ends at exactly ``beta_max``.
``cosine``                half-cosine ramp 0 → ``beta_max`` over ``warmup``, then flat.
``delayed_step``          0 until ``delay`` (a fraction of the run), then ``beta_max``.
``cyclical_linear``       Fu et al. 2019: ``cycles`` cycles; in each, a linear ramp over the
                          first ``ratio`` of the cycle, then flat at ``beta_max``.
``cyclical_cosine``       as ``cyclical_linear`` with a half-cosine ramp.
``capacity``              Burgess et al. 2018: the capacity ``C(t)``, raised linearly 0 → ``c_max``
                          over ``warmup``; the loss is ``gamma · |KL − C(t)|`` (the thesis'
                          adaptive capacity loss), so :func:`make_hparams` gives
                          ``{"beta": gamma, "capacity": C(t)}``.
========================  ======================================================================

The ninth, ``pi_controller`` (ControlVAE, Shao et al. 2020), is a feedback controller: β follows
the observed KL toward ``target_kl``. Its step is the pure function :func:`pi_step`
``(state, kl, params) -> (beta, new_state)`` over the frozen :class:`PIState`; the stateful
:class:`PIController` that the training loop calls keeps that state and exposes
``state_dict()`` / ``load_state_dict()`` so a resumed run continues exactly.

All step functions clamp ``step`` into ``[0, total_steps]``; at or past ``total_steps`` they give
their final value. Nothing here keeps a step counter except :class:`PIController`, whose state is
saved with the checkpoint.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SCHEDULES",
    "PIController",
    "PIParams",
    "PIState",
    "ScheduleConfig",
    "capacity",
    "constant",
    "cosine",
    "cyclical_cosine",
    "cyclical_linear",
    "delayed_step",
    "linear",
    "make_hparams",
    "pi_step",
    "plot_schedules",
    "schedule_defaults",
    "sigmoid",
]


def _progress(step: int, total_steps: int) -> float:
    """Fraction of the run done, clamped to [0, 1]."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    return min(max(step / total_steps, 0.0), 1.0)


def _ramp(step: int, total_steps: int, warmup: float) -> float:
    """Linear ramp 0 → 1 over the first ``warmup`` fraction of the run, then 1."""
    return min(_progress(step, total_steps) / warmup, 1.0)


def _cycle_ramp(step: int, total_steps: int, cycles: float, ratio: float) -> float:
    """Fu et al.'s cyclical ramp in [0, 1]: within each of ``cycles`` periods, ``tau / ratio``."""
    if step >= total_steps:
        return 1.0
    period = total_steps / int(cycles)
    tau = (max(step, 0) % period) / period  # position within the current cycle, [0, 1)
    return min(tau / ratio, 1.0)


def _half_cosine(x: float) -> float:
    """Map [0, 1] → [0, 1] along half a cosine: 0.5 · (1 − cos(π x))."""
    return 0.5 * (1.0 - math.cos(math.pi * x))


def constant(step: int, total_steps: int, *, beta: float = 1.0) -> float:
    """β for every step."""
    _progress(step, total_steps)
    return float(beta)


def linear(step: int, total_steps: int, *, beta_max: float = 1.0, warmup: float = 0.5) -> float:
    """Linear ramp 0 → ``beta_max`` over the first ``warmup`` fraction of the run, then flat."""
    return beta_max * _ramp(step, total_steps, warmup)


def sigmoid(
    step: int,
    total_steps: int,
    *,
    beta_max: float = 1.0,
    center: float = 0.5,
    steepness: float = 10.0,
) -> float:
    """Logistic ramp ``beta_max · s(x)`` with ``x = step / total_steps``, ``s`` centred at
    ``center`` with slope ``steepness`` and rescaled so ``s(0) = 0`` and ``s(1) = 1``."""

    def logistic(x: float) -> float:
        return 1.0 / (1.0 + math.exp(-steepness * (x - center)))

    lo, hi = logistic(0.0), logistic(1.0)
    return beta_max * (logistic(_progress(step, total_steps)) - lo) / (hi - lo)


def cosine(step: int, total_steps: int, *, beta_max: float = 1.0, warmup: float = 0.5) -> float:
    """Half-cosine ramp 0 → ``beta_max`` over the first ``warmup`` fraction, then flat."""
    return beta_max * _half_cosine(_ramp(step, total_steps, warmup))


def delayed_step(
    step: int, total_steps: int, *, beta_max: float = 1.0, delay: float = 0.5
) -> float:
    """0 before ``delay · total_steps``, ``beta_max`` from then on."""
    return beta_max if _progress(step, total_steps) >= delay else 0.0


def cyclical_linear(
    step: int, total_steps: int, *, beta_max: float = 1.0, cycles: float = 4, ratio: float = 0.5
) -> float:
    """Fu et al. (2019) cyclical annealing: ``cycles`` equal periods; within each, β rises
    linearly 0 → ``beta_max`` over the first ``ratio`` of the period and stays there."""
    return beta_max * _cycle_ramp(step, total_steps, cycles, ratio)


def cyclical_cosine(
    step: int, total_steps: int, *, beta_max: float = 1.0, cycles: float = 4, ratio: float = 0.5
) -> float:
    """Cyclical annealing with a half-cosine ramp over the first ``ratio`` of each period."""
    return beta_max * _half_cosine(_cycle_ramp(step, total_steps, cycles, ratio))


def capacity(step: int, total_steps: int, *, c_max: float = 25.0, warmup: float = 1.0) -> float:
    """Burgess et al. (2018) capacity ``C(t)`` (nats): linear 0 → ``c_max`` over ``warmup``.

    The model's loss is ``gamma · |KL − C(t)|``; ``gamma`` is a parameter of the ``capacity``
    :class:`ScheduleConfig`, passed to the model as ``beta`` by :func:`make_hparams`.
    """
    return c_max * _ramp(step, total_steps, warmup)


# ----------------------------------------------------------------------------- PI controller


@dataclass(frozen=True)
class PIParams:
    """ControlVAE's PI controller settings (defaults from Shao et al. 2020)."""

    target_kl: float = 3.0  # the KL (nats) the controller steers toward
    kp: float = 0.01  # proportional gain
    ki: float = 0.0001  # integral gain (per step)
    beta_min: float = 0.0  # β never goes below this
    beta_max: float = 1.0  # β never goes above this

    def __post_init__(self) -> None:
        for name in ("target_kl", "kp", "ki", "beta_min"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.beta_max >= self.beta_min:
            raise ValueError(f"beta_max ({self.beta_max}) must be >= beta_min ({self.beta_min})")


@dataclass(frozen=True)
class PIState:
    """The controller's memory between steps."""

    integral: float = 0.0  # the integral term I
    beta: float = 0.0  # the β it output last


def pi_step(state: PIState, kl: float, params: PIParams) -> tuple[float, PIState]:
    """One ControlVAE PI step (Shao et al. 2020, Algorithm 1) toward ``params.target_kl``.

    ``e = target_kl − kl``; ``P = kp / (1 + exp(e))``; ``I ← I − ki · e``;
    ``β = P + I + beta_min``. A KL above the target (``e < 0``) raises β, one below it lowers β.
    Anti-windup by clamping the integral so that β stays in ``[beta_min, beta_max]``: after a
    long (or huge) excursion past a limit, β leaves the limit as soon as the error changes sign.

    Args:
        state: the controller state after the previous step.
        kl: the observed KL (nats) of the latest step.
        params: gains, target and clamps.

    Returns:
        ``(beta, new_state)``.
    """
    error = params.target_kl - kl
    # kp · sigmoid(−e), computed without overflow for large |e|
    if error >= 0:
        z = math.exp(-error)
        proportional = params.kp * z / (1.0 + z)
    else:
        proportional = params.kp / (1.0 + math.exp(error))
    span = params.beta_max - params.beta_min
    integral = state.integral - params.ki * error
    integral = min(max(integral, -proportional), span - proportional)
    beta = min(max(proportional + integral + params.beta_min, params.beta_min), params.beta_max)
    return beta, PIState(integral=integral, beta=beta)


class PIController:
    """The stateful PI schedule the training loop calls: ``ctrl(step, last_metrics)``.

    Reads ``last_metrics["kl"]`` (the KL of the previous step) and returns ``{"beta": β}``.
    Before any KL is seen it returns ``beta_min``. Calling it twice for the same step does not
    advance the controller. ``state_dict()`` / ``load_state_dict()`` make resume exact.
    """

    def __init__(self, params: PIParams) -> None:
        self.params = params
        self.state = PIState(integral=0.0, beta=params.beta_min)
        self.last_step: int | None = None

    @property
    def beta(self) -> float:
        """The current β."""
        return self.state.beta

    def __call__(self, step: int, last_metrics: Mapping[str, float]) -> dict[str, float]:
        if step != self.last_step:
            self.last_step = step
            if "kl" in last_metrics:
                _, self.state = pi_step(self.state, float(last_metrics["kl"]), self.params)
            elif last_metrics:
                raise KeyError(
                    "the pi_controller schedule needs the model's compute_loss to return a 'kl' "
                    f"entry; got {sorted(last_metrics)}"
                )
        return {"beta": self.beta}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (plain floats and ints)."""
        return {
            "integral": self.state.integral,
            "beta": self.state.beta,
            "last_step": self.last_step,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.state = PIState(integral=float(state["integral"]), beta=float(state["beta"]))
        self.last_step = None if state["last_step"] is None else int(state["last_step"])


# ----------------------------------------------------------------------------- registry, config

SCHEDULES: dict[str, Callable[..., Any]] = {
    "constant": constant,
    "linear": linear,
    "sigmoid": sigmoid,
    "cosine": cosine,
    "delayed_step": delayed_step,
    "cyclical_linear": cyclical_linear,
    "cyclical_cosine": cyclical_cosine,
    "capacity": capacity,
    "pi_controller": pi_step,  # not a function of the step: (state, kl, params) -> (β, state)
}

# Parameters a schedule takes beyond its function's keyword arguments.
_EXTRA_PARAMS: dict[str, dict[str, float]] = {"capacity": {"gamma": 1000.0}}

# Valid ranges: (low, high, low_inclusive); high is inclusive.
_RANGES: dict[str, tuple[float, float, bool]] = {
    "beta": (0.0, math.inf, True),
    "beta_max": (0.0, math.inf, True),
    "beta_min": (0.0, math.inf, True),
    "c_max": (0.0, math.inf, True),
    "gamma": (0.0, math.inf, True),
    "target_kl": (0.0, math.inf, True),
    "kp": (0.0, math.inf, True),
    "ki": (0.0, math.inf, True),
    "warmup": (0.0, 1.0, False),
    "ratio": (0.0, 1.0, False),
    "center": (0.0, 1.0, True),
    "delay": (0.0, 1.0, True),
    "steepness": (0.0, math.inf, False),
    "cycles": (1.0, math.inf, True),
}


def schedule_defaults(name: str) -> dict[str, float]:
    """The parameters schedule ``name`` takes, with their defaults."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; expected one of: {', '.join(SCHEDULES)}")
    if name == "pi_controller":
        return {f.name: f.default for f in dataclasses.fields(PIParams)}
    sig = inspect.signature(SCHEDULES[name])
    defaults = {
        p.name: float(p.default) for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY
    }
    return {**defaults, **_EXTRA_PARAMS.get(name, {})}


@dataclass
class ScheduleConfig:
    """Which β schedule to use and its parameters (missing ones take the schedule's defaults).

    In YAML: ``{name: linear, params: {beta_max: 4.0, warmup: 0.3}}``.
    """

    name: str = "linear"  # one of SCHEDULES
    params: dict[str, float] = field(default_factory=dict)  # see schedule_defaults(name)

    def __post_init__(self) -> None:
        defaults = schedule_defaults(self.name)
        unknown = sorted(set(self.params) - set(defaults))
        if unknown:
            raise ValueError(
                f"schedule {self.name!r} has no parameter(s) {', '.join(map(repr, unknown))}; "
                f"it takes: {', '.join(defaults)}"
            )
        for key, value in self.resolved().items():
            low, high, low_inclusive = _RANGES[key]
            ok = (value >= low if low_inclusive else value > low) and value <= high
            if not ok or math.isnan(value):
                bracket = "[" if low_inclusive else "("
                raise ValueError(
                    f"schedule {self.name!r}: {key} must be in {bracket}{low}, {high}], got {value}"
                )
        if "cycles" in self.params and not float(self.params["cycles"]).is_integer():
            raise ValueError(f"schedule {self.name!r}: cycles must be an integer")
        if self.name == "pi_controller":
            PIParams(**self.resolved())  # checks beta_max >= beta_min

    def resolved(self) -> dict[str, float]:
        """Defaults updated with the given parameters."""
        return {**schedule_defaults(self.name), **{k: float(v) for k, v in self.params.items()}}


@dataclass(frozen=True)
class _StepHParams:
    """``hparams(step, last_metrics)`` for a closed-form schedule."""

    name: str
    params: dict[str, float]
    total_steps: int

    def __call__(self, step: int, last_metrics: Mapping[str, float]) -> dict[str, float]:
        if self.name == "capacity":
            params = dict(self.params)
            gamma = params.pop("gamma")
            return {"beta": gamma, "capacity": capacity(step, self.total_steps, **params)}
        return {"beta": SCHEDULES[self.name](step, self.total_steps, **self.params)}


def make_hparams(
    config: ScheduleConfig, total_steps: int
) -> Callable[[int, Mapping[str, float]], dict[str, float]]:
    """The ``hparams(step, last_metrics)`` callable the training loop passes to the β-VAE.

    Returns ``{"beta": β}`` for the β schedules, ``{"beta": gamma, "capacity": C(t)}`` for
    ``capacity``, and for ``pi_controller`` a :class:`PIController` (reads
    ``last_metrics["kl"]``; has ``state_dict()``/``load_state_dict()``).
    """
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    params = config.resolved()
    if config.name == "pi_controller":
        return PIController(PIParams(**params))
    return _StepHParams(config.name, params, total_steps)


# ----------------------------------------------------------------------------- plot


def _simulated_kl_run(total_steps: int, params: PIParams) -> tuple[list[float], list[float]]:
    """Drive the PI controller with a toy plant whose KL relaxes toward ``20 / (1 + 10 β)``."""
    ctrl = PIController(params)
    kl, betas, kls = 20.0, [], []
    for step in range(total_steps):
        beta = ctrl(step, {"kl": kl} if step else {})["beta"]
        kl += 0.01 * (20.0 / (1.0 + 10.0 * beta) - kl)
        betas.append(beta)
        kls.append(kl)
    return betas, kls


def plot_schedules(path: str | os.PathLike[str], total_steps: int = 10_000) -> None:
    """Draw all nine schedules (default parameters) in one 3×3 figure and save it (PNG).

    ``pi_controller`` has no closed form: it is simulated against a synthetic KL trajectory (a
    toy model whose KL relaxes toward ``20 / (1 + 10 β)``), labelled as such, with that KL and
    the target on a second axis.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from xmodal.utils import atomic_path

    steps = list(range(total_steps + 1))
    fig = Figure(figsize=(12, 9), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, 3).ravel()
    for ax, name in zip(axes, SCHEDULES, strict=True):
        ax.set_xlabel("step")
        if name == "pi_controller":
            pi = PIParams(**schedule_defaults(name))
            betas, kls = _simulated_kl_run(total_steps, pi)
            ax.plot(steps[:-1], betas, color="C0", label="β")
            ax.set_title("pi_controller (simulated KL)")
            ax.set_ylabel("β")
            ax2 = ax.twinx()
            ax2.plot(steps[:-1], kls, color="C1", alpha=0.8, label="synthetic KL")
            ax2.axhline(pi.target_kl, color="C1", linestyle="--", label="target KL")
            ax2.set_ylabel("KL (nats)")
            ax2.legend(loc="upper right", fontsize="small")
            continue
        hp = make_hparams(ScheduleConfig(name), total_steps)
        key = "capacity" if name == "capacity" else "beta"
        ax.plot(steps, [hp(s, {})[key] for s in steps], color="C0")
        ax.set_title(name)
        ax.set_ylabel("C(t) (nats)" if name == "capacity" else "β")
    fig.suptitle(f"β schedules over {total_steps} steps (default parameters)")
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=80)

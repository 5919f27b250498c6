"""The true vitals of one patient, sample by sample: rhythm, sleep, activity, exercise, events.

Everything here is what the body does; what the device makes of it (artifacts, gaps, late
delivery, cuff schedule, clock drift) is :mod:`ingest.simulator.device`.

Model, per vital: a deterministic part (resting mean + circadian cosine + sleep offset +
activity response, plus a morning surge for blood pressure) + a slow and a fast smoothed-noise
component + white measurement noise + exercise + events. Smoothed noise is white noise
convolved with a truncated exponential kernel (an AR(1)-like process without a Python loop),
rescaled to the requested standard deviation. Events drive their key vitals to an absolute
level relative to the deterministic part, so a night-time trough cannot hide them.

Legitimate confounders produced here: athletes' HR dipping near 40 asleep, COPD SpO2 below 90
much of the time, hypertensives' morning SBP surge, exercise bouts (HR to 150-170, RR to 22-30,
motion 0.8-2 g) and short walks (HR +10-25, motion 0.3-0.6 g).

Examples
--------
>>> import numpy as np
>>> from ingest.simulator.profiles import draw_physiology
>>> rng = np.random.default_rng(0)
>>> phys = draw_physiology(rng, "adult")
>>> sig = true_vitals(rng, phys, n=1440, start=0.0, period_s=60.0, events=[], protected=[])
>>> sig.hr.shape, bool(40 < np.median(sig.hr) < 100)
((1440,), True)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ingest.simulator.events import Event
from ingest.simulator.profiles import Physiology

logger = logging.getLogger(__name__)

F64 = NDArray[np.float64]


@dataclass(slots=True)
class Vitals:
    """True (noise-included, artifact-free) vitals on the sampling grid, plus context.

    ``bouts`` are the exercise bouts as ``(start, stop)`` sample indices.
    """

    hr: F64
    spo2: F64
    rr: F64
    temp: F64
    sbp: F64
    dbp: F64
    motion: F64
    asleep: NDArray[np.bool_]
    exercise: NDArray[np.bool_]
    bouts: list[tuple[int, int]]


def smoothed_noise(rng: np.random.Generator, n: int, tau: float, sd: float) -> F64:
    """Zero-mean AR(1)-like noise with time constant ``tau`` samples and std ``sd``.

    >>> x = smoothed_noise(np.random.default_rng(0), 20000, tau=10.0, sd=2.0)
    >>> bool(1.7 < x.std() < 2.3)
    True
    """
    if tau <= 1.0:
        return rng.normal(0.0, sd, n)
    width = int(min(5 * tau, n))
    kernel = np.exp(-np.arange(width) / tau)
    kernel /= np.sqrt(np.sum(kernel**2))
    white = rng.normal(0.0, sd, n + width)
    return np.convolve(white, kernel, mode="valid")[:n]


def _bump(n: int, start: int, stop: int, rise: float, fall: float) -> F64:
    """Exponential approach to 1 from ``start`` to ``stop``, exponential decay after."""
    t = np.arange(n, dtype=np.float64)
    out = np.zeros(n)
    on = (t >= start) & (t < stop)
    out[on] = 1.0 - np.exp(-(t[on] - start) / rise)
    peak = out[stop - 1] if stop - 1 > start else 0.0
    after = t >= stop
    out[after] = peak * np.exp(-(t[after] - stop) / fall)
    return out


def _free(start: int, stop: int, protected: list[tuple[int, int]]) -> bool:
    return all(stop < a or start > b for a, b in protected)


def _exercise(
    rng: np.random.Generator,
    phys: Physiology,
    v: dict[str, F64],
    asleep: NDArray[np.bool_],
    per_min: float,
    protected: list[tuple[int, int]],
) -> tuple[NDArray[np.bool_], list[tuple[int, int]]]:
    """Add exercise bouts and short walks (awake, away from events) to ``v`` in place."""
    n = asleep.size
    exercise = np.zeros(n, dtype=bool)
    bouts: list[tuple[int, int]] = []
    days = n / (1440.0 * per_min)
    short = phys.profile in ("copd", "frail_elderly")
    for is_walk, count in (
        (False, rng.poisson(phys.exercise_per_day * days)),
        (True, rng.poisson(3.0 * days)),
    ):
        for _ in range(int(count)):
            dur_min = rng.integers(5, 21) if is_walk else rng.integers(10 if short else 15, 91)
            length = max(int(dur_min * per_min), 1)
            a = int(rng.integers(0, max(n - length, 1)))
            b = min(a + length, n)
            if asleep[a:b].any() or not _free(a, b, protected) or exercise[a:b].any():
                continue
            shape = _bump(n, a, b, rise=3 * per_min, fall=6 * per_min)
            if is_walk:
                v["motion"][a:b] = rng.uniform(0.3, 0.6, b - a)
                v["hr"] += shape * rng.uniform(10, 15 if short else 25)
                v["rr"] += shape * rng.uniform(2, 4)
                continue
            exercise[a:b] = True
            bouts.append((a, b))
            v["motion"][a:b] = rng.uniform(0.8, 2.0, b - a)
            v["hr"] += shape * (phys.exercise_hr - phys.hr)
            v["rr"] += shape * (rng.uniform(22, 26 if short else 30) - phys.rr)
            v["spo2"] -= shape * (rng.uniform(2, 4) if short else rng.uniform(0, 2))
            v["temp"] += shape * rng.uniform(0.3, 0.6)
            v["sbp"] += shape * rng.uniform(20, 40)
            v["dbp"] += shape * rng.uniform(0, 5)
    bouts.sort()
    return exercise, bouts


def true_vitals(
    rng: np.random.Generator,
    phys: Physiology,
    *,
    n: int,
    start: float,
    period_s: float,
    events: list[Event],
    protected: list[tuple[int, int]],
) -> Vitals:
    """Simulate one patient's true vitals for ``n`` samples from epoch ``start``.

    Parameters
    ----------
    rng
        The patient's random generator.
    phys
        The patient's physiology.
    n
        Number of samples.
    start
        Epoch seconds (UTC) of sample 0.
    period_s
        Seconds between samples.
    events
        Labelled events to superimpose (times in minutes from sample 0).
    protected
        Sample-index windows where no exercise or walk may happen (around events).
    """
    per_min = 60.0 / period_s
    t = start + np.arange(n) * period_s
    chrono = rng.uniform(-1.5, 1.5)  # chronotype / time-zone shift (h)
    hour = ((t / 3600.0) + chrono) % 24.0
    sleep_start, sleep_len = 23.0 + rng.uniform(-1.0, 1.0), rng.uniform(6.5, 9.0)
    asleep = ((hour - sleep_start) % 24.0) < sleep_len
    width = max(int(20 * per_min), 1)  # falling asleep takes ~20 min
    sleepy = np.convolve(asleep.astype(float), np.ones(width), "same") / width

    def circ(peak_h: float) -> F64:
        return np.asarray(np.cos(2 * np.pi * (hour - peak_h) / 24.0), dtype=np.float64)

    # Motion: quiet asleep with turnovers; lognormal awake activity.
    awake_motion = phys.activity * np.exp(smoothed_noise(rng, n, 5 * per_min, 0.5))
    turnover = (rng.random(n) < 0.02) * rng.uniform(0.1, 0.4, n)
    motion = np.where(asleep, 0.01 + np.abs(rng.normal(0, 0.005, n)) + turnover, awake_motion)

    surge = 12.0 if phys.profile == "hypertensive" else 6.0
    morning = np.exp(-(((hour - 8.0) % 24.0 - 1.5) ** 2) / 2.0)  # ~1-3 h after waking
    hr_amp = 2.0 if phys.profile == "athlete" else 3.0  # keeps athletes' nights near 40-44
    det = {
        "hr": phys.hr + hr_amp * circ(16.0) - phys.hr_sleep_drop * sleepy,
        "spo2": phys.spo2 - phys.spo2_sleep_drop * sleepy,
        "rr": phys.rr - 1.5 * sleepy,
        "temp": phys.temp + 0.25 * circ(18.0) - 0.2 * sleepy,
        "sbp": phys.sbp - 10.0 * sleepy + surge * morning,
        "dbp": phys.dbp - 6.0 * sleepy + 0.4 * surge * morning,
    }
    det["hr"] += 30.0 * np.minimum(motion, 0.5)
    v: dict[str, F64] = {
        "hr": det["hr"]
        + smoothed_noise(rng, n, 30 * per_min, 2.5)
        + smoothed_noise(rng, n, 2 * per_min, 1.0),
        "spo2": det["spo2"] + smoothed_noise(rng, n, 20 * per_min, 0.4),
        "rr": det["rr"] + smoothed_noise(rng, n, 15 * per_min, 0.7),
        "temp": det["temp"] + smoothed_noise(rng, n, 60 * per_min, 0.1),
        "sbp": det["sbp"] + smoothed_noise(rng, n, 60 * per_min, 4.0),
        "dbp": det["dbp"] + smoothed_noise(rng, n, 60 * per_min, 3.0),
        "motion": motion,
    }
    exercise, bouts = _exercise(rng, phys, v, asleep, per_min, protected)

    minutes = np.arange(n) / per_min
    for ev in events:
        s = ev.shape(minutes)
        for name, base in det.items():
            if name in ev.levels:
                # the event dominates: 30 % of the usual slow variation survives the plateau
                v[name] += s * (ev.levels[name] - base - 0.7 * (v[name] - base))
            v[name] += s * ev.deltas.get(name, 0.0)

    white = rng.normal(0.0, 1.0, (6, n))
    return Vitals(
        hr=np.clip(v["hr"] + 0.7 * white[0], 25, 220),
        spo2=np.clip(v["spo2"] + 0.3 * white[1], 60, 100),
        rr=np.clip(v["rr"] + 0.5 * white[2], 4, 60),
        temp=v["temp"] + 0.05 * white[3],
        sbp=v["sbp"] + 4.0 * white[4],
        dbp=v["dbp"] + 3.0 * white[5],
        motion=v["motion"],
        asleep=asleep,
        exercise=exercise,
        bouts=bouts,
    )

"""What the wearable makes of the body: artifacts, gaps, late delivery, cuff schedule, clock.

Choices (documented here because the detector and the evaluation depend on them):

- **Temperature** is reported in *every* sample (a skin/core estimate from the patch), rounded to
  0.1 C; HR, SpO2 and RR are integers; motion (g) has 3 decimals, quality (0..1) 2.
- **Blood pressure** comes from a cuff every 15-60 min (uniform, independently per reading):
  ``sbp``/``dbp`` are present only in those samples.
- **Motion artifacts** (about 4 a day, 1-5 min, half of them a single sample): false HR 150-200
  or 30-40, or a false SpO2 dip to 70-86. 70 % come with high motion (1-2.5 g) *and* low quality
  (< 0.45), 20 % with low quality only (a loose strap), 10 % with high motion only (quality
  0.55-0.8: the hard case).
- **Charging gaps**: most days one 30-90 min stretch with no sample at all (never in the first
  6 h, never near a labelled event).
- **Dropouts with batched catch-up**: about 0.8 a day, 5-60 min. The samples exist with their
  original device ``ts`` but are *received* in one burst 5 s - 5 min after the link returns, i.e.
  after newer samples: per patient out of ``ts`` order by up to ~65 min.
- **Clock**: a fixed offset of -3..3 s, a drift of -20..20 ppm (<= 1.7 s/day) and +-1 s jitter;
  ``ts`` is rounded to whole seconds. Receive latency is 0.5-3 s.
- **Missing channels**: ~1 % of samples lack SpO2 and ~0.5 % lack RR.
- **Invalid samples**: a small fraction (default 0.05 %) carry one impossible value (HR 350-999,
  SpO2 120-200, temp 5-20 or 48-60, RR < 0 or 150-250, SBP 400-600, or HR as a string) and are
  labelled so the rejection path is exercised.

Examples
--------
>>> import numpy as np
>>> from ingest.simulator.physiology import true_vitals
>>> from ingest.simulator.profiles import draw_physiology
>>> rng = np.random.default_rng(0)
>>> v = true_vitals(rng, draw_physiology(rng, "adult"), n=2880, start=0.0, period_s=60.0,
...                 events=[], protected=[])
>>> tr = observe(rng, v, start=0.0, period_s=60.0, protected=[], invalid_fraction=0.0)
>>> int(np.isfinite(tr.columns["sbp"]).sum()) < 2880 // 15
True
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ingest.simulator.physiology import Vitals

logger = logging.getLogger(__name__)

F64 = NDArray[np.float64]
CHANNELS = ("hr", "spo2", "rr", "temp", "sbp", "dbp", "motion", "quality")


@dataclass(slots=True)
class DeviceTrace:
    """One patient's observed samples, with everything the labels need to explain them.

    ``columns`` hold NaN where a channel is absent; rows with ``keep`` False were never sent
    (charging). Index windows are ``(start, stop)`` sample indices, stop exclusive.
    """

    ts: F64
    received_at: F64
    keep: NDArray[np.bool_]
    columns: dict[str, F64]
    invalid: dict[int, tuple[str, object]] = field(default_factory=dict)
    artifacts: list[tuple[int, int, str]] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    dropouts: list[tuple[int, int, float]] = field(default_factory=list)
    clock_offset_s: float = 0.0
    clock_drift_ppm: float = 0.0


def _overlaps(a: int, b: int, windows: list[tuple[int, int]]) -> bool:
    return any(not (b <= lo or a >= hi) for lo, hi in windows)


def _artifacts(
    rng: np.random.Generator, cols: dict[str, F64], per_min: float, days: float
) -> list[tuple[int, int, str]]:
    n = cols["hr"].size
    out: list[tuple[int, int, str]] = []
    for _ in range(int(rng.poisson(4.0 * days))):
        length = 1 if rng.random() < 0.5 else max(int(rng.integers(2, 6) * per_min), 1)
        a = int(rng.integers(0, n - length))
        b = a + length
        kind = str(rng.choice(["hr_high", "hr_low", "spo2_dip"], p=[0.45, 0.2, 0.35]))
        if kind == "hr_high":
            cols["hr"][a:b] = rng.uniform(150, 200, length)
        elif kind == "hr_low":
            cols["hr"][a:b] = rng.uniform(30, 40, length)
        else:
            cols["spo2"][a:b] = rng.uniform(70, 86, length)
        mode = rng.random()
        if mode < 0.9:
            cols["quality"][a:b] = rng.uniform(0.1, 0.45, length)
        else:
            cols["quality"][a:b] = rng.uniform(0.55, 0.8, length)
        if mode < 0.7 or mode >= 0.9:
            cols["motion"][a:b] = rng.uniform(1.0, 2.5, length)
        out.append((a, b, kind))
    return out


def _invalid(
    rng: np.random.Generator, keep: NDArray[np.bool_], fraction: float
) -> dict[int, tuple[str, object]]:
    candidates = np.flatnonzero(keep[10:]) + 10
    count = int(rng.binomial(candidates.size, fraction)) if fraction > 0 else 0
    rows: list[int] = (
        sorted(rng.choice(candidates, size=count, replace=False).tolist()) if count else []
    )
    out: dict[int, tuple[str, object]] = {}
    for row in rows:
        pick = int(rng.integers(0, 7))
        bad: tuple[str, object] = (
            ("hr", int(rng.integers(350, 1000))),
            ("spo2", int(rng.integers(120, 201))),
            ("temp", round(float(rng.choice([rng.uniform(5, 20), rng.uniform(48, 60)])), 1)),
            ("rr", int(rng.choice([rng.integers(-10, 0), rng.integers(150, 251)]))),
            ("sbp", int(rng.integers(400, 601))),
            ("hr", "n/a"),
            ("spo2", int(rng.integers(120, 201))),
        )[pick]
        out[int(row)] = bad
    return out


def observe(
    rng: np.random.Generator,
    v: Vitals,
    *,
    start: float,
    period_s: float,
    protected: list[tuple[int, int]],
    invalid_fraction: float,
) -> DeviceTrace:
    """Turn true vitals into what one device sends and when it arrives.

    Parameters
    ----------
    rng
        The patient's random generator.
    v
        True vitals from :func:`ingest.simulator.physiology.true_vitals`.
    start
        Epoch seconds (UTC) of sample 0.
    period_s
        Seconds between samples.
    protected
        Sample-index windows kept free of charging gaps (around labelled events).
    invalid_fraction
        Probability that a sent sample carries one impossible value.
    """
    n = v.hr.size
    per_min = 60.0 / period_s
    days = n / (1440.0 * per_min)
    true_t = start + np.arange(n) * period_s

    quality = 0.95 - 0.075 * np.minimum(v.motion, 2.0) + rng.normal(0.0, 0.03, n)
    cols: dict[str, F64] = {
        "hr": v.hr.copy(),
        "spo2": v.spo2.copy(),
        "rr": v.rr.copy(),
        "temp": v.temp.copy(),
        "motion": v.motion.copy(),
        "quality": np.clip(quality, 0.5, 1.0),
    }
    artifacts = _artifacts(rng, cols, per_min, days)
    cols["spo2"][rng.random(n) < 0.01] = np.nan
    cols["rr"][rng.random(n) < 0.005] = np.nan

    cuff = np.zeros(n, dtype=bool)
    at = float(rng.uniform(0, 30))
    while at * per_min < n:
        cuff[int(at * per_min)] = True
        at += float(rng.uniform(15, 60))
    cols["sbp"] = np.where(cuff, v.sbp, np.nan)
    cols["dbp"] = np.where(cuff, np.minimum(v.dbp, v.sbp - 15.0), np.nan)

    keep = np.ones(n, dtype=bool)
    gaps: list[tuple[int, int]] = []
    for day in range(int(np.ceil(days))):
        if rng.random() > 0.85:
            continue
        length = int(rng.integers(30, 91) * per_min)
        a = int((day + rng.random()) * 1440 * per_min)
        b = a + length
        if a < 6 * 60 * per_min or b >= n or _overlaps(a, b, protected):
            continue
        keep[a:b] = False
        gaps.append((a, b))

    latency = rng.uniform(0.5, 3.0, n)
    received = true_t + latency
    dropouts: list[tuple[int, int, float]] = []
    for _ in range(int(rng.poisson(0.8 * days))):
        length = int(rng.integers(5, 61) * per_min)
        a = int(rng.integers(int(30 * per_min), max(n - length - 1, int(30 * per_min) + 1)))
        b = a + length
        if b >= n - 1 or _overlaps(a, b + 1, gaps) or _overlaps(a, b, [d[:2] for d in dropouts]):
            continue
        delivered = float(true_t[b] + rng.uniform(5.0, 300.0))
        received[a:b] = delivered + np.arange(b - a) * 0.02
        dropouts.append((a, b, delivered))

    offset, ppm = float(rng.uniform(-3, 3)), float(rng.uniform(-20, 20))
    ts = np.round(true_t + offset + ppm * 1e-6 * (true_t - start) + rng.uniform(-1, 1, n))

    cols["hr"] = np.round(cols["hr"])
    cols["spo2"] = np.minimum(np.round(cols["spo2"]), 100.0)
    cols["rr"] = np.round(cols["rr"])
    cols["temp"] = np.round(cols["temp"], 1)
    cols["sbp"] = np.round(cols["sbp"])
    cols["dbp"] = np.round(cols["dbp"])
    cols["motion"] = np.round(cols["motion"], 3)
    cols["quality"] = np.round(cols["quality"], 2)
    return DeviceTrace(
        ts=ts,
        received_at=received,
        keep=keep,
        columns=cols,
        invalid=_invalid(rng, keep, invalid_fraction),
        artifacts=artifacts,
        gaps=gaps,
        dropouts=dropouts,
        clock_offset_s=offset,
        clock_drift_ppm=ppm,
    )

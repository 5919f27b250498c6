"""A second labelled cohort, generated independently of our simulator.

Usage::

    .venv/bin/python bench/second_cohort.py --out DIR [--patients 150] [--days 5] [--seed 0]
                                            [--without NAMES] [--brief-only]
    .venv/bin/vigil eval DIR

Written apart from :mod:`ingest.simulator`: its own physiology, confounders and event shapes,
none of the simulator's code or parameters (only the event types, the labels' vocabulary).
Detection tuned on the simulator can thus be checked against confounders it was never tuned
on. It writes the files ``vigil simulate`` writes, so ``vigil eval DIR`` scores it:

- ``samples.jsonl``: one JSON object a minute per patient (``patient_id``, ``device_id``, ``ts``
  on the device's clock, ``hr``, ``spo2``, ``rr``, ``temp``, ``motion``, ``quality``, ``sbp`` and
  ``dbp`` at cuff readings), all patients in receive order;
- ``labels.json``: ``patients`` (``patient_id``, ``device_id``, ``profile``,
  ``config.spo2_scale``, ``first_sample``, ``last_sample``) and ``events`` (``patient_id``,
  ``type``, ``onset``, ``end``, ``cold_start``: onset < 6 h after the first sample). ``onset`` is
  the first minute of the ramp on the true clock, ``end`` the last minute of the plateau.

Only numpy and the standard library; the same options give byte-identical files.

Confounders (``--without NAMES`` switches off those named, a comma list of ``ex``, ``walk``,
``stairs``, ``stress``, ``meal``, ``osa``, ``rem``, ``strap``, ``artifact``, ``af``;
``--brief-only`` those beyond the project brief's list, :data:`BEYOND_BRIEF`; the draws after a
switched-off confounder change, so the rest of the patient is drawn anew, not kept):

- population: 45 % ordinary, 10 % athletes (HR 40-50), 12 % COPD (SpO2 88-92, every other one
  ``spo2_scale`` 2), 15 % hypertensive (SBP 145-165), 18 % frail (larger BP variability, slower
  recovery); enrolment staggered over the first 8 h;
- sleep: bedtime about 22:50, 20 % late sleepers (00:20-02:30), 12 % of the non-frail on night
  shift (07:30-09:30; at night on 30 % of days); 6.3-8.6 h (frail 7.5-9.5 h), naps (frail
  45 % of days); nocturnal HR dip 6-16 %, BP dip (30 % non-dippers), circadian temperature,
  morning BP surge;
- ``ex``: exercise (athletes 1-1.5 bouts a day, frail 0-0.15) of 10-95 min to a profile's peak HR
  (95-175), 30 % interval training; RR, SBP, temperature up, SpO2 down, motion 0.4-2.2 g;
- ``walk``: walks of 3-20 min, HR +15-30 (frail +10-20), motion 0.1-0.8 g;
- ``stairs``: 1-3 min, HR +20-32, motion 0.45-0.9 g;
- ``stress``: spells of 10-30 min at rest, HR +15-25, BP +10-22/+5-12, motion below 0.05 g;
- ``meal``: up to three meals a day, HR +5-10 for 30-90 min (the post-prandial hypotension of
  40 % of the frail, SBP -8-20, stays);
- ``osa``: sleep apnoea (15 %; athletes 5 %, frail and hypertensive 21 %), AHI 10-45: SpO2 dips
  of 3-8 % lasting 0.5-1.5 min, dense or sparse in 90 min cycles; arousal HR +5-12, sometimes a
  movement;
- ``rem``: REM desaturations (COPD, 30 % of the frail), up to 4 a night, 10-35 min, SpO2 -2-5;
- ``af``: AF-like HR noise in 35 % of the frail (Laplace, scale 5-9 bpm, instead of 0.8-1.8);
- ``artifact``: motion artifacts of 1-5 min (0.08-0.3 an hour awake, 0.02 asleep, 2-5 % a
  minute of exercise): HR 150-200 or 30-40, SpO2 80-88, quality low, or 0.55-0.85 (25 %);
- ``strap``: loose straps (0.2 a day) of 10-60 min: noisy HR, RR and SpO2 (biased down), skin
  temperature falling 0.4-1.5 C, quality 0.25-0.6;
- always on: field drop-outs (runs per day: RR 4, temperature 2, SpO2 2, HR 0.3; RR in heavy
  motion, SpO2 in exercise), a charging gap of 30-120 min on 92 % of days (not within 2 h of
  either end), Bluetooth batches (0.5-2 a day, 5-60 min delivered at once), delivery 1-12 s +
  exponential 3 s, device clock offset +-60 s and drift +-50 ppm, a cuff every 15-60 or 30-60
  min (4 % missed, suspended during sleep for 45 %, motion raises it), quantisation (25 %: 1-6 h
  windows of HR in steps of 5, SpO2 of 2; 10 %: temperature in steps of 0.25 C), skin
  temperature 0.3-0.9 C below core, and invalid values in 0.05 % of samples (SpO2 0/127/130, HR
  "n/a"/-5/0/255, RR -1, temperature 0.0/45.9).

Events (types weighted by profile: COPD desaturation x3 and tachypnea x2, hypertensive crisis
x4 for the hypertensive, sepsis x2.5 for the frail, bradycardia x2 for athletes): 30 % of
patients get one within their first 6 h, then Poisson(0.3 a day - 0.3), at least 3 h apart.
Ramp + plateau 60-360 min (plateau >= 30), ramp 5-60 min (fever 20-60; 30 % of tachycardia,
bradycardia and desaturation abrupt, 2-5 min), linear, exponential or sigmoid; recovery 15-90
min, linear or quadratic. Sepsis: ramp, plateau 2-6 h each, recovery 2-4 h. The vital moves
towards a target, keeping part of its own variation:

- ``tachycardia``: HR 120-150; ``bradycardia``: HR 35-45 (athletes 32-38);
- ``desaturation``: SpO2 84-89 (COPD 80-85), HR and RR up;
- ``fever``: skin temperature towards 38.3-39.8 C, HR +10 per C, RR up;
- ``hypotension``: BP 75-90/42-55, HR +15-30; ``tachypnea``: RR 24-32;
- ``hypertensive_crisis``: BP 180-220/110-130;
- ``sepsis``: HR 105-130, RR 22-30, fever (70 %) or skin 34.9-35.6 C, BP falling late to
  82-98/45-58, SpO2 -2-5.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# the label vocabulary, the one thing shared with the simulator: vigil eval reads both
from ingest.simulator.events import EVENT_TYPES  # noqa: E402

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Rng = np.random.Generator

START = np.datetime64("2025-03-03T00:00:00", "s")

CONFOUNDERS = ("ex", "walk", "stairs", "stress", "meal", "osa", "rem", "strap", "artifact", "af")
BEYOND_BRIEF = ("osa", "rem", "stress", "meal", "strap", "af")
"""Confounders beyond the project brief's list (``--brief-only`` switches them off)."""

PROFILE_MIX = [
    ("ordinary", 0.45),
    ("athlete", 0.10),
    ("copd", 0.12),
    ("hypertensive", 0.15),
    ("frail", 0.18),
]


#: A profile's resting baselines, each drawn uniformly from its range.
PROFILE_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "athlete": {"hr": (40, 50), "spo2": (96, 99), "rr": (10, 14), "sbp": (105, 125),
                "dbp": (62, 76), "core": (36.5, 37.0)},
    "copd": {"hr": (72, 92), "spo2": (88, 92), "rr": (16, 22), "sbp": (118, 145),
             "dbp": (68, 86), "core": (36.4, 37.0)},
    "hypertensive": {"hr": (62, 85), "spo2": (94, 98), "rr": (12, 18), "sbp": (145, 165),
                     "dbp": (88, 102), "core": (36.5, 37.1)},
    "frail": {"hr": (62, 85), "spo2": (92, 97), "rr": (14, 20), "sbp": (110, 150),
              "dbp": (58, 84), "core": (36.2, 36.9)},
    "ordinary": {"hr": (58, 82), "spo2": (95, 99), "rr": (12, 18), "sbp": (108, 138),
                 "dbp": (65, 88), "core": (36.5, 37.1)},
}  # fmt: skip

BASE_EVENT_W = {
    "tachycardia": 1.0,
    "bradycardia": 0.8,
    "desaturation": 1.0,
    "fever": 1.0,
    "hypotension": 0.8,
    "tachypnea": 0.8,
    "hypertensive_crisis": 0.6,
    "sepsis": 0.6,
}
PROFILE_EVENT_MULT: dict[str, dict[str, float]] = {
    "ordinary": {},
    "athlete": {"bradycardia": 2.0, "hypertensive_crisis": 0.2, "sepsis": 0.3},
    "copd": {"desaturation": 3.0, "tachypnea": 2.0},
    "hypertensive": {"hypertensive_crisis": 4.0},
    "frail": {"sepsis": 2.5, "hypotension": 1.5, "bradycardia": 1.5, "fever": 1.2},
}

BAD_VALUES: list[tuple[str, Any]] = [
    ("spo2", 130),
    ("spo2", 0),
    ("hr", "n/a"),
    ("hr", -5),
    ("hr", 0),
    ("hr", 255),
    ("rr", -1),
    ("temp", 0.0),
    ("spo2", 127),
    ("temp", 45.9),
]

Night = tuple[int, int, int]  # (first minute asleep, end, unclipped bedtime minute)


# --------------------------------------------------------------------------------------------
# signal helpers
# --------------------------------------------------------------------------------------------
def lag(x: Floats, tau_up: float, tau_dn: float) -> Floats:
    """Asymmetric first-order lag (a response with different rise and recovery time constants,
    in minutes)."""
    a_up = 1.0 - math.exp(-1.0 / tau_up)
    a_dn = 1.0 - math.exp(-1.0 / tau_dn)
    xl = x.tolist()
    out = [0.0] * len(xl)
    v = xl[0]
    for i, xi in enumerate(xl):
        d = xi - v
        v += d * (a_up if d > 0 else a_dn)
        out[i] = v
    return np.asarray(out)


def ar1(rng: Rng, n: int, phi: float, sd: float) -> Floats:
    """Stationary AR(1) process with marginal standard deviation ``sd``."""
    e = rng.normal(0.0, sd * math.sqrt(1.0 - phi * phi), n).tolist()
    out = [0.0] * n
    v = rng.normal(0.0, sd)
    for i in range(n):
        v = phi * v + e[i]
        out[i] = v
    return np.asarray(out)


def runs_mask(rng: Rng, n: int, rate_per_day: float, lo: int, hi: int, days: int) -> Bools:
    """Random short runs of ``lo``-``hi`` minutes (sensor field drop-outs)."""
    m = np.zeros(n, bool)
    k = rng.poisson(rate_per_day * days)
    for _ in range(k):
        s = int(rng.integers(0, n))
        d = int(rng.integers(lo, hi + 1))
        m[s : s + d] = True
    return m


def place_episodes(
    rng: Rng, n_cand: int, dur_lo: int, dur_hi: int, ok: Bools, occupied: Bools, n: int
) -> list[tuple[int, int]]:
    """Up to ``n_cand`` episodes ``(start, end)`` where ``ok`` holds and nothing else is."""
    out = []
    for _ in range(n_cand):
        s = int(rng.integers(0, n))
        d = int(rng.integers(dur_lo, dur_hi + 1))
        e = min(n, s + d)
        if e - s < 1:
            continue
        if ok[s:e].all() and not occupied[s:e].any():
            occupied[s:e] = True
            out.append((s, e))
    return out


def iso_min(min_abs: int) -> str:
    """ISO-8601 UTC time of a minute since :data:`START`."""
    return str(START + np.timedelta64(int(round(min_abs * 60)), "s")) + "Z"


def blend(v: Floats, s: Floats, target: float, ref: float, keep: float = 0.3) -> Floats:
    """Move ``v`` towards ``target`` by ``s`` (0-1), keeping ``keep`` of its variation."""
    return (1 - s) * v + s * (target + keep * (v - ref))


# --------------------------------------------------------------------------------------------
# patient
# --------------------------------------------------------------------------------------------
def draw_params(rng: Rng, profile: str) -> dict[str, Any]:
    """A patient's baselines and traits."""
    U = rng.uniform
    p: dict[str, Any] = {"profile": profile, "af": False}
    lo_hi = PROFILE_RANGES.get(profile, PROFILE_RANGES["ordinary"])
    p.update({vital: U(lo, hi) for vital, (lo, hi) in lo_hi.items()})  # (drawn in this order)
    if profile == "frail":
        p["af"] = rng.random() < 0.35
        if p["af"]:
            p["hr"] = U(72, 95)
    p["skin_off"] = U(0.3, 0.9)  # wrist reads below core
    p["hr_dip"] = U(0.06, 0.16)  # nocturnal HR fall (fraction)
    p["bp_dip"] = U(-0.02, 0.06) if rng.random() < 0.3 else U(0.08, 0.18)  # non-dippers
    p["bp_var"] = U(8, 13) if profile == "frail" else U(3.5, 6.5)
    p["tau_rec"] = U(2.0, 4.5) if profile != "frail" else U(3.5, 6.0)
    p["temp_amp"] = U(0.15, 0.35)
    p["q_base"] = U(0.84, 0.97)
    osa_rate = (0.15 if profile != "athlete" else 0.05) * (
        1.0 if profile not in ("frail", "hypertensive") else 1.4
    )
    p["osa"] = rng.random() < osa_rate
    p["ahi"] = U(10, 45)
    return p


def sleep_schedule(
    rng: Rng, profile: str, days: int, first_min: int, n: int
) -> tuple[Bools, list[int], list[Night], float, float]:
    """``(asleep, wake minutes, nights, bedtime hour, sleep hours)``, minutes from ``first_min``."""
    U = rng.uniform
    r = rng.random()
    if profile != "frail" and r < 0.12:
        chrono, on_h = "shift", U(7.5, 9.5)
    elif r < 0.32:
        chrono, on_h = "late", U(24.3, 26.5)
    else:
        chrono, on_h = "normal", rng.normal(22.8, 0.6)
    dur_h = U(7.5, 9.5) if profile == "frail" else U(6.3, 8.6)
    asleep = np.zeros(n, bool)
    wakes: list[int] = []
    nights: list[Night] = []
    for d in range(-1, days + 2):
        oh = on_h
        if chrono == "shift" and rng.random() < 0.3:
            oh = rng.normal(23.5, 0.7)  # day off
        on = d * 1440 + (oh + rng.normal(0, 0.6)) * 60 - first_min
        du = (dur_h + rng.normal(0, 0.6)) * 60
        a, b = int(on), int(on + du)
        if b > 0 and a < n:
            asleep[max(a, 0) : min(b, n)] = True
            nights.append((max(a, 0), min(b, n), a))
        wakes.append(b)
        if rng.random() < (0.45 if profile == "frail" else 0.08):  # daytime nap
            na = int(on + du + U(5, 8) * 60)
            nb = na + int(U(20, 90))
            if nb > 0 and na < n:
                asleep[max(na, 0) : min(nb, n)] = True
    return asleep, wakes, nights, on_h, dur_h


def schedule_events(
    rng: Rng, profile: str, n: int, days: int
) -> tuple[list[dict[str, Any]], Bools]:
    """Clinical events (index, ramp, plateau, recovery, shape) and the minutes of illness."""
    U = rng.uniform
    events: list[dict[str, Any]] = []
    busy = np.zeros(n, bool)
    ill = np.zeros(n, bool)
    w = np.array([BASE_EVENT_W[t] * PROFILE_EVENT_MULT[profile].get(t, 1.0) for t in EVENT_TYPES])
    w = w / w.sum()

    def try_event(lo: int, hi: int) -> bool:
        etype = EVENT_TYPES[int(rng.choice(len(EVENT_TYPES), p=w))]
        if etype == "sepsis":
            ramp = int(U(120, 360))
            plat = int(U(120, 360))
            rec = int(U(120, 240))
        else:
            total = int(U(60, 360))
            if etype in ("tachycardia", "bradycardia", "desaturation") and rng.random() < 0.3:
                ramp = int(rng.integers(2, 6))  # abrupt
            elif etype == "fever":
                ramp = int(U(20, 60))
            else:
                ramp = int(U(5, 60))
            plat = max(total - ramp, 30)
            rec = int(U(15, 90))
        span = ramp + plat + rec
        for _ in range(30):
            if hi - lo <= 0:
                return False
            on = int(rng.integers(lo, hi))
            if on + span + 5 >= n:
                continue
            if busy[max(0, on - 180) : on + span + 180].any():
                continue
            busy[on : on + span] = True
            ill[max(0, on - 30) : on + span] = True
            shape = str(rng.choice(["linear", "exp", "sigmoid"]))
            events.append(
                {"type": etype, "on": on, "ramp": ramp, "plat": plat, "rec": rec, "shape": shape}
            )
            return True
        return False

    if rng.random() < 0.30:
        try_event(10, 350)
    for _ in range(rng.poisson(max(0.0, 0.3 * days - 0.3))):
        try_event(360, n - 120)
    return events, ill


@dataclass
class Drives:
    """What behaviour adds to the vitals (before their response lags), and the motion."""

    hr: Floats
    rr: Floats
    sbp: Floats
    dbp: Floats
    spo2: Floats
    temp: Floats
    meal: Floats
    meal_bp: Floats
    surge: Floats
    motion: Floats
    exercise: Bools


def behaviour(
    rng: Rng,
    p: dict[str, Any],
    days: int,
    asleep: Bools,
    ill: Bools,
    wakes: list[int],
    off: frozenset[str],
) -> Drives:
    """Motion, exercise, walks, stairs, stress, meals and the morning BP surge."""
    U = rng.uniform
    profile = p["profile"]
    n = len(asleep)
    awake = ~asleep
    hr_drv = np.zeros(n)
    rr_drv = np.zeros(n)
    sbp_drv = np.zeros(n)
    dbp_drv = np.zeros(n)
    spo2_drv = np.zeros(n)
    temp_drv = np.zeros(n)
    meal_drv = np.zeros(n)
    mealbp = np.zeros(n)
    ex_mask = np.zeros(n, bool)
    occupied = np.zeros(n, bool)
    ok = awake & ~ill
    awake_frac = max(ok.mean(), 0.2)

    # motion baseline
    med_aw = {"athlete": 0.11, "frail": 0.05, "copd": 0.07}.get(profile, 0.09) * U(0.75, 1.3)
    m_aw = med_aw * np.exp(0.55 * ar1(rng, n, 0.85, 1.0))
    m_sl = 0.012 * np.exp(0.45 * rng.normal(0, 1, n))
    turns = rng.random(n) < (U(2, 5) / 60.0)
    m_sl = np.where(turns, U(0.05, 0.25, n), m_sl)
    motion = np.where(asleep, m_sl, m_aw)
    hr_drv += np.where(awake, 28.0 * np.clip(m_aw - med_aw, -0.04, 0.3), 0.0)

    # exercise bouts
    ex_rate = {"athlete": U(1.0, 1.5), "ordinary": U(0.15, 0.7), "hypertensive": U(0.15, 0.5),
               "copd": U(0.1, 0.35), "frail": U(0.0, 0.15)}[profile]  # fmt: skip
    ex_peak = {"athlete": (135, 175), "ordinary": (115, 160), "hypertensive": (110, 145),
               "copd": (100, 125), "frail": (95, 115)}[profile]  # fmt: skip
    ex_dur = {"athlete": (30, 95), "ordinary": (20, 60), "hypertensive": (20, 50),
              "copd": (10, 25), "frail": (10, 25)}[profile]  # fmt: skip
    nb = rng.poisson(ex_rate * days / awake_frac * 0.8) * ("ex" not in off)
    for s, e in place_episodes(rng, nb, ex_dur[0], ex_dur[1], ok, occupied, n):
        L = e - s
        peak = U(*ex_peak) - p["hr"]
        fl = 1.0 + 0.07 * ar1(rng, L, 0.8, 1.0)
        if rng.random() < 0.3:  # interval training
            fl += 0.12 * np.sign(np.sin(np.arange(L) * 2 * np.pi / U(4, 8)))
        hr_drv[s:e] += peak * fl
        rr_drv[s:e] += U(8, 18) * fl
        sbp_drv[s:e] += U(20, 45)
        dbp_drv[s:e] += U(-3, 6)
        spo2_drv[s:e] += U(2, 5) if profile == "copd" else U(0.5, 3.0)
        temp_drv[s:e] += U(0.3, 0.8)
        lvl = U(0.5, 1.8) if profile in ("athlete", "ordinary") else U(0.4, 0.9)
        motion[s:e] = np.clip(lvl * fl * (1 + 0.2 * rng.normal(0, 1, L)), 0.4, 2.2)
        ex_mask[s:e] = True

    # walks
    walk_rate = {"athlete": 0.9, "ordinary": 0.9, "hypertensive": 0.7, "copd": 0.45,
                 "frail": 0.3}[profile] * U(0.6, 1.4)  # fmt: skip
    nw = rng.poisson(walk_rate * 16 * days / awake_frac * 0.7) * ("walk" not in off)
    for s, e in place_episodes(rng, nw, 3, 20, ok, occupied, n):
        L = e - s
        hr_drv[s:e] += U(15, 30) if profile != "frail" else U(10, 20)
        rr_drv[s:e] += U(3, 6)
        sbp_drv[s:e] += U(6, 15)
        dbp_drv[s:e] += U(0, 5)
        spo2_drv[s:e] += U(1, 3) if profile == "copd" else U(0, 0.6)
        motion[s:e] = np.clip(U(0.18, 0.5) * (1 + 0.25 * rng.normal(0, 1, L)), 0.1, 0.8)

    # stairs
    nst = rng.poisson((0.2 if profile == "frail" else 1.5) * days / awake_frac) * (
        "stairs" not in off
    )
    for s, e in place_episodes(rng, nst, 1, 3, ok, occupied, n):
        hr_drv[s:e] += U(20, 32)
        rr_drv[s:e] += U(4, 8)
        sbp_drv[s:e] += U(8, 18)
        motion[s:e] = U(0.45, 0.9, e - s)

    # stress / anxiety spells at rest
    nss = rng.poisson(U(0.3, 0.8) * days / awake_frac) * ("stress" not in off)
    for s, e in place_episodes(rng, nss, 10, 30, ok, occupied, n):
        hr_drv[s:e] += U(15, 25)
        rr_drv[s:e] += U(2, 5)
        sbp_drv[s:e] += U(10, 22)
        dbp_drv[s:e] += U(5, 12)
        motion[s:e] = U(0.01, 0.045, e - s)

    # meals (post-prandial HR rise, post-prandial hypotension in some frail)
    pph = profile == "frail" and rng.random() < 0.4
    for wk in wakes:
        for off_lo, off_hi in ((30, 90), (270, 390), (600, 720)):
            if rng.random() > 0.85:
                continue
            s = wk + int(U(off_lo, off_hi))
            e = s + int(U(30, 90))
            if e <= 0 or s >= n:
                continue
            s, e = max(s, 0), min(e, n)
            meal_drv[s:e] += U(5, 10) * ("meal" not in off)
            if pph:
                mealbp[s:e] -= U(8, 20)

    # morning BP surge
    surge = np.zeros(n)
    for wk in wakes:
        if -180 < wk < n:
            s = max(wk, 0)
            tt = np.arange(s, min(n, wk + 240)) - wk
            surge[s : s + len(tt)] += U(6, 18) * np.exp(-tt / 70.0)

    # ill: the patient rests in bed
    motion = np.where(ill & awake, np.minimum(motion, 0.03 + 0.05 * rng.random(n)), motion)
    return Drives(hr_drv, rr_drv, sbp_drv, dbp_drv, spo2_drv, temp_drv, meal_drv, mealbp, surge,
                  motion, ex_mask)  # fmt: skip


def sleep_apnoea(
    rng: Rng, p: dict[str, Any], nights: list[Night], motion: Floats, off: frozenset[str]
) -> tuple[Floats, Floats]:
    """OSA: SpO2 dips and arousal HR rises (arousals sometimes move ``motion``, in place)."""
    U = rng.uniform
    n = len(motion)
    osa_dip = np.zeros(n)
    osa_hr = np.zeros(n)
    if not (p["osa"] and "osa" not in off):
        return osa_dip, osa_hr
    for a, b, a_raw in nights:
        t = float(a) + U(10, 30)
        while t < b - 2:
            phase = math.sin(2 * math.pi * (t - a_raw) / 90.0)
            dense = phase > -0.2
            d = U(0.5, 1.5)
            depth = U(3, 8)
            c = t + 0.4 + d / 2
            for m in (int(c) - 1, int(c), int(c) + 1, int(c) + 2):
                if 0 <= m < n:
                    f = max(0.0, 1.0 - abs(m - c) / (d / 2 + 0.35))
                    osa_dip[m] = max(osa_dip[m], depth * f)
            ma = int(c + 0.7)
            if 0 <= ma < n:
                osa_hr[ma] += U(5, 12)
                if rng.random() < 0.3:
                    motion[ma] = max(motion[ma], U(0.04, 0.12))
            if dense:
                if p["ahi"] > 25:
                    t += max(60.0 / p["ahi"] * U(0.6, 1.4), d + 0.6)
                else:
                    t += U(1.3, 3.5)
            else:
                t += rng.exponential(12.0)
    return osa_dip, osa_hr


def rem_desaturation(
    rng: Rng, profile: str, nights: list[Night], n: int, off: frozenset[str]
) -> Floats:
    """SpO2 falls in REM sleep (COPD, some frail)."""
    U = rng.uniform
    rem = np.zeros(n)
    if (profile == "copd" or (profile == "frail" and rng.random() < 0.3)) and "rem" not in off:
        for a, b, a_raw in nights:
            for k in range(1, 5):
                s = a_raw + int(k * 95 + U(-15, 15))
                e = s + int(U(10, 35))
                if s >= a and e <= b and e > 0:
                    rem[max(s, 0) : e] = U(2, 5)
        rem = lag(rem, 3.0, 4.0)
    return rem


def event_course(rng: Rng, ev: dict[str, Any], n: int) -> Floats:
    """An event's course, 0-1: ramp (its shape), plateau, recovery; cut at ``n``."""
    on, ramp, plat, rec = ev["on"], ev["ramp"], ev["plat"], ev["rec"]
    k = np.arange(1, ramp + 1) / ramp
    if ev["shape"] == "exp" and ramp > 5:
        up = (1 - np.exp(-3 * k)) / (1 - math.exp(-3))
    elif ev["shape"] == "sigmoid" and ramp > 5:
        up = 1 / (1 + np.exp(-10 * (k - 0.5)))
        up = (up - up[0] * 0.5) / (up[-1] - up[0] * 0.5)
    else:
        up = k
    dn = 1 - np.arange(1, rec + 1) / rec
    if rng.random() < 0.5:
        dn = dn**2
    s_full = np.concatenate([up, np.ones(plat), dn])
    return s_full[: n - on] if on + len(s_full) > n else s_full


@dataclass
class Vitals:
    """The true course of each vital, one value a minute (``skin``: wrist temperature)."""

    hr: Floats
    rr: Floats
    spo2: Floats
    skin: Floats
    sbp: Floats
    dbp: Floats


def apply_event(
    rng: Rng, ev: dict[str, Any], v: Vitals, p: dict[str, Any], ref_skin: float
) -> None:
    """Move the vitals (in place) along an event's course."""
    U = rng.uniform
    hr, rr, spo2, skin, sbp, dbp = v.hr, v.rr, v.spo2, v.skin, v.sbp, v.dbp
    s = event_course(rng, ev, len(hr))
    sl = slice(ev["on"], ev["on"] + len(s))
    t = ev["type"]
    noise = rng.normal(0, 1, len(s))
    if t == "tachycardia":
        target = U(120, 150)
        hr[sl] = blend(hr[sl], s, target, p["hr"]) + s * noise * (5 if p["af"] else 1.5)
        rr[sl] += s * U(1, 4)
        sbp[sl] -= s * U(0, 10)
        dbp[sl] -= s * U(0, 5)
    elif t == "bradycardia":
        target = U(32, 38) if p["profile"] == "athlete" else min(U(35, 45), p["hr"] - 14)
        hr[sl] = blend(hr[sl], s, target, p["hr"], 0.15) + s * noise
        sbp[sl] -= s * U(0, 15)
        dbp[sl] -= s * U(0, 8)
    elif t == "desaturation":
        target = U(80, 85) if p["profile"] == "copd" else U(84, 89)
        spo2[sl] = blend(spo2[sl], s, target, p["spo2"]) + s * noise * 0.8
        hr[sl] += s * U(8, 20)
        rr[sl] += s * U(3, 8)
    elif t == "fever":
        target = U(38.3, 39.8)
        d_temp = max(1.0, target - ref_skin - p["skin_off"])  # core temperature rise
        skin[sl] = blend(skin[sl], s, target, ref_skin, 0.5)
        hr[sl] += s * 10 * d_temp
        rr[sl] += s * U(2, 3) * d_temp
        sbp[sl] -= s * U(0, 10)
        spo2[sl] -= s * U(0, 1.5)
    elif t == "hypotension":
        target = U(75, 90)
        sbp[sl] = blend(sbp[sl], s, target, p["sbp"], 0.2)
        dbp[sl] = blend(dbp[sl], s, U(42, 55), p["dbp"], 0.2)
        hr[sl] += s * U(15, 30)
        rr[sl] += s * U(1, 4)
    elif t == "tachypnea":
        target = U(24, 32)
        rr[sl] = blend(rr[sl], s, target, p["rr"]) + s * noise
        hr[sl] += s * U(5, 15)
        spo2[sl] -= s * U(0.5, 2.5)
    elif t == "hypertensive_crisis":
        sbp[sl] = blend(sbp[sl], s, U(180, 220), p["sbp"], 0.3)
        dbp[sl] = blend(dbp[sl], s, U(110, 130), p["dbp"], 0.3)
        hr[sl] += s * U(-5, 12)
    elif t == "sepsis":
        s_t = s**0.7
        s_b = s**1.6
        hr[sl] = blend(hr[sl], s, U(105, 130), p["hr"]) + s * noise * 1.5
        rr[sl] = blend(rr[sl], s, U(22, 30), p["rr"])
        if rng.random() < 0.7:
            skin[sl] = blend(skin[sl], s_t, U(38.3, 39.5), ref_skin, 0.5)
        else:
            skin[sl] = blend(skin[sl], s_t, U(34.9, 35.6), ref_skin, 0.5)
        sbp[sl] = blend(sbp[sl], s_b, U(82, 98), p["sbp"], 0.2)
        dbp[sl] = blend(dbp[sl], s_b, U(45, 58), p["dbp"], 0.2)
        spo2[sl] -= s * U(2, 5)


def cuff_schedule(rng: Rng, asleep: Bools) -> Bools:
    """The minutes with a cuff BP reading."""
    U = rng.uniform
    n = len(asleep)
    cuff_mode_lo = 15 if rng.random() < 0.6 else 30
    night_suspend = rng.random() < 0.45
    cuff = np.zeros(n, bool)
    tt = float(U(0, 30))
    while tt < n:
        i = int(tt)
        if not (night_suspend and asleep[i]) and rng.random() > 0.04:
            cuff[i] = True
        tt += U(cuff_mode_lo, 60)
    return cuff


def make_patient(
    rng: Rng,
    pidx: int,
    profile: str,
    days: int,
    spo2_scale: int,
    off: frozenset[str] = frozenset(),
) -> tuple[list[str], Floats, dict[str, Any], list[dict[str, Any]]]:
    """One patient: ``(sample lines, their receive times, labels entry, labelled events)``."""
    U = rng.uniform
    N = days * 1440
    p = draw_params(rng, profile)
    first_min = int(rng.integers(0, 8 * 60))  # enrolment stagger
    t_abs = first_min + np.arange(N)  # minutes since START (true clock)
    hours = t_abs / 60.0

    asleep, wakes, nights, on_h, dur_h = sleep_schedule(rng, profile, days, first_min, N)
    sleep_s = lag(asleep.astype(float), 20.0, 12.0)
    nadir_h = (on_h + 0.65 * dur_h) % 24
    circ = -np.cos(2 * np.pi * (hours - nadir_h) / 24.0)  # -1 at nadir, +1 ~12 h later
    awake = ~asleep

    events, ill = schedule_events(rng, profile, N, days)
    drv = behaviour(rng, p, days, asleep, ill, wakes, off)
    motion, ex_mask = drv.motion, drv.exercise
    osa_dip, osa_hr = sleep_apnoea(rng, p, nights, motion, off)
    rem = rem_desaturation(rng, profile, nights, N, off)

    # ---------------- baseline vitals ------------------------------------------------------
    tr = p["tau_rec"]
    act_hr = lag(drv.hr, 1.6, tr)
    if p["af"] and "af" not in off:
        beat = rng.laplace(0, U(5, 9), N)
    else:
        beat = rng.normal(0, U(0.8, 1.8), N)
    hr = (p["hr"] * (1 - p["hr_dip"] * sleep_s) + 2.5 * circ * (1 - sleep_s) + act_hr
          + lag(drv.meal, 10.0, 25.0) + osa_hr + ar1(rng, N, 0.97, U(1.5, 3.0)) + beat)  # fmt: skip
    rr = (p["rr"] - U(1.0, 2.0) * sleep_s + lag(drv.rr, 1.6, tr * 1.4)
          + ar1(rng, N, 0.95, 0.6) + rng.normal(0, 0.7, N))  # fmt: skip
    spo2 = (p["spo2"] - 0.8 * sleep_s - lag(drv.spo2, 1.0, 3.0) - osa_dip - rem
            + ar1(rng, N, 0.9, 0.5) + rng.normal(0, 0.5, N))  # fmt: skip
    core = p["core"] + p["temp_amp"] * circ + lag(drv.temp, 15.0, 30.0)
    skin = (core - p["skin_off"] + 0.3 * sleep_s + ar1(rng, N, 0.995, 0.15)
            + rng.normal(0, 0.05, N))  # fmt: skip
    bpw = ar1(rng, N, 0.97, p["bp_var"])
    meal_bp = lag(drv.meal_bp, 10, 20)
    sbp = (p["sbp"] * (1 - p["bp_dip"] * sleep_s) + drv.surge + lag(drv.sbp, 1.5, 6.0)
           + meal_bp + bpw)  # fmt: skip
    dbp = (p["dbp"] * (1 - 0.8 * p["bp_dip"] * sleep_s) + 0.5 * drv.surge
           + lag(drv.dbp, 1.5, 6.0) + 0.5 * meal_bp + 0.6 * bpw
           + ar1(rng, N, 0.9, 1.5))  # fmt: skip
    ref_skin = float(np.median(skin))

    # ---------------- clinical events ------------------------------------------------------
    vitals = Vitals(hr, rr, spo2, skin, sbp, dbp)
    ev_out = []
    for ev in events:
        apply_event(rng, ev, vitals, p, ref_skin)
        end = ev["on"] + ev["ramp"] + ev["plat"] - 1
        ev_out.append((ev["type"], first_min + ev["on"], first_min + end))

    cuff = cuff_schedule(rng, asleep)

    # ---------------- measurement layer ----------------------------------------------------
    hr_m = hr.copy()
    spo2_m = spo2.copy()
    rr_m = rr.copy()
    temp_m = skin.copy()
    qual = p["q_base"] - 0.22 * np.minimum(motion, 1.5) / 1.5 + rng.normal(0, 0.03, N)
    qual = np.where(asleep, qual + 0.02, qual)

    # loose strap periods
    for _ in range(rng.poisson(0.2 * days) * ("strap" not in off)):
        s = int(rng.integers(0, N))
        e = min(N, s + int(U(10, 60)))
        L = e - s
        hr_m[s:e] += rng.normal(0, U(6, 14), L)
        spo2_m[s:e] += rng.normal(-2, 3, L)
        rr_m[s:e] += rng.normal(0, 3, L)
        temp_m[s:e] -= U(0.4, 1.5) * np.minimum(1, np.arange(1, L + 1) / 5.0)
        qual[s:e] = U(0.25, 0.6, L)

    # motion artifacts
    haz = np.where(asleep, 0.02 / 60, U(0.08, 0.3) / 60)
    haz = np.where(ex_mask, U(0.02, 0.05), haz)
    starts = np.nonzero(rng.random(N) < haz)[0]
    for s in starts if "artifact" not in off else []:
        e = min(N, s + int(rng.integers(1, 6)))
        L = e - s
        if rng.random() < 0.6:
            hr_m[s:e] = U(150, 200, L)
        else:
            hr_m[s:e] = U(30, 40, L)
        if rng.random() < 0.6:
            spo2_m[s:e] = U(80, 88, L)
        if rng.random() < 0.75:
            qual[s:e] = U(0.08, 0.45, L)
        else:
            qual[s:e] = U(0.55, 0.85, L)
        if awake[s] and not ex_mask[s] and rng.random() < 0.7:
            motion[s:e] = np.maximum(motion[s:e], U(0.25, 1.0, L))

    # occasional quantisation (low-power mode windows, coarse temperature sensor)
    hr_m = np.clip(hr_m, 25, 230)
    rr_m = np.clip(rr_m, 4, 60)
    spo2_m = np.clip(spo2_m, 60, 100)
    hr_i = np.rint(hr_m).astype(int)
    spo2_i = np.rint(spo2_m).astype(int)
    rr_i = np.rint(rr_m).astype(int)
    if rng.random() < 0.25:
        for _ in range(int(rng.integers(1, 4))):
            s = int(rng.integers(0, N))
            e = min(N, s + int(U(60, 360)))
            hr_i[s:e] = (np.rint(hr_m[s:e] / 5) * 5).astype(int)
            spo2_i[s:e] = np.minimum(100, (np.rint(spo2_m[s:e] / 2) * 2).astype(int))
    if rng.random() < 0.1:
        temp_m = np.rint(temp_m / 0.25) * 0.25
    temp_m = np.round(temp_m, 1)
    qual = np.clip(qual, 0.0, 1.0)
    motion = np.clip(motion, 0.0, 3.0)

    # field drop-outs
    miss_rr = runs_mask(rng, N, 4, 1, 6, days) | ((motion > 0.6) & (rng.random(N) < 0.15))
    miss_temp = runs_mask(rng, N, 2, 1, 10, days)
    miss_spo2 = runs_mask(rng, N, 2, 1, 4, days) | (ex_mask & (rng.random(N) < 0.05))
    miss_hr = runs_mask(rng, N, 0.3, 1, 3, days)

    # charging gaps (no samples), never in the first or last 2 h
    present = np.ones(N, bool)
    for d in range(days):
        if rng.random() < 0.92:
            for _ in range(20):
                s = d * 1440 + int(rng.integers(0, 1440))
                L = int(U(30, 120))
                if s > 120 and s + L < N - 120 and (awake[s] or rng.random() < 0.2):
                    present[s : s + L] = False
                    break

    # invalid samples
    invalid: dict[int, tuple[str, Any]] = {}
    for i in np.nonzero(rng.random(N) < 0.0005)[0]:
        invalid[int(i)] = BAD_VALUES[int(rng.integers(0, len(BAD_VALUES)))]

    # ---------------- timing: device clock, delivery ----------------------------------------
    true_sec = t_abs.astype(np.float64) * 60.0
    first_sec = first_min * 60.0
    clock_off = U(-60, 60)
    drift = U(-50e-6, 50e-6)
    dev_sec = np.rint(true_sec + clock_off + drift * (true_sec - first_sec)).astype(np.int64)
    recv = true_sec + U(1, 12) + rng.exponential(3.0, N)
    nble = rng.poisson(U(0.5, 2.0) * days)
    for _ in range(nble):  # Bluetooth batches
        s = int(rng.integers(0, N))
        L = int(U(5, 60))
        e = min(N, s + L)
        recv[s:e] = (t_abs[min(e, N - 1)] * 60.0) + U(5, 40) + np.arange(e - s) * 0.05
    ts_str = np.datetime_as_string(START + dev_sec.astype("timedelta64[s]"), unit="s")

    # ---------------- serialise ------------------------------------------------------------
    pid = f"a{pidx + 1:04d}"
    dev = f"W-{int(rng.integers(0, 16**6)):06X}"
    prefix = f'{{"patient_id":"{pid}","device_id":"{dev}","ts":"'
    idx = np.nonzero(present)[0]
    sbp_c = np.rint(sbp + rng.normal(0, 4, N) + np.where(motion > 0.3, U(5, 20), 0)).astype(int)
    dbp_c = np.rint(dbp + rng.normal(0, 3, N) + np.where(motion > 0.3, U(2, 10), 0)).astype(int)
    dbp_c = np.minimum(dbp_c, sbp_c - 15)
    L_hr, L_sp, L_rr, L_t = hr_i.tolist(), spo2_i.tolist(), rr_i.tolist(), temp_m.tolist()
    L_m, L_q, L_s, L_d = motion.tolist(), qual.tolist(), sbp_c.tolist(), dbp_c.tolist()
    L_ts = ts_str.tolist()
    mh, ms, mr, mt = miss_hr.tolist(), miss_spo2.tolist(), miss_rr.tolist(), miss_temp.tolist()
    cf = cuff.tolist()
    lines = []
    for i in idx.tolist():
        if i in invalid:
            obj: dict[str, Any] = {"patient_id": pid, "device_id": dev, "ts": L_ts[i] + "Z"}
            if not mh[i]:
                obj["hr"] = L_hr[i]
            if not ms[i]:
                obj["spo2"] = L_sp[i]
            if not mr[i]:
                obj["rr"] = L_rr[i]
            if not mt[i]:
                obj["temp"] = L_t[i]
            obj["motion"] = round(L_m[i], 3)
            obj["quality"] = round(L_q[i], 2)
            if cf[i]:
                obj["sbp"] = L_s[i]
                obj["dbp"] = L_d[i]
            field, value = invalid[i]
            obj[field] = value
            lines.append(json.dumps(obj, separators=(",", ":")))
            continue
        parts = [prefix, L_ts[i], 'Z"']
        if not mh[i]:
            parts.append(f',"hr":{L_hr[i]:d}')
        if not ms[i]:
            parts.append(f',"spo2":{L_sp[i]:d}')
        if not mr[i]:
            parts.append(f',"rr":{L_rr[i]:d}')
        if not mt[i]:
            parts.append(f',"temp":{L_t[i]:.1f}')
        parts.append(f',"motion":{L_m[i]:.3f},"quality":{L_q[i]:.2f}')
        if cf[i]:
            parts.append(f',"sbp":{L_s[i]:d},"dbp":{L_d[i]:d}')
        parts.append("}")
        lines.append("".join(parts))

    first_emit = first_min + int(idx[0])
    last_emit = first_min + int(idx[-1])
    pinfo = {
        "patient_id": pid,
        "device_id": dev,
        "profile": profile,
        "config": {"spo2_scale": spo2_scale},
        "first_sample": iso_min(first_emit),
        "last_sample": iso_min(last_emit),
    }
    evs = [
        {
            "patient_id": pid,
            "type": etype,
            "onset": iso_min(onset),
            "end": iso_min(end),
            "cold_start": bool(onset - first_emit < 360),
        }
        for etype, onset, end in ev_out
    ]
    return lines, recv[idx], pinfo, evs


# --------------------------------------------------------------------------------------------
# cohort
# --------------------------------------------------------------------------------------------
def profiles(rng: Rng, n: int) -> list[str]:
    """The profiles of ``n`` patients: proportional counts of :data:`PROFILE_MIX`, shuffled."""
    profs: list[str] = []
    for name, frac in PROFILE_MIX:
        profs += [name] * int(round(frac * n))
    while len(profs) < n:
        profs.append("ordinary")
    profs = profs[:n]
    rng.shuffle(profs)
    return profs


def write_cohort(
    out: Path, patients: int, days: int, seed: int, off: frozenset[str] = frozenset()
) -> tuple[int, int, int]:
    """Write ``samples.jsonl`` and ``labels.json`` into ``out``: ``(samples, patients, events)``."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    all_lines: list[str] = []
    all_recv: list[Floats] = []
    pinfos: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    copd_seen = 0
    for i, prof in enumerate(profiles(rng, patients)):
        scale = 1
        if prof == "copd":
            scale = 2 if copd_seen % 2 == 0 else 1
            copd_seen += 1
        prng = np.random.default_rng([seed, i])
        lines, recv, pinfo, evs = make_patient(prng, i, prof, days, scale, off)
        all_lines.extend(lines)
        all_recv.append(recv)
        pinfos.append(pinfo)
        events.extend(evs)

    order = np.argsort(np.concatenate(all_recv), kind="stable")
    with (out / "samples.jsonl").open("w", encoding="utf-8") as f:
        f.write("\n".join(all_lines[j] for j in order.tolist()))
        f.write("\n")
    events.sort(key=lambda e: (e["onset"], e["patient_id"]))
    labels = {"version": 1, "start": str(START) + "Z", "patients": pinfos, "events": events}
    with (out / "labels.json").open("w", encoding="utf-8") as f:
        json.dump(labels, f, indent=1)
    return len(all_lines), len(pinfos), len(events)


def confounder_list(text: str) -> frozenset[str]:
    """``--without``: a comma list of :data:`CONFOUNDERS`."""
    names = frozenset(filter(None, (x.strip() for x in text.split(","))))
    unknown = sorted(names - set(CONFOUNDERS))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown confounder(s) {', '.join(unknown)}; valid: {', '.join(CONFOUNDERS)}"
        )
    return names


def positive(text: str) -> int:
    """A whole number of at least 1 (``--patients``, ``--days``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="cohort directory to write")
    parser.add_argument("--patients", type=positive, default=150)
    parser.add_argument("--days", type=positive, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--without",
        type=confounder_list,
        default=frozenset(),
        metavar="NAMES",
        help=f"confounders to switch off, a comma list of: {', '.join(CONFOUNDERS)}",
    )
    parser.add_argument(
        "--brief-only",
        action="store_true",
        help=f"switch off the confounders beyond the brief: {','.join(BEYOND_BRIEF)}",
    )
    args = parser.parse_args(argv)
    off = args.without | (frozenset(BEYOND_BRIEF) if args.brief_only else frozenset())
    t0 = time.time()
    samples, patients, events = write_cohort(args.out, args.patients, args.days, args.seed, off)
    print(
        f"wrote {samples} samples, {patients} patients, {events} events in {time.time() - t0:.1f}s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Labelled clinical events: what they are, when they happen, and how they change the vitals.

Every event ramps in from its ``onset`` (the label: the ramp's first minute, its value still 0)
over ``ramp`` minutes (10-60; 2-5 h for sepsis-like deterioration), holds a clinically meaningful
plateau until ``end`` (the label), then recovers over 10-30 min (30-60 min for sepsis). Plateau
levels are chosen so that a clinician would act:

==================== =============================================================
type                 plateau (awake, at rest)
==================== =============================================================
tachycardia          HR 120-150 at rest
bradycardia          HR 33-39 (athletes 30-37, far below their 45-50 baseline)
desaturation         SpO2 85-90 (COPD, NEWS2 scale 2: 80-85), HR and RR up
fever                temp 38.5-39.5 C, HR +10/C
hypotension          SBP 74-87, DBP 42-55, HR +10-25
tachypnea            RR 24.5-30
hypertensive_crisis  SBP 180-215, DBP 110-130
sepsis               over hours: HR +25-40 (100-125), RR 21-23.5 (>= +3), temp 37.9-38.3,
                     SBP -20-35 (92-105), SpO2 -1-3: NEWS2 5-9 with every plateau level
                     inside the static thresholds (noise takes about a third of them
                     across one: static thresholds catch some sepsis late)
==================== =============================================================

``vigil simulate --severity S`` (S < 1) scales each event's plateau departures from the
patient's usual values by a factor drawn from [S, 1] (:meth:`Event.scaled`): milder events,
some of them inside static thresholds, to see how detection holds up beyond these ranges.
``vigil simulate --ramp M`` has every event but sepsis reach its plateau in ``M`` minutes
(:meth:`Event.with_ramp`; 1: abrupt), at the same times: a detector's own reaction time.

Key vitals are driven to an absolute *level* (so a night-time trough cannot hide a fever);
secondary vitals move by a *delta*. Blood-pressure events hold for at least 2 h so that a
cuff measuring every 15-60 min sees them.

Examples
--------
>>> import numpy as np
>>> from ingest.simulator.profiles import draw_physiology
>>> rng = np.random.default_rng(3)
>>> ev = draw_event(rng, "fever", draw_physiology(rng, "adult"), onset=600)
>>> ev.onset, ev.ramp <= 60, ev.levels["temp"] >= 38.6
(600, True, True)
>>> s = ev.shape(np.arange(2000))
>>> float(s[599]), float(s[ev.onset + ev.ramp + 1]), float(s[ev.end + ev.recovery + 1])
(0.0, 1.0, 0.0)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

from ingest.simulator.profiles import Physiology

logger = logging.getLogger(__name__)

EventType = Literal[
    "tachycardia",
    "bradycardia",
    "desaturation",
    "fever",
    "hypotension",
    "tachypnea",
    "hypertensive_crisis",
    "sepsis",
]
EVENT_TYPES: Final[tuple[EventType, ...]] = (
    "tachycardia",
    "bradycardia",
    "desaturation",
    "fever",
    "hypotension",
    "tachypnea",
    "hypertensive_crisis",
    "sepsis",
)
#: Events whose key vital comes only from the intermittent cuff.
BP_EVENTS: Final[frozenset[str]] = frozenset({"hypotension", "hypertensive_crisis"})
#: Minimum quiet time between two events of one patient (minutes).
EVENT_SPACING_MIN: Final[int] = 6 * 60


@dataclass(frozen=True, slots=True)
class Event:
    """One labelled event, in minutes from the patient's first sample.

    Parameters
    ----------
    type
        Event type.
    onset
        First minute of the ramp (the labelled onset): the ramp is 0 there, and the vitals
        move from the minute after.
    ramp
        Minutes from onset to the plateau.
    end
        Last minute of the plateau (the labelled end).
    recovery
        Minutes from ``end`` back to baseline.
    levels
        Plateau level of the event's key vitals (reached whatever the time of day).
    deltas
        Plateau change of secondary vitals from what they would otherwise be.
    """

    type: EventType
    onset: int
    ramp: int
    end: int
    recovery: int
    levels: dict[str, float] = field(default_factory=dict)
    deltas: dict[str, float] = field(default_factory=dict)

    def shape(
        self, minutes: NDArray[np.floating[Any]] | NDArray[np.integer[Any]]
    ) -> NDArray[np.float64]:
        """Event intensity in [0, 1] at each minute (smoothstep ramp, plateau, recovery)."""
        m = minutes.astype(np.float64)
        up = np.clip((m - self.onset) / max(self.ramp, 1), 0.0, 1.0)
        down = np.clip(1.0 - (m - self.end) / max(self.recovery, 1), 0.0, 1.0)
        x = np.minimum(up, down)
        return x * x * (3.0 - 2.0 * x)

    def scaled(self, physiology: Physiology, factor: float) -> Event:
        """This event with every plateau departure from ``physiology``'s usual values times
        ``factor`` (``vigil simulate --severity``: milder events, at the same times).

        >>> from ingest.simulator.profiles import draw_physiology
        >>> p = draw_physiology(np.random.default_rng(1), "adult")
        >>> ev = Event("tachycardia", 60, 20, 200, 15, {"hr": p.hr + 60.0}, {"rr": 4.0})
        >>> mild = ev.scaled(p, 0.5)
        >>> round(mild.levels["hr"] - p.hr, 6), mild.deltas, (mild.onset, mild.end)
        (30.0, {'rr': 2.0}, (60, 200))
        """
        levels = {}
        for vital, level in self.levels.items():
            usual = float(getattr(physiology, vital))
            levels[vital] = usual + factor * (level - usual)
        deltas = {vital: factor * delta for vital, delta in self.deltas.items()}
        return replace(self, levels=levels, deltas=deltas)

    def with_ramp(self, minutes: int) -> Event:
        """This event reaching its plateau in ``minutes`` (at least 1, at most until ``end``),
        with the same onset and end (``vigil simulate --ramp``). A sepsis-like deterioration
        is its slow course: it is returned as it is.

        >>> ev = Event("tachycardia", 60, 35, 200, 15, {"hr": 140.0})
        >>> ev.with_ramp(1).ramp, ev.with_ramp(1).end, ev.with_ramp(500).ramp
        (1, 200, 140)
        >>> replace(ev, type="sepsis").with_ramp(1).ramp
        35
        """
        if self.type == "sepsis":
            return self
        return replace(self, ramp=max(1, min(int(minutes), self.end - self.onset)))

    @property
    def protected(self) -> tuple[int, int]:
        """Minutes kept free of exercise and charging gaps around the event."""
        return self.onset - 60, self.end + self.recovery + 60


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _effects(
    rng: np.random.Generator, kind: EventType, p: Physiology
) -> tuple[dict[str, float], dict[str, float]]:
    """Return ``(levels, deltas)``: absolute plateau levels and relative changes."""
    if kind == "tachycardia":
        return {"hr": _u(rng, 120, 150)}, {"rr": _u(rng, 2, 5)}
    if kind == "bradycardia":
        return {"hr": _u(rng, 30, 37) if p.profile == "athlete" else _u(rng, 33, 39)}, {}
    if kind == "desaturation":
        low = _u(rng, 80, 85) if p.spo2_scale == 2 else _u(rng, 85, 90)
        return {"spo2": low}, {"hr": _u(rng, 8, 15), "rr": _u(rng, 3, 6)}
    if kind == "fever":
        level = _u(rng, 38.5, 39.5)
        return {"temp": level}, {"hr": 10.0 * (level - p.temp), "rr": _u(rng, 2, 4)}
    if kind == "hypotension":
        return {"sbp": _u(rng, 74, 87), "dbp": _u(rng, 42, 55)}, {"hr": _u(rng, 10, 25)}
    if kind == "tachypnea":
        return {"rr": _u(rng, 24.5, 30)}, {"hr": _u(rng, 5, 12), "spo2": -_u(rng, 1, 3)}
    if kind == "hypertensive_crisis":
        return {"sbp": _u(rng, 180, 215), "dbp": _u(rng, 110, 130)}, {"hr": _u(rng, 0, 10)}
    # sepsis-like deterioration: everything drifts the wrong way together
    levels = {
        "hr": min(max(p.hr + _u(rng, 25, 40), _u(rng, 100, 115)), 125.0),
        "rr": max(_u(rng, 21, 23.5), p.rr + 3.0),
        "temp": _u(rng, 37.9, 38.3),
        "sbp": max(min(p.sbp - _u(rng, 20, 35), _u(rng, 95, 105)), 92.0),
    }
    return levels, {"dbp": -_u(rng, 10, 18), "spo2": -_u(rng, 1, 3)}


def draw_event(
    rng: np.random.Generator, kind: EventType, physiology: Physiology, onset: int
) -> Event:
    """Draw durations and plateau levels for one event of ``kind`` starting at ``onset``."""
    if kind == "sepsis":
        ramp, plateau, recovery = (
            rng.integers(120, 301),
            rng.integers(60, 241),
            rng.integers(30, 61),
        )
    else:
        ramp = rng.integers(10, 61)
        plateau = rng.integers(120, 301) if kind in BP_EVENTS else rng.integers(25, 241)
        recovery = rng.integers(10, 31)
    levels, deltas = _effects(rng, kind, physiology)
    return Event(
        type=kind,
        onset=onset,
        ramp=int(ramp),
        end=onset + int(ramp) + int(plateau),
        recovery=int(recovery),
        levels=levels,
        deltas=deltas,
    )


def _event_type(rng: np.random.Generator, p: Physiology) -> EventType:
    weights = np.ones(len(EVENT_TYPES))
    if p.profile == "hypertensive":
        weights[EVENT_TYPES.index("hypertensive_crisis")] = 3.0
    if p.profile == "copd":
        weights[EVENT_TYPES.index("desaturation")] = 3.0
    return EVENT_TYPES[int(rng.choice(len(EVENT_TYPES), p=weights / weights.sum()))]


def schedule_events(
    rng: np.random.Generator,
    physiology: Physiology,
    n_minutes: int,
    *,
    events_per_day: float,
    cold_start_fraction: float,
) -> list[Event]:
    """Place a Poisson number (capped at 0.6 per day) of non-overlapping events.

    With probability ``cold_start_fraction`` the first event starts 20 min - 5 h after the
    first sample (a cold start: the personal baseline barely exists). Events that do not fit
    are dropped, so short cohorts get fewer events.
    """
    days = n_minutes / 1440.0
    k = int(min(rng.poisson(events_per_day * days), max(1, round(0.6 * days))))
    events: list[Event] = []
    if k and rng.random() < cold_start_fraction:
        ev = draw_event(rng, _event_type(rng, physiology), physiology, int(rng.integers(20, 301)))
        if ev.end + ev.recovery < n_minutes:
            events.append(ev)
            k -= 1
    for _ in range(k):
        kind = _event_type(rng, physiology)
        for _attempt in range(40):
            onset = int(rng.integers(7 * 60, max(7 * 60 + 1, n_minutes - 60)))
            ev = draw_event(rng, kind, physiology, onset)
            if ev.end + ev.recovery + 30 >= n_minutes:
                continue
            if all(
                ev.onset > o.end + o.recovery + EVENT_SPACING_MIN
                or ev.end + ev.recovery + EVENT_SPACING_MIN < o.onset
                for o in events
            ):
                events.append(ev)
                break
    events.sort(key=lambda e: e.onset)
    return events

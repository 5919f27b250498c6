"""A tiny seeded vital-signs generator for detector unit tests (no numpy, no simulator).

One sample per minute: per-patient means plus slow and white noise, optional sleep at night,
and hooks to add ramps, artifacts and exercise. Deliberately simpler than
:mod:`ingest.simulator` so each test controls exactly the confounder it is about.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ingest.sample import Sample

T0 = 1_736_121_600.0  # 2025-01-06T00:00:00Z


@dataclass
class Person:
    """Resting awake means and noise of one synthetic patient."""

    hr: float = 72.0
    spo2: float = 97.0
    rr: float = 14.0
    temp: float = 36.8
    sbp: float = 122.0
    hr_sleep_drop: float = 8.0
    sleep: bool = True
    seed: int = 0
    cuff_every: int = 30
    extra: dict[str, Callable[[int], float]] = field(default_factory=dict)


Mod = Callable[[int, dict[str, float | None]], None]


def samples(
    person: Person, minutes: int, *, start: int = 0, mods: tuple[Mod, ...] = (), pid: str = "p1"
) -> Iterator[Sample]:
    """Yield one sample per minute from ``start``; ``mods`` edit the raw values in place."""
    rng = random.Random(person.seed)
    slow = {"hr": 0.0, "spo2": 0.0, "rr": 0.0, "temp": 0.0}
    sd = {"hr": 2.5, "spo2": 0.4, "rr": 0.6, "temp": 0.06}
    for m in range(start, start + minutes):
        hour = (m / 60.0) % 24.0
        asleep = person.sleep and (hour >= 23.0 or hour < 7.0)
        # falling asleep and waking take ~20 min: the physiological drop is gradual
        since = ((hour - 23.0) % 24.0) * 60.0
        depth = min(1.0, since / 20.0) if asleep else 0.0
        for k in slow:
            slow[k] = 0.97 * slow[k] + math.sqrt(1 - 0.97**2) * rng.gauss(0.0, sd[k])
        v: dict[str, float | None] = {
            "hr": round(person.hr - person.hr_sleep_drop * depth + slow["hr"]
                        + rng.gauss(0, 1.2)),
            "spo2": min(100.0, round(person.spo2 + slow["spo2"] + rng.gauss(0, 0.5))),
            "rr": round(person.rr - (1.0 if asleep else 0.0) + slow["rr"] + rng.gauss(0, 0.6)),
            "temp": round(person.temp - (0.2 if asleep else 0.0) + slow["temp"]
                          + rng.gauss(0, 0.04), 1),
            "sbp": None,
            "motion": round(0.012 + abs(rng.gauss(0, 0.004)), 3) if asleep
            else round(0.08 * math.exp(rng.gauss(0, 0.4)), 3),
            "quality": round(min(1.0, 0.95 + rng.gauss(0, 0.02)), 2),
        }  # fmt: skip
        if m % person.cuff_every == 7:
            v["sbp"] = round(person.sbp - (10.0 if asleep else 0.0) + rng.gauss(0, 5))
        for mod in mods:
            mod(m, v)
        custom = {name: fn(m) for name, fn in person.extra.items()}
        yield Sample(
            pid, "d1", T0 + 60.0 * m,
            hr=v["hr"], spo2=v["spo2"], rr=v["rr"], temp=v["temp"], sbp=v["sbp"],
            dbp=None if v["sbp"] is None else v["sbp"] - 40.0,
            motion=v["motion"], quality=v["quality"], custom=custom,
        )  # fmt: skip


def ramp(vital: str, onset: int, ramp_min: int, level: float, end: int) -> Mod:
    """Drive ``vital`` to ``level`` over ``ramp_min`` minutes from ``onset`` until ``end``."""

    def mod(m: int, v: dict[str, float | None]) -> None:
        if onset <= m <= end and v.get(vital) is not None:
            u = min(1.0, (m - onset) / ramp_min)
            s = u * u * (3 - 2 * u)
            base = v[vital]
            assert base is not None
            v[vital] = round(base + s * (level - base), 1)

    return mod


def artifacts(every: int, hr: float = 185.0) -> Mod:
    """A single motion-artifact sample (false HR, burst of motion, poor quality)."""

    def mod(m: int, v: dict[str, float | None]) -> None:
        if m % every == every // 2:
            v["hr"] = hr
            v["motion"] = 1.8
            v["quality"] = 0.3

    return mod


def exercise(start: int, minutes: int, peak_hr: float = 160.0) -> Mod:
    """A workout: high motion, HR and RR up, then an exponential recovery."""

    def mod(m: int, v: dict[str, float | None]) -> None:
        if start <= m < start + minutes:
            k = 1 - math.exp(-(m - start) / 3)
            v["motion"] = 1.4
            v["quality"] = 0.85
        elif start + minutes <= m < start + minutes + 40:
            k = math.exp(-(m - start - minutes) / 6)
        else:
            return
        assert v["hr"] is not None and v["rr"] is not None
        v["hr"] = round(v["hr"] + k * (peak_hr - v["hr"]))
        v["rr"] = round(v["rr"] + k * 12)

    return mod


def walk(start: int, minutes: int, hr_rise: float = 25.0, motion: float | None = 0.2) -> Mod:
    """A walk: HR up ``hr_rise`` and RR up 4 within a minute or two, back over ~5 min after.

    ``motion``: what the wearable reads meanwhile (about 2.5 times :func:`samples`' usual
    0.08 g, under the active bound of 0.25 g), or ``None`` to leave it as it was: the same rise
    with nothing to explain it.
    """

    def mod(m: int, v: dict[str, float | None]) -> None:
        if start <= m < start + minutes:
            k = 1 - math.exp(-(m - start + 1) / 1.5)
            if motion is not None:
                v["motion"] = round(motion * (1.0 + 0.2 * math.sin(m)), 3)
        elif start + minutes <= m < start + minutes + 30:
            k = math.exp(-(m - start - minutes) / 4)
        else:
            return
        assert v["hr"] is not None and v["rr"] is not None
        v["hr"] = round(v["hr"] + k * hr_rise)
        v["rr"] = round(v["rr"] + k * 4)

    return mod

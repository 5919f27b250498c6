"""How early can a labelled event be seen at all? The floor under ``vigil eval``'s median delay.

Usage::

    .venv/bin/python bench/delay_floor.py [--patients 100] [--days 5] [--seed 424242] [--vigil]
                                          [--ramp MIN]

A simulated cohort (``vigil simulate``, generated in memory) labels each event's onset at the
first minute its vitals start to move; they then ramp to the plateau along a smoothstep over
10-60 min (2-5 h for sepsis-like deterioration), and blood pressure is read by a cuff every
15-60 min. How soon after onset could *any* detector know?

Two oracles rebuild each event's noise-free course from its label: every vital the event moves
goes from its value before onset (median of the 2 h before; cuff readings of the 6 h before) to
the plateau level, or by the plateau delta, along the simulator's ramp. Blood pressure is seen
only at the next cuff reading. Both know the shape in advance and have no noise, artifacts,
smoothing or persistence.

- The **NEWS2 oracle** alerts at the first minute at which any vital enters a NEWS2 band worth
  more points than its value before onset on the side it moves to (or systolic pressure reaches
  180 mmHg, a hypertensive crisis, which NEWS2 scores 0 below 220). A detector that waits for a
  value outside the normal (0-point) band of NEWS2 cannot be earlier (Vigil's early warnings fire
  inside the band, e.g. from 37.5 C for a fever, and can be).
- The **personal oracle** alerts as soon as any vital is ``PERSONAL_SDS`` (3) standard
  deviations of its 2 h before onset (cuff: 6 h) away from its value before onset, however
  normal the value (HR 65 -> 80 at rest). It shows what learning the patient's own normal could
  buy at most, before noise: a real detector needs persistence to tell a departure from noise,
  and an alert on a value in the normal range must not fire for every benign rise.

Delays are scored as ``vigil eval`` scores alerts (:func:`stream.evaluation.score_alerts`).

With ``--vigil`` the cohort is also replayed through the exact ``vigil replay`` path and Vigil's
delays are shown beside the oracle's, per event type. Figures are exact (no timing).

With ``--ramp MIN`` every event but sepsis reaches its plateau in ``MIN`` minutes instead of
10-60, at the same times (``vigil simulate --ramp``). With ``--ramp 1`` (abrupt onsets) the
oracles see nearly every such event at once, and what is left of Vigil's delay is its own:
smoothing, the step check of :mod:`stream.detect.plausibility`, persistence and the cuff's
schedule. The difference from the default run is what the ramp costs.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ingest.simulator.cohort import Cohort, CohortSpec, PatientTrace, simulate_cohort  # noqa: E402
from ingest.simulator.events import Event  # noqa: E402
from stream.cohort_eval import configs_from_labels  # noqa: E402
from stream.detect.news2 import score_hr, score_rr, score_sbp, score_spo2, score_temp  # noqa: E402
from stream.evaluation import (  # noqa: E402
    DETECT_AFTER_END_S,
    AlertTime,
    LabelledEvent,
    clinical_alert_times,
    events_from_labels,
    patient_days_from_labels,
    score_alerts,
)
from stream.replay import replay  # noqa: E402

#: Systolic pressure (mmHg) of a hypertensive crisis (NEWS2 scores 0 from 111 to 219).
CRISIS_SBP = 180.0
#: Minutes of wearable readings, and of cuff readings, before onset that give the usual value
#: and its spread.
BEFORE_MIN, BEFORE_CUFF_MIN = 120, 360
#: The personal oracle alerts this many spreads away from the usual value.
PERSONAL_SDS = 3.0
#: Delay (min) of the issue's median-delay target.
TARGET_MIN = 15.0


#: A value inside each vital's NEWS2 0-point band: below it a vital scores for being low.
_MIDDLE = {"hr": 70.0, "rr": 16.0, "temp": 37.0, "sbp": 165.0, "spo2": 101.0}


def band(vital: str, x: float, sign: int, spo2_scale: int) -> int:
    """NEWS2 points of ``vital`` at ``x`` for being high (``sign`` +1) or low (-1).

    A hypertensive crisis counts as a band of its own (1 point).

    >>> band("hr", 90.0, 1, 1), band("hr", 91.0, 1, 1), band("hr", 45.0, 1, 1)
    (0, 1, 0)
    >>> band("sbp", 185.0, 1, 1), band("sbp", 105.0, -1, 1), band("spo2", 89.0, -1, 2)
    (1, 1, 0)
    """
    if (x < _MIDDLE[vital]) != (sign < 0):
        return 0
    if vital == "sbp":
        return max(score_sbp(x), 1 if x >= CRISIS_SBP - 0.5 else 0)
    if vital == "spo2":
        return score_spo2(x, scale=spo2_scale)
    scorer: dict[str, Callable[[float], int]] = {"hr": score_hr, "rr": score_rr, "temp": score_temp}
    return scorer[vital](x)


def smoothstep(x: float) -> float:
    """The simulator's ramp (:meth:`ingest.simulator.events.Event.shape`) at ``x`` in [0, 1].

    >>> smoothstep(0.0), smoothstep(0.5), smoothstep(2.0)
    (0.0, 0.5, 1.0)
    """
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def first_band_change(
    before: float, target: float, ramp: int, horizon: int, points: Callable[[float], int]
) -> int | None:
    """First minute after onset at which the course from ``before`` to ``target`` scores more.

    >>> first_band_change(70.0, 130.0, 20, 60, lambda x: score_hr(x))  # 70 -> 130 bpm in 20 min
    8
    >>> first_band_change(70.0, 80.0, 20, 60, lambda x: score_hr(x)) is None
    True
    """
    usual = points(before)
    for m in range(horizon + 1):
        if points(before + smoothstep(m / max(ramp, 1)) * (target - before)) > usual:
            return m
    return None


def _before(values: np.ndarray, upto: int, span: int) -> tuple[float, float] | None:
    """Median and standard deviation of the finite ``values`` in ``span`` before ``upto``."""
    window = values[max(upto - span, 0) : upto]
    window = window[np.isfinite(window)]
    if not window.size:
        return None
    return float(np.median(window)), float(np.std(window)) if window.size >= 3 else math.nan


#: A vital's points on its way: from (vital, value before, spread before, direction, scale).
Signal = Callable[[str, float, float, int, int], Callable[[float], int] | None]


def news2_signal(
    vital: str, before: float, spread: float, sign: int, scale: int
) -> Callable[[float], int]:
    """The NEWS2-band oracle's view of a vital: its points on the side it moves to."""
    return lambda x: band(vital, x, sign, scale)


def personal_signal(
    vital: str, before: float, spread: float, sign: int, scale: int
) -> Callable[[float], int] | None:
    """The personal oracle's view: 1 from ``PERSONAL_SDS`` spreads away from ``before``."""
    if not spread > 0.0:
        return None
    return lambda x: 1 if sign * (x - before) >= PERSONAL_SDS * spread else 0


def oracle_delay(
    patient: PatientTrace, event: Event, signal: Signal = news2_signal
) -> float | None:
    """Minutes from ``event``'s onset to an oracle's alert (``None``: never).

    ``signal`` is :func:`news2_signal` (the NEWS2-band oracle) or :func:`personal_signal`.
    """
    cols = patient.device.columns
    keep = patient.device.keep
    scale = patient.physiology.spo2_scale
    physiology = patient.physiology.as_dict()
    horizon = event.end - event.onset
    best: float | None = None
    for vital in ("hr", "rr", "spo2", "temp", "sbp"):
        if vital not in event.levels and vital not in event.deltas:
            continue
        cuff = vital == "sbp"
        seen = np.where(keep, cols[vital], np.nan)
        usual = _before(seen, event.onset, BEFORE_CUFF_MIN if cuff else BEFORE_MIN)
        before, spread = usual if usual is not None else (float(physiology[vital]), math.nan)
        target = event.levels.get(vital, before + event.deltas.get(vital, 0.0))
        points = signal(vital, before, spread, 1 if target > before else -1, scale)
        if points is None:
            continue
        m = first_band_change(before, target, event.ramp, horizon, points)
        if m is None:
            continue
        delay = float(m)
        if cuff:  # seen at the next cuff reading
            later = np.flatnonzero(np.isfinite(seen[event.onset + m : event.end + 1]))
            if not later.size:
                continue
            delay = float(m + later[0])
        best = delay if best is None else min(best, delay)
    return best


def oracle_alerts(cohort: Cohort, signal: Signal = news2_signal) -> list[AlertTime]:
    """One alert per event that the oracle sees, at its delay (true time)."""
    out = []
    for p in cohort.patients:
        for ev in p.events:
            delay = oracle_delay(p, ev, signal)
            if delay is not None:
                out.append(AlertTime(p.patient_id, p.start + (ev.onset + delay) * p.period_s))
    return out


def delays_by_type(
    events: Sequence[LabelledEvent], alerts: Iterable[AlertTime]
) -> dict[str, list[float]]:
    """Each detected event's delay (min), per type, as :func:`score_alerts` defines it."""
    times: dict[str, list[float]] = defaultdict(list)
    for a in alerts:
        times[a.patient_id].append(a.detected_at)
    out: dict[str, list[float]] = defaultdict(list)
    for ev in events:
        first = min(
            (t for t in times[ev.patient_id] if ev.onset <= t <= ev.end + DETECT_AFTER_END_S),
            default=None,
        )
        if first is not None:
            out[ev.type].append((first - ev.onset) / 60.0)
    return out


def _cell(delays: list[float]) -> str:
    if not delays:
        return f"{'-':>15s} {'-':>6s}"
    share = sum(d <= TARGET_MIN for d in delays) / len(delays)
    return f"{statistics.median(delays):15.1f} {share:6.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--days", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=424242)
    parser.add_argument("--vigil", action="store_true", help="also replay the cohort")
    parser.add_argument(
        "--ramp", type=int, metavar="MIN", help="events but sepsis ramp in MIN minutes (1-60)"
    )
    args = parser.parse_args()
    if args.ramp is not None and not 1 <= args.ramp <= 60:
        parser.error("--ramp must be 1-60 minutes")
    t0 = time.perf_counter()
    spec = CohortSpec(patients=args.patients, days=args.days, seed=args.seed, ramp=args.ramp)
    cohort = simulate_cohort(spec)
    labels = cohort.labels()
    events = events_from_labels(labels)
    days = patient_days_from_labels(labels)
    methods = {
        "news2 oracle": oracle_alerts(cohort),
        "personal oracle": oracle_alerts(cohort, personal_signal),
    }
    if args.vigil:
        records = (dict(r.payload) for r in cohort.records())
        result = replay(records, configs=configs_from_labels(labels), keep_scores=False)
        methods["vigil"] = clinical_alert_times(result.alerts)
    print(
        f"{args.patients} patients x {args.days:g} days (seed {args.seed}"
        f"{'' if args.ramp is None else f', ramps of {args.ramp} min'}): {len(events)} "
        f"events; median delay (min) and share detected within {TARGET_MIN:g} min"
    )
    header = f"{'type':20s} {'n':>4s}"
    for name in methods:
        header += f" {name:>15s} {'<=15':>6s}"
    print(header)
    per = {name: delays_by_type(events, alerts) for name, alerts in methods.items()}
    for kind in sorted({ev.type for ev in events}):
        n = sum(1 for ev in events if ev.type == kind)
        print(f"{kind:20s} {n:4d}" + "".join(f" {_cell(per[m][kind]):>22s}" for m in methods))
    for name, alerts in methods.items():
        m = score_alerts(events, alerts, patient_days=days)
        within = sum(d <= TARGET_MIN for d in m.delays_min)
        print(
            f"{name}: recall {m.recall:.3f}, median delay {m.median_delay_min:.1f} min, p90 "
            f"{m.p90_delay_min:.1f} min; {within} of {m.events} events within "
            f"{TARGET_MIN:g} min ({within / m.events:.2f})"
            if m.events
            else f"{name}: no events"
        )
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()

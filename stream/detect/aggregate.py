"""NEWS2 emergency safety net: an aggregate of 7 or more, whatever the personal baselines say.

The vital rules (:mod:`stream.detect.rules`) and the deterioration rule
(:mod:`stream.detect.deterioration`) judge departures from *this patient's* normal, so a
patient who has been abnormal for hours has that picture learned as their usual. NEWS2 7 or
more calls for an emergency response whatever the patient's history (RCP 2017): a newly
confused patient on oxygen with RR 21, HR 97 and 38.2 C scores 10, and must not go unalerted
because each vital is as it was an hour ago.

The net covers patients whose score includes the clinician's assessment (supplemental oxygen,
or ACVPU other than alert): those points are not physiology a baseline learns, and they say
the patient is acutely unwell. On air and alert, a high NEWS2 is judged against the patient's
usual NEWS2 (the deterioration rule) instead: NEWS2 7 in a sleeping athlete (HR 38, RR 11,
35.9 C, SBP 99) is that athlete's normal night, and alerting on it is the false alarm this
platform exists to avoid (on simulated cohorts, 0.008-0.018 more false alerts per
patient-day).

The aggregate (:meth:`~stream.detect.monitor.PatientMonitor.news2_now`, smoothed fresh vitals
plus the clinician's oxygen and ACVPU settings) is checked every :data:`CHECK_EVERY_S` of event
time; :data:`SUSTAIN_CHECKS` checks in a row at :data:`EMERGENCY` or more fire a ``news2``
finding, critical, and it holds while the checks stay there. Any other clinical alert already
open takes it in (:mod:`alerts.episodes` folds related conditions), so a patient alerted for a
desaturation gets one record more, not a second alert.

The evidence run lives in the monitor's ``rule_state`` under :data:`KEY` as
``[checks, since, last check]``, so it pickles with the monitor.

Examples
--------
>>> from ingest.sample import Sample
>>> from stream.detect.config import PatientConfig
>>> from stream.detect.monitor import PatientMonitor
>>> mon = PatientMonitor("p1", PatientConfig(consciousness="V", on_oxygen=True))
>>> fired = []
>>> for i in range(30):
...     _, found = mon.observe(Sample("p1", "d1", 60.0 * i, hr=97.0, spo2=95.0, rr=21.0,
...                                   temp=38.2, motion=0.1))
...     fired += [f for f in found if f.kind == KEY and f.firing]
>>> fired[0].severity, fired[0].since, fired[0].message
('critical', 0.0, 'NEWS2 10 for 10 min (emergency response): pulse 1, SpO2 1, resp rate 2, \
temperature 1, on oxygen 2, consciousness V 3')
"""

from __future__ import annotations

import logging
from typing import Any, Final, Protocol

from stream.detect.config import PatientConfig
from stream.detect.findings import Finding
from stream.detect.vitals import NEWS2_NAME

logger = logging.getLogger(__name__)

__all__ = [
    "CHECK_EVERY_S",
    "EMERGENCY",
    "KEY",
    "SILENCE_S",
    "SUSTAIN_CHECKS",
    "AggregateView",
    "check",
]

#: The finding's kind, and the monitor's ``rule_state`` key of its evidence run.
KEY: Final = "news2"
#: NEWS2 aggregate calling for an emergency response (RCP 2017).
EMERGENCY: Final = 7
#: Event time between two checks of the aggregate (s).
CHECK_EVERY_S: Final = 300.0
#: Checks in a row at EMERGENCY or more before the finding fires (10 minutes).
SUSTAIN_CHECKS: Final = 3
#: A silence this long between two checks (a data gap) ends the run: sparser samples (a
#: cuff-only patient every 15 min) still count in a row.
SILENCE_S: Final = 1800.0


class AggregateView(Protocol):
    """What :func:`check` reads and updates on the monitor."""

    config: PatientConfig
    rule_state: dict[str, list[float]]

    def news2_now(self, ts: float) -> tuple[int, dict[str, int]]: ...


def check(mon: AggregateView, ts: float, evaluate: bool, at_rest: bool) -> Finding | None:
    """The ``news2`` finding at sample time ``ts``, if its evidence run is on.

    ``evaluate`` says this sample is due for a check of the aggregate (one per
    :data:`CHECK_EVERY_S`); between checks the run's last state stands. NEWS2 scores a
    patient at rest: a check while ``at_rest`` is false (active, exerting or recovering from
    it) ends the run (a run's HR 150 and RR 28 are no emergency).
    """
    state = mon.rule_state.get(KEY)
    sub: dict[str, int] | None = None
    if evaluate:
        cfg = mon.config
        assessed = cfg.on_oxygen or cfg.consciousness.upper() != "A"
        total, sub = mon.news2_now(ts) if at_rest and assessed else (0, None)
        if total < EMERGENCY:
            if state is not None:
                del mon.rule_state[KEY]
            return None
        if state is None or (state[2] > 1e6 and ts - state[2] > SILENCE_S):
            # a new run; also after a data gap (checks either side of it are not in a row;
            # a state saved before the last check's time was kept holds a total: < 1e6)
            state = mon.rule_state[KEY] = [0.0, ts, ts]
        state[0] += 1.0
        state[2] = ts
    if state is None:
        return None
    if sub is None:  # (between checks: the vitals scoring now)
        _, sub = mon.news2_now(ts)
    firing = state[0] >= SUSTAIN_CHECKS
    minutes = int((ts - state[1]) // 60.0)
    vitals = tuple(v for v, points in sub.items() if points)
    return Finding(
        KEY, "clinical", "critical", vitals, state[1], firing, 1.0 if firing else 0.5,
        explain=lambda: _explain(mon, ts, minutes),
    )  # fmt: skip


def _explain(mon: AggregateView, ts: float, minutes: int) -> tuple[str, dict[str, Any]]:
    total, sub = mon.news2_now(ts)
    parts = [f"{NEWS2_NAME[v]} {p}" for v, p in sub.items() if p]
    cfg = mon.config
    if cfg.on_oxygen:
        parts.append("on oxygen 2")
    acvpu = cfg.consciousness.upper()
    if acvpu != "A":
        parts.append(f"consciousness {acvpu} 3")
    msg = f"NEWS2 {total} for {minutes} min (emergency response): {', '.join(parts)}"
    evidence = {
        "news2": {"total": total, **sub},
        "on_oxygen": cfg.on_oxygen,
        "consciousness": acvpu,
        "duration_min": minutes,
    }
    return msg, evidence

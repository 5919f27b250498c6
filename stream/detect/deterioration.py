"""Deterioration from personal normal: the multi-vital warning of a slow, septic-like decline.

No single vital shows it yet, but together they do. Two levels, both on the monitor's
smoothed values and personal baselines (:class:`~stream.detect.baseline.ChannelModel`):

- ``deterioration`` proper: NEWS2 well above the patient's *own usual* NEWS2 (the aggregate
  of the personal baselines), with several vitals ``2`` personal scales or more the adverse
  way (:data:`ADVERSE`); medium, critical from NEWS2 7;
- before that, an early low-severity warning: at rest, at least two vitals ``EARLY_Z``
  personal scales or more the adverse way, ``EARLY_SUM`` in all, each past the edge of its
  NEWS2 0-point band (:data:`EARLY_FLOOR`), for ``EARLY_PERSIST`` consecutive readings,
  each vital from its second day of data (its daily rhythm is not known before).

The state lives on the monitor (``deterioration`` and the ``rule_state`` entry
:data:`EARLY_KEY`), so it pickles with it; this module only reads and updates it through
:class:`MonitorView`.

Examples
--------
>>> from ingest.sample import Sample
>>> from stream.detect.monitor import PatientMonitor
>>> mon = PatientMonitor("p1")
>>> for i in range(180):
...     _ = mon.observe(Sample("p1", "d1", 60.0 * i, hr=72.0 + (i % 3), spo2=97.0,
...                            rr=14.0 + (i % 2), temp=36.8, motion=0.1))
>>> deterioration_pending(mon, adverse_seen=False), assess(mon, 180 * 60.0, at_rest=True)
(False, None)
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, Final, Protocol

from stream.detect.baseline import TREND_AFTER_S, ChannelModel
from stream.detect.findings import Finding
from stream.detect.rules import FIRING, HOLDING
from stream.detect.vitals import LABEL, UNIT, fmt

logger = logging.getLogger(__name__)

__all__ = [
    "ADVERSE",
    "EARLY_FLOOR",
    "EARLY_KEY",
    "EARLY_PERSIST",
    "EARLY_SUM",
    "EARLY_Z",
    "MonitorView",
    "assess",
    "deterioration_pending",
]

#: Adverse direction of each NEWS2 vital in a septic-like deterioration.
ADVERSE: Final = (("hr", 1.0), ("rr", 1.0), ("temp", 1.0), ("spo2", -1.0), ("sbp", -1.0))
#: Early multi-vital warning: per-vital personal z, their sum, consecutive readings (tuned on
#: simulated cohorts of several seeds).
EARLY_Z: Final = 2.5
EARLY_SUM: Final = 7.0
EARLY_PERSIST: Final = 8
#: The monitor's ``rule_state`` key of the early warning's evidence run.
EARLY_KEY: Final = "deterioration:early"
#: ... and only where a value begins to matter clinically (the edge of the NEWS2 0-point
#: band, slightly inside it): a cool-skinned patient warming to 36.4 C is not drifting.
EARLY_FLOOR: Final = {"hr": 80.0, "rr": 17.0, "temp": 37.0, "spo2": 96.0, "sbp": 120.0}
_ADVERSE_SIGN: Final = dict(ADVERSE)


class MonitorView(Protocol):
    """What the warning needs of one patient's monitor.

    :class:`~stream.detect.monitor.PatientMonitor` provides it.

    ``deterioration`` is ``[evidence count, start of the run]``; ``rule_state`` maps a rule
    kind to the same pair.
    """

    channels: dict[str, ChannelModel]
    rule_state: dict[str, list[float]]
    deterioration: list[float]

    def latest(self, vital: str, ts: float) -> float | None: ...

    def news2_now(self, ts: float) -> tuple[int, dict[str, int]]: ...

    def news2_points(self, vital: str, x: float) -> int: ...


def deterioration_pending(mon: MonitorView, adverse_seen: bool) -> bool:
    """Whether this sample needs :func:`assess`: two vitals adverse, or a run in progress.

    ``adverse_seen`` says some vital of the sample was 2 personal scales or more from its
    expected value (either way); without it, and with no run in progress, nothing is counted.
    """
    adverse = 0
    if adverse_seen or mon.deterioration[0] > 0.0:
        channels = mon.channels
        for vital, sign in ADVERSE:
            ch = channels.get(vital)
            if ch is not None and sign * ch.z >= 2.0:
                adverse += 1
    return adverse >= 2 or mon.deterioration[0] > 0.0 or EARLY_KEY in mon.rule_state


def assess(mon: MonitorView, ts: float, at_rest: bool, busy: bool = False) -> Finding | None:
    """Multi-vital rule: NEWS2 well above this patient's usual, several vitals adverse.

    ``at_rest``: the early warning's condition; ``busy``: the wearer moves about more than
    usual (:meth:`~stream.detect.activity.Activity.busier`), and the evidence is held, not
    alerted. A walk raises heart and breathing rate and may lower SpO2 together, and NEWS2 is
    a score of a patient at rest (a COPD patient walking: "NEWS2 5 (usual 1) with HR 109 bpm,
    SpO2 86%, RR 23/min").
    """
    adverse = 0
    drift = 0.0
    drifting: list[tuple[str, float]] = []
    for vital, sign in ADVERSE:
        ch = mon.channels.get(vital)
        x = mon.latest(vital, ts)
        if ch is None or x is None or ch.sd != ch.sd:
            continue
        z = sign * (x - ch.expected) / ch.sd
        if z >= 2.0:
            adverse += 1
            drift += z
            drifting.append((vital, z))
    early = _early_drift(mon, ts, at_rest, drifting)
    state = mon.deterioration
    if adverse < 2:
        state[0] = 0.0
        return None
    total, sub = mon.news2_now(ts)
    usual = total - sum(sub.values())  # oxygen and consciousness: as usual as they are now
    for vital in sub:
        usual += mon.news2_points(vital, mon.channels[vital].expected)
    excess = total - usual
    if total >= 5 and excess >= 3 and adverse >= 3:
        level = FIRING
    elif total >= 4 and excess >= 2:
        level = HOLDING
    else:
        state[0] = 0.0
        return _early_finding(mon, ts, drifting, drift) if early else None
    if state[0] == 0.0:
        state[1] = ts
    state[0] = state[0] + 1.0 if level == FIRING else max(state[0], 1.0)
    firing = ((level == FIRING and state[0] >= 5) or early) and not busy
    severity = "critical" if total >= 7 else "medium"
    involved = [v for v, n in sub.items() if n > 0]
    minutes = int((ts - state[1]) // 60.0)
    evidence = {"news2": {"total": total, "usual": usual, **sub}, "adverse_vitals": adverse,
                "duration_min": minutes}  # fmt: skip
    shown = tuple((v, mon.channels[v].xs) for v in involved)  # (as they are now)
    return Finding(
        "deterioration", "clinical", severity, tuple(involved), state[1], firing,
        min(1.0, drift / 20.0),
        explain=partial(_deterioration_text, minutes, total, usual, shown, evidence),
    )  # fmt: skip


def _deterioration_text(
    minutes: int,
    total: int,
    usual: int,
    shown: tuple[tuple[str, float], ...],
    evidence: dict[str, Any],
) -> tuple[str, dict[str, Any]]:
    """Message and evidence of the deterioration finding (``shown``: vital, smoothed value).

    Worded only when read (an alert opens or escalates): the rule is assessed at every sample
    of a run, and formatting the values costs more than assessing them.
    """
    parts = ", ".join(f"{LABEL[v]} {fmt(v, x)}{UNIT[v]}" for v, x in shown)
    over = f" over {minutes} min" if minutes >= 1 else ""
    return f"Deteriorating{over}: NEWS2 {total} (usual {usual}) with {parts}", evidence


def _early_drift(
    mon: MonitorView, ts: float, at_rest: bool, drifting: list[tuple[str, float]]
) -> bool:
    """Early warning: several vitals departing together from a settled personal normal.

    At rest, at least two vitals ``EARLY_Z`` personal scales or more the adverse way, with
    ``EARLY_SUM`` scales in all, for ``EARLY_PERSIST`` consecutive readings. A vital counts
    from its second day (:data:`~stream.detect.baseline.TREND_AFTER_S`), as the trend
    detector does: before its time-of-day profile exists, an hours-long departure of
    several vitals may be the daily rhythm. A patient started at midnight whose first night
    a biased accelerometer did not show as asleep learned the night as the resting normal,
    and the day drifted from it: "HR 82 bpm (usual 62), Temp 37.0 °C (usual 36.5)" (seed
    20261225).
    """
    channels = mon.channels
    strong = [
        z
        for v, z in drifting
        if z >= EARLY_Z
        and channels[v].settled
        and ts - channels[v].born >= TREND_AFTER_S
        and _ADVERSE_SIGN[v] * (channels[v].xs - EARLY_FLOOR[v]) >= 0.0
    ]
    if not at_rest or len(strong) < 2 or sum(strong) < EARLY_SUM:
        mon.rule_state.pop(EARLY_KEY, None)
        return False
    state = mon.rule_state.get(EARLY_KEY)
    if state is None:
        state = [0.0, ts]
        mon.rule_state[EARLY_KEY] = state
    state[0] += 1.0
    return state[0] >= EARLY_PERSIST


def _early_finding(
    mon: MonitorView, ts: float, drifting: list[tuple[str, float]], drift: float
) -> Finding:
    """The early warning's finding: low severity, the drifting vitals against their usual."""
    since = mon.rule_state[EARLY_KEY][1]
    minutes = int((ts - since) // 60.0)
    involved = [v for v, _ in drifting]
    channels = mon.channels
    evidence = {
        "z": {v: round(z, 2) for v, z in drifting},
        "expected": {v: round(channels[v].expected, 2) for v in involved},
        "adverse_vitals": len(involved),
        "duration_min": minutes,
    }
    shown = tuple((v, channels[v].xs, channels[v].expected) for v in involved)  # (as now)
    return Finding(
        "deterioration", "clinical", "low", tuple(involved), since, True,
        min(1.0, drift / 20.0), explain=partial(_early_text, minutes, shown, evidence),
    )  # fmt: skip


def _early_text(
    minutes: int, shown: tuple[tuple[str, float, float], ...], evidence: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """Message and evidence of the early warning (``shown``: vital, value, usual value).

    Worded only when read, as :func:`_deterioration_text`.
    """
    parts = ", ".join(
        f"{LABEL[v]} {fmt(v, x)}{UNIT[v]} (usual {fmt(v, usual)})" for v, x, usual in shown
    )
    return f"Drifting from this patient's normal at rest for {minutes} min: {parts}", evidence

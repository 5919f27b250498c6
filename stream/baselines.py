"""Baseline alerting methods that ``vigil eval`` compares Vigil with (pure functions).

Two population rules, each *instant* and *5-minute sustained*:

- **static thresholds** (a typical ward monitor's defaults): HR > 130 or < 40 bpm,
  SpO2 < 90 %, RR > 24 or < 8 /min, temp >= 38.5 or < 35 C, SBP < 90 or >= 180 mmHg;
- **NEWS2** (:func:`stream.detect.news2.news2`, air, alert, the patient's SpO2 scale):
  aggregate >= 5 or any single parameter scoring 3 (RCP 2017's urgent-response triggers).

Each rule turns a sample into an *alarm state* (true when any criterion holds). For a fair
comparison with Vigil's episodes, a baseline **alert** is a *transition into* the alarm state:
at the first alarming sample of a run (instant), or at the first sample of a run that has been
alarming continuously for 5 min (sustained). A run ends at a non-alarming sample or at a gap of
more than :data:`MAX_GAP_S` between samples (e.g. charging). The rules see raw readings
(artifacts included: that is their weakness); samples are taken per patient in ``ts`` order
(late samples put back in place, a courtesy Vigil does not get). Blood pressure comes from a
cuff every 15-60 min, so the last SBP is carried forward for up to :data:`BP_CARRY_S`; other
vitals count only in their own sample.

Examples
--------
>>> static_alarm(hr=72, spo2=97, rr=14, temp=36.8, sbp=None), static_alarm(hr=135)
(False, True)
>>> news2_alarm(spo2=89, spo2_scale=2), news2_alarm(spo2=89)
(False, True)
>>> alarm_onsets([0, 60, 120, 180, 240, 300, 360], [0, 1, 1, 1, 1, 1, 1])
[60.0]
>>> alarm_onsets([0, 60, 120, 180, 240, 300, 360], [0, 1, 1, 1, 1, 1, 1], sustain_s=300)
[360.0]
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from stream.detect.news2 import news2
from stream.evaluation import AlertTime

logger = logging.getLogger(__name__)

__all__ = [
    "BP_CARRY_S",
    "MAX_GAP_S",
    "SUSTAIN_S",
    "AlarmRule",
    "VitalSeries",
    "alarm_onsets",
    "baseline_alerts",
    "news2_alarm",
    "static_alarm",
]

#: How long a run must last for the sustained variant.
SUSTAIN_S: Final[float] = 5 * 60.0
#: A longer silence between two samples ends an alarm run.
MAX_GAP_S: Final[float] = 5 * 60.0
#: A cuff SBP reading stands for this long (the cuff measures every 15-60 min).
BP_CARRY_S: Final[float] = 60 * 60.0
#: A wearable vital missing from a sample stands for this long (a monitor shows the last
#: value): one dropped SpO2 reading does not end an alarm run.
WEAR_CARRY_S: Final[float] = MAX_GAP_S

AlarmRule = Callable[..., bool]


def static_alarm(
    hr: float | None = None,
    spo2: float | None = None,
    rr: float | None = None,
    temp: float | None = None,
    sbp: float | None = None,
    spo2_scale: int = 1,
) -> bool:
    """Static-threshold alarm state of one observation set (``spo2_scale`` is ignored).

    >>> static_alarm(hr=40), static_alarm(spo2=90), static_alarm(temp=38.5), static_alarm(sbp=90)
    (False, False, True, False)
    """
    return (
        (hr is not None and (hr > 130 or hr < 40))
        or (spo2 is not None and spo2 < 90)
        or (rr is not None and (rr > 24 or rr < 8))
        or (temp is not None and (temp >= 38.5 or temp < 35))
        or (sbp is not None and (sbp < 90 or sbp >= 180))
    )


def news2_alarm(
    hr: float | None = None,
    spo2: float | None = None,
    rr: float | None = None,
    temp: float | None = None,
    sbp: float | None = None,
    spo2_scale: int = 1,
) -> bool:
    """NEWS2 alarm state: aggregate >= 5 or a single parameter scoring 3.

    >>> news2_alarm(hr=120, rr=22, temp=38.2), news2_alarm(hr=120, rr=22)
    (True, False)
    """
    r = news2(hr=hr, spo2=spo2, rr=rr, sbp=sbp, temp=temp, spo2_scale=spo2_scale)
    return r.total >= 5 or r.max_single >= 3


def alarm_onsets(
    ts: Sequence[float],
    state: Sequence[bool | int],
    *,
    sustain_s: float = 0.0,
    max_gap_s: float = MAX_GAP_S,
) -> list[float]:
    """Times at which an alarm run (``ts`` ascending) becomes an alert.

    A run is consecutive alarming samples no more than ``max_gap_s`` apart; it alerts at the
    first sample at least ``sustain_s`` after the run began (once per run).

    >>> alarm_onsets([0, 60, 120, 600, 660], [1, 1, 0, 1, 1])
    [0.0, 600.0]
    >>> alarm_onsets([0, 60, 500, 560], [1, 1, 1, 1], sustain_s=60)
    [60.0, 560.0]
    """
    out: list[float] = []
    run_start: float | None = None
    alerted = False
    last = -float("inf")
    for t, s in zip(ts, state, strict=True):
        if not s or t - last > max_gap_s:
            run_start, alerted = None, False
        if s:
            if run_start is None:
                run_start = t
            if not alerted and t - run_start >= sustain_s:
                out.append(float(t))
                alerted = True
        last = t
    return out


_NAN = float("nan")


def _opt(x: float) -> float | None:
    return None if x != x else x  # NaN marks a missing value


@dataclass(slots=True)
class VitalSeries:
    """One patient's accepted samples (any order; sorted by ``ts`` when used).

    Values are stored compactly (``array('d')``, NaN = not reported): a 1M-sample cohort
    takes ~50 MB.
    """

    ts: array[float] = field(default_factory=lambda: array("d"))
    hr: array[float] = field(default_factory=lambda: array("d"))
    spo2: array[float] = field(default_factory=lambda: array("d"))
    rr: array[float] = field(default_factory=lambda: array("d"))
    temp: array[float] = field(default_factory=lambda: array("d"))
    sbp: array[float] = field(default_factory=lambda: array("d"))

    def append(
        self,
        ts: float,
        hr: float | None,
        spo2: float | None,
        rr: float | None,
        temp: float | None,
        sbp: float | None,
    ) -> None:
        """Add one sample's values (``None`` = not reported)."""
        self.ts.append(ts)
        self.hr.append(_NAN if hr is None else hr)
        self.spo2.append(_NAN if spo2 is None else spo2)
        self.rr.append(_NAN if rr is None else rr)
        self.temp.append(_NAN if temp is None else temp)
        self.sbp.append(_NAN if sbp is None else sbp)

    def states(self, rule: AlarmRule, *, spo2_scale: int = 1) -> tuple[list[float], list[bool]]:
        """``(ts, alarm state)`` in ``ts`` order, SBP carried forward up to BP_CARRY_S and the
        wearable's vitals up to WEAR_CARRY_S."""
        order = sorted(range(len(self.ts)), key=self.ts.__getitem__)
        ts_out: list[float] = []
        out: list[bool] = []
        columns = (self.hr, self.spo2, self.rr, self.temp, self.sbp)
        carry = (WEAR_CARRY_S,) * 4 + (BP_CARRY_S,)
        last: list[float | None] = [None] * 5
        last_ts = [-float("inf")] * 5
        for i in order:
            t = self.ts[i]
            values: list[float | None] = []
            for k, column in enumerate(columns):
                x = _opt(column[i])
                if x is not None:
                    last[k], last_ts[k] = x, t
                values.append(last[k] if t - last_ts[k] <= carry[k] else None)
            ts_out.append(t)
            hr, spo2, rr, temp, sbp = values
            out.append(rule(hr, spo2, rr, temp, sbp, spo2_scale))
        return ts_out, out


def baseline_alerts(
    series: Mapping[str, VitalSeries],
    rule: AlarmRule,
    *,
    sustain_s: float = 0.0,
    spo2_scales: Mapping[str, int] | None = None,
) -> list[AlertTime]:
    """Alerts of one baseline over every patient.

    >>> s = VitalSeries()
    >>> for i, hr in enumerate([80, 140, 142, 80, 145]):
    ...     s.append(60.0 * i, hr, 97, 14, 36.8, None)
    >>> baseline_alerts({"p1": s}, static_alarm)
    [AlertTime(patient_id='p1', detected_at=60.0), AlertTime(patient_id='p1', detected_at=240.0)]
    """
    scales = spo2_scales or {}
    out: list[AlertTime] = []
    for pid in sorted(series):
        ts, state = series[pid].states(rule, spo2_scale=scales.get(pid, 1))
        out.extend(AlertTime(pid, t) for t in alarm_onsets(ts, state, sustain_s=sustain_s))
    return out

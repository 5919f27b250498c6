"""Event-level evaluation of an alerting method against labelled events (pure functions).

Definitions (issue 3; ``vigil eval`` uses exactly these):

- An **alert** is one alert episode: for Vigil, one ``Alert`` record with ``status == "open"``
  (escalations and resolutions of the same ``alert_id`` are not new alerts); its time is
  ``detected_at``. Only ``clinical`` alerts count; ``technical`` ones are ignored here.
- An **event is detected** when a clinical alert of that patient has ``detected_at`` in
  ``[onset, end + 30 min]``; its **delay** is the first such ``detected_at`` - ``onset``.
- A **false alert** is a clinical alert outside every event window of its patient widened to
  ``[onset - 10 min, end + 2 h]``. **Alerts per detected event** = the alerts inside the
  widened windows of detected events / detected events (the alert burden per real event; 1.0
  is ideal; an alert near an undetected event is neither false nor charged to a detected one).
- **Recall** = detected / events, overall, per event type and over cold-start events (onset
  < 6 h after the patient's first sample). **Delays** are reported in minutes, median and
  90th percentile (linear interpolation) over detected events. **False alerts per
  patient-day** divides by the monitored time (first to last sample) summed over patients.

Examples
--------
>>> h = 3600.0
>>> events = [LabelledEvent("p1", "fever", onset=10 * h, end=12 * h, cold_start=False),
...           LabelledEvent("p2", "tachycardia", onset=2 * h, end=3 * h, cold_start=True)]
>>> alerts = [AlertTime("p1", 10.25 * h), AlertTime("p1", 11 * h), AlertTime("p1", 20 * h),
...           AlertTime("p2", 1 * h)]
>>> m = score_alerts(events, alerts, patient_days=2.0)
>>> m.recall, m.cold_start_recall, m.median_delay_min, m.false_alerts, m.false_per_patient_day
(0.5, 0.0, 15.0, 2, 1.0)
>>> m.alerts_per_detected_event
2.0
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from ingest.sample import parse_ts

logger = logging.getLogger(__name__)

__all__ = [
    "DETECT_AFTER_END_S",
    "WINDOW_AFTER_END_S",
    "WINDOW_BEFORE_ONSET_S",
    "AlertLike",
    "AlertTime",
    "LabelledEvent",
    "Metrics",
    "clinical_alert_times",
    "events_from_labels",
    "format_table",
    "patient_days_from_labels",
    "percentile",
    "score_alerts",
]

#: An alert up to this long after an event's end still detects it.
DETECT_AFTER_END_S: Final[float] = 30 * 60.0
#: Alerts this long before an onset are not false (the ramp may be caught early).
WINDOW_BEFORE_ONSET_S: Final[float] = 10 * 60.0
#: Alerts up to this long after an event's end are not false (recovery, follow-up alerts).
WINDOW_AFTER_END_S: Final[float] = 2 * 3600.0


@dataclass(frozen=True, slots=True)
class LabelledEvent:
    """A labelled clinical event (times in epoch seconds UTC)."""

    patient_id: str
    type: str
    onset: float
    end: float
    cold_start: bool = False


@dataclass(frozen=True, slots=True)
class AlertTime:
    """A clinical alert as the evaluation sees it: who, and when it was raised."""

    patient_id: str
    detected_at: float


@dataclass(frozen=True, slots=True)
class Metrics:
    """Event-level results of one method (see the module docstring for definitions)."""

    events: int
    detected: int
    recall: float
    recall_by_type: dict[str, float]
    cold_start_events: int
    cold_start_recall: float
    median_delay_min: float
    p90_delay_min: float
    alerts: int
    false_alerts: int
    false_per_patient_day: float
    alerts_per_detected_event: float
    delays_min: list[float] = field(default_factory=list, repr=False)


class AlertLike(Protocol):
    """What the evaluation reads from an alert record (e.g. :class:`alerts.model.Alert`)."""

    @property
    def patient_id(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def detected_at(self) -> float: ...


def clinical_alert_times(alerts: Iterable[AlertLike]) -> list[AlertTime]:
    """One :class:`AlertTime` per clinical episode: ``open`` records of category ``clinical``.

    Escalations and resolutions re-use their episode's ``alert_id`` and are not new alerts;
    technical alerts (gaps, flatlines, rejected runs) are not part of this evaluation.

    >>> from types import SimpleNamespace as A
    >>> clinical_alert_times([
    ...     A(patient_id="p", category="clinical", status="open", detected_at=1.0),
    ...     A(patient_id="p", category="clinical", status="escalated", detected_at=2.0),
    ...     A(patient_id="p", category="technical", status="open", detected_at=3.0)])
    [AlertTime(patient_id='p', detected_at=1.0)]
    """
    return [
        AlertTime(a.patient_id, float(a.detected_at))
        for a in alerts
        if a.category == "clinical" and a.status == "open"
    ]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation; NaN when empty.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([5.0], 90), percentile([0, 10], 90)
    (2.5, 5.0, 9.0)
    >>> math.isnan(percentile([], 50))
    True
    """
    if not values:
        return math.nan
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


def score_alerts(
    events: Sequence[LabelledEvent], alerts: Iterable[AlertTime], *, patient_days: float
) -> Metrics:
    """Score clinical alerts against labelled events.

    Parameters
    ----------
    events
        The labelled events of the cohort.
    alerts
        The method's clinical alerts (one per episode).
    patient_days
        Monitored patient-days of the cohort (the false-alert rate's denominator).

    Returns
    -------
    Metrics
        Recall (overall, per type, cold start), delays, false and true alert counts.
    """
    by_patient: dict[str, list[float]] = defaultdict(list)
    n_alerts = 0
    for a in alerts:
        by_patient[a.patient_id].append(a.detected_at)
        n_alerts += 1
    for times in by_patient.values():
        times.sort()

    delays: list[float] = []
    hits: dict[str, list[bool]] = defaultdict(list)
    cold: list[bool] = []
    detected_windows: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for ev in events:
        times = by_patient.get(ev.patient_id, [])
        first = next((t for t in times if ev.onset <= t <= ev.end + DETECT_AFTER_END_S), None)
        hit = first is not None
        if first is not None:
            delays.append((first - ev.onset) / 60.0)
            detected_windows[ev.patient_id].append(
                (ev.onset - WINDOW_BEFORE_ONSET_S, ev.end + WINDOW_AFTER_END_S)
            )
        hits[ev.type].append(hit)
        if ev.cold_start:
            cold.append(hit)

    windows: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for ev in events:
        windows[ev.patient_id].append(
            (ev.onset - WINDOW_BEFORE_ONSET_S, ev.end + WINDOW_AFTER_END_S)
        )
    false = sum(
        1
        for pid, times in by_patient.items()
        for t in times
        if not any(lo <= t <= hi for lo, hi in windows.get(pid, ()))
    )
    detected = len(delays)
    charged = sum(
        1
        for pid, times in by_patient.items()
        for t in times
        if any(lo <= t <= hi for lo, hi in detected_windows.get(pid, ()))
    )
    return Metrics(
        events=len(events),
        detected=detected,
        recall=_ratio(detected, len(events)),
        recall_by_type={k: _ratio(sum(v), len(v)) for k, v in sorted(hits.items())},
        cold_start_events=len(cold),
        cold_start_recall=_ratio(sum(cold), len(cold)),
        median_delay_min=percentile(delays, 50),
        p90_delay_min=percentile(delays, 90),
        alerts=n_alerts,
        false_alerts=false,
        false_per_patient_day=false / patient_days if patient_days > 0 else math.nan,
        alerts_per_detected_event=_ratio(charged, detected),
        delays_min=delays,
    )


def events_from_labels(labels: Mapping[str, Any]) -> list[LabelledEvent]:
    """Read the events of a ``labels.json`` document.

    >>> [ev] = events_from_labels({"events": [{"patient_id": "p1", "type": "fever",
    ...     "onset": "2025-01-06T10:00:00Z", "end": "2025-01-06T11:00:00Z", "cold_start": True}]})
    >>> ev.onset, ev.end - ev.onset, ev.cold_start
    (1736157600.0, 3600.0, True)
    """
    return [
        LabelledEvent(
            patient_id=str(e["patient_id"]),
            type=str(e["type"]),
            onset=parse_ts(e["onset"]),
            end=parse_ts(e["end"]),
            cold_start=bool(e.get("cold_start", False)),
        )
        for e in labels["events"]
    ]


def patient_days_from_labels(labels: Mapping[str, Any]) -> float:
    """Sum over patients of (last sample - first sample), in days.

    >>> patient_days_from_labels({"patients": [
    ...     {"first_sample": "2025-01-06T00:00:00Z", "last_sample": "2025-01-07T12:00:00Z"}]})
    1.5
    """
    return sum(
        (parse_ts(p["last_sample"]) - parse_ts(p["first_sample"])) / 86400.0
        for p in labels["patients"]
    )


def _fmt(x: float, digits: int = 2) -> str:
    return "-" if math.isnan(x) else f"{x:.{digits}f}"


def format_table(results: Mapping[str, Metrics]) -> list[tuple[str, list[str]]]:
    """Rows ``(metric, [value per method])`` for a side-by-side table, methods in order.

    >>> m = score_alerts([LabelledEvent("p", "fever", 0.0, 600.0)], [AlertTime("p", 60.0)],
    ...                  patient_days=1.0)
    >>> rows = format_table({"vigil": m})
    >>> rows[0], rows[1]
    (('events', ['1']), ('recall', ['1.00']))
    """
    ms = list(results.values())
    rows: list[tuple[str, list[str]]] = [
        ("events", [str(m.events) for m in ms]),
        ("recall", [_fmt(m.recall) for m in ms]),
    ]
    types = sorted({t for m in ms for t in m.recall_by_type})
    rows += [
        (f"  recall {t}", [_fmt(m.recall_by_type.get(t, math.nan)) for m in ms]) for t in types
    ]
    rows += [
        (
            "cold-start recall",
            [f"{_fmt(m.cold_start_recall)} (n={m.cold_start_events})" for m in ms],
        ),
        ("median delay (min)", [_fmt(m.median_delay_min, 1) for m in ms]),
        ("p90 delay (min)", [_fmt(m.p90_delay_min, 1) for m in ms]),
        ("clinical alerts", [str(m.alerts) for m in ms]),
        ("false alerts / patient-day", [_fmt(m.false_per_patient_day) for m in ms]),
        ("alerts / detected event", [_fmt(m.alerts_per_detected_event) for m in ms]),
    ]
    return rows

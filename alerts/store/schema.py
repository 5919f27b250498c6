"""The InfluxDB schema: measurements, series keys, timestamps, retention, and the mapping.

Measurements (line protocol; tags are indexed strings, fields are values)::

    alerts         tags   patient_id, category, kind, severity
                   fields alert_id, message, evidence (JSON), score, seq (int),
                          status (episode: open|escalated|resolved), started_at (ISO), vitals (JSON)
                   time   detected_at (ms) + a per-record sub-millisecond offset
    alert_events   tags   patient_id, action (ack|resolve|snooze|assign|escalate|note)
                   fields event_id, alert_id, actor, note, until (ISO or ""), assignee, version
                   time   when it happened (us) + a per-event sub-microsecond offset
    vitals_1m      tags   patient_id, vital
                   fields mean, min, max, count (int), sum (= mean x count, derived)
                   time   start of the minute
    news2          tags   patient_id
                   fields score (int), risk, sub_<parameter> (int, one per observed parameter)
                   time   start of the minute

``sum`` lets Flux merge minutes into 5-minute and hourly buckets with pushed-down window
aggregates (``sum(sum) / sum(count)`` is the count-weighted mean) instead of pivoting every
minute; readers fall back to ``mean`` and ``count`` for points written without it. The
store also writes two read projections of ``alerts`` and ``alert_events`` (``alerts_by_id``,
``alert_event_log``), documented in :mod:`alerts.store.projections`, and ``alert_claims``,
the order of lifecycle actions across API processes (:mod:`alerts.store.claims`).

Idempotency. InfluxDB identifies a point by measurement + tag set + timestamp; writing the
same point again replaces its fields. Every record maps to one deterministic point: the alert
record ``(alert_id, seq)`` to its tags and ``detected_at``, the event to its tags and ``at``,
a rollup to ``(patient_id, vital, minute)``. Re-delivery after a crash therefore overwrites.
The JSON alert carries milliseconds, so the nanoseconds below the millisecond are free: they
hold a hash of ``(alert_id, seq)`` (:func:`alert_time_ns`), so two *different* records with
the same tags in the same millisecond do not collide (chance 1 in 500,000 if they ever share
a millisecond); events get the same treatment below the microsecond. Readers truncate the
offset away, so ``detected_at`` reads back exactly.

Retention. InfluxDB 2 sets retention per bucket, not per measurement:

- ``VIGIL_INFLUX_BUCKET`` holds ``alerts`` and ``alert_events``: part of the clinical record,
  kept indefinitely (retention 0); deleting them is a records-governance decision, not a
  storage setting.
- ``VIGIL_INFLUX_VITALS_BUCKET`` (defaults to the same bucket) holds ``vitals_1m`` and
  ``news2``: :data:`VITALS_RETENTION_S` = 400 days, a year plus a margin for
  year-on-year comparison. Raw samples are not stored in InfluxDB (Kafka keeps them).

:func:`alerts.store.influx.InfluxStore.ensure_buckets` creates missing buckets with these
retentions; it never changes an existing bucket.

This module is pure (no InfluxDB client import): records in, line protocol out, and Flux
result rows back to records.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from alerts.lifecycle import AlertEvent
from alerts.model import Alert
from stream.rollup import News2Record, VitalsRollup

__all__ = [
    "ALERTS",
    "ALERTS_RETENTION_S",
    "ALERT_EVENTS",
    "NEWS2",
    "VITALS_1M",
    "VITALS_RETENTION_S",
    "alert_line",
    "alert_time_ns",
    "event_line",
    "event_time_ns",
    "line_protocol",
    "news2_line",
    "rollup_lines",
    "row_to_alert",
    "row_to_event",
    "row_to_news2",
    "string_field",
]

ALERTS: Final = "alerts"
ALERT_EVENTS: Final = "alert_events"
VITALS_1M: Final = "vitals_1m"
NEWS2: Final = "news2"

#: Retention of the alerts bucket: 0 = keep forever (clinical record).
ALERTS_RETENTION_S: Final = 0
#: Retention of the vitals bucket: 400 days.
VITALS_RETENTION_S: Final = 400 * 24 * 3600

_SUB_MS: Final = 500_000  # offsets stay below half a millisecond, whatever readers round
_SUB_US: Final = 500


def _h(text: str, modulo: int) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % modulo


def alert_time_ns(alert: Alert) -> int:
    """The point time of an alert record: ``detected_at`` in ms plus its hash offset.

    Examples
    --------
    >>> a = Alert.new(patient_id="p1", category="clinical", kind="fever", severity="low",
    ...               vitals=["temp"], started_at=1709280000.0, detected_at=1709280000.25,
    ...               message="T 38.4")
    >>> t = alert_time_ns(a)
    >>> t // 1_000_000, t % 1_000_000 < 500_000
    (1709280000250, True)
    """
    ms = round(alert.detected_at * 1000.0)
    return ms * 1_000_000 + _h(f"{alert.alert_id}|{alert.seq}", _SUB_MS)


def event_time_ns(event: AlertEvent) -> int:
    """The point time of a lifecycle event: ``at`` in microseconds plus its hash offset."""
    return _us(event.at) * 1000 + _h(event.event_id, _SUB_US)


def _us(t: datetime) -> int:
    delta = t - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


# -- line protocol ------------------------------------------------------------------------


def _tag(value: str) -> str:
    if not value:
        return "_"  # InfluxDB drops empty tag values; keep the series key complete
    return value.replace("\\", "\\\\").replace(",", r"\,").replace("=", r"\=").replace(" ", r"\ ")


def string_field(value: str) -> str:
    """A line-protocol string field value (quoted, escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _float(value: float) -> str:
    return repr(float(value))


def line_protocol(
    measurement: str, tags: Mapping[str, str], fields: Mapping[str, str], ns: int | None
) -> str:
    """One line: measurement, escaped tags (sorted), pre-formatted fields, time in ns.

    ``ns=None`` leaves the time out: InfluxDB then stamps the point with its own clock when
    it receives the write.

    Examples
    --------
    >>> line_protocol("m", {"shard": "ab"}, {"x": "1i"}, None)
    'm,shard=ab x=1i'
    """
    tag_part = "".join(f",{k}={_tag(v)}" for k, v in sorted(tags.items()))
    field_part = ",".join(f"{k}={v}" for k, v in fields.items())
    time_part = "" if ns is None else f" {ns}"
    return f"{measurement}{tag_part} {field_part}{time_part}"


def alert_line(alert: Alert) -> str:
    r"""Line protocol for one alert record.

    Examples
    --------
    >>> a = Alert.new(patient_id="p 1", category="clinical", kind="fever", severity="low",
    ...               vitals=["temp"], started_at=1709280000.0, detected_at=1709280000.0,
    ...               message='T "38.4"', score=0.5)
    >>> print(alert_line(a).partition(" alert_id=")[0])
    alerts,category=clinical,kind=fever,patient_id=p\ 1,severity=low
    >>> print(alert_line(a).partition(",message=")[2].partition(",evidence")[0])
    "T \"38.4\""
    """
    d = alert.to_json_dict()
    fields = {
        "alert_id": string_field(alert.alert_id),
        "message": string_field(alert.message),
        "evidence": string_field(json.dumps(d["evidence"], sort_keys=True, separators=(",", ":"))),
        "score": _float(d["score"]),
        "seq": f"{alert.seq}i",
        "status": string_field(alert.status),
        "started_at": string_field(d["started_at"]),
        "vitals": string_field(json.dumps(d["vitals"], separators=(",", ":"))),
    }
    tags = {
        "patient_id": alert.patient_id,
        "category": alert.category,
        "kind": alert.kind,
        "severity": alert.severity,
    }
    return line_protocol(ALERTS, tags, fields, alert_time_ns(alert))


def event_line(event: AlertEvent) -> str:
    """Line protocol for one lifecycle event."""
    fields = {
        "event_id": string_field(event.event_id),
        "alert_id": string_field(event.alert_id),
        "actor": string_field(event.actor),
        "note": string_field(event.note),
        "until": string_field(event.until.isoformat() if event.until else ""),
        "assignee": string_field(event.assignee or ""),
        "version": f"{event.version}i",
    }
    tags = {"patient_id": event.patient_id, "action": event.action}
    return line_protocol(ALERT_EVENTS, tags, fields, event_time_ns(event))


def rollup_lines(rollup: VitalsRollup) -> list[str]:
    """Line protocol for a vitals rollup: one point per vital."""
    ns = _us(rollup.minute) * 1000
    return [
        line_protocol(
            VITALS_1M,
            {"patient_id": rollup.patient_id, "vital": vital},
            {
                "mean": _float(s.mean),
                "min": _float(s.min),
                "max": _float(s.max),
                "count": f"{s.count}i",
                "sum": _float(s.mean * s.count),
            },
            ns,
        )
        for vital, s in sorted(rollup.vitals.items())
    ]


def news2_line(record: News2Record) -> str:
    """Line protocol for a NEWS2 record."""
    fields = {"score": f"{record.score}i", "risk": string_field(record.risk)}
    fields.update({f"sub_{k}": f"{v}i" for k, v in sorted(record.subscores.items())})
    return line_protocol(
        NEWS2, {"patient_id": record.patient_id}, fields, _us(record.minute) * 1000
    )


def lines(
    alerts: Iterable[Alert],
    events: Iterable[AlertEvent],
    rollups: Iterable[VitalsRollup],
    news2: Iterable[News2Record],
) -> tuple[list[str], list[str]]:
    """Line protocol for a batch, split into (alerts bucket, vitals bucket)."""
    alert_lines = [alert_line(a) for a in alerts] + [event_line(e) for e in events]
    vital_lines = [line for r in rollups for line in rollup_lines(r)]
    vital_lines += [news2_line(n) for n in news2]
    return alert_lines, vital_lines


# -- Flux rows back to records ------------------------------------------------------------
# Queries pivot fields into columns and add ``ns`` = int(_time) so no precision is lost.


def _untag(value: Any) -> str:
    return "" if value in (None, "_") else str(value)


def row_to_alert(row: Mapping[str, Any]) -> Alert:
    """Rebuild an alert record from a pivoted ``alerts`` row."""
    ms = int(row["ns"]) // 1_000_000
    data = {
        "alert_id": row["alert_id"],
        "patient_id": _untag(row["patient_id"]),
        "category": row["category"],
        "kind": _untag(row["kind"]),
        "severity": row["severity"],
        "vitals": json.loads(row["vitals"]),
        "started_at": row["started_at"],
        "detected_at": ms / 1000.0,
        "message": row["message"],
        "evidence": json.loads(row["evidence"]),
        "score": float(row["score"]),
        "status": row["status"],
        "seq": int(row["seq"]),
    }
    # Through the JSON path so a stored alert equals Alert.from_json(alert.to_json()).
    alert = Alert.from_json_dict(data)
    return Alert.from_json_dict(alert.to_json_dict())


def row_to_event(row: Mapping[str, Any]) -> AlertEvent:
    """Rebuild a lifecycle event from a pivoted ``alert_events`` row."""
    until = row.get("until") or None
    return AlertEvent(
        event_id=row["event_id"],
        alert_id=row["alert_id"],
        action=row["action"],
        actor=row["actor"],
        at=_from_us(int(row["ns"]) // 1000),
        patient_id=_untag(row["patient_id"]),
        note=row.get("note") or "",
        until=datetime.fromisoformat(until) if until else None,
        assignee=row.get("assignee") or None,
        version=int(row.get("version") or 1),
    )


def row_to_news2(row: Mapping[str, Any]) -> News2Record:
    """Rebuild a NEWS2 record from a pivoted ``news2`` row."""
    subs = {k[4:]: int(v) for k, v in row.items() if k.startswith("sub_") and v not in (None, "")}
    return msgspec.convert(
        {
            "patient_id": _untag(row["patient_id"]),
            "minute": _from_us(int(row["ns"]) // 1000),
            "score": int(row["score"]),
            "risk": row["risk"],
            "subscores": subs,
        },
        News2Record,
    )


def from_ns(ns: int) -> datetime:
    """An aware UTC datetime from epoch nanoseconds (truncated to microseconds)."""
    return _from_us(int(ns) // 1000)


def to_ns(t: datetime) -> int:
    """Epoch nanoseconds of an aware datetime."""
    return _us(t) * 1000

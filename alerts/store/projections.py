"""Read projections of alerts and their events: the same records, laid out for the API's reads.

The documented schema (:mod:`alerts.store.schema`) keys ``alerts`` by patient, category,
kind and severity, with ``alert_id`` a field (an id tag would make one series per alert).
That layout serves Flux users filtering by those tags, but the API's two hottest reads fit it
badly: a look-up by ``alert_id`` has to scan every alert ever stored, and "the newest alerts
of many patients" has to open one series per (patient, category, kind, severity) — often
about one series per alert — and pivot each. So the store writes, in the same request as
the records themselves, two derived measurements to the alerts bucket::

    alerts_by_id      tags   shard (first two hex digits of alert_id: at most 256 series)
                      fields alert_id, doc (the record as Alert JSON)
                      time   the record's ``alerts`` point time (:func:`schema.alert_time_ns`)
    alert_event_log   tags   shard (first hex digit of alert_id)
                      fields doc (the event as JSON)
                      time   when the store wrote it (not when it happened), ns

``alerts_by_id`` finds an episode by reading one shard (1/256 of the records) and lists
recent alerts of every patient by reading a short time range of a few hundred series.
``alert_event_log`` lets a list read the events of the alerts it shows by time: an event is
recorded after its alert was detected (the API acts on stored alerts; ingest refuses samples
more than ``MAX_FUTURE_S`` ahead of the wall clock), so every event of an alert opened at
``t`` was written after ``t - EVENT_LOOKBACK``. Writing the log at write time (not at the
event's own, possibly back-dated, ``at``) is what makes that bound hold. A re-delivered
event is logged again; readers keep one per ``event_id``.

Both are projections: ``alerts`` and ``alert_events`` stay the record of truth and the
projections can be rebuilt from them (:meth:`alerts.store.influx.InfluxStore.rebuild_projections`).

Examples
--------
>>> a = Alert.new(patient_id="p1", category="clinical", kind="fever", severity="low",
...               vitals=["temp"], started_at=1709280000.0, detected_at=1709280060.0,
...               message="T 38.4")
>>> alert_line(a).split(" ")[0]
'alerts_by_id,shard=6c'
>>> doc_to_alert(alert_doc(a)) == a
True
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Final

import msgspec

from alerts.lifecycle import AlertEvent
from alerts.model import Alert
from alerts.store.schema import alert_time_ns, line_protocol, string_field

__all__ = [
    "ALERTS_BY_ID",
    "ALERT_EVENT_LOG",
    "EVENT_LOOKBACK_NS",
    "alert_doc",
    "alert_line",
    "alert_shard",
    "doc_to_alert",
    "doc_to_event",
    "event_log_lines",
    "event_shard",
]

ALERTS_BY_ID: Final = "alerts_by_id"
ALERT_EVENT_LOG: Final = "alert_event_log"

#: How long before its alert's detection an event may be recorded: a wide margin over
#: ``ingest.sample.MAX_FUTURE_S`` (device clocks ahead of the receiver) and host clock skew.
EVENT_LOOKBACK_NS: Final = 3600 * 10**9

#: Decoded docs kept: every list page decodes the same recent alerts again.
_DECODED: Final = 8192

_event_decoder = msgspec.json.Decoder(AlertEvent)


def alert_shard(alert_id: str) -> str:
    """The ``alerts_by_id`` shard of an alert id (its first two characters)."""
    return alert_id[:2] or "_"


def event_shard(alert_id: str) -> str:
    """The ``alert_event_log`` shard of an alert id (its first character)."""
    return alert_id[:1] or "_"


def alert_doc(alert: Alert) -> str:
    """The record as stored in ``doc``: :meth:`Alert.to_json`."""
    return alert.to_json().decode()


@lru_cache(maxsize=_DECODED)
def doc_to_alert(doc: str) -> Alert:
    """The record back from its ``doc`` (records are immutable: decoded ones are reused)."""
    return Alert.from_json(doc)


@lru_cache(maxsize=_DECODED)
def doc_to_event(doc: str) -> AlertEvent:
    """An event back from its ``doc`` (events are immutable: decoded ones are reused)."""
    return _event_decoder.decode(doc)


def alert_line(alert: Alert) -> str:
    """Line protocol of one record's ``alerts_by_id`` point."""
    fields = {"alert_id": string_field(alert.alert_id), "doc": string_field(alert_doc(alert))}
    return line_protocol(
        ALERTS_BY_ID, {"shard": alert_shard(alert.alert_id)}, fields, alert_time_ns(alert)
    )


def event_log_lines(events: Iterable[AlertEvent], recorded_ns: int) -> list[str]:
    """Line protocol of ``alert_event_log`` points, the i-th at ``recorded_ns + i``."""
    return [
        line_protocol(
            ALERT_EVENT_LOG,
            {"shard": event_shard(e.alert_id)},
            {"doc": string_field(msgspec.json.encode(e).decode())},
            recorded_ns + i,
        )
        for i, e in enumerate(events)
    ]

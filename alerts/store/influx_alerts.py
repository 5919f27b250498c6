"""Alert reads on InfluxDB: an episode by id, and pages of episodes by patient or by time.

:class:`AlertReads` is the read half of :class:`alerts.store.influx.InfluxStore` for alerts.
Every read stays narrow:

- :meth:`~AlertReads.get` reads one shard of the ``alerts_by_id`` projection
  (:mod:`alerts.store.projections`) and the patient's own ``alert_events`` series.
- :meth:`~AlertReads.page` for a few patients (at most :data:`SMALL_PATIENT_SET`) reads
  those patients' ``alerts`` series: openings newest first in chunks, then the chunk's
  records and events. For more patients (a ward, an admin) it reads the ``alerts_by_id``
  timeline newest first, in windows growing :data:`WINDOW_GROWTH`-fold from
  :data:`FIRST_WINDOW_NS`, together with the ``alert_event_log`` written since each
  window's start (less ``EVENT_LOOKBACK_NS``), until the page is full: one query per
  window, whatever the number of patients or series.

Either way the current severity and lifecycle status are derived (the latest record; the
fold of the events), so they are filtered here rather than in Flux.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Collection
from typing import Final

from alerts.lifecycle import AlertEvent, fold
from alerts.model import Alert
from alerts.store import flux, projections
from alerts.store.base import (
    AlertPage,
    AlertQuery,
    AlertRecord,
    decode_cursor,
    episode,
    page,
    sort_key,
)
from alerts.store.schema import row_to_alert, row_to_event, to_ns

__all__ = ["FIRST_WINDOW_NS", "SMALL_PATIENT_SET", "WINDOW_GROWTH", "AlertReads"]

_MS: Final = 1_000_000
#: Up to this many patients a page reads their own ``alerts`` series; beyond, the timeline
#: (an OR of tag predicates costs InfluxDB a millisecond or two per term).
SMALL_PATIENT_SET: Final = 8
#: The first window of a timeline read (the newest alerts), and how each next one grows.
FIRST_WINDOW_NS: Final = 3600 * 10**9
WINDOW_GROWTH: Final = 8

#: Runs one Flux query and returns its rows (:func:`alerts.store.fluxcsv.parse`).
Query = Callable[[str], list[dict[str, str]]]


def _ms_ceil(ns: int) -> int:
    return -(-ns // _MS) * _MS


class AlertReads:
    """Alert reads over one bucket.

    Parameters
    ----------
    query
        Runs a Flux query (the store's, with its error translation).
    bucket
        The alerts bucket.
    """

    def __init__(self, query: Query, bucket: str) -> None:
        self._query = query
        self.bucket = bucket

    def _events(
        self, alert_ids: Collection[str], patient_ids: Collection[str] | None
    ) -> dict[str, list[AlertEvent]]:
        out: dict[str, list[AlertEvent]] = defaultdict(list)
        if not alert_ids:
            return out
        query = flux.events(self.bucket, alert_ids=alert_ids, patient_ids=patient_ids)
        for row in self._query(query):
            event = row_to_event(row)
            out[event.alert_id].append(event)
        return out

    def _episodes(
        self, alert_ids: Collection[str], patient_ids: Collection[str], start_ns: int
    ) -> list[tuple[AlertRecord, bool]]:
        """Records and events of ``alert_ids``, as ``(record, has_opening)`` pairs."""
        if not alert_ids:
            return []
        query = flux.episode_records(
            self.bucket, alert_ids=alert_ids, patient_ids=patient_ids, start_ns=start_ns
        )
        records: dict[str, list[Alert]] = defaultdict(list)
        for row in self._query(query):
            alert = row_to_alert(row)
            records[alert.alert_id].append(alert)
        # Events recorded without a patient carry the placeholder tag "_".
        events = self._events(list(records), {*patient_ids, "_"})
        out = []
        for alert_id, recs in records.items():
            latest, opened, listed = episode(recs)
            state = fold(alert_id, events.get(alert_id, []))
            out.append((AlertRecord(alert=latest, opened_at=opened, state=state), listed))
        return out

    def _records_by_id(self, alert_id: str) -> list[Alert]:
        rows = self._query(flux.alert_docs_by_id(self.bucket, alert_id))
        return [projections.doc_to_alert(row["doc"]) for row in rows]

    def get(self, alert_id: str) -> AlertRecord | None:
        """The episode ``alert_id`` with its lifecycle state, or ``None``."""
        records = self._records_by_id(alert_id)
        if not records:
            return None
        latest, opened, _listed = episode(records)
        # Events recorded without a patient carry the placeholder tag "_".
        events = self._events([alert_id], {latest.patient_id, "_"}).get(alert_id, [])
        return AlertRecord(alert=latest, opened_at=opened, state=fold(alert_id, events))

    def events(self, alert_id: str) -> list[AlertEvent]:
        """The alert's lifecycle events in fold order."""
        records = self._records_by_id(alert_id)
        # Events may be stored before their alert: then only a scan of all events finds them.
        patients = {records[0].patient_id, "_"} if records else None
        found = self._events([alert_id], patients).get(alert_id, [])
        return sorted({e.event_id: e for e in found}.values(), key=lambda e: (e.at, e.event_id))

    def _openings(
        self, query: AlertQuery, start_ns: int, stop_ns: int, limit: int | None
    ) -> list[tuple[int, str, str]]:
        text = flux.openings(
            self.bucket,
            start_ns=start_ns,
            stop_ns=stop_ns,
            patient_ids=query.patient_ids,
            categories=query.categories,
            limit=limit,
        )
        return [(int(r["ns"]), str(r["alert_id"]), str(r["patient_id"])) for r in self._query(text)]

    @staticmethod
    def _bounds(query: AlertQuery) -> tuple[int, int]:
        """``[start, stop)`` of opening point times the query can match, in whole ms."""
        # Openings carry a sub-millisecond offset: round bounds to whole milliseconds.
        start_ns = _ms_ceil(to_ns(query.since)) if query.since else 0
        stop_ns = _ms_ceil(to_ns(query.until)) if query.until else flux.FAR_FUTURE_NS
        if query.cursor:
            stop_ns = min(stop_ns, (decode_cursor(query.cursor)[0] + 1) * _MS)
        return start_ns, stop_ns

    def page(self, query: AlertQuery) -> AlertPage:
        """A page of alert episodes matching ``query`` (newest opening first)."""
        if query.patient_ids is not None and not query.patient_ids:
            return AlertPage(items=[], next_cursor=None)
        if query.patient_ids is not None and len(query.patient_ids) <= SMALL_PATIENT_SET:
            return self._list_for_patients(query)
        return self._list_from_timeline(query)

    def _list_from_timeline(self, query: AlertQuery) -> AlertPage:
        """Newest openings of any patient from ``alerts_by_id``, in growing time windows.

        Records are read for ``[lo, +inf)``, so every episode opened at or after ``lo`` is
        complete (escalations come later); the event log for ``[lo - EVENT_LOOKBACK, +inf)``
        holds all their events. The window grows until more than a page matches.
        """
        floor_ns, top_ns = self._bounds(query)
        after = decode_cursor(query.cursor) if query.cursor else None
        patients = query.patient_ids
        records: dict[str, list[Alert]] = defaultdict(list)
        events: dict[str, list[AlertEvent]] = defaultdict(list)
        read_to = logged_to = flux.FAR_FUTURE_NS  # what has been read: [read_to, +inf)
        width = FIRST_WINDOW_NS
        # Whole seconds: concurrent pages then ask InfluxDB the same question (coalesced).
        lo = max(floor_ns, (min(top_ns, time.time_ns()) - width) // 10**9 * 10**9)
        while True:
            log_from = max(0, lo - projections.EVENT_LOOKBACK_NS)
            log = (log_from, logged_to) if log_from < logged_to else None
            text = flux.timeline(self.bucket, docs=(lo, read_to), log=log)
            for row in self._query(text):
                if row["_measurement"] == projections.ALERTS_BY_ID:
                    alert = projections.doc_to_alert(row["_value"])
                    if patients is None or alert.patient_id in patients:
                        records[alert.alert_id].append(alert)
                else:
                    event = projections.doc_to_event(row["_value"])
                    events[event.alert_id].append(event)
            read_to, logged_to = lo, min(logged_to, log_from)
            candidates: list[AlertRecord] = []
            matched = 0
            for alert_id, recs in records.items():
                latest, opened, listed = episode(recs)
                if listed:
                    state = fold(alert_id, events.get(alert_id, ()))
                    record = AlertRecord(alert=latest, opened_at=opened, state=state)
                    candidates.append(record)
                    matched += query.matches(record) and (after is None or sort_key(record) < after)
            if matched > query.limit or lo <= floor_ns:
                return page(candidates, query)
            width *= WINDOW_GROWTH
            lo = max(floor_ns, lo - width)

    def _list_for_patients(self, query: AlertQuery) -> AlertPage:
        """Openings from the patients' own ``alerts`` series, newest first in chunks."""
        start_ns, stop_ns = self._bounds(query)
        after = decode_cursor(query.cursor) if query.cursor else None
        chunk = max(2 * query.limit, 100)
        candidates: list[AlertRecord] = []
        matched = 0
        while stop_ns > start_ns:
            found = self._openings(query, start_ns, stop_ns, chunk)
            if not found:
                break
            if len(found) == chunk:
                # Complete the oldest millisecond: the limit may have cut it.
                oldest_ms = found[-1][0] // _MS
                found = [f for f in found if f[0] // _MS != oldest_ms]
                found += self._openings(query, oldest_ms * _MS, (oldest_ms + 1) * _MS, None)
                stop_ns = oldest_ms * _MS
            else:
                stop_ns = start_ns  # everything in range has been read
            ids = {alert_id for _, alert_id, _ in found}
            patients = {patient for _, _, patient in found}
            first_ns = min(ns for ns, _, _ in found)
            for record, listed in self._episodes(ids, patients, first_ns - first_ns % _MS):
                if listed:
                    candidates.append(record)
                    matched += query.matches(record) and (after is None or sort_key(record) < after)
            if matched > query.limit:
                break
        return page(candidates, query)

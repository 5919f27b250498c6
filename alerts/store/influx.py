"""The production store: InfluxDB 2, written with line protocol, read with Flux.

Schema, idempotency and retention are documented in :mod:`alerts.store.schema`; the query
text lives in :mod:`alerts.store.flux`. Writes are synchronous: when :meth:`write_batch`
returns, InfluxDB has accepted every point, which is what lets the sink commit Kafka
offsets afterwards. Connection failures, timeouts, 5xx and 429 answers raise
:class:`~alerts.exceptions.StoreUnavailable` (retry later); other 4xx answers raise
:class:`~alerts.exceptions.StoreError`.

Lists (:meth:`InfluxStore.list_alerts`) read opening records newest first in chunks, fetch
those episodes' records and events, fold and filter (current severity and lifecycle status
are derived, so they are filtered here rather than in Flux) until the page is full.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import Any

from alerts.exceptions import StoreError, StoreUnavailable
from alerts.lifecycle import AlertEvent, fold
from alerts.model import Alert
from alerts.store import flux
from alerts.store.base import (
    RESOLUTIONS,
    AlertPage,
    AlertQuery,
    AlertRecord,
    Resolution,
    Store,
    StoreBatch,
    VitalPoint,
    decode_cursor,
    episode,
    page,
    sort_key,
)
from alerts.store.schema import (
    ALERTS_RETENTION_S,
    VITALS_RETENTION_S,
    from_ns,
    lines,
    row_to_alert,
    row_to_event,
    row_to_news2,
    to_ns,
)
from stream.rollup import News2Record, VitalsRollup

__all__ = ["InfluxStore"]

logger = logging.getLogger(__name__)

_MS: int = 1_000_000


class InfluxStore(Store):
    """Alerts and vitals in InfluxDB 2.

    Parameters
    ----------
    url, token, org
        Where and as whom to connect.
    bucket
        Bucket of ``alerts`` and ``alert_events``.
    vitals_bucket
        Bucket of ``vitals_1m`` and ``news2`` (default: ``bucket``).
    timeout_ms
        HTTP timeout of every request.
    """

    def __init__(
        self,
        *,
        url: str,
        token: str,
        org: str,
        bucket: str,
        vitals_bucket: str | None = None,
        timeout_ms: int = 10_000,
    ) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.org = org
        self.bucket = bucket
        self.vitals_bucket = vitals_bucket or bucket
        self._client = InfluxDBClient(url=url, token=token, org=org, timeout=timeout_ms)
        self._write = self._client.write_api(write_options=SYNCHRONOUS)
        self._query = self._client.query_api()

    # -- plumbing -------------------------------------------------------------------------

    @staticmethod
    def _translate(exc: Exception, what: str) -> StoreError:
        from influxdb_client.rest import ApiException

        if isinstance(exc, ApiException):
            status = int(exc.status or 0)
            if status >= 500 or status in (0, 429):
                return StoreUnavailable(f"influxdb {what}: HTTP {status}")
            body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else exc.body
            return StoreError(f"influxdb {what}: HTTP {status} {exc.reason}: {str(body)[:300]}")
        return StoreUnavailable(f"influxdb {what}: {type(exc).__name__}")

    def _rows(self, query: str) -> Iterator[dict[str, Any]]:
        try:
            tables = self._query.query(query, org=self.org)
        except Exception as exc:  # the client raises urllib3 and socket errors too
            raise self._translate(exc, "query") from exc
        for table in tables:
            for record in table.records:
                yield record.values

    def ping(self) -> bool:
        """Whether InfluxDB answers its health endpoint."""
        try:
            return bool(self._client.ping())
        except Exception:
            return False

    def ensure_buckets(self) -> dict[str, str]:
        """Create missing buckets with the documented retention; never alter existing ones."""
        try:
            return self._ensure_buckets()
        except StoreError:
            raise
        except Exception as exc:
            raise self._translate(exc, "buckets") from exc

    def _ensure_buckets(self) -> dict[str, str]:
        from influxdb_client.domain.bucket_retention_rules import BucketRetentionRules

        api = self._client.buckets_api()
        result: dict[str, str] = {}
        for name, retention in (
            (self.bucket, ALERTS_RETENTION_S),
            (self.vitals_bucket, VITALS_RETENTION_S),
        ):
            if name in result:
                continue
            if api.find_bucket_by_name(name) is not None:  # type: ignore[no-untyped-call]
                result[name] = "exists"
                continue
            rules = []
            if retention:
                rule = BucketRetentionRules(type="expire", every_seconds=retention)  # type: ignore[no-untyped-call]
                rules.append(rule)
            api.create_bucket(bucket_name=name, retention_rules=rules, org=self.org)
            result[name] = "created"
            logger.info("created bucket %s (retention %ss)", name, retention or "infinite")
        return result

    # -- writes ---------------------------------------------------------------------------

    def write_batch(self, batch: StoreBatch) -> None:
        """Write a sink batch (one request per bucket); re-writing it is harmless."""
        from influxdb_client.domain.write_precision import WritePrecision

        alert_lines, vital_lines = lines(batch.alerts, batch.events, batch.rollups, batch.news2)
        for bucket, payload in ((self.bucket, alert_lines), (self.vitals_bucket, vital_lines)):
            if not payload:
                continue
            try:
                self._write.write(
                    bucket=bucket,
                    org=self.org,
                    record=payload,
                    write_precision=WritePrecision.NS,  # type: ignore[arg-type]
                )
            except Exception as exc:
                raise self._translate(exc, "write") from exc

    def put_alerts(self, alerts: Sequence[Alert]) -> None:
        self.write_batch(StoreBatch(alerts=list(alerts)))

    def put_events(self, events: Sequence[AlertEvent]) -> None:
        self.write_batch(StoreBatch(events=list(events)))

    def put_vitals(self, rollups: Sequence[VitalsRollup]) -> None:
        self.write_batch(StoreBatch(rollups=list(rollups)))

    def put_news2(self, records: Sequence[News2Record]) -> None:
        self.write_batch(StoreBatch(news2=list(records)))

    # -- alert reads ----------------------------------------------------------------------

    def _events(
        self, alert_ids: Collection[str], patient_ids: Collection[str] | None
    ) -> dict[str, list[AlertEvent]]:
        out: dict[str, list[AlertEvent]] = defaultdict(list)
        if not alert_ids:
            return out
        query = flux.events(self.bucket, alert_ids=alert_ids, patient_ids=patient_ids)
        for row in self._rows(query):
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
        for row in self._rows(query):
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

    def get_alert(self, alert_id: str) -> AlertRecord | None:
        rows = list(self._rows(flux.alert_patient(self.bucket, alert_id)))
        if not rows:
            return None
        patient = str(rows[0]["patient_id"])
        found = self._episodes([alert_id], [patient], 0)
        return found[0][0] if found else None

    def events(self, alert_id: str) -> list[AlertEvent]:
        found = self._events([alert_id], None).get(alert_id, [])
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
        return [(int(r["ns"]), str(r["alert_id"]), str(r["patient_id"])) for r in self._rows(text)]

    def list_alerts(self, query: AlertQuery) -> AlertPage:
        if query.patient_ids is not None and not query.patient_ids:
            return AlertPage(items=[], next_cursor=None)
        start_ns = to_ns(query.since) if query.since else 0
        # Openings carry a sub-millisecond offset: round bounds to whole milliseconds.
        start_ns = -(-start_ns // _MS) * _MS
        stop_ns = -(-to_ns(query.until) // _MS) * _MS if query.until else flux.FAR_FUTURE_NS
        after = decode_cursor(query.cursor) if query.cursor else None
        if after is not None:
            stop_ns = min(stop_ns, (after[0] + 1) * _MS)
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

    # -- vitals reads ---------------------------------------------------------------------

    def latest_vitals(self, patient_id: str) -> dict[str, VitalPoint]:
        out: dict[str, VitalPoint] = {}
        for row in self._rows(flux.vitals_latest(self.vitals_bucket, patient_id)):
            point = VitalPoint(
                vital=str(row["vital"]),
                ts=from_ns(int(row["ns"])),
                mean=float(row["mean"]),
                min=float(row["min"]),
                max=float(row["max"]),
                count=int(row["count"]),
            )
            out[point.vital] = point
        return out

    def vitals_history(
        self,
        patient_id: str,
        *,
        start: datetime,
        stop: datetime,
        resolution: Resolution = "1m",
        vitals: Collection[str] | None = None,
    ) -> list[VitalPoint]:
        query = flux.vitals_history(
            self.vitals_bucket,
            patient_id,
            start_ns=to_ns(start),
            stop_ns=to_ns(stop),
            width_s=RESOLUTIONS[resolution],
            vitals=vitals,
        )
        points = [
            VitalPoint(
                vital=str(row["vital"]),
                ts=from_ns(int(row["bucket"])),
                mean=float(row["wsum"]) / int(row["count"]),
                min=float(row["min"]),
                max=float(row["max"]),
                count=int(row["count"]),
            )
            for row in self._rows(query)
        ]
        return sorted(points, key=lambda p: (p.ts, p.vital))

    def latest_news2(self, patient_id: str) -> News2Record | None:
        rows = list(self._rows(flux.news2_last_time(self.vitals_bucket, patient_id)))
        if not rows:
            return None
        ns = int(rows[0]["ns"])
        found = [
            row_to_news2(r) for r in self._rows(flux.news2_at(self.vitals_bucket, patient_id, ns))
        ]
        return found[0] if found else None

    def news2_history(
        self, patient_id: str, *, start: datetime, stop: datetime
    ) -> list[News2Record]:
        query = flux.news2_history(
            self.vitals_bucket, patient_id, start_ns=to_ns(start), stop_ns=to_ns(stop)
        )
        return [row_to_news2(r) for r in self._rows(query)]

    def close(self) -> None:
        self._write.close()  # type: ignore[no-untyped-call]
        self._client.close()  # type: ignore[no-untyped-call]

"""The production store: InfluxDB 2, written with line protocol, read with Flux.

Schema, idempotency and retention are documented in :mod:`alerts.store.schema`; the query
text lives in :mod:`alerts.store.flux`. Writes are synchronous: when :meth:`write_batch`
returns, InfluxDB has accepted every point, which is what lets the sink commit Kafka
offsets afterwards. Connection failures, timeouts, 5xx and 429 answers raise
:class:`~alerts.exceptions.StoreUnavailable` (retry later); other 4xx answers raise
:class:`~alerts.exceptions.StoreError`.

Reads ask for un-annotated CSV (:mod:`alerts.store.fluxcsv`): the client's own result parser
costs the API more CPU than InfluxDB spends answering. Identical concurrent queries run
once (:mod:`alerts.store.coalesce`). Lifecycle actions on one alert are serialised across
processes by claims (:mod:`alerts.store.claims`): two clinicians acknowledging at once get
one acknowledgement and one refusal, as with SQLite. Alert reads live in
:mod:`alerts.store.influx_alerts` (by id through the ``alerts_by_id`` projection; lists by
patient or by time). :meth:`InfluxStore.vitals_history` at 5 min and 1 h lets InfluxDB
aggregate the windows in its storage engine (``aggregateWindow`` over ``min``, ``max``,
``count`` and ``sum``), so one request returns buckets, not minutes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Final

from alerts.exceptions import StoreError, StoreUnavailable
from alerts.lifecycle import AlertEvent
from alerts.model import Alert
from alerts.store import claims, flux, fluxcsv, projections
from alerts.store.base import (
    RESOLUTIONS,
    AlertPage,
    AlertQuery,
    AlertRecord,
    Resolution,
    Store,
    StoreBatch,
    VitalPoint,
)
from alerts.store.coalesce import Coalescer
from alerts.store.influx_alerts import AlertReads
from alerts.store.schema import (
    ALERT_EVENTS,
    ALERTS,
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

#: HTTP connections kept to InfluxDB: the API's thread pool runs up to 40 reads at once.
POOL_SIZE: Final = 40


def _error_code(body: object) -> str:
    """The ``code`` of an InfluxDB error body (``{"code": "invalid", "message": ...}``).

    >>> _error_code(b'{"code": "invalid", "message": "unable to parse hr=187"}')
    'invalid'
    >>> _error_code("<html>")
    'no error code'
    """
    try:
        code = json.loads(body if isinstance(body, bytes | str) else "")["code"]
    except (ValueError, TypeError, KeyError):
        return "no error code"
    return str(code)[:40]


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
    pool_size
        HTTP connections kept open (concurrent requests beyond it open and drop their own).
    action_settle_s, action_lease_s
        Claim timing of lifecycle actions (:data:`~alerts.store.claims.SETTLE_S`,
        :data:`~alerts.store.claims.LEASE_S`); the lease must be at least twice the timeout.
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
        pool_size: int = POOL_SIZE,
        action_settle_s: float = claims.SETTLE_S,
        action_lease_s: float = claims.LEASE_S,
    ) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS
        from influxdb_client.domain.dialect import Dialect

        if action_lease_s < 2 * timeout_ms / 1000:
            raise ValueError("action_lease_s must be at least twice the HTTP timeout")
        self.org = org
        self.bucket = bucket
        self.vitals_bucket = vitals_bucket or bucket
        self._client = InfluxDBClient(
            url=url, token=token, org=org, timeout=timeout_ms, connection_pool_maxsize=pool_size
        )
        self._write = self._client.write_api(write_options=SYNCHRONOUS)
        self._query = self._client.query_api()
        self._dialect = Dialect(**fluxcsv.DIALECT)  # type: ignore[no-untyped-call]
        self._log_clock = threading.Lock()
        self._last_log_ns = 0
        self._coalescer = Coalescer()
        self._alerts = AlertReads(self._rows, bucket)
        self._claims = claims.ClaimLock(
            write=lambda lines: self._write_lines(bucket, lines),
            query=self._fetch,  # never a shared answer from before the claim
            bucket=bucket,
            settle_s=action_settle_s,
            lease_s=action_lease_s,
        )

    # -- plumbing -------------------------------------------------------------------------

    @staticmethod
    def _translate(exc: Exception, what: str) -> StoreError:
        from influxdb_client.rest import ApiException

        if isinstance(exc, ApiException):
            status = int(exc.status or 0)
            if status >= 500 or status in (0, 429):
                return StoreUnavailable(f"influxdb {what}: HTTP {status}")
            # Only InfluxDB's error code: its message quotes the line protocol, values and all,
            # and this text is logged (no patient data in logs beyond ids).
            code = _error_code(exc.body)
            return StoreError(f"influxdb {what}: HTTP {status} {exc.reason} ({code})")
        return StoreUnavailable(f"influxdb {what}: {type(exc).__name__}")

    def _rows(self, query: str) -> list[dict[str, str]]:
        """The rows of a Flux query (shared with identical concurrent calls: read-only)."""
        return self._coalescer.run(query, lambda: self._fetch(query))

    def _fetch(self, query: str) -> list[dict[str, str]]:
        try:
            response = self._query.query_raw(query, org=self.org, dialect=self._dialect)
            text = response.data.decode()
        except Exception as exc:  # the client raises urllib3 and socket errors too
            raise self._translate(exc, "query") from exc
        return list(fluxcsv.parse(text))

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

    def rebuild_projections(self, *, start: datetime | None = None, batch: int = 5000) -> int:
        """Rewrite the read projections from ``alerts`` and ``alert_events``; return points.

        For data written before the projections existed (or after restoring only the
        documented measurements). Idempotent for alerts; events are logged again (readers
        keep one per ``event_id``). Reads everything since ``start`` (default: all time).
        """
        span = {"start_ns": to_ns(start) if start else 0, "stop_ns": flux.FAR_FUTURE_NS}
        alerts = self._rows(flux.all_records(self.bucket, ALERTS, **span))
        events = self._rows(flux.all_records(self.bucket, ALERT_EVENTS, **span))
        out = [projections.alert_line(row_to_alert(row)) for row in alerts]
        if events:
            logged = [row_to_event(row) for row in events]
            out += projections.event_log_lines(logged, self._recorded_ns(len(logged)))
        for i in range(0, len(out), batch):
            self._write_lines(self.bucket, out[i : i + batch])
        logger.info("rebuilt projections: %d alert records, %d events", len(alerts), len(events))
        return len(out)

    # -- writes ---------------------------------------------------------------------------

    def write_batch(self, batch: StoreBatch) -> None:
        """Write a sink batch (one request per bucket); re-writing it is harmless.

        The alerts bucket's request carries the records' read projections too
        (:mod:`alerts.store.projections`), so they land with the records they mirror.
        """
        alert_lines, vital_lines = lines(batch.alerts, batch.events, batch.rollups, batch.news2)
        alert_lines += [projections.alert_line(a) for a in batch.alerts]
        if batch.events:
            recorded = self._recorded_ns(len(batch.events))
            alert_lines += projections.event_log_lines(batch.events, recorded)
        for bucket, payload in ((self.bucket, alert_lines), (self.vitals_bucket, vital_lines)):
            if payload:
                self._write_lines(bucket, payload)

    def _write_lines(self, bucket: str, payload: list[str]) -> None:
        from influxdb_client.domain.write_precision import WritePrecision

        self._claims.check_write()  # an action's write after its claim ran out is refused
        try:
            self._write.write(
                bucket=bucket,
                org=self.org,
                record=payload,
                write_precision=WritePrecision.NS,  # type: ignore[arg-type]
            )
        except Exception as exc:
            raise self._translate(exc, "write") from exc
        finally:
            self._coalescer.invalidate()  # later reads must not share answers from before

    def _recorded_ns(self, n: int) -> int:
        """The first of ``n`` consecutive event-log times, after every earlier one."""
        with self._log_clock:
            ns = max(time.time_ns(), self._last_log_ns + 1)
            self._last_log_ns = ns + n - 1
        return ns

    @contextmanager
    def _action_lock(self, alert_id: str) -> Iterator[claims.Hold]:
        with self._claims.hold(alert_id) as hold:
            # Reads from here on must not share a query started before the alert was held:
            # it could miss the previous holder's event.
            self._coalescer.invalidate()
            yield hold

    def put_alerts(self, alerts: Sequence[Alert]) -> None:
        self.write_batch(StoreBatch(alerts=list(alerts)))

    def put_events(self, events: Sequence[AlertEvent]) -> None:
        self.write_batch(StoreBatch(events=list(events)))

    def put_vitals(self, rollups: Sequence[VitalsRollup]) -> None:
        self.write_batch(StoreBatch(rollups=list(rollups)))

    def put_news2(self, records: Sequence[News2Record]) -> None:
        self.write_batch(StoreBatch(news2=list(records)))

    # -- alert reads (alerts.store.influx_alerts) ----------------------------------------

    def get_alert(self, alert_id: str) -> AlertRecord | None:
        return self._alerts.get(alert_id)

    def events(self, alert_id: str) -> list[AlertEvent]:
        return self._alerts.events(alert_id)

    def list_alerts(self, query: AlertQuery) -> AlertPage:
        return self._alerts.page(query)

    # -- vitals reads ---------------------------------------------------------------------

    def latest_vitals(self, patient_id: str) -> dict[str, VitalPoint]:
        out: dict[str, VitalPoint] = {}
        for row in self._rows(flux.vitals_latest(self.vitals_bucket, patient_id)):
            point = VitalPoint(
                vital=row["vital"],
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
        width_s = RESOLUTIONS[resolution]
        span = {"start_ns": to_ns(start), "stop_ns": to_ns(stop)}
        if width_s == 60:
            text = flux.vitals_minutes(self.vitals_bucket, patient_id, **span, vitals=vitals)
        else:
            text = flux.vitals_windows(
                self.vitals_bucket, patient_id, **span, width_s=width_s, vitals=vitals
            )
        rows = self._rows(text)
        if width_s != 60 and any(not row.get("sum") for row in rows):
            # Minutes written before vitals_1m had "sum": let Flux merge them the slow way.
            text = flux.vitals_history(
                self.vitals_bucket, patient_id, **span, width_s=width_s, vitals=vitals
            )
            points = [_merged_point(row) for row in self._rows(text)]
        else:
            points = [_window_point(row, width_s) for row in rows]
        return sorted(points, key=lambda p: (p.ts, p.vital))

    def latest_news2(self, patient_id: str) -> News2Record | None:
        rows = self._rows(flux.news2_last_time(self.vitals_bucket, patient_id))
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


def _window_point(row: dict[str, str], width_s: int) -> VitalPoint:
    """A point from a :func:`flux.vitals_minutes` or :func:`flux.vitals_windows` row."""
    ns = fluxcsv.rfc3339_ns(row["_time"])
    count = round(float(row["count"]))
    return VitalPoint(
        vital=row["vital"],
        ts=_bucket_time(ns - ns % (width_s * 10**9)),
        mean=float(row["mean"]) if width_s == 60 else float(row["sum"]) / count,
        min=float(row["min"]),
        max=float(row["max"]),
        count=count,
    )


def _merged_point(row: dict[str, str]) -> VitalPoint:
    """A point from a :func:`flux.vitals_history` row."""
    return VitalPoint(
        vital=row["vital"],
        ts=from_ns(int(row["bucket"])),
        mean=float(row["wsum"]) / int(row["count"]),
        min=float(row["min"]),
        max=float(row["max"]),
        count=int(row["count"]),
    )


@lru_cache(maxsize=1 << 16)
def _bucket_time(ns: int) -> datetime:
    """Bucket start times recur across requests and patients: build each datetime once."""
    return from_ns(ns)

"""The embedded store: alerts, lifecycle events and vitals rollups in one SQLite file.

For the demo, unit tests and single-machine installs. Same contract as the InfluxDB store
(``tests/alerts/test_store_contract.py``); ``":memory:"`` gives an in-memory store.

Tables mirror the InfluxDB measurements (:mod:`alerts.store.schema`): ``alerts`` (one row
per alert record, primary key ``(alert_id, seq)``), ``alert_events`` (primary key
``event_id``), ``vitals_1m`` (primary key ``(patient_id, vital, minute)``) and ``news2``
(``(patient_id, minute)``). Idempotency is ``INSERT OR REPLACE`` on those keys. A derived
table ``alert_episodes`` keeps one row per ``alert_id`` (latest record, opening time,
lifecycle state), refreshed in the same transaction as every write, so lists filter by
current severity and status in SQL.

Retention: none; the embedded store keeps everything (delete the file to start afresh).

Examples
--------
>>> store = SqliteStore(":memory:")
>>> a = Alert.new(patient_id="p1", category="clinical", kind="fever", severity="low",
...               vitals=["temp"], started_at=1709280000.0, detected_at=1709280060.0,
...               message="T 38.4")
>>> store.put_alerts([a, a])
>>> store.get_alert(a.alert_id).state.status
'open'
>>> len(store.list_alerts(AlertQuery()).items)
1
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from alerts.exceptions import StoreError
from alerts.lifecycle import AlertEvent, AlertState, fold
from alerts.model import Alert
from alerts.store.base import (
    AlertPage,
    AlertQuery,
    AlertRecord,
    Resolution,
    Store,
    StoreBatch,
    VitalPoint,
    decode_cursor,
    encode_cursor,
    episode,
    merge_points,
)
from alerts.store.schema import to_ns
from stream.rollup import News2Record, VitalsRollup

__all__ = ["SqliteStore"]

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT NOT NULL, seq INTEGER NOT NULL, patient_id TEXT NOT NULL,
    category TEXT NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL,
    detected_ms INTEGER NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (alert_id, seq)
);
CREATE TABLE IF NOT EXISTS alert_events (
    event_id TEXT PRIMARY KEY, alert_id TEXT NOT NULL, patient_id TEXT NOT NULL,
    action TEXT NOT NULL, at_us INTEGER NOT NULL, doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_events_by_alert ON alert_events (alert_id, at_us);
CREATE TABLE IF NOT EXISTS alert_episodes (
    alert_id TEXT PRIMARY KEY, patient_id TEXT NOT NULL, category TEXT NOT NULL,
    severity TEXT NOT NULL, opened_ms INTEGER NOT NULL, listed INTEGER NOT NULL,
    status TEXT NOT NULL,
    doc TEXT NOT NULL, state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_episodes_by_opening ON alert_episodes (opened_ms, alert_id);
CREATE INDEX IF NOT EXISTS alert_episodes_by_patient
    ON alert_episodes (patient_id, opened_ms, alert_id);
CREATE TABLE IF NOT EXISTS vitals_1m (
    patient_id TEXT NOT NULL, vital TEXT NOT NULL, minute INTEGER NOT NULL,
    mean REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (patient_id, vital, minute)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS news2 (
    patient_id TEXT NOT NULL, minute INTEGER NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (patient_id, minute)
) WITHOUT ROWID;
"""

_state_decoder = msgspec.json.Decoder(AlertState)
_event_decoder = msgspec.json.Decoder(AlertEvent)
_news2_decoder = msgspec.json.Decoder(News2Record)


def _ts(t: datetime) -> int:
    return int(t.timestamp())


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class SqliteStore(Store):
    """Alerts and vitals in SQLite (stdlib ``sqlite3``), safe to share between threads.

    Parameters
    ----------
    path
        Database file (created with its parent directory), or ``":memory:"``.
    """

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    # -- writes ---------------------------------------------------------------------------

    def _tx(self, fn: Any, *args: Any) -> None:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                fn(*args)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def write_batch(self, batch: StoreBatch) -> None:
        """Write a whole sink batch in one transaction."""

        def run() -> None:
            self._put_alerts(batch.alerts)
            self._put_events(batch.events)
            self._put_vitals(batch.rollups)
            self._put_news2(batch.news2)

        try:
            self._tx(run)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite write failed: {exc}") from exc

    def put_alerts(self, alerts: Sequence[Alert]) -> None:
        self._tx(self._put_alerts, alerts)

    def put_events(self, events: Sequence[AlertEvent]) -> None:
        self._tx(self._put_events, events)

    def put_vitals(self, rollups: Sequence[VitalsRollup]) -> None:
        self._tx(self._put_vitals, rollups)

    def put_news2(self, records: Sequence[News2Record]) -> None:
        self._tx(self._put_news2, records)

    def _put_alerts(self, alerts: Sequence[Alert]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    a.alert_id,
                    a.seq,
                    a.patient_id,
                    a.category,
                    a.kind,
                    a.severity,
                    round(a.detected_at * 1000.0),
                    json.dumps(a.to_json_dict()),
                )
                for a in alerts
            ],
        )
        self._refresh({a.alert_id for a in alerts})

    def _put_events(self, events: Sequence[AlertEvent]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO alert_events VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    e.event_id,
                    e.alert_id,
                    e.patient_id,
                    e.action,
                    to_ns(e.at) // 1000,
                    msgspec.json.encode(e).decode(),
                )
                for e in events
            ],
        )
        self._refresh({e.alert_id for e in events})

    def _put_vitals(self, rollups: Sequence[VitalsRollup]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO vitals_1m VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (r.patient_id, vital, _ts(r.minute), s.mean, s.min, s.max, s.count)
                for r in rollups
                for vital, s in r.vitals.items()
            ],
        )

    def _put_news2(self, records: Sequence[News2Record]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO news2 VALUES (?, ?, ?)",
            [(n.patient_id, _ts(n.minute), msgspec.json.encode(n).decode()) for n in records],
        )

    def _refresh(self, alert_ids: Iterable[str]) -> None:
        """Recompute the derived episode rows of ``alert_ids`` (inside the open transaction)."""
        for alert_id in alert_ids:
            docs = self._db.execute("SELECT doc FROM alerts WHERE alert_id = ?", (alert_id,))
            records = [Alert.from_json_dict(json.loads(row["doc"])) for row in docs]
            if not records:
                continue  # events may arrive before their alert
            latest, opened, listed = episode(records)
            state = fold(alert_id, self._events(alert_id))
            self._db.execute(
                "INSERT OR REPLACE INTO alert_episodes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    alert_id,
                    latest.patient_id,
                    latest.category,
                    latest.severity,
                    round(opened * 1000.0),
                    int(listed),
                    state.status,
                    json.dumps(latest.to_json_dict()),
                    msgspec.json.encode(state).decode(),
                ),
            )

    # -- alert reads ----------------------------------------------------------------------

    def _events(self, alert_id: str) -> list[AlertEvent]:
        rows = self._db.execute(
            "SELECT doc FROM alert_events WHERE alert_id = ? ORDER BY at_us, event_id",
            (alert_id,),
        )
        return [_event_decoder.decode(row["doc"]) for row in rows]

    def events(self, alert_id: str) -> list[AlertEvent]:
        with self._lock:
            events = self._events(alert_id)
        return sorted(events, key=lambda e: (e.at, e.event_id))

    @staticmethod
    def _record(row: sqlite3.Row) -> AlertRecord:
        return AlertRecord(
            alert=Alert.from_json_dict(json.loads(row["doc"])),
            opened_at=row["opened_ms"] / 1000.0,
            state=_state_decoder.decode(row["state"]),
        )

    def get_alert(self, alert_id: str) -> AlertRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM alert_episodes WHERE alert_id = ?", (alert_id,)
            ).fetchone()
        return None if row is None else self._record(row)

    def list_alerts(self, query: AlertQuery) -> AlertPage:
        if query.patient_ids is not None and not query.patient_ids:
            return AlertPage(items=[], next_cursor=None)
        where: list[str] = ["listed = 1"]
        args: list[object] = []
        for column, values in (
            ("status", query.statuses),
            ("severity", query.severities),
            ("category", query.categories),
            ("patient_id", query.patient_ids),
        ):
            if values:
                where.append(f"{column} IN (SELECT value FROM json_each(?))")  # noqa: S608
                args.append(json.dumps(sorted(values)))
        if query.since is not None:
            where.append("opened_ms >= ?")
            args.append(round(query.since.timestamp() * 1000))
        if query.until is not None:
            where.append("opened_ms < ?")
            args.append(round(query.until.timestamp() * 1000))
        if query.cursor:
            ms, alert_id = decode_cursor(query.cursor)
            where.append("(opened_ms, alert_id) < (?, ?)")
            args.extend([ms, alert_id])
        sql = (
            f"SELECT * FROM alert_episodes WHERE {' AND '.join(where)} "  # noqa: S608 - fixed columns
            "ORDER BY opened_ms DESC, alert_id DESC LIMIT ?"
        )
        with self._lock:
            rows = self._db.execute(sql, [*args, query.limit + 1]).fetchall()
        items = [self._record(row) for row in rows[: query.limit]]
        more = len(rows) > query.limit
        return AlertPage(items=items, next_cursor=encode_cursor(items[-1]) if more else None)

    # -- vitals reads ---------------------------------------------------------------------

    @staticmethod
    def _point(row: sqlite3.Row) -> VitalPoint:
        return VitalPoint(
            row["vital"], _utc(row["minute"]), row["mean"], row["min"], row["max"], row["count"]
        )

    def latest_vitals(self, patient_id: str) -> dict[str, VitalPoint]:
        with self._lock:
            rows = self._db.execute(
                "SELECT v.* FROM vitals_1m v JOIN (SELECT vital, MAX(minute) AS m FROM vitals_1m "
                "WHERE patient_id = ? GROUP BY vital) l ON v.vital = l.vital AND v.minute = l.m "
                "WHERE v.patient_id = ?",
                (patient_id, patient_id),
            ).fetchall()
        return {row["vital"]: self._point(row) for row in rows}

    def vitals_history(
        self,
        patient_id: str,
        *,
        start: datetime,
        stop: datetime,
        resolution: Resolution = "1m",
        vitals: Collection[str] | None = None,
    ) -> list[VitalPoint]:
        sql = "SELECT * FROM vitals_1m WHERE patient_id = ? AND minute >= ? AND minute < ?"
        args: list[Any] = [patient_id, _ts(start), _ts(stop)]
        if vitals is not None:
            sql += " AND vital IN (SELECT value FROM json_each(?))"
            args.append(json.dumps(sorted(vitals)))
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY minute, vital", args).fetchall()
        points = [self._point(row) for row in rows]
        return points if resolution == "1m" else merge_points(points, resolution)

    def latest_news2(self, patient_id: str) -> News2Record | None:
        with self._lock:
            row = self._db.execute(
                "SELECT doc FROM news2 WHERE patient_id = ? ORDER BY minute DESC LIMIT 1",
                (patient_id,),
            ).fetchone()
        return None if row is None else _news2_decoder.decode(row["doc"])

    def news2_history(
        self, patient_id: str, *, start: datetime, stop: datetime
    ) -> list[News2Record]:
        with self._lock:
            rows = self._db.execute(
                "SELECT doc FROM news2 WHERE patient_id = ? AND minute >= ? AND minute < ? "
                "ORDER BY minute",
                (patient_id, _ts(start), _ts(stop)),
            ).fetchall()
        return [_news2_decoder.decode(row["doc"]) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()

"""The embedded store: alerts, lifecycle events and vitals rollups in one SQLite file.

For the demo, unit tests and single-machine installs. Same contract as the InfluxDB store
(``tests/alerts/test_store_contract.py``); ``":memory:"`` gives an in-memory store.

Tables mirror the InfluxDB measurements (:mod:`alerts.store.schema`): ``alerts`` (one row
per alert record, primary key ``(alert_id, seq)``), ``alert_events`` (primary key
``event_id``), ``vitals_1m`` with its 5-minute and hourly sums
(:mod:`alerts.store.sqlite_vitals`) and ``news2`` (``(patient_id, minute)``). Idempotency
is ``INSERT OR REPLACE`` on those keys. A derived table ``alert_episodes`` keeps one row
per ``alert_id`` (latest record, opening time, lifecycle state), refreshed in the same
transaction as every write, so lists filter by current severity and status in SQL.

Concurrency: one writer connection (writes are serialised by a lock) and, for a database
file, a small pool of reader connections in WAL mode (:mod:`alerts.store.sqlite_pool`), so
the API's thread pool reads in parallel and never waits for the writer.

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
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import msgspec

from alerts.exceptions import StoreError, StoreUnavailable
from alerts.lifecycle import AlertEvent, AlertState, fold
from alerts.model import Alert
from alerts.store import sqlite_vitals
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
    encode_cursor,
    episode,
)
from alerts.store.schema import to_ns
from alerts.store.sqlite_pool import Connections
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
CREATE TABLE IF NOT EXISTS news2 (
    patient_id TEXT NOT NULL, minute INTEGER NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (patient_id, minute)
) WITHOUT ROWID;
"""

_state_decoder = msgspec.json.Decoder(AlertState)
_event_decoder = msgspec.json.Decoder(AlertEvent)
_news2_decoder = msgspec.json.Decoder(News2Record)

#: SQLite errors that say the database, not the batch, is the problem (retry, do not refuse).
_UNAVAILABLE = ("locked", "busy", "disk", "unable to open")


def _ts(t: datetime) -> int:
    return int(t.timestamp())


def _ms_ceil(t: datetime) -> int:
    """The first whole millisecond at or after ``t`` (epoch ms).

    Openings are whole milliseconds, so ``opened_ms >= _ms_ceil(t)`` is exactly
    ``opened_at >= t`` (likewise ``<``), as the InfluxDB store filters. Rounding ``t`` would
    let a bound inside a millisecond take or drop that millisecond's alerts.
    """
    return -(-to_ns(t) // 1_000_000)


def _translate(exc: sqlite3.Error, what: str) -> StoreError:
    """The store error for a failed statement: the database's fault (retry) or ours."""
    if isinstance(exc, sqlite3.OperationalError) and any(
        word in str(exc).lower() for word in _UNAVAILABLE
    ):
        # another writer holds the lock, or the disk is full: the request is fine, the
        # database is not (the sink holds the batch and tries again rather than refuse it)
        return StoreUnavailable(f"sqlite unavailable: {exc}")
    return StoreError(f"sqlite {what} failed: {exc}")


@lru_cache(maxsize=8192)
def _alert(doc: str) -> Alert:
    # Records are immutable and every list page decodes the same recent ones again.
    return Alert.from_json(doc)


class SqliteStore(Store):
    """Alerts and vitals in SQLite (stdlib ``sqlite3``), safe to share between threads.

    Parameters
    ----------
    path
        Database file (created with its parent directory), or ``":memory:"``.
    """

    def __init__(self, path: str | Path) -> None:
        self._conns = Connections(path)
        self._lock = self._conns.lock
        self._db = self._conns.writer
        with self._lock:
            self._db.executescript(_SCHEMA)
            sqlite_vitals.create(self._db)

    # -- writes ---------------------------------------------------------------------------

    def _tx(self, fn: Any, *args: Any) -> None:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                fn(*args)
                self._db.execute("COMMIT")
            except BaseException:
                # BEGIN itself fails on a locked database: then there is nothing to roll back,
                # and a failing ROLLBACK would hide the lock behind "no transaction is active"
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _write(self, fn: Any, *args: Any) -> None:
        """Run ``fn`` in a transaction, its failures as :class:`StoreError` (see _translate)."""
        try:
            self._tx(fn, *args)
        except sqlite3.Error as exc:
            raise _translate(exc, "write") from exc

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._conns.read() as db:
                yield db
        except sqlite3.Error as exc:
            raise _translate(exc, "read") from exc

    def write_batch(self, batch: StoreBatch) -> None:
        """Write a whole sink batch in one transaction."""

        def run() -> None:
            self._put_alerts(batch.alerts)
            self._put_events(batch.events)
            self._put_vitals(batch.rollups)
            self._put_news2(batch.news2)

        self._write(run)

    def put_alerts(self, alerts: Sequence[Alert]) -> None:
        self._write(self._put_alerts, alerts)

    def put_events(self, events: Sequence[AlertEvent]) -> None:
        self._write(self._put_events, events)

    def put_vitals(self, rollups: Sequence[VitalsRollup]) -> None:
        self._write(self._put_vitals, rollups)

    def put_news2(self, records: Sequence[News2Record]) -> None:
        self._write(self._put_news2, records)

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
        sqlite_vitals.put(self._db, rollups)

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

    def _action_lock(self, alert_id: str) -> AbstractContextManager[object]:
        # Check and record under the writer lock: two clinicians acknowledging (or resolving)
        # at once must not both pass the check; the second one is refused (409). One process
        # owns the file, so a process-wide lock is enough.
        return self._lock

    # -- alert reads ----------------------------------------------------------------------

    def _events(self, alert_id: str, db: sqlite3.Connection | None = None) -> list[AlertEvent]:
        rows = (db or self._db).execute(
            "SELECT doc FROM alert_events WHERE alert_id = ? ORDER BY at_us, event_id",
            (alert_id,),
        )
        return [_event_decoder.decode(row["doc"]) for row in rows]

    def events(self, alert_id: str) -> list[AlertEvent]:
        with self._reading() as db:
            events = self._events(alert_id, db)
        return sorted(events, key=lambda e: (e.at, e.event_id))

    @staticmethod
    def _record(row: sqlite3.Row) -> AlertRecord:
        return AlertRecord(
            alert=_alert(row["doc"]),
            opened_at=row["opened_ms"] / 1000.0,
            state=_state_decoder.decode(row["state"]),
        )

    def get_alert(self, alert_id: str) -> AlertRecord | None:
        with self._reading() as db:
            row = db.execute(
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
            args.append(_ms_ceil(query.since))
        if query.until is not None:
            where.append("opened_ms < ?")
            args.append(_ms_ceil(query.until))
        if query.cursor:
            ms, alert_id = decode_cursor(query.cursor)
            where.append("(opened_ms, alert_id) < (?, ?)")
            args.extend([ms, alert_id])
        sql = (
            f"SELECT * FROM alert_episodes WHERE {' AND '.join(where)} "  # noqa: S608 - fixed columns
            "ORDER BY opened_ms DESC, alert_id DESC LIMIT ?"
        )
        with self._reading() as db:
            rows = db.execute(sql, [*args, query.limit + 1]).fetchall()
        items = [self._record(row) for row in rows[: query.limit]]
        more = len(rows) > query.limit
        return AlertPage(items=items, next_cursor=encode_cursor(items[-1]) if more else None)

    # -- vitals reads ---------------------------------------------------------------------

    def latest_vitals(self, patient_id: str) -> dict[str, VitalPoint]:
        with self._reading() as db:
            return sqlite_vitals.latest(db, patient_id)

    def vitals_history(
        self,
        patient_id: str,
        *,
        start: datetime,
        stop: datetime,
        resolution: Resolution = "1m",
        vitals: Collection[str] | None = None,
    ) -> list[VitalPoint]:
        width = RESOLUTIONS[resolution]
        with self._reading() as db:
            return sqlite_vitals.history(db, patient_id, start, stop, width, vitals)

    def latest_news2(self, patient_id: str) -> News2Record | None:
        with self._reading() as db:
            row = db.execute(
                "SELECT doc FROM news2 WHERE patient_id = ? ORDER BY minute DESC LIMIT 1",
                (patient_id,),
            ).fetchone()
        return None if row is None else _news2_decoder.decode(row["doc"])

    def news2_history(
        self, patient_id: str, *, start: datetime, stop: datetime
    ) -> list[News2Record]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT doc FROM news2 WHERE patient_id = ? AND minute >= ? AND minute < ? "
                "ORDER BY minute",
                (patient_id, _ts(start), _ts(stop)),
            ).fetchall()
        return [_news2_decoder.decode(row["doc"]) for row in rows]

    def close(self) -> None:
        self._conns.close()

"""Vitals in the embedded store: the per-minute rollups and their 5-minute and hourly sums.

Tables::

    vitals_1m    (patient_id, vital, minute)         mean, min, max, count
    vitals_agg   (patient_id, vital, width, bucket)  sum (of mean x count), min, max, count

``vitals_agg`` holds every 5-minute (``width`` 300) and hourly (3600) bucket that has
minutes, so a day at 5 minutes reads 288 rows per vital rather than grouping 1,440 minutes,
and a year at one hour 8,760 rather than 525,600. It is maintained in the writer's
transaction: a write of minutes recomputes each bucket it touched from the stored minutes
(hours from their 5-minute buckets), never incrementally, so re-writing a minute (the
idempotent overwrite) leaves its buckets exact. A database created before the table
existed is filled from its minutes when opened (:func:`create`).

A history of ``[start, stop)`` reads the buckets wholly inside from ``vitals_agg`` and the
partial buckets at either end from the minutes inside the window, in one statement (one
snapshot). Every read reaches a vital's rows by primary key: a recursive query enumerates
the patient's vitals (one index seek each; SQLite has no loose index scan) instead of
scanning the patient's whole history.

Examples
--------
>>> import sqlite3
>>> from datetime import UTC, datetime
>>> from stream.rollup import VitalsRollup, VitalStats
>>> db = sqlite3.connect(":memory:")
>>> create(db)
>>> t = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
>>> put(db, [VitalsRollup(patient_id="p1", minute=t.replace(minute=m),
...                       vitals={"hr": VitalStats(60.0 + m, 60.0, 70.0, 10)}) for m in range(7)])
>>> [(p.ts.minute, p.mean, p.count) for p in history(db, "p1", t, t.replace(minute=7), 300)]
[(0, 62.0, 50), (5, 65.5, 20)]
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from alerts.store.base import VitalPoint
from stream.rollup import VitalsRollup

__all__ = ["WIDTHS", "create", "history", "latest", "put"]

#: Bucket widths kept in ``vitals_agg`` (seconds): 5 minutes, and hours made of them.
WIDTHS: Final = (300, 3600)

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS vitals_1m (
    patient_id TEXT NOT NULL, vital TEXT NOT NULL, minute INTEGER NOT NULL,
    mean REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (patient_id, vital, minute)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS vitals_agg (
    patient_id TEXT NOT NULL, vital TEXT NOT NULL, width INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (patient_id, vital, width, bucket)
) WITHOUT ROWID;
"""

# Bucket starts are floors, also before 1970 (SQLite's % keeps the dividend's sign).
_FROM_MINUTES: Final = """
INSERT OR REPLACE INTO vitals_agg
SELECT patient_id, vital, 300, minute - ((minute % 300) + 300) % 300, SUM(mean * count),
       MIN(min), MAX(max), SUM(count)
FROM vitals_1m WHERE patient_id = ? AND vital = ? AND minute >= ? AND minute < ? + 300
GROUP BY 1, 2, 3, 4
"""
_FROM_FIVES: Final = """
INSERT OR REPLACE INTO vitals_agg
SELECT patient_id, vital, 3600, bucket - ((bucket % 3600) + 3600) % 3600, SUM(sum),
       MIN(min), MAX(max), SUM(count)
FROM vitals_agg WHERE patient_id = ? AND vital = ? AND width = 300 AND bucket >= ?
    AND bucket < ? + 3600
GROUP BY 1, 2, 3, 4
"""
_FILL: Final = """
INSERT OR REPLACE INTO vitals_agg
SELECT patient_id, vital, 300, minute - ((minute % 300) + 300) % 300 AS b, SUM(mean * count),
       MIN(min), MAX(max), SUM(count)
FROM vitals_1m GROUP BY patient_id, vital, b;
INSERT OR REPLACE INTO vitals_agg
SELECT patient_id, vital, 3600, bucket - ((bucket % 3600) + 3600) % 3600 AS b, SUM(sum),
       MIN(min), MAX(max), SUM(count)
FROM vitals_agg WHERE width = 300 GROUP BY patient_id, vital, b;
"""
_BUCKET: Final = "minute - ((minute % :width) + :width) % :width"

#: The patient's distinct vitals, one primary-key seek each.
_VITALS_OF_PATIENT: Final = """
WITH RECURSIVE v(vital) AS (
    SELECT MIN(vital) FROM vitals_1m WHERE patient_id = :patient
    UNION ALL
    SELECT (SELECT MIN(vital) FROM vitals_1m WHERE patient_id = :patient AND vital > v.vital)
    FROM v WHERE v.vital IS NOT NULL
)
"""
_ALL_VITALS: Final = "SELECT vital FROM v WHERE vital IS NOT NULL"
_SOME_VITALS: Final = "SELECT value FROM json_each(:vitals)"


def create(db: sqlite3.Connection) -> None:
    """Create the vitals tables; fill ``vitals_agg`` if it is new and minutes exist."""
    known = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'vitals_agg'").fetchone()
    db.executescript(_SCHEMA)
    if known is None and db.execute("SELECT 1 FROM vitals_1m LIMIT 1").fetchone():
        db.executescript(f"BEGIN IMMEDIATE; {_FILL} COMMIT;")


def put(db: sqlite3.Connection, rollups: Sequence[VitalsRollup]) -> None:
    """Store minutes and recompute the buckets they touch (inside the caller's transaction)."""
    rows = [
        (r.patient_id, vital, int(r.minute.timestamp()), s.mean, s.min, s.max, s.count)
        for r in rollups
        for vital, s in r.vitals.items()
    ]
    db.executemany("INSERT OR REPLACE INTO vitals_1m VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    fives = sorted({(p, v, m // 300 * 300) for p, v, m, *_ in rows})
    db.executemany(_FROM_MINUTES, [(p, v, b, b) for p, v, b in fives])
    hours = sorted({(p, v, b // 3600 * 3600) for p, v, b in fives})
    db.executemany(_FROM_FIVES, [(p, v, b, b) for p, v, b in hours])


@lru_cache(maxsize=1 << 16)
def _utc(seconds: int) -> datetime:
    # Bucket starts recur across requests and patients; building an aware datetime is slow.
    return datetime.fromtimestamp(seconds, UTC)


def _point(row: tuple[Any, ...]) -> VitalPoint:  # vital, start, mean, min, max, count
    return VitalPoint(row[0], _utc(row[1]), row[2], row[3], row[4], row[5])


def _tuples(db: sqlite3.Connection, sql: str, args: dict[str, Any]) -> list[tuple[Any, ...]]:
    cursor = db.cursor()
    cursor.row_factory = None  # plain tuples: a history is thousands of rows
    return cursor.execute(sql, args).fetchall()


def latest(db: sqlite3.Connection, patient_id: str) -> dict[str, VitalPoint]:
    """Each vital's most recent minute."""
    sql = _VITALS_OF_PATIENT + (  # noqa: S608 - fixed text
        "SELECT t.vital, minute, mean, min, max, count FROM v JOIN vitals_1m t "
        "ON t.patient_id = :patient AND t.vital = v.vital "
        "AND t.minute = (SELECT MAX(minute) FROM vitals_1m "
        "WHERE patient_id = :patient AND vital = v.vital)"
    )
    return {row[0]: _point(row) for row in _tuples(db, sql, {"patient": patient_id})}


def history(
    db: sqlite3.Connection,
    patient_id: str,
    start: datetime,
    stop: datetime,
    width: int,
    vitals: Collection[str] | None = None,
) -> list[VitalPoint]:
    """Points with bucket start in ``[start, stop)`` of ``width`` seconds (60: the minutes).

    Ordered by ``(ts, vital)``; a bucket partly inside the window merges only the minutes
    inside it.
    """
    if vitals is not None and not vitals:
        return []
    lo, hi = int(start.timestamp()), int(stop.timestamp())
    args: dict[str, Any] = {"patient": patient_id, "width": width, "lo": lo, "hi": hi}
    args["vitals"] = None if vitals is None else json.dumps(sorted(vitals))
    which = f"patient_id = :patient AND vital IN ({_SOME_VITALS if vitals else _ALL_VITALS})"
    if width == 60:
        sql = (
            f"SELECT vital, minute, mean, min, max, count FROM vitals_1m WHERE {which} "  # noqa: S608
            "AND minute >= :lo AND minute < :hi"
        )
    else:
        first, last = -(-lo // width) * width, hi // width * width  # the whole buckets inside
        if first < last:
            args.update(first=first, last=last)
            parts = [
                "SELECT vital, bucket, sum / count, min, max, count FROM vitals_agg "  # noqa: S608
                f"WHERE {which} AND width = :width AND bucket >= :first AND bucket < :last",
                _merged_minutes(which, ":lo", ":first"),
                _merged_minutes(which, ":last", ":hi"),
            ]
        else:
            parts = [_merged_minutes(which, ":lo", ":hi")]
        sql = " UNION ALL ".join(parts)
    sql = _VITALS_OF_PATIENT + sql + " ORDER BY 2, 1"
    return [_point(row) for row in _tuples(db, sql, args)]


def _merged_minutes(which: str, start: str, stop: str) -> str:
    """Minutes of ``[start, stop)`` (parameter names) merged into ``:width`` buckets."""
    return (
        f"SELECT vital, {_BUCKET} AS b, SUM(mean * count) / SUM(count), MIN(min), MAX(max), "  # noqa: S608
        f"SUM(count) FROM vitals_1m WHERE {which} AND minute >= {start} AND minute < {stop} "
        "GROUP BY b, vital"
    )

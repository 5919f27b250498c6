"""The stores' fast read paths: what the bench-driven rewrites must still get exactly right.

Both stores: partial history buckets, hourly buckets, long histories of other vitals. SQLite:
readers beside a writer, bucket sums filled on old files. Coalesced reads. InfluxDB
(integration): the two list plans (by patient, by time)
agree, the event log finds back-dated events, minutes written before ``sum`` existed still
merge, and the read projections rebuild from the documented measurements.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.exceptions import StoreUnavailable
from alerts.lifecycle import AlertEvent
from alerts.model import Alert
from alerts.store import fluxcsv
from alerts.store.base import AlertQuery, Store, StoreBatch
from alerts.store.coalesce import Coalescer
from alerts.store.influx import InfluxStore
from alerts.store.schema import line_protocol, lines, to_ns
from alerts.store.sqlite import SqliteStore
from stream.rollup import VitalsRollup, VitalStats
from tests.alerts.alert_factories import T0, make_alert

START = datetime.fromtimestamp(T0, UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture(params=["sqlite", pytest.param("influx", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s: Store = SqliteStore(tmp_path / "alerts.sqlite3")
        yield s
        s.close()
    else:
        yield request.getfixturevalue("influx_store")


def minutes(patient_id: str, first: int, n: int, vital: str = "hr") -> list[VitalsRollup]:
    """``n`` minutes from ``START + first`` min; mean = minute index, count 1 or 3."""
    return [
        VitalsRollup(
            patient_id=patient_id,
            minute=START + m * MINUTE,
            vitals={vital: VitalStats(float(m), m - 0.5, m + 0.5, 1 + 2 * (m % 2))},
        )
        for m in range(first, first + n)
    ]


# -- both stores ----------------------------------------------------------------------------


def test_a_bucket_partly_inside_the_window_merges_only_the_minutes_inside(store: Store) -> None:
    store.put_vitals(minutes("p1", 0, 10))
    # From 08:02:30: minutes 3 and 4 of the first 5-minute bucket, then 5..9.
    points = store.vitals_history(
        "p1", start=START + 2.5 * MINUTE, stop=START + 10 * MINUTE, resolution="5m"
    )
    assert [p.ts for p in points] == [START, START + 5 * MINUTE]
    first = points[0]
    assert (first.count, first.min, first.max) == (1 + 3, 2.5, 4.5)
    assert first.mean == pytest.approx((3 * 3 + 4 * 1) / 4)


def test_a_window_inside_one_bucket_and_a_rewritten_minute_give_exact_buckets(
    store: Store,
) -> None:
    store.put_vitals(minutes("p1", 0, 120))
    inside = store.vitals_history(
        "p1", start=START + MINUTE, stop=START + 3 * MINUTE, resolution="5m"
    )
    assert [(p.ts, p.count) for p in inside] == [(START, 4)]
    assert inside[0].mean == pytest.approx(5 / 4)
    store.put_vitals(
        [
            VitalsRollup(
                patient_id="p1", minute=START, vitals={"hr": VitalStats(100.0, 99.0, 101.0, 2)}
            )
        ]
    )
    five, hour = (
        store.vitals_history("p1", start=START, stop=START + timedelta(hours=1), resolution=r)[0]
        for r in ("5m", "1h")
    )
    assert (five.count, five.max) == (10, 101.0)
    assert five.mean == pytest.approx((200 + 3 + 2 + 9 + 4) / 10)
    assert (hour.count, hour.max) == (2 + sum(1 + 2 * (m % 2) for m in range(1, 60)), 101.0)


def test_hourly_history_ignores_other_patients_and_other_vitals_outside_the_window(
    store: Store,
) -> None:
    store.put_vitals(minutes("p1", -600, 900) + minutes("p1", 0, 120, vital="rr"))
    store.put_vitals(minutes("p2", 0, 120))
    points = store.vitals_history(
        "p1", start=START, stop=START + timedelta(hours=2), resolution="1h", vitals=["hr"]
    )
    assert [(p.ts, p.vital, p.count) for p in points] == [
        (START, "hr", 120),
        (START + timedelta(hours=1), "hr", 120),
    ]
    assert points[1].mean == pytest.approx(sum(m * (1 + 2 * (m % 2)) for m in range(60, 120)) / 120)
    both = store.vitals_history("p1", start=START, stop=START + 5 * MINUTE, resolution="5m")
    assert [p.vital for p in both] == ["hr", "rr"]


# -- SQLite -----------------------------------------------------------------------------------


def test_sqlite_readers_run_beside_a_writer_and_see_every_commit(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "alerts.sqlite3")
    alerts = [make_alert(f"p{i % 3}", detected_at=T0 + i) for i in range(60)]
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                store.list_alerts(AlertQuery(limit=10))
                store.vitals_history("p1", start=START, stop=START + 10 * MINUTE)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(6)]
    for t in readers:
        t.start()
    for i in range(0, 60, 5):
        store.write_batch(StoreBatch(alerts=alerts[i : i + 5], rollups=minutes("p1", i, 5)))
    done.set()
    for t in readers:
        t.join()
    assert errors == []
    assert len(store.list_alerts(AlertQuery(limit=100)).items) == 60
    assert len(store.vitals_history("p1", start=START, stop=START + 60 * MINUTE)) == 60
    store.close()


def test_sqlite_store_opened_on_a_file_without_bucket_sums_fills_them(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE vitals_1m (patient_id TEXT NOT NULL, vital TEXT NOT NULL, "
        "minute INTEGER NOT NULL, mean REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, "
        "count INTEGER NOT NULL, PRIMARY KEY (patient_id, vital, minute)) WITHOUT ROWID"
    )
    old.executemany(
        "INSERT INTO vitals_1m VALUES ('p1', 'hr', ?, ?, 0, 9, 1)",
        [(int(T0) + 60 * m, float(m)) for m in range(120)],
    )
    old.commit()
    old.close()
    store = SqliteStore(path)
    hourly = store.vitals_history(
        "p1", start=START, stop=START + timedelta(hours=2), resolution="1h"
    )
    assert [(p.count, p.mean) for p in hourly] == [(60, 29.5), (60, 89.5)]
    store.close()


def test_in_memory_sqlite_store_serves_several_threads() -> None:
    store = SqliteStore(":memory:")
    store.put_alerts([make_alert()])
    found: list[int] = []
    threads = [
        threading.Thread(target=lambda: found.append(len(store.list_alerts(AlertQuery()).items)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert found == [1, 1, 1, 1]
    store.close()


# -- coalesced reads --------------------------------------------------------------------------


def _blocked_read(
    calls: list[str],
) -> tuple[threading.Event, threading.Event, Callable[[], list[str]]]:
    started, release = threading.Event(), threading.Event()

    def read() -> list[str]:
        calls.append("leader")
        started.set()
        release.wait(5)
        return ["shared"]

    return started, release, read


def test_identical_concurrent_reads_run_once() -> None:
    coalescer, calls, results = Coalescer(), list[str](), list[object]()
    started, release, read = _blocked_read(calls)
    threads = [threading.Thread(target=lambda: results.append(coalescer.run("q", read)))]
    threads[0].start()
    started.wait(5)
    threads += [
        threading.Thread(
            target=lambda: results.append(coalescer.run("q", lambda: calls.append("joiner")))
        )
        for _ in range(3)
    ]
    for t in threads[1:]:
        t.start()
    time.sleep(0.2)  # let the joiners reach the in-flight read
    release.set()
    for t in threads:
        t.join(5)
    assert calls == ["leader"]
    assert results == [["shared"]] * 4


def test_after_a_write_a_read_does_not_share_the_one_in_flight() -> None:
    coalescer, calls = Coalescer(), list[str]()
    started, release, read = _blocked_read(calls)
    leader = threading.Thread(target=lambda: coalescer.run("q", read))
    leader.start()
    started.wait(5)
    coalescer.invalidate()
    assert coalescer.run("q", lambda: ["fresh"]) == ["fresh"]  # does not wait for the leader
    release.set()
    leader.join(5)


def test_a_failed_read_fails_every_caller_that_shared_it() -> None:
    coalescer = Coalescer()
    started, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def failing() -> None:
        started.set()
        release.wait(5)
        raise StoreUnavailable("influxdb query: ConnectionError")

    def call() -> None:
        try:
            coalescer.run("q", failing)
        except StoreUnavailable as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call)]
    threads[0].start()
    started.wait(5)
    threads += [threading.Thread(target=call) for _ in range(2)]
    for t in threads[1:]:
        t.start()
    release.set()
    for t in threads:
        t.join(5)
    assert len(errors) == 3
    assert coalescer.run("q", lambda: "recovered") == "recovered"


# -- Flux results -----------------------------------------------------------------------------


def test_flux_csv_rows_keep_quoted_text_across_tables_of_different_schemas() -> None:
    text = (
        ",result,table,_time,doc\r\n"
        ',_result,0,2024-05-01T08:00:00Z,"{""a"": 1, ""b"": ""x\r\ny""}"\r\n'
        ",_result,0,2024-05-01T08:00:01.5Z,\r\n"
        "\r\n"
        ",result,table,_time,mean,count\r\n"
        ",_result,1,2024-05-01T08:00:00.123456789Z,1.5,3\r\n"
    )
    rows = list(fluxcsv.parse(text))
    assert rows[0]["doc"] == '{"a": 1, "b": "x\r\ny"}'
    assert rows[1]["doc"] == ""
    assert (rows[2]["mean"], rows[2]["count"]) == ("1.5", "3")
    assert [fluxcsv.rfc3339_ns(r["_time"]) for r in rows] == [
        1714550400_000000000,
        1714550401_500000000,
        1714550400_123456789,
    ]


# -- InfluxDB ---------------------------------------------------------------------------------


def _ack(alert: Alert, at: datetime) -> AlertEvent:
    return AlertEvent.create(alert.alert_id, "ack", actor="kim", at=at, patient_id=alert.patient_id)


def _seed_ward(store: InfluxStore) -> list[Alert]:
    """12 patients, 60 alerts over 3 days; every 3rd acknowledged, every 7th escalated."""
    alerts = [
        make_alert(
            f"p{i % 12}",
            "tachycardia" if i % 2 else "hypoxia",
            detected_at=T0 + i * 4321.5,
            severity=("low", "medium", "high")[i % 3],
            category="technical" if i % 5 == 0 else "clinical",
        )
        for i in range(60)
    ]
    escalations = [
        Alert.from_json_dict(
            {**a.to_json_dict(), "severity": "critical", "status": "escalated", "seq": 1}
            | {"detected_at": a.detected_at + 600}
        )
        for a in alerts[::7]
    ]
    events = [_ack(a, datetime.fromtimestamp(a.detected_at + 60, UTC)) for a in alerts[::3]]
    store.write_batch(StoreBatch(alerts=alerts + escalations, events=events))
    return alerts


@pytest.mark.integration
@pytest.mark.parametrize(
    "query",
    [
        AlertQuery(limit=7),
        AlertQuery(statuses=frozenset({"acknowledged"}), limit=5),
        AlertQuery(severities=frozenset({"critical"}), limit=4),
        AlertQuery(categories=frozenset({"technical"}), since=START + timedelta(days=1)),
        AlertQuery(until=START + timedelta(days=2), limit=9),
    ],
    ids=["all", "acknowledged", "escalated", "technical-since", "until"],
)
def test_lists_by_time_and_by_patient_give_the_same_pages(
    influx_store: InfluxStore, query: AlertQuery
) -> None:
    _seed_ward(influx_store)
    ward = frozenset(f"p{i}" for i in range(12))
    reads = influx_store._alerts
    pages = []
    for plan in (reads._list_from_timeline, reads._list_for_patients):
        q, seen = AlertQuery(**{**query.__dict__, "patient_ids": ward}), []
        while True:
            page = plan(q)
            seen += [(r.alert.alert_id, r.alert.severity, r.state.status) for r in page.items]
            if page.next_cursor is None:
                break
            q = AlertQuery(**{**q.__dict__, "cursor": page.next_cursor})
        pages.append(seen)
    assert pages[0] == pages[1]
    assert pages[0]  # every query above matches something


@pytest.mark.integration
def test_a_ward_list_sees_events_back_dated_before_the_alert(influx_store: InfluxStore) -> None:
    alert = make_alert("p1", detected_at=T0)
    influx_store.put_alerts([alert])
    influx_store.put_events([_ack(alert, START - timedelta(days=365))])
    ward = frozenset(f"p{i}" for i in range(12))
    (item,) = influx_store.list_alerts(AlertQuery(patient_ids=ward)).items
    assert item.state.status == "acknowledged"


@pytest.mark.integration
def test_history_still_merges_minutes_written_without_sum(influx_store: InfluxStore) -> None:
    old = [
        line_protocol(
            "vitals_1m",
            {"patient_id": "p1", "vital": "hr"},
            {"mean": f"{float(m)}", "min": "0.0", "max": "9.0", "count": f"{1 + 2 * (m % 2)}i"},
            to_ns(START + m * MINUTE),
        )
        for m in range(10)
    ]
    influx_store._write_lines(influx_store.vitals_bucket, old)
    points = influx_store.vitals_history(
        "p1", start=START, stop=START + 10 * MINUTE, resolution="5m"
    )
    assert [(p.ts, p.count) for p in points] == [(START, 9), (START + 5 * MINUTE, 11)]
    assert points[0].mean == pytest.approx(18 / 9)


@pytest.mark.integration
def test_projections_rebuild_from_the_documented_measurements(influx_store: InfluxStore) -> None:
    alert = make_alert("p1")
    event = _ack(alert, START + MINUTE)
    alert_lines, _ = lines([alert], [event], [], [])
    influx_store._write_lines(influx_store.bucket, alert_lines)  # as written before projections
    ward = frozenset(f"p{i}" for i in range(12))
    assert influx_store.get_alert(alert.alert_id) is None
    assert influx_store.list_alerts(AlertQuery(patient_ids=ward)).items == []

    assert influx_store.rebuild_projections() == 2
    record = influx_store.get_alert(alert.alert_id)
    assert record is not None and record.alert == Alert.from_json(alert.to_json())
    (item,) = influx_store.list_alerts(AlertQuery(patient_ids=ward)).items
    assert item.state.status == "acknowledged"

"""One contract for every store: SQLite (unit) and InfluxDB (integration, real server).

Whatever the API and the sink rely on is pinned here once and run against both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.exceptions import BadCursor, InvalidTransition
from alerts.lifecycle import AlertEvent
from alerts.model import Alert
from alerts.store.base import AlertQuery, Store, StoreBatch
from alerts.store.sqlite import SqliteStore
from stream.rollup import News2Record, VitalsRollup, VitalStats
from tests.alerts.alert_factories import T0, make_alert

START = datetime.fromtimestamp(T0, UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture(params=["sqlite", pytest.param("influx", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s: Store = SqliteStore(tmp_path / "alerts.sqlite3")
    else:
        s = request.getfixturevalue("influx_store")
    try:
        yield s
    finally:
        if request.param == "sqlite":
            s.close()


def canonical(alert: Alert) -> Alert:
    """What a consumer of ``vigil.alerts`` sees: the alert after a JSON round trip."""
    return Alert.from_json(alert.to_json())


# -- alerts -------------------------------------------------------------------------------


def test_stored_alert_reads_back_equal_to_its_json_form(store: Store) -> None:
    alert = make_alert(detected_at=T0 + 0.123)
    store.put_alerts([alert])
    record = store.get_alert(alert.alert_id)
    assert record is not None
    assert record.alert == canonical(alert)
    assert record.opened_at == pytest.approx(T0 + 0.123, abs=1e-6)
    assert record.state.status == "open"


def test_unknown_alert_is_none(store: Store) -> None:
    assert store.get_alert("does-not-exist") is None
    assert store.events("does-not-exist") == []


def test_redelivered_alert_is_stored_once(store: Store) -> None:
    alert = make_alert()
    store.put_alerts([alert])
    store.put_alerts([alert, alert])
    page = store.list_alerts(AlertQuery())
    assert [r.alert.alert_id for r in page.items] == [alert.alert_id]


def test_alerts_in_the_same_millisecond_with_the_same_tags_are_all_kept(store: Store) -> None:
    # Same patient, kind, severity and detected_at: only started_at (hence alert_id) differs.
    alerts = [make_alert(started_at=T0 - i, detected_at=T0) for i in range(20)]
    store.write_batch(StoreBatch(alerts=alerts))
    items = store.list_alerts(AlertQuery(limit=100)).items
    assert {r.alert.alert_id for r in items} == {a.alert_id for a in alerts}


def test_escalation_updates_severity_and_keeps_opening_time(store: Store) -> None:
    opening = make_alert(severity="medium", detected_at=T0)
    escalated = Alert.from_json_dict(
        {**opening.to_json_dict(), "severity": "high", "status": "escalated", "seq": 1}
        | {"detected_at": T0 + 300, "message": "HR 150 bpm"}
    )
    store.put_alerts([escalated, opening])  # order of arrival does not matter
    record = store.get_alert(opening.alert_id)
    assert record is not None
    assert (record.alert.severity, record.alert.seq, record.alert.message) == (
        "high",
        1,
        "HR 150 bpm",
    )
    assert record.opened_at == T0
    assert [
        r.alert.alert_id
        for r in store.list_alerts(AlertQuery(severities=frozenset({"high"}))).items
    ] == [opening.alert_id]
    assert store.list_alerts(AlertQuery(severities=frozenset({"medium"}))).items == []


def test_episode_without_opening_record_is_gettable_but_not_listed(store: Store) -> None:
    late = make_alert(seq=2, severity="critical")
    store.put_alerts([late])
    record = store.get_alert(late.alert_id)
    assert record is not None and record.alert.seq == 2
    assert store.list_alerts(AlertQuery()).items == []


def test_lifecycle_events_fold_into_state_and_are_idempotent(store: Store) -> None:
    alert = make_alert()
    store.put_alerts([alert])
    at = START + timedelta(hours=1)
    ack = AlertEvent.create(alert.alert_id, "ack", actor="nurse.kim", at=at, patient_id="p1")
    snooze = AlertEvent.create(
        alert.alert_id,
        "snooze",
        actor="nurse.kim",
        at=at + MINUTE,
        until=at + 30 * MINUTE,
        patient_id="p1",
    )
    assign = AlertEvent.create(
        alert.alert_id,
        "assign",
        actor="nurse.kim",
        at=at + 2 * MINUTE,
        assignee="dr.osei",
        patient_id="p1",
        note="please review",
    )
    store.put_events([assign, ack])
    store.put_events([snooze, ack])
    record = store.get_alert(alert.alert_id)
    assert record is not None
    state = record.state
    assert state.status == "acknowledged"
    assert (state.acknowledged_by, state.acknowledged_at) == ("nurse.kim", at)
    assert state.snoozed_until == at + 30 * MINUTE
    assert state.assigned_to == "dr.osei"
    assert [n.text for n in state.notes] == ["please review"]
    assert store.events(alert.alert_id) == [ack, snooze, assign]


def test_events_stored_before_their_alert_still_count(store: Store) -> None:
    alert = make_alert()
    ack = AlertEvent.create(alert.alert_id, "ack", actor="kim", at=START + MINUTE, patient_id="p1")
    store.put_events([ack])
    store.put_alerts([alert])
    record = store.get_alert(alert.alert_id)
    assert record is not None and record.state.status == "acknowledged"


def test_record_action_writes_an_event_and_refuses_invalid_transitions(store: Store) -> None:
    alert = make_alert()
    store.put_alerts([alert])
    at = START + MINUTE
    result = store.record_action(alert.alert_id, "resolve", actor="dr.osei", at=at, note="ok")
    assert result is not None
    record, event = result
    assert record.state.status == "resolved" and event.actor == "dr.osei"
    assert event.patient_id == "p1"
    with pytest.raises(InvalidTransition):
        store.record_action(alert.alert_id, "ack", actor="kim", at=at + MINUTE)
    assert store.record_action("missing", "ack", actor="kim") is None
    fresh = store.get_alert(alert.alert_id)
    assert fresh is not None and fresh.state.status == "resolved"


def test_an_action_recorded_at_the_same_instant_as_the_last_returns_the_stored_state(
    store: Store,
) -> None:
    # Events fold in (at, event_id) order: a resolve at the very instant of the ack may fold
    # before it. The state the action returns (the API's answer) must be the one stored.
    at = START + MINUTE
    for i in range(6):
        alert = make_alert(f"p{i}")
        store.put_alerts([alert])
        store.record_action(alert.alert_id, "ack", actor="kim", at=at)
        result = store.record_action(alert.alert_id, "resolve", actor=f"dr{i}", at=at)
        stored = store.get_alert(alert.alert_id)
        assert result is not None and stored is not None
        assert result[0].state == stored.state, i


def _seed_mixed(store: Store) -> list[Alert]:
    alerts = [
        make_alert("p1", "tachycardia", detected_at=T0, severity="high"),
        make_alert("p1", "fever", detected_at=T0 + 60, severity="low"),
        make_alert(
            "p2", "device_offline", detected_at=T0 + 120, severity="medium", category="technical"
        ),
        make_alert("p3", "hypoxia", detected_at=T0 + 180, severity="critical"),
    ]
    store.write_batch(StoreBatch(alerts=alerts))
    store.put_events(
        [AlertEvent.create(alerts[1].alert_id, "ack", actor="kim", at=START + MINUTE * 5)]
    )
    return alerts


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (AlertQuery(), [3, 2, 1, 0]),
        (AlertQuery(statuses=frozenset({"open"})), [3, 2, 0]),
        (AlertQuery(statuses=frozenset({"acknowledged"})), [1]),
        (AlertQuery(severities=frozenset({"high", "critical"})), [3, 0]),
        (AlertQuery(categories=frozenset({"technical"})), [2]),
        (AlertQuery(patient_ids=frozenset({"p1", "p2"})), [2, 1, 0]),
        (AlertQuery(patient_ids=frozenset()), []),
        (AlertQuery(since=START + MINUTE), [3, 2, 1]),
        (AlertQuery(until=START + MINUTE), [0]),
        (AlertQuery(since=START + MINUTE, until=START + 3 * MINUTE), [2, 1]),
        (AlertQuery(patient_ids=frozenset({"p1"}), statuses=frozenset({"open"})), [0]),
    ],
    ids=[
        "all",
        "open",
        "acknowledged",
        "severity",
        "category",
        "patients",
        "no-patients",
        "since",
        "until",
        "window",
        "patient-and-status",
    ],
)
def test_list_filters(store: Store, query: AlertQuery, expected: list[int]) -> None:
    alerts = _seed_mixed(store)
    page = store.list_alerts(query)
    assert [r.alert.alert_id for r in page.items] == [alerts[i].alert_id for i in expected]
    assert page.next_cursor is None


def test_since_and_until_inside_a_millisecond_bound_the_exact_opening_time(store: Store) -> None:
    # An alert opened at START (a whole millisecond) is before any bound later in that
    # millisecond: "since" such a bound leaves it out, "until" it takes it in. A store that
    # rounded the bound to the nearest millisecond did the opposite for bounds < 0.5 ms in.
    alert = make_alert(detected_at=T0)
    store.put_alerts([alert])
    listed = [alert.alert_id]
    for offset_us, since, until in [(0, listed, []), (400, [], listed), (600, [], listed)]:
        bound = START + timedelta(microseconds=offset_us)
        got_since = [r.alert.alert_id for r in store.list_alerts(AlertQuery(since=bound)).items]
        got_until = [r.alert.alert_id for r in store.list_alerts(AlertQuery(until=bound)).items]
        assert (got_since, got_until) == (since, until), offset_us


def test_cursor_pagination_visits_every_alert_once_newest_first(store: Store) -> None:
    # 45 alerts over 15 distinct milliseconds (ties exercise the alert_id tie-break).
    alerts = [
        make_alert(f"p{i % 4}", "tachycardia", started_at=T0 - i, detected_at=T0 + (i // 3) * 0.001)
        for i in range(45)
    ]
    store.write_batch(StoreBatch(alerts=alerts))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = store.list_alerts(AlertQuery(limit=7, cursor=cursor))
        pages += 1
        seen += [r.alert.alert_id for r in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 7
    expected = sorted(alerts, key=lambda a: (round(a.detected_at * 1000), a.alert_id), reverse=True)
    assert seen == [a.alert_id for a in expected]


def test_filtered_pagination_skips_non_matching_alerts(store: Store) -> None:
    alerts = [
        make_alert(
            "p1",
            "k",
            started_at=T0 - i,
            detected_at=T0 + i,
            severity="high" if i % 5 == 0 else "low",
        )
        for i in range(250)
    ]
    store.write_batch(StoreBatch(alerts=alerts))
    query = AlertQuery(severities=frozenset({"high"}), limit=25)
    first = store.list_alerts(query)
    assert len(first.items) == 25 and first.next_cursor is not None
    second = store.list_alerts(
        AlertQuery(severities=frozenset({"high"}), limit=25, cursor=first.next_cursor)
    )
    assert len(second.items) == 25 and second.next_cursor is None
    got = [r.alert.alert_id for r in first.items + second.items]
    want = [a.alert_id for a in reversed(alerts) if a.severity == "high"]
    assert got == want


def test_malformed_cursor_is_refused(store: Store) -> None:
    with pytest.raises(BadCursor):
        store.list_alerts(AlertQuery(cursor="not-a-cursor"))


# -- vitals -------------------------------------------------------------------------------


def rollup(patient_id: str, minute: int, **vitals: tuple[float, float, float, int]) -> VitalsRollup:
    return VitalsRollup(
        patient_id=patient_id,
        minute=START + minute * MINUTE,
        vitals={k: VitalStats(*v) for k, v in vitals.items()},
    )


def test_latest_vitals_gives_each_vitals_newest_minute(store: Store) -> None:
    store.put_vitals(
        [
            rollup("p1", 0, hr=(70.0, 65.0, 75.0, 60), spo2=(97.0, 96.0, 98.0, 60)),
            rollup("p1", 1, hr=(80.0, 78.0, 82.0, 60)),
            rollup("p2", 5, hr=(50.0, 50.0, 50.0, 1)),
        ]
    )
    latest = store.latest_vitals("p1")
    assert set(latest) == {"hr", "spo2"}
    assert (latest["hr"].ts, latest["hr"].mean, latest["hr"].count) == (START + MINUTE, 80.0, 60)
    assert latest["spo2"].ts == START
    assert store.latest_vitals("nobody") == {}


def test_rewritten_minute_overwrites(store: Store) -> None:
    store.put_vitals([rollup("p1", 0, hr=(70.0, 65.0, 75.0, 60))])
    store.put_vitals([rollup("p1", 0, hr=(71.0, 66.0, 76.0, 59))])
    points = store.vitals_history("p1", start=START, stop=START + MINUTE)
    assert [(p.mean, p.count) for p in points] == [(71.0, 59)]


def test_history_at_each_resolution_merges_minutes_by_count(store: Store) -> None:
    # 2 hours of minutes; hr mean = minute index, count alternates 1 and 3.
    store.put_vitals(
        [
            rollup(
                "p1", m, hr=(float(m), m - 0.5, m + 0.5, 1 + 2 * (m % 2)), rr=(16.0, 15.0, 17.0, 1)
            )
            for m in range(120)
        ]
    )
    one = store.vitals_history(
        "p1", start=START, stop=START + 10 * MINUTE, resolution="1m", vitals=["hr"]
    )
    assert [p.ts for p in one] == [START + m * MINUTE for m in range(10)]
    assert [p.mean for p in one] == [float(m) for m in range(10)]

    five = store.vitals_history("p1", start=START, stop=START + 10 * MINUTE, resolution="5m")
    assert [(p.ts, p.vital) for p in five] == [
        (START, "hr"),
        (START, "rr"),
        (START + 5 * MINUTE, "hr"),
        (START + 5 * MINUTE, "rr"),
    ]
    hr0 = five[0]
    # minutes 0..4 with counts 1,3,1,3,1: (0 + 3 + 2 + 9 + 4) / 9
    assert hr0.mean == pytest.approx(18 / 9)
    assert (hr0.min, hr0.max, hr0.count) == (-0.5, 4.5, 9)

    hourly = store.vitals_history(
        "p1", start=START, stop=START + 2 * timedelta(hours=1), resolution="1h", vitals=["hr"]
    )
    assert [(p.ts, p.count) for p in hourly] == [(START, 120), (START + timedelta(hours=1), 120)]
    assert hourly[1].mean == pytest.approx(sum(m * (1 + 2 * (m % 2)) for m in range(60, 120)) / 120)
    assert store.vitals_history("p1", start=START, stop=START + MINUTE, vitals=[]) == []


def test_news2_latest_and_history(store: Store) -> None:
    records = [
        News2Record(
            patient_id="p1",
            minute=START + m * MINUTE,
            score=m,
            risk="low",
            subscores={"rr": m % 2, "hr": 0} if m < 2 else {"rr": 3},
        )
        for m in range(3)
    ]
    store.put_news2(records)
    store.put_news2(records[2:])
    assert store.latest_news2("p1") == records[2]
    assert store.latest_news2("nobody") is None
    assert store.news2_history("p1", start=START, stop=START + 2 * MINUTE) == records[:2]


def test_write_batch_stores_every_kind_of_record(store: Store) -> None:
    alert = make_alert("p9")
    event = AlertEvent.create(
        alert.alert_id, "note", actor="kim", at=START, note="seen", patient_id="p9"
    )
    n2 = News2Record(patient_id="p9", minute=START, score=5, risk="medium", subscores={"rr": 2})
    store.write_batch(
        StoreBatch(
            alerts=[alert],
            events=[event],
            rollups=[rollup("p9", 0, hr=(70.0, 70.0, 70.0, 1))],
            news2=[n2],
        )
    )
    assert store.events(alert.alert_id) == [event]
    assert store.latest_vitals("p9")["hr"].mean == 70.0
    assert store.latest_news2("p9") == n2

"""Webhook decisions, signing, retries and dead letters, over a scripted transport."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from alerts.ledger import MemoryLedger, SqliteLedger
from alerts.lifecycle import AlertEvent, fold
from alerts.model import Alert
from alerts.notifier import NotifierLoop, kafka_dead_letters
from alerts.settings import WebhookTarget
from alerts.store.base import AlertRecord
from alerts.store.sqlite import SqliteStore
from alerts.topics import SinkTopics
from alerts.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    HttpxTransport,
    Notification,
    Notifier,
    StaticTargets,
    TransportFailed,
    sign,
    verify,
)
from tests.alerts.alert_factories import T0, make_alert

NOW = T0 + 600
SECRET = "team-a-secret"


class ScriptedTransport:
    """Answers from a script (status codes or exceptions), then 200."""

    def __init__(self, *script: int | Exception) -> None:
        self.script = list(script)
        self.calls: list[tuple[str, bytes, dict[str, str]]] = []

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        self.calls.append((url, body, dict(headers)))
        answer = self.script.pop(0) if self.script else 200
        if isinstance(answer, Exception):
            raise answer
        return answer


def targets() -> StaticTargets:
    return StaticTargets(
        [
            WebhookTarget(team="ward-a", url="http://a/hook", secret=SECRET, patients=["p1"]),
            WebhookTarget(team="night", url="http://n/hook", secret="other", patients=["*"]),
            WebhookTarget(team="ward-b", url="http://b/hook", secret="b", patients=["p2"]),
        ]
    )


def notifier(
    transport: ScriptedTransport, **kw: object
) -> tuple[Notifier, list[tuple[Notification, str]], list[float], MemoryLedger]:
    dead: list[tuple[Notification, str]] = []
    sleeps: list[float] = []
    ledger = MemoryLedger()
    n = Notifier(
        targets(),
        transport,
        ledger,
        lambda note, reason: dead.append((note, reason)),
        sleep=sleeps.append,
        clock=lambda: NOW,
        **kw,  # type: ignore[arg-type]
    )
    return n, dead, sleeps, ledger


def escalated(alert: Alert, seq: int = 1) -> Alert:
    return msgspec.structs.replace(alert, status="escalated", seq=seq, severity="high")


def test_signature_verifies_only_for_the_same_secret_body_and_recent_time() -> None:
    body = b'{"alert_id":"x"}'
    header = sign(SECRET, body, timestamp=int(NOW))
    assert verify(SECRET, body, header, now=NOW + 10)
    assert not verify(SECRET, body + b" ", header, now=NOW)
    assert not verify("other", body, header, now=NOW)
    assert not verify(SECRET, body, header, now=NOW + 301)
    assert not verify(SECRET, body, "garbage", now=NOW)
    assert not verify(SECRET, body, "t=x,v1=y", now=NOW)


def test_new_alert_goes_once_to_each_team_caring_for_the_patient() -> None:
    transport = ScriptedTransport()
    n, dead, _, _ = notifier(transport)
    alert = make_alert("p1")
    results = n.on_alert(alert)
    assert [(r.team, r.outcome, r.attempts) for r in results] == [
        ("ward-a", "delivered", 1),
        ("night", "delivered", 1),
    ]
    url, body, headers = transport.calls[0]
    assert url == "http://a/hook"
    assert headers[EVENT_HEADER] == "alert.new"
    assert headers[DELIVERY_HEADER] == results[0].delivery_id
    assert verify(SECRET, body, headers[SIGNATURE_HEADER], now=NOW)
    sent = msgspec.json.decode(body)
    assert sent["alert"] == alert.to_json_dict() and sent["team"] == "ward-a"
    assert dead == []


def test_a_redelivered_record_is_not_sent_again() -> None:
    transport = ScriptedTransport()
    n, _, _, _ = notifier(transport)
    alert = make_alert("p2")
    n.on_alert(alert)
    again = n.on_alert(alert)
    assert [r.outcome for r in again] == ["duplicate", "duplicate"]
    assert len(transport.calls) == 2


def test_server_errors_and_timeouts_are_retried_with_growing_backoff() -> None:
    transport = ScriptedTransport(500, TransportFailed("timeout"), 503, 200)
    n, dead, sleeps, _ = notifier(transport, backoff_s=0.5)
    [result] = n.on_alert(make_alert("p9"))  # only "night" covers p9
    assert (result.outcome, result.attempts, result.status) == ("delivered", 4, 200)
    assert sleeps == [0.5, 1.0, 2.0]
    ids = {call[2][DELIVERY_HEADER] for call in transport.calls}
    assert len(ids) == 1  # every retry carries the same delivery id
    assert dead == []


def test_after_max_attempts_the_notification_is_dead_lettered() -> None:
    transport = ScriptedTransport(*[500] * 10)
    n, dead, sleeps, ledger = notifier(transport, max_attempts=4)
    [result] = n.on_alert(make_alert("p9"))
    assert (result.outcome, result.attempts, result.reason) == ("dead", 4, "HTTP 500")
    assert len(transport.calls) == 4 and len(sleeps) == 3
    [(note, reason)] = dead
    assert (note.delivery_id, reason) == (result.delivery_id, "HTTP 500")
    assert ledger.outcomes[result.delivery_id] == "dead"
    assert n.on_alert(make_alert("p9"))[0].outcome == "duplicate"


def test_client_errors_are_not_retried() -> None:
    transport = ScriptedTransport(404)
    n, dead, sleeps, _ = notifier(transport)
    [result] = n.on_alert(make_alert("p9"))
    assert (result.outcome, result.attempts) == ("dead", 1)
    assert sleeps == [] and len(dead) == 1


def test_rate_limit_is_retried() -> None:
    transport = ScriptedTransport(429)
    n, _, _, _ = notifier(transport)
    [result] = n.on_alert(make_alert("p9"))
    assert (result.outcome, result.attempts) == ("delivered", 2)


def test_escalations_are_sent_unless_the_alert_is_snoozed() -> None:
    transport = ScriptedTransport()
    n, _, _, _ = notifier(transport)
    alert = make_alert("p9")
    at = datetime.fromtimestamp(T0, UTC)
    snooze = AlertEvent.create(
        alert.alert_id, "snooze", actor="kim", at=at, until=datetime.fromtimestamp(NOW + 60, UTC)
    )
    snoozed = fold(alert.alert_id, [snooze])
    assert n.on_alert(escalated(alert), snoozed) == []
    expired = fold(
        alert.alert_id, [msgspec.structs.replace(snooze, until=at + timedelta(minutes=5))]
    )
    [result] = n.on_alert(escalated(alert), expired)
    assert result.event == "alert.escalated"
    assert transport.calls[0][2][EVENT_HEADER] == "alert.escalated"


def test_resolved_records_are_not_sent() -> None:
    transport = ScriptedTransport()
    n, _, _, _ = notifier(transport)
    assert n.on_alert(msgspec.structs.replace(make_alert("p1"), status="resolved", seq=3)) == []
    assert transport.calls == []


def test_escalate_events_are_sent_with_level_and_actor() -> None:
    transport = ScriptedTransport()
    n, _, _, _ = notifier(transport)
    alert = make_alert("p9")
    at = datetime.fromtimestamp(NOW - 5, UTC)
    esc = AlertEvent.create(alert.alert_id, "escalate", actor="dr.osei", at=at)
    state = fold(alert.alert_id, [esc])
    [result] = n.on_event(esc, alert, state)
    body = msgspec.json.decode(transport.calls[0][1])
    assert (body["event"], body["escalation_level"], body["actor"]) == (
        "alert.escalated",
        1,
        "dr.osei",
    )
    assert result.outcome == "delivered"
    ack = AlertEvent.create(alert.alert_id, "ack", actor="kim", at=at)
    assert n.on_event(ack, alert, state) == []
    assert n.on_event(esc, None, None) == []


def test_sqlite_ledger_remembers_across_restarts(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    ledger.record("d1", "delivered")
    ledger.close()
    reopened = SqliteLedger(tmp_path / "ledger.sqlite3")
    assert reopened.seen("d1") and not reopened.seen("d2")
    reopened.close()


def test_notifier_loop_reads_snooze_from_the_store() -> None:
    store = SqliteStore(":memory:")
    transport = ScriptedTransport()
    n, _, _, _ = notifier(transport)
    topics = SinkTopics()
    loop = NotifierLoop(n, store, consumer=None, topics=topics)  # type: ignore[arg-type]
    alert = make_alert("p9")
    store.put_alerts([alert])
    store.record_action(
        alert.alert_id,
        "snooze",
        actor="kim",
        at=datetime.fromtimestamp(NOW - 10, UTC),
        until=datetime.fromtimestamp(NOW + 3600, UTC),
    )
    assert [r.event for r in loop.handle(topics.alerts, alert.to_json())] == ["alert.new"]
    assert loop.handle(topics.alerts, escalated(alert).to_json()) == []
    assert loop.handle(topics.alerts, b"not json") == []
    other = make_alert("p9", "fever", detected_at=T0 + 1)
    store.put_alerts([other])
    assert [r.event for r in loop.handle(topics.alerts, escalated(other).to_json())] == [
        "alert.escalated"
    ]
    esc = AlertEvent.create(
        other.alert_id, "escalate", actor="kim", at=datetime.fromtimestamp(NOW, UTC)
    )
    store.put_events([esc])
    assert [r.event for r in loop.handle(topics.alert_events, msgspec.json.encode(esc))] == [
        "alert.escalated"
    ]
    store.close()


def test_an_escalation_of_a_resolved_alert_is_not_paged_unless_critical() -> None:
    # a clinician resolved it: the detector's next escalation does not page the ward again,
    # but a critical one does (as a critical alert goes through a snooze)
    transport = ScriptedTransport()
    n, _, _, _ = notifier(transport)
    alert = make_alert("p9")
    at = datetime.fromtimestamp(NOW - 60, UTC)
    resolved = fold(
        alert.alert_id, [AlertEvent.create(alert.alert_id, "resolve", actor="dr", at=at)]
    )
    assert resolved.status == "resolved"
    assert n.on_alert(escalated(alert), resolved) == []
    critical = msgspec.structs.replace(escalated(alert, seq=2), severity="critical")
    assert [r.event for r in n.on_alert(critical, resolved)] == ["alert.escalated"]


def test_an_escalate_event_pages_at_the_level_it_raises_to_before_the_sink_stores_it() -> None:
    store = SqliteStore(":memory:")
    transport = ScriptedTransport()
    n, _, _, _ = notifier(transport)
    loop = NotifierLoop(n, store, consumer=None, topics=SinkTopics())  # type: ignore[arg-type]
    alert = make_alert("p9")
    store.put_alerts([alert])
    esc = AlertEvent.create(
        alert.alert_id, "escalate", actor="kim", at=datetime.fromtimestamp(NOW, UTC)
    )
    loop.handle(SinkTopics().alert_events, msgspec.json.encode(esc))  # not stored yet
    assert msgspec.json.decode(transport.calls[0][1])["escalation_level"] == 1
    store.close()


class _Record:
    def __init__(self, topic: str, offset: int, value: bytes) -> None:
        self.topic, self.partition, self.offset, self.key, self.value = (
            topic,
            0,
            offset,
            None,
            value,
        )


class _Consumer:
    def __init__(self, records: list[_Record]) -> None:
        self.records, self.seeks = records, list[tuple[str, int]]()
        self.commits: list[dict[str, int]] = []

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[str, list[_Record]]:
        return {"tp": self.records} if self.records else {}

    def seek(self, partition: object, offset: int) -> None:
        self.seeks.append((str(partition), offset))

    def commit(self, offsets: dict[str, Any] | None = None) -> None:
        self.commits.append({k: v.offset for k, v in (offsets or {}).items()})


class _DownStore(SqliteStore):
    def get_alert(self, alert_id: str) -> AlertRecord | None:
        from alerts.exceptions import StoreUnavailable

        raise StoreUnavailable("influx down")


def test_an_escalate_event_is_read_again_while_the_store_is_down() -> None:
    topics = SinkTopics()
    transport = ScriptedTransport()
    n, _, _, _ = notifier(transport)
    alert = make_alert("p9")
    esc = AlertEvent.create(
        alert.alert_id, "escalate", actor="kim", at=datetime.fromtimestamp(NOW, UTC)
    )
    consumer = _Consumer([
        _Record(topics.alerts, 7, alert.to_json()),
        _Record(topics.alert_events, 8, msgspec.json.encode(esc)),
        _Record(topics.alerts, 9, make_alert("p9", "fever", detected_at=T0 + 1).to_json()),
    ])  # fmt: skip
    loop = NotifierLoop(n, _DownStore(":memory:"), consumer, topics, retry_s=0.0)  # type: ignore[arg-type]
    assert loop.step() == 1  # the new alert is sent; the escalation is not skipped
    assert consumer.seeks == [("tp", 8)] and consumer.commits == [{"tp": 8}]


def test_a_webhook_dead_letter_that_kafka_refused_is_not_taken_as_sent() -> None:
    class _Failed:
        def get(self, timeout: float) -> None:
            raise RuntimeError("the DLQ refused the record")

    class _Producer:
        def send(self, topic: str, value: bytes, key: bytes) -> _Failed:
            return _Failed()

        def flush(self, timeout: float) -> None:  # (kafka-python's flush does not raise)
            return None

    note = Notification(delivery_id="d1", event="alert.new", team="ward-a", alert={})
    try:
        kafka_dead_letters(_Producer(), "vigil.webhooks.dlq")(note, "HTTP 500")
    except RuntimeError:
        return
    raise AssertionError("a refused dead letter passed for sent")


@pytest.mark.parametrize(
    "url", ["http://[::1/hook", "http://xn--/hook", "http://" + "a" * 64 + ".example/hook"]
)
def test_a_target_with_a_malformed_url_is_dead_lettered_not_a_stuck_loop(url: str) -> None:
    # httpx raises InvalidURL (not an HTTPError) before any connection: it must count as a
    # failed delivery, or the notifier loop re-reads that record for ever and pages nobody.
    transport = HttpxTransport()
    dead: list[tuple[Notification, str]] = []
    bad = WebhookTarget(team="ward-a", url=url, secret=SECRET, patients=["*"])
    n = Notifier(
        StaticTargets([bad]),
        transport,
        MemoryLedger(),
        lambda note, reason: dead.append((note, reason)),
        max_attempts=2,
        sleep=lambda _s: None,
        clock=lambda: NOW,
    )
    try:
        [result] = n.on_alert(make_alert("p1"))
    finally:
        transport.close()
    assert (result.outcome, result.attempts) == ("dead", 2)
    assert len(dead) == 1

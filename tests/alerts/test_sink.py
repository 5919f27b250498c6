"""The sink loop against a scripted consumer: batching, commits after writes, outages, DLQ."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import msgspec
import pytest

from alerts.exceptions import MalformedRecord, StoreError, StoreUnavailable
from alerts.lifecycle import AlertEvent
from alerts.model import Alert
from alerts.records import decode_record
from alerts.sink import Sink
from alerts.store.base import AlertQuery, StoreBatch
from alerts.store.sqlite import SqliteStore
from alerts.topics import SinkTopics
from ingest.encoding import decode_dead_letter
from stream.rollup import News2Record, VitalsRollup, VitalStats, encode, minute_floor
from tests.alerts.alert_factories import T0, make_alert

TOPICS = SinkTopics("t.")
Rec = namedtuple("Rec", "topic partition offset key value")
TP = namedtuple("TP", "topic partition")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeConsumer:
    """Partitions as lists; honours pause/resume/seek; advances the fake clock on poll."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.logs: dict[TP, list[Rec]] = {}
        self.position: dict[TP, int] = {}
        self.paused: set[TP] = set()
        self.commits: list[dict[TP, int]] = []
        self.handed_out = 0
        self.events: list[str] = []

    def add(self, topic: str, value: bytes, partition: int = 0) -> None:
        tp = TP(topic, partition)
        log = self.logs.setdefault(tp, [])
        self.position.setdefault(tp, 0)
        log.append(Rec(topic, partition, len(log), b"k", value))

    def assignment(self) -> set[TP]:
        return set(self.logs)

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[TP, list[Rec]]:
        out: dict[TP, list[Rec]] = {}
        budget = max_records or 10**9
        for tp, log in sorted(self.logs.items()):
            if tp in self.paused or budget <= 0:
                continue
            pos = self.position[tp]
            chunk = log[pos : pos + budget]
            if chunk:
                out[tp] = chunk
                self.position[tp] = pos + len(chunk)
                budget -= len(chunk)
                self.handed_out += len(chunk)
        if not out:
            self.clock.now += timeout_ms / 1000
        return out

    def pause(self, *tps: TP) -> None:
        self.paused.update(tps)
        self.events.append("pause")

    def resume(self, *tps: TP) -> None:
        self.paused.difference_update(tps)
        self.events.append("resume")

    def seek(self, tp: TP, offset: int) -> None:
        self.position[tp] = offset

    def commit(self, offsets: dict[Any, Any] | None = None) -> None:
        assert offsets is not None
        self.commits.append({tp: o.offset for tp, o in offsets.items()})
        self.events.append("commit")


class FakeFuture:
    def get(self, timeout: float | None = None) -> None:
        return None


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None]] = []

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> FakeFuture:
        self.sent.append((topic, value, key))
        return FakeFuture()

    def flush(self, timeout: float | None = None) -> None:
        return None


class FlakyStore(SqliteStore):
    """Unavailable for the first ``outages`` writes; refuses alerts of ``bad_patient``."""

    def __init__(self, outages: int = 0, bad_patient: str | None = None) -> None:
        super().__init__(":memory:")
        self.outages = outages
        self.bad_patient = bad_patient
        self.attempts = 0
        self.consumer: FakeConsumer | None = None
        self.held_during_outage: list[int] = []

    def write_batch(self, batch: StoreBatch) -> None:
        self.attempts += 1
        if self.outages > 0:
            self.outages -= 1
            if self.consumer is not None:
                self.consumer.events.append("write-failed")
                self.held_during_outage.append(self.consumer.handed_out)
            raise StoreUnavailable("down")
        if self.bad_patient and any(a.patient_id == self.bad_patient for a in batch.alerts):
            raise StoreError("HTTP 422 field type conflict")
        if self.consumer is not None:
            self.consumer.events.append("written")
        super().write_batch(batch)


def make_sink(store: SqliteStore, batch_size: int = 10) -> tuple[Sink, FakeConsumer, FakeProducer]:
    clock = FakeClock()
    consumer = FakeConsumer(clock)
    producer = FakeProducer()
    if isinstance(store, FlakyStore):
        store.consumer = consumer
    sink = Sink(
        store, consumer, producer, TOPICS, batch_size=batch_size, linger_s=0.05, clock=clock
    )
    return sink, consumer, producer


def drain(sink: Sink) -> None:
    while sink.step():
        pass


def test_every_record_kind_is_decoded_by_topic() -> None:
    alert = make_alert()
    event = AlertEvent.create("a1", "ack", actor="kim", at=minute_floor(T0))
    rollup = VitalsRollup(
        patient_id="p1", minute=minute_floor(T0), vitals={"hr": VitalStats(70.0, 60.0, 80.0, 3)}
    )
    n2 = News2Record(
        patient_id="p1", minute=minute_floor(T0), score=3, risk="low-medium", subscores={"rr": 3}
    )
    assert decode_record(TOPICS, TOPICS.alerts, alert.to_json()) == Alert.from_json(alert.to_json())
    assert decode_record(TOPICS, TOPICS.alert_events, msgspec.json.encode(event)) == event
    assert decode_record(TOPICS, TOPICS.vitals_1m, encode(rollup)) == rollup
    assert decode_record(TOPICS, TOPICS.news2, encode(n2)) == n2


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty"),
        (b"", "empty"),
        (b"{not json", "bad_json"),
        (b"[1, 2]", "bad_record"),
        (b'{"alert_id": "x"}', "bad_record"),
        (
            b'{"alert_id":"x","patient_id":"p","category":"clinical","kind":"k","severity":"low",'
            b'"vitals":[],"started_at":"yesterday","detected_at":"2024-05-01T08:00:00Z",'
            b'"message":"m"}',
            "bad_record",
        ),
    ],
)
def test_undecodable_alerts_name_their_reason(value: bytes | None, reason: str) -> None:
    with pytest.raises(MalformedRecord) as err:
        decode_record(TOPICS, TOPICS.alerts, value)
    assert err.value.reason == reason


def test_batches_are_written_before_their_offsets_are_committed() -> None:
    store = FlakyStore()
    sink, consumer, _ = make_sink(store, batch_size=10)
    alerts = [make_alert(f"p{i}") for i in range(25)]
    for i, a in enumerate(alerts):
        consumer.add(TOPICS.alerts, a.to_json(), partition=i % 2)
    drain(sink)
    assert consumer.events == ["written", "commit"] * 3
    committed = {tp: o for c in consumer.commits for tp, o in c.items()}
    assert committed == {TP(TOPICS.alerts, 0): 13, TP(TOPICS.alerts, 1): 12}
    assert len(store.list_alerts(AlertQuery(limit=100)).items) == 25
    assert sink.stats.written == 25 and sink.stats.batches == 3


@pytest.mark.parametrize("error", ["CommitFailedError", "RebalanceInProgressError"])
def test_a_commit_refused_by_a_rebalance_is_counted_and_the_sink_continues(error: str) -> None:
    import kafka.errors

    store = FlakyStore()
    sink, consumer, _ = make_sink(store, batch_size=10)
    commit = consumer.commit
    refusals = [getattr(kafka.errors, error)("group rebalancing")]

    def refusing_commit(offsets: dict[Any, Any] | None = None) -> None:
        if refusals:
            raise refusals.pop()
        commit(offsets)

    consumer.commit = refusing_commit  # type: ignore[method-assign]
    for i in range(20):
        consumer.add(TOPICS.alerts, make_alert(f"p{i}").to_json())
    drain(sink)
    assert sink.stats.commit_failures == 1 and sink.stats.written == 20
    assert consumer.commits == [{TP(TOPICS.alerts, 0): 20}]


def test_malformed_records_go_to_the_dlq_and_the_sink_continues() -> None:
    store = FlakyStore()
    sink, consumer, producer = make_sink(store)
    consumer.add(TOPICS.alerts, make_alert("p1").to_json())
    consumer.add(TOPICS.alerts, b"\xff\xfe garbage")
    consumer.add(TOPICS.alerts, make_alert("p2").to_json())
    drain(sink)
    assert {r.alert.patient_id for r in store.list_alerts(AlertQuery()).items} == {"p1", "p2"}
    [(topic, value, key)] = producer.sent
    letter = decode_dead_letter(value)
    assert (topic, key) == (TOPICS.alerts_dlq, b"k")
    assert (letter.reason, letter.source, letter.topic, letter.payload) == (
        "bad_json",
        "sink",
        TOPICS.alerts,
        b"\xff\xfe garbage",
    )
    assert consumer.commits[-1] == {TP(TOPICS.alerts, 0): 3}


def test_outage_pauses_consumption_holds_one_batch_and_commits_only_after_the_write() -> None:
    store = FlakyStore(outages=6)
    sink, consumer, _ = make_sink(store, batch_size=10)
    for i in range(100):
        consumer.add(TOPICS.alerts, make_alert(f"p{i}").to_json())
    sink.step()
    # Six failed writes, no commit in between, then the write, then the commit.
    assert consumer.events[:2] == ["write-failed", "pause"]
    assert consumer.events[-3:] == ["written", "resume", "commit"]
    assert "commit" not in consumer.events[:-1]
    # Memory bound: while the store was down not one more record was fetched.
    assert store.held_during_outage == [10] * 6
    assert sink.stats.store_failures == 6
    drain(sink)
    assert len(store.list_alerts(AlertQuery(limit=1000)).items) == 100


def test_backoff_grows_between_retries() -> None:
    store = FlakyStore(outages=5)
    sink, consumer, _ = make_sink(store)
    consumer.add(TOPICS.alerts, make_alert().to_json())
    sink.backoff_max_s = 4.0
    start = consumer.clock.now
    sink.step()
    # 0.5 + 1 + 2 + 4 + 4 seconds of (fake) waiting, plus the linger
    assert consumer.clock.now - start == pytest.approx(11.5, abs=0.1)


def test_stop_during_an_outage_commits_nothing() -> None:
    store = FlakyStore(outages=10**6)
    sink, consumer, _ = make_sink(store)
    consumer.add(TOPICS.alerts, make_alert().to_json())
    real_hold = sink._hold

    def hold_then_stop(paused: set[Any], delay: float) -> None:
        real_hold(paused, delay)
        if store.attempts >= 3:
            sink.stop()

    sink._hold = hold_then_stop  # type: ignore[method-assign]
    assert sink.step() == 0
    assert consumer.commits == []
    assert consumer.paused == set()


def test_partition_assigned_during_an_outage_is_rewound_not_skipped() -> None:
    store = FlakyStore(outages=2)
    sink, consumer, _ = make_sink(store, batch_size=5)
    for i in range(5):
        consumer.add(TOPICS.alerts, make_alert(f"a{i}").to_json(), partition=0)
    original_pause = consumer.pause
    added: list[bool] = []

    def pause_then_assign(*tps: TP) -> None:
        original_pause(*tps)
        if not added:  # a rebalance hands us partition 1 right after we paused partition 0
            added.append(True)
            for i in range(3):
                consumer.add(TOPICS.alerts, make_alert(f"b{i}").to_json(), partition=1)

    consumer.pause = pause_then_assign  # type: ignore[method-assign]
    drain(sink)
    ids = {r.alert.patient_id for r in store.list_alerts(AlertQuery(limit=100)).items}
    assert ids == {f"a{i}" for i in range(5)} | {f"b{i}" for i in range(3)}


def test_a_record_the_store_refuses_is_dead_lettered_and_the_rest_written() -> None:
    store = FlakyStore(bad_patient="bad")
    sink, consumer, producer = make_sink(store)
    for p in ("p1", "bad", "p2"):
        consumer.add(TOPICS.alerts, make_alert(p).to_json())
    drain(sink)
    assert {r.alert.patient_id for r in store.list_alerts(AlertQuery()).items} == {"p1", "p2"}
    [(_, value, _)] = producer.sent
    assert decode_dead_letter(value).reason == "store_rejected"
    assert consumer.commits[-1] == {TP(TOPICS.alerts, 0): 3}


def test_redelivered_batch_is_stored_once() -> None:
    store = FlakyStore()
    sink, consumer, _ = make_sink(store)
    for i in range(5):
        consumer.add(TOPICS.alerts, make_alert(f"p{i}").to_json())
    drain(sink)
    consumer.seek(TP(TOPICS.alerts, 0), 0)  # as after a crash before the commit
    drain(sink)
    assert len(store.list_alerts(AlertQuery()).items) == 5
    assert sink.stats.written == 10

"""The gateway's message handling without a network: acks follow delivery; nothing crashes it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.directory import DeviceRecord, Enrollment, InMemoryDirectory, SnapshotDirectory
from ingest.encoding import decode_dead_letter, decode_entries
from ingest.exceptions import RegistryUnavailable
from ingest.gateway import MessageProcessor
from ingest.payload import PayloadHandler, device_topic
from ingest.sink import InMemorySink
from ingest.topics import TopicNames

NOW = 1_709_280_000.0
TOPICS = TopicNames()
DIRECTORY = InMemoryDirectory(
    [
        DeviceRecord("w1", (Enrollment("p1", NOW - 86400),)),
        DeviceRecord("w2", (Enrollment("p2", NOW - 86400),), revoked=True),
    ]
)


def make(sink: InMemorySink, acks: list[int], **kw: Any) -> MessageProcessor:
    return MessageProcessor(
        PayloadHandler(DIRECTORY, TOPICS),
        sink,
        ack=lambda mid, generation: acks.append(mid),
        **kw,
    )


def test_mqtt_message_is_acked_only_after_kafka_acked_all_its_records():
    sink, acks = InMemorySink(manual=True), list[int]()
    processor = make(sink, acks)
    batch = {"samples": [{"ts": NOW, "hr": 70}, {"ts": NOW, "hr": 999}]}
    processor.process(device_topic("w1"), json.dumps(batch).encode(), mid=5, received_at=NOW)
    assert len(sink.records) == 2 and acks == []
    sink.deliver()
    assert acks == [5]
    m = processor.metrics
    assert m.produced._value.get() == 1
    assert m.rejected.labels(reason="out_of_range")._value.get() == 1


def test_a_lost_record_leaves_the_message_unacked_and_reports_the_failure():
    failures, acks = list[BaseException](), list[int]()
    sink = InMemorySink(fail_topics=frozenset({TOPICS.vitals}))
    processor = make(sink, acks, on_failure=failures.append)
    processor.process(device_topic("w1"), b'{"ts": 1709280000, "hr": 70}', mid=1, received_at=NOW)
    processor.process(device_topic("w1"), b"garbage", mid=2, received_at=NOW)
    assert acks == [] and len(failures) == 1
    assert processor.metrics.produce_errors._value.get() == 1


class _RefusingSink(InMemorySink):
    def send(self, topic, key, value, on_delivery):
        raise RuntimeError("producer closed")


def test_a_producer_that_refuses_to_send_is_a_delivery_failure():
    failures, acks = list[BaseException](), list[int]()
    processor = make(_RefusingSink(), acks, on_failure=failures.append)
    processor.process(device_topic("w1"), b'{"ts": 1709280000, "hr": 70}', mid=1, received_at=NOW)
    assert acks == [] and len(failures) == 1 and len(processor.window) == 1


class _DownDirectory(InMemoryDirectory):
    def lookup(self, device_id):
        raise ConnectionError("registry database unreachable")


def test_a_registry_outage_loses_nothing_and_blames_no_device():
    # valid vitals must not become 'bad_json' dead letters (acknowledged, so never redelivered)
    failures, acks = list[BaseException](), list[int]()
    sink = InMemorySink()
    processor = MessageProcessor(
        PayloadHandler(_DownDirectory([]), TOPICS), sink,
        ack=lambda mid, generation: acks.append(mid), on_failure=failures.append,
    )  # fmt: skip
    processor.process(device_topic("w1"), b'{"ts": 1709280000, "hr": 70}', mid=1, received_at=NOW)
    assert sink.records == [] and acks == []
    assert len(failures) == 1 and isinstance(failures[0], RegistryUnavailable)


def test_a_registry_outage_is_not_counted_as_a_kafka_produce_error():
    processor = MessageProcessor(
        PayloadHandler(_DownDirectory([]), TOPICS), InMemorySink(), ack=lambda mid, gen: None
    )
    processor.process(device_topic("w1"), b'{"ts": 1709280000, "hr": 70}', mid=1, received_at=NOW)
    assert processor.metrics.produce_errors._value.get() == 0


def test_a_failed_registry_reload_serves_the_last_snapshot():
    state = {"down": False, "loads": 0}

    def load_all():
        state["loads"] += 1
        if state["down"]:
            raise ConnectionError("registry database unreachable")
        return {"w1": DeviceRecord("w1", (Enrollment("p1", NOW - 86400),))}

    now = [0.0]
    directory = SnapshotDirectory(load_all, lambda d: None, refresh=10.0, clock=lambda: now[0])
    assert directory.lookup("w1") is not None
    state["down"], now[0] = True, 20.0
    assert directory.lookup("w1") is not None and state["loads"] == 2  # tried, kept the last
    fresh = SnapshotDirectory(load_all, lambda d: None)
    with pytest.raises(ConnectionError):
        fresh.lookup("w1")  # nothing to go on yet


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
sample_like = st.fixed_dictionaries(
    {},
    optional={
        "ts": st.one_of(
            st.floats(NOW - 2 * 86400, NOW + 900), st.integers(), st.text(max_size=30), json_values
        ),
        "hr": st.one_of(st.floats(), st.integers(-10, 400), json_values),
        "spo2": st.floats(allow_nan=True),
        "custom": json_values,
        "samples": st.lists(json_values, max_size=3),
    },
).flatmap(
    lambda d: st.dictionaries(st.text(max_size=10), json_values, max_size=3).map(
        lambda extra: {**extra, **d}
    )
)


def _encode(doc: object) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


payloads = st.one_of(
    st.binary(max_size=300),
    json_values.map(_encode),
    sample_like.map(_encode),
    st.lists(sample_like, min_size=1, max_size=5).map(lambda s: _encode({"samples": s})),
)
topics = st.one_of(
    st.sampled_from([device_topic("w1"), device_topic("w2"), device_topic("ghost")]),
    st.text(max_size=40),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=topics, payload=payloads)
def test_any_payload_is_produced_or_dead_lettered_and_acked_once(topic, payload):
    sink, acks = InMemorySink(), list[int]()
    processor = make(sink, acks)
    processor.process(topic, payload, mid=42, received_at=NOW)
    assert acks == [42]
    assert sink.records
    for out_topic, key, value in sink.records:
        if out_topic == TOPICS.vitals:
            entries = decode_entries(value)
            assert entries and key == b"p1"
            assert all(e.patient_id == "p1" and e.device_id == "w1" for e in entries)
        else:
            assert out_topic == TOPICS.dlq
            assert decode_dead_letter(value).reason


def test_the_gateway_reports_whether_it_is_subscribed_to_the_broker() -> None:
    from types import SimpleNamespace

    from ingest.gateway import MqttGateway
    from ingest.settings import IngestSettings

    gw = MqttGateway(
        IngestSettings(_env_file=None),
        PayloadHandler(InMemoryDirectory([]), TopicNames("t.")),
        InMemorySink(),
    )
    up = gw.processor.metrics.mqtt_up
    ok, refused = SimpleNamespace(is_failure=False), SimpleNamespace(is_failure=True)
    client = SimpleNamespace(subscribe=lambda *a, **k: None)
    gw._on_connect(client, None, SimpleNamespace(session_present=False), refused, None)
    assert up._value.get() == 0
    gw._on_connect(client, None, SimpleNamespace(session_present=False), ok, None)
    gw._on_subscribe(client, None, 1, [ok], None)
    assert up._value.get() == 1
    assert b"vigil_gateway_mqtt_subscribed 1.0" in gw.processor.metrics.exposition()
    gw._on_disconnect(client, None, None, refused, None)
    assert up._value.get() == 0


class _SlowProducer:
    def __init__(self, **_config: object) -> None:
        self.futures: list[Any] = []

    def send(self, topic: str, value: bytes, key: bytes | None) -> Any:
        from kafka.producer.future import FutureProduceResult, FutureRecordMetadata
        from kafka.structs import TopicPartition

        future = FutureRecordMetadata(
            FutureProduceResult(TopicPartition(topic, 0)), 0, 0, None, 0, len(value), -1
        )
        self.futures.append(future)
        return future

    def flush(self, timeout: float | None = None) -> None:
        from kafka.errors import KafkaTimeoutError

        raise KafkaTimeoutError("Timeout waiting for future")  # what a stalled Kafka does


def test_a_drain_that_times_out_on_a_stalled_kafka_reports_it_instead_of_raising(monkeypatch):
    import kafka

    from ingest.sink import KafkaSink

    monkeypatch.setattr(kafka, "KafkaProducer", _SlowProducer)
    acks = list[int]()
    processor = make(KafkaSink("127.0.0.1:9"), acks)  # type: ignore[arg-type]
    processor.process(device_topic("w1"), b'{"ts": 1709280000, "hr": 70}', mid=1, received_at=NOW)
    assert processor.drain(0.01) is False  # SIGTERM: "drain timed out", exit code 1
    assert acks == [] and len(processor.window) == 1

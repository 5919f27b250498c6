"""The API on the real stack: alerts from Kafka to SSE clients, configs to Kafka, readiness.

Topics get a unique prefix per test (Kafka runs with automatic topic creation off; they are
created with kafka-python's admin client through :func:`ingest.topics.create_topics`).
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from api.config_publisher import KafkaConfigPublisher
from api.kafka_bus import KafkaAlertBus
from api.readiness import influx_probe, kafka_probe, sql_probe
from ingest.topics import TopicNames, create_topics, topic_specs
from tests.api.conftest import serve_in_thread
from tests.api.sse import events
from tests.api.world import World, build_world, make_alert

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

#: Issue 7: an alert produced to Kafka reaches a connected SSE client within 2 s (p99).
LATENCY_BUDGET_S = 2.0
ALERTS = 50


@pytest.fixture
def topics(stack_env: dict[str, str]) -> TopicNames:
    names = TopicNames(f"t-api-{uuid.uuid4().hex[:8]}.")
    create_topics(stack_env["VIGIL_KAFKA_BOOTSTRAP"], topic_specs(names, vitals_partitions=3))
    return names


@pytest.fixture
def kafka_world(stack_env: dict[str, str], topics: TopicNames) -> Iterator[World]:
    bootstrap = stack_env["VIGIL_KAFKA_BOOTSTRAP"]
    publisher = KafkaConfigPublisher(bootstrap, topics.patient_config)
    w = build_world(alert_bus=KafkaAlertBus(bootstrap, topics.alerts), config_publisher=publisher)
    yield w
    publisher.close()
    w.store.close()
    w.registry.close()


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_alerts_produced_to_kafka_reach_a_connected_sse_client_within_2_s(
    stack_env: dict[str, str], topics: TopicNames, kafka_world: World
) -> None:
    bus = kafka_world.services.bus
    assert isinstance(bus, KafkaAlertBus)
    server = serve_in_thread(kafka_world.app)
    live = next(server)
    received: dict[str, float] = {}
    done = threading.Event()

    def listen() -> None:
        with (
            httpx.Client(base_url=live.base_url, timeout=httpx.Timeout(10, read=30)) as http,
            http.stream("GET", "/api/v1/alerts/stream", headers=kafka_world.auth("admin")) as r,
        ):
            for ev in events(r):
                if ev.event == "alert":
                    received[ev.json()["alert_id"]] = time.time()
                    if len(received) >= ALERTS:
                        done.set()
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    producer = KafkaProducer(bootstrap_servers=stack_env["VIGIL_KAFKA_BOOTSTRAP"], linger_ms=0)
    try:
        _wait(bus.ready.is_set, 30, "the API's Kafka consumer")
        _wait(lambda: kafka_world.services.hub.subscribers >= 1, 10, "the SSE client")
        produced: dict[str, float] = {}
        for i in range(ALERTS):
            alert = make_alert(f"P{1 + i % 3}", f"latency_{i}", 1)
            produced[alert.alert_id] = time.time()
            producer.send(topics.alerts, key=alert.patient_id.encode(), value=alert.to_json())
            producer.flush()
            time.sleep(0.05)  # a busy ward's alert rate, not a burst
        assert done.wait(30), f"only {len(received)} of {ALERTS} alerts arrived"
    finally:
        producer.close()
        server.close()
    latencies = sorted(received[a] - produced[a] for a in produced)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, round(0.99 * len(latencies)) - 1)]
    print(  # noqa: T201 - the issue asks for the measurement to be printed
        f"\nSSE latency Kafka -> client over {ALERTS} alerts: p50 {p50 * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
    )
    assert p99 <= LATENCY_BUDGET_S


def test_a_threshold_change_is_published_to_the_compacted_topic_keyed_by_patient(
    stack_env: dict[str, str], topics: TopicNames, kafka_world: World
) -> None:
    from tests.api.conftest import TestClient

    body = {"spo2_scale": 2, "thresholds": {"hr": {"low": 40, "high": 125}}}
    with TestClient(kafka_world.app) as client:
        r = client.put(
            "/api/v1/patients/P1/thresholds", json=body, headers=kafka_world.auth("nurse")
        )
    assert r.status_code == 200, r.text
    consumer = KafkaConsumer(
        bootstrap_servers=stack_env["VIGIL_KAFKA_BOOTSTRAP"],
        consumer_timeout_ms=10_000,
        auto_offset_reset="earliest",
    )
    try:
        consumer.assign([TopicPartition(topics.patient_config, p) for p in range(3)])
        consumer.seek_to_beginning()
        record = next(iter(consumer))
    finally:
        consumer.close()
    assert record.key == b"P1"
    config = json.loads(record.value)
    assert config["spo2_scale"] == 2 and config["thresholds"]["hr"] == [40.0, 125.0]


def test_readyz_is_ok_on_the_stack_and_names_an_unreachable_dependency(
    stack_env: dict[str, str],
) -> None:
    from tests.api.conftest import TestClient

    good = build_world()
    good_probes = {
        "kafka": kafka_probe(stack_env["VIGIL_KAFKA_BOOTSTRAP"]),
        "influxdb": influx_probe(stack_env["VIGIL_INFLUX_URL"]),
        "registry": sql_probe(good.registry.engine),
    }
    good.services.probes = good_probes
    with TestClient(good.app) as client:
        ok = client.get("/readyz")
        good.services.probes = {**good_probes, "kafka": kafka_probe("127.0.0.1:1")}
        down = client.get("/readyz")
    assert ok.status_code == 200, ok.text
    assert ok.json()["checks"] == {"influxdb": "ok", "kafka": "ok", "registry": "ok"}
    assert down.status_code == 503
    assert down.json()["checks"]["kafka"].startswith("down")

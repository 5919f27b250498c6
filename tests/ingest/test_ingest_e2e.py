"""Ingest on the real stack: Mosquitto (broker-enforced identity) -> gateway -> Kafka."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from ingest.exceptions import IngestError
from ingest.mqtt_fleet import MqttFleet
from ingest.payload import device_topic
from ingest.topics import create_topics, topic_specs
from tests.ingest.ingest_stack import IngestRun, utc

pytestmark = pytest.mark.integration


def _dumps(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def test_valid_samples_reach_vitals_attributed_and_each_invalid_kind_reaches_the_dlq(
    ingest_run: IngestRun,
) -> None:
    now = time.time()
    devices = {f"{ingest_run.settings.topic_prefix}w{i:03d}": f"pat-{i:03d}" for i in range(100)}
    creds = ingest_run.enroll(devices, since=utc(now - 86400))
    ghost = f"{ingest_run.settings.topic_prefix}ghost"
    ingest_run.broker_only_account(ghost, "ghost-password")
    creds[ghost] = "ghost-password"
    ingest_run.start_gateway()
    fleet = MqttFleet(ingest_run.settings.mqtt_host, ingest_run.settings.mqtt_port, creds)
    fleet.connect()

    messages: list[tuple[str, bytes]] = []
    expected = set()
    for device, patient in devices.items():
        for m in range(10):
            batch = [{"ts": now - 3600 + m * 10 + s, "hr": 60 + s, "spo2": 97} for s in range(10)]
            expected |= {(patient, x["ts"]) for x in batch}
            messages.append((device, _dumps({"samples": batch})))
    names = list(devices)
    t = now - 60
    invalid: dict[str, tuple[int, Callable[[], bytes]]] = {
        "bad_json": (60, lambda: b'{"ts": %d, "hr": 7' % t),
        "wrong_type": (60, lambda: _dumps({"ts": t, "hr": "seventy"})),
        "not_finite": (60, lambda: b'{"ts": %d, "hr": NaN}' % t),
        "out_of_range": (60, lambda: _dumps({"ts": t, "hr": 400})),
        "ts_in_future": (60, lambda: _dumps({"ts": now + 900, "hr": 70})),
        "missing_ts": (60, lambda: _dumps({"hr": 70})),
        "not_enrolled": (35, lambda: _dumps({"ts": now - 3 * 86400, "hr": 70})),
        "bad_batch": (35, lambda: _dumps({"samples": []})),
        "oversize": (20, lambda: _dumps({"ts": t, "hr": 70, "pad": "x" * 300_000})),
    }
    for count, make in invalid.values():
        messages += [(names[i % len(names)], make()) for i in range(count)]
    messages += [(ghost, _dumps({"ts": t, "hr": 70}))] * 50
    random.Random(4).shuffle(messages)
    for device, payload in messages:
        fleet.publish(device, payload)
    assert fleet.wait_acked(120) and fleet.denied == 0
    fleet.close()

    got = ingest_run.collect(
        lambda c: len(c.samples) >= 10_000 and len(c.dead) >= 500, timeout=120, settle=2
    )
    assert len(got.samples) == 10_000
    assert {(s.patient_id, s.ts) for s in got.samples} == expected
    assert all(key.decode() == s.patient_id for key, batch in got.vitals for s in batch)
    assert all(devices[s.device_id] == s.patient_id for s in got.samples)
    reasons = Counter(d.reason for d in got.dead)
    assert reasons == Counter({r: c for r, (c, _) in invalid.items()} | {"unknown_device": 50})
    assert all(d.device_id and d.topic == device_topic(d.device_id) for d in got.dead)
    assert all(d.received_at.endswith("Z") and d.payload for d in got.dead)
    # Each sample an enrolled device sent that failed validation is also a notice for its
    # patient's detection (no values); message-level refusals and not_enrolled are not.
    per_sample = ("wrong_type", "not_finite", "out_of_range", "ts_in_future", "missing_ts")
    assert Counter(n.reason for _, n in got.notices) == Counter(
        {r: invalid[r][0] for r in per_sample}
    )
    assert all(key.decode() == n.patient_id == devices[n.device_id] for key, n in got.notices)
    assert all(n.ts is None for _, n in got.notices if n.reason == "missing_ts")
    gateway = ingest_run.gateways[0]
    assert gateway.metric("vigil_gateway_samples_produced_total") == 10_000
    assert gateway.terminate() == 0
    assert any("drained: complete" in line for line in gateway.lines)


def test_sigkilled_gateway_restarts_and_loses_no_sample(ingest_run: IngestRun) -> None:
    now = time.time()
    devices = {f"{ingest_run.settings.topic_prefix}w{i:02d}": f"pat-{i:02d}" for i in range(20)}
    creds = ingest_run.enroll(devices, since=utc(now - 86400))
    gateway = ingest_run.start_gateway()
    fleet = MqttFleet(ingest_run.settings.mqtt_host, ingest_run.settings.mqtt_port, creds)
    fleet.connect()
    expected = set()
    plan = []
    for m in range(100):
        for device, patient in devices.items():
            batch = [{"ts": now - 3600 + m * 5 + s, "hr": 70} for s in range(5)]
            expected |= {(patient, x["ts"]) for x in batch}
            plan.append((device, _dumps({"samples": batch})))

    def publish() -> None:
        for i, (device, payload) in enumerate(plan):
            fleet.publish(device, payload)
            if i % 100 == 99:
                time.sleep(0.02)  # a stream, not one burst: the kill lands mid-way

    publisher = threading.Thread(target=publish)
    publisher.start()
    deadline = time.monotonic() + 60
    while (acked := gateway.metric("vigil_gateway_messages_acked_total")) < 300:
        assert time.monotonic() < deadline, "gateway never got going"
        time.sleep(0.01)
    gateway.kill()
    assert acked < len(plan), "the kill must land mid-stream"
    time.sleep(0.5)
    restarted = ingest_run.start_gateway()
    publisher.join(60)
    assert fleet.wait_acked(60)
    fleet.close()

    got = ingest_run.collect(
        lambda c: {(s.patient_id, s.ts) for s in c.samples} >= expected, timeout=120
    )
    assert {(s.patient_id, s.ts) for s in got.samples} == expected
    assert len(got.samples) >= len(expected)  # at least once: duplicates allowed
    assert any("session present: True" in line for line in restarted.lines)
    assert not got.dead


def test_a_device_cannot_write_another_devices_vitals(ingest_run: IngestRun) -> None:
    now = time.time()
    prefix = ingest_run.settings.topic_prefix
    a, b, c = f"{prefix}dev-a", f"{prefix}dev-b", f"{prefix}dev-c"
    creds = ingest_run.enroll({a: "pat-a", b: "pat-b", c: "pat-c"}, since=utc(now - 86400))
    ingest_run.registry.revoke_device(c)
    ingest_run.sync.sync(ingest_run.registry.broker_credentials())
    ingest_run.start_gateway()

    with pytest.raises(IngestError):  # a revoked device cannot even connect
        MqttFleet(
            ingest_run.settings.mqtt_host, ingest_run.settings.mqtt_port, {c: creds[c]}
        ).connect(timeout=3)
    fleet = MqttFleet(
        ingest_run.settings.mqtt_host, ingest_run.settings.mqtt_port, {a: creds[a], b: creds[b]}
    )
    fleet.connect()
    fleet.publish(a, _dumps({"ts": now - 5, "hr": 99}), topic=device_topic(b))
    assert fleet.wait_acked(10)
    assert fleet.denied == 1  # MQTT 5: the broker's PUBACK says "not authorized"
    fleet.publish(b, _dumps({"ts": now - 1, "hr": 60}))  # sentinel: later than A's attempt
    assert fleet.wait_acked(10)
    fleet.close()

    got = ingest_run.collect(lambda col: len(col.samples) >= 1, timeout=60, settle=1)
    assert [(s.patient_id, s.device_id, s.hr) for s in got.samples] == [("pat-b", b, 60.0)]
    assert not got.dead


def test_simulated_fleet_enrols_and_streams_through_mqtt(ingest_run: IngestRun) -> None:
    from vigil.cli import app

    ingest_run.start_gateway()
    prefix = ingest_run.settings.topic_prefix
    result = CliRunner(env=ingest_run.env).invoke(
        app,
        [
            "simulate",
            "--mqtt",
            f"{ingest_run.settings.mqtt_host}:{ingest_run.settings.mqtt_port}",
            "--patients",
            "3",
            "--duration",
            "30m",
            "--rate",
            "0.0333334",
            "--speed",
            "0",
            "--batch-seconds",
            "300",
            "--enroll",
            "--id-prefix",
            prefix,
        ],
    )
    assert result.exit_code == 0, result.output
    sent = int(result.output.split("(")[1].split()[0])
    assert sent > 100
    got = ingest_run.collect(lambda c: len(c.samples) + len(c.dead) >= sent, timeout=60, settle=1)
    assert len(got.samples) + len(got.dead) == sent
    assert {s.patient_id for s in got.samples} == {f"{prefix}p{i:04d}" for i in range(1, 4)}
    assert all(s.device_id.startswith(prefix) for s in got.samples)


def test_topic_creation_is_idempotent(ingest_run: IngestRun) -> None:
    specs = topic_specs(ingest_run.topics, vitals_partitions=3)
    result = create_topics(ingest_run.settings.kafka_bootstrap, specs)
    assert set(result.values()) == {"exists"}
    # The stream worker's per-minute topics are made with the rest.
    assert {ingest_run.topics.vitals_1m, ingest_run.topics.news2} <= set(result)

"""Smoke tests against the real local stack started by deploy/local/stack.

Each test talks to a real service on 127.0.0.1 with the client library the
application uses, and uses unique topic / measurement names so runs (and
other engineers' tests on the same stack) never see each other's data.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import secrets
import shutil
import signal
import stat
import subprocess
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from influxdb_client import InfluxDBClient, Point
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

# kafka-python 3.0 loads its protocol schemas with the deprecated
# importlib.resources.read_text/open_text (DeprecationWarning; pytest runs with
# filterwarnings=error). Not ours to fix: silence exactly that message.
_KAFKA_READ_TEXT = r"(read|open)_(text|binary) is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", _KAFKA_READ_TEXT, DeprecationWarning)
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings(f"ignore:{_KAFKA_READ_TEXT}:DeprecationWarning"),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
STACK = REPO_ROOT / "deploy" / "local" / "stack"

WAIT_S = 20.0


def run_stack(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STACK), *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# ------------------------------------------------------------------ stack --
def test_status_names_versions_and_all_healthy(stack_env: dict[str, str]) -> None:
    result = run_stack("status", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^kafka\s+Kafka 4\.\d+\.\d+\s+pid \d+\s+healthy", out, re.M), out
    assert re.search(r"^mosquitto\s+Mosquitto 2\.\d+\.\d+\s+pid \d+\s+healthy", out, re.M), out
    assert re.search(r"^influxdb\s+InfluxDB 2\.\d+\.\d+\s+pid \d+\s+healthy", out, re.M), out


def test_env_exports_everything_clients_need(stack_env: dict[str, str]) -> None:
    for key in (
        "VIGIL_KAFKA_BOOTSTRAP",
        "VIGIL_MQTT_HOST",
        "VIGIL_MQTT_PORT",
        "VIGIL_MQTT_USERNAME",
        "VIGIL_MQTT_PASSWORD",
        "VIGIL_MQTT_PASSWORD_FILE",
        "VIGIL_MQTT_ACL_FILE",
        "VIGIL_MQTT_PID_FILE",
        "VIGIL_INFLUX_URL",
        "VIGIL_INFLUX_TOKEN",
        "VIGIL_INFLUX_ORG",
        "VIGIL_INFLUX_BUCKET",
    ):
        assert stack_env.get(key), f"{key} missing from `stack env`"
        assert os.environ[key] == stack_env[key]
    assert stack_env["VIGIL_MQTT_USERNAME"] == "vigil-gateway"
    assert stack_env["VIGIL_KAFKA_BOOTSTRAP"].startswith("127.0.0.1:")
    # Secrets live outside the repo and are private to the user.
    pw_file = Path(stack_env["VIGIL_MQTT_PASSWORD_FILE"])
    assert REPO_ROOT not in pw_file.parents
    assert stat.S_IMODE(pw_file.stat().st_mode) & 0o077 == 0
    pid = int(Path(stack_env["VIGIL_MQTT_PID_FILE"]).read_text().strip())
    assert Path(f"/proc/{pid}").exists()


# ------------------------------------------------------------------ Kafka --
@pytest.fixture
def kafka_topic(stack_env: dict[str, str]) -> Iterator[str]:
    """A fresh single-partition topic (auto-create is off on the broker)."""
    admin = KafkaAdminClient(
        bootstrap_servers=stack_env["VIGIL_KAFKA_BOOTSTRAP"], client_id="vigil-test-admin"
    )
    name = unique("vigil-test")
    try:
        admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
        yield name
        admin.delete_topics([name])
    finally:
        admin.close()


def test_kafka_auto_create_is_disabled(stack_env: dict[str, str]) -> None:
    missing = unique("vigil-test-missing")
    consumer = KafkaConsumer(bootstrap_servers=stack_env["VIGIL_KAFKA_BOOTSTRAP"])
    admin = KafkaAdminClient(bootstrap_servers=stack_env["VIGIL_KAFKA_BOOTSTRAP"])
    try:
        # A metadata request for an unknown topic must not create it.
        assert not consumer.partitions_for_topic(missing)
        assert missing not in admin.list_topics()
    finally:
        consumer.close()
        admin.close()


def test_kafka_produce_consume_kafka_python(stack_env: dict[str, str], kafka_topic: str) -> None:
    bootstrap = stack_env["VIGIL_KAFKA_BOOTSTRAP"]
    sent = [f"vitals-{i}-{secrets.token_hex(4)}".encode() for i in range(5)]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for i, value in enumerate(sent):
            producer.send(kafka_topic, key=f"patient-{i}".encode(), value=value)
        producer.flush(timeout=WAIT_S)
    finally:
        producer.close()

    consumer = KafkaConsumer(
        kafka_topic,
        bootstrap_servers=bootstrap,
        group_id=unique("vigil-test-group"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=int(WAIT_S * 1000),
    )
    try:
        got = []
        for record in consumer:
            got.append(record.value)
            if len(got) == len(sent):
                break
    finally:
        consumer.close()
    assert got == sent


async def test_kafka_produce_consume_aiokafka(stack_env: dict[str, str], kafka_topic: str) -> None:
    bootstrap = stack_env["VIGIL_KAFKA_BOOTSTRAP"]
    sent = [f"hr-{i}-{secrets.token_hex(4)}".encode() for i in range(5)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in sent:
            await producer.send_and_wait(kafka_topic, value)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        kafka_topic,
        bootstrap_servers=bootstrap,
        group_id=unique("vigil-test-group"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    got: list[bytes] = []
    try:
        async with asyncio.timeout(WAIT_S):
            while len(got) < len(sent):
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    got.extend(r.value for r in records if r.value is not None)
    finally:
        await consumer.stop()
    assert got == sent


# ------------------------------------------------------------------- MQTT --
def _mqtt_client(client_id: str) -> mqtt.Client:
    return mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
    )


def _connect_result(
    stack_env: dict[str, str], username: str | None, password: str | None
) -> ReasonCode:
    """Connect once and return the CONNACK reason code (no retries)."""
    client = _mqtt_client(unique("vigil-test-probe"))
    if username is not None:
        client.username_pw_set(username, password)
    result: queue.Queue[ReasonCode] = queue.Queue()
    client.on_connect = lambda _c, _u, _f, rc, _p: result.put(rc)
    client.connect(stack_env["VIGIL_MQTT_HOST"], int(stack_env["VIGIL_MQTT_PORT"]))
    try:
        deadline = time.monotonic() + WAIT_S
        while result.empty() and time.monotonic() < deadline:
            client.loop(timeout=0.2)
        return result.get_nowait()
    finally:
        client.disconnect()  # closes the socket (already closed after a refusal)


@pytest.fixture
def device_credential(stack_env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """A temporary device account in the shared password file (removed after)."""
    passwd = shutil.which("mosquitto_passwd")
    assert passwd, "mosquitto_passwd not installed"
    pw_file = stack_env["VIGIL_MQTT_PASSWORD_FILE"]
    device_id = unique("test-device")
    password = secrets.token_hex(16)
    subprocess.run([passwd, "-b", pw_file, device_id, password], check=True)
    try:
        reload = run_stack("reload", "mosquitto", timeout=30)
        assert reload.returncode == 0, reload.stderr
        yield device_id, password
    finally:
        subprocess.run([passwd, "-D", pw_file, device_id], check=True)
        run_stack("reload", "mosquitto", timeout=30)
    # The service account must survive other writers of the file.
    assert "vigil-gateway:" in Path(pw_file).read_text()


class _Gateway:
    """A connected, subscribed service-account client collecting messages."""

    def __init__(self, stack_env: dict[str, str], topic_filter: str) -> None:
        self.received: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.granted: list[ReasonCode] = []
        subscribed = threading.Event()
        client = _mqtt_client(unique("vigil-test-gateway"))
        client.username_pw_set(stack_env["VIGIL_MQTT_USERNAME"], stack_env["VIGIL_MQTT_PASSWORD"])

        def on_connect(c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
            if not rc.is_failure:
                c.subscribe(topic_filter, qos=1)

        def on_subscribe(
            _c: object, _u: object, _m: int, rcs: list[ReasonCode], _p: object
        ) -> None:
            self.granted.extend(rcs)
            subscribed.set()

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = lambda _c, _u, msg: self.received.put((msg.topic, bytes(msg.payload)))
        client.connect(stack_env["VIGIL_MQTT_HOST"], int(stack_env["VIGIL_MQTT_PORT"]))
        client.loop_start()
        self.client = client
        if not subscribed.wait(WAIT_S):
            self.close()
            raise AssertionError(f"gateway got no SUBACK for {topic_filter}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_mqtt_gateway_receives_device_vitals(
    stack_env: dict[str, str], device_credential: tuple[str, str]
) -> None:
    device_id, device_pw = device_credential
    # The gateway account may subscribe plainly and via a shared subscription
    # (how several ingest workers split the load). Mosquitto delivers one copy
    # per client, so use one client per subscription style.
    plain = _Gateway(stack_env, "vigil/v1/devices/+/vitals")
    shared = _Gateway(stack_env, f"$share/{unique('vigil-test')}/vigil/v1/devices/+/vitals")
    try:
        for gw in (plain, shared):
            assert [rc.is_failure for rc in gw.granted] == [False], gw.granted

        device = _mqtt_client(device_id)
        device.username_pw_set(device_id, device_pw)
        device.connect(stack_env["VIGIL_MQTT_HOST"], int(stack_env["VIGIL_MQTT_PORT"]))
        device.loop_start()
        try:
            # Another device's topic: the ACL drops it silently (MQTT 3.1.1).
            spoof = device.publish("vigil/v1/devices/someone-else/vitals", b"spoof", qos=1)
            spoof.wait_for_publish(WAIT_S)
            payload = f'{{"hr": 72, "nonce": "{secrets.token_hex(4)}"}}'.encode()
            own_topic = f"vigil/v1/devices/{device_id}/vitals"
            own = device.publish(own_topic, payload, qos=1)
            own.wait_for_publish(WAIT_S)
            assert own.is_published()
        finally:
            device.disconnect()
            device.loop_stop()

        for gw in (plain, shared):
            assert gw.received.get(timeout=WAIT_S) == (own_topic, payload)
        time.sleep(0.5)  # the spoof, had it been let through, would have arrived first
        for gw in (plain, shared):
            assert gw.received.empty(), f"unexpected message: {gw.received.get_nowait()}"
    finally:
        plain.close()
        shared.close()


def test_mqtt_refuses_anonymous(stack_env: dict[str, str]) -> None:
    rc = _connect_result(stack_env, None, None)
    assert rc.is_failure, rc


def test_mqtt_refuses_wrong_password(stack_env: dict[str, str]) -> None:
    rc = _connect_result(stack_env, stack_env["VIGIL_MQTT_USERNAME"], "not-the-password")
    assert rc.is_failure, rc
    ok = _connect_result(
        stack_env, stack_env["VIGIL_MQTT_USERNAME"], stack_env["VIGIL_MQTT_PASSWORD"]
    )
    assert not ok.is_failure, ok


# Runs in the one sequential `make test` session; the broker is back (new pid) when it ends.
@pytest.mark.slow
def test_mosquitto_is_restarted_after_a_crash(stack_env: dict[str, str]) -> None:
    pid_file = Path(stack_env["VIGIL_MQTT_PID_FILE"])
    crashed = int(pid_file.read_text())
    os.kill(crashed, signal.SIGSEGV)  # what Debian's 2.0.11 once did by itself mid-run
    user, password = stack_env["VIGIL_MQTT_USERNAME"], stack_env["VIGIL_MQTT_PASSWORD"]
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            restarted = int(pid_file.read_text()) != crashed
            if restarted and not _connect_result(stack_env, user, password).is_failure:
                break
        except (OSError, ValueError):  # pid file being rewritten, broker not listening yet
            pass
        assert time.monotonic() < deadline, "mosquitto was not restarted after a crash"
        time.sleep(0.2)
    log = (pid_file.parent / "stdout.log").read_text()
    assert "mosquitto killed by signal 11; restarting it" in log
    assert run_stack("status", timeout=60).returncode == 0


def test_mosquitto_stop_is_not_undone_by_its_supervisor(stack_env: dict[str, str]) -> None:
    assert run_stack("stop", "mosquitto", timeout=60).returncode == 0
    try:
        time.sleep(2.0)  # a supervisor that mistook the stop for a crash restarts within 1 s
        status = run_stack("status", timeout=60)
        assert re.search(r"^mosquitto\s.*\sdown\s", status.stdout, re.M), status.stdout
    finally:
        start = run_stack("start", "mosquitto", timeout=120)
    assert start.returncode == 0, start.stderr


# --------------------------------------------------------------- InfluxDB --
def _influx(stack_env: dict[str, str]) -> InfluxDBClient:
    return InfluxDBClient(
        url=stack_env["VIGIL_INFLUX_URL"],
        token=stack_env["VIGIL_INFLUX_TOKEN"],
        org=stack_env["VIGIL_INFLUX_ORG"],
    )


def test_influx_write_and_flux_query_round_trip(stack_env: dict[str, str]) -> None:
    run_id = unique("run")
    bucket, org = stack_env["VIGIL_INFLUX_BUCKET"], stack_env["VIGIL_INFLUX_ORG"]
    with _influx(stack_env) as client:
        assert client.ping()
        with client.write_api(write_options=SYNCHRONOUS) as write_api:
            write_api.write(
                bucket=bucket,
                record=[
                    Point("vitals_test").tag("run", run_id).tag("patient", "p1").field("hr", 71.0),
                    Point("vitals_test")
                    .tag("run", run_id)
                    .tag("patient", "p1")
                    .field("spo2", 97.0),
                ],
            )
        flux = f"""
            from(bucket: "{bucket}")
              |> range(start: -10m)
              |> filter(fn: (r) => r._measurement == "vitals_test" and r.run == "{run_id}")
              |> sort(columns: ["_field"])
        """
        tables = client.query_api().query(flux, org=org)
        rows = [(r.get_field(), r.get_value(), r.values["patient"]) for t in tables for r in t]
    assert rows == [("hr", 71.0, "p1"), ("spo2", 97.0, "p1")]


def test_influx_rejects_missing_token(stack_env: dict[str, str]) -> None:
    with InfluxDBClient(url=stack_env["VIGIL_INFLUX_URL"], token="wrong", org="vigil") as client:
        with pytest.raises(ApiException) as excinfo:
            client.query_api().query("buckets() |> limit(n: 1)")
    assert excinfo.value.status == 401


# Runs in the one sequential `make test` session; it ends with InfluxDB back up for later tests.
@pytest.mark.slow
def test_influx_data_survives_restart(stack_env: dict[str, str]) -> None:
    run_id = unique("restart")
    with _influx(stack_env) as client, client.write_api(write_options=SYNCHRONOUS) as w:
        w.write(
            stack_env["VIGIL_INFLUX_BUCKET"],
            record=Point("restart_test").tag("run", run_id).field("v", 1.0),
        )
    assert run_stack("stop", "influxdb", timeout=60).returncode == 0
    assert run_stack("status", timeout=60).returncode != 0
    start = run_stack("start", "influxdb", timeout=180)
    assert start.returncode == 0, start.stderr
    with _influx(stack_env) as client:
        flux = (
            f'from(bucket: "{stack_env["VIGIL_INFLUX_BUCKET"]}") |> range(start: -1h)'
            f' |> filter(fn: (r) => r._measurement == "restart_test" and r.run == "{run_id}")'
        )
        values = [r.get_value() for t in client.query_api().query(flux) for r in t]
    assert values == [1.0]

"""Ingest throughput: samples/s through one `vigil gateway` process, vs a bare paho subscriber.

Run on the local stack (`deploy/local/stack up`):

    .venv/bin/python bench/ingest.py [--devices 20] [--messages-b1 20000] [--messages-b10 4000]

For each batch size (1 and 10 samples per MQTT message) the script

1. publishes a backlog of QoS 1 messages from N enrolled devices (own credentials, own topics)
   into a persistent session that is subscribed but offline, then
2. brings the consumer online and times how fast it drains the backlog:
   - **bare paho**: a paho-mqtt 2 client on a shared subscription, QoS 1, automatic PUBACK,
     doing nothing with the payload: the ceiling for any Python MQTT consumer on this box;
   - **gateway**: a `vigil gateway` subprocess (decode, validate, attribute, encode, produce
     to Kafka with acks=all, PUBACK only after Kafka acked), timed from its first
     acknowledged message to its last through its Prometheus counters.

The rate is samples/s between the first and the last acknowledged message, so process start
and connection set-up are excluded for both. Mosquitto and Kafka run on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ingest.broker_auth import BrokerAuthSync  # noqa: E402
from ingest.mqtt_fleet import MqttFleet  # noqa: E402
from ingest.registry import Registry  # noqa: E402
from ingest.settings import IngestSettings  # noqa: E402
from ingest.topics import TopicNames, create_topics, topic_specs  # noqa: E402
from vigil.devstack import drop_scratch_topics, stack_env  # noqa: E402


def payloads(device: int, count: int, batch: int, now: float) -> list[bytes]:
    """Realistic wearable messages: `count` messages of `batch` samples, distinct ts."""
    out = []
    for m in range(count):
        samples = []
        for s in range(batch):
            i = m * batch + s
            samples.append(
                {
                    "ts": round(now - 86_000 + i * 0.5 + device * 1e-3, 3),
                    "hr": 60 + (i % 40),
                    "spo2": 94 + (i % 6),
                    "rr": 12 + (i % 8),
                    "temp": 36.5,
                    "motion": 0.05,
                    "quality": 0.9,
                }
            )
        doc = samples[0] if batch == 1 else {"samples": samples}
        out.append(json.dumps(doc, separators=(",", ":")).encode())
    return out


def publish_backlog(fleet: MqttFleet, devices: list[str], messages: int, batch: int) -> float:
    now = time.time()
    per_device = messages // len(devices)
    bodies = {d: payloads(k, per_device, batch, now) for k, d in enumerate(devices)}
    t0 = time.perf_counter()
    for i in range(per_device):
        for d in devices:
            fleet.publish(d, bodies[d][i])
    if not fleet.wait_acked(timeout=300):
        raise RuntimeError("broker did not acknowledge the backlog")
    return per_device * len(devices) / (time.perf_counter() - t0)


def bare_paho(env: dict[str, str], group: str, client_id: str, expected: int | None) -> float:
    """Connect a bare QoS 1 subscriber; with `expected`, drain that many messages and time it."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    from paho.mqtt.subscribeoptions import SubscribeOptions

    state = {"n": 0, "first": 0.0, "last": 0.0}
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(_c, _u, _m):  # type: ignore[no-untyped-def]
        now = time.perf_counter()
        if state["n"] == 0:
            state["first"] = now
        state["n"] += 1
        state["last"] = now
        if expected is not None and state["n"] >= expected:
            done.set()

    def on_connect(c, _u, _f, rc, _p):  # type: ignore[no-untyped-def]
        c.subscribe(f"$share/{group}/vigil/v1/devices/+/vitals", options=SubscribeOptions(qos=1))

    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
    )
    client.username_pw_set(env["VIGIL_MQTT_USERNAME"], env["VIGIL_MQTT_PASSWORD"])
    client.on_message = on_message
    client.on_connect = on_connect
    client.on_subscribe = lambda *a: subscribed.set()
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 600
    props.ReceiveMaximum = 1000
    client.connect(
        env["VIGIL_MQTT_HOST"], int(env["VIGIL_MQTT_PORT"]), clean_start=False, properties=props
    )
    client.loop_start()
    if expected is None:
        subscribed.wait(10)
        client.disconnect()
        client.loop_stop()
        return 0.0
    if not done.wait(300):
        raise RuntimeError(f"bare subscriber got {state['n']} of {expected}")
    client.disconnect()
    client.loop_stop()
    return (expected - 1) / (state["last"] - state["first"])


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()  # noqa: S310
    m = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def gateway_run(env: dict[str, str], expected: int | None, port: int) -> tuple[float, float]:
    """Start a gateway; with `expected`, time how fast it acks that many messages."""
    proc = subprocess.Popen(
        [str(REPO / ".venv/bin/vigil"), "gateway"],
        env={**os.environ, **env, "VIGIL_GATEWAY_METRICS_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in proc.stderr or ():
        if "subscribed" in line:
            break
    else:
        raise RuntimeError("gateway exited before subscribing")
    threading.Thread(target=proc.communicate, daemon=True).start()  # keep the pipe drained
    first = last = first_count = 0.0
    try:
        if expected is not None:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                acked = metric(port, "vigil_gateway_messages_acked_total")
                now = time.perf_counter()
                if acked and not first:
                    first, first_count = now, acked
                if acked >= expected:
                    last = now
                    break
                time.sleep(0.02)
            else:
                raise RuntimeError("gateway did not drain the backlog")
            produced = metric(port, "vigil_gateway_samples_produced_total")
            if last <= first:
                raise RuntimeError("backlog drained between two polls: raise the message count")
            rate = (expected - first_count) / (last - first)
            return rate, produced
        return 0.0, 0.0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--messages-b1", type=int, default=20_000)
    parser.add_argument("--messages-b10", type=int, default=4_000)
    parser.add_argument("--metrics-port", type=int, default=9311)
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    env = stack_env()
    work = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    env.update(
        VIGIL_TOPIC_PREFIX=f"bench-{run}.",
        VIGIL_REGISTRY_URL=f"sqlite:///{work / 'registry.sqlite3'}",
        VIGIL_MQTT_REGISTRY_SECTION=f"bench-{run}",
        VIGIL_GATEWAY_SESSION_EXPIRY_S="600",
    )
    settings = IngestSettings.model_validate({k[6:].lower(): v for k, v in env.items()})
    specs = topic_specs(
        TopicNames(settings.topic_prefix), vitals_partitions=settings.vitals_partitions
    )
    create_topics(settings.kafka_bootstrap, specs)
    registry = Registry(settings.registry_database_url)
    since = datetime(2020, 1, 1, tzinfo=UTC)
    creds = {}
    devices = [f"bench-{run}-w{i:03d}" for i in range(args.devices)]
    for d in devices:
        registry.add_patient(f"p-{d}")
        creds[d] = registry.add_device(d, f"p-{d}", since=since).password
    sync = BrokerAuthSync.from_settings(settings)
    if sync is None:
        raise SystemExit("VIGIL_MQTT_PASSWORD_FILE missing from `deploy/local/stack env`")
    sync.sync(registry.broker_credentials())
    fleet = MqttFleet(settings.mqtt_host, settings.mqtt_port, creds)
    fleet.connect()
    print(f"machine: {os.cpu_count()} cores; Mosquitto + Kafka on this box; {len(devices)} devices")
    results = {}
    try:
        for batch, messages in ((1, args.messages_b1), (10, args.messages_b10)):
            messages -= messages % len(devices)
            samples = messages * batch
            group = f"bench-paho-{run}-{batch}"
            bare_paho(env, group, group, None)  # create the session, then go offline
            pub = publish_backlog(fleet, devices, messages, batch)
            paho_rate = bare_paho(env, group, group, messages) * batch

            gw_env = {
                **env,
                "VIGIL_GATEWAY_CLIENT_ID": f"bench-gw-{run}-{batch}",
                "VIGIL_GATEWAY_SHARE_GROUP": f"bench-gw-{run}-{batch}",
            }
            gateway_run(gw_env, None, args.metrics_port)  # session exists, gateway stopped
            # The bare subscriber's group got a copy too; publish the gateway's backlog anew.
            publish_backlog(fleet, devices, messages, batch)
            gw_rate, produced = gateway_run(gw_env, messages, args.metrics_port)
            gw_rate *= batch
            results[batch] = (gw_rate, paho_rate)
            print(
                f"batch {batch:>2}: {messages} msgs / {samples} samples | publish {pub:,.0f} msg/s"
                f" | bare paho {paho_rate:,.0f} samples/s | gateway {gw_rate:,.0f} samples/s"
                f" (Kafka-acked; {int(produced)} produced) | ratio {gw_rate / paho_rate:.2f}"
            )
    finally:
        fleet.close()
        sync.sync({})  # drop the bench's device accounts from the broker
        drop_scratch_topics(settings.kafka_bootstrap, settings.topic_prefix)
    target = results[10][0]
    print(f"target >= 15,000 samples/s at batch 10: {'met' if target >= 15_000 else 'NOT met'}")


if __name__ == "__main__":
    main()

"""The demo's embedded broker enforces device identity like production Mosquitto does."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import AsyncIterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from ingest.registry import hash_password
from vigil.demo.broker import BrokerHooks, EmbeddedBroker, device_topic

SECRET = "correct-horse-battery-staple"
Running = tuple[EmbeddedBroker, list[tuple[str, str, bytes]]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def broker() -> AsyncIterator[Running]:
    received: list[tuple[str, str, bytes]] = []
    hooks = BrokerHooks(
        credentials=lambda: {"watch-1": hash_password(SECRET, iterations=10)},
        on_message=lambda device, topic, payload: received.append((device, topic, payload)),
    )
    async with EmbeddedBroker(hooks, port=free_port()) as b:
        yield b, received


def publish(port: int, username: str, password: str, topics: list[str]) -> ReasonCode:
    """Connect with paho (as a real device would), publish one message per topic, disconnect."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{username}")
    client.username_pw_set(username, password)
    connected = threading.Event()
    result: list[ReasonCode] = []

    def on_connect(
        c: mqtt.Client, userdata: object, flags: object, rc: ReasonCode, props: object
    ) -> None:
        result.append(rc)
        connected.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert connected.wait(5)
        if not result[0].is_failure:
            for topic in topics:
                client.publish(topic, b'{"ts": 1, "hr": 70}', qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()
    return result[0]


async def test_device_with_registry_secret_publishes_to_the_gateway(broker: Running) -> None:
    b, received = broker
    rc = await asyncio.to_thread(publish, b.port, "watch-1", SECRET, [device_topic("watch-1")])
    assert not rc.is_failure
    for _ in range(50):
        if received:
            break
        await asyncio.sleep(0.05)
    assert received == [("watch-1", "vigil/v1/devices/watch-1/vitals", b'{"ts": 1, "hr": 70}')]


async def test_device_cannot_publish_as_another_device(broker: Running) -> None:
    b, received = broker
    topics = [device_topic("watch-2"), "vigil/v1/other", device_topic("watch-1")]
    rc = await asyncio.to_thread(publish, b.port, "watch-1", SECRET, topics)
    assert not rc.is_failure
    for _ in range(50):
        if received:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    assert [topic for _, topic, _ in received] == [device_topic("watch-1")]


@pytest.mark.parametrize(("username", "password"), [("watch-1", "wrong"), ("stranger", SECRET)])
async def test_wrong_or_unknown_credentials_are_refused(
    broker: Running, username: str, password: str
) -> None:
    b, received = broker
    rc = await asyncio.to_thread(publish, b.port, username, password, [device_topic(username)])
    assert rc.is_failure
    assert received == []


async def test_a_port_probe_is_not_logged_as_an_error(
    broker: Running, caplog: pytest.LogCaptureFixture
) -> None:
    b, _ = broker
    caplog.set_level(logging.INFO)
    with socket.create_connection(("127.0.0.1", b.port)):
        pass  # connect and close without a packet, as `deploy/local/stack up` does
    await asyncio.sleep(0.3)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    # ... and a device that does speak MQTT still gets through
    assert not (await asyncio.to_thread(publish, b.port, "watch-1", SECRET, [])).is_failure

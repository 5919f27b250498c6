"""A fleet of simulated wearables publishing through real MQTT, one connection per device.

``vigil simulate --mqtt HOST:PORT`` streams a simulated cohort (:mod:`ingest.simulator`) the
way devices would: each device connects with its own credentials and publishes QoS 1 to its
own topic, one sample per message or ``--batch-seconds`` of samples per
``{"samples": [...]}`` message. Payloads carry no patient or device id (the gateway takes the
device from the topic and the patient from the registry). ``--enroll`` registers the patients
and devices first and pushes their credentials to the broker.

Pacing: with ``--speed X`` the cohort's simulated time runs X times faster than the wall
clock, and the cohort is placed so that its last sample is due when the run ends, so no
timestamp ever leads the wall clock (the gateway refuses samples more than five minutes in
the future). ``--speed 0`` publishes as fast as the broker takes it.

Examples
--------
>>> from ingest.simulator import SimRecord
>>> recs = [SimRecord(10.0, {"patient_id": "p1", "device_id": "w1", "ts": "t0", "hr": 70}),
...         SimRecord(11.0, {"patient_id": "p1", "device_id": "w1", "ts": "t1", "hr": 71}),
...         SimRecord(31.0, {"patient_id": "p1", "device_id": "w1", "ts": "t2", "hr": 72})]
>>> for m in device_messages(recs, batch_seconds=20):
...     print(m.device_id, m.samples, m.payload)
w1 2 b'{"samples":[{"ts":"t0","hr":70},{"ts":"t1","hr":71}]}'
w1 1 b'{"samples":[{"ts":"t2","hr":72}]}'
>>> next(device_messages(recs, batch_seconds=0, id_prefix="x-")).payload
b'{"ts":"t0","hr":70}'
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from ingest.exceptions import IngestError
from ingest.payload import MAX_BATCH_SAMPLES, device_topic

if TYPE_CHECKING:
    from ingest.settings import IngestSettings
    from ingest.simulator import CohortSpec, SimRecord

__all__ = [
    "FleetMessage",
    "FleetReport",
    "MqttFleet",
    "device_messages",
    "enroll_fleet",
    "parse_duration",
    "run_fleet",
]

logger = logging.getLogger(__name__)

_json = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class FleetMessage:
    """One MQTT message a device sends at simulated time ``send_at``."""

    send_at: float
    device_id: str
    payload: bytes
    samples: int


def device_messages(
    records: Iterable[SimRecord],
    *,
    batch_seconds: float = 0.0,
    id_prefix: str = "",
    max_batch: int = MAX_BATCH_SAMPLES,
) -> Iterator[FleetMessage]:
    """Turn a cohort stream into device messages, batching ``batch_seconds`` per device.

    A device's batch is sent when a sample arrives ``batch_seconds`` after the batch's first
    one (or at ``max_batch`` samples, or at the end of the stream).
    """
    pending: dict[str, tuple[float, list[dict[str, Any]]]] = {}
    for record in records:
        body = {k: v for k, v in record.payload.items() if k not in ("patient_id", "device_id")}
        device_id = id_prefix + str(record.payload["device_id"])
        if batch_seconds <= 0:
            yield FleetMessage(record.received_at, device_id, _json.encode(body), 1)
            continue
        started, batch = pending.get(device_id, (record.received_at, []))
        if batch and (record.received_at - started >= batch_seconds or len(batch) >= max_batch):
            yield _batch_message(record.received_at, device_id, batch)
            started, batch = record.received_at, []
        batch.append(body)
        pending[device_id] = (started, batch)
    for device_id, (started, batch) in pending.items():
        if batch:
            yield _batch_message(started + batch_seconds, device_id, batch)


def _batch_message(send_at: float, device_id: str, batch: list[dict[str, Any]]) -> FleetMessage:
    return FleetMessage(send_at, device_id, _json.encode({"samples": batch}), len(batch))


class MqttFleet:
    """MQTT connections of many devices, each with its own credentials (QoS 1 publishing).

    Parameters
    ----------
    host, port
        The broker.
    credentials
        ``{device_id: password}``; the device id is the MQTT username and client id.
    """

    def __init__(self, host: str, port: int, credentials: Mapping[str, str]) -> None:
        self.host = host
        self.port = port
        self.credentials = dict(credentials)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Condition()
        self._connected: set[str] = set()
        self._refused: dict[str, str] = {}
        self._unacked = 0
        self.published = 0
        self.denied = 0

    def connect(self, timeout: float = 30.0) -> None:
        """Connect every device; raise IngestError if some are still refused at ``timeout``.

        Refusals are retried: a broker that was just told to reload its password file may
        not have done it yet.
        """
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        for device_id, password in self.credentials.items():
            client = mqtt.Client(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=device_id,
                protocol=mqtt.MQTTv5,
                userdata=device_id,
            )
            client.username_pw_set(device_id, password)
            client.max_inflight_messages_set(100)
            client.max_queued_messages_set(0)
            client.reconnect_delay_set(min_delay=1, max_delay=2)
            client.on_connect = self._on_connect
            client.on_publish = self._on_publish
            client.connect_async(self.host, self.port, keepalive=60)
            client.loop_start()
            self._clients[device_id] = client
        deadline = time.monotonic() + timeout
        with self._lock:
            ok = self._lock.wait_for(
                lambda: len(self._connected) == len(self._clients),
                max(0.0, deadline - time.monotonic()),
            )
        if not ok:
            missing = sorted(set(self._clients) - self._connected)
            self.close()
            raise IngestError(
                f"{len(missing)} device(s) could not connect, e.g. {missing[:3]}: "
                f"{sorted(set(self._refused.values()))[:3]}"
            )

    def publish(self, device_id: str, payload: bytes, *, topic: str | None = None) -> None:
        """Publish ``payload`` QoS 1 on the device's topic (or ``topic``, to test the ACL)."""
        with self._lock:
            self._unacked += 1
        self._clients[device_id].publish(topic or device_topic(device_id), payload, qos=1)

    def wait_acked(self, timeout: float = 60.0) -> bool:
        """Wait until the broker acknowledged every published message."""
        with self._lock:
            return self._lock.wait_for(lambda: self._unacked == 0, timeout)

    def close(self) -> None:
        """Disconnect every device."""
        for client in self._clients.values():
            client.disconnect()
            client.loop_stop()
        self._clients.clear()

    def _on_connect(
        self, _client: Any, device_id: str, _flags: Any, reason_code: Any, _props: Any
    ) -> None:
        with self._lock:
            if reason_code.is_failure:
                self._refused[device_id] = str(reason_code)
            else:
                self._connected.add(device_id)
                self._refused.pop(device_id, None)
            self._lock.notify_all()

    def _on_publish(
        self, _client: Any, _device_id: str, _mid: int, reason_code: Any, _props: Any
    ) -> None:
        with self._lock:
            self._unacked -= 1
            self.published += 1
            if reason_code.is_failure:  # MQTT 5: the broker's ACL said no
                self.denied += 1
            self._lock.notify_all()


@dataclass(frozen=True)
class FleetReport:
    """What a fleet run sent."""

    devices: int
    messages: int
    samples: int
    denied: int
    seconds: float


def run_fleet(
    spec: CohortSpec,
    *,
    speed: float,
    host: str | None = None,
    port: int | None = None,
    batch_seconds: float = 0.0,
    enroll: bool = False,
    id_prefix: str = "",
    credentials_file: Path | None = None,
    settings: IngestSettings | None = None,
) -> FleetReport:
    """Publish a simulated cohort through MQTT (see the module docstring).

    Credentials come from ``enroll`` (registered now; saved to ``credentials_file`` when
    given) or from ``credentials_file`` (a JSON ``{device_id: password}`` of an earlier run).
    """
    from ingest.settings import get_ingest_settings
    from ingest.simulator import simulate_cohort

    settings = get_ingest_settings() if settings is None else settings
    host = settings.mqtt_host if host is None else host
    port = settings.mqtt_port if port is None else port
    duration = spec.days * 86400.0
    if speed > 0:
        # Place the cohort so its last sample is due as the run ends: ts never lead the clock.
        spec = dataclasses.replace(spec, start=time.time() - duration + duration / speed)
    cohort = simulate_cohort(spec)
    pairs = {id_prefix + p.device_id: id_prefix + p.patient_id for p in cohort.patients}
    if enroll:
        credentials = enroll_fleet(pairs, since=spec.start - 86400.0, settings=settings)
        if credentials_file is not None:
            credentials_file.write_text(json.dumps(credentials, indent=1))
            credentials_file.chmod(0o600)
    elif credentials_file is not None:
        credentials = json.loads(credentials_file.read_text())
    else:
        raise IngestError("give --enroll or --credentials FILE: devices need MQTT credentials")
    fleet = MqttFleet(host, port, {d: credentials[d] for d in pairs})
    fleet.connect()
    t0 = time.monotonic()
    messages = samples = 0
    try:
        for message in device_messages(
            cohort.records(), batch_seconds=batch_seconds, id_prefix=id_prefix
        ):
            if speed > 0:
                delay = (message.send_at - spec.start) / speed - (time.monotonic() - t0)
                if delay > 0:
                    time.sleep(delay)
            fleet.publish(message.device_id, message.payload)
            messages += 1
            samples += message.samples
        fleet.wait_acked()
    finally:
        fleet.close()
    report = FleetReport(len(pairs), messages, samples, fleet.denied, time.monotonic() - t0)
    logger.info(
        "fleet of %d devices sent %d messages (%d samples) in %.1f s",
        report.devices,
        report.messages,
        report.samples,
        report.seconds,
    )
    return report


def enroll_fleet(
    pairs: Mapping[str, str], *, since: float, settings: IngestSettings
) -> dict[str, str]:
    """Register ``{device_id: patient_id}`` (existing devices get new passwords); sync the broker.

    Returns ``{device_id: password}``.
    """
    from datetime import UTC, datetime

    from ingest.broker_auth import BrokerAuthSync
    from ingest.registry import Registry

    registry = Registry(settings.registry_database_url)
    start = datetime.fromtimestamp(since, UTC)
    credentials: dict[str, str] = {}
    known = {d.device_id for d in registry.list_devices()}
    for device_id, patient_id in pairs.items():
        if registry.get_patient(patient_id) is None:
            registry.add_patient(patient_id)
        if device_id in known:
            credentials[device_id] = registry.rotate_credentials(device_id).password
        else:
            credentials[device_id] = registry.add_device(
                device_id, patient_id, since=start
            ).password
    sync = BrokerAuthSync.from_settings(settings)
    if sync is None:
        logger.warning("VIGIL_MQTT_PASSWORD_FILE not set: the broker was not told about devices")
    else:
        sync.sync(registry.broker_credentials())
    registry.close()
    return credentials


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``30m``, ``2h`` or ``1.5d``.

    Examples
    --------
    >>> parse_duration("90"), parse_duration("30m"), parse_duration("1.5d")
    (90.0, 1800.0, 129600.0)
    """
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:]) if text else None
    try:
        value = float(text[:-1]) * unit if unit is not None else float(text)
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (e.g. 90s, 30m, 2h, 1d)") from None
    if not value > 0:
        raise ValueError(f"duration must be positive: {text!r}")
    return value

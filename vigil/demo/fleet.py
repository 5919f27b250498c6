"""The demo's simulated wearables: a seeded cohort published over MQTT on the simulated clock.

Each device connects to the broker with its own registry credentials (so the broker's
authentication and topic rules apply, exactly as for a real device) and publishes its samples
as JSON when the simulated clock reaches their receive time. Samples whose receive time is
already past when the fleet starts (the warm-up history) go out at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import msgspec
from amqtt.client import MQTTClient

from ingest.simulator import SimRecord
from vigil.demo.broker import device_topic
from vigil.demo.clock import SimClock

__all__ = ["Fleet", "FleetStats"]

logger = logging.getLogger(__name__)

#: Publish this many backlog messages before yielding to the event loop (keeps the API responsive).
_BURST = 200
#: Devices connecting at once.
_CONNECT_CONCURRENCY = 10


@dataclass
class FleetStats:
    """Counters shown by the demo's progress line."""

    connected: int = 0
    published: int = 0
    last_event_time: float = 0.0
    finished: bool = False


class Fleet:
    """Publish ``records`` (in receive order) from one MQTT connection per device.

    Parameters
    ----------
    records
        The cohort in receive order (:func:`ingest.simulator.iter_cohort`).
    clock
        The simulated clock that paces sending.
    passwords
        ``{device_id: secret}`` from the registry enrolment.
    broker_uri
        ``mqtt://host:port``.
    patient_id_for
        Maps the simulator's patient id to the registry's (the payload names the patient for
        humans; the gateway attributes samples by device enrolment).
    """

    def __init__(
        self,
        records: Iterable[SimRecord],
        clock: SimClock,
        passwords: Mapping[str, str],
        *,
        broker_uri: str,
        patient_id_for: Callable[[str], str] = str,
    ) -> None:
        self.records = records
        self.clock = clock
        self.passwords = dict(passwords)
        self.broker_uri = broker_uri
        self.patient_id_for = patient_id_for
        self.stats = FleetStats()
        #: Set once the warm-up backlog is sent and the fleet waits for the clock.
        self.caught_up = asyncio.Event()
        self._clients: dict[str, MQTTClient] = {}
        self._encoder = msgspec.json.Encoder()

    async def _connect(self, device_id: str) -> None:
        client = MQTTClient(client_id=device_id, config={"auto_reconnect": True, "keep_alive": 60})
        host = self.broker_uri.removeprefix("mqtt://")
        await client.connect(f"mqtt://{device_id}:{self.passwords[device_id]}@{host}/")
        self._clients[device_id] = client
        self.stats.connected += 1

    async def connect(self) -> None:
        """Connect every device (a few at a time)."""
        gate = asyncio.Semaphore(_CONNECT_CONCURRENCY)

        async def one(device_id: str) -> None:
            async with gate:
                await self._connect(device_id)

        await asyncio.gather(*(one(d) for d in self.passwords))
        logger.info("fleet: %d devices connected", len(self._clients))

    async def run(self) -> None:
        """Send every record when its time comes; returns when the cohort is exhausted."""
        if not self._clients:
            await self.connect()
        burst = 0
        for record in self.records:
            delay = self.clock.wall_delay(record.received_at)
            if delay > 0:
                self.caught_up.set()
                await asyncio.sleep(delay)
                burst = 0
            elif burst >= _BURST:
                await asyncio.sleep(0)
                burst = 0
            await self._publish(record)
            burst += 1
        self.caught_up.set()
        self.stats.finished = True
        logger.info("fleet: cohort finished after %d messages", self.stats.published)

    async def _publish(self, record: SimRecord) -> None:
        payload = dict(record.payload)
        device_id = str(payload["device_id"])
        client = self._clients.get(device_id)
        if client is None:
            return
        payload["patient_id"] = self.patient_id_for(str(payload["patient_id"]))
        await client.publish(device_topic(device_id), self._encoder.encode(payload), qos=0)
        self.stats.published += 1
        self.stats.last_event_time = record.received_at

    async def close(self) -> None:
        """Disconnect every device."""
        clients, self._clients = list(self._clients.values()), {}
        results = await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                logger.debug("fleet: disconnect failed: %r", result)

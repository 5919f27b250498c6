"""The production alert bus: alert records read from Kafka's ``vigil.alerts`` topic.

Every API process must see every alert (each serves its own SSE clients), so the consumer
joins no group: it is assigned all partitions itself and starts at the end of each, reading
only alerts produced after it started; history is what the REST list is for. Records that do
not decode are logged by partition and offset (never by content) and skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from alerts.model import Alert
from api.live import AlertBus

__all__ = ["KafkaAlertBus"]

logger = logging.getLogger(__name__)


class KafkaAlertBus(AlertBus):
    """Consume alert records from Kafka with aiokafka.

    Parameters
    ----------
    bootstrap
        Kafka bootstrap servers.
    topic
        The alerts topic (``vigil.alerts`` under the deployment's prefix).
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self._consumer: Any = None
        self.ready = asyncio.Event()

    async def start(self) -> None:
        """Connect, take every partition and position at its end.

        Raises
        ------
        RuntimeError
            If the topic does not exist (``vigil topics create`` makes it); the app retries.
        """
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,  # no group: this process is assigned every partition
            enable_auto_commit=False,
            auto_offset_reset="latest",
            client_id="vigil-api-alerts",
            fetch_max_wait_ms=100,
        )
        try:
            await consumer.start()
            if self.topic not in await consumer.topics():
                raise RuntimeError(f"topic {self.topic} does not exist")
            consumer.subscribe([self.topic])
            for _ in range(100):  # the assignment follows the subscription's metadata update
                assignment = consumer.assignment()
                if assignment:
                    break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"no partitions of {self.topic} were assigned")
            for tp in assignment:  # resolve the end offsets now: nothing after start() is missed
                await consumer.position(tp)
        except BaseException:
            await asyncio.shield(consumer.stop())
            raise
        self._consumer = consumer
        self.ready.set()
        logger.info("alert bus reading %s (%d partitions)", self.topic, len(assignment))

    async def probe(self) -> None:
        """Readiness: raise unless the consumer is connected and positioned."""
        if self._consumer is None or not self.ready.is_set():
            raise ConnectionError("alert bus not connected")

    async def stop(self) -> None:
        self.ready.clear()
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()

    async def alerts(self) -> AsyncIterator[Alert]:
        if self._consumer is None:
            raise RuntimeError("start() the bus first")
        consumer = self._consumer
        while self._consumer is not None:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            for tp, records in batches.items():
                for record in records:
                    try:
                        yield Alert.from_json(record.value)
                    except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError):
                        logger.warning(
                            "skipping undecodable alert at %s[%d]@%d",
                            tp.topic,
                            tp.partition,
                            record.offset,
                        )

"""Where the gateway's records go: a small face, a Kafka producer behind it, and a list.

:class:`RecordSink` is the seam between the gateway and Kafka. :class:`KafkaSink` is the real
thing (kafka-python, ``acks=all``, idempotent, lingering and compressing);
:class:`InMemorySink` keeps records in a list for unit tests, property tests and the embedded
demo. Delivery is reported through a callback, so the gateway can acknowledge an MQTT message
exactly when Kafka has every record it produced.

Examples
--------
>>> sink = InMemorySink()
>>> done = []
>>> sink.send("vigil.vitals", b"p1", b"...", done.append)
>>> sink.records, done
([('vigil.vitals', b'p1', b'...')], [None])
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from ingest.exceptions import IngestError

__all__ = ["DeliveryCallback", "InMemorySink", "KafkaSink", "RecordSink"]

logger = logging.getLogger(__name__)

#: Called once per record with ``None`` (durably stored) or the error that lost it.
DeliveryCallback = Callable[[BaseException | None], None]


class RecordSink(ABC):
    """Asynchronous record producer with per-record delivery callbacks."""

    @abstractmethod
    def send(
        self, topic: str, key: bytes | None, value: bytes, on_delivery: DeliveryCallback
    ) -> None:
        """Queue a record; ``on_delivery`` runs later, possibly on another thread."""

    @abstractmethod
    def flush(self, timeout: float | None = None) -> None:
        """Block until every queued record is delivered or failed."""

    @abstractmethod
    def close(self, timeout: float | None = None) -> None:
        """Flush and release resources."""


class InMemorySink(RecordSink):
    """Records kept in a list; delivered at once, or on :meth:`deliver` when ``manual``.

    ``fail_topics`` makes every record to those topics fail (to test the error path).
    """

    def __init__(self, *, manual: bool = False, fail_topics: frozenset[str] = frozenset()) -> None:
        self.records: list[tuple[str, bytes | None, bytes]] = []
        self.manual = manual
        self.fail_topics = fail_topics
        self._pending: list[tuple[str, DeliveryCallback]] = []
        self._lock = threading.Lock()

    def send(
        self, topic: str, key: bytes | None, value: bytes, on_delivery: DeliveryCallback
    ) -> None:
        with self._lock:
            self.records.append((topic, key, value))
            if self.manual:
                self._pending.append((topic, on_delivery))
                return
        on_delivery(self._outcome(topic))

    def deliver(self) -> int:
        """Complete every pending record (``manual`` mode); return how many."""
        with self._lock:
            pending, self._pending = self._pending, []
        for topic, callback in pending:
            callback(self._outcome(topic))
        return len(pending)

    def _outcome(self, topic: str) -> BaseException | None:
        return RuntimeError(f"simulated failure on {topic}") if topic in self.fail_topics else None

    def flush(self, timeout: float | None = None) -> None:
        self.deliver()

    def close(self, timeout: float | None = None) -> None:
        self.flush(timeout)


class KafkaSink(RecordSink):
    """kafka-python producer tuned for durable, batched ingest.

    ``acks='all'`` and idempotence make a record count as delivered only once every in-sync
    replica has it, without duplicates from producer retries; ``linger_ms`` and a large
    ``batch_size`` let many small records share one request; compression trades a little CPU
    for much less network and disk on highly repetitive vitals.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "vigil-gateway",
        linger_ms: int = 5,
        batch_size: int = 256 * 1024,
        compression: str | None = "gzip",
        delivery_timeout_ms: int = 120_000,
    ) -> None:
        from kafka import KafkaProducer

        self._producer: Any = KafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            max_in_flight_requests_per_connection=5,
            linger_ms=linger_ms,
            batch_size=batch_size,
            compression_type=None if compression in (None, "none") else compression,
            delivery_timeout_ms=delivery_timeout_ms,
            request_timeout_ms=min(30_000, delivery_timeout_ms),
            max_request_size=4 * 1024 * 1024,
            # Bounds how long send() waits for a topic's metadata (topics are created up
            # front; a missing one should fail fast, not stall the MQTT thread for a minute).
            max_block_ms=10_000,
        )

    def check_topics(self, topics: list[str]) -> None:
        """Raise IngestError unless every topic exists (Kafka auto-creation is off)."""
        from kafka.errors import KafkaError

        for topic in topics:
            try:
                partitions = self._producer.partitions_for(topic)
            except KafkaError as exc:
                partitions = None
                logger.debug("metadata for %s: %s", topic, exc)
            if not partitions:
                raise IngestError(f"Kafka topic {topic!r} missing: run `vigil topics create`")

    def send(
        self, topic: str, key: bytes | None, value: bytes, on_delivery: DeliveryCallback
    ) -> None:
        future = self._producer.send(topic, value=value, key=key)
        future.add_callback(lambda _metadata: on_delivery(None))
        future.add_errback(on_delivery)

    def flush(self, timeout: float | None = None) -> None:
        from kafka.errors import KafkaTimeoutError

        try:
            self._producer.flush(timeout=timeout)
        except KafkaTimeoutError:
            # the records are still pending, not failed: whoever waits on them decides
            # (a gateway's drain reports the timeout instead of dying with a traceback)
            logger.warning("Kafka flush timed out after %s s", timeout)

    def close(self, timeout: float | None = None) -> None:
        self._producer.close(timeout=timeout)

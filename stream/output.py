"""The worker's output producer: many small records, sent as a few batches per partition.

A backlog drain turns every sample into two or three output records (a rollup and a NEWS2
record per closed minute, sometimes an alert). Sent one by one through a producer, each costs
tens of microseconds in futures and bookkeeping; :class:`BatchProducer` partitions them
itself (Kafka's default partitioner, :func:`stream.partition.partition_for`, so keys land
where any other client would put them) and hands the broker one batch per topic-partition
per agent batch. Records keep their order within a partition.

:meth:`BatchProducer.flush` returns once everything sent so far is acknowledged
(``acks=all``, idempotent producer): the worker calls it before writing a checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from stream.exceptions import OutputError
from stream.partition import partition_for
from stream.processor import Out

__all__ = ["BatchProducer", "OutputError"]

logger = logging.getLogger(__name__)


class BatchProducer:
    """An aiokafka producer that sends :class:`~stream.processor.Out` records in batches.

    Parameters
    ----------
    bootstrap
        Kafka bootstrap servers.
    linger_ms, max_batch_size
        Producer tuning (see :class:`~stream.worker_settings.WorkerSettings`).
    """

    def __init__(self, bootstrap: str, *, linger_ms: int = 20, max_batch_size: int = 512 * 1024):
        self.bootstrap = bootstrap
        self.linger_ms = linger_ms
        self.max_batch_size = max_batch_size
        self.errors: list[BaseException] = []
        self.sent = 0
        self._producer: Any = None
        self._partitions: dict[str, int] = {}
        self._key_partition: dict[tuple[str, bytes], int] = {}
        self._round_robin = 0

    async def start(self) -> None:
        """Connect (idempotent producer, ``acks=all``)."""
        from aiokafka import AIOKafkaProducer

        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id="vigil-worker-out",
            acks="all",
            enable_idempotence=True,
            linger_ms=self.linger_ms,
            max_batch_size=self.max_batch_size,
        )
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and disconnect."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def send(self, records: Iterable[Out]) -> None:
        """Queue ``records`` for sending (returns once they are in the producer's buffers)."""
        groups: dict[tuple[str, int], list[Out]] = {}
        counts = self._partitions
        cache = self._key_partition
        for rec in records:
            topic, key = rec.topic, rec.key
            p = cache.get((topic, key)) if key is not None else None
            if p is None:
                n = counts.get(topic)
                if n is None:
                    n = counts[topic] = len(await self._producer.partitions_for(topic))
                if key is None:
                    self._round_robin += 1
                    p = self._round_robin % n
                else:
                    p = partition_for(key, n)
                    if len(cache) < 1_000_000:  # keys are patient ids: bounded in practice
                        cache[topic, key] = p
            group = groups.get((topic, p))
            if group is None:
                group = groups[topic, p] = []
            group.append(rec)
        producer = self._producer
        for (topic, p), recs in groups.items():
            batch = producer.create_batch()
            append = batch.append
            for rec in recs:
                if append(key=rec.key, value=rec.value, timestamp=None) is None:
                    await self._submit(batch, topic, p)
                    batch = producer.create_batch()
                    append = batch.append
                    append(key=rec.key, value=rec.value, timestamp=None)
            await self._submit(batch, topic, p)
            self.sent += len(recs)

    async def _submit(self, batch: Any, topic: str, partition: int) -> None:
        fut = await self._producer.send_batch(batch, topic, partition=partition)
        fut.add_done_callback(self._on_done)

    def _on_done(self, fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            exc = fut.exception()
            assert exc is not None  # noqa: S101 - narrowed for mypy
            self.errors.append(exc)

    async def flush(self) -> None:
        """Wait until everything sent so far is acknowledged; raise if anything failed.

        Raises
        ------
        OutputError
            A batch could not be delivered (the worker stops; its records will be
            re-processed from the last checkpoint by the next owner).
        """
        if self._producer is not None:
            await self._producer.flush()
        if self.errors:
            raise OutputError(f"{len(self.errors)} output batches failed: {self.errors[0]!r}")

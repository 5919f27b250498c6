"""``vigil sink``: Kafka -> store, in batches, committing offsets only after the store accepted.

Why a separate process and not a Faust agent in the worker. The sink's failure mode is the
opposite of the worker's: when InfluxDB is down, the worker must keep detecting (alerts keep
reaching ``vigil.alerts`` and webhooks), while the sink must *stop* - not commit, not read
ahead, hold at most one batch - and resume where it stopped. Faust commits on its own
cadence once an agent has consumed an event, so "commit only after InfluxDB said 204" would
fight the framework; a plain kafka-python consumer with ``enable_auto_commit=False`` says it
in ten lines. It also scales and restarts independently of detection, and it is the same
code whichever store it writes (InfluxDB in production, SQLite in the demo).

The loop (:meth:`Sink.step`):

1. poll up to ``batch_size`` records (waiting at most ``linger`` for a batch to fill) from
   ``vigil.alerts``, ``vigil.alert-events``, ``vigil.vitals.1m`` and ``vigil.news2``;
2. decode each; a record that does not decode goes to ``vigil.alerts.dlq`` (an
   :class:`ingest.encoding.DeadLetter` with the reason) and the sink carries on;
3. write the batch with :meth:`alerts.store.base.Store.write_batch`; while the store is
   unavailable, pause every assigned partition (so nothing more is fetched: memory stays at one
   batch), retry with exponential backoff (0.5 s doubling to ``backoff_max``), keep the group
   membership alive by polling the paused consumer;
4. wait for the dead letters to be acknowledged, commit the batch's offsets, resume.

Delivery is at-least-once and writes are idempotent (:mod:`alerts.store.schema`), so a crash
between write and commit - SIGKILL included - only rewrites the same points: exactly one
stored record per alert record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from alerts.backoff import backoff_delays
from alerts.exceptions import MalformedRecord, StoreError, StoreUnavailable
from alerts.records import Record, decode_record, to_batch
from alerts.store.base import Store, StoreBatch
from alerts.topics import SinkTopics
from ingest.encoding import dead_letter, encode_dead_letter

__all__ = ["Consumer", "Producer", "Sink", "SinkStats", "open_consumer", "open_producer"]

logger = logging.getLogger(__name__)

#: What a dead letter from the sink names as its source.
SOURCE: Final = "sink"


class ConsumerRecord(Protocol):
    """The parts of a kafka-python ``ConsumerRecord`` the sink reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class Consumer(Protocol):
    """The parts of kafka-python's ``KafkaConsumer`` the sink uses (a seam for unit tests)."""

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Any]]:
        """Fetch records by partition."""

    def pause(self, *partitions: Any) -> None:
        """Stop fetching these partitions."""

    def resume(self, *partitions: Any) -> None:
        """Fetch these partitions again."""

    def assignment(self) -> set[Any]:
        """Partitions currently assigned."""

    def seek(self, partition: Any, offset: int) -> None:
        """Move the fetch position."""

    def commit(self, offsets: dict[Any, Any] | None = None) -> None:
        """Commit offsets synchronously."""


class Producer(Protocol):
    """The parts of kafka-python's ``KafkaProducer`` used for dead letters."""

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        """Queue a record; returns a future with ``get(timeout)``."""

    def flush(self, timeout: float | None = None) -> None:
        """Wait for queued records."""


@dataclass
class SinkStats:
    """Counters since start (the CLI logs them; tests read them)."""

    batches: int = 0
    written: int = 0
    dead_letters: int = 0
    store_failures: int = 0
    commit_failures: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class Sink:
    """The consume-write-commit loop (see the module docstring).

    Parameters
    ----------
    store
        Where batches go.
    consumer
        A subscribed kafka-python ``KafkaConsumer`` (``enable_auto_commit=False``) or a fake.
    producer
        For dead letters.
    topics
        Topic names.
    batch_size
        Most records per write (and so most records held uncommitted).
    linger_s
        Longest wait for a batch to fill.
    backoff_max_s
        Cap of the retry delay while the store is unavailable.
    sleep, clock
        Seams for tests.
    """

    def __init__(
        self,
        store: Store,
        consumer: Consumer,
        producer: Producer,
        topics: SinkTopics,
        *,
        batch_size: int = 500,
        linger_s: float = 0.2,
        backoff_max_s: float = 15.0,
        on_written: Callable[[StoreBatch], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.consumer = consumer
        self.producer = producer
        self.topics = topics
        self.batch_size = batch_size
        self.linger_s = linger_s
        self.backoff_max_s = backoff_max_s
        self.on_written = on_written
        self.clock = clock
        self.stats = SinkStats()
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask :meth:`run` to return after the current batch."""
        self._stop.set()

    def run(self, *, report_every_s: float = 60.0) -> None:
        """Process batches until :meth:`stop`, logging the counters now and then."""
        last = self.clock()
        while not self._stop.is_set():
            self.step()
            if self.clock() - last >= report_every_s:
                last = self.clock()
                logger.info("sink: %s", self.stats)

    # -- one batch --------------------------------------------------------------------------

    def step(self) -> int:
        """Collect, write and commit one batch; return how many records it held."""
        items, offsets, letters, count = self._collect()
        if not count:
            return 0
        batch = to_batch(item for _, item in items)
        if items:
            outcome = self._write(batch)
            if outcome is None:
                return 0  # stopping while the store is down: nothing committed, all re-read
            if outcome is not True:
                # The store refused the batch as such (not an outage): find the records it
                # refuses one by one and dead-letter them, so one bad record cannot block all.
                split = self._write_each(items)
                if split is None:
                    return 0
                batch, refused = split
                letters += [(rec, "store_rejected", reason) for rec, reason in refused]
        self._send_dead_letters(letters)
        self._commit(offsets)
        self.stats.batches += 1
        self.stats.written += len(batch)
        for kind, n in (
            ("alerts", len(batch.alerts)),
            ("events", len(batch.events)),
            ("rollups", len(batch.rollups)),
            ("news2", len(batch.news2)),
        ):
            self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + n
        if self.on_written is not None and len(batch):
            self.on_written(batch)
        return count

    def _collect(
        self,
    ) -> tuple[list[tuple[Any, Record]], dict[Any, int], list[tuple[Any, str, str]], int]:
        items: list[tuple[Any, Record]] = []
        offsets: dict[Any, int] = {}
        letters: list[tuple[Any, str, str]] = []
        count = 0
        deadline = self.clock() + self.linger_s
        while count < self.batch_size and not self._stop.is_set():
            remaining_ms = max(0, int((deadline - self.clock()) * 1000))
            polled = self.consumer.poll(
                timeout_ms=remaining_ms, max_records=self.batch_size - count
            )
            for tp, records in polled.items():
                for rec in records:
                    count += 1
                    offsets[tp] = rec.offset + 1
                    try:
                        items.append((rec, decode_record(self.topics, rec.topic, rec.value)))
                    except MalformedRecord as exc:
                        letters.append((rec, exc.reason, exc.detail))
            if remaining_ms == 0:
                break
        return items, offsets, letters, count

    def _write(self, batch: StoreBatch) -> bool | StoreError | None:
        """Write until accepted (True), refused (the error) or asked to stop (None)."""
        paused: set[Any] = set()
        delays = iter(backoff_delays(0.5, self.backoff_max_s))
        try:
            while True:
                try:
                    self.store.write_batch(batch)
                    return True
                except StoreUnavailable as exc:
                    self.stats.store_failures += 1
                    delay = next(delays)
                    logger.warning(
                        "store unavailable (%s); holding %d records, retry in %.1fs",
                        exc,
                        len(batch),
                        delay,
                    )
                    if self._stop.is_set():
                        return None
                    self._hold(paused, delay)
                except StoreError as exc:
                    logger.error("store refused a batch of %d: %s", len(batch), exc)
                    return exc
        finally:
            if paused:
                self.consumer.resume(*paused)

    def _write_each(
        self, items: list[tuple[Any, Record]]
    ) -> tuple[StoreBatch, list[tuple[Any, str]]] | None:
        written: list[Record] = []
        refused: list[tuple[Any, str]] = []
        for rec, item in items:
            outcome = self._write(to_batch([item]))
            if outcome is True:
                written.append(item)
            elif outcome is None:
                return None  # stopping mid-way: nothing is committed
            else:
                refused.append((rec, str(outcome)))
        return to_batch(written), refused

    def _hold(self, paused: set[Any], delay: float) -> None:
        """Wait ``delay`` seconds with every partition paused, staying in the group."""
        end = self.clock() + delay
        while not self._stop.is_set():
            assigned = set(self.consumer.assignment())
            fresh = assigned - paused
            if fresh:
                self.consumer.pause(*fresh)
                paused |= fresh
            left = end - self.clock()
            if left <= 0:
                return
            polled = self.consumer.poll(timeout_ms=int(min(left, 1.0) * 1000), max_records=1)
            for tp, records in polled.items():
                # A partition assigned mid-outage delivered before we could pause it: rewind,
                # so these records are read again after the store is back.
                self.consumer.seek(tp, min(r.offset for r in records))
                self.consumer.pause(tp)
                paused.add(tp)

    def _send_dead_letters(self, letters: list[tuple[Any, str, str]]) -> None:
        if not letters:
            return
        futures = []
        for rec, reason, detail in letters:
            logger.warning(
                "dead letter from %s[%d]@%d: %s", rec.topic, rec.partition, rec.offset, reason
            )
            letter = dead_letter(
                reason=reason,
                detail=detail,
                source=SOURCE,
                topic=rec.topic,
                device_id=None,
                received_at=time.time(),
                payload=rec.value or b"",
            )
            futures.append(
                self.producer.send(self.topics.alerts_dlq, encode_dead_letter(letter), rec.key)
            )
        self.producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=30)  # raises if the DLQ did not take it: then nothing commits
        self.stats.dead_letters += len(letters)

    def _commit(self, offsets: dict[Any, int]) -> None:
        from kafka.errors import CommitFailedError, RebalanceInProgressError
        from kafka.structs import OffsetAndMetadata

        try:
            self.consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()})
        except (CommitFailedError, RebalanceInProgressError) as exc:
            # The group rebalanced (or is rebalancing: kafka-python 3 raises this one, and it
            # crashed the sink): whoever owns these partitions next re-reads the records and
            # rewrites the same points. Nothing is lost.
            self.stats.commit_failures += 1
            logger.warning("commit failed after a rebalance: %s", exc)


def open_consumer(bootstrap: str, group: str, topics: list[str], batch_size: int) -> Any:
    """A kafka-python consumer for the sink: manual commits, bounded fetch buffers."""
    from kafka import KafkaConsumer

    from ingest.topics import subscribe_when_known, wait_for_topics

    wait_for_topics(bootstrap, topics)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=f"{group}-sink",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch_size,
        # Bounded memory: what the fetcher may buffer ahead of the batch.
        fetch_max_bytes=4 * 1024 * 1024,
        max_partition_fetch_bytes=1024 * 1024,
        # An outage longer than this would otherwise count as a dead consumer.
        max_poll_interval_ms=600_000,
        # A crashed sink's partitions move to a restarted one within ~10 s, not Kafka's 45 s.
        session_timeout_ms=10_000,
    )
    subscribe_when_known(consumer, topics)
    return consumer


def open_producer(bootstrap: str) -> Any:
    """A kafka-python producer for dead letters (acks from all in-sync replicas)."""
    from kafka import KafkaProducer

    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)


def ensure_store(store: Store) -> None:
    """Create InfluxDB buckets when the store is InfluxDB (a no-op otherwise)."""
    ensure = getattr(store, "ensure_buckets", None)
    if ensure is None:
        return
    try:
        result = ensure()
        logger.info("buckets: %s", result)
    except StoreError:
        logger.warning("could not check buckets; writing anyway")

"""The Faust stream worker: ``vigil.vitals`` -> detection -> ``vigil.alerts``, rollups, DLQ.

``vigil worker`` runs :func:`run_worker`. One agent consumes ``vigil.vitals`` in batches
(``stream.noack_take``) and hands the raw records to :class:`~stream.processor.VitalsProcessor`
(decode, detect, build the records to produce). This module is the Kafka adapter around it:

- **Output.** Alerts (``Alert.to_json``, key ``patient_id``) to ``vigil.alerts``, per-minute
  rollups to ``vigil.vitals.1m`` and NEWS2 to ``vigil.news2``, undecodable records to
  ``vigil.vitals.dlq``; straight to the aiokafka producer, batched by ``producer_linger_ms``.
- **State.** Checkpoints go to the Faust table ``patient-state`` (RocksDB, changelog topic
  ``<app id>-patient-state-changelog``, created by Faust). A partition is checkpointed every
  ``checkpoint_every_samples`` samples of a patient or ``checkpoint_every_s`` seconds, when its
  partitions are revoked and at shutdown.
- **Offsets.** The worker commits the group's offsets itself, from its checkpoints: a
  partition's offset is committed once its checkpoint, and every record produced before it,
  are stored in Kafka, so the committed offset never passes the saved state
  (:mod:`stream.checkpoint` states the recovery contract). Records are never acknowledged to
  Faust, whose commits follow acknowledged offsets and stop for good at a gap (records
  dropped across a rebalance are never acknowledged).
- **Rebalances.** On revocation everything is checkpointed and committed and processing
  stops; on assignment, partitions whose in-memory state is still the table's are kept, the
  others are loaded from the table before their first record (Faust restores the table from
  the changelog first).
- **Contiguity.** Records Faust dropped are fetched again: :mod:`stream.worker_offsets`.
- **Settings.** Clinician overrides are followed live (:mod:`stream.config_feed`).
- **Scale-out.** Workers share the partitions through the consumer group; the web server is
  off and each process locks its own state directory, so several run on one host as they are.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import faust
from faust.streams import _current_event
from faust.transport.consumer import Consumer, ThreadDelegateConsumer
from faust.types import TP, EventT

from stream.checkpoint import decode, partition_key
from stream.config_feed import ConfigFeed
from stream.output import BatchProducer
from stream.processor import Out, OutputTopics, VitalsProcessor
from stream.state_slot import StateSlot
from stream.worker_offsets import OffsetGuard
from stream.worker_settings import WorkerSettings

__all__ = ["WorkerRuntime", "build_app", "run_worker"]

logger = logging.getLogger(__name__)

TABLE_NAME = "patient-state"


@contextmanager
def _in_event(event: EventT[Any]) -> Iterator[None]:
    # Faust's table store files a key under the partition of the "current event", a
    # context variable its stream sets per record. A checkpoint is written for one
    # partition at a time, outside that context: lend it a record of that partition.
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class WorkerRuntime:
    """The worker's Faust app and the state its agent and hooks share."""

    def __init__(self, settings: WorkerSettings, slot: StateSlot) -> None:
        self.settings = settings
        self.slot = slot
        self.topics = OutputTopics.for_prefix(settings.topic_prefix)
        self.processor = VitalsProcessor(
            self.topics,
            rollups=settings.worker_rollups,
            checkpoint_every_samples=settings.checkpoint_every_samples,
            checkpoint_every_s=settings.checkpoint_every_s,
        )
        self.configs = ConfigFeed(
            settings.kafka_bootstrap, settings.topics.patient_config, self.processor.set_config
        )
        self.lock = asyncio.Lock()
        self.assigned: set[int] = set()
        self.frozen = True  # until the first assignment
        self.check_owned = False
        #: Next offset of each owned partition's last stored checkpoint (what may be committed).
        self.saved_offset: dict[int, int] = {}
        #: What this worker committed per partition since its last assignment.
        self.committed: dict[int, int] = {}
        self._committed_at = 0.0
        self.last_event: dict[int, EventT[Any]] = {}
        self.guard = OffsetGuard()
        #: Monotonic time each owned partition last handled a record (or was restored).
        self.progress_at: dict[int, float] = {}
        self.out = BatchProducer(
            settings.kafka_bootstrap,
            linger_ms=settings.producer_linger_ms,
            max_batch_size=settings.producer_max_batch_size,
        )
        self._out_started = False
        self._ckpt_queue: asyncio.Queue[list[tuple[int, int, EventT[Any], Any]]] = asyncio.Queue()
        self._ckpt_writer: asyncio.Future[None] | None = None
        self._ckpt_error: BaseException | None = None
        self.app = self._build_app()

    # -- wiring --------------------------------------------------------------------------------

    def _build_app(self) -> faust.App:
        s = self.settings
        brokers = [f"kafka://{b.strip()}" for b in s.kafka_bootstrap.split(",") if b.strip()]
        app = faust.App(
            s.group_id,
            broker=brokers,
            store="rocksdb://",
            datadir=str(self.slot.path),
            autodiscover=False,
            web_enabled=s.worker_web_port > 0,
            web_port=s.worker_web_port or 6066,
            topic_allow_declare=True,  # the table's changelog topic; Kafka auto-create is off
            topic_disable_leader=True,
            topic_partitions=s.vitals_partitions,
            consumer_auto_offset_reset="earliest",
            stream_wait_empty=False,  # nothing is acknowledged: offsets follow checkpoints
            stream_buffer_maxsize=s.stream_buffer_maxsize,
            broker_commit_interval=s.commit_interval_s,
            broker_session_timeout=s.session_timeout_s,
            broker_heartbeat_interval=s.session_timeout_s / 4,
            consumer_max_fetch_size=4 * 1024 * 1024,
            producer_linger_ms=s.producer_linger_ms,
            producer_max_batch_size=s.producer_max_batch_size,
            producer_acks=-1,
        )
        self.vitals = app.topic(
            s.topics.vitals,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=s.vitals_partitions,
        )
        self.table = app.Table(  # bytes types: the "raw" serializer both ways
            TABLE_NAME, partitions=s.vitals_partitions, key_type=bytes, value_type=bytes
        )
        app.agent(self.vitals, name="detect")(self._agent)
        app.task(self.configs.run)
        app.timer(30.0)(self._log_stats)
        app.timer(1.0)(self._on_timer)
        app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]
        app.on_partitions_assigned.connect(self._on_assigned)  # type: ignore[arg-type]
        return app

    async def _agent(self, stream: faust.StreamT[Any]) -> None:
        s = self.settings
        # noack_take yields events, not values, and acknowledges none of them.
        batches = cast(faust.Stream[Any], stream).noack_take(s.take_max_records, s.take_within_s)
        async for items in batches:
            events = cast(Sequence[EventT[Any]], items)
            await self.configs.ready.wait()
            async with self.lock:
                await self._handle_batch(events)

    async def _log_stats(self) -> None:
        st = self.processor.stats
        logger.info(
            "worker: partitions %s, records %d, samples %d (%.0f samples/s), alerts %d, "
            "dead %d, skipped %d, checkpoints %d, turned back %d",
            sorted(self.processor.owned()), st.records, st.samples, st.rate(), st.alerts,
            st.dead, st.skipped, st.checkpoints, self.guard.rewinds,
        )  # fmt: skip

    # -- records -------------------------------------------------------------------------------

    async def _handle_batch(self, events: Sequence[EventT[Any]]) -> None:
        if self.frozen:
            return  # revoked: the new owner (maybe us again) starts at the committed offset
        generation = self.app.consumer_generation_id
        if self.check_owned:
            self._reconcile()
        if missing := self.assigned - self.saved_offset.keys():
            self._restore(missing)
        processor, now = self.processor, time.time()
        handle, check, pending = processor.handle, self.guard.check, self.guard.pending
        outs: list[Out] = []
        rewind: dict[int, int] = {}
        for event in events:
            message = event.message
            p = message.partition
            if message.generation_id != generation or p not in self.assigned:
                continue  # fetched before the last rebalance: fetched again after it
            offset, expected = message.offset, processor.next_offset(p)
            if rewind.get(p, offset) != offset:
                continue  # fetched before the seek back (the records fetched again mend it)
            if offset > expected or p in pending:
                if check(p, expected, offset, now=time.monotonic()) == "rewind":
                    rewind[p] = expected
                    continue
                rewind.pop(p, None)  # the records fetched again are here: no seek needed
            outs += handle(p, offset, message.key, message.value, now=now)
            self.last_event[p] = event
            self.progress_at[p] = now
        if rewind:
            await self._seek(rewind)
        await self._send(outs)
        if outs or events:
            processor.stats.last_at = time.time()  # the rate counts this batch's work too
        if self._ckpt_error is not None:
            raise self._ckpt_error
        self._checkpoint(processor.due(now))
        await self._commit_saved()

    async def _seek(self, offsets: dict[int, int]) -> None:
        tps = {TP(self.settings.topics.vitals, p): offset for p, offset in offsets.items()}
        try:  # seek_wait moves Faust's read offsets too, or it drops the records fetched again
            await cast(ThreadDelegateConsumer, self.app.consumer).seek_wait(tps)
        except Exception as exc:  # the next records are still ahead: the guard seeks again
            logger.warning("seek back to %s failed: %r", offsets, exc)

    async def _send(self, outs: list[Out]) -> None:
        if not self._out_started:
            await self.out.start()
            self._out_started = True
        if outs:
            await self.out.send(outs)

    def _reconcile(self) -> None:
        """After an assignment: keep partitions whose state is still the table's."""
        self.check_owned = False
        for p in self.processor.owned():
            stored = self.table.data.get(partition_key(p))
            offset = decode(stored).offset if stored is not None else 0
            keep = (
                p in self.assigned
                and self.processor.is_clean(p)
                and offset == self.processor.next_offset(p)
            )
            if not keep:
                self._forget(p)

    def _forget(self, p: int) -> None:
        self.processor.drop([p])
        self.guard.forget(p)
        self.progress_at.pop(p, None)
        self.saved_offset.pop(p, None)
        self.committed.pop(p, None)
        self.last_event.pop(p, None)

    def _restore(self, partitions: set[int]) -> None:
        items = ((bytes(k), bytes(v)) for k, v in self.table.items())
        self.processor.restore(partitions, items)
        now = time.time()
        for p in partitions:
            self.saved_offset[p] = self.processor.next_offset(p)
            # A partition none of whose records come (Faust dropped them) is idle from here.
            self.progress_at[p] = now

    # -- checkpoints ---------------------------------------------------------------------------

    def _checkpoint(self, partitions: list[int]) -> None:
        """Snapshot ``partitions`` now; store them in the background, in order."""
        if not partitions:
            return
        job = [
            (p, self.processor.next_offset(p), self.last_event[p], self.processor.checkpoint(p))
            for p in partitions
        ]
        self._ckpt_queue.put_nowait(job)
        if self._ckpt_writer is None or self._ckpt_writer.done():
            self._ckpt_writer = asyncio.ensure_future(self._write_checkpoints())

    async def _write_checkpoints(self) -> None:
        queue = self._ckpt_queue
        while True:
            job = await queue.get()
            try:
                # Everything produced before the snapshot must be in Kafka before the state.
                await self.out.flush()
                futures = []
                for p, _, event, records in job:
                    for key, value in records:
                        with _in_event(event):
                            self.table.data[key] = value
                        futures.append(self.table.send_changelog(p, key, value))
                await asyncio.gather(*futures)
                for p, offset, _, _ in job:
                    if p in self.saved_offset:
                        self.saved_offset[p] = max(self.saved_offset[p], offset)
            except Exception as exc:
                # Nothing more may be committed: stop the worker; whoever takes the
                # partitions resumes from the last stored checkpoint.
                logger.exception("checkpoint failed; stopping the worker")
                self._ckpt_error = exc
                await self.app.crash(exc)
            finally:
                queue.task_done()

    async def _checkpoints_stored(self) -> None:
        """Wait for the pending checkpoints; raise if one failed (the worker must stop)."""
        await self._ckpt_queue.join()
        if self._ckpt_error is not None:
            raise self._ckpt_error

    async def _on_timer(self) -> None:
        # Partitions that went quiet still get their checkpoint and their commit.
        async with self.lock:
            if not self.frozen:
                self._checkpoint(self.processor.due(time.time()))
                await self._commit_saved()
                await self._mend_idle()

    async def _mend_idle(self) -> None:
        """Seek back partitions whose fetch position passed records that never arrived.

        The offset guard notices dropped records when a later record comes; if the dropped
        ones were a partition's last, none comes. A partition that handled nothing for
        ``idle_check_s`` while the consumer's position is past its next offset is sought
        back (harmless if the records were merely slow: the processor skips duplicates).
        """
        now = time.time()
        idle = [
            p
            for p in sorted(self.assigned & self.saved_offset.keys())
            if now - self.progress_at.get(p, now) >= self.settings.idle_check_s
        ]
        if not idle:
            return
        topic = self.settings.topics.vitals
        behind: dict[int, int] = {}
        for p in idle:
            try:
                position = await self.app.consumer.position(TP(topic, p))
            except Exception as exc:  # noqa: BLE001 - retried on the next timer
                logger.warning("position of partition %d unknown: %r", p, exc)
                continue
            expected = self.processor.next_offset(p)
            if position is not None and position > expected:
                logger.warning(
                    "partition %d: fetched up to %d but handled up to %d; seeking back",
                    p, position, expected,
                )  # fmt: skip
                behind[p] = expected
            self.progress_at[p] = now  # check again after another idle period
        if behind:
            await self._seek(behind)

    async def _commit_saved(self, *, now: bool = False) -> None:
        """Commit the stored checkpoints' offsets (every ``commit_interval_s``, or ``now``).

        Called under :attr:`lock` while the assignment stands, so an offset is only ever
        committed by the partition's current owner.
        """
        clock = time.monotonic()
        if not now and clock - self._committed_at < self.settings.commit_interval_s:
            return
        self._committed_at = clock
        topic = self.settings.topics.vitals
        offsets = {
            TP(topic, p): offset
            for p, offset in self.saved_offset.items()
            if p in self.assigned and offset > self.committed.get(p, 0)
        }
        if not offsets:
            return
        try:
            # Faust's commit of explicit offsets: the consumer's own `commit()` only commits
            # offsets acknowledged in order, which this worker does not use (module docstring).
            consumer = cast(Consumer, self.app.consumer)
            done = await consumer._commit_offsets(offsets)  # noqa: SLF001
        except Exception as exc:  # a failed commit only means more records are skipped later
            logger.warning("offset commit failed: %r", exc)
            return
        if done:
            self.committed.update({tp.partition: offset for tp, offset in offsets.items()})

    async def checkpoint_all(self) -> None:
        """Checkpoint every partition with unsaved state or offsets, then commit."""
        # Due at any time: patients unsaved, or records (dead letters too) past the checkpoint.
        unsaved = self.processor.due(now=math.inf)
        self._checkpoint([p for p in sorted(unsaved) if p in self.last_event])
        await self._checkpoints_stored()
        await self._commit_saved(now=True)

    async def _on_revoked(self, sender: Any, revoked: set[Any], **_: Any) -> None:
        async with self.lock:
            if not self.frozen:
                await self.checkpoint_all()
            self.frozen = True

    async def _on_assigned(self, sender: Any, assigned: set[Any], **_: Any) -> None:
        vitals = self.settings.topics.vitals
        async with self.lock:
            self.assigned = {tp.partition for tp in assigned if tp.topic == vitals}
            for p in self.processor.owned() - self.assigned:
                self._forget(p)
            self.committed.clear()  # the group's offsets may have moved meanwhile
            self.check_owned = True
            self.frozen = False
            logger.info("assigned vitals partitions %s", sorted(self.assigned))

    async def shutdown(self) -> None:
        """Checkpoint before the app stops (called by the worker on SIGTERM/SIGINT)."""
        async with self.lock:
            if not self.frozen:
                await self.checkpoint_all()
            self.frozen = True
            await self.out.stop()
        await self._log_stats()


def build_app(settings: WorkerSettings) -> WorkerRuntime:
    """Build the worker (app, agent, table, hooks) in a freshly locked state slot."""
    slot = StateSlot.acquire(settings.state_root / settings.group_id)
    return WorkerRuntime(settings, slot)


class _Worker(faust.Worker):
    runtime: WorkerRuntime

    async def on_stop(self) -> None:
        # Before the app (a child service) stops its consumer and closes the table.
        try:
            await self.runtime.shutdown()
        except Exception:
            logger.exception("final checkpoint failed; the next owner re-processes more")
        await super().on_stop()


def run_worker(settings: WorkerSettings, *, loglevel: str = "info") -> None:
    """Run one worker until SIGTERM/SIGINT (``vigil worker``)."""
    from stream.worker_topics import ensure_topics

    ensure_topics(settings)
    runtime = build_app(settings)
    logger.info("worker state in %s", runtime.slot.path)
    worker = _Worker(runtime.app, loglevel=loglevel, quiet=True)
    worker.runtime = runtime
    worker.execute_from_commandline()

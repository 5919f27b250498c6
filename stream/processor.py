"""The stream worker's core: ``vigil.vitals`` records in, alerts, rollups and checkpoints out.

:class:`VitalsProcessor` is what the Faust agent (:mod:`stream.app`) calls, minus Kafka: it
takes raw records ``(partition, offset, key, value)``, decodes them, runs each sample through
its partition's :class:`~stream.partition.PartitionMonitor`, and returns the records to
produce. It decides when a partition is due for a checkpoint and builds it
(:mod:`stream.checkpoint` explains the recovery contract). Being pure, it runs the same in
unit tests, in the embedded demo and in the worker.

A record's rejection notices (samples the gateway refused, :mod:`ingest.encoding`) are noted
with :meth:`PartitionMonitor.note_rejected` at their place among its samples, so runs of
rejected data alert as in ``vigil replay``. A record that does not decode, or whose key is
not its patient, becomes a dead letter for ``vigil.vitals.dlq``; processing carries on.

Examples
--------
>>> from ingest.encoding import decode_dead_letter, encode_vitals
>>> from ingest.sample import Sample
>>> from stream.checkpoint import MemoryCheckpointStore
>>> topics = OutputTopics.for_prefix("")
>>> proc = VitalsProcessor(topics)
>>> proc.restore({0}, MemoryCheckpointStore().items())  # nothing saved yet: a fresh start
>>> value = encode_vitals([Sample("p1", "d1", 1.7e9 + 60 * i, hr=70.0) for i in range(3)],
...                       received_at=1.7e9)
>>> out = proc.handle(0, 0, b"p1", value, now=0.0)
>>> [o.topic for o in out]  # two minutes closed: their rollups and NEWS2
['vigil.vitals.1m', 'vigil.news2', 'vigil.vitals.1m', 'vigil.news2']
>>> [dead] = proc.handle(0, 1, b"p1", b"not msgpack", now=0.0)
>>> dead.topic, decode_dead_letter(dead.value).reason
('vigil.vitals.dlq', 'undecodable_record')
>>> proc.due(now=10.0)
[0]
>>> [k for k, _ in proc.checkpoint(0)]
[b'p1', b'\\x00partition:0']
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import msgspec

from alerts.model import Alert
from ingest.encoding import (
    VitalsRecord,
    WireSample,
    dead_letter,
    decode_vitals_record,
    encode_dead_letter,
)
from ingest.exceptions import WireFormatError
from ingest.sample import Sample
from stream.checkpoint import (
    PartitionCheckpoint,
    PatientCheckpoint,
    decode,
    encode,
    partition_key,
    patient_key,
)
from stream.detect.config import PatientConfig
from stream.exceptions import StateError
from stream.minutes import PatientMinutes
from stream.partition import PartitionMonitor
from stream.rollup import News2Record
from stream.rollup import encode as encode_rollup
from stream.worker_topics import OutputTopics

__all__ = ["OutputTopics", "Out", "ProcessorStats", "VitalsProcessor"]

logger = logging.getLogger(__name__)

#: What a dead letter from the worker names as its source.
SOURCE = "worker"


class Out(NamedTuple):
    """One record to produce."""

    topic: str
    key: bytes | None
    value: bytes


@dataclass
class ProcessorStats:
    """Counters since start (exported by the worker's log line)."""

    records: int = 0
    samples: int = 0
    #: Rejection notices noted (samples the gateway refused).
    rejected: int = 0
    skipped: int = 0
    dead: int = 0
    alerts: int = 0
    checkpoints: int = 0
    #: Patient states that could not be restored (the patient started afresh).
    state_errors: int = 0
    #: ``now`` of the first and of the latest record handled.
    first_at: float | None = None
    last_at: float | None = None

    def rate(self) -> float:
        """Samples per second between the first and the latest record (0 if unknown)."""
        if self.first_at is None or self.last_at is None or self.last_at <= self.first_at:
            return 0.0
        return self.samples / (self.last_at - self.first_at)


class _Partition:
    __slots__ = ("minutes", "monitor", "next_offset", "skip_below", "unsaved", "unsaved_since")

    def __init__(self, monitor: PartitionMonitor, next_offset: int) -> None:
        self.monitor = monitor
        #: First offset whose record is not in the state yet.
        self.next_offset = next_offset
        #: Patients restored from a checkpoint newer than the partition's: skip up to there
        #: (the monitor's own map: its ticks leave them out meanwhile).
        self.skip_below = monitor.held
        #: Samples per patient since the last checkpoint (patients to checkpoint).
        self.unsaved: dict[str, int] = {}
        self.unsaved_since: float | None = None
        self.minutes: dict[str, PatientMinutes] = {}


class VitalsProcessor:
    """Per-partition detection state and its checkpoints (see the module docstring).

    Parameters
    ----------
    topics
        Output topic names.
    configs
        Clinician settings by patient id (kept up to date with :meth:`set_config`).
    rollups
        Also produce per-minute vitals rollups and NEWS2 records.
    checkpoint_every_samples, checkpoint_every_s
        A partition is due once a patient has this many unsaved samples, or once its oldest
        unsaved change is this old (seconds of the ``now`` the caller passes).
    tick_every
        Event-time seconds between ticks (as ``vigil replay``).
    """

    def __init__(
        self,
        topics: OutputTopics,
        *,
        configs: Mapping[str, PatientConfig] | None = None,
        rollups: bool = True,
        checkpoint_every_samples: int = 2000,
        checkpoint_every_s: float = 5.0,
        tick_every: float = 60.0,
    ) -> None:
        self.topics = topics
        self.configs: dict[str, PatientConfig] = dict(configs or {})
        self.rollups = rollups
        self.every_samples = checkpoint_every_samples
        self.every_s = checkpoint_every_s
        self.tick_every = tick_every
        self.stats = ProcessorStats()
        self._parts: dict[int, _Partition] = {}

    # -- ownership -----------------------------------------------------------------------------

    def owned(self) -> set[int]:
        """Partitions whose state is loaded."""
        return set(self._parts)

    def next_offset(self, partition: int) -> int:
        """First offset of ``partition`` not yet in its state."""
        return self._parts[partition].next_offset

    def is_clean(self, partition: int) -> bool:
        """Whether ``partition`` has nothing unsaved since its last checkpoint."""
        part = self._parts.get(partition)
        return part is not None and not part.unsaved

    def patient_states(self, partition: int) -> dict[str, bytes]:
        """Every patient's full detection state in ``partition`` (for comparisons and audits)."""
        pipeline = self._parts[partition].monitor.pipeline
        return {pid: pipeline.snapshot(pid) for pid in sorted(pipeline.patients())}

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget the state of ``partitions`` (revoked, or to be reloaded)."""
        for p in partitions:
            self._parts.pop(p, None)

    def restore(self, partitions: Collection[int], items: Iterable[tuple[bytes, bytes]]) -> None:
        """Load ``partitions`` from checkpoint table ``items`` (one pass over them).

        Each patient gets exactly the state it was checkpointed with: a partition checkpoint
        holds every patient its records *or its ticks* changed, so nothing needs re-applying.
        A patient whose own checkpoint is newer than its partition's skips its records, and
        the ticks, up to its own offset (its state already has them).
        """
        parts = {p: _Partition(self._monitor(p), 0) for p in partitions if p not in self._parts}
        if not parts:
            return
        clocks: dict[int, PartitionCheckpoint] = {}
        patients: dict[int, list[tuple[str, PatientCheckpoint]]] = {p: [] for p in parts}
        for key, value in items:
            try:
                cp = decode(value)
            except msgspec.DecodeError:
                logger.warning("unreadable checkpoint record skipped (%d bytes)", len(value))
                continue
            if cp.partition not in parts:
                continue
            if isinstance(cp, PartitionCheckpoint):
                clocks[cp.partition] = cp
            else:
                patients[cp.partition].append((key.decode(), cp))
        for p, part in parts.items():
            clock = clocks.get(p)
            if clock is not None:
                part.next_offset = clock.offset
                part.monitor.watermark = clock.watermark
                part.monitor.next_tick = clock.next_tick
            for pid, cp in patients[p]:
                try:
                    part.monitor.pipeline.restore(pid, cp.state)
                    if cp.extras:
                        part.minutes[pid] = pickle.loads(cp.extras)  # noqa: S301 - own table
                except (StateError, pickle.UnpicklingError, AttributeError, ValueError):
                    # A state another version of the detector wrote: monitoring must go on,
                    # so this patient starts afresh (population rules from the next sample).
                    logger.warning("state of patient %s unreadable: starting afresh", pid)
                    self.stats.state_errors += 1
                    continue
                if cp.offset > part.next_offset:
                    part.skip_below[pid] = cp.offset
            self._parts[p] = part
            logger.info(
                "partition %d restored: %d patients, resuming at offset %d",
                p, len(patients[p]), part.next_offset,
            )  # fmt: skip

    def _monitor(self, partition: int) -> PartitionMonitor:
        return PartitionMonitor(
            partition, self.configs, tick_every=self.tick_every, emit_resolved=True
        )

    def set_config(self, patient_id: str, config: PatientConfig) -> None:
        """Apply a clinician's settings from the patient's next sample on."""
        self.configs[patient_id] = config
        for part in self._parts.values():
            part.monitor.pipeline.set_config(patient_id, config)

    # -- records -------------------------------------------------------------------------------

    def _alert_out(self, alert: Alert) -> Out:
        self.stats.alerts += 1
        return Out(self.topics.alerts, alert.patient_id.encode(), alert.to_json())

    def _dead(self, reason: str, detail: str, value: bytes, key: bytes | None, now: float) -> Out:
        self.stats.dead += 1
        letter = dead_letter(
            reason=reason, detail=detail, source=SOURCE, topic=self.topics.vitals,
            device_id=None, received_at=now, payload=value,
        )  # fmt: skip
        return Out(self.topics.dlq, key, encode_dead_letter(letter))

    def handle(
        self, partition: int, offset: int, key: bytes | None, value: bytes | None, *, now: float
    ) -> list[Out]:
        """Process one ``vigil.vitals`` record; return the records to produce.

        ``now`` (epoch seconds) stamps dead letters and times checkpoints. Records behind the
        state are skipped, a gap ahead is warned of; ``KeyError`` if ``partition`` is not loaded.
        """
        part = self._parts[partition]
        if offset < part.next_offset:
            self.stats.skipped += 1
            return []
        if offset > part.next_offset:
            logger.warning("gap in partition %d: %d..%d", partition, part.next_offset, offset - 1)
        part.next_offset = offset + 1
        if part.unsaved_since is None:  # the offset moved: due for a checkpoint, if only of it
            part.unsaved_since = now
        if part.skip_below:  # patients restored past their partition rejoin at their offset
            skip = part.skip_below
            for pid in [pid for pid, below in skip.items() if below <= offset]:
                del skip[pid]
        stats = self.stats
        stats.records += 1
        if stats.first_at is None:
            stats.first_at = now
        stats.last_at = now
        try:
            record = decode_vitals_record(value or b"")
        except WireFormatError as exc:
            logger.warning("undecodable record at %d@%d sent to the DLQ", partition, offset)
            return [self._dead("undecodable_record", str(exc), value or b"", key, now)]
        pid = record.patient_id
        if key != pid.encode():  # (a record without a key too: Kafka would spread the patient)
            logger.warning("record at %d@%d keyed by another patient: DLQ", partition, offset)
            return [self._dead("key_mismatch", "record key is not its patient_id", value or b"",
                               key, now)]  # fmt: skip
        if pid in part.skip_below:  # its state is past this record, the clock is not
            self.stats.skipped += 1
            pass_time = part.monitor.pass_time
            return [self._alert_out(a) for w in record.samples for a in pass_time(w)]
        try:
            if record.rejected:
                return self._entries(part, pid, record, now)
            return self._samples(part, pid, record.device_id, record.samples, now)
        except Exception as exc:  # noqa: BLE001 - one record must not stop a partition
            # A poison record would otherwise fail again on every restart and stop monitoring
            # of every patient on the partition. Its samples before the failure count, so the
            # next checkpoint must save the patient (the offset it commits is past the record).
            logger.error(
                "record at %d@%d (patient %s) failed: %s; sent to the DLQ",
                partition, offset, pid, type(exc).__name__,
            )  # fmt: skip
            if part.monitor.pipeline.has(pid):
                part.unsaved.setdefault(pid, 0)
                if part.unsaved_since is None:
                    part.unsaved_since = now
            detail = f"processing failed: {type(exc).__name__}"
            return [self._dead("processing_error", detail, value or b"", key, now)]

    def _entries(self, part: _Partition, pid: str, record: VitalsRecord, now: float) -> list[Out]:
        # Refused samples are noted where the device sent them, as replay notes them.
        out: list[Out] = []
        did, wire, done = record.device_id, record.samples, 0
        for notice in record.rejected:
            if notice.at > done:
                out += self._samples(part, pid, did, wire[done : notice.at], now)
                done = notice.at
            alerts = part.monitor.note_rejected(pid, notice.ts, notice.reason)
            out.extend(self._alert_out(a) for a in alerts)
            self.stats.rejected += 1
            part.unsaved[pid] = part.unsaved.get(pid, 0) + 1  # the note changed the state
            if part.unsaved_since is None:
                part.unsaved_since = now
        if done < len(wire):
            out += self._samples(part, pid, did, wire[done:], now)
        return out

    def _samples(
        self, part: _Partition, pid: str, did: str, wire: list[WireSample], now: float
    ) -> list[Out]:
        if not wire:  # (a record of no samples and no notices: nothing happened)
            return []
        out: list[Out] = []
        monitor = part.monitor
        process = monitor.process
        unsaved = part.unsaved
        minutes = part.minutes.get(pid) if self.rollups else None
        if self.rollups and minutes is None:
            minutes = part.minutes[pid] = PatientMinutes(pid)
        key = pid.encode()
        news2_topic, rollup_topic = self.topics.news2, self.topics.rollups
        for w in wire:
            sample = Sample(
                pid, did, w.ts, w.hr, w.spo2, w.rr, w.temp, w.sbp, w.dbp, w.glucose, w.motion,
                w.quality, w.custom,
            )  # fmt: skip
            step, ticked = process(sample)
            if ticked:
                out.extend(self._alert_out(a) for a in ticked)
            if step.alerts or step.resolved:
                out.extend(self._alert_out(a) for a in (*step.alerts, *step.resolved))
            if minutes is not None:
                for r in minutes.add(sample, monitor.news2_now(pid, sample.ts)):
                    topic = news2_topic if type(r) is News2Record else rollup_topic
                    out.append(Out(topic, key, encode_rollup(r)))
        n = len(wire)
        self.stats.samples += n
        unsaved[pid] = unsaved.get(pid, 0) + n
        if part.unsaved_since is None:
            part.unsaved_since = now
        return out

    # -- checkpoints ---------------------------------------------------------------------------

    def due(self, now: float) -> list[int]:
        """Partitions whose checkpoint is due at ``now``."""
        due = []
        for p, part in self._parts.items():
            if part.unsaved_since is None:
                continue
            if now - part.unsaved_since >= self.every_s or (
                max(part.unsaved.values(), default=0) >= self.every_samples
            ):
                due.append(p)
        return due

    def checkpoint(self, partition: int) -> list[tuple[bytes, bytes]]:
        """The table records of a checkpoint of ``partition`` at its current offset.

        Patients first, the partition record last: a reader that has the partition record
        has the patients' too (one changelog partition keeps the order). Marks the partition
        clean; the caller commits offsets below :meth:`next_offset` once stored.
        """
        part = self._parts[partition]
        monitor = part.monitor
        pipeline = monitor.pipeline
        offset = part.next_offset
        for pid in monitor.changed:  # silent patients the ticks changed
            part.unsaved.setdefault(pid, 0)
        monitor.changed.clear()
        records = []
        for pid in sorted(part.unsaved):
            minutes = part.minutes.get(pid)
            extras = pickle.dumps(minutes, protocol=5) if minutes is not None else b""
            cp = PatientCheckpoint(partition, offset, pipeline.snapshot(pid), extras)
            records.append((patient_key(pid), encode(cp)))
        clock = monitor.clock
        meta = PartitionCheckpoint(partition, offset, clock.watermark, clock.next_tick)
        records.append((partition_key(partition), encode(meta)))
        part.unsaved.clear()
        part.unsaved_since = None
        self.stats.checkpoints += 1
        return records

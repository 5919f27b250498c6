"""One Kafka partition's worth of patients: a pipeline, its event-time clock and its ticks.

The worker runs one :class:`PartitionMonitor` per assigned partition of ``vigil.vitals``. Event
time advances per partition: its watermark is the newest ``ts`` among the partition's samples
(a spot device's taken as earlier, below), and every ``tick_every`` seconds of it the pipeline
is ticked (:meth:`Pipeline.advance`: data gaps, offline devices, episodes that cleared). That
is the only clock a partition has, since a Kafka consumer never sees other partitions' records
in a defined order.

Ticks therefore depend on which patients share a partition: a patient whose device stops
near the end of the data gets a ``data_gap`` alert only if a partition-mate's samples carry
the partition's event time 30 minutes further. An offline reference that should match the
worker alert for alert must tick the same way — route patients with :func:`partition_for`
(Kafka's default partitioner) and run one :class:`PartitionMonitor` per partition, in file
order within each partition (``vigil replay --partitions``, :func:`stream.replay.replay`).

The tick rule is the one :func:`stream.replay.replay` applies to its single, global clock: a
tick at the start of the newest ``tick_every`` bucket, before the sample that entered it.

A spot sample (a separate cuff's or meter's, :func:`~stream.detect.sources.is_spot`) counts
:data:`~stream.detect.sources.SPOT_LEAD_S` (2 h) earlier for the watermark
(:func:`~stream.detect.sources.clock_time`): a cuff whose clock runs ahead of the wearables'
would otherwise move the partition's time on, and open every other device's data gap early
(a wearable may run hours behind: ingest bounds only a lead). The wearables carry the
partition's time; a partition of spot devices alone still ticks, 2 hours behind their newest
reading.

A tick can change a patient that sent nothing (an open episode of a silent device moves on
with every tick, without an alert to show it): :attr:`PartitionMonitor.changed` collects the
patients ticks may have changed, so the worker's checkpoints hold their states too.

Examples
--------
>>> from ingest.sample import Sample
>>> partition_for("p0001", 12), partition_for(b"p0001", 12)
(8, 8)
>>> pm = PartitionMonitor(partition=8)
>>> for i in range(40):
...     _, ticked = pm.process(Sample("p0001", "d1", 1.7e9 + 60 * i, hr=70.0 + i % 3))
>>> pm.watermark, pm.next_tick
(1700002340.0, 1700002380.0)
>>> ticked = pm.process(Sample("p0002", "d2", 1.7e9 + 60 * 80, hr=80.0))[1]
>>> [(a.patient_id, a.kind) for a in ticked]  # p0001 has been silent for 41 min
[('p0001', 'data_gap')]
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import msgspec

from alerts.model import Alert
from ingest.sample import Sample
from stream.detect.config import PatientConfig
from stream.detect.sources import Readings, clock_time
from stream.pipeline import Pipeline, StepResult

logger = logging.getLogger(__name__)

__all__ = ["PartitionClock", "PartitionMonitor", "murmur2", "partition_for"]

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (``org.apache.kafka.common.utils.Utils.murmur2``), as unsigned 32 bit.

    Examples
    --------
    >>> murmur2(b"p0001")
    2919452872
    """
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    n4 = length // 4
    for i in range(n4):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length % 4
    tail = 4 * n4
    if rest >= 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_for(key: str | bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` among ``partitions``.

    The same as the Java client, kafka-python and aiokafka (``murmur2(key) & 0x7fffffff``
    modulo the partition count), so a producer never has to be asked.
    """
    data = key.encode() if isinstance(key, str) else key
    return (murmur2(data) & 0x7FFFFFFF) % partitions


class PartitionClock(msgspec.Struct, frozen=True):
    """A partition's event-time clock, as checkpointed: the watermark and the next tick.

    The watermark is the newest ``ts``, a spot sample's taken as ``SPOT_LEAD_S`` earlier.
    """

    watermark: float = -math.inf
    next_tick: float = math.inf


class PartitionMonitor:
    """Detection for the patients of one partition, with the partition's event-time ticks.

    Parameters
    ----------
    partition
        Partition number (for logs and checkpoints).
    configs
        Clinician settings by patient id.
    tick_every
        Event-time seconds between ticks (the same default as ``vigil replay``).
    emit_resolved
        Also return ``resolved`` records from ticks (the worker publishes them).
    """

    def __init__(
        self,
        partition: int,
        configs: Mapping[str, PatientConfig] | None = None,
        *,
        tick_every: float = 60.0,
        emit_resolved: bool = False,
    ) -> None:
        self.partition = partition
        self.pipeline = Pipeline(configs, emit_resolved=emit_resolved)
        self.tick_every = tick_every
        self.watermark = -math.inf
        self.next_tick = math.inf
        #: Patients whose state the ticks changed (the caller takes them for its checkpoint).
        self.changed: set[str] = set()
        #: Patients the ticks leave out, restored from a state that is past them already: the
        #: offset their state is at (the processor drops them once it reaches it).
        self.held: dict[str, int] = {}

    @property
    def clock(self) -> PartitionClock:
        """The event-time clock to checkpoint with the patients' states."""
        return PartitionClock(self.watermark, self.next_tick)

    def set_clock(self, clock: PartitionClock) -> None:
        """Restore the event-time clock from a checkpoint."""
        self.watermark = clock.watermark
        self.next_tick = clock.next_tick

    def _tick(self, ts: float) -> list[Alert]:
        # The replay rule: the first sample starts the clock, a sample in a later bucket ticks
        # at the start of its bucket (once, however many buckets it skipped).
        self.watermark = ts
        every = self.tick_every
        if self.next_tick == math.inf:
            self.next_tick = (ts // every + 1) * every
            return []
        if ts < self.next_tick:
            return []
        self.next_tick = (ts // every + 1) * every
        return self.pipeline.advance(ts // every * every, skip=self.held, changed=self.changed)

    def process(self, sample: Sample) -> tuple[StepResult, list[Alert]]:
        """Tick if ``sample`` moves event time into a new bucket, then process it.

        Returns
        -------
        (step, ticked)
            The sample's :class:`~stream.pipeline.StepResult`, and the alerts the tick raised
            (raised before the sample's, for other patients of the partition too).
        """
        # (a sample with HR is no spot sample: most samples, without a call)
        ts = sample.ts if sample.hr is not None else clock_time(sample)
        ticked = self._tick(ts) if ts > self.watermark else []
        return self.pipeline.process(sample), ticked

    def pass_time(self, sample: Readings) -> list[Alert]:
        """Move event time as ``sample`` would, without processing it.

        For the samples of a :attr:`held` patient read again: their state has them, but the
        partition's clock and its other patients' ticks must go on as the first time.
        """
        ts = clock_time(sample)
        return self._tick(ts) if ts > self.watermark else []

    def news2_now(self, patient_id: str, ts: float) -> tuple[int, dict[str, int]] | None:
        """The detector's NEWS2 ``(total, sub-scores)`` for a patient at ``ts``."""
        return self.pipeline.news2_now(patient_id, ts)

    def note_rejected(self, patient_id: str, ts: float | None, reason_code: str) -> list[Alert]:
        """Account for a rejected sample (``ts`` ``None``: unknown, the partition's clock)."""
        if ts is None:
            ts = self.watermark if self.watermark > -math.inf else 0.0
        return self.pipeline.note_rejected(patient_id, ts, reason_code)

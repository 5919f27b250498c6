"""State checkpoints of the stream worker: what goes into the state table, and the store face.

A partition's state is checkpointed *as a whole, at one offset*: the states of its patients
that changed since the last checkpoint (:class:`PatientCheckpoint`), then the partition's own
record (:class:`PartitionCheckpoint`: the next offset to process and the event-time clock).
"Changed" includes what the partition's ticks changed in patients that sent nothing (an open
episode of a silent device moves on with every tick), so every patient's latest record is its
state as of the checkpoint's offset. Only when the store has them does the worker commit the
offset, so Kafka's committed offset never passes a checkpoint.

Recovery contract (crash, SIGKILL, rebalance):

1. The new owner of a partition loads its checkpoint from the table (Faust restores the
   table from its changelog first) and resumes at the committed offset, which is at
   or before the checkpoint's offset.
2. Records before the checkpoint's offset are already in the restored state: they are
   skipped. A patient whose own checkpoint is newer than the partition's (a crash in the
   middle of writing a checkpoint) skips up to its own offset, and so do the ticks those
   records bring: its state has them, while the partition's clock moves on as the first time.
3. Records from there on are processed again, exactly as the first time: the state, the
   event-time clock and the record order are the same, so the alerts are the same, alert ids
   included (:func:`alerts.model.alert_id_for`), and so is the state at the end. Alerts
   produced between the checkpoint and the crash are therefore produced twice, identical:
   consumers dedupe by ``(alert_id, seq)``. Rollups are keyed by ``(patient_id, minute)``
   and simply overwrite.

Values are msgpack; they embed the partition so a table scan can group them.

Examples
--------
>>> cp = PatientCheckpoint(partition=3, offset=120, state=b"...", extras=b"")
>>> decode(encode(cp)) == cp
True
>>> patient_key("p1"), partition_key(3)
(b'p1', b'\\x00partition:3')
>>> store = MemoryCheckpointStore()
>>> store.put(3, patient_key("p1"), encode(cp))
>>> [(k, decode(v).offset) for k, v in store.items()]
[(b'p1', 120)]
"""

from __future__ import annotations

import logging
import math
import pickle
from collections.abc import Iterable
from typing import Any, Protocol

import msgspec

__all__ = [
    "CHECKPOINT_VERSION",
    "canonical_state",
    "CheckpointStore",
    "MemoryCheckpointStore",
    "PartitionCheckpoint",
    "PatientCheckpoint",
    "decode",
    "encode",
    "partition_key",
    "patient_key",
]

logger = logging.getLogger(__name__)

#: Version of the checkpoint records (a new layout gets a new struct and tag).
CHECKPOINT_VERSION = 1
_PARTITION_PREFIX = b"\x00partition:"


class PatientCheckpoint(msgspec.Struct, frozen=True, tag=1, array_like=True):
    """One patient's state as of the partition's offset ``offset`` (records before it applied).

    ``state`` is :meth:`stream.pipeline.Pipeline.snapshot`; ``extras`` the worker's own
    per-patient accumulators (the open rollup minute).
    """

    partition: int
    offset: int
    state: bytes
    extras: bytes


class PartitionCheckpoint(msgspec.Struct, frozen=True, tag=2, array_like=True):
    """A partition's position and event-time clock; written after its patients' records."""

    partition: int
    offset: int
    watermark: float = -math.inf
    next_tick: float = math.inf


Checkpoint = PatientCheckpoint | PartitionCheckpoint
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Checkpoint)


def encode(record: Checkpoint) -> bytes:
    """msgpack bytes of a checkpoint record (the table value)."""
    return _encoder.encode(record)


def decode(data: bytes) -> Checkpoint:
    """Parse a table value; raises :class:`msgspec.DecodeError` if it is not a checkpoint."""
    record: Checkpoint = _decoder.decode(data)
    return record


def patient_key(patient_id: str) -> bytes:
    """Table key of a patient's checkpoint."""
    return patient_id.encode()


def partition_key(partition: int) -> bytes:
    """Table key of a partition's checkpoint (cannot collide with a patient id)."""
    return _PARTITION_PREFIX + str(partition).encode()


class CheckpointStore(Protocol):
    """Where checkpoints live: a Faust table in the worker, a dict in tests and the demo."""

    def put(self, partition: int, key: bytes, value: bytes) -> None:
        """Store ``value`` under ``key`` in ``partition`` (last write wins)."""

    def get(self, key: bytes) -> bytes | None:
        """The value under ``key``, if any."""

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        """Every stored ``(key, value)`` of the partitions this process owns."""


class MemoryCheckpointStore:
    """A :class:`CheckpointStore` in a dict (what a changelog would hold after compaction)."""

    def __init__(self) -> None:
        self.data: dict[bytes, tuple[int, bytes]] = {}

    def put(self, partition: int, key: bytes, value: bytes) -> None:
        """Store ``value`` under ``key``."""
        self.data[key] = (partition, value)

    def get(self, key: bytes) -> bytes | None:
        """The value under ``key``, if any."""
        got = self.data.get(key)
        return got[1] if got is not None else None

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        """Every stored ``(key, value)``."""
        return [(k, v) for k, (_, v) in self.data.items()]


def canonical_state(snapshot: bytes) -> Any:
    """A pipeline snapshot as plain, comparable data (own snapshots only: it unpickles).

    Two states are equal when their objects hold equal values, whatever the pickle memo
    (which shares strings differently in a restored state): audits and tests compare a
    patient's state before and after a restore with this.

    Examples
    --------
    >>> from ingest.sample import Sample
    >>> from stream.pipeline import Pipeline
    >>> a, b = Pipeline(), Pipeline()
    >>> _ = a.process(Sample("p1", "d1", 1.7e9, hr=70.0))
    >>> b.restore("p1", a.snapshot("p1"))
    >>> canonical_state(b.snapshot("p1")) == canonical_state(a.snapshot("p1"))
    True
    """
    return _plain(pickle.loads(snapshot))  # noqa: S301 - the worker's own state


def _plain(x: Any) -> Any:
    if isinstance(x, float):
        return "nan" if math.isnan(x) else x
    if x is None or isinstance(x, int | str | bytes):
        return x
    if isinstance(x, list | tuple):
        return [type(x).__name__, [_plain(i) for i in x]]
    if isinstance(x, set | frozenset):
        return ["set", sorted(repr(_plain(i)) for i in x)]
    if isinstance(x, dict):
        return ["dict", [(repr(_plain(k)), _plain(v)) for k, v in x.items()]]
    if hasattr(x, "tolist") and hasattr(x, "dtype"):  # numpy arrays and scalars
        return ["array", _plain(x.tolist())]
    return [type(x).__qualname__, _plain(x.__getstate__())]

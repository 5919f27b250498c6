"""Who a device belongs to, and when: the gateway's read-only view of the registry.

The gateway attributes every sample to the patient the sending device was enrolled to *at the
sample's timestamp* (a watch uploading yesterday's backlog after being handed to another
patient must not mix the two). :class:`DeviceRecord` holds a device's enrolment history;
:class:`DeviceDirectory` is the small face the gateway reads it through, with an in-memory
implementation for tests and the embedded demo, and a caching wrapper over the SQL registry.

Examples
--------
>>> rec = DeviceRecord("watch-1", (Enrollment("p1", 100.0, 200.0), Enrollment("p2", 200.0, None)))
>>> rec.patient_at(150.0), rec.patient_at(200.0), rec.patient_at(99.0)
('p1', 'p2', None)
>>> directory = InMemoryDirectory([rec])
>>> directory.lookup("watch-1") is rec, directory.lookup("nope")
(True, None)
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "CachedDirectory",
    "DeviceDirectory",
    "DeviceRecord",
    "Enrollment",
    "InMemoryDirectory",
    "SnapshotDirectory",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Enrollment:
    """The device belonged to ``patient_id`` for ``valid_from <= ts < valid_to`` (epoch s)."""

    patient_id: str
    valid_from: float
    valid_to: float | None = None

    def covers(self, ts: float) -> bool:
        """Whether ``ts`` falls inside this enrolment."""
        return self.valid_from <= ts and (self.valid_to is None or ts < self.valid_to)


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A device's state as the gateway needs it: revoked or not, and its enrolments."""

    device_id: str
    enrollments: tuple[Enrollment, ...] = ()
    revoked: bool = False

    def patient_at(self, ts: float) -> str | None:
        """The patient enrolled at ``ts``, or ``None`` when no enrolment covers it."""
        # Newest first: the current enrolment answers the live case in one step.
        for enrollment in reversed(self.enrollments):
            if enrollment.covers(ts):
                return enrollment.patient_id
        return None


class DeviceDirectory(ABC):
    """Read-only device lookup used by the gateway on every message."""

    @abstractmethod
    def lookup(self, device_id: str) -> DeviceRecord | None:
        """Return the device's record, or ``None`` for a device the registry does not know."""


class InMemoryDirectory(DeviceDirectory):
    """A directory over a fixed set of records (tests, embedded demo)."""

    def __init__(self, records: Iterable[DeviceRecord] = ()) -> None:
        self._records = {r.device_id: r for r in records}

    def put(self, record: DeviceRecord) -> None:
        """Add or replace a device's record."""
        self._records[record.device_id] = record

    def lookup(self, device_id: str) -> DeviceRecord | None:
        return self._records.get(device_id)


class CachedDirectory(DeviceDirectory):
    """Cache another source's answers (misses too) for ``ttl`` seconds.

    Enrolment changes and revocations therefore reach a running gateway within ``ttl``; the
    broker has already refused a revoked device's new connections by then. The cache is
    bounded: past ``max_entries`` it is cleared rather than grown (unknown-device floods).

    Examples
    --------
    >>> calls = []
    >>> def source(device_id):
    ...     calls.append(device_id)
    ...     return None
    >>> now = [0.0]
    >>> d = CachedDirectory(source, ttl=10.0, clock=lambda: now[0])
    >>> d.lookup("a"), d.lookup("a"), calls
    (None, None, ['a'])
    >>> now[0] = 11.0
    >>> d.lookup("a"), calls
    (None, ['a', 'a'])
    """

    def __init__(
        self,
        source: Callable[[str], DeviceRecord | None],
        *,
        ttl: float = 10.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, DeviceRecord | None]] = {}

    def lookup(self, device_id: str) -> DeviceRecord | None:
        now = self._clock()
        entry = self._entries.get(device_id)
        if entry is not None and now - entry[0] < self._ttl:
            return entry[1]
        record = self._source(device_id)
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[device_id] = (now, record)
        return record


class SnapshotDirectory(DeviceDirectory):
    """The whole registry in memory, reloaded in one query every ``refresh`` seconds.

    A per-device cache costs one query per device per TTL, which for a large fleet is a
    steady stream of small queries on the gateway's hot thread; one bulk load per interval
    is cheaper. A device missing from the snapshot (enrolled since) is looked up singly, and
    the answer (misses too) is kept until the next reload. A reload that fails keeps the last
    snapshot until the next try (a database blip must not stop the fleet); with no snapshot
    yet, and for a single lookup, the error propagates.

    Examples
    --------
    >>> loads = []
    >>> def load_all():
    ...     loads.append("all")
    ...     return {"w1": DeviceRecord("w1")}
    >>> now = [0.0]
    >>> d = SnapshotDirectory(load_all, lambda device_id: None, refresh=10.0, clock=lambda: now[0])
    >>> d.lookup("w1").device_id, d.lookup("w2"), d.lookup("w2"), loads
    ('w1', None, None, ['all'])
    >>> now[0] = 10.0
    >>> _ = d.lookup("w1"); loads
    ['all', 'all']
    """

    def __init__(
        self,
        load_all: Callable[[], dict[str, DeviceRecord]],
        load_one: Callable[[str], DeviceRecord | None],
        *,
        refresh: float = 10.0,
        max_extra: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load_all = load_all
        self._load_one = load_one
        self._refresh = refresh
        self._max_extra = max_extra
        self._clock = clock
        self._records: dict[str, DeviceRecord] = {}
        self._extra: dict[str, DeviceRecord | None] = {}
        self._loaded_at: float | None = None

    def lookup(self, device_id: str) -> DeviceRecord | None:
        now = self._clock()
        if self._loaded_at is None or now - self._loaded_at >= self._refresh:
            try:
                records = self._load_all()
            except Exception as exc:
                if self._loaded_at is None:
                    raise  # nothing to go on
                # a database blip: the last snapshot serves until the next try
                logger.warning("registry reload failed (%s): serving the last snapshot",
                               type(exc).__name__)  # fmt: skip
                self._loaded_at = now
            else:
                self._records = records
                self._extra = {}
                self._loaded_at = now
        record = self._records.get(device_id)
        if record is not None:
            return record
        if device_id in self._extra:
            return self._extra[device_id]
        if len(self._extra) >= self._max_extra:  # unknown-device floods stay bounded
            self._extra.clear()
        record = self._extra[device_id] = self._load_one(device_id)
        return record

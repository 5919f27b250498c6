"""Per-minute vitals rollups and NEWS2 records: what the worker produces for storage and the API.

The worker (``stream/app.py``) reduces each patient's samples to one :class:`VitalsRollup`
per minute (mean/min/max/count per vital) and one :class:`News2Record` per minute, and
produces them, keyed by ``patient_id``, to :data:`VITALS_1M_TOPIC` and :data:`NEWS2_TOPIC`.
The sink (``vigil sink``) writes them to the ``vitals_1m`` and ``news2`` measurements, and the
API serves 1 min / 5 min / 1 h history from them (coarser buckets are merged with
:meth:`VitalStats.merge`, a count-weighted mean).

Both records are versioned msgspec structs encoded as JSON (times as RFC 3339 UTC strings),
so any consumer can read them. A rollup is identified by ``(patient_id, minute)``: producing
the same minute again (a worker restarted from an older offset) overwrites it in storage.

This module is pure (msgspec and the standard library).

Examples
--------
>>> from datetime import datetime, timezone
>>> b = RollupBuilder("p1")
>>> t = datetime(2024, 5, 1, 8, 0, 10, tzinfo=timezone.utc).timestamp()
>>> b.add(t, {"hr": 70.0, "spo2": 97.0})
[]
>>> b.add(t + 20, {"hr": 74.0, "spo2": None})
[]
>>> [r] = b.add(t + 60, {"hr": 80.0})   # a sample in the next minute closes the first one
>>> r.minute.isoformat(), r.vitals["hr"]
('2024-05-01T08:00:00+00:00', VitalStats(mean=72.0, min=70.0, max=74.0, count=2))
>>> decode_vitals_rollup(encode(r)) == r
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Final, Literal

import msgspec

from ingest.topics import TopicNames

__all__ = [
    "NEWS2_TOPIC",
    "ROLLUP_VERSION",
    "VITALS_1M_TOPIC",
    "News2Record",
    "Risk",
    "RollupBuilder",
    "VitalStats",
    "VitalsRollup",
    "decode_news2",
    "decode_vitals_rollup",
    "encode",
    "minute_floor",
]

#: Wire-format version of both records.
ROLLUP_VERSION: Final = 1
#: Topic of per-minute vitals rollups (key: patient_id), unprefixed; named in ingest.topics.
VITALS_1M_TOPIC: Final = TopicNames().vitals_1m
#: Topic of per-minute NEWS2 records (key: patient_id), unprefixed; named in ingest.topics.
NEWS2_TOPIC: Final = TopicNames().news2

UtcDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
#: NEWS2 clinical risk bands (RCP 2017, chart 2): aggregate 0-4 low, a single parameter
#: scoring 3 low-medium, 5-6 medium, 7+ high.
Risk = Literal["low", "low-medium", "medium", "high"]


class VitalStats(msgspec.Struct, frozen=True):
    """Mean, min, max and number of samples of one vital over one bucket.

    Examples
    --------
    >>> a = VitalStats.from_values([60.0, 70.0])
    >>> a.merge(VitalStats.from_values([90.0]))
    VitalStats(mean=73.33333333333333, min=60.0, max=90.0, count=3)

    Custom channels may carry any finite value; the mean of the largest stays finite:

    >>> VitalStats.from_values([1.7e308, 1.7e308]).mean
    1.7e+308
    """

    mean: float
    min: float
    max: float
    count: int

    @classmethod
    def from_values(cls, values: Iterable[float]) -> VitalStats:
        """Summarise one or more values."""
        vs = list(values)
        if not vs:
            raise ValueError("no values")
        n = len(vs)
        try:
            mean = math.fsum(vs) / n
        except OverflowError:  # the sum of values near float max: scale them first
            mean = math.fsum(v / n for v in vs)
        return cls(mean=mean, min=min(vs), max=max(vs), count=n)

    def merge(self, other: VitalStats) -> VitalStats:
        """Combine two buckets (count-weighted mean), e.g. five 1-minute rollups into 5 min."""
        n = self.count + other.count
        return VitalStats(
            mean=self.mean * (self.count / n) + other.mean * (other.count / n),  # finite
            min=min(self.min, other.min),
            max=max(self.max, other.max),
            count=n,
        )


class VitalsRollup(msgspec.Struct, frozen=True, kw_only=True):
    """One patient's vitals over one minute.

    Parameters
    ----------
    patient_id
        The patient.
    minute
        Start of the minute (UTC, seconds and below zero).
    vitals
        Vital name (``hr``, ``spo2``, ``rr``, ``temp``, ``sbp``, ``dbp``, ``glucose``,
        ``motion`` or a custom channel) to its statistics; vitals without samples are absent.
    version
        :data:`ROLLUP_VERSION`.
    """

    patient_id: str
    minute: UtcDatetime
    vitals: dict[str, VitalStats]
    version: int = ROLLUP_VERSION


class News2Record(msgspec.Struct, frozen=True, kw_only=True):
    """One patient's NEWS2 for one minute.

    The producer reports the worst (highest) aggregate score observed during the minute and
    the sub-scores of that observation.

    Parameters
    ----------
    patient_id
        The patient.
    minute
        Start of the minute (UTC).
    score
        Aggregate NEWS2, 0-20.
    risk
        Clinical risk band (see :data:`Risk`).
    subscores
        Parameter name (``rr``, ``spo2``, ``air_or_oxygen``, ``sbp``, ``hr``,
        ``consciousness``, ``temp``) to its 0-3 score; parameters not observed are absent.
    version
        :data:`ROLLUP_VERSION`.

    References
    ----------
    Royal College of Physicians. National Early Warning Score (NEWS) 2, 2017.
    """

    patient_id: str
    minute: UtcDatetime
    score: int
    risk: Risk
    subscores: dict[str, int]
    version: int = ROLLUP_VERSION


_encoder = msgspec.json.Encoder()
_rollup_decoder = msgspec.json.Decoder(VitalsRollup)
_news2_decoder = msgspec.json.Decoder(News2Record)


def encode(record: VitalsRollup | News2Record) -> bytes:
    """JSON bytes of a record (the Kafka value)."""
    return _encoder.encode(record)


def decode_vitals_rollup(data: bytes) -> VitalsRollup:
    """Parse a :class:`VitalsRollup`; raises :class:`msgspec.ValidationError` / ``DecodeError``."""
    return _rollup_decoder.decode(data)


def decode_news2(data: bytes) -> News2Record:
    """Parse a :class:`News2Record`; raises :class:`msgspec.ValidationError` / ``DecodeError``."""
    return _news2_decoder.decode(data)


def minute_floor(ts: float) -> datetime:
    """The UTC start of the minute containing epoch seconds ``ts``.

    Examples
    --------
    >>> minute_floor(90.5).isoformat()
    '1970-01-01T00:01:00+00:00'
    """
    return datetime.fromtimestamp(ts - ts % 60, tz=UTC)


class RollupBuilder:
    """Accumulates one patient's samples and emits a :class:`VitalsRollup` per closed minute.

    Samples are expected in event-time order; a sample older than the open minute is folded
    into the open minute rather than reopening a closed one (the rollup is a display
    aid, not the detector's input). Call :meth:`flush` at shutdown or on an event-time tick.
    """

    def __init__(self, patient_id: str) -> None:
        self.patient_id = patient_id
        self._minute: datetime | None = None
        self._values: dict[str, list[float]] = {}

    @property
    def open_minute(self) -> float | None:
        """Start (epoch seconds) of the open minute, if any."""
        return None if self._minute is None else self._minute.timestamp()

    def add(self, ts: float, values: Mapping[str, float | None]) -> list[VitalsRollup]:
        """Add one sample's values; returns the rollup of the minute it closed, if any."""
        minute = minute_floor(ts)
        closed: list[VitalsRollup] = []
        if self._minute is not None and minute > self._minute:
            closed = self.flush()
        if self._minute is None:
            self._minute = minute
        for name, value in values.items():
            if value is not None and math.isfinite(value):
                self._values.setdefault(name, []).append(float(value))
        return closed

    def flush(self) -> list[VitalsRollup]:
        """Emit the open minute (if it has any values) and start afresh."""
        minute, values = self._minute, self._values
        self._minute, self._values = None, {}
        if minute is None or not values:
            return []
        stats = {name: VitalStats.from_values(vs) for name, vs in sorted(values.items())}
        return [VitalsRollup(patient_id=self.patient_id, minute=minute, vitals=stats)]

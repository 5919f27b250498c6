"""The demo's detection worker: what the Faust worker and the sink do, in one asyncio task.

It reads validated samples from the in-process bus (``vigil.vitals``, the gateway's exact
records), runs them through :class:`stream.pipeline.Pipeline` (the same detection and alert
policy as the Faust worker and ``vigil replay``), rolls vitals and NEWS2 up per minute
(:mod:`stream.rollup`), writes everything to the store, and only then hands new alert records
to the API's live stream, so a client that hears of an alert can always fetch it. Clinician
settings arrive on ``vigil.patient-config`` (from the API's thresholds editor) and are applied
to the pipeline and to NEWS2.

Vitals rollups and NEWS2 per minute are :class:`stream.minutes.PatientMinutes`, as in the
Faust worker: the minute's worst NEWS2 the detector computed (on smoothed, artifact-gated
values), custom channels rolled up too.

Event time moves as in ``vigil replay`` and the Faust worker: a sample in a later minute ticks
:meth:`Pipeline.advance` (data gaps and offline devices inside a backlog are raised where
they happened), a spot device's sample (a separate cuff's) taken as 2 hours earlier
(:func:`stream.detect.sources.clock_time`). Silence after the newest data needs time to pass
without samples, so a ticker also moves the same clock with the simulated time.

The gateway's records also carry a rejection notice for each refused sample of an enrolled
device (:class:`ingest.encoding.RejectionNotice`), in place among the samples; the worker
notes each with :meth:`Pipeline.note_rejected` in that order, as ``vigil replay`` does (a
notice without a readable ``ts`` is noted at the newest sample time seen), so a run of
rejected data raises the ``rejected_data`` technical alert in the demo too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from alerts.model import Alert
from alerts.store.base import Store, StoreBatch
from ingest.encoding import RejectionNotice, decode_entries
from ingest.sample import Sample
from stream.detect.config import PatientConfig
from stream.detect.sources import clock_time
from stream.minutes import PatientMinutes
from stream.rollup import News2Record
from vigil.demo.bus import InProcessBus
from vigil.demo.clock import SimClock

__all__ = ["DetectionWorker", "WorkerStats"]

logger = logging.getLogger(__name__)

#: Bus records handled per store transaction at most.
_MAX_BATCH = 500
#: Wall seconds between event-time ticks (device-offline checks, rollup flushes).
TICK_S = 1.0
#: Event-time seconds between ticks (as ``vigil replay`` and the Faust worker).
TICK_EVERY = 60.0


class AlertSink(Protocol):
    """Where new alert records go after they are stored (the API's in-memory alert bus)."""

    def publish(self, alert: Alert) -> None: ...


class Detector(Protocol):
    """The slice of :class:`stream.pipeline.Pipeline` the worker drives."""

    def process(self, sample: Sample) -> Any: ...

    def advance(self, ts: float) -> list[Alert]: ...

    def note_rejected(self, patient_id: str, ts: float, reason_code: str) -> list[Alert]: ...

    def set_config(self, patient_id: str, config: PatientConfig) -> None: ...

    def news2_now(self, patient_id: str, ts: float) -> tuple[int, dict[str, int]] | None: ...


@dataclass
class WorkerStats:
    """Counters for the demo's progress line."""

    samples: int = 0
    #: Rejection notices noted (samples the gateway refused).
    rejected: int = 0
    alerts: int = 0
    clinical_alerts: int = 0
    #: ``time.monotonic()`` when the first clinical alert was stored.
    first_clinical_at: float | None = None
    by_kind: dict[str, int] = field(default_factory=dict)


class DetectionWorker:
    """Consume ``vitals_topic`` from ``bus`` into ``detector`` and ``store``.

    Parameters
    ----------
    bus
        The in-process bus the gateway produces to.
    topics
        ``(vitals, patient_config)``: the gateway's validated records, clinician settings.
    detector
        The detection pipeline.
    store
        Alerts, rollups and NEWS2 go here.
    alert_sink
        New alert records go here after they are stored.
    clock
        The simulated clock (for ticks).
    """

    def __init__(
        self,
        bus: InProcessBus,
        topics: tuple[str, str],
        detector: Detector,
        store: Store,
        alert_sink: AlertSink,
        clock: SimClock,
    ) -> None:
        self.detector = detector
        self.store = store
        self.alert_sink = alert_sink
        self.clock = clock
        self.stats = WorkerStats()
        self._sub = bus.subscribe(topics[0], lossless=True)
        self._config_sub = bus.subscribe(topics[1], lossless=True)
        self._minutes: dict[str, PatientMinutes] = {}
        self._lock = asyncio.Lock()
        self._busy = False
        #: Newest sample time seen (a spot sample's earlier): where a notice without a
        #: readable ts is noted.
        self._watermark: float | None = None
        #: Event time of the next tick (the first sample starts the clock).
        self._next_tick = math.inf

    async def run(self) -> None:
        """Consume forever (cancel to stop; :meth:`flush` afterwards writes what is pending)."""
        while True:
            self._busy = False
            first = await self._sub.get()
            self._busy = True
            records = [first]
            while len(records) < _MAX_BATCH and (more := self._sub.get_nowait()) is not None:
                records.append(more)
            batch = StoreBatch()
            for record in records:
                try:
                    entries = decode_entries(record.value)
                except Exception:  # the gateway wrote it; a bad record is a bug, not a crash
                    logger.exception("undecodable vitals record at offset %d", record.offset)
                    continue
                try:
                    for entry in entries:
                        if isinstance(entry, RejectionNotice):
                            self._note(entry, batch)
                        else:
                            self._process(entry, batch)
                except Exception as exc:  # as the Kafka worker does: skip it, keep monitoring
                    logger.error(
                        "vitals record at offset %d failed: %s", record.offset, type(exc).__name__
                    )
            await self._write(batch)

    async def apply_configs(self) -> None:
        """Apply clinician settings as they are published (forever; cancel to stop)."""
        async for record in self._config_sub:
            try:
                config = PatientConfig.from_dict(json.loads(record.value))
            except Exception:  # the API validated it; refuse quietly rather than crash
                logger.exception(
                    "unreadable configuration for a patient at offset %d", record.offset
                )
                continue
            self.detector.set_config(record.key, config)
            logger.info("applied new clinician settings for %s", record.key)

    def idle(self) -> bool:
        """Whether every record published so far has been processed."""
        return self._sub.pending() == 0 and not self._busy

    async def tick_forever(self) -> None:
        """Advance event time every :data:`TICK_S` wall seconds."""
        while True:
            await asyncio.sleep(TICK_S)
            await self.tick()

    async def tick(self) -> None:
        """Raise time-driven alerts (device offline, gaps) up to the simulated now."""
        batch = StoreBatch()
        self._advance(self.clock.now(), batch)
        await self._write(batch)

    async def flush(self) -> None:
        """Write every open minute (at shutdown)."""
        batch = StoreBatch()
        for minutes in self._minutes.values():
            self._minute_records(minutes.flush(), batch)
        await self._write(batch)

    def _advance(self, ts: float, batch: StoreBatch) -> None:
        # The replay rule: the first sample starts the clock; event time in a later minute
        # ticks once at that minute's start. The clock never goes back.
        every = TICK_EVERY
        if self._next_tick == math.inf:
            self._next_tick = (ts // every + 1) * every
        elif ts >= self._next_tick:
            self._next_tick = (ts // every + 1) * every
            batch.alerts.extend(self.detector.advance(ts // every * every))

    def _note(self, notice: RejectionNotice, batch: StoreBatch) -> None:
        self.stats.rejected += 1
        ts = notice.ts
        if ts is None:
            ts = self._watermark if self._watermark is not None else self.clock.now()
        batch.alerts.extend(self.detector.note_rejected(notice.patient_id, ts, notice.reason))

    def _process(self, sample: Sample, batch: StoreBatch) -> None:
        self.stats.samples += 1
        now = clock_time(sample)  # (a spot device's earlier, as replay's clock takes it)
        if self._watermark is None or now > self._watermark:
            self._watermark = now
            self._advance(now, batch)
        result = self.detector.process(sample)
        batch.alerts.extend(result.alerts)
        batch.alerts.extend(result.resolved)
        pid = sample.patient_id
        minutes = self._minutes.get(pid)
        if minutes is None:
            minutes = self._minutes[pid] = PatientMinutes(pid)
        news2 = self.detector.news2_now(pid, sample.ts)
        self._minute_records(minutes.add(sample, news2), batch)

    def _minute_records(self, records: list[Any], batch: StoreBatch) -> None:
        for r in records:
            (batch.news2 if type(r) is News2Record else batch.rollups).append(r)

    async def _write(self, batch: StoreBatch) -> None:
        if not len(batch):
            return
        async with self._lock:
            await asyncio.to_thread(self.store.write_batch, batch)
        for alert in batch.alerts:
            self._count(alert)
            self.alert_sink.publish(alert)

    def _count(self, alert: Alert) -> None:
        if alert.status == "resolved":
            return
        if alert.seq != 0:
            return
        self.stats.alerts += 1
        self.stats.by_kind[alert.kind] = self.stats.by_kind.get(alert.kind, 0) + 1
        if alert.category == "clinical":
            self.stats.clinical_alerts += 1
            if self.stats.first_clinical_at is None:
                self.stats.first_clinical_at = time.monotonic()
                logger.info("first clinical alert stored (%s)", alert.kind)

"""Replay recorded samples through the exact worker pipeline (the core of ``vigil replay``).

:func:`replay` takes raw sample dicts (each with ``patient_id`` and ``device_id``; without a
device, the patient id stands for it) in arrival order, validates them with
:func:`ingest.sample.parse_sample`, runs the accepted ones through a
:class:`~stream.pipeline.Pipeline`, and ticks event time (for data-gap detection) every
``tick_every`` seconds of the newest ``ts`` seen — a spot device's (a separate cuff's) taken
as 2 hours earlier, as a worker's partition takes it (:mod:`stream.partition`), so that a
cuff whose clock runs ahead cannot open other devices' data gaps early. It is
deterministic: no wall clock, no randomness, no dependence on hash order, so the same input
gives the same output, byte for byte once serialised. File reading/writing and progress
display are the CLI's job (:mod:`stream.cli`).

Examples
--------
>>> rows = [{"patient_id": "p1", "device_id": "d1", "ts": 1.7e9 + 60 * i, "hr": 72 + i % 3}
...         for i in range(60)]
>>> rows.append({"patient_id": "p1", "device_id": "d1", "ts": "yesterday", "hr": 70})
>>> result = replay(rows)
>>> result.accepted, dict(result.rejected), len(result.scores)
(60, {'bad_ts': 1}, 60)
>>> result.scores[0][:2]
('p1', 1700000000.0)
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from alerts.model import Alert
from ingest.exceptions import SampleRejected
from ingest.sample import Sample, parse_sample, parse_ts
from stream.detect.config import PatientConfig
from stream.detect.sources import clock_time
from stream.pipeline import Pipeline

logger = logging.getLogger(__name__)

__all__ = ["ReplayResult", "replay"]


@dataclass
class ReplayResult:
    """Outcome of a replay.

    Attributes
    ----------
    alerts
        ``open`` and ``escalated`` records in the order they were raised (what
        ``vigil replay --alerts`` writes, one JSON object per line).
    resolved
        ``resolved`` records, in order.
    scores
        ``(patient_id, ts, score)`` per accepted sample in input order (empty when
        ``keep_scores`` is false).
    samples, accepted
        Input records seen and accepted.
    rejected
        Rejected records by reason code.
    pipelines
        The pipelines holding every patient's state afterwards (one per partition clock).
    """

    alerts: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    scores: list[tuple[str, float, float]] = field(default_factory=list)
    samples: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    pipelines: list[Pipeline] = field(default_factory=list)


def replay(
    records: Iterable[Mapping[str, object] | Sample],
    *,
    configs: Mapping[str, PatientConfig] | None = None,
    pipeline: Pipeline | None = None,
    tick_every: float = 60.0,
    partitions: int = 1,
    keep_scores: bool = True,
    on_score: Callable[[str, float, float], None] | None = None,
    on_alert: Callable[[Alert], None] | None = None,
    emit_resolved: bool = False,
) -> ReplayResult:
    """Run raw samples through the detection pipeline.

    Parameters
    ----------
    records
        Raw sample mappings in arrival order, each with ``patient_id`` and ``device_id``
        (absent: the patient id), or samples already validated
        (:meth:`stream.records.RecordReader.entries`).
    configs
        Clinician settings by patient id (ignored when ``pipeline`` is given).
    pipeline
        An existing pipeline to continue (e.g. the demo's); a fresh one by default.
    tick_every
        Event-time seconds between ticks (data-gap checks).
    partitions
        Tick per Kafka partition, as the stream worker does: patients are routed with Kafka's
        default partitioner (:func:`stream.partition.partition_for`) and each partition keeps
        its own event-time clock. With the partition count of ``vigil.vitals`` the output is
        the worker's, alert for alert; 1 (the default) is one global clock.
    keep_scores
        Collect ``(patient_id, ts, score)`` per accepted sample in the result.
    on_score, on_alert
        Optional callbacks per accepted sample and per alert record (streaming output).
    emit_resolved
        Also return (and pass to ``on_alert``) the ``resolved`` records of closed episodes,
        in the order the stream worker publishes them; otherwise they are only collected
        in :attr:`ReplayResult.resolved`, from samples only (ignored with ``pipeline``).

    Returns
    -------
    ReplayResult
    """
    if partitions > 1:
        if pipeline is not None:
            raise ValueError("an existing pipeline has one clock: use partitions=1")
        from stream.partition import PartitionMonitor, partition_for

        clocks = [
            PartitionMonitor(p, configs, tick_every=tick_every, emit_resolved=emit_resolved)
            for p in range(partitions)
        ]
    pipe = pipeline if pipeline is not None else Pipeline(configs, emit_resolved=emit_resolved)
    result = ReplayResult()
    scores = result.scores
    alerts = result.alerts
    rejected = result.rejected
    process = pipe.process
    resolved = result.resolved
    partitioned = partitions > 1
    partition_of: dict[str, PartitionMonitor] = {}  # by patient
    next_tick = math.inf
    watermark = -math.inf
    samples = accepted = 0
    for raw in records:
        samples += 1
        mapping: Mapping[str, object] | None
        pid: object
        if isinstance(raw, Sample):  # validated by the reader (RecordReader.entries)
            sample, mapping, pid = raw, None, raw.patient_id
        else:
            mapping, pid = raw, raw.get("patient_id")
        if partitioned and isinstance(pid, str) and pid:
            try:
                part = partition_of[pid]
            except KeyError:  # (a hash per patient, not per sample)
                part = partition_of[pid] = clocks[partition_for(pid, partitions)]
            pipe = part.pipeline
            process = pipe.process
            watermark, next_tick = part.watermark, part.next_tick
        if mapping is not None:
            did = mapping.get("device_id")
            if did is None:  # a recorded stream without devices: one per patient
                did = pid
            try:
                sample = parse_sample(mapping, patient_id=pid, device_id=did)  # type: ignore[arg-type]
            except SampleRejected as exc:
                rejected[exc.reason_code] += 1
                if isinstance(pid, str) and pid:
                    try:
                        ts = parse_ts(mapping.get("ts"))
                    except SampleRejected:
                        ts = watermark if watermark > -math.inf else 0.0
                    for a in pipe.note_rejected(pid, ts, exc.reason_code):
                        alerts.append(a)
                        if on_alert is not None:
                            on_alert(a)
                continue
        ts = sample.ts
        # the clock's time: a spot sample's earlier (stream.partition; a sample with HR is
        # none: most samples, without a call)
        now = ts if sample.hr is not None else clock_time(sample)
        if now > watermark:
            watermark = now
            if next_tick == math.inf:
                next_tick = (now // tick_every + 1) * tick_every
            elif now >= next_tick:
                for a in pipe.advance(now // tick_every * tick_every):
                    alerts.append(a)
                    if on_alert is not None:
                        on_alert(a)
                next_tick = (now // tick_every + 1) * tick_every
        if partitioned:
            part.watermark, part.next_tick = watermark, next_tick
        step = process(sample)
        accepted += 1
        if keep_scores:
            scores.append((sample.patient_id, ts, step.score))
        if on_score is not None:
            on_score(sample.patient_id, ts, step.score)
        if step.alerts:
            for a in step.alerts:
                alerts.append(a)
                if on_alert is not None:
                    on_alert(a)
        if step.resolved:
            resolved.extend(step.resolved)
            if emit_resolved:
                for a in step.resolved:
                    alerts.append(a)
                    if on_alert is not None:
                        on_alert(a)
    result.samples = samples
    result.accepted = accepted
    result.pipelines = [c.pipeline for c in clocks] if partitioned else [pipe]
    return result

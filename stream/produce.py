"""``vigil produce INPUT.jsonl``: samples from a file into ``vigil.vitals``, as the gateway does.

Each line is one raw sample (JSON object with ``patient_id`` and ``device_id``, e.g. a
``samples.jsonl`` from ``vigil simulate``). Lines are validated with the same
:func:`~ingest.sample.parse_sample` as the gateway; valid samples are encoded with
:func:`ingest.encoding.records_from_samples` (consecutive samples of one patient and device
share a record) and keyed by patient id; invalid lines go to the DLQ with their reason, and
when they name a patient (the file is trusted, as by ``vigil replay``) a
:class:`~ingest.encoding.RejectionNotice` takes their place in the patient's records, as the
gateway writes one, so the worker notes runs of rejected data where replay does.

File order is kept within every partition: a record never reorders samples, so the worker
sees each patient's samples, and the interleaving of patients on a partition, exactly as
they appear in the file (what makes the worker's alerts comparable to ``vigil replay``).

The pure part, :func:`iter_records`, turns lines into ``(topic, key, value)`` records; the
Kafka part, :func:`produce_file`, sends them with kafka-python and waits for every ack.

Examples
--------
>>> from ingest.encoding import decode_dead_letter, decode_entries, decode_vitals
>>> lines = [b'{"patient_id":"p1","device_id":"d1","ts":1709280000,"hr":70}',
...          b'{"patient_id":"p1","device_id":"d1","ts":1709280060,"hr":71}',
...          b'{"patient_id":"p1","device_id":"d1","ts":1709280120,"hr":999}',
...          b'not json']
>>> stats = ProduceStats()
>>> records = list(iter_records(lines, stats, vitals_topic="vigil.vitals",
...                             dlq_topic="vigil.vitals.dlq", source_name="file:f.jsonl",
...                             received_at=1709280200.0))
>>> [(t, k) for t, k, _ in records]
[('vigil.vitals.dlq', b'p1'), ('vigil.vitals.dlq', None), ('vigil.vitals', b'p1')]
>>> len(decode_vitals(records[2][2])), decode_dead_letter(records[0][2]).reason
(2, 'out_of_range')
>>> decode_entries(records[2][2])[-1]
RejectionNotice(patient_id='p1', device_id='d1', ts=1709280120.0, reason='out_of_range')
>>> stats.samples, dict(stats.rejected)
(2, {'out_of_range': 1, 'bad_json': 1})
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from ingest.encoding import (
    RejectionNotice,
    dead_letter,
    encode_dead_letter,
    records_from_samples,
)
from ingest.exceptions import SampleRejected
from ingest.sample import Sample, parse_sample, parse_ts
from stream.exceptions import ProduceError

__all__ = ["ProduceError", "ProduceReport", "ProduceStats", "iter_records", "produce_file"]

logger = logging.getLogger(__name__)

#: What a dead letter from this command names as its source.
SOURCE = "produce"


@dataclass
class ProduceStats:
    """What :func:`iter_records` saw: valid samples and refusals by reason."""

    samples: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class ProduceReport:
    """Outcome of :func:`produce_file`."""

    samples: int
    records: int
    rejected: dict[str, int]
    seconds: float


def iter_records(
    lines: Iterable[bytes],
    stats: ProduceStats,
    *,
    vitals_topic: str,
    dlq_topic: str,
    source_name: str,
    received_at: float,
    max_samples: int = 500,
) -> Iterator[tuple[str, bytes | None, bytes]]:
    """Validate ``lines`` and yield the ``(topic, key, value)`` records to send, in order.

    Vitals records come in file order; a dead letter is yielded as soon as its line is read
    (the DLQ is another topic, so its order relative to the vitals does not matter).
    """
    dead: list[tuple[str, bytes | None, bytes]] = []

    def samples() -> Iterator[Sample | RejectionNotice]:
        for line in lines:
            line = line.strip()
            if not line:
                continue
            try:
                raw = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                dead.append(
                    _refusal(
                        stats,
                        dlq_topic,
                        line,
                        "bad_json",
                        str(exc),
                        None,
                        None,
                        source_name,
                        received_at,
                    )
                )
                continue
            pid = raw.get("patient_id") if isinstance(raw, dict) else None
            did = raw.get("device_id") if isinstance(raw, dict) else None
            try:
                sample = parse_sample(raw, patient_id=pid, device_id=did)  # type: ignore[arg-type]
            except SampleRejected as exc:
                dead.append(
                    _refusal(
                        stats,
                        dlq_topic,
                        line,
                        exc.reason_code,
                        exc.detail,
                        pid if isinstance(pid, str) and pid else None,
                        did if isinstance(did, str) else None,
                        source_name,
                        received_at,
                    )
                )
                if isinstance(pid, str) and pid:
                    device = did if isinstance(did, str) else ""
                    yield RejectionNotice(pid, device, _readable_ts(raw), exc.reason_code)
                continue
            stats.samples += 1
            yield sample

    for key, value in records_from_samples(
        samples(), received_at=received_at, max_samples=max_samples
    ):
        if dead:
            yield from dead
            dead.clear()
        yield vitals_topic, key, value
    yield from dead


def _readable_ts(raw: dict[str, object]) -> float | None:
    try:
        return parse_ts(raw.get("ts"))
    except (SampleRejected, OverflowError):
        return None


def _refusal(
    stats: ProduceStats,
    dlq_topic: str,
    line: bytes,
    reason: str,
    detail: str,
    patient_id: str | None,
    device_id: str | None,
    source_name: str,
    received_at: float,
) -> tuple[str, bytes | None, bytes]:
    stats.rejected[reason] += 1
    letter = dead_letter(
        reason=reason,
        detail=detail,
        source=SOURCE,
        topic=source_name,
        device_id=device_id,
        received_at=received_at,
        payload=line,
    )
    return dlq_topic, patient_id.encode() if patient_id else None, encode_dead_letter(letter)


def produce_file(
    path: Path,
    *,
    bootstrap: str,
    vitals_topic: str,
    dlq_topic: str,
    max_samples: int = 500,
    linger_ms: int = 20,
    batch_size: int = 512 * 1024,
) -> ProduceReport:
    """Send the samples of JSONL file ``path`` to ``vitals_topic``; wait for every ack.

    The producer is idempotent with ``acks=all`` so a retried batch cannot duplicate or
    reorder records, and the keys go through Kafka's default (murmur2) partitioner, as the
    gateway's do.
    """
    from kafka import KafkaProducer

    t0 = time.perf_counter()
    stats = ProduceStats()
    failures: list[BaseException] = []
    records = 0
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="vigil-produce",
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
        batch_size=batch_size,
        max_request_size=4 * 1024 * 1024,
    )
    try:
        with path.open("rb") as fh:
            for topic, key, value in iter_records(
                fh,
                stats,
                vitals_topic=vitals_topic,
                dlq_topic=dlq_topic,
                source_name=f"file:{path.name}",
                received_at=time.time(),
                max_samples=max_samples,
            ):
                producer.send(topic, key=key, value=value).add_errback(failures.append)
                records += 1
        producer.flush()
    finally:
        producer.close()
    if failures:
        raise ProduceError(f"{len(failures)} records were not delivered: {failures[0]!r}")
    report = ProduceReport(
        samples=stats.samples,
        records=records,
        rejected=dict(stats.rejected),
        seconds=time.perf_counter() - t0,
    )
    logger.info(
        "produced %d samples in %d records (%d rejected) in %.1f s",
        report.samples,
        report.records,
        sum(report.rejected.values()),
        report.seconds,
    )
    return report

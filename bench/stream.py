"""Stream worker throughput: one ``vigil worker`` draining a pre-filled ``vigil.vitals``.

For each upload size (samples per Kafka record: 1 is a device publishing every reading, 10 a
device uploading every ten minutes), the bench

1. simulates a cohort and reorders it into uploads of that size (each patient's samples stay
   in order; an upload goes out when its last sample is due),
2. writes it into a fresh topic with ``vigil produce`` (the gateway's encoding),
3. reads it all back with a bare aiokafka consumer that only decodes (``decode_vitals``):
   the ceiling any consumer in Python reaches on this machine,
4. starts one ``vigil worker`` (a subprocess, default settings), waits until its committed
   offsets reach the end of the topic, stops it and takes its own rate (samples between its
   first and last record),

and prints samples/s for both and their ratio, next to the worker's core alone (decode,
detection, rollups in one process without Kafka: the ceiling of any Kafka adapter). Needs
Kafka (``VIGIL_KAFKA_BOOTSTRAP``, default 127.0.0.1:9092); topics are prefixed per run and
left behind (small).

    .venv/bin/python bench/stream.py --patients 100 --days 1 --batch 1 10 60
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder comes first on sys.path, and bench/stream.py and
# bench/ingest.py would shadow the packages of the same names.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))
VIGIL = str(REPO / ".venv" / "bin" / "vigil")


def reorder_uploads(lines: list[bytes], batch: int) -> list[bytes]:
    """Group each patient's consecutive samples into uploads of ``batch``, in upload order."""
    if batch <= 1:
        return lines
    per_patient: dict[str, list[tuple[int, bytes]]] = {}
    for i, line in enumerate(lines):
        per_patient.setdefault(orjson.loads(line)["patient_id"], []).append((i, line))
    uploads: list[tuple[int, list[bytes]]] = []
    for rows in per_patient.values():
        for k in range(0, len(rows), batch):
            chunk = rows[k : k + batch]
            uploads.append((chunk[-1][0], [line for _, line in chunk]))
    uploads.sort(key=lambda u: u[0])
    return [line for _, chunk in uploads for line in chunk]


async def bare_consume(bootstrap: str, topic: str, partitions: int) -> tuple[int, float]:
    """Read and decode the whole topic; return (samples, seconds from first record to last)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from ingest.encoding import decode_vitals

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        remaining = sum(end.values())
        samples = 0
        t0 = None
        while remaining > 0:
            batches = await consumer.getmany(timeout_ms=1000)
            if t0 is None and batches:
                t0 = time.perf_counter()
            for records in batches.values():
                remaining -= len(records)
                for rec in records:
                    samples += len(decode_vitals(rec.value))
        return samples, time.perf_counter() - (t0 or time.perf_counter())
    finally:
        await consumer.stop()


def core_rate(path: Path, partitions: int) -> float:
    """Samples/s of the worker's core alone (decode, detect, rollups), in process, no Kafka."""
    from ingest.encoding import records_from_samples
    from ingest.exceptions import SampleRejected
    from ingest.sample import parse_sample
    from stream.partition import partition_for
    from stream.processor import OutputTopics, VitalsProcessor

    samples = []
    for line in path.read_bytes().splitlines():
        raw = orjson.loads(line)
        try:
            samples.append(
                parse_sample(raw, patient_id=raw["patient_id"], device_id=raw["device_id"])
            )
        except SampleRejected:
            continue
    records = list(records_from_samples(samples, received_at=0.0))
    proc = VitalsProcessor(OutputTopics.for_prefix(""))
    proc.restore(set(range(partitions)), [])
    offsets = [0] * partitions
    t0 = time.perf_counter()
    for key, value in records:
        p = partition_for(key, partitions)
        proc.handle(p, offsets[p], key, value, now=0.0)
        offsets[p] += 1
    return len(samples) / (time.perf_counter() - t0)


def committed_total(bootstrap: str, group: str, topic: str) -> tuple[int, int]:
    """(sum of committed offsets of ``group`` on ``topic``, sum of end offsets)."""
    from kafka import KafkaConsumer, TopicPartition

    # A consumer that names the group but never subscribes only reads its offsets.
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        end = consumer.end_offsets(tps)
        done = sum(consumer.committed(tp) or 0 for tp in tps)
        return done, sum(end.values())
    finally:
        consumer.close()


def run_worker(env: dict[str, str], bootstrap: str, group: str, topic: str, log: Path) -> str:
    """Run one worker until the topic is committed to its end; return its log."""
    with log.open("wb") as out:
        proc = subprocess.Popen([VIGIL, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                time.sleep(2)
                done, end = committed_total(bootstrap, group, topic)
                if end and done >= end:
                    break
            else:
                raise TimeoutError("worker did not drain the topic in 15 min")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
    return log.read_text(errors="replace")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--partitions", type=int, default=12)
    args = parser.parse_args()

    from kafka import KafkaConsumer, TopicPartition

    from ingest.simulator import CohortSpec, write_cohort
    from vigil.devstack import drop_scratch_topics

    bootstrap = os.environ.get("VIGIL_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    work = Path(tempfile.mkdtemp(prefix="vigil-bench-stream-"))
    write_cohort(CohortSpec(patients=args.patients, days=args.days, seed=11), work)
    lines = (work / "samples.jsonl").read_bytes().splitlines()
    print(f"cohort: {args.patients} patients x {args.days} days, {len(lines)} lines")
    print(
        f"{'batch':>5} {'records':>8} {'samples':>8} {'bare/s':>10} {'core/s':>8} "
        f"{'worker/s':>9} {'ratio':>6} {'w/core':>6}"
    )
    for batch in args.batch:
        prefix = f"bench-{uuid.uuid4().hex[:8]}."
        env = {
            **os.environ,
            "VIGIL_KAFKA_BOOTSTRAP": bootstrap,
            "VIGIL_TOPIC_PREFIX": prefix,
            "VIGIL_VITALS_PARTITIONS": str(args.partitions),
            "VIGIL_WORKER_STATE_DIR": str(work / "state"),
        }
        try:
            path = work / f"uploads-{batch}.jsonl"
            path.write_bytes(b"\n".join(reorder_uploads(lines, batch)) + b"\n")
            subprocess.run([VIGIL, "produce", str(path)], env=env, check=True, capture_output=True)
            topic = f"{prefix}vigil.vitals"
            c = KafkaConsumer(bootstrap_servers=bootstrap)
            tps = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or ()]
            records = sum(c.end_offsets(tps).values())
            c.close()
            samples, seconds = asyncio.run(bare_consume(bootstrap, topic, len(tps)))
            bare = samples / seconds if seconds else float("inf")
            text = run_worker(
                env, bootstrap, f"{prefix}vigil-worker", topic, work / f"w{batch}.log"
            )
            rates = re.findall(r"samples (\d+) \((\d+) samples/s\)", text)
            if not rates:
                sys.exit(f"no worker rate in {work / f'w{batch}.log'}")
            worker_samples, worker_rate = (int(x) for x in rates[-1])
            assert worker_samples == samples, (worker_samples, samples)  # noqa: S101
            core = core_rate(path, args.partitions)
        finally:
            drop_scratch_topics(bootstrap, prefix)  # the worker's changelogs too
        print(
            f"{batch:>5} {records:>8} {samples:>8} {bare:>10.0f} {core:>8.0f} {worker_rate:>9} "
            f"{worker_rate / bare:>6.3f} {worker_rate / core:>6.2f}"
        )


if __name__ == "__main__":
    main()

"""``vigil worker`` on the real Kafka: the same alerts as replay, failover, restart, the DLQ.

Each test gets its own topic prefix (and so its own consumer group and changelog topic) and
runs ``vigil worker`` as real processes. The reference is ``vigil replay`` of the same lines
with the topic's partition count (:func:`stream.replay.replay` with ``partitions``): its
pipeline and tick rule run per partition, and the invalid lines are noted where they stand
(``vigil produce`` leaves a rejection notice in their place).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from alerts.model import Alert
from ingest.encoding import decode_dead_letter
from ingest.exceptions import SampleRejected
from ingest.sample import Sample, parse_sample
from ingest.simulator import CohortSpec, write_cohort
from stream.checkpoint import PartitionCheckpoint, PatientCheckpoint, canonical_state, decode
from stream.config_feed import encode_config
from stream.detect.config import PatientConfig
from stream.partition import partition_for
from stream.processor import OutputTopics, VitalsProcessor
from stream.produce import ProduceStats, iter_records, produce_file
from stream.replay import replay
from stream.rollup import decode_news2, decode_vitals_rollup
from stream.worker_settings import WorkerSettings
from stream.worker_topics import ensure_topics

# Worker processes start, rebalance and restore changelogs: generous bounds for a loaded box.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

PARTITIONS = 6
VIGIL = str(Path(sys.executable).parent / "vigil")


@dataclass
class Cohort:
    path: Path
    lines: list[bytes]
    samples: list[Sample]
    configs: dict[str, PatientConfig]

    def expected(
        self, configs: dict[str, PatientConfig] | None = None, *, emit_resolved: bool = False
    ) -> list[Alert]:
        """What ``vigil replay --partitions`` of the lines raises."""
        rows = [json.loads(line) for line in self.lines]
        return replay(
            rows, partitions=PARTITIONS, configs=configs, keep_scores=False,
            emit_resolved=emit_resolved,
        ).alerts  # fmt: skip


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    """50 patients x 1 day (~70k samples, a few invalid ones), with clinician settings."""
    out = tmp_path_factory.mktemp("cohort")
    write_cohort(CohortSpec(patients=50, days=1.0, seed=21), out)
    lines = (out / "samples.jsonl").read_bytes().splitlines()
    samples = []
    for line in lines:
        raw = json.loads(line)
        try:
            samples.append(
                parse_sample(raw, patient_id=raw["patient_id"], device_id=raw["device_id"])
            )
        except SampleRejected:
            continue
    labels = json.loads((out / "labels.json").read_text())
    configs = {p["patient_id"]: PatientConfig.from_dict(p["config"]) for p in labels["patients"]}
    return Cohort(out / "samples.jsonl", lines, samples, configs)


class Stack:
    """One isolated pipeline (topic prefix) on the test Kafka."""

    def __init__(self, bootstrap: str, root: Path) -> None:
        self.bootstrap = bootstrap
        self.root = root
        self.prefix = f"t{uuid.uuid4().hex[:10]}."
        self.settings = WorkerSettings(
            _env_file=None, kafka_bootstrap=bootstrap, topic_prefix=self.prefix,
            vitals_partitions=PARTITIONS,
        )  # fmt: skip
        self.topics = OutputTopics.for_prefix(self.prefix)
        self.procs: list[subprocess.Popen[bytes]] = []
        ensure_topics(self.settings)

    def env(self, state: str, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "VIGIL_KAFKA_BOOTSTRAP": self.bootstrap,
            "VIGIL_TOPIC_PREFIX": self.prefix,
            "VIGIL_VITALS_PARTITIONS": str(PARTITIONS),
            "VIGIL_WORKER_STATE_DIR": str(self.root / state),
            "VIGIL_CHECKPOINT_EVERY_S": "1",
            **extra,
        }

    def produce(self, lines: list[bytes], name: str) -> None:
        path = self.root / name
        path.write_bytes(b"\n".join(lines) + b"\n")
        produce_file(path, bootstrap=self.bootstrap, vitals_topic=self.topics.vitals,
                     dlq_topic=self.topics.dlq)  # fmt: skip

    def send(self, topic: str, records: list[tuple[bytes, bytes]]) -> None:
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        for fut in [producer.send(topic, key=k, value=v) for k, v in records]:
            fut.get(timeout=30)
        producer.close()

    def start_worker(self, name: str, state: str) -> subprocess.Popen[bytes]:
        with (self.root / f"{name}.log").open("wb") as log:  # the child keeps its own copy
            proc = subprocess.Popen([VIGIL, "worker"], env=self.env(state), stdout=log, stderr=log)
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def end_offsets(self) -> dict[int, int]:
        """The end offset of each ``vigil.vitals`` partition."""
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            tps = [TopicPartition(self.topics.vitals, p) for p in range(PARTITIONS)]
            return {tp.partition: offset for tp, offset in consumer.end_offsets(tps).items()}
        finally:
            consumer.close()

    def progress(self) -> float:
        """Share of ``vigil.vitals`` the worker group has processed and checkpointed.

        A partition checkpoint at offset ``o`` means every record before ``o`` was applied and
        its outputs were in Kafka before the checkpoint: the worker's durability point. The
        group's committed offsets follow it (:meth:`wait_committed`).
        """
        end = self.end_offsets()
        done = self.checkpointed()
        total = sum(end.values())
        return sum(min(done.get(p, 0), o) for p, o in end.items()) / total if total else 1.0

    def wait_committed(self, timeout: float = 60.0) -> None:
        """Wait until the group's committed offset is the end of every partition."""
        end = self.end_offsets()
        deadline = time.monotonic() + timeout
        while (committed := {p: self.committed(p) for p in end}) != end:
            assert time.monotonic() < deadline, f"committed {committed} stuck short of {end}"
            assert any(p.poll() is None for p in self.procs), "every worker died"
            time.sleep(1.0)

    def checkpointed(self) -> dict[int, int]:
        """The latest checkpointed offset of each ``vigil.vitals`` partition (changelog)."""
        latest: dict[int, int] = {}
        for r in self.read(f"{self.settings.group_id}-patient-state-changelog"):
            cp = decode(r.value)
            if isinstance(cp, PartitionCheckpoint):
                latest[cp.partition] = cp.offset
        return latest

    def committed(self, partition: int) -> int:
        """The worker group's committed offset on one ``vigil.vitals`` partition (0: none)."""
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.settings.group_id)
        try:
            return consumer.committed(TopicPartition(self.topics.vitals, partition)) or 0
        finally:
            consumer.close()

    def wait_progress(self, share: float, timeout: float = 400.0) -> None:
        deadline = time.monotonic() + timeout
        while self.progress() < share:
            assert time.monotonic() < deadline, f"workers stuck below {share:.0%}"
            assert any(p.poll() is None for p in self.procs), "every worker died"
            time.sleep(0.5)

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)

    def read(self, topic: str) -> list[Any]:
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        try:
            tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            if not tps:  # not created yet (the worker declares its changelog on start)
                return []
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            end = consumer.end_offsets(tps)
            records: list[Any] = []
            while any(consumer.position(tp) < end[tp] for tp in tps):
                for batch in consumer.poll(timeout_ms=1000).values():
                    records += batch
            return records
        finally:
            consumer.close()

    def alerts(self) -> list[Alert]:
        return [Alert.from_json(r.value) for r in self.read(self.topics.alerts)]

    def states(self) -> dict[str, bytes]:
        """The latest checkpointed detection state of every patient (from the changelog)."""
        latest: dict[str, bytes] = {}
        for r in self.read(f"{self.settings.group_id}-patient-state-changelog"):
            cp = decode(r.value)
            if isinstance(cp, PatientCheckpoint):
                latest[r.key.decode()] = cp.state
        return latest


@pytest.fixture
def stack(stack_env: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    s = Stack(stack_env["VIGIL_KAFKA_BOOTSTRAP"], tmp_path)
    yield s
    for proc in s.procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def assigned(log: str) -> list[int]:
    """The partitions a worker logged as assigned to it most recently."""
    found = re.findall(r"assigned vitals partitions \[([\d, ]*)\]", log)
    return [int(p) for p in found[-1].split(",") if p.strip()] if found else []


def restored(log: str) -> list[tuple[int, int, int]]:
    """(partition, patients, offset) of every restore a worker logged."""
    pattern = r"partition (\d+) restored: (\d+) patients, resuming at offset (\d+)"
    return [(int(p), int(n), int(o)) for p, n, o in re.findall(pattern, log)]


def test_one_worker_raises_replays_alerts_and_dead_letters_garbage(
    stack: Stack, cohort: Cohort
) -> None:
    configs = [(pid.encode(), encode_config(c)) for pid, c in cohort.configs.items()]
    stack.send(stack.settings.topics.patient_config, configs)
    stack.send(stack.topics.vitals, [(b"p0001", b"\xc1 not a vitals record")])
    stack.produce(cohort.lines, "samples.jsonl")
    worker = stack.start_worker("w1", "s1")
    stack.wait_progress(1.0)
    stack.wait_committed()
    stack.stop(worker)

    expected = cohort.expected(cohort.configs)
    got = stack.alerts()
    assert {a.alert_id for a in got} == {a.alert_id for a in expected}
    # The records are replay's JSON objects, one for one (resolved ones come on top).
    dump = json.dumps
    assert sorted(dump(a.to_json_dict()) for a in got if a.status != "resolved") == sorted(
        dump(a.to_json_dict()) for a in expected
    )
    # ... and so are its resolutions: vigil replay writes the worker's alert stream
    with_resolved = cohort.expected(cohort.configs, emit_resolved=True)
    assert sorted(dump(a.to_json_dict()) for a in got) == sorted(
        dump(a.to_json_dict()) for a in with_resolved
    )
    [dead] = [decode_dead_letter(r.value) for r in stack.read(stack.topics.dlq)
              if decode_dead_letter(r.value).source == "worker"]  # fmt: skip
    assert (dead.reason, dead.payload, dead.topic) == (
        "undecodable_record", b"\xc1 not a vitals record", stack.topics.vitals,
    )  # fmt: skip
    rollups = [decode_vitals_rollup(r.value) for r in stack.read(stack.topics.rollups)]
    news2 = [decode_news2(r.value) for r in stack.read(stack.topics.news2)]
    assert {r.patient_id for r in rollups} == {s.patient_id for s in cohort.samples}
    assert len(rollups) > 0.5 * len(cohort.samples) and news2


def test_a_killed_workers_partitions_move_to_the_survivor_with_their_state(
    stack: Stack, cohort: Cohort
) -> None:
    stack.produce(cohort.lines, "samples.jsonl")
    # Both join at once (same settings: each locks its own state slot). The group rebalances
    # as they come; partitions the survivor owned before return to it after the kill.
    a = stack.start_worker("a", "shared")
    b = stack.start_worker("b", "shared")
    deadline = time.monotonic() + 120
    while not all(assigned(stack.log(n)) for n in "ab"):
        assert time.monotonic() < deadline, "the two workers never shared the partitions"
        assert a.poll() is None and b.poll() is None, "a worker died on its own"
        time.sleep(0.5)
    stack.wait_progress(0.35)

    # Kill `a` only once it has checkpointed (and so committed) on a partition it owns now,
    # past where it resumed it; otherwise the survivor has nothing of a's to restore and the
    # test proves nothing (an offset b committed while it owned the partition earlier does
    # not count: only the current owner commits).
    def a_checkpointed() -> bool:
        log = stack.log("a")
        resumed = {p: o for p, _, o in restored(log)}
        return any(p in resumed and stack.committed(p) > resumed[p] for p in assigned(log))

    while not a_checkpointed():
        assert time.monotonic() < deadline + 240, "worker a never committed on its partitions"
        assert a.poll() is None, "worker a died on its own"
        time.sleep(0.2)
    a.send_signal(signal.SIGKILL)
    a.wait(timeout=30)
    stack.wait_progress(1.0)
    stack.wait_committed()  # the group's position follows its checkpoints to the end
    stack.stop(b)

    expected = cohort.expected()
    assert {x.alert_id for x in stack.alerts()} == {x.alert_id for x in expected}
    # The survivor restored partitions from checkpoints the dead worker wrote.
    a_started = {p: o for p, _, o in restored(stack.log("a"))}
    taken = [p for p, n, o in restored(stack.log("b")) if n > 0 and o > a_started.get(p, o)]
    assert taken


def test_partitions_that_return_to_a_rejoining_worker_keep_the_commits_going(
    stack: Stack, cohort: Cohort
) -> None:
    stack.produce(cohort.lines, "samples.jsonl")
    a = stack.start_worker("a", "shared")
    b = stack.start_worker("b", "shared")  # both join at once
    stack.wait_progress(0.3)
    stack.stop(b)  # a takes every partition, then b rejoins (with its state slot)
    stack.wait_progress(0.6)
    b = stack.start_worker("b2", "shared")
    stack.wait_progress(1.0)
    stack.wait_committed()
    stack.stop(a)
    stack.stop(b)
    assert {x.alert_id for x in stack.alerts()} == {x.alert_id for x in cohort.expected()}
    assert assigned(stack.log("b2")), "the rejoined worker never got partitions back"


def test_a_restarted_worker_restores_learned_state_instead_of_relearning(
    stack: Stack, cohort: Cohort
) -> None:
    half = len(cohort.lines) // 2
    stack.produce(cohort.lines[:half], "first.jsonl")
    first = stack.start_worker("first", "s1")
    stack.wait_progress(1.0)
    stack.wait_committed()
    stack.stop(first)
    saved = stack.states()

    stack.produce(cohort.lines[half:], "second.jsonl")
    second = stack.start_worker("second", "s2")  # a new state dir: only the changelog is left
    stack.wait_progress(1.0)
    stack.wait_committed()
    stack.stop(second)
    first_restores = {p: n for p, n, _ in reversed(restored(stack.log("second")))}
    assert sum(first_restores.values()) == len(saved)

    # What an uninterrupted run over both halves holds at the end, and raises on the way.
    whole = VitalsProcessor(stack.topics)
    whole.restore(set(range(PARTITIONS)), [])
    offsets = [0] * PARTITIONS
    records = iter_records(cohort.lines, ProduceStats(), vitals_topic="v", dlq_topic="dlq",
                           source_name="file", received_at=0.0)  # fmt: skip
    for key, value in ((k, v) for t, k, v in records if t == "v" and k is not None):
        p = partition_for(key, PARTITIONS)
        whole.handle(p, offsets[p], key, value, now=0.0)
        offsets[p] += 1
    expected = cohort.expected()
    assert {x.alert_id for x in stack.alerts()} == {x.alert_id for x in expected}
    # Every patient's last checkpoint is its state at the end of an uninterrupted run: what
    # the ticks changed in silent patients included, nothing re-applied after the restore.
    final = stack.states()
    differ = [
        pid
        for p in range(PARTITIONS)
        for pid, state in whole.patient_states(p).items()
        if canonical_state(final[pid]) != canonical_state(state)
    ]
    assert differ == [], "checkpointed state differs from an uninterrupted run's"

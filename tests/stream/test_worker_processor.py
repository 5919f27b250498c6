"""The worker's core without Kafka: per-partition detection, checkpoints, restore, dead letters."""

from __future__ import annotations

import random
from collections.abc import Iterator

import orjson
import pytest
from kafka.partitioner.default import murmur2 as kafka_murmur2

from alerts.model import Alert
from ingest.directory import DeviceRecord, Enrollment, InMemoryDirectory
from ingest.encoding import decode_dead_letter, encode_vitals, records_from_samples
from ingest.exceptions import SampleRejected
from ingest.payload import PayloadHandler, device_topic
from ingest.sample import Sample, parse_sample
from ingest.simulator import CohortSpec, iter_cohort
from ingest.topics import TopicNames
from stream.checkpoint import (
    MemoryCheckpointStore,
    PartitionCheckpoint,
    PatientCheckpoint,
    canonical_state,
    decode,
    encode,
    partition_key,
    patient_key,
)
from stream.partition import murmur2, partition_for
from stream.processor import Out, OutputTopics, VitalsProcessor
from stream.replay import replay
from stream.rollup import decode_news2, decode_vitals_rollup

PARTITIONS = 4
TOPICS = OutputTopics.for_prefix("t.")


@pytest.fixture(scope="module")
def cohort() -> list[Sample]:
    """Valid samples of a small cohort, in arrival order (gaps, dropouts, late batches)."""
    spec = CohortSpec(patients=8, days=0.5, seed=5, invalid_fraction=0.0)
    out = []
    for rec in iter_cohort(spec):
        raw = rec.payload
        try:
            out.append(parse_sample(raw, patient_id=raw["patient_id"], device_id=raw["device_id"]))
        except SampleRejected:
            continue
    return out


@pytest.fixture(scope="module")
def reference(cohort: list[Sample]) -> list[Alert]:
    rows = [{**s.to_dict(), "ts": s.ts} for s in cohort]
    return replay(rows, partitions=PARTITIONS, keep_scores=False).alerts


def topic_records(samples: list[Sample]) -> list[tuple[int, int, bytes, bytes]]:
    """(partition, offset, key, value) as vigil produce would lay the samples out."""
    offsets = [0] * PARTITIONS
    out = []
    for key, value in records_from_samples(samples, received_at=1.7e9):
        p = partition_for(key, PARTITIONS)
        out.append((p, offsets[p], key, value))
        offsets[p] += 1
    return out


def alert_keys(outs: list[Out]) -> Iterator[tuple[str, int, str]]:
    for o in outs:
        if o.topic == TOPICS.alerts:
            a = Alert.from_json(o.value)
            yield a.alert_id, a.seq, a.status


def run(proc: VitalsProcessor, records: list[tuple[int, int, bytes, bytes]]) -> list[Out]:
    outs: list[Out] = []
    for p, offset, key, value in records:
        outs += proc.handle(p, offset, key, value, now=0.0)
    return outs


def fresh(store: MemoryCheckpointStore | None = None) -> VitalsProcessor:
    proc = VitalsProcessor(TOPICS, checkpoint_every_samples=50, checkpoint_every_s=3600)
    proc.restore(set(range(PARTITIONS)), (store or MemoryCheckpointStore()).items())
    return proc


def canonical(states: dict[str, bytes]) -> dict[str, object]:
    return {pid: canonical_state(data) for pid, data in states.items()}


def save(proc: VitalsProcessor, store: MemoryCheckpointStore, partitions: list[int]) -> None:
    for p in partitions:
        for key, value in proc.checkpoint(p):
            store.put(p, key, value)


def test_partition_for_matches_kafka_default_partitioner() -> None:
    rng = random.Random(3)
    keys = [b"", b"p0001", *(rng.randbytes(rng.randint(1, 40)) for _ in range(500))]
    for key in keys:
        assert murmur2(key) == kafka_murmur2(key) & 0xFFFFFFFF
        assert partition_for(key, 12) == (kafka_murmur2(key) & 0x7FFFFFFF) % 12


def test_processor_raises_the_partitioned_replay_alerts(
    cohort: list[Sample], reference: list[Alert]
) -> None:
    outs = run(fresh(), topic_records(cohort))
    raised = [Alert.from_json(o.value) for o in outs if o.topic == TOPICS.alerts]
    assert {a.alert_id for a in raised} == {a.alert_id for a in reference}
    # The very records replay writes, in the same order (plus the resolved ones).
    assert [a.to_json_dict() for a in raised if a.status != "resolved"] == [
        a.to_json_dict() for a in reference
    ]


def gateway_records(
    rows: list[dict[str, object]], *, batch: int = 7
) -> list[tuple[int, int, bytes, bytes]]:
    """What the gateway puts on ``vigil.vitals`` for ``rows`` sent by their devices.

    Consecutive rows of a device share a message (up to ``batch``), so refused samples sit
    between valid ones inside a record.
    """
    owners = {str(r["device_id"]): str(r["patient_id"]) for r in rows}
    handler = PayloadHandler(
        InMemoryDirectory(DeviceRecord(d, (Enrollment(p, 0.0),)) for d, p in owners.items()),
        TopicNames("t."),
    )
    messages: list[tuple[str, list[dict[str, object]]]] = []
    for row in rows:
        body = {k: v for k, v in row.items() if k not in ("patient_id", "device_id")}
        device = str(row["device_id"])
        if messages and messages[-1][0] == device and len(messages[-1][1]) < batch:
            messages[-1][1].append(body)
        else:
            messages.append((device, [body]))
    offsets = [0] * PARTITIONS
    out = []
    for device, bodies in messages:
        payload = orjson.dumps({"samples": bodies})
        for rec in handler.handle(device_topic(device), payload, received_at=2e9):
            if rec.topic == TOPICS.vitals:
                assert rec.key is not None
                p = partition_for(rec.key, PARTITIONS)
                out.append((p, offsets[p], rec.key, rec.value))
                offsets[p] += 1
    return out


def test_refused_samples_from_the_gateway_raise_replays_rejected_data_alerts(
    cohort: list[Sample],
) -> None:
    rows: list[dict[str, object]] = [{**s.to_dict(), "ts": s.ts} for s in cohort]
    first = rows[0]
    pid, did = first["patient_id"], first["device_id"]
    mine = [i for i, r in enumerate(rows) if r["patient_id"] == pid]
    at = mine[120]
    t = float(rows[at]["ts"])  # type: ignore[arg-type]
    burst: list[dict[str, object]] = [
        {"ts": t + 1, "hr": 400},  # out_of_range, with a readable ts
        {"hr": 70},  # missing_ts: noted at the partition's event time
        {"ts": "yesterday", "hr": 70},  # bad_ts
        {"ts": t + 2, "hr": "fast"},  # wrong_type
        {"ts": t + 3, "spo2": 150},
        {"ts": t + 4, "hr": 401},
    ]
    bad = [{"patient_id": pid, "device_id": did, **r} for r in burst]
    # Another patient's refusals, split by one valid sample in the same message: no run, so
    # no alert, unless the notices were moved away from their place among the samples.
    other = next(i for i in mine[200:] if rows[i + 1]["patient_id"] != pid) + 1
    qid, qdev = rows[other]["patient_id"], rows[other]["device_id"]
    split = [{"patient_id": qid, "device_id": qdev, "ts": t, "hr": -5} for _ in range(6)]
    rows = [
        *rows[:at], *bad, *rows[at:other], *split[:3], rows[other], *split[3:], *rows[other + 1 :]
    ]  # fmt: skip

    reference = replay(rows, partitions=PARTITIONS, keep_scores=False).alerts
    assert [(a.patient_id, a.kind) for a in reference if a.kind == "rejected_data"] == [
        (pid, "rejected_data")
    ]
    proc = fresh()
    outs = run(proc, gateway_records(rows))
    raised = [Alert.from_json(o.value) for o in outs if o.topic == TOPICS.alerts]
    assert [a.to_json_dict() for a in raised if a.status != "resolved"] == [
        a.to_json_dict() for a in reference
    ]
    assert proc.stats.rejected == len(bad) + len(split)
    assert proc.stats.samples == len(cohort)


def test_crash_and_restore_from_checkpoints_gives_the_same_alerts_and_state(
    cohort: list[Sample],
) -> None:
    records = topic_records(cohort)
    whole = fresh()
    expected = set(alert_keys(run(whole, records)))

    store = MemoryCheckpointStore()
    first = fresh(store)
    cut = len(records) * 2 // 3
    seen = set(alert_keys(run(first, records[: cut // 2])))
    save(first, store, [0, 1, 2, 3])  # a checkpoint of every partition ...
    seen |= set(alert_keys(run(first, records[cut // 2 : cut])))
    save(first, store, [1])  # ... and a later one of partition 1; then the worker dies
    committed = {p: decode(store.get(partition_key(p)) or b"").offset for p in range(PARTITIONS)}

    second = fresh(store)
    again = [r for r in records if r[1] >= min(committed.values())]  # an older committed offset
    seen |= set(alert_keys(run(second, again)))
    assert {k[0] for k in seen} == {k[0] for k in expected}
    assert seen >= expected
    for p in range(PARTITIONS):
        assert canonical(second.patient_states(p)) == canonical(whole.patient_states(p))


def dirty(proc: VitalsProcessor) -> list[int]:
    return [p for p in range(PARTITIONS) if not proc.is_clean(p)]


def states(proc: VitalsProcessor) -> dict[str, object]:
    """Every patient's state in every partition, comparable."""
    return {pid: canonical_state(data) for p in range(PARTITIONS)
            for pid, data in proc.patient_states(p).items()}  # fmt: skip


def stored(store: MemoryCheckpointStore) -> dict[str, object]:
    """Every patient's checkpointed state, comparable."""
    out: dict[str, object] = {}
    for key, value in store.items():
        cp = decode(value)
        if isinstance(cp, PatientCheckpoint):
            out[key.decode()] = canonical_state(cp.state)
    return out


def run_checkpointing(
    proc: VitalsProcessor,
    store: MemoryCheckpointStore,
    records: list[tuple[int, int, bytes, bytes]],
    rng: random.Random,
) -> set[str]:
    """Run ``records``, checkpointing the dirty partitions at random points (a timer's)."""
    ids: set[str] = set()
    for record in records:
        ids |= {k[0] for k in alert_keys(run(proc, [record]))}
        if rng.random() < 0.01:
            save(proc, store, dirty(proc))
    return ids


def silent_patient_records(cuff_ahead: float | None = None) -> list[tuple[int, int, bytes, bytes]]:
    """p1's device stops after 10 min; p2's samples carry partition 0's event time on (and,
    with ``cuff_ahead``, a cuff of p2's reads every 15 min, stamped that many seconds on)."""
    out: list[tuple[int, int, bytes, bytes]] = []
    for minute in range(120):
        for pid in ("p1", "p2") if minute < 10 else ("p2",):
            s = Sample(pid, f"d-{pid}", 1.7e9 + 60 * minute, hr=70.0 + minute % 3, rr=15.0)
            out.append((0, len(out), pid.encode(), encode_vitals([s], received_at=1.7e9)))
        if cuff_ahead is not None and minute % 15 == 7:
            s = Sample("p2", "cuff-p2", 1.7e9 + 60 * minute + cuff_ahead, sbp=124.0, dbp=80.0)
            out.append((0, len(out), b"p2", encode_vitals([s], received_at=1.7e9 + cuff_ahead)))
    return out


def test_a_checkpoint_holds_what_ticks_changed_in_a_silent_patient() -> None:
    # Each tick moves p1's open data_gap episode on, with no alert to show it.
    records = silent_patient_records()
    proc, store = fresh(), MemoryCheckpointStore()
    run(proc, records[:80])  # p1's data_gap alert came at 40 min
    save(proc, store, [0])
    run(proc, records[80:])
    save(proc, store, [0])
    assert stored(store) == states(proc)
    assert states(fresh(store)) == states(proc)


@pytest.mark.parametrize("cuff_ahead", [None, 600.0])
def test_a_patient_restored_past_its_partition_is_left_alone_up_to_its_offset(
    cuff_ahead: float | None,
) -> None:
    # (its records move the partition's clock as the first time: a cuff's readings included)
    records = silent_patient_records(cuff_ahead)
    proc, store = fresh(), MemoryCheckpointStore()
    run(proc, records[:60])
    save(proc, store, [0])
    run(proc, records[60:100])
    # A crash while writing the next checkpoint: patients made it, the partition record did not.
    *patients, (_, clock_at_100) = proc.checkpoint(0)
    for key, value in patients:
        store.put(0, key, value)
    p1_at_100 = states(proc)["p1"]
    restored = fresh(store)
    assert restored.next_offset(0) == 60
    run(restored, records[60:90])  # the ticks in there are in p1's state already
    assert states(restored)["p1"] == p1_at_100
    run(restored, records[90:100])  # skipped, but the partition's clock moved on as before
    assert restored.checkpoint(0)[-1] == (partition_key(0), clock_at_100)
    run(restored, records[100:])
    run(proc, records[100:])
    assert states(restored) == states(proc)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_checkpoints_at_any_time_hold_the_uninterrupted_state(
    cohort: list[Sample], seed: int
) -> None:
    records = topic_records(cohort)
    whole = fresh()
    run(whole, records)
    proc, store = fresh(), MemoryCheckpointStore()
    run_checkpointing(proc, store, records, random.Random(seed))
    save(proc, store, dirty(proc))  # the final checkpoint at shutdown
    assert stored(store) == states(whole)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_restart_behind_its_checkpoints_reaches_the_uninterrupted_state(
    cohort: list[Sample], seed: int
) -> None:
    """Crash, restore, re-process from an older committed offset: nothing applied twice."""
    rng = random.Random(seed)
    records = topic_records(cohort)
    whole = fresh()
    expected = {k[0] for k in alert_keys(run(whole, records))}

    store = MemoryCheckpointStore()
    first = fresh(store)
    cut = rng.randrange(len(records) // 4, len(records) * 3 // 4)
    committed = [0] * PARTITIONS  # where the group's offsets stand: one checkpoint behind
    for i, record in enumerate(records[:cut]):
        run(first, [record])
        if rng.random() < 0.01:
            for p in dirty(first):
                committed[p] = decode(store.get(partition_key(p)) or encode_clock(p)).offset
                save(first, store, [p])
        if i == cut - 1:  # the worker dies writing a checkpoint: its patients made it
            p = rng.choice(dirty(first) or [0])
            for key, value in first.checkpoint(p):
                if key != partition_key(p):
                    store.put(p, key, value)
    second = fresh(store)
    again = [r for r in records if r[1] >= committed[r[0]]]
    seen = run_checkpointing(second, store, again, rng)
    save(second, store, dirty(second))
    assert states(second) == states(whole)
    assert stored(store) == states(whole)
    assert seen <= expected


def encode_clock(partition: int) -> bytes:
    return encode(PartitionCheckpoint(partition, 0))


def test_records_before_a_newer_patient_checkpoint_are_skipped(cohort: list[Sample]) -> None:
    records = topic_records(cohort)
    p = records[0][0]
    mine = [r for r in records if r[0] == p]
    proc, store = fresh(), MemoryCheckpointStore()
    run(proc, mine[:100])
    save(proc, store, [p])
    run(proc, mine[100:200])
    # A crash while writing the next checkpoint: patients made it, the partition record did not.
    for key, value in proc.checkpoint(p):
        if key != partition_key(p):
            store.put(p, key, value)
    restored = fresh(store)
    assert restored.next_offset(p) == 100
    run(restored, mine[100:])
    run(proc, mine[200:])
    assert canonical(restored.patient_states(p)) == canonical(proc.patient_states(p))


def test_undecodable_and_misattributed_records_go_to_the_dlq_and_processing_goes_on() -> None:
    proc = fresh()
    good = encode_vitals([Sample("p1", "d1", 1.7e9 + 60 * i, hr=70.0) for i in range(3)],
                         received_at=1.7e9)  # fmt: skip
    [dead] = proc.handle(0, 0, b"p1", b"\x93garbage", now=1.7e9)
    letter = decode_dead_letter(dead.value)
    assert (dead.topic, dead.key, letter.reason, letter.source) == (
        TOPICS.dlq,
        b"p1",
        "undecodable_record",
        "worker",
    )
    assert letter.payload == b"\x93garbage" and letter.topic == TOPICS.vitals
    [dead] = proc.handle(0, 1, b"p2", good, now=1.7e9)
    assert decode_dead_letter(dead.value).reason == "key_mismatch"
    # no key at all: Kafka would spread the patient over partitions (and their checkpoints)
    [dead] = proc.handle(0, 2, None, good, now=1.7e9)
    assert decode_dead_letter(dead.value).reason == "key_mismatch"
    outs = proc.handle(0, 3, b"p1", good, now=1.7e9)
    assert outs and proc.stats.dead == 3 and proc.stats.samples == 3


def test_dead_letters_after_a_checkpoint_are_checkpointed_past_not_dead_lettered_again() -> None:
    # Left behind the committed offset, a partition's last records would be dead-lettered
    # again at every restart and show as consumer lag for ever.
    proc = VitalsProcessor(TOPICS, checkpoint_every_samples=10, checkpoint_every_s=5.0)
    proc.restore({0}, [])
    value = encode_vitals([Sample("p1", "d1", 1.7e9, hr=70.0)], received_at=1.7e9)
    proc.handle(0, 0, b"p1", value, now=100.0)
    proc.checkpoint(0)
    proc.handle(0, 1, b"p1", b"\x93garbage", now=200.0)
    proc.handle(0, 2, b"p2", value, now=200.0)
    assert proc.due(now=204.0) == [] and proc.due(now=205.0) == [0]
    [(key, value)] = proc.checkpoint(0)  # no patient changed: the partition's offset only
    assert key == partition_key(0) and decode(value).offset == 3
    assert proc.due(now=1e12) == []


def test_a_record_of_no_samples_and_no_notices_changes_nothing() -> None:
    # another producer's empty record must not leave a patient the checkpoint cannot save
    import msgspec

    proc = fresh()
    assert (
        proc.handle(0, 0, b"p9", msgspec.msgpack.encode([1, "p9", "d9", 1.7e9, []]), now=0.0) == []
    )
    assert proc.is_clean(0)
    [(key, _)] = proc.checkpoint(0)
    assert key == partition_key(0)


def test_custom_values_near_float_max_roll_up_without_overflow() -> None:
    proc = fresh()
    big = [Sample("p1", "d1", 1.7e9 + 10 * i, custom={"x": 1.7e308}) for i in range(3)]
    later = [Sample("p1", "d1", 1.7e9 + 120, custom={"x": 1.0})]
    outs = proc.handle(0, 0, b"p1", encode_vitals(big, received_at=1.7e9), now=1.7e9)
    outs += proc.handle(0, 1, b"p1", encode_vitals(later, received_at=1.7e9), now=1.7e9)
    [rollup] = [decode_vitals_rollup(o.value) for o in outs if o.topic == TOPICS.rollups]
    assert rollup.vitals["x"].mean == 1.7e308 and proc.stats.dead == 0


def test_a_record_that_fails_processing_is_dead_lettered_and_the_partition_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proc = fresh()
    record = encode_vitals([Sample("p1", "d1", 1.7e9, hr=70.0)], received_at=1.7e9)
    samples = proc._samples

    def fail_once(*args: object, **kwargs: object) -> list[Out]:
        monkeypatch.setattr(proc, "_samples", samples)
        raise ZeroDivisionError  # whatever a bug may raise

    monkeypatch.setattr(proc, "_samples", fail_once)
    [dead] = proc.handle(0, 0, b"p1", record, now=1.7e9)
    letter = decode_dead_letter(dead.value)
    assert (letter.reason, letter.detail, letter.payload) == (
        "processing_error",
        "processing failed: ZeroDivisionError",
        record,
    )
    proc.handle(0, 1, b"p1", record, now=1.7e9)
    assert proc.stats.samples == 1 and proc.next_offset(0) == 2


def test_a_patient_changed_by_a_record_that_then_failed_is_in_the_next_checkpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # its samples before the failure count, and the offset committed is past the record
    proc = fresh()
    first = encode_vitals([Sample("p2", "d2", 1.7e9, hr=70.0)], received_at=1.7e9)
    proc.handle(0, 0, b"p2", first, now=1.7e9)
    proc.checkpoint(0)
    monitor = proc._parts[0].monitor
    process = monitor.process
    calls = []

    def fail_second(sample):  # type: ignore[no-untyped-def]
        calls.append(sample)
        if len(calls) == 2:
            raise ZeroDivisionError  # whatever a bug may raise, after one sample counted
        return process(sample)

    monkeypatch.setattr(monitor, "process", fail_second)
    two = [Sample("p1", "d1", 1.7e9 + 60 * i, hr=70.0) for i in range(2)]
    [dead] = proc.handle(0, 1, b"p1", encode_vitals(two, received_at=1.7e9), now=1.7e9)
    assert decode_dead_letter(dead.value).reason == "processing_error"
    assert not proc.is_clean(0)
    assert patient_key("p1") in [key for key, _ in proc.checkpoint(0)]


def test_rollups_and_news2_are_published_per_closed_minute() -> None:
    proc = fresh()
    samples = [Sample("p1", "d1", 1.7e9 + 30 * i, hr=80.0 + i, rr=16.0, spo2=97.0, temp=37.0)
               for i in range(6)]  # fmt: skip
    outs = proc.handle(0, 0, b"p1", encode_vitals(samples, received_at=1.7e9), now=0.0)
    rollups = [decode_vitals_rollup(o.value) for o in outs if o.topic == TOPICS.rollups]
    news2 = [decode_news2(o.value) for o in outs if o.topic == TOPICS.news2]
    assert [r.vitals["hr"].count for r in rollups] == [2, 2]
    assert rollups[0].vitals["hr"].mean == 80.5 and rollups[1].vitals["hr"].max == 83.0
    assert [n.minute for n in news2] == [r.minute for r in rollups]
    assert all(n.patient_id == "p1" and n.risk == "low" for n in news2)


def test_a_partition_is_due_after_enough_samples_or_enough_time() -> None:
    proc = VitalsProcessor(TOPICS, checkpoint_every_samples=10, checkpoint_every_s=5.0)
    proc.restore({0, 1}, [])
    value = encode_vitals([Sample("p1", "d1", 1.7e9 + i, hr=70.0) for i in range(4)],
                          received_at=1.7e9)  # fmt: skip
    proc.handle(0, 0, b"p1", value, now=100.0)
    assert proc.due(now=101.0) == []
    assert proc.due(now=105.0) == [0]
    proc.handle(0, 1, b"p1", value, now=101.0)
    proc.handle(0, 2, b"p1", value, now=101.0)
    assert proc.due(now=101.0) == [0]
    keys = [k for k, _ in proc.checkpoint(0)]
    assert keys == [patient_key("p1"), partition_key(0)]
    assert proc.due(now=200.0) == [] and proc.is_clean(0)


def test_an_unreadable_patient_state_starts_that_patient_afresh() -> None:
    proc, store = fresh(), MemoryCheckpointStore()
    value = encode_vitals([Sample("p1", "d1", 1.7e9 + 60 * i, hr=70.0) for i in range(3)],
                          received_at=1.7e9)  # fmt: skip
    proc.handle(0, 0, b"p1", value, now=0.0)
    save(proc, store, [0])
    cp = decode(store.get(patient_key("p1")) or b"")
    assert isinstance(cp, PatientCheckpoint)
    broken = PatientCheckpoint(cp.partition, cp.offset, b"not a pickle", cp.extras)
    store.put(0, patient_key("p1"), encode(broken))  # e.g. written by another detector version
    restored = fresh(store)
    assert restored.stats.state_errors == 1 and restored.next_offset(0) == 1
    assert restored.handle(0, 1, b"p1", value, now=0.0) is not None
    assert restored.patient_states(0).keys() == {"p1"}

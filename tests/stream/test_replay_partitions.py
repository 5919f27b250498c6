"""`vigil replay` keeps one event-time clock per partition, as the stream workers do."""

from __future__ import annotations

from ingest.exceptions import SampleRejected
from ingest.sample import parse_sample
from ingest.simulator import CohortSpec, iter_cohort
from stream.partition import replay_partitioned
from stream.replay import replay


def _raw_cohort() -> list[dict[str, object]]:
    spec = CohortSpec(patients=12, days=0.5, seed=9, invalid_fraction=0.0)
    return [dict(rec.payload) for rec in iter_cohort(spec)]


def test_replay_with_partitions_gives_the_worker_reference_alerts() -> None:
    raw = _raw_cohort()
    samples = []
    for r in raw:
        try:
            samples.append(parse_sample(r, patient_id=r["patient_id"], device_id=r["device_id"]))  # type: ignore[arg-type]
        except SampleRejected:
            continue
    for partitions in (1, 4, 12):
        expected = [a.to_json_dict() for a in replay_partitioned(samples, partitions=partitions)]
        got = [a.to_json_dict() for a in replay(raw, partitions=partitions).alerts]
        assert got == expected, f"partitions={partitions}"


def test_partition_count_changes_only_technical_gap_alerts() -> None:
    raw = _raw_cohort()
    one = {a.alert_id: a for a in replay(raw, partitions=1).alerts}
    twelve = {a.alert_id: a for a in replay(raw, partitions=12).alerts}
    differing = set(one) ^ set(twelve)
    assert all((one.get(i) or twelve[i]).category == "technical" for i in differing), (
        "clinical alerts must not depend on partitioning"
    )

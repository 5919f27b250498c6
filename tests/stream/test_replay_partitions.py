"""`vigil replay --partitions N` raises what the stream worker raises on N partitions."""

from __future__ import annotations

import pytest

from alerts.model import Alert
from ingest.encoding import records_from_samples
from ingest.exceptions import SampleRejected
from ingest.sample import Sample, parse_sample
from ingest.simulator import CohortSpec, iter_cohort
from stream.partition import partition_for
from stream.processor import OutputTopics, VitalsProcessor
from stream.replay import replay


def _raw_cohort() -> list[dict[str, object]]:
    spec = CohortSpec(patients=12, days=0.5, seed=9, invalid_fraction=0.0)
    return [dict(rec.payload) for rec in iter_cohort(spec)]


def _worker_alerts(samples: list[Sample], partitions: int) -> list[Alert]:
    """The ``open``/``escalated`` records the worker's core raises, in order."""
    topics = OutputTopics.for_prefix("")
    proc = VitalsProcessor(topics)
    proc.restore(set(range(partitions)), [])
    offsets = [0] * partitions
    alerts = []
    for key, value in records_from_samples(samples, received_at=1.7e9):
        p = partition_for(key, partitions)
        for out in proc.handle(p, offsets[p], key, value, now=0.0):
            if out.topic == topics.alerts:
                alerts.append(Alert.from_json(out.value))
        offsets[p] += 1
    return [a for a in alerts if a.status != "resolved"]


@pytest.mark.parametrize("partitions", [1, 4, 12])
def test_replay_with_partitions_gives_the_worker_alerts(partitions: int) -> None:
    raw = _raw_cohort()
    samples = []
    for r in raw:
        try:
            samples.append(parse_sample(r, patient_id=r["patient_id"], device_id=r["device_id"]))  # type: ignore[arg-type]
        except SampleRejected:
            continue
    expected = [a.to_json_dict() for a in _worker_alerts(samples, partitions)]
    got = [a.to_json_dict() for a in replay(raw, partitions=partitions).alerts]
    assert got == expected


def test_partition_count_changes_only_technical_gap_alerts() -> None:
    raw = _raw_cohort()
    one = {a.alert_id: a for a in replay(raw, partitions=1).alerts}
    twelve = {a.alert_id: a for a in replay(raw, partitions=12).alerts}
    differing = set(one) ^ set(twelve)
    assert all((one.get(i) or twelve[i]).category == "technical" for i in differing), (
        "clinical alerts must not depend on partitioning"
    )

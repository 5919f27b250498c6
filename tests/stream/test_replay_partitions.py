"""`vigil replay --partitions N` raises what the stream worker raises on N partitions."""

from __future__ import annotations

import pytest

from alerts.model import Alert
from ingest.encoding import records_from_samples
from ingest.exceptions import SampleRejected
from ingest.sample import Sample, parse_sample, parse_ts
from ingest.simulator import CohortSpec, iter_cohort
from stream.partition import partition_for
from stream.processor import OutputTopics, VitalsProcessor
from stream.replay import replay


def _raw_cohort(cuff_ahead: float | None = None) -> list[dict[str, object]]:
    """The cohort's records; with ``cuff_ahead``, blood pressure comes from a cuff of its own
    whose clock runs that many seconds ahead (a spot device: the tick clocks' exception)."""
    spec = CohortSpec(patients=12, days=0.5, seed=9, invalid_fraction=0.0)
    out = []
    for rec in iter_cohort(spec):
        r = dict(rec.payload)
        sbp, dbp = r.pop("sbp", None), r.pop("dbp", None)
        if cuff_ahead is None or sbp is None:
            out.append(dict(rec.payload))
            continue
        out.append(r)
        ts = parse_ts(r["ts"]) + cuff_ahead
        out.append({"patient_id": r["patient_id"], "device_id": "cuff", "ts": ts, "sbp": sbp,
                    "dbp": dbp})  # fmt: skip
    return out


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


@pytest.mark.parametrize("cuff_ahead", [None, 600.0])
@pytest.mark.parametrize("partitions", [1, 4, 12])
def test_replay_with_partitions_gives_the_worker_alerts(
    partitions: int, cuff_ahead: float | None
) -> None:
    raw = _raw_cohort(cuff_ahead)
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

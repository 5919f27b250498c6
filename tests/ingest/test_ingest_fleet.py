"""The MQTT fleet's message shaping and the ingest helpers around it."""

from __future__ import annotations

import json

import pytest

from ingest.mqtt_fleet import device_messages, parse_duration
from ingest.simulator import SimRecord
from ingest.topics import TopicNames, topic_specs


def rec(t: float, device: str = "w1", **vitals: float) -> SimRecord:
    return SimRecord(t, {"patient_id": "p1", "device_id": device, "ts": t, **vitals})


def test_batches_hold_a_devices_samples_for_batch_seconds_and_never_ids():
    records = [rec(0, hr=1), rec(1, device="w2", hr=2), rec(5, hr=3), rec(12, hr=4), rec(13)]
    messages = list(device_messages(records, batch_seconds=10, id_prefix="x-"))
    by_device = [
        (m.device_id, [s["ts"] for s in json.loads(m.payload)["samples"]]) for m in messages
    ]
    assert by_device == [("x-w1", [0, 5]), ("x-w1", [12, 13]), ("x-w2", [1])]
    assert all(b"patient_id" not in m.payload and b"device_id" not in m.payload for m in messages)


def test_batches_are_capped_at_the_gateways_limit():
    records = [rec(i * 0.001) for i in range(2500)]
    sizes = [m.samples for m in device_messages(records, batch_seconds=60, max_batch=1000)]
    assert sizes == [1000, 1000, 500]


@pytest.mark.parametrize("text", ["", "abc", "-5m", "0"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_topic_specs_compact_patient_config_and_size_vitals():
    specs = {s.name: s for s in topic_specs(TopicNames("x."), vitals_partitions=6)}
    assert specs["x.vigil.vitals"].partitions == 6
    assert specs["x.vigil.patient-config"].configs == {"cleanup.policy": "compact"}
    assert set(specs) == {
        "x.vigil.vitals",
        "x.vigil.vitals.dlq",
        "x.vigil.alerts",
        "x.vigil.patient-config",
        "x.vigil.vitals.1m",
        "x.vigil.news2",
    }
    # The stream worker's per-minute outputs are patient-keyed like the vitals.
    assert specs["x.vigil.vitals.1m"].partitions == specs["x.vigil.news2"].partitions == 6

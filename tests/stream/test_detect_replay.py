"""The replay core: validation counts, event-time ticks, determinism, worker equivalence."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson

from ingest.sample import Sample
from stream.pipeline import Pipeline
from stream.records import RecordReader
from stream.replay import replay
from tests.stream.detect_synth import T0, Person, ramp, samples


def rows(patients: int = 3, minutes: int = 600) -> list[dict[str, Any]]:
    """Raw dicts, patients interleaved in time order, with a tachycardia in patient 1."""
    streams = []
    for p in range(patients):
        mods = (ramp("hr", 300, 20, 150, 500),) if p == 1 else ()
        streams.append(
            [dict(s.to_dict(), patient_id=f"p{p}") for s in
             samples(Person(seed=p), minutes, mods=mods, pid=f"p{p}")]
        )  # fmt: skip
    out = []
    for i in range(minutes):
        for st in streams:
            d = dict(st[i])
            for k in [k for k, v in d.items() if v is None]:
                del d[k]
            out.append(d)
    return out


def test_rejected_records_are_counted_by_reason_and_the_rest_is_processed():
    data = rows(1, 30)
    data += [
        {"patient_id": "p0", "device_id": "d1", "ts": "2025-01-06T01:00:00Z", "hr": 999},
        {"patient_id": "p0", "device_id": "d1", "ts": "nope", "hr": 70},
        {"patient_id": "p0", "device_id": "d1", "ts": T0 + 3600, "hr": "70"},
        {"device_id": "d1", "ts": T0, "hr": 70},
    ]
    result = replay(data)
    assert result.samples == 34 and result.accepted == 30
    assert dict(result.rejected) == {"out_of_range": 1, "bad_ts": 1, "wrong_type": 1, "bad_id": 1}


def test_scores_come_one_per_accepted_sample_in_input_order():
    data = rows(2, 50)
    result = replay(data)
    assert [(p, t) for p, t, _ in result.scores] == [
        (d["patient_id"], T0 + 60 * (i // 2)) for i, d in enumerate(data)
    ]
    assert all(0.0 <= s <= 1.0 and not math.isnan(s) for _, _, s in result.scores)


def test_a_deterioration_in_the_recording_is_alerted_for_the_right_patient():
    result = replay(rows())
    clinical = [a for a in result.alerts if a.category == "clinical" and a.status == "open"]
    assert [(a.patient_id, a.kind) for a in clinical] == [("p1", "tachycardia")]


def test_replay_is_deterministic_byte_for_byte():
    data = rows()
    first = [a.to_json() for a in replay(data).alerts]
    second = [a.to_json() for a in replay(data).alerts]
    assert first and first == second
    assert replay(data).scores == replay(data).scores


def test_a_silent_device_raises_a_data_gap_from_event_time_ticks():
    data = rows(2, 240)
    data = [d for d in data if not (d["patient_id"] == "p0" and d["ts"] > "2025-01-06T02:00:00Z")]
    result = replay(data)
    gaps = [a for a in result.alerts if a.kind == "data_gap"]
    assert [a.patient_id for a in gaps] == ["p0"] and gaps[0].category == "technical"


def test_a_run_of_rejected_samples_raises_a_technical_alert():
    data = rows(1, 20) + [
        {"patient_id": "p0", "device_id": "d1", "ts": T0 + 60 * (20 + i), "spo2": 150}
        for i in range(6)
    ]
    result = replay(data)
    assert [a.kind for a in result.alerts] == ["rejected_data"]


def test_a_device_sending_only_refused_samples_has_one_data_gap_not_one_per_tick():
    # valid data for 30 min, then an hour of out-of-range SpO2 from the same device: no valid
    # data is a data gap that goes on (and a run of refused samples), each one alert
    data = rows(1, 30) + [
        {"patient_id": "p0", "device_id": "d1", "ts": T0 + 60 * (30 + i), "spo2": 150}
        for i in range(60)
    ]
    opened = [a.kind for a in replay(data).alerts if a.status == "open"]
    assert sorted(opened) == ["data_gap", "rejected_data"]


def test_replay_continues_an_existing_pipeline():
    data = rows(1, 100)
    pipe = Pipeline()
    replay(data[:50], pipeline=pipe)
    tail = replay(data[50:], pipeline=pipe)
    assert tail.scores == replay(data).scores[50:]


def test_replay_of_a_files_entries_is_replay_of_its_records(tmp_path: Path):
    # plain lines come validated (RecordReader.entries); custom channels, metadata, refused
    # samples, runs of them and lines without a device take the general path, in between
    data = rows(3, 300)
    for i, d in enumerate(data):
        if i % 7 == 0:
            d["hrv"] = 40.0 + i % 5
        if i % 11 == 0:
            d["firmware"] = "1.2"
        if i % 13 == 0:
            del d["device_id"]
        if 400 <= i < 430 and d["patient_id"] == "p2":
            d["hr"] = 999
    p = tmp_path / "s.jsonl"
    p.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in data))

    def run(entries: bool) -> tuple[Any, ...]:
        reader = RecordReader(p)
        result = replay(reader.entries() if entries else reader, partitions=3)
        alerts = [a.to_json_dict() for a in result.alerts]
        return alerts, result.scores, result.accepted, result.rejected

    validated = sum(type(e) is Sample for e in RecordReader(p).entries())
    assert 0.5 * len(data) < validated < len(data)
    assert run(entries=True) == run(entries=False)
    assert run(entries=True)[3] == {"out_of_range": 10}

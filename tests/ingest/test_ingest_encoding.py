"""The vitals wire encoding and dead letters: round trips, versions, grouping."""

from __future__ import annotations

import re

import msgspec
import pytest

from ingest.encoding import (
    MAX_DEAD_PAYLOAD,
    RejectionNotice,
    VitalsRecord,
    WireSample,
    dead_letter,
    decode_dead_letter,
    decode_entries,
    decode_vitals,
    decode_vitals_record,
    encode_dead_letter,
    encode_vitals,
    records_from_samples,
)
from ingest.exceptions import WireFormatError
from ingest.sample import Sample

T0 = 1_709_280_000.0

FULL = Sample(
    "p1",
    "w1",
    1709280000.25,
    hr=72.0,
    spo2=97.0,
    rr=14.0,
    temp=36.6,
    sbp=120.0,
    dbp=80.0,
    glucose=95.0,
    motion=0.1,
    quality=0.9,
    custom={"hrv_ms": 41.5},
)


def test_every_field_survives_a_round_trip():
    sparse = Sample("p1", "w1", 1709280001.0, spo2=95.0)
    assert decode_vitals(encode_vitals([FULL, sparse], received_at=1.0)) == [FULL, sparse]
    record = decode_vitals_record(encode_vitals([FULL], received_at=5.5))
    assert isinstance(record, VitalsRecord) and record.received_at == 5.5


def test_records_start_with_the_version_tag():
    assert msgspec.msgpack.decode(encode_vitals([FULL], received_at=1.0))[0] == 1


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", msgspec.msgpack.encode([2, "p", "d", 1.0, []]), b'{"ts": 1}'],
    ids=["empty", "garbage", "unknown-version", "json"],
)
def test_foreign_bytes_raise_wire_format_error(data):
    with pytest.raises(WireFormatError):
        decode_vitals(data)


def test_a_record_never_mixes_patients():
    with pytest.raises(ValueError):
        encode_vitals([FULL, Sample("p2", "w1", 1709280000.0, hr=70.0)], received_at=1.0)
    with pytest.raises(ValueError):
        encode_vitals([], received_at=1.0)


def test_produce_grouping_keys_by_patient_and_caps_record_size():
    samples = [Sample("p1", "w1", 1.7e9 + i, hr=70.0) for i in range(5)]
    samples += [Sample("p2", "w2", 1.7e9, hr=80.0)]
    records = list(records_from_samples(samples, received_at=0.0, max_samples=2))
    assert [(k, len(decode_vitals(v))) for k, v in records] == [
        (b"p1", 2),
        (b"p1", 2),
        (b"p1", 1),
        (b"p2", 1),
    ]
    assert [s for _, v in records for s in decode_vitals(v)] == samples


def test_dead_letters_keep_raw_bytes_and_truncate_huge_ones():
    raw = b"\xff\x00not utf-8" + b"x" * (MAX_DEAD_PAYLOAD + 10)
    letter = dead_letter(
        reason="oversize",
        detail="too big",
        source="gateway",
        topic="t",
        device_id=None,
        received_at=1709280000.0,
        payload=raw,
    )
    back = decode_dead_letter(encode_dead_letter(letter))
    assert back.truncated and back.payload_size == len(raw)
    assert back.payload == raw[:MAX_DEAD_PAYLOAD]
    assert back.received_at == "2024-03-01T08:00:00Z"
    with pytest.raises(WireFormatError):
        decode_dead_letter(b"[]")


def test_rejection_notices_keep_their_position_among_the_samples():
    t = 1_709_280_000.0
    a, b = Sample("p1", "w1", t + 1, hr=70.0), Sample("p1", "w1", t + 2, hr=71.0)
    n1, n2 = RejectionNotice("p1", "w1", None, "missing_ts"), RejectionNotice("p1", "w1", t, "x")
    cases: list[list[Sample | RejectionNotice]] = [
        [n1, a, n2, n2, b, n1],
        [n1],
        [a, b, n2],
        [n1, n2, a],
    ]
    for entries in cases:
        data = encode_vitals(entries, received_at=t + 3)
        assert decode_entries(data) == entries
        assert decode_vitals(data) == [e for e in entries if isinstance(e, Sample)]


def test_records_without_notices_are_the_old_bytes_and_old_readers_skip_notices():
    class OldRecord(msgspec.Struct, array_like=True, tag=1):
        patient_id: str
        device_id: str
        received_at: float
        samples: list[WireSample]

    plain = encode_vitals([FULL], received_at=1.0)
    assert plain == msgspec.msgpack.encode(
        OldRecord(
            "p1",
            "w1",
            1.0,
            [
                WireSample(
                    FULL.ts, 72.0, 97.0, 14.0, 36.6, 120.0, 80.0, 95.0, 0.1, 0.9, {"hrv_ms": 41.5}
                )
            ],
        )
    )
    assert decode_vitals_record(plain).rejected == []
    noticed = encode_vitals([FULL, RejectionNotice("p1", "w1", 5.0, "bad_ts")], received_at=1.0)
    old = msgspec.msgpack.decode(noticed, type=OldRecord)
    assert (old.patient_id, len(old.samples)) == ("p1", 1)


def test_a_notice_carries_no_sample_values():
    data = encode_vitals([RejectionNotice("p1", "w1", 5.0, "out_of_range")], received_at=1.0)
    assert msgspec.msgpack.decode(data) == [1, "p1", "w1", 1.0, [], [[0, 5.0, "out_of_range"]]]


@pytest.mark.parametrize(
    ("sample", "where"),
    [
        ([float("nan"), 70.0], "[0]"),  # ts
        ([1e20, 70.0], "[0]"),
        ([T0, 900.0], "[1]"),  # hr beyond its range
        ([T0, None, None, None, None, None, None, None, None, None, {"x": float("inf")}], "[10]"),
        (
            [
                T0,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                {f"c{i}": 1.0 for i in range(17)},
            ],
            "[10]",
        ),
    ],
)
def test_a_record_no_gateway_would_write_is_undecodable(sample, where):
    # Any producer can write to vigil.vitals: what would crash a worker must not decode.
    data = msgspec.msgpack.encode([1, "p1", "w1", T0, [sample]])
    with pytest.raises(WireFormatError, match=re.escape(f"$[4][0]{where}")):
        decode_vitals_record(data)

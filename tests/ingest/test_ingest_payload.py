"""From MQTT message to records: attribution by enrolment, validation, dead-letter reasons."""

from __future__ import annotations

import json
import time

import pytest

from ingest.directory import DeviceRecord, Enrollment, InMemoryDirectory
from ingest.encoding import RejectionNotice, decode_dead_letter, decode_entries, decode_vitals
from ingest.payload import (
    MAX_PAYLOAD_BYTES,
    MESSAGE_REASONS,
    OutRecord,
    PayloadHandler,
    device_topic,
)
from ingest.topics import TopicNames

NOW = 1_709_280_000.0
HANDOVER = NOW - 3600.0

DIRECTORY = InMemoryDirectory(
    [
        DeviceRecord("w1", (Enrollment("p1", NOW - 86400, HANDOVER), Enrollment("p2", HANDOVER))),
        DeviceRecord("w2", (Enrollment("p3", NOW - 86400),), revoked=True),
        DeviceRecord("w3", ()),
    ]
)


@pytest.fixture
def handler():
    return PayloadHandler(DIRECTORY, TopicNames("t."))


def handle(
    handler: PayloadHandler, payload: object, device: str = "w1", topic: str | None = None
) -> list[OutRecord]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return handler.handle(topic or device_topic(device), body, received_at=NOW)


def dlq_reasons(records: list[OutRecord]) -> list[str]:
    return [decode_dead_letter(r.value).reason for r in records if r.topic == "t.vigil.vitals.dlq"]


def test_batch_spanning_a_handover_is_split_between_the_two_patients(handler):
    out = handle(
        handler,
        {
            "samples": [
                {"ts": HANDOVER - 10, "hr": 70},
                {"ts": HANDOVER + 10, "hr": 80},
                {"ts": HANDOVER - 5, "hr": 71},
            ]
        },
    )
    by_key = {r.key: decode_vitals(r.value) for r in out}
    assert [s.hr for s in by_key[b"p1"]] == [70.0, 71.0]
    assert [s.hr for s in by_key[b"p2"]] == [80.0]
    assert all(s.device_id == "w1" for samples in by_key.values() for s in samples)


def test_payload_fields_never_choose_the_patient_or_device(handler):
    out = handle(handler, {"ts": NOW, "hr": 70, "patient_id": "p9", "device_id": "w9"})
    [record] = out
    assert record.key == b"p2"
    [sample] = decode_vitals(record.value)
    assert (sample.patient_id, sample.device_id) == ("p2", "w1")


@pytest.mark.parametrize(
    ("payload", "device", "reason"),
    [
        (b"{not json", "w1", "bad_json"),
        (b"\xff\xfe", "w1", "bad_json"),
        (b"[1, 2]", "w1", "not_an_object"),
        (b'{"ts": 1709280000, "hr": NaN}', "w1", "not_finite"),
        (b'{"ts": 1709280000, "hr": 1e999}', "w1", "not_finite"),
        ({"ts": NOW, "hr": "fast"}, "w1", "wrong_type"),
        ({"ts": NOW, "hr": 400}, "w1", "out_of_range"),
        ({"hr": 70}, "w1", "missing_ts"),
        ({"ts": NOW + 600, "hr": 70}, "w1", "ts_in_future"),
        ({"ts": NOW - 2 * 86400, "hr": 70}, "w1", "not_enrolled"),
        ({"ts": NOW, "hr": 70}, "w2", "device_revoked"),
        ({"ts": NOW, "hr": 70}, "w3", "not_enrolled"),
        ({"ts": NOW, "hr": 70}, "ghost", "unknown_device"),
        ({"samples": []}, "w1", "bad_batch"),
        ({"samples": {"ts": NOW}}, "w1", "bad_batch"),
        ({"samples": [{"ts": NOW, "hr": 70}] * 1001}, "w1", "too_many_samples"),
        ({"ts": NOW, "hr": 10**400}, "w1", "not_finite"),  # beyond float range
    ],
)
def test_each_refusal_is_dead_lettered_with_its_reason(handler, payload, device, reason):
    out = handle(handler, payload, device=device)
    assert dlq_reasons(out) == [reason]
    vitals = [r for r in out if r.topic == "t.vigil.vitals"]
    # A refused sample of an enrolled device also tells the patient's detection, no more.
    if reason == "unparseable" or reason not in MESSAGE_REASONS:
        [record] = vitals
        assert record.key == b"p2" and record.samples == 0 and record.reason is None
        [notice] = decode_entries(record.value)
        assert notice == RejectionNotice("p2", "w1", notice.ts, reason)
    else:
        assert vitals == []


def test_a_batch_keeps_its_refused_samples_in_place_for_detection(handler):
    batch = [
        {"ts": NOW - 3, "hr": 70},
        {"ts": NOW - 2, "hr": 400},
        {"hr": 71},
        {"ts": "soon", "hr": 72},
        {"ts": NOW - 1, "hr": 72},
        7,
    ]
    out = handle(handler, {"samples": batch})
    [record] = [r for r in out if r.reason is None]
    assert record.key == b"p2" and record.samples == 2
    entries = decode_entries(record.value)
    assert [e.ts for e in entries] == [NOW - 3, NOW - 2, None, None, NOW - 1, None]
    assert [getattr(e, "reason", "ok") for e in entries] == [
        "ok", "out_of_range", "missing_ts", "bad_ts", "ok", "not_an_object",
    ]  # fmt: skip
    assert dlq_reasons(out) == ["out_of_range", "missing_ts", "bad_ts", "not_an_object"]


def test_a_sample_refused_for_a_clock_far_ahead_is_noted_at_its_refusal(handler):
    # its own time (a year ahead) must not become the patient's event time
    out = handle(handler, {"samples": [{"ts": NOW + 365 * 86400, "hr": 70}]})
    [record] = [r for r in out if r.reason is None]
    [notice] = decode_entries(record.value)
    assert isinstance(notice, RejectionNotice)
    assert (notice.reason, notice.ts) == ("ts_in_future", NOW)


def test_a_device_enrolled_to_nobody_now_notifies_no_patient(handler):
    # w3 has no enrolment: nobody's monitoring to tell, and the payload cannot choose one.
    out = handle(handler, {"ts": NOW, "hr": 400, "patient_id": "p1"}, device="w3")
    assert [r.topic for r in out] == ["t.vigil.vitals.dlq"]


def test_oversize_payload_is_refused_before_parsing(handler):
    big = b'{"ts": 1709280000, "hr": 70, "pad": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}'
    [record] = handle(handler, big)
    letter = decode_dead_letter(record.value)
    assert letter.reason == "oversize" and letter.payload_size == len(big)


def test_a_topic_that_names_no_device_is_refused(handler):
    [record] = handle(handler, {"ts": NOW, "hr": 70}, topic="vigil/v1/devices/a/b/vitals")
    letter = decode_dead_letter(record.value)
    assert (letter.reason, letter.device_id, record.key) == ("bad_topic", None, None)


def test_invalid_samples_of_a_batch_are_dead_lettered_one_by_one(handler):
    out = handle(
        handler,
        {
            "samples": [
                {"ts": NOW, "hr": 70},
                {"ts": NOW, "hr": -1},
                {"ts": NOW + 1, "spo2": float("nan")},
            ]
        },
    )
    vitals = [r for r in out if r.reason is None]
    dead = [decode_dead_letter(r.value) for r in out if r.reason is not None]
    assert sum(r.samples for r in vitals) == 1
    assert [(d.reason, d.index) for d in dead] == [("out_of_range", 1), ("not_finite", 2)]
    assert json.loads(dead[0].payload) == {"ts": NOW, "hr": -1}
    assert b"NaN" in dead[1].payload
    assert {d.device_id for d in dead} == {"w1"} and dead[0].topic == device_topic("w1")


def test_dead_letter_carries_raw_payload_and_receive_time(handler):
    [record] = handle(handler, b"{oops")
    letter = decode_dead_letter(record.value)
    assert letter.payload == b"{oops" and letter.source == "gateway"
    assert letter.received_at == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW))
    assert record.key == b"w1"


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        (b'{"ts": 1709280000, "hr": 70, "fw": "\xff"}', "not UTF-8"),  # inside a string
        (b'{"ts": 1709280000, "hr": 70, "fw": "\xed\xa0\x80"}', "not UTF-8"),  # a surrogate
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
    ],
)
def test_unreadable_messages_are_dead_lettered_whole_with_a_reason(handler, payload, detail):
    [record] = handle(handler, payload)
    letter = decode_dead_letter(record.value)
    assert (letter.reason, detail in letter.detail) == ("bad_json", True)


def test_sample_fields_beside_a_batch_are_refused_not_dropped(handler):
    payload = {"ts": NOW, "hr": 99, "fw": "1.2", "samples": [{"ts": NOW - 1, "hr": 71}]}
    [record] = handle(handler, payload)
    letter = decode_dead_letter(record.value)
    assert letter.reason == "bad_batch" and "hr, ts" in letter.detail
    # metadata beside the list is fine
    meta = {"fw": "1.2", "battery": 87, "gateway": {"rssi": -70}}
    out = handle(handler, {**meta, "samples": [{"ts": NOW, "hr": 71}]})
    assert dlq_reasons(out) == [] and [s.hr for s in decode_vitals(out[0].value)] == [71.0]


def test_a_huge_integer_fails_its_own_sample_not_the_batch(handler):
    body = b'{"samples": [{"ts": %d, "hr": 70}, {"ts": %d, "x": %s}]}' % (NOW, NOW, b"9" * 5000)
    out = handle(handler, body)
    assert dlq_reasons(out) == ["not_finite"]
    assert [s.hr for r in out if r.topic == "t.vigil.vitals" for s in decode_vitals(r.value)] == [
        70.0
    ]


def test_a_batch_whose_samples_key_is_given_twice_is_refused_not_half_dropped(handler):
    # JSON decoders keep the last "samples": the first batch vanished without a dead letter
    body = b'{"samples": [{"ts": %d, "hr": 70}], "samples": [{"ts": %d, "hr": 71}]}' % (
        NOW - 2,
        NOW - 1,
    )
    [record] = handle(handler, body)
    letter = decode_dead_letter(record.value)
    assert (letter.reason, letter.payload) == ("duplicate_key", body)
    assert "samples" in letter.detail


def test_a_field_given_twice_refuses_its_sample_only_and_keeps_both_values(handler):
    body = (
        b'{"fw": "1", "fw": "2", "samples": [{"ts": %d, "hr": 70, "hr": 170},'
        b' {"ts": %d, "hr": 72, "custom": {"x": 1, "x": 2}}, {"ts": %d, "hr": 73,'
        b' "note": "a\\":b"}]}' % (NOW - 3, NOW - 2, NOW - 1)
    )
    out = handle(handler, body)
    [record] = [r for r in out if r.reason is None]
    assert [getattr(e, "reason", None) or e.ts for e in decode_entries(record.value)] == [
        "duplicate_key", "duplicate_key", NOW - 1,
    ]  # fmt: skip
    dead = [decode_dead_letter(r.value) for r in out if r.reason is not None]
    assert [(d.reason, d.index) for d in dead] == [("duplicate_key", 0), ("duplicate_key", 1)]
    assert b'"hr":70,"hr":170' in dead[0].payload and "'hr'" in dead[0].detail
    assert b'{"x":1,"x":2}' in dead[1].payload and "custom.x" in dead[1].detail
    [single] = dlq_reasons(handle(handler, b'{"ts": %d, "ts": %d, "hr": 70}' % (NOW, NOW - 1)))
    assert single == "duplicate_key"

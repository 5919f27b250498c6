"""``vigil produce``: lines become the gateway's records, in file order; refusals go to the DLQ."""

from __future__ import annotations

import orjson

from ingest.encoding import RejectionNotice, decode_dead_letter, decode_entries, decode_vitals
from stream.produce import ProduceStats, iter_records

VITALS, DLQ = "t.vigil.vitals", "t.vigil.vitals.dlq"


def line(pid: str, ts: float, **values: object) -> bytes:
    return orjson.dumps({"patient_id": pid, "device_id": f"d-{pid}", "ts": ts, **values})


def records(
    lines: list[bytes], stats: ProduceStats, max_samples: int = 500
) -> list[tuple[str, bytes | None, bytes]]:
    return list(
        iter_records(lines, stats, vitals_topic=VITALS, dlq_topic=DLQ, source_name="file:x",
                     received_at=1.7e9, max_samples=max_samples)
    )  # fmt: skip


def test_consecutive_samples_of_a_patient_share_a_record_and_order_is_kept() -> None:
    lines = [line("p1", 1.7e9 + i, hr=70 + i) for i in range(5)]
    lines += [line("p2", 1.7e9, hr=90), line("p1", 1.7e9 + 9, hr=80)]
    stats = ProduceStats()
    out = records(lines, stats, max_samples=3)
    assert [(t, k, len(decode_vitals(v))) for t, k, v in out] == [
        (VITALS, b"p1", 3), (VITALS, b"p1", 2), (VITALS, b"p2", 1), (VITALS, b"p1", 1),
    ]  # fmt: skip
    hr = [s.hr for _, k, v in out if k == b"p1" for s in decode_vitals(v)]
    assert hr == [70, 71, 72, 73, 74, 80]
    assert stats.samples == 7 and not stats.rejected


def test_refused_lines_become_dead_letters_with_their_reason() -> None:
    bad = [
        b"{not json",
        line("p1", 1.7e9, hr=400),
        line("p1", 1.7e9, hr="fast"),
        orjson.dumps({"device_id": "d", "ts": 1.7e9, "hr": 70}),
        b"   ",
    ]
    stats = ProduceStats()
    out = records([*bad, line("p1", 1.7e9 + 60, hr=70)], stats)
    letters = [(k, decode_dead_letter(v)) for t, k, v in out if t == DLQ]
    assert [(k, d.reason) for k, d in letters] == [
        (None, "bad_json"), (b"p1", "out_of_range"), (b"p1", "wrong_type"), (None, "bad_id"),
    ]  # fmt: skip
    assert letters[1][1].payload == bad[1] and letters[1][1].source == "produce"
    assert [t for t, _, _ in out].count(VITALS) == 1
    assert stats.samples == 1 and sum(stats.rejected.values()) == 4


def test_refused_lines_of_a_patient_leave_a_notice_in_place_as_the_gateway_does() -> None:
    lines = [line("p1", 1.7e9, hr=70), line("p1", 1.7e9 + 1, hr=400), line("p1", 1.7e9 + 2, hr=71)]
    lines.insert(1, orjson.dumps({"patient_id": "p1", "device_id": "d-p1", "hr": 70}))
    out = records(lines, ProduceStats())
    [value] = [v for t, _, v in out if t == VITALS]
    entries = decode_entries(value)
    assert [e.reason if isinstance(e, RejectionNotice) else e.hr for e in entries] == [
        70.0, "missing_ts", "out_of_range", 71.0,
    ]  # fmt: skip
    assert decode_entries(value)[2] == RejectionNotice("p1", "d-p1", 1.7e9 + 1, "out_of_range")

"""Tests of :mod:`stream.records` (the doctests cover CSV)."""

from __future__ import annotations

from pathlib import Path

from stream.records import RecordReader


def test_blank_lines_are_skipped_and_only_broken_lines_count_as_malformed(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    p.write_bytes(
        b'{"patient_id":"p1","ts":1,"hr":70}\n'
        b"\n"
        b"   \r\n"
        b'{"patient_id":"p1","ts":2,"hr":71}\n'
        b"{not json\n"
        b"[1, 2]\n"
        b'{"patient_id":"p1","ts":3,"hr":NaN}\n'
    )
    reader = RecordReader(p)
    rows = list(reader)
    assert [r["ts"] for r in rows] == [1, 2, 3]
    assert rows[2]["hr"] != rows[2]["hr"]  # NaN read as the gateway reads it (not_finite later)
    assert reader.malformed == 2

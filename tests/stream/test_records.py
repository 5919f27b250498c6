"""Tests of :mod:`stream.records` (the doctests cover CSV)."""

from __future__ import annotations

from pathlib import Path

from ingest.sample import Sample
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


def test_entries_are_the_samples_of_plain_lines_and_the_records_of_the_others(
    tmp_path: Path,
) -> None:
    p = tmp_path / "s.jsonl"
    p.write_bytes(
        b'{"patient_id":"p1","ts":1709280000,"hr":70}\n'
        b"\n"
        b'{"ts":1709280060,"hr":71,"hrv":40.5}\n'
        b"{not json\n"
        b'{"patient_id":"p1","ts":1709280120,"hr":NaN}\n'
        b'{"ts":1709280180,"spo2":97}\n'
    )
    progress: list[int] = []
    reader = RecordReader(p, patient_id="cpu", on_progress=progress.append)
    entries = list(reader.entries())
    assert [type(e) for e in entries] == [Sample, dict, dict, Sample]
    first, custom, nan, last = entries
    assert first == Sample("p1", "p1", 1709280000.0, hr=70.0)
    assert custom == {"ts": 1709280060, "hr": 71, "hrv": 40.5, "patient_id": "cpu"}
    assert nan["hr"] != nan["hr"]
    assert last == Sample("cpu", "cpu", 1709280180.0, spo2=97.0)
    assert reader.malformed == 1
    assert progress[-1] == p.stat().st_size
    # the same records as iterating, where they are not samples
    assert [r for r in RecordReader(p, patient_id="cpu") if "hrv" in r] == [custom]


def test_entries_of_a_csv_are_its_records(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_text("patient_id,ts,hr\np1,2025-01-06T00:00:00Z,71\n")
    assert list(RecordReader(p).entries()) == list(RecordReader(p))

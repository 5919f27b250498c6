"""The device-variant benchmark (bench/devices.py): each variant changes only the reporting."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import devices  # noqa: E402
from ingest.simulator.cohort import CohortSpec, simulate_cohort  # noqa: E402

RECORDS = [
    {"patient_id": "p1", "device_id": "d1", "ts": 0.0, "hr": 70, "motion": 0.01, "quality": 0.9},
    {"patient_id": "p1", "device_id": "d1", "ts": 60.0, "hr": 71, "sbp": 120, "dbp": 80,
     "motion": 0.5, "quality": 0.9, "temp": 36.6, "rr": 14},
]  # fmt: skip


def run(name: str) -> list[dict[str, object]]:
    return list(devices.VARIANTS[name](iter([dict(r) for r in RECORDS])))


def test_the_reference_is_untouched():
    assert run("as simulated") == RECORDS


@pytest.mark.parametrize(
    ("name", "field"), [("no quality", "quality"), ("no motion", "motion"), ("no temp", "temp"),
                        ("no rr", "rr")],
)  # fmt: skip
def test_a_missing_sensor_removes_only_its_field(name, field):
    out = run(name)
    assert all(field not in r for r in out)
    assert [{k: v for k, v in r.items() if k != field} for r in RECORDS] == out


def test_motion_variants_move_motion_only():
    assert [r["motion"] for r in run("raw magnitude")] == [1.01, 1.5]
    assert [r["motion"] for r in run("bias +0.04 g")] == [0.05, 0.54]
    assert [r["motion"] for r in run("motion x0.5")] == [0.005, 0.25]
    assert [r["motion"] for r in run("motion x2")] == [0.02, 1.0]
    assert [r["hr"] for r in run("raw magnitude")] == [70, 71]


def test_a_separate_cuff_sends_blood_pressure_under_its_own_device_id():
    out = run("cuff apart")
    assert [r["device_id"] for r in out] == ["d1", "d1", "cuff-p1"]
    assert "sbp" not in out[1]
    assert out[2] == {"patient_id": "p1", "device_id": "cuff-p1", "ts": 60.0, "sbp": 120,
                      "dbp": 80}  # fmt: skip


def test_a_cuff_ahead_stamps_only_its_own_readings_ten_minutes_on():
    out = run("cuff 10 min ahead")
    assert [r["ts"] for r in out] == [0.0, 60.0, 660.0]
    assert out[:2] == run("cuff apart")[:2]
    assert devices._later("2024-03-01T08:00:00Z", 600.0) == "2024-03-01T08:10:00Z"


def test_redelivery_repeats_some_messages_exactly():
    many = [dict(RECORDS[0], ts=60.0 * i) for i in range(400)]
    out = list(devices.VARIANTS["redelivered"](iter(many)))
    assert 400 < len(out) < 460
    assert {r["ts"] for r in out} == {r["ts"] for r in many}


def test_records_are_fresh_copies_of_the_cohorts_payloads():
    cohort = simulate_cohort(CohortSpec(patients=1, days=0.05, seed=3))
    a, b = list(devices.records(cohort)), list(devices.records(cohort))
    assert a == b and a
    a[0]["hr"] = -1
    assert b[0]["hr"] != -1

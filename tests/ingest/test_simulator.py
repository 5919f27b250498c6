"""The cohort simulator: deterministic, labelled truthfully, and full of realistic confounders."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import pytest

from ingest.exceptions import SampleRejected
from ingest.sample import parse_sample, parse_ts
from ingest.simulator import (
    EVENT_TYPES,
    CohortSpec,
    iter_cohort,
    read_labels,
    simulate_cohort,
    simulate_patient,
    write_cohort,
)
from ingest.simulator.cohort import Cohort, PatientTrace

SMALL = CohortSpec(patients=12, days=2.0, seed=5, events_per_day=0.6)


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    return simulate_cohort(SMALL)


@pytest.fixture(scope="module")
def eventful() -> list[PatientTrace]:
    """Patients with many events, enough to see every event type."""
    spec = CohortSpec(patients=40, days=3.0, seed=11, events_per_day=1.0)
    return [simulate_patient(spec, i) for i in range(spec.patients)]


def _payloads(c: Cohort) -> list[dict[str, object]]:
    return [r.payload for r in c.records()]


def test_same_spec_gives_identical_samples_and_labels(cohort: Cohort) -> None:
    again = simulate_cohort(SMALL)
    assert _payloads(again) == _payloads(cohort)
    assert again.labels() == cohort.labels()


def test_another_seed_gives_another_cohort(cohort: Cohort) -> None:
    other = simulate_cohort(CohortSpec(patients=12, days=2.0, seed=6, events_per_day=0.6))
    assert _payloads(other)[:50] != _payloads(cohort)[:50]


def test_a_patient_does_not_depend_on_cohort_size() -> None:
    small = simulate_patient(CohortSpec(patients=2, days=1.0, seed=3), 1)
    large = simulate_patient(CohortSpec(patients=50, days=1.0, seed=3), 1)
    assert np.array_equal(small.device.columns["hr"], large.device.columns["hr"])
    assert small.events == large.events


def test_records_come_in_receive_order_with_iso_utc_ts(cohort: Cohort) -> None:
    recs = list(cohort.records())
    assert len(recs) == cohort.n_samples
    assert all(a.received_at <= b.received_at for a, b in zip(recs, recs[1:], strict=False))
    assert all(str(r.payload["ts"]).endswith("Z") for r in recs[:100])
    assert {r.payload["patient_id"] for r in recs[:200]} != {recs[0].payload["patient_id"]}


def test_iter_cohort_starts_at_the_requested_time() -> None:
    first = next(iter_cohort(CohortSpec(patients=3, days=0.1, seed=1, start=1.8e9)))
    assert abs(parse_ts(first.payload["ts"]) - 1.8e9) < 2 * 3600


def test_only_labelled_invalid_samples_are_rejected_with_the_expected_reason(
    cohort: Cohort,
) -> None:
    labels = cohort.labels()
    expected = {(i["patient_id"], i["ts"]): i["expected_reason"] for i in labels["invalid"]}
    assert expected, "the cohort should contain invalid samples"
    rejected = {}
    for p in _payloads(cohort):
        try:
            parse_sample(p, patient_id=str(p["patient_id"]), device_id=str(p["device_id"]))
        except SampleRejected as exc:
            rejected[(p["patient_id"], p["ts"])] = exc.reason_code
    assert rejected == expected


#: What each event's key vital reaches on its plateau (median over the plateau).
CRITERIA: dict[str, tuple[str, Callable[[float, PatientTrace], bool]]] = {
    "tachycardia": ("hr", lambda x, p: x >= 118),
    "bradycardia": ("hr", lambda x, p: x <= 41),
    "desaturation": ("spo2", lambda x, p: x <= (85 if p.physiology.spo2_scale == 2 else 90)),
    "fever": ("temp", lambda x, p: x >= 38.4),
    "hypotension": ("sbp", lambda x, p: x <= 92),
    "tachypnea": ("rr", lambda x, p: x >= 24),
    "hypertensive_crisis": ("sbp", lambda x, p: x >= 178),
    "sepsis": ("hr", lambda x, p: x >= p.physiology.hr + 20),
}


def test_severity_makes_the_same_events_milder_and_leaves_the_rest() -> None:
    full = CohortSpec(patients=6, days=2.0, seed=11, events_per_day=1.0)
    mild = CohortSpec(patients=6, days=2.0, seed=11, events_per_day=1.0, severity=0.5)
    departures = []
    for i in range(full.patients):
        a, b = simulate_patient(full, i), simulate_patient(mild, i)
        assert [(e.type, e.onset, e.end) for e in a.events] == [
            (e.type, e.onset, e.end) for e in b.events
        ]
        usual = a.physiology
        for ea, eb in zip(a.events, b.events, strict=True):
            for vital, level in ea.levels.items():
                ratio = (eb.levels[vital] - getattr(usual, vital)) / (level - getattr(usual, vital))
                assert 0.5 <= ratio <= 1.0
                departures.append(ratio)
        # outside every event (and its recovery), the vitals are the same readings
        hr_a, hr_b = a.device.columns["hr"], b.device.columns["hr"]
        quiet = np.ones(hr_a.size, dtype=bool)
        for ev in a.events:
            quiet[ev.onset : ev.end + ev.recovery + 1] = False
        assert np.array_equal(hr_a[quiet], hr_b[quiet], equal_nan=True)
    assert departures and min(departures) < 0.8  # some events really are milder


def test_ramp_makes_the_same_events_abrupt_and_leaves_the_rest() -> None:
    drawn = CohortSpec(patients=6, days=2.0, seed=11, events_per_day=1.0)
    abrupt = CohortSpec(patients=6, days=2.0, seed=11, events_per_day=1.0, ramp=1)
    kinds = set()
    for i in range(drawn.patients):
        a, b = simulate_patient(drawn, i), simulate_patient(abrupt, i)
        assert [(e.type, e.onset, e.end, e.levels) for e in a.events] == [
            (e.type, e.onset, e.end, e.levels) for e in b.events
        ]
        for ea, eb in zip(a.events, b.events, strict=True):
            kinds.add(ea.type)
            assert eb.ramp == (ea.ramp if ea.type == "sepsis" else 1)
            if ea.type in ("tachycardia", "bradycardia"):
                # one minute after onset the heart rate is at its plateau, not on its way
                hr = b.device.columns["hr"][ea.onset + 2 : ea.onset + 12]
                hr = hr[np.isfinite(hr)]
                assert hr.size and abs(float(np.median(hr)) - ea.levels["hr"]) < 8.0
        # before the first event the readings are the same
        first = min((ev.onset for ev in a.events), default=a.device.columns["hr"].size)
        hr_a, hr_b = a.device.columns["hr"][:first], b.device.columns["hr"][:first]
        assert np.array_equal(hr_a, hr_b, equal_nan=True)
    assert len(kinds) >= 3


def test_events_reach_clinically_meaningful_levels(eventful: list[PatientTrace]) -> None:
    seen: dict[str, int] = defaultdict(int)
    for p in eventful:
        cols = p.device.columns
        for ev in p.events:
            vital, ok = CRITERIA[ev.type]
            plateau = cols[vital][ev.onset + ev.ramp : ev.end + 1]
            plateau = plateau[np.isfinite(plateau) & (plateau < 250)]
            assert plateau.size >= 2, (p.patient_id, ev.type)
            assert ok(float(np.median(plateau)), p), (p.patient_id, ev.type)
            seen[ev.type] += 1
    assert set(seen) == set(EVENT_TYPES)


def test_sepsis_drifts_several_vitals_over_hours(eventful: list[PatientTrace]) -> None:
    septic = [(p, ev) for p in eventful for ev in p.events if ev.type == "sepsis"]
    assert septic
    for p, ev in septic:
        assert ev.ramp >= 120
        cols = p.device.columns
        before = slice(max(ev.onset - 120, 0), ev.onset)
        during = slice(ev.onset + ev.ramp, ev.end + 1)
        assert np.nanmedian(cols["rr"][during]) >= np.nanmedian(cols["rr"][before]) + 2
        assert np.nanmedian(cols["temp"][during]) > np.nanmedian(cols["temp"][before]) + 0.8


def test_event_labels_match_the_events(cohort: Cohort) -> None:
    labels = cohort.labels()
    first = {p["patient_id"]: parse_ts(p["first_sample"]) for p in labels["patients"]}
    assert labels["events"]
    for e in labels["events"]:
        onset, end = parse_ts(e["onset"]), parse_ts(e["end"])
        assert 30 * 60 <= end - onset
        assert e["cold_start"] == (onset - first[e["patient_id"]] < 6 * 3600)


def test_cohorts_have_cold_start_events_and_patients_without_events() -> None:
    labels = simulate_cohort(CohortSpec(patients=40, days=5.0, seed=2)).labels()
    per_patient: defaultdict[str, int] = defaultdict(int)
    for e in labels["events"]:
        per_patient[e["patient_id"]] += 1
    assert any(e["cold_start"] for e in labels["events"])
    assert len(per_patient) < 40
    assert 0.8 <= len(labels["events"]) / 40 <= 2.2


def test_copd_patients_run_low_spo2_on_scale_2_and_athletes_low_hr(
    eventful: list[PatientTrace],
) -> None:
    profiles = {p.physiology.profile for p in eventful}
    assert {"copd", "athlete", "hypertensive", "frail_elderly", "adult"} <= profiles
    for p in eventful:
        quiet = np.ones(p.device.keep.size, dtype=bool)
        for ev in p.events:
            quiet[max(ev.onset - 60, 0) : ev.end + ev.recovery + 60] = False
        if p.physiology.profile == "copd":
            assert p.label()["config"]["spo2_scale"] == 2
            assert 88 <= np.nanmedian(p.device.columns["spo2"][quiet]) <= 92
        if p.physiology.profile == "athlete":
            assert p.label()["config"]["spo2_scale"] == 1
            resting = quiet & (p.device.columns["motion"] < 0.1)
            assert 40 <= np.nanmedian(p.device.columns["hr"][resting]) <= 50


def test_confounders_are_present(eventful: list[PatientTrace]) -> None:
    bouts = [(p, a, b) for p in eventful for a, b in p.exercise]
    assert any(np.nanmax(p.device.columns["hr"][a:b]) >= 140 for p, a, b in bouts)
    assert all(np.nanmedian(p.device.columns["motion"][a:b]) >= 0.8 for p, a, b in bouts)
    arts = [(p, a, b, k) for p in eventful for a, b, k in p.device.artifacts]
    assert {k for *_, k in arts} == {"hr_high", "hr_low", "spo2_dip"}
    for p, a, b, _ in arts:
        noisy = (p.device.columns["quality"][a:b] < 0.5) | (p.device.columns["motion"][a:b] >= 1)
        assert noisy.all()
    assert sum(bool(p.device.gaps) for p in eventful) >= 0.7 * len(eventful)
    for p in eventful:
        for a, b in p.device.gaps:
            assert not p.device.keep[a:b].any()
            assert 30 <= b - a <= 90


def test_blood_pressure_comes_from_an_intermittent_cuff(cohort: Cohort) -> None:
    p = cohort.patients[0]
    cuff = np.flatnonzero(np.isfinite(p.device.columns["sbp"]))
    gaps = np.diff(cuff)
    assert 15 <= gaps.min() and gaps.max() <= 60
    assert np.isfinite(p.device.columns["temp"]).all()


def test_dropouts_deliver_late_samples_out_of_ts_order(cohort: Cohort) -> None:
    latest: dict[str, float] = {}
    late = []
    for r in cohort.records():
        pid, ts = str(r.payload["patient_id"]), parse_ts(r.payload["ts"])
        if ts < latest.get(pid, 0.0):
            late.append(latest[pid] - ts)
        latest[pid] = max(ts, latest.get(pid, 0.0))
    assert late and max(late) <= 66 * 60
    assert sum(len(p.device.dropouts) for p in cohort.patients) > 0


def test_write_cohort_writes_jsonl_and_labels(tmp_path: Path) -> None:
    spec = CohortSpec(patients=3, days=0.5, seed=9)
    summary = write_cohort(spec, tmp_path)
    lines = (tmp_path / "samples.jsonl").read_bytes().splitlines()
    assert summary["samples"] == len(lines)
    first = orjson.loads(lines[0])
    assert {"patient_id", "device_id", "ts", "hr", "motion", "quality"} <= set(first)
    labels = read_labels(tmp_path)
    assert labels["summary"] == summary
    assert [p["patient_id"] for p in labels["patients"]] == ["p0001", "p0002", "p0003"]
    assert {"profile", "device_id", "config"} <= set(labels["patients"][0])

"""The delay-floor benchmark (bench/delay_floor.py): what a noise-free NEWS2-band oracle sees."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import delay_floor  # noqa: E402
from ingest.simulator.cohort import CohortSpec, simulate_cohort  # noqa: E402
from ingest.simulator.events import BP_EVENTS  # noqa: E402
from stream.evaluation import events_from_labels, score_alerts  # noqa: E402


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(CohortSpec(patients=12, days=2.0, seed=5, events_per_day=1.0))


def test_the_oracle_sees_every_event_by_its_plateau_or_the_next_cuff_reading(cohort):
    seen = 0
    for p in cohort.patients:
        cuff = np.flatnonzero(np.isfinite(p.device.columns["sbp"]) & p.device.keep)
        for ev in p.events:
            delay = delay_floor.oracle_delay(p, ev)
            assert delay is not None, (p.patient_id, ev.type)
            assert 0 <= delay <= ev.end - ev.onset
            if ev.type in BP_EVENTS:
                assert ev.onset + delay in cuff  # blood pressure only at a cuff reading
            elif ev.type != "sepsis":
                assert delay <= ev.ramp  # plateaus are abnormal: seen by the end of the ramp
            seen += 1
    assert seen >= 10


def test_per_type_delays_are_the_evaluations_delays(cohort):
    labels = cohort.labels()
    events = events_from_labels(labels)
    alerts = delay_floor.oracle_alerts(cohort)
    per = delay_floor.delays_by_type(events, alerts)
    m = score_alerts(events, alerts, patient_days=10.0)
    assert m.recall == 1.0
    assert sorted(d for ds in per.values() for d in ds) == sorted(m.delays_min)


def test_a_value_scores_only_on_the_side_it_moves_to():
    # a night-time SBP of 105 (1 point, low) rising to a crisis is seen at 180, not at 111
    assert delay_floor.band("sbp", 105.0, +1, 1) == 0
    assert delay_floor.band("sbp", 105.0, -1, 1) == 1
    course = delay_floor.first_band_change(
        105.0, 200.0, 60, 120, lambda x: delay_floor.band("sbp", x, +1, 1)
    )
    assert course is not None
    x = 105.0 + delay_floor.smoothstep(course / 60) * 95.0
    assert 179.5 <= x < 185.0


def test_the_personal_oracle_alerts_three_spreads_from_the_usual_value_however_normal():
    points = delay_floor.personal_signal("hr", 65.0, 4.0, +1, 1)
    assert points is not None
    assert [points(x) for x in (70.0, 76.9, 77.0, 80.0)] == [0, 0, 1, 1]
    assert delay_floor.personal_signal("hr", 65.0, float("nan"), +1, 1) is None  # no spread


def test_the_personal_oracle_sees_most_events(cohort):
    alerts = delay_floor.oracle_alerts(cohort, delay_floor.personal_signal)
    events = events_from_labels(cohort.labels())
    assert score_alerts(events, alerts, patient_days=10.0).recall >= 0.9

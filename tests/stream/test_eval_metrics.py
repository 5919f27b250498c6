"""Event-level metrics and baselines of ``vigil eval``, pinned on hand-made data."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from stream.baselines import (
    BP_CARRY_S,
    SUSTAIN_S,
    WEAR_CARRY_S,
    VitalSeries,
    alarm_onsets,
    baseline_alerts,
    news2_alarm,
    static_alarm,
)
from stream.evaluation import (
    DETECT_AFTER_END_S,
    WINDOW_AFTER_END_S,
    WINDOW_BEFORE_ONSET_S,
    AlertTime,
    LabelledEvent,
    Metrics,
    clinical_alert_times,
    events_from_labels,
    format_table,
    patient_days_from_labels,
    percentile,
    score_alerts,
)

H = 3600.0
EVENT = LabelledEvent("p1", "fever", onset=10 * H, end=12 * H, cold_start=False)


def _score(
    alerts: list[tuple[str, float]],
    events: tuple[LabelledEvent, ...] | list[LabelledEvent] = (EVENT,),
    days: float = 1.0,
) -> Metrics:
    return score_alerts(list(events), [AlertTime(p, t) for p, t in alerts], patient_days=days)


@pytest.mark.parametrize(
    ("t", "detected"),
    [
        (EVENT.onset, True),
        (EVENT.end + DETECT_AFTER_END_S, True),
        (EVENT.end + DETECT_AFTER_END_S + 1, False),
        (EVENT.onset - 1, False),
    ],
)
def test_an_event_is_detected_only_by_an_alert_between_onset_and_end_plus_30_min(t, detected):
    assert _score([("p1", t)]).detected == int(detected)


def test_an_alert_of_another_patient_does_not_detect_and_is_false():
    m = _score([("p2", EVENT.onset + 60)])
    assert (m.detected, m.false_alerts) == (0, 1)


def test_delay_is_first_alert_in_window_minus_onset():
    m = _score([("p1", EVENT.onset - 300), ("p1", EVENT.onset + 900), ("p1", EVENT.onset + 1800)])
    assert m.delays_min == [15.0]
    assert m.median_delay_min == 15.0


@pytest.mark.parametrize(
    ("t", "false"),
    [
        (EVENT.onset - WINDOW_BEFORE_ONSET_S, False),
        (EVENT.onset - WINDOW_BEFORE_ONSET_S - 1, True),
        (EVENT.end + WINDOW_AFTER_END_S, False),
        (EVENT.end + WINDOW_AFTER_END_S + 1, True),
    ],
)
def test_false_alerts_fall_outside_the_widened_event_window(t, false):
    assert _score([("p1", t)]).false_alerts == int(false)


def test_alerts_in_the_widened_window_count_as_true_alerts_per_detected_event():
    m = _score([("p1", EVENT.onset + 60), ("p1", EVENT.end + H), ("p1", EVENT.onset - 300)])
    assert (m.detected, m.false_alerts, m.alerts_per_detected_event) == (1, 0, 3.0)


def test_false_alert_rate_is_per_patient_day():
    m = _score([("p1", 0.0), ("p1", 100.0), ("p3", 5.0)], days=2.0)
    assert m.false_per_patient_day == 1.5


def test_recall_is_reported_overall_per_type_and_for_cold_starts():
    events = [
        EVENT,
        LabelledEvent("p2", "fever", 0.0, H, cold_start=True),
        LabelledEvent("p3", "sepsis", 0.0, 5 * H, cold_start=True),
        LabelledEvent("p4", "sepsis", 0.0, 5 * H),
    ]
    m = _score([("p1", EVENT.onset + 60), ("p3", 4 * H)], events=events)
    assert m.recall == 0.5
    assert m.recall_by_type == {"fever": 0.5, "sepsis": 0.5}
    assert (m.cold_start_events, m.cold_start_recall) == (2, 0.5)


def test_delay_percentiles_interpolate_linearly():
    assert percentile([10.0, 20.0, 30.0, 40.0, 50.0], 50) == 30.0
    assert percentile([10.0, 20.0, 30.0, 40.0, 50.0], 90) == 46.0
    assert math.isnan(_score([]).median_delay_min)


def test_no_events_gives_nan_recall_not_an_error():
    m = score_alerts([], [AlertTime("p1", 0.0)], patient_days=1.0)
    assert math.isnan(m.recall) and m.false_alerts == 1


def test_only_opening_records_of_clinical_alerts_count():
    records = [
        SimpleNamespace(patient_id="p", category="clinical", status="open", detected_at=1.0),
        SimpleNamespace(patient_id="p", category="clinical", status="escalated", detected_at=2.0),
        SimpleNamespace(patient_id="p", category="clinical", status="resolved", detected_at=3.0),
        SimpleNamespace(patient_id="p", category="technical", status="open", detected_at=4.0),
    ]
    assert clinical_alert_times(records) == [AlertTime("p", 1.0)]


def test_labels_give_events_and_monitored_patient_days():
    labels = {
        "patients": [
            {"first_sample": "2025-01-06T00:00:00Z", "last_sample": "2025-01-08T00:00:00Z"},
            {"first_sample": "2025-01-06T12:00:00Z", "last_sample": "2025-01-07T00:00:00Z"},
        ],
        "events": [
            {
                "patient_id": "p1",
                "type": "fever",
                "onset": "2025-01-06T01:00:00Z",
                "end": "2025-01-06T02:00:00Z",
                "cold_start": True,
            }
        ],
    }
    assert patient_days_from_labels(labels) == 2.5
    [ev] = events_from_labels(labels)
    assert (ev.end - ev.onset, ev.cold_start) == (H, True)


def test_table_has_one_column_per_method_and_every_event_type():
    rows = dict(format_table({"a": _score([]), "b": _score([("p1", EVENT.onset)])}))
    assert rows["recall"] == ["0.00", "1.00"]
    assert rows["  recall fever"] == ["0.00", "1.00"]
    assert rows["median delay (min)"] == ["-", "0.0"]


# --- baselines -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vitals", "alarm"),
    [
        ({"hr": 130}, False),
        ({"hr": 131}, True),
        ({"hr": 40}, False),
        ({"hr": 39}, True),
        ({"spo2": 90}, False),
        ({"spo2": 89}, True),
        ({"rr": 24}, False),
        ({"rr": 25}, True),
        ({"rr": 7}, True),
        ({"temp": 38.4}, False),
        ({"temp": 38.5}, True),
        ({"temp": 34.9}, True),
        ({"sbp": 90}, False),
        ({"sbp": 89}, True),
        ({"sbp": 180}, True),
    ],
)
def test_static_thresholds(vitals, alarm):
    assert static_alarm(**vitals) is alarm


def test_news2_baseline_alarms_on_total_5_or_a_single_3_with_the_patients_scale():
    assert news2_alarm(hr=115, rr=22, temp=38.2)  # 2 + 2 + 1
    assert not news2_alarm(hr=115, rr=22)  # 4, no single 3
    assert news2_alarm(sbp=88)  # single 3
    assert news2_alarm(spo2=89) and not news2_alarm(spo2=89, spo2_scale=2)


def test_instant_baseline_alerts_on_each_transition_into_alarm():
    assert alarm_onsets([0, 60, 120, 180, 240], [0, 1, 0, 1, 1]) == [60.0, 180.0]


def test_sustained_baseline_needs_five_continuous_minutes():
    ts = [60.0 * i for i in range(12)]
    assert alarm_onsets(ts, [1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1], sustain_s=SUSTAIN_S) == [600.0]
    assert alarm_onsets(ts[:5], [1] * 5, sustain_s=SUSTAIN_S) == []


def test_a_long_silence_ends_an_alarm_run():
    assert alarm_onsets([0.0, 60.0, 3600.0], [1, 1, 1]) == [0.0, 3600.0]


def test_baseline_orders_late_samples_and_carries_cuff_bp_forward():
    s = VitalSeries()
    s.append(0.0, 80, 97, 14, 36.8, 85)  # hypotensive cuff reading
    s.append(120.0, 80, 97, 14, 36.8, None)  # arrives late
    s.append(60.0, 80, 97, 14, 36.8, None)
    s.append(BP_CARRY_S + 1.0, 80, 97, 14, 36.8, None)
    ts, state = s.states(static_alarm)
    assert ts == [0.0, 60.0, 120.0, BP_CARRY_S + 1.0]
    assert state == [True, True, True, False]
    assert baseline_alerts({"p": s}, static_alarm) == [AlertTime("p", 0.0)]


def test_a_dropped_wearable_reading_does_not_end_a_baseline_alarm_run():
    # SpO2 86 for 10 min with one reading missing: one run, one alert, sustained at 5 min
    s = VitalSeries()
    for i in range(10):
        s.append(60.0 * i, 80, None if i == 3 else 86, 14, 36.8, None)
    assert baseline_alerts({"p": s}, static_alarm) == [AlertTime("p", 0.0)]
    assert baseline_alerts({"p": s}, static_alarm, sustain_s=SUSTAIN_S) == [AlertTime("p", 300.0)]
    s.append(60.0 * 10 + WEAR_CARRY_S + 1.0, 80, None, 14, 36.8, None)  # too long ago
    assert s.states(static_alarm)[1][-1] is False


def test_alerts_near_an_undetected_event_are_not_charged_to_a_detected_one():
    missed = LabelledEvent("p1", "fever", onset=EVENT.end + 10 * H, end=EVENT.end + 11 * H)
    stray = missed.end + DETECT_AFTER_END_S + 60.0  # not false (widened window), not a detection
    m = score_alerts(
        [EVENT, missed],
        [AlertTime("p1", EVENT.onset + 60.0), AlertTime("p1", stray)],
        patient_days=1.0,
    )
    assert (m.detected, m.false_alerts, m.alerts_per_detected_event) == (1, 0, 1.0)


def test_the_baselines_read_samples_without_a_device_as_replay_does():
    from collections import defaultdict

    from stream.cohort_eval import _collect

    series: defaultdict[str, VitalSeries] = defaultdict(VitalSeries)
    raw = [{"patient_id": "p1", "ts": 60.0 * i + 1.7e9, "hr": 150} for i in range(3)]
    assert list(_collect(raw, series)) == raw
    assert len(series["p1"].ts) == 3

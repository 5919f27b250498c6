"""Clinical correctness of detection and alert policy against the NEWS2 chart (RCP 2017).

Found by a clinical review: the number a message shows must score the points it states,
3-point territory follows the chart's float bands, a single 3 (new confusion too) is at least
medium, per-minute NEWS2 sub-scores add up to the score, a diastolic limit alerts, a snoozed
condition is not announced through another alert, and a new critical condition is never silent.

Ground truth: RCP NEWS2 (2017), chart 1 and chart 2. Vitals reach the detector as smoothed
floats, and the chart's integer (or 0.1 C) bands place them by rounding half up: 90.5 bpm is
charted as 91, 38.05 C as 38.1 (this is what :mod:`stream.detect.news2` does).
"""

from __future__ import annotations

import math

import pytest

from alerts.episodes import EpisodeTracker
from alerts.model import SEVERITY_RANK
from alerts.policy import AlertPolicy
from ingest.sample import Sample
from stream.detect.config import PatientConfig
from stream.detect.contexts import ACTIVE
from stream.detect.findings import Finding
from stream.detect.monitor import PatientMonitor
from stream.detect.news2 import score_hr, score_rr, score_sbp, score_spo2, score_temp
from stream.detect.rules import FIRING, HOLDING, NONE, RULES, explain_rule
from stream.detect.vitals import fmt
from stream.minutes import PatientMinutes
from stream.pipeline import Pipeline

T0 = 1_700_000_040.0  # on a minute boundary
BASELINE = {"hr": (70.0, 5.0), "rr": (14.0, 1.5), "sbp": (125.0, 9.0), "temp": (36.8, 0.2)}
SCORE = {"hr": score_hr, "rr": score_rr, "sbp": score_sbp, "spo2": score_spo2, "temp": score_temp}


def _run(config: PatientConfig | None, samples: list[Sample]) -> list[list[Finding]]:
    mon = PatientMonitor("p1", config)
    return [mon.observe(s)[1] for s in samples]


def _firing(found: list[Finding], kind: str) -> Finding:
    hits = [f for f in found if f.kind == kind and f.firing]
    assert hits, f"no firing {kind} finding in {[(f.kind, f.firing) for f in found]}"
    return hits[0]


def _vitals(i: int, **over: float) -> Sample:
    values = {"hr": 72.0, "spo2": 97.0, "rr": 14.0, "temp": 36.8, "motion": 0.1} | over
    return Sample("p1", "d1", T0 + 60.0 * i, **values)  # type: ignore[arg-type]


def _clinical(kind: str, severity: str, since: float, vitals: tuple[str, ...]) -> Finding:
    return Finding(kind, "clinical", severity, vitals, since, True, 0.9, f"{kind} now", {})


# -- 1. the number in the message vs the NEWS2 points beside it --------------------------------


@pytest.mark.parametrize(
    ("vital", "value"),
    [("hr", 40.5), ("hr", 90.5), ("rr", 8.5), ("rr", 20.5), ("sbp", 90.5), ("temp", 35.05),
     ("temp", 38.05)],
)  # fmt: skip
def test_displayed_value_scores_the_news2_points_the_message_states(vital, value):
    points = SCORE[vital](value)
    expected, sd = BASELINE[vital]
    msg, _ = explain_rule(vital, value, expected, sd, (value - expected) / sd, True, 1, 5, None,
                          points, points, {vital: points})  # fmt: skip
    shown = float(fmt(vital, value))
    assert f" {fmt(vital, value)}" in msg
    # "HR 40 bpm ...; NEWS2 pulse 1": a nurse knows HR 40 is a 3 on the chart
    assert SCORE[vital](shown) == points, msg


def test_bradycardia_message_at_40_5_bpm_is_consistent():
    found = _run(PatientConfig(thresholds={"hr": (45.0, None)}),
                 [_vitals(i, hr=40.5) for i in range(4)])  # fmt: skip
    f = _firing(found[-1], "bradycardia")
    assert "HR 40 bpm" not in f.message or "NEWS2 pulse 3" in f.message, f.message


def test_fever_message_at_38_05_is_consistent():
    found = _run(PatientConfig(thresholds={"temp": (None, 37.5)}),
                 [_vitals(i, temp=38.05) for i in range(4)])  # fmt: skip
    f = _firing(found[-1], "fever")
    assert "Temp 38.0 °C" not in f.message, f.message


def test_clinician_limit_alert_never_shows_the_value_equal_to_the_limit():
    # HR 44.6 reads "45", not below a low limit of 45: no alert; HR 44.4 reads "44": alert
    limit = PatientConfig(thresholds={"hr": (45.0, None)})
    found = _run(limit, [_vitals(i, hr=44.6) for i in range(4)])
    assert not any(f.kind == "bradycardia" and f.firing for f in found[-1])
    found = _run(limit, [_vitals(i, hr=44.4) for i in range(4)])
    f = _firing(found[-1], "bradycardia")
    assert f.message.startswith("HR 44 bpm") and "clinician limit 45" in f.message


# -- 2. NEWS2 3-point ('red') territory in the rules ---------------------------------------------


@pytest.mark.parametrize(
    ("kind", "edge", "inside", "expected", "sd"),
    [("desaturation", 91.0, 91.4, 97.5, 2.0), ("tachycardia", 131.0, 130.6, 88.0, 12.0),
     ("bradycardia", 40.0, 40.4, 62.0, 7.0), ("hypotension", 90.0, 90.4, 128.0, 14.0)],
)  # fmt: skip
def test_red_territory_follows_the_news2_float_bands(kind, edge, inside, expected, sd):
    rule = RULES[kind]
    assert SCORE[rule.vital](inside) == 3  # NEWS2 3-point territory
    assert rule.evidence(edge, expected, sd, settled=True) == FIRING
    assert rule.evidence(inside, expected, sd, settled=True) == FIRING


@pytest.mark.parametrize(
    ("xs", "expected", "awake", "level"),
    [
        (40.0, 45.0, True, HOLDING),  # red, beyond both by half a dev: 1.5 scales is enough
        (40.0, 45.0, False, NONE),  # asleep: an athlete's deep night, not yet evidence
        (40.0, 43.5, True, NONE),  # nearer than min_departure (4 bpm)
        (41.0, 46.0, True, NONE),  # not in NEWS2 3-point territory (HR 41 scores 1)
    ],
)
def test_awake_at_rest_red_territory_beyond_both_normals_is_holding_evidence(
    xs, expected, awake, level
):
    brady = RULES["bradycardia"]
    assert brady.evidence(xs, expected, 3.3, settled=True, beyond_both=True, awake=awake) == level
    # once sustained, the same reading fires (as before, awake or not)
    if xs < 40.5 and expected - xs >= 5.0:
        assert (
            brady.evidence(xs, expected, 3.3, settled=True, beyond_both=True, sustained=True)
            == FIRING
        )


# -- 3. severity mapping -----------------------------------------------------------------------


def test_hypertension_scoring_news2_3_is_high():
    found = _run(None, [Sample("p1", "cuff", T0 + 600.0 * i, hr=75.0, sbp=219.6, dbp=100.0)
                        for i in range(2)])  # fmt: skip
    f = _firing(found[0], "hypertension")
    assert "NEWS2 systolic BP 3" in f.message
    assert f.severity in ("high", "critical"), (f.severity, f.message)


def test_new_confusion_lifts_severity_to_at_least_medium():
    found = _run(PatientConfig(consciousness="V", thresholds={"hr": (None, 100.0)}),
                 [_vitals(i, hr=105.0) for i in range(4)])  # fmt: skip
    f = _firing(found[-1], "tachycardia")
    assert "(total 4)" in f.message  # pulse 1 + consciousness 3: low-medium response
    assert SEVERITY_RANK[f.severity] >= SEVERITY_RANK["medium"], f.severity


def test_same_picture_on_an_alert_patient_is_low():
    """Control for the test above: the severity difference is the consciousness alone."""
    found = _run(PatientConfig(thresholds={"hr": (None, 100.0)}),
                 [_vitals(i, hr=105.0) for i in range(4)])  # fmt: skip
    assert _firing(found[-1], "tachycardia").severity == "low"


# -- 4. per-minute NEWS2 records ------------------------------------------------------------------


def test_news2_record_subscores_account_for_the_total():
    pipe = Pipeline({"p1": PatientConfig(consciousness="V", on_oxygen=True)})
    minutes = PatientMinutes("p1")
    records = []
    for i in range(3):
        s = Sample("p1", "d1", T0 + 40.0 * i, hr=72.0, spo2=97.0, rr=14.0, temp=36.8)
        pipe.process(s)
        records += [r for r in minutes.add(s, pipe.news2_now("p1", s.ts)) if hasattr(r, "score")]
    (rec,) = records
    assert (rec.score, rec.risk) == (5, "medium")
    assert sum(rec.subscores.values()) == rec.score, rec.subscores
    assert rec.subscores.get("consciousness") == 3
    assert rec.subscores.get("air_or_oxygen") == 2


# -- 5. clinician limits -------------------------------------------------------------------------


def test_a_diastolic_limit_alerts_and_holds_between_cuff_readings():
    # The API and the dashboard offer DBP limits: they must be read. Without one, nothing.
    cuff = [Sample("p1", "cuff", T0 + 1800.0 * i, sbp=150.0, dbp=80.0 if i < 4 else 125.0)
            for i in range(6)]  # fmt: skip
    assert not any(f.firing for found in _run(None, cuff) for f in found)
    found = _run(PatientConfig(thresholds={"dbp": (None, 100.0)}), cuff)
    f = _firing(found[4], "diastolic_hypertension")
    assert (f.severity, f.vitals) == ("medium", ("dbp",))
    assert f.message.startswith("DBP 125 mmHg (single cuff reading)")
    assert "clinician limit 100" in f.message
    readings = [Sample("p1", "cuff", T0 + 1800.0 * i, sbp=95.0, dbp=50.0) for i in range(2)]
    low = _run(PatientConfig(thresholds={"dbp": (60.0, None)}), readings)
    assert _firing(low[0], "diastolic_hypotension").severity == "medium"
    # between hourly readings the alert is held open, as a systolic one is
    mon = PatientMonitor("p1", PatientConfig(thresholds={"dbp": (None, 100.0)}))
    mon.observe(Sample("p1", "cuff", T0, sbp=150.0, dbp=125.0))
    _, between = mon.observe(Sample("p1", "watch", T0 + 1800.0, hr=72.0))
    assert [f.kind for f in between if f.category == "clinical"] == ["diastolic_hypertension"]


def test_limit_tighter_than_population_fires_and_removal_restores_population():
    mon = PatientMonitor("p1", PatientConfig(thresholds={"hr": (None, 90.0)}))
    found = [mon.observe(_vitals(i, hr=95.0))[1] for i in range(3)]
    assert _firing(found[-1], "tachycardia").severity == "low"
    mon.set_config(PatientConfig(thresholds={"hr": (None, None)}))
    found = mon.observe(_vitals(3, hr=95.0))[1]
    assert not any(f.firing and f.kind == "tachycardia" for f in found)


# -- 6. episodes: snooze, fold, rate limit ---------------------------------------------------------


def test_snoozed_kind_is_not_announced_through_a_fold():
    tr = EpisodeTracker("p1")
    cfg = PatientConfig(snooze_until=10_000.0, snooze_kinds=("fever",))
    (opened,), _ = tr.update(60.0, [_clinical("tachycardia", "medium", 0.0, ("hr",))], cfg)
    assert opened.status == "open"
    out, _ = tr.update(1000.0, [_clinical("tachycardia", "medium", 0.0, ("hr",)),
                                _clinical("fever", "high", 900.0, ("temp",))], cfg)  # fmt: skip
    assert not any("fever" in a.message or "temp" in a.vitals for a in out), out


def test_a_condition_folded_in_below_the_alert_is_recorded_once_it_turns_critical():
    tr = EpisodeTracker("p1")
    tr.update(60.0, [_clinical("desaturation", "critical", 0.0, ("spo2",))])
    desat = _clinical("desaturation", "critical", 0.0, ("spo2",))
    quiet, _ = tr.update(120.0, [desat, _clinical("tachycardia", "high", 100.0, ("hr",))])
    assert quiet == []  # below the alert's severity: nothing to say yet ...
    out, _ = tr.update(180.0, [desat, _clinical("tachycardia", "critical", 100.0, ("hr",))])
    assert [list(a.vitals) for a in out] == [["spo2", "hr"]]  # ... until it is critical too


def test_new_critical_condition_is_never_silent():
    tr = EpisodeTracker("p1")
    tr.update(60.0, [_clinical("tachycardia", "critical", 0.0, ("hr",))])
    out, _ = tr.update(
        120.0,
        [
            _clinical("tachycardia", "critical", 0.0, ("hr",)),
            _clinical("desaturation", "critical", 100.0, ("spo2",)),
        ],
    )
    assert any("spo2" in a.vitals for a in out), out


def test_snooze_expires_in_event_time_and_critical_is_never_snoozed():
    tr = EpisodeTracker("p1")
    cfg = PatientConfig(snooze_until=T0 + 600.0)
    f = _clinical("tachycardia", "high", T0, ("hr",))
    assert tr.update(T0 + 60.0, [f], cfg)[0] == []
    (a,), _ = tr.update(T0 + 600.0, [f], cfg)  # snooze over at its event time
    assert a.status == "open"
    tr2 = EpisodeTracker("p2")
    (c,), _ = tr2.update(T0 + 60.0, [_clinical("desaturation", "critical", T0, ("spo2",))], cfg)
    assert c.severity == "critical"


def test_rate_limit_never_holds_back_a_critical():
    tr = EpisodeTracker("p1", AlertPolicy(fold_related=False))
    for i, kind in enumerate(("tachycardia", "fever", "tachypnea")):
        t = T0 + 60.0 * (i + 1)
        assert tr.update(t, [_clinical(kind, "low", t, ("x",))])[0]
    held, _ = tr.update(T0 + 300.0, [_clinical("hypotension", "high", T0 + 300.0, ("sbp",))])
    assert held == []  # the fourth new alert within the hour is held back ...
    crit, _ = tr.update(T0 + 360.0, [_clinical("desaturation", "critical", T0 + 360.0, ("spo2",))])
    assert [a.severity for a in crit] == ["critical"]  # ... a critical one never


# -- 7. the NEWS2 emergency safety net --------------------------------------------------------


def test_an_emergency_news2_learned_as_normal_is_alerted_when_the_clinician_assessed_it():
    # V and on oxygen with RR 21, HR 97, SpO2 95, 38.2 C: NEWS2 10 from the first minute, each
    # vital as it has always been for this monitor; the safety net fires within 15 minutes.
    mon = PatientMonitor("p1", PatientConfig(consciousness="V", on_oxygen=True))
    fired = []
    for i in range(240):
        s = _vitals(i, hr=97.0, spo2=95.0, rr=21.0, temp=38.2)
        fired += [(i, f) for f in mon.observe(s)[1] if f.firing and f.category == "clinical"]
    assert mon.news2_now(s.ts)[0] == 10
    first, f = fired[0]
    assert first <= 15 and (f.kind, f.severity) == ("news2", "critical")
    assert f.message.startswith("NEWS2 10 for 10 min (emergency response): ")
    assert f.message.endswith("on oxygen 2, consciousness V 3")
    assert fired[-1][0] == 239  # it holds while the score does


def test_a_sleeping_athletes_news2_of_7_on_air_is_not_an_emergency():
    # HR 38 (3), RR 11 (1), 35.9 C (1), SBP 98 (2): their normal night, learned as such
    mon = PatientMonitor("p1")
    fired = set()
    for i in range(240):
        s = _vitals(i, hr=38.0, spo2=97.0, rr=11.0, temp=35.9, sbp=98.0 if i % 30 == 0 else None)
        fired |= {f.kind for f in mon.observe(s)[1] if f.firing}
    assert mon.news2_now(s.ts)[0] >= 7
    assert "news2" not in fired


def test_walking_on_oxygen_is_no_emergency():
    # NEWS2 scores a patient at rest: HR 125 and RR 24 while walking (motion 0.35-0.55 g,
    # readings reliable) make 9 with oxygen and C, and no check counts them. (The wearer
    # sits at 0.1 g: to one who sits at 0.05, 0.35-0.55 g is exertion, not read at all.)
    mon = PatientMonitor("p1", PatientConfig(on_oxygen=True, consciousness="C"))
    fired = set()
    for i in range(100):  # half an hour sitting, then 70 minutes walking
        walk = i >= 30
        s = _vitals(i, hr=125.0 if walk else 80.0, rr=24.0 if walk else 16.0,
                    motion=(0.35 + (i % 3) * 0.1) if walk else 0.1)  # fmt: skip
        fired |= {f.kind for f in mon.observe(s)[1] if f.firing}
    assert mon.news2_now(s.ts)[0] == 9 and mon.activity.context == ACTIVE
    assert "news2" not in fired and "news2" not in mon.rule_state


def test_a_monitor_saved_before_the_safety_net_restores_and_checks_at_once():
    mon = PatientMonitor("p1", PatientConfig(consciousness="V", on_oxygen=True))
    mon.observe(_vitals(0))
    for missing in (2, 3):  # before the NEWS2 safety net; before the step gate too
        old = PatientMonitor.__new__(PatientMonitor)
        old.__setstate__(mon.__getstate__()[:-missing])
        assert old.news2_next == -math.inf and old.gate is not None
        old.observe(_vitals(1))
        assert old.news2_next == T0 + 60.0 + 300.0


def test_silence_during_an_emergency_news2_is_a_data_gap_that_says_check_on_the_patient():
    mon = PatientMonitor("p1", PatientConfig(consciousness="V", on_oxygen=True))
    for i in range(20):
        mon.observe(_vitals(i, hr=97.0, spo2=95.0, rr=21.0, temp=38.2))
    assert mon.rule_state["news2"][0] >= 3  # the emergency is in evidence
    (gap,) = [f for f in mon.tick(T0 + 60.0 * 55) if f.kind == "data_gap"]  # 36 min silent
    assert (
        gap.severity == "medium"
        and "an emergency NEWS2 in evidence: check on the patient" in gap.message
    )


@pytest.mark.parametrize("limits", [(math.nan, 100.0), (None, 1e308), (-math.inf, math.inf)])
def test_a_limit_no_value_can_reach_never_breaks_the_monitor(limits):
    # the API refuses such limits, but a config feed or a labels file may carry them
    found = _run(PatientConfig(thresholds={"hr": limits}), [_vitals(i, hr=72.0) for i in range(4)])
    assert not any(f.kind in ("tachycardia", "bradycardia") and f.firing for f in found[-1])


def test_a_nan_snooze_snoozes_nothing():
    assert not PatientConfig(snooze_until=math.nan).snoozed("tachycardia", T0)


@pytest.mark.parametrize(("vital", "usual", "readings", "fires_at"), [
    ("spo2", 97.0, [97, 96, 95, 93, 90, 88, 87], 4),
    ("hr", 72.0, [72, 80, 92, 104, 116, 128, 138], 3),
    ("rr", 14.0, [14, 16, 19, 22, 25, 27, 28], 3),
])  # fmt: skip
def test_the_first_smoothed_value_that_fires_opens_an_episode(vital, usual, readings, fires_at):
    # The smoothed value is the median of the last three readings: the first that fires is
    # already two readings of three beyond (SpO2 93 and 90 after 95), and a second one
    # would only cost a minute. Bradycardia and fever still ask two.
    mon = PatientMonitor("p1")
    for i in range(8 * 60):
        mon.observe(_vitals(i, **{vital: usual + (i % 3 - 1) * 0.5}))
    firing = []
    for j, x in enumerate(readings):
        _, found = mon.observe(_vitals(8 * 60 + j, **{vital: float(x)}))
        firing.append(any(f.firing for f in found if f.category == "clinical"))
    assert firing.index(True) == fires_at and all(firing[fires_at:])
    assert (RULES["bradycardia"].persist, RULES["fever"].persist) == (2, 2)


def test_one_reading_after_a_long_dropout_is_one_reading_not_a_run():
    # HR 140 for 10 min, then 6 h with no HR (the other vitals go on), then one HR 140: no
    # "for 453 min", no tachycardia on a single reading (2 are needed), no stuck sensor
    mon = PatientMonitor("p1")
    for i in range(8 * 60):
        mon.observe(_vitals(i, hr=72.0 + (i % 3)))
    for i in range(8 * 60, 8 * 60 + 10):
        mon.observe(_vitals(i, hr=140.0))
    for i in range(8 * 60 + 10, 14 * 60 + 10):
        mon.observe(Sample("p1", "d1", T0 + 60.0 * i, spo2=97.0, rr=14.0, temp=36.8, motion=0.1))
    _, found = mon.observe(_vitals(14 * 60 + 10, hr=140.0))
    tachy = [f for f in found if f.kind == "tachycardia"]
    assert tachy and not tachy[0].firing and tachy[0].since == T0 + 60.0 * (14 * 60 + 10)
    assert not any(f.kind == "flatline" and f.vitals == ("hr",) for f in found)


def test_a_repeated_value_either_side_of_a_gap_in_that_vital_is_no_stuck_sensor():
    def flat_hr(gap_min: int) -> bool:
        mon = PatientMonitor("p1")
        fired = False
        for i in range(25):  # 25 equal readings, then (maybe) an hour without HR, then 10
            mon.observe(_vitals(i, hr=66.0, rr=14.0 + i % 2))
        for i in range(25, 25 + gap_min):
            mon.observe(Sample("p1", "d1", T0 + 60.0 * i, spo2=97.0, rr=14.0 + i % 2))
        for i in range(25 + gap_min, 35 + gap_min):
            found = mon.observe(_vitals(i, hr=66.0, rr=14.0 + i % 2))[1]
            fired |= any(f.kind == "flatline" and f.vitals == ("hr",) for f in found)
        return fired

    assert flat_hr(0) and not flat_hr(60)


@pytest.mark.parametrize("every_min", [30, 60, 240])
def test_glucose_meter_readings_hours_apart_still_make_a_run(every_min):
    readings = [Sample("p1", "meter", T0 + 60.0 * every_min * i, glucose=45.0) for i in range(3)]
    found = _run(None, readings)
    assert _firing(found[1], "hypoglycemia").severity == "high"


def test_the_safety_net_counts_checks_in_a_row_when_samples_are_14_minutes_apart():
    mon = PatientMonitor("p1", PatientConfig(consciousness="V", on_oxygen=True))
    fired = []
    for i in range(8):
        s = Sample("p1", "d1", T0 + 840.0 * i, hr=97.0, spo2=95.0, rr=21.0, temp=38.2)
        fired += [i for f in mon.observe(s)[1] if f.kind == "news2" and f.firing]
    assert fired and fired[0] == 2


@pytest.mark.parametrize(("kind", "xs", "expected", "sd", "level"), [
    ("bradycardia", 60.0, 75.0, 3.0, FIRING),  # 1.25 x dev_early and z_early: before 55
    ("bradycardia", 62.0, 75.0, 3.0, HOLDING),  # z 4.3: not far enough yet
    ("hypertension", 150.0, 112.0, 7.0, FIRING),  # one cuff reading, 38 above, z 5.4
    ("hypertension", 145.0, 112.0, 7.0, HOLDING),
    ("tachycardia", 75.0, 50.0, 3.0, HOLDING),  # an athlete's heart a little raised: 2 x
])  # fmt: skip
def test_an_early_warning_inside_the_normal_range_asks_far_times_as_much(
    kind, xs, expected, sd, level
):
    assert RULES[kind].evidence(xs, expected, sd, settled=True) == level
    assert (RULES["bradycardia"].far, RULES["hypertension"].far, RULES["tachycardia"].far) == (
        1.25,
        1.25,
        2.0,
    )

"""Alert policy: episodes not sample alarms, escalation, hysteresis, clear delay, rate limit."""

from __future__ import annotations

from alerts.episodes import EpisodeTracker
from alerts.model import Alert, alert_id_for
from alerts.policy import AlertPolicy
from stream.detect.config import PatientConfig
from stream.detect.findings import Finding

T0 = 1_736_121_600.0
MIN = 60.0


def finding(
    kind: str = "tachycardia",
    severity: str = "medium",
    firing: bool = True,
    since: float = T0,
    category: str = "clinical",
) -> Finding:
    return Finding(kind, category, severity, ("hr",), since, firing, 0.9, f"{kind} now", {"x": 1})


def run(
    tracker: EpisodeTracker,
    steps: list[tuple[int, list[Finding]]],
    config: PatientConfig | None = None,
) -> tuple[list[Alert], list[Alert]]:
    """steps: list of (minute, [findings]); returns (alerts, resolved)."""
    alerts: list[Alert] = []
    resolved: list[Alert] = []
    for minute, found in steps:
        a, r = tracker.update(T0 + minute * MIN, found, config)
        alerts += a
        resolved += r
    return alerts, resolved


def test_one_alert_per_episode_however_many_samples_show_it():
    alerts, _ = run(EpisodeTracker("p1"), [(m, [finding()]) for m in range(120)])
    assert [(a.status, a.seq) for a in alerts] == [("open", 0)]


def test_holding_evidence_never_opens_an_episode():
    alerts, _ = run(EpisodeTracker("p1"), [(m, [finding(firing=False)]) for m in range(60)])
    assert alerts == []


def test_holding_evidence_keeps_an_open_episode_open_hysteresis():
    steps = [(0, [finding()])] + [(m, [finding(firing=False)]) for m in range(1, 90)]
    steps += [(95, [finding()])]
    alerts, resolved = run(EpisodeTracker("p1"), steps)
    assert len(alerts) == 1 and resolved == []


def test_an_episode_clears_only_after_the_clear_delay_then_a_new_one_can_open():
    steps = [(0, [finding()]), (10, []), (29, []), (31, []), (50, [finding(since=T0 + 50 * MIN)])]
    alerts, resolved = run(EpisodeTracker("p1"), steps)
    assert [r.status for r in resolved] == ["resolved"]
    assert resolved[0].detected_at == T0 + 31 * MIN
    assert resolved[0].message == "Resolved, not in evidence since 00:00 UTC (was: tachycardia now)"
    assert [a.status for a in alerts] == ["open", "open"]
    assert alerts[0].alert_id != alerts[1].alert_id


def test_a_run_of_evidence_that_outlives_its_closed_alert_is_a_new_alert_not_a_replay():
    # The detector's run began before the first alert closed (evidence was suspended, e.g.
    # no cuff reading for 40 min) and fires again: the same id with seq 0 again would be
    # hidden by any client keeping the highest seq, so it is a new alert starting now.
    tracker = EpisodeTracker("p1")
    first, resolved = run(tracker, [(0, [finding()]), (40, [])])
    again, _ = run(tracker, [(50, [finding(since=T0)])])
    assert [(a.status, a.seq) for a in resolved] == [("resolved", 1)]
    assert [(a.status, a.seq) for a in again] == [("open", 0)]
    assert again[0].alert_id != first[0].alert_id
    assert again[0].started_at == T0 + 50 * MIN
    # a run that began after the close is an episode of its own as always
    later, _ = run(tracker, [(120, []), (200, [finding(since=T0 + 199 * MIN)])])
    assert later[-1].started_at == T0 + 199 * MIN


def test_late_evidence_does_not_move_an_episodes_last_evidence_back():
    # a sample from a Bluetooth backlog (event time 40 min ago) holds nothing beyond now
    tracker = EpisodeTracker("p1")
    steps = [(m, [finding()]) for m in range(0, 41)] + [(1, [finding(firing=False)])]
    steps += [(60, [])]  # 20 min after the last live evidence: within the 30-min clear delay
    alerts, resolved = run(tracker, steps)
    assert len(alerts) == 1 and resolved == []
    assert tracker.open["tachycardia"].last_evidence == T0 + 40 * MIN


def test_a_late_sample_of_a_folded_condition_does_not_move_the_alerts_last_evidence_back():
    # fever folded into the tachycardia alert; a backlog fever sample (event time minute 5)
    # after live evidence to minute 40 once set the alert's last evidence to minute 5, and
    # the alert was resolved at minute 45 instead of after the 30-min clear delay
    tracker = EpisodeTracker("p1")
    tachy, fever = finding("tachycardia"), finding("fever", since=T0 + 5 * MIN)
    steps = [(m, [tachy]) for m in range(0, 41)] + [(5, [fever]), (45, [])]
    alerts, resolved = run(tracker, steps)
    assert [(a.kind, a.status) for a in alerts] == [("tachycardia", "open")]
    assert resolved == []
    assert tracker.open["tachycardia"].last_evidence == T0 + 40 * MIN
    _, resolved = run(tracker, [(70, [])])
    assert [(r.kind, (r.detected_at - T0) / MIN) for r in resolved] == [("tachycardia", 70)]


def test_an_episode_clears_on_time_while_another_condition_merely_holds():
    # Holding fever evidence (no fever episode) must not keep the tachycardia episode open.
    fever = finding("fever", firing=False)
    steps = [(0, [finding()])] + [(m, [fever]) for m in range(1, 40)]
    _, resolved = run(EpisodeTracker("p1"), steps)
    assert [(r.kind, r.detected_at) for r in resolved] == [("tachycardia", T0 + 30 * MIN)]


def test_rising_severity_escalates_the_same_alert_at_most_every_ten_minutes_unless_critical():
    steps = [(0, [finding()]), (5, [finding(severity="high")]), (12, [finding(severity="high")]),
             (13, [finding(severity="critical")]), (30, [finding(severity="medium")])]  # fmt: skip
    alerts, _ = run(EpisodeTracker("p1"), steps)
    assert [(a.status, a.severity, a.seq) for a in alerts] == [
        ("open", "medium", 0), ("escalated", "high", 1), ("escalated", "critical", 2)]  # fmt: skip
    assert len({a.alert_id for a in alerts}) == 1


def test_alert_ids_are_deterministic_from_patient_kind_and_episode_start():
    a1, _ = run(EpisodeTracker("p1"), [(3, [finding(since=T0 + 60)])])
    a2, _ = run(EpisodeTracker("p1"), [(9, [finding(since=T0 + 60)])])
    assert a1[0].alert_id == a2[0].alert_id == alert_id_for("p1", "tachycardia", T0 + 60)


def test_rate_limit_holds_back_extra_clinical_alerts_and_releases_them_later():
    policy = AlertPolicy(max_new=2, rate_window=3600.0, fold_related=False)
    kinds = ["tachycardia", "fever", "tachypnea"]
    steps = [(m, [finding(k) for k in kinds]) for m in range(0, 70)]
    alerts, _ = run(EpisodeTracker("p1", policy), steps)
    opened = [(a.kind, (a.detected_at - T0) / MIN) for a in alerts if a.status == "open"]
    assert opened[:2] == [("tachycardia", 0), ("fever", 0)]
    assert opened[2] == ("tachypnea", 60)


def test_a_related_condition_is_folded_into_the_open_alert_and_escalates_it():
    tachy = finding("tachycardia", "low")
    fever = finding("fever", "high", since=T0 + 20 * MIN)
    fever = fever._replace(vitals=("temp",))
    steps = [(0, [tachy]), (20, [tachy, fever]), (21, [tachy, fever])]
    alerts, _ = run(EpisodeTracker("p1"), steps)
    assert [(a.kind, a.status, a.severity) for a in alerts] == [
        ("tachycardia", "open", "low"),
        ("tachycardia", "escalated", "high"),
    ]
    assert alerts[1].vitals == ["hr", "temp"]
    # the new condition's current sentence, then what it adds to (not the old, stale numbers)
    assert alerts[1].message == "fever now (on top of the tachycardia alert of 00:00 UTC)"


def test_a_condition_starting_after_the_open_alert_went_quiet_gets_its_own_alert():
    # a low cuff reading opened an alert and was in evidence until minute 10; the alert then
    # only waits out its clear delay: a tachycardia firing at minute 25 is news, and folding it
    # into that alert would never announce it
    hypo = finding("hypotension", "high")._replace(vitals=("sbp",))
    tachy = finding("tachycardia", since=T0 + 24 * MIN)
    steps = [(0, [hypo])] + [(m, [hypo._replace(firing=False)]) for m in range(1, 11)]
    steps += [(m, []) for m in range(11, 24)] + [(m, [tachy]) for m in range(24, 60)]
    alerts, resolved = run(EpisodeTracker("p1"), steps)
    assert [(a.kind, a.status, (a.detected_at - T0) / MIN) for a in alerts] == [
        ("hypotension", "open", 0),
        ("tachycardia", "open", 24),
    ]
    assert [(r.kind, (r.detected_at - T0) / MIN) for r in resolved] == [("hypotension", 40)]


def test_the_alert_stays_open_while_any_folded_condition_is_in_evidence():
    tachy, fever = finding("tachycardia"), finding("fever", since=T0 + 5 * MIN)
    steps = [(0, [tachy]), (5, [tachy, fever])] + [(m, [fever]) for m in range(6, 60)]
    steps += [(m, []) for m in range(60, 100)]
    alerts, resolved = run(EpisodeTracker("p1"), steps)
    assert [(a.kind, a.status) for a in alerts] == [("tachycardia", "open")]
    assert [(r.kind, (r.detected_at - T0) / MIN) for r in resolved] == [("tachycardia", 89)]


def test_a_new_problem_hours_later_gets_its_own_alert():
    tachy = finding("tachycardia")
    later = finding("desaturation", since=T0 + 180 * MIN)
    steps = [(m, [tachy]) for m in range(0, 181)] + [(181, [tachy, later])]
    alerts, _ = run(EpisodeTracker("p1"), steps)
    assert [(a.kind, a.status) for a in alerts] == [
        ("tachycardia", "open"),
        ("desaturation", "open"),
    ]


def test_critical_alerts_bypass_the_rate_limit_and_the_snooze():
    snooze = PatientConfig(snooze_until=T0 + 7200)
    alerts, _ = run(EpisodeTracker("p1"), [(0, [finding(severity="critical")])], snooze)
    assert [a.severity for a in alerts] == ["critical"]


def test_a_snooze_delays_announcement_until_it_ends():
    cfg = PatientConfig(snooze_until=T0 + 30 * MIN, snooze_kinds=("tachycardia",))
    alerts, _ = run(EpisodeTracker("p1"), [(m, [finding()]) for m in range(40)], cfg)
    assert [(a.detected_at - T0) / MIN for a in alerts] == [30]


def test_technical_gaps_close_as_soon_as_data_returns():
    gap = finding("data_gap", "info", category="technical")
    alerts, resolved = run(EpisodeTracker("p1"), [(40, [gap]), (41, [gap]), (42, [])])
    assert [a.kind for a in alerts] == ["data_gap"] and [r.kind for r in resolved] == ["data_gap"]


def test_alert_records_round_trip_through_json():
    alerts, _ = run(EpisodeTracker("p1"), [(0, [finding()])])
    a = alerts[0]
    assert Alert.from_json(a.to_json()) == a
    d = a.to_json_dict()
    assert d["started_at"].endswith("Z") and d["category"] == "clinical" and d["v"] == 1


def test_tracker_state_pickles_without_the_policy():
    import pickle

    tr = EpisodeTracker("p1", AlertPolicy(max_new=1))
    run(tr, [(0, [finding()])])
    again = pickle.loads(pickle.dumps(tr))  # noqa: S301 - our own bytes
    assert list(again.open) == ["tachycardia"]


def test_a_patient_whose_alerts_are_all_critical_keeps_a_bounded_state() -> None:
    tr = EpisodeTracker("p1", AlertPolicy(fold_related=False))
    for i in range(200):  # a critical episode every 2 hours for 400 hours
        t = 7200.0 * i
        f = Finding(f"k{i % 5}", "clinical", "critical", ("hr",), t, True, 1.0, "x", {})
        tr.update(t, [f])
        tr.update(t + 3600.0, [])  # (it clears)
    assert len(tr.recent_announcements) <= 2

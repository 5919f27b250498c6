"""The monitor's shortcuts are exact: skipping a rule never changes what it would have said.

:meth:`~stream.detect.monitor.PatientMonitor.observe` skips a vital rule whose departure is too
small to be evidence, and rule findings word their message only when read. These tests pin
that both are pure speed-ups, whatever the rule tables say.
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from stream.detect.findings import Finding
from stream.detect.rules import NONE, RULES, scale2_rule

ALL_RULES = (*RULES.values(), scale2_rule())
values = st.floats(min_value=-500.0, max_value=500.0, allow_nan=False)


@given(
    rule=st.sampled_from(ALL_RULES),
    xs=values,
    expected=values,
    sd=st.floats(min_value=1e-9, max_value=100.0),
    settled=st.booleans(),
    at_rest=st.booleans(),
)
def test_a_departure_below_the_screen_is_never_evidence(rule, xs, expected, sd, settled, at_rest):
    if rule.sign * (xs - expected) < rule.min_departure:
        assert rule.evidence(xs, expected, sd, settled=settled, at_rest=at_rest) == NONE


def test_the_screen_lets_through_a_rule_at_its_early_warning_bound():
    for rule in ALL_RULES:
        d = rule.min_departure
        assert d == min(0.5 * rule.dev, 0.5 * rule.dev_early)
        if rule.vital == "dbp":  # a clinician's limit only: screened out unless one is set
            assert d == math.inf and rule.kind.startswith("diastolic_")
        else:
            assert math.isfinite(d) and d > 0.0


def test_a_deferred_finding_words_itself_once_on_first_read():
    calls = []

    def explain():
        calls.append(1)
        return "HR 130 bpm", {"value": 130.0}

    f = Finding("tachycardia", "clinical", "high", ("hr",), 0.0, True, 0.9, explain=explain)
    assert calls == []
    assert (f.message, f.evidence, f.message) == ("HR 130 bpm", {"value": 130.0}, "HR 130 bpm")
    assert calls == [1]
    eager = Finding("tachycardia", "clinical", "high", ("hr",), 0.0, True, 0.9, "HR 130 bpm",
                    {"value": 130.0})  # fmt: skip
    assert f == eager
    assert f._replace(message="x").message == "x" and f.message == "HR 130 bpm"

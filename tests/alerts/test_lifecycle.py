"""The lifecycle fold on plain data: transitions, ordering, idempotency, snooze, escalation."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.exceptions import InvalidTransition
from alerts.lifecycle import (
    ACTIONS,
    AlertEvent,
    AlertState,
    apply,
    check,
    due_for_escalation,
    fold,
    initial_state,
    is_snoozed,
)

T = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def ev(action: str, minute: int, actor: str = "kim", **kw: object) -> AlertEvent:
    return AlertEvent.create("a1", action, actor=actor, at=T + minute * M, **kw)  # type: ignore[arg-type]


def test_new_alert_is_open_and_untouched() -> None:
    s = fold("a1", [])
    assert (s.status, s.assigned_to, s.snoozed_until, s.escalation_level, s.updated_at) == (
        "open",
        None,
        None,
        0,
        None,
    )


def test_ack_then_resolve_records_who_and_when() -> None:
    s = fold("a1", [ev("ack", 1, "kim"), ev("resolve", 5, "osei")])
    assert s.status == "resolved"
    assert (s.acknowledged_by, s.acknowledged_at) == ("kim", T + M)
    assert (s.resolved_by, s.resolved_at) == ("osei", T + 5 * M)
    assert s.updated_at == T + 5 * M


def test_resolve_without_ack_is_allowed() -> None:
    assert fold("a1", [ev("resolve", 1)]).status == "resolved"


def test_resolved_is_terminal_but_notes_are_still_kept() -> None:
    s = fold(
        "a1",
        [
            ev("resolve", 1),
            ev("ack", 2),
            ev("snooze", 3, until=T + 60 * M),
            ev("assign", 4, assignee="x"),
            ev("escalate", 5),
            ev("note", 6, note="family informed"),
        ],
    )
    assert s.status == "resolved"
    assert (s.acknowledged_by, s.snoozed_until, s.assigned_to, s.escalation_level) == (
        None,
        None,
        None,
        0,
    )
    assert [n.text for n in s.notes] == ["family informed"]


def test_second_ack_keeps_the_first_acknowledger() -> None:
    s = fold("a1", [ev("ack", 1, "kim"), ev("ack", 2, "lee")])
    assert s.acknowledged_by == "kim"


def test_check_refuses_what_apply_would_ignore() -> None:
    check(initial_state("a1"), "ack")
    with pytest.raises(InvalidTransition) as err:
        check(fold("a1", [ev("ack", 1)]), "ack")
    assert (err.value.action, err.value.status) == ("ack", "acknowledged")
    resolved = fold("a1", [ev("resolve", 1)])
    for action in ("ack", "resolve", "snooze", "assign", "escalate"):
        with pytest.raises(InvalidTransition):
            check(resolved, action)
    check(resolved, "note")


def test_snooze_until_then_expiry_and_unsnooze() -> None:
    s = fold("a1", [ev("snooze", 0, until=T + 30 * M)])
    assert is_snoozed(s, T + 29 * M) and not is_snoozed(s, T + 30 * M)
    unsnoozed = fold("a1", [ev("snooze", 0, until=T + 30 * M), ev("snooze", 5, until=T + 5 * M)])
    assert unsnoozed.snoozed_until is None and not is_snoozed(unsnoozed, T + 6 * M)


def test_resolve_clears_snooze() -> None:
    s = fold("a1", [ev("snooze", 0, until=T + 30 * M), ev("resolve", 1)])
    assert s.snoozed_until is None


def test_assign_replaces_the_assignee() -> None:
    s = fold("a1", [ev("assign", 1, assignee="kim"), ev("assign", 2, assignee="osei")])
    assert s.assigned_to == "osei"


def test_escalations_count_levels_without_changing_status_or_snooze() -> None:
    s = fold(
        "a1",
        [ev("snooze", 0, until=T + 60 * M), ev("escalate", 1, "system"), ev("escalate", 2)],
    )
    assert (s.status, s.escalation_level, s.escalated_at) == ("open", 2, T + 2 * M)
    assert s.snoozed_until == T + 60 * M


def test_due_for_escalation_only_when_open_unsnoozed_and_waited() -> None:
    after = timedelta(minutes=15)
    s = initial_state("a1")
    assert due_for_escalation(s, detected_at=T, now=T + 15 * M, after=after)
    escalated = fold("a1", [ev("escalate", 15, "system")])
    assert not due_for_escalation(escalated, detected_at=T, now=T + 20 * M, after=after)
    assert due_for_escalation(escalated, detected_at=T, now=T + 30 * M, after=after)
    acked = fold("a1", [ev("ack", 1)])
    assert not due_for_escalation(acked, detected_at=T, now=T + 60 * M, after=after)
    snoozed = fold("a1", [ev("snooze", 1, until=T + 120 * M)])
    assert not due_for_escalation(snoozed, detected_at=T, now=T + 60 * M, after=after)


def test_events_of_other_alerts_are_ignored_and_apply_refuses_them() -> None:
    other = AlertEvent.create("a2", "resolve", actor="kim", at=T)
    assert fold("a1", [other]).status == "open"
    with pytest.raises(ValueError, match="another alert"):
        apply(initial_state("a1"), other)


def test_event_needs_its_arguments_and_aware_times() -> None:
    with pytest.raises(ValueError, match="assignee"):
        ev("assign", 0)
    with pytest.raises(ValueError, match="text"):
        ev("note", 0)
    with pytest.raises(ValueError, match="actor"):
        ev("ack", 0, actor="")
    with pytest.raises(ValueError, match="timezone"):
        AlertEvent.create("a1", "ack", actor="kim", at=datetime(2024, 5, 1))
    with pytest.raises(ValueError, match="unknown action"):
        AlertEvent.create("a1", "delete", actor="kim", at=T)  # type: ignore[arg-type]


def test_event_ids_are_deterministic_and_content_sensitive() -> None:
    assert ev("ack", 1).event_id == ev("ack", 1).event_id
    assert ev("ack", 1).event_id != ev("ack", 2).event_id
    assert ev("ack", 1, "kim").event_id != ev("ack", 1, "lee").event_id


def test_event_and_state_survive_a_json_round_trip() -> None:
    e = ev("snooze", 1, until=T + 30 * M, note="at lunch")
    assert msgspec.json.decode(msgspec.json.encode(e), type=AlertEvent) == e
    s = fold("a1", [e, ev("assign", 2, assignee="osei")])
    assert msgspec.json.decode(msgspec.json.encode(s), type=AlertState) == s


# -- properties over random histories -----------------------------------------------------

event_specs = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.integers(0, 30), st.sampled_from(["kim", "lee"])),
    max_size=12,
)


def build(specs: list[tuple[str, int, str]]) -> list[AlertEvent]:
    out = []
    for action, minute, actor in specs:
        options: dict[str, dict[str, object]] = {
            "snooze": {"until": T + (minute + 10) * M},
            "assign": {"assignee": actor},
            "note": {"note": f"n{minute}"},
        }
        extra = options.get(action, {})
        out.append(ev(action, minute, actor, **extra))
    return out


@given(event_specs, st.randoms(use_true_random=False))
def test_fold_ignores_arrival_order_and_duplicates(
    specs: list[tuple[str, int, str]], rnd: random.Random
) -> None:
    events = build(specs)
    shuffled = events + events[: len(events) // 2]
    rnd.shuffle(shuffled)
    assert fold("a1", shuffled) == fold("a1", events)


@given(event_specs)
def test_fold_is_apply_in_time_order_and_status_never_goes_back(
    specs: list[tuple[str, int, str]],
) -> None:
    events = sorted(
        {e.event_id: e for e in build(specs)}.values(), key=lambda e: (e.at, e.event_id)
    )
    rank = {"open": 0, "acknowledged": 1, "resolved": 2}
    state = initial_state("a1")
    for e in events:
        nxt = apply(state, e)
        assert rank[nxt.status] >= rank[state.status]
        state = nxt
    assert state == fold("a1", events)

"""An alert's lifecycle: its status is the fold of the events people (and timers) record.

Nothing is ever updated in place. Acknowledging, resolving, snoozing, assigning, escalating
and annotating an alert each append an :class:`AlertEvent`; the alert's current
:class:`AlertState` is :func:`fold` over those events. That keeps a complete audit trail
(who did what, when) and makes the state reproducible from storage alone.

The state machine::

    open ──ack──> acknowledged ──resolve──> resolved (terminal)
      └──────────────resolve──────────────────^

``snooze`` (until a time), ``assign`` (to a person) and ``escalate`` (level + 1) change
orthogonal fields and are allowed on any alert that is not resolved; ``note`` is allowed
always. Snoozing with an ``until`` in the past ends a snooze. Resolving clears the snooze.

:func:`apply` is *total*: an event that does not apply (a late ``ack`` after ``resolve``,
say, recorded by a second clinician a moment after the first) leaves the state unchanged,
because history must always fold. :func:`check` is the strict gate the API calls *before*
recording an event, raising :class:`~alerts.exceptions.InvalidTransition`.

Events are folded in ``(at, event_id)`` order, so the result does not depend on the order
a store returns them in.

This module is pure: standard library and msgspec only.

Examples
--------
>>> from datetime import UTC, datetime, timedelta
>>> t0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
>>> minute = timedelta(minutes=1)
>>> events = [
...     AlertEvent.create("a1", "ack", actor="nurse.kim", at=t0),
...     AlertEvent.create("a1", "assign", actor="nurse.kim", at=t0 + minute, assignee="dr.osei"),
...     AlertEvent.create("a1", "resolve", actor="dr.osei", at=t0 + 9 * minute, note="sensor off"),
... ]
>>> state = fold("a1", events)
>>> state.status, state.acknowledged_by, state.assigned_to, state.resolved_by
('resolved', 'nurse.kim', 'dr.osei', 'dr.osei')
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final, Literal, get_args

import msgspec

from alerts.exceptions import InvalidTransition

__all__ = [
    "ACTIONS",
    "EVENT_VERSION",
    "STATUSES",
    "Action",
    "AlertEvent",
    "AlertState",
    "Note",
    "Status",
    "apply",
    "check",
    "due_for_escalation",
    "fold",
    "initial_state",
    "is_snoozed",
]

Status = Literal["open", "acknowledged", "resolved"]
Action = Literal["ack", "resolve", "snooze", "assign", "escalate", "note"]

#: Every status, in lifecycle order.
STATUSES: Final[tuple[str, ...]] = get_args(Status)
#: Every action an event may record.
ACTIONS: Final[tuple[str, ...]] = get_args(Action)
#: Version of the :class:`AlertEvent` wire format (``vigil.alert-events`` topic, stores).
EVENT_VERSION: Final = 1

UtcDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("lifecycle times must be timezone-aware (UTC)")
    return at.astimezone(UTC)


class AlertEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One thing that happened to an alert.

    Build one with :meth:`create`, which derives a deterministic ``event_id`` so that
    recording the same event twice (an API retry, a re-delivered Kafka record) stores it once.

    Parameters
    ----------
    event_id
        Stable identifier (idempotency key in every store).
    alert_id
        The alert this event belongs to.
    action
        One of :data:`ACTIONS`.
    actor
        Who did it: a username, an API client id, or ``"system"`` for timers.
    at
        When it happened (timezone-aware; stored as UTC).
    patient_id
        The alert's patient, when known (lets stores and authorisation filter by patient).
    note
        Free text (required for ``note`` events, optional otherwise).
    until
        End of a ``snooze``.
    assignee
        Target of an ``assign``.
    version
        Wire-format version, :data:`EVENT_VERSION`.
    """

    event_id: str
    alert_id: str
    action: Action
    actor: str
    at: UtcDatetime
    patient_id: str = ""
    note: str = ""
    until: UtcDatetime | None = None
    assignee: str | None = None
    version: int = EVENT_VERSION

    @classmethod
    def create(
        cls,
        alert_id: str,
        action: Action,
        *,
        actor: str,
        at: datetime,
        patient_id: str = "",
        note: str = "",
        until: datetime | None = None,
        assignee: str | None = None,
    ) -> AlertEvent:
        """Build a validated event whose ``event_id`` is a hash of its content.

        Examples
        --------
        >>> at = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
        >>> e = AlertEvent.create("a1", "note", actor="kim", at=at, note="called patient")
        >>> e == AlertEvent.create("a1", "note", actor="kim", at=at, note="called patient")
        True
        >>> AlertEvent.create("a1", "snooze", actor="kim", at=at)
        Traceback (most recent call last):
        ...
        ValueError: snooze needs 'until'
        """
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        if not actor:
            raise ValueError("an event needs an actor")
        if action == "snooze" and until is None:
            raise ValueError("snooze needs 'until'")
        if action == "assign" and not assignee:
            raise ValueError("assign needs 'assignee'")
        if action == "note" and not note:
            raise ValueError("note needs text")
        at = _utc(at)
        until = _utc(until) if until is not None else None
        key = "\x1f".join(
            [alert_id, action, actor, at.isoformat(), note, until.isoformat() if until else ""]
            + [assignee or ""]
        )
        event_id = hashlib.sha256(key.encode()).hexdigest()[:32]
        return cls(
            event_id=event_id,
            alert_id=alert_id,
            action=action,
            actor=actor,
            at=at,
            patient_id=patient_id,
            note=note,
            until=until,
            assignee=assignee,
        )


class Note(msgspec.Struct, frozen=True):
    """A note left on an alert (by any action that carried text)."""

    actor: str
    at: UtcDatetime
    text: str


class AlertState(msgspec.Struct, frozen=True, kw_only=True):
    """Where an alert stands, as the fold of its events.

    ``status`` is the lifecycle position; snoozing, assignment and escalation are
    orthogonal fields. ``updated_at`` is the time of the last event that was folded
    (``None`` for an alert nobody has touched).
    """

    alert_id: str
    status: Status = "open"
    acknowledged_by: str | None = None
    acknowledged_at: UtcDatetime | None = None
    resolved_by: str | None = None
    resolved_at: UtcDatetime | None = None
    snoozed_until: UtcDatetime | None = None
    assigned_to: str | None = None
    escalation_level: int = 0
    escalated_at: UtcDatetime | None = None
    notes: tuple[Note, ...] = ()
    updated_at: UtcDatetime | None = None


def initial_state(alert_id: str) -> AlertState:
    """The state of an alert with no events: open, unassigned, not snoozed, level 0.

    Examples
    --------
    >>> initial_state("a1").status
    'open'
    """
    return AlertState(alert_id=alert_id)


def _applies(state: AlertState, action: str) -> bool:
    if action == "note":
        return True
    if state.status == "resolved":
        return False
    if action == "ack":
        return state.status == "open"
    return True


def check(state: AlertState, action: Action) -> None:
    """Raise if ``action`` does not apply to ``state`` (the API's gate before recording).

    Acknowledging twice is refused, as is anything but a note on a resolved alert.

    Raises
    ------
    InvalidTransition
        With the action and the current status.

    Examples
    --------
    >>> check(initial_state("a1"), "ack")
    >>> check(AlertState(alert_id="a1", status="resolved"), "snooze")
    Traceback (most recent call last):
    ...
    alerts.exceptions.InvalidTransition: cannot 'snooze' an alert that is resolved
    """
    if not _applies(state, action):
        raise InvalidTransition(action, state.status)


def apply(state: AlertState, event: AlertEvent) -> AlertState:
    """Return the state after ``event`` (unchanged but for notes if it does not apply).

    Examples
    --------
    >>> at = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    >>> s = apply(initial_state("a1"), AlertEvent.create("a1", "escalate", actor="system", at=at))
    >>> s.escalation_level, s.status
    (1, 'open')
    """
    if event.alert_id != state.alert_id:
        raise ValueError("event belongs to another alert")
    notes = state.notes
    if event.note:
        notes = (*notes, Note(event.actor, event.at, event.note))
    changes: dict[str, object] = {"notes": notes, "updated_at": event.at}
    if _applies(state, event.action):
        match event.action:
            case "ack":
                changes.update(
                    status="acknowledged", acknowledged_by=event.actor, acknowledged_at=event.at
                )
            case "resolve":
                changes.update(
                    status="resolved",
                    resolved_by=event.actor,
                    resolved_at=event.at,
                    snoozed_until=None,
                )
            case "snooze":
                until = event.until
                changes["snoozed_until"] = until if until is not None and until > event.at else None
            case "assign":
                changes["assigned_to"] = event.assignee
            case "escalate":
                changes.update(escalation_level=state.escalation_level + 1, escalated_at=event.at)
            case "note":
                pass
    return msgspec.structs.replace(state, **changes)


def fold(alert_id: str, events: Iterable[AlertEvent]) -> AlertState:
    """The state of ``alert_id`` after all of ``events``, applied in ``(at, event_id)`` order.

    Events of other alerts are ignored and duplicate event ids count once, so a caller may
    pass a whole (re-delivered) event log.

    Examples
    --------
    >>> t = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    >>> ack = AlertEvent.create("a1", "ack", actor="kim", at=t)
    >>> res = AlertEvent.create("a1", "resolve", actor="osei", at=t + timedelta(minutes=5))
    >>> fold("a1", [res, ack, ack]).status  # order and duplicates do not matter
    'resolved'
    >>> fold("a1", []).status
    'open'
    """
    unique = {e.event_id: e for e in events if e.alert_id == alert_id}
    state = initial_state(alert_id)
    for event in sorted(unique.values(), key=lambda e: (e.at, e.event_id)):
        state = apply(state, event)
    return state


def is_snoozed(state: AlertState, now: datetime) -> bool:
    """Whether notifications for this alert are suppressed at ``now``.

    Examples
    --------
    >>> t = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    >>> s = fold("a1", [AlertEvent.create("a1", "snooze", actor="kim", at=t,
    ...                                   until=t + timedelta(hours=1))])
    >>> is_snoozed(s, t + timedelta(minutes=30)), is_snoozed(s, t + timedelta(hours=2))
    (True, False)
    """
    return state.snoozed_until is not None and _utc(now) < state.snoozed_until


def due_for_escalation(
    state: AlertState, *, detected_at: datetime, now: datetime, after: timedelta
) -> bool:
    """Whether an unacknowledged alert has waited ``after`` since it was raised or last escalated.

    A timer (the sink's, or an external scheduler) records an ``escalate`` event with actor
    ``"system"`` when this is true. Snoozed, acknowledged and resolved alerts are never due.

    Examples
    --------
    >>> t = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    >>> s = initial_state("a1")
    >>> due_for_escalation(s, detected_at=t, now=t + timedelta(minutes=14),
    ...                    after=timedelta(minutes=15))
    False
    >>> due_for_escalation(s, detected_at=t, now=t + timedelta(minutes=15),
    ...                    after=timedelta(minutes=15))
    True
    """
    if state.status != "open" or is_snoozed(state, now):
        return False
    since = state.escalated_at or _utc(detected_at)
    return _utc(now) - since >= after

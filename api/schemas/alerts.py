"""Alert, alert-event and lifecycle-action models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts.lifecycle import AlertEvent
from alerts.store import AlertRecord

_ALERT_EXAMPLE: dict[str, Any] = {
    "alert_id": "4a6c04408b89695eaa031ea3",
    "patient_id": "P0001",
    "category": "clinical",
    "kind": "tachycardia",
    "severity": "medium",
    "vitals": ["hr"],
    "started_at": "2024-03-01T08:00:00Z",
    "detected_at": "2024-03-01T08:12:00Z",
    "opened_at": "2024-03-01T08:12:00Z",
    "message": "HR 128 bpm for 12 min",
    "evidence": {"hr": 128.0},
    "score": 0.93,
    "seq": 0,
    "episode_status": "open",
    "status": "acknowledged",
    "acknowledged_by": "nurse",
    "acknowledged_at": "2024-03-01T08:14:00Z",
    "resolved_by": None,
    "resolved_at": None,
    "snoozed_until": None,
    "assigned_to": None,
    "escalation_level": 0,
    "notes": [],
    "updated_at": "2024-03-01T08:14:00Z",
}


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class NoteOut(BaseModel):
    """A note left on an alert."""

    actor: str
    at: datetime
    text: str


class AlertOut(BaseModel):
    """An alert episode: the detector's latest record plus its lifecycle state.

    ``episode_status`` is the detector's view (``open``, ``escalated``, ``resolved`` when the
    condition cleared); ``status`` is the care team's (``open``, ``acknowledged``,
    ``resolved``).
    """

    model_config = ConfigDict(json_schema_extra={"examples": [_ALERT_EXAMPLE]})

    alert_id: str
    patient_id: str
    category: Literal["clinical", "technical"]
    kind: str
    severity: Literal["info", "low", "medium", "high", "critical"]
    vitals: list[str]
    started_at: datetime
    detected_at: datetime
    opened_at: datetime
    message: str
    evidence: dict[str, Any]
    score: float
    seq: int
    episode_status: Literal["open", "escalated", "resolved"]
    status: Literal["open", "acknowledged", "resolved"]
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    snoozed_until: datetime | None
    assigned_to: str | None
    escalation_level: int
    notes: list[NoteOut]
    updated_at: datetime | None

    @classmethod
    def from_record(cls, record: AlertRecord) -> AlertOut:
        """Build the response model from a store record."""
        a, s = record.alert, record.state
        return cls(
            alert_id=a.alert_id,
            patient_id=a.patient_id,
            category=a.category,
            kind=a.kind,
            severity=a.severity,
            vitals=list(a.vitals),
            started_at=_dt(a.started_at),
            detected_at=_dt(a.detected_at),
            opened_at=_dt(record.opened_at),
            message=a.message,
            evidence=dict(a.evidence),
            score=a.score,
            seq=a.seq,
            episode_status=a.status,
            status=s.status,
            acknowledged_by=s.acknowledged_by,
            acknowledged_at=s.acknowledged_at,
            resolved_by=s.resolved_by,
            resolved_at=s.resolved_at,
            snoozed_until=s.snoozed_until,
            assigned_to=s.assigned_to,
            escalation_level=s.escalation_level,
            notes=[NoteOut(actor=n.actor, at=n.at, text=n.text) for n in s.notes],
            updated_at=s.updated_at,
        )


class AlertPageOut(BaseModel):
    """One page of alerts, newest first; pass ``next_cursor`` as ``cursor`` for the next."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_ALERT_EXAMPLE], "next_cursor": None}]}
    )

    items: list[AlertOut]
    next_cursor: str | None = Field(description="Cursor of the next page; null on the last.")


class AlertEventOut(BaseModel):
    """One lifecycle event of an alert (the audit trail of who did what)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event_id": "9f3c2a7e51b04d6e8a1c3b5d7f9e0a2c",
                    "alert_id": "4a6c04408b89695eaa031ea3",
                    "action": "ack",
                    "actor": "nurse",
                    "at": "2024-03-01T08:14:00Z",
                    "note": "",
                    "until": None,
                    "assignee": None,
                }
            ]
        }
    )

    event_id: str
    alert_id: str
    action: Literal["ack", "resolve", "snooze", "assign", "escalate", "note"]
    actor: str
    at: datetime
    note: str
    until: datetime | None
    assignee: str | None

    @classmethod
    def from_event(cls, e: AlertEvent) -> AlertEventOut:
        """Build the response model from a lifecycle event."""
        return cls(
            event_id=e.event_id,
            alert_id=e.alert_id,
            action=e.action,
            actor=e.actor,
            at=e.at,
            note=e.note,
            until=e.until,
            assignee=e.assignee,
        )


_NOTE = Field(default="", max_length=2000, description="Optional free text kept with the event.")


class AckIn(BaseModel):
    """Acknowledge an alert: someone is looking at it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "on it"}]})

    note: str = _NOTE


class ResolveIn(BaseModel):
    """Resolve an alert: handled, nothing more to do."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"note": "sensor was loose"}]}
    )

    note: str = _NOTE


class SnoozeIn(BaseModel):
    """Silence an alert's notifications for a while (it stays listed)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"minutes": 30, "note": "rechecking"}]}
    )

    minutes: int = Field(ge=1, le=24 * 60, description="How long, in minutes (max 24 h).")
    note: str = _NOTE


class AssignIn(BaseModel):
    """Assign an alert to a person."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"assignee": "dr.osei", "note": ""}]}
    )

    assignee: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")
    note: str = _NOTE


class NoteIn(BaseModel):
    """Add a note to an alert's record."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"text": "called patient, feels fine"}]}
    )

    text: str = Field(min_length=1, max_length=2000)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("note text must not be blank")
        return v

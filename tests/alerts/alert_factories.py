"""Test data builders shared by the alerts tests."""

from __future__ import annotations

from alerts.model import Alert

T0 = 1714550400.0  # 2024-05-01T08:00:00Z


def make_alert(
    patient_id: str = "p1",
    kind: str = "tachycardia",
    *,
    detected_at: float = T0,
    started_at: float | None = None,
    severity: str = "medium",
    category: str = "clinical",
    seq: int = 0,
    message: str = "HR 128 bpm for 12 min",
) -> Alert:
    """An alert record; ``started_at`` defaults to ``detected_at`` (one episode per time)."""
    return Alert.new(
        patient_id=patient_id,
        category=category,  # type: ignore[arg-type]
        kind=kind,
        severity=severity,  # type: ignore[arg-type]
        vitals=["hr"],
        started_at=detected_at if started_at is None else started_at,
        detected_at=detected_at,
        message=message,
        evidence={"hr": 128.0, "baseline": {"mean": 72.5}},
        score=0.91234,
        status="open" if seq == 0 else "escalated",
        seq=seq,
    )

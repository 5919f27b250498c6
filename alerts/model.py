"""The alert record: what detection tells the care team, one episode at a time.

An *episode* is one continuous occurrence of one condition (``kind``) for one patient. Its
``alert_id`` is derived from patient, kind and the episode start (event time), so
re-processing the same samples yields the same ids. One episode produces:

- one record with ``status="open"`` (``seq=0``) when it is first raised;
- a record with ``status="escalated"`` (same ``alert_id``, ``seq`` + 1) each time its severity
  rises — consumers upsert by ``alert_id``, keeping the highest ``seq``;
- optionally one ``status="resolved"`` record when the condition has cleared (the pipeline
  returns those separately, see :class:`stream.pipeline.StepResult`).

Counting alerts means counting distinct ``alert_id`` values (or ``status == "open"``
records); their ``detected_at`` is the event time of the sample that raised the episode.

Timestamps are epoch seconds (float, UTC) in Python and ISO-8601 UTC strings in JSON.

Examples
--------
>>> a = Alert.new(patient_id="p1", category="clinical", kind="tachycardia", severity="medium",
...               vitals=["hr"], started_at=1709280000.0, detected_at=1709280720.0,
...               message="HR 128 bpm for 12 min", evidence={"hr": 128.0}, score=0.93)
>>> a.alert_id
'4a6c04408b89695eaa031ea3'
>>> d = a.to_json_dict()
>>> d["started_at"], d["status"], d["seq"]
('2024-03-01T08:00:00Z', 'open', 0)
>>> Alert.from_json_dict(d) == a
True
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from ingest.sample import format_ts, parse_ts

logger = logging.getLogger(__name__)

__all__ = [
    "CATEGORIES",
    "SEVERITIES",
    "SEVERITY_RANK",
    "STATUSES",
    "Alert",
    "Category",
    "Severity",
    "Status",
    "alert_id_for",
]

Category = Literal["clinical", "technical"]
Severity = Literal["info", "low", "medium", "high", "critical"]
Status = Literal["open", "escalated", "resolved"]

CATEGORIES: tuple[Category, ...] = ("clinical", "technical")
SEVERITIES: tuple[Severity, ...] = ("info", "low", "medium", "high", "critical")
SEVERITY_RANK: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}
STATUSES: tuple[Status, ...] = ("open", "escalated", "resolved")

#: Version of the JSON shape written by :meth:`Alert.to_json_dict`.
SCHEMA_VERSION = 1


def alert_id_for(patient_id: str, kind: str, started_at: float) -> str:
    """Return the deterministic id of the episode of ``kind`` starting at ``started_at``.

    24 hex digits (96 bits) of SHA-256 over ``patient|kind|start`` with the start in
    milliseconds, so the id does not depend on float formatting.

    Examples
    --------
    >>> alert_id_for("p1", "tachycardia", 1709280000.0)
    '4a6c04408b89695eaa031ea3'
    """
    key = f"{patient_id}|{kind}|{round(started_at * 1000.0)}".encode()
    return hashlib.sha256(key).hexdigest()[:24]


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """One record of an alert episode (see the module docstring for the episode rules).

    Attributes
    ----------
    alert_id
        Episode id, from :func:`alert_id_for`.
    patient_id
        The patient.
    category
        ``"clinical"`` (the patient) or ``"technical"`` (the device or data).
    kind
        The condition, e.g. ``"tachycardia"``, ``"news2"``, ``"device_offline"``.
    severity
        ``info`` < ``low`` < ``medium`` < ``high`` < ``critical``.
    vitals
        The vital signs or channels involved.
    started_at
        Event time the condition began (epoch seconds UTC).
    detected_at
        Event time of the sample (or tick) that raised this record.
    message
        One sentence a nurse understands.
    evidence
        The numbers behind the message (JSON-able).
    score
        Anomaly score in [0, 1] at detection.
    status
        ``open``, ``escalated`` or ``resolved``.
    seq
        0 for the opening record, +1 per later record of the episode.
    """

    alert_id: str
    patient_id: str
    category: Category
    kind: str
    severity: Severity
    vitals: list[str]
    started_at: float
    detected_at: float
    message: str
    evidence: dict[str, Any] = msgspec.field(default_factory=dict)
    score: float = 0.0
    status: Status = "open"
    seq: int = 0

    @classmethod
    def new(
        cls,
        *,
        patient_id: str,
        category: Category,
        kind: str,
        severity: Severity,
        vitals: list[str],
        started_at: float,
        detected_at: float,
        message: str,
        evidence: Mapping[str, Any] | None = None,
        score: float = 0.0,
        status: Status = "open",
        seq: int = 0,
    ) -> Alert:
        """Build an alert, deriving ``alert_id`` from patient, kind and ``started_at``."""
        return cls(
            alert_id=alert_id_for(patient_id, kind, started_at),
            patient_id=patient_id,
            category=category,
            kind=kind,
            severity=severity,
            vitals=list(vitals),
            started_at=started_at,
            detected_at=detected_at,
            message=message,
            evidence=dict(evidence or {}),
            score=score,
            status=status,
            seq=seq,
        )

    @property
    def severity_rank(self) -> int:
        """Numeric severity, 0 (info) to 4 (critical), for comparisons."""
        return SEVERITY_RANK[self.severity]

    def to_json_dict(self) -> dict[str, Any]:
        """Return the JSON object written by ``vigil replay`` and produced to ``vigil.alerts``."""
        return {
            "v": SCHEMA_VERSION,
            "alert_id": self.alert_id,
            "patient_id": self.patient_id,
            "category": self.category,
            "kind": self.kind,
            "severity": self.severity,
            "vitals": list(self.vitals),
            "started_at": format_ts(self.started_at),
            "detected_at": format_ts(self.detected_at),
            "message": self.message,
            "evidence": dict(self.evidence),
            "score": round(self.score, 4),
            "status": self.status,
            "seq": self.seq,
        }

    def to_json(self) -> bytes:
        """Encode :meth:`to_json_dict` as compact JSON bytes (deterministic key order)."""
        return msgspec.json.encode(self.to_json_dict())

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> Alert:
        """Rebuild an alert from :meth:`to_json_dict` output (timestamps ISO or epoch).

        Raises
        ------
        msgspec.ValidationError
            If a field is missing or has the wrong type.
        """
        fields = {k: v for k, v in data.items() if k != "v"}
        for key in ("started_at", "detected_at"):
            if key in fields:
                fields[key] = parse_ts(fields[key])
        return msgspec.convert(fields, cls)

    @classmethod
    def from_json(cls, data: bytes | str) -> Alert:
        """Decode one JSON alert (the inverse of :meth:`to_json`)."""
        decoded: dict[str, Any] = msgspec.json.decode(data)
        return cls.from_json_dict(decoded)

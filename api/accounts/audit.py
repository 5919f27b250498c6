"""The audit log: an append-only record of who changed what, for which patient, and when.

Threshold changes, care-team assignments, device enrolments and revocations, and account
changes are recorded with the actor taken from the caller's token and the before/after detail.
The detail never holds secrets (passwords, client secrets, device credentials).

Examples
--------
>>> from ingest.registry import Registry
>>> reg = Registry("sqlite://")
>>> log = AuditLog(reg.session)
>>> log.record("nurse", "thresholds.update", patient_id="P1", detail={"hr_high": 130})
>>> [(e.actor, e.action, e.detail) for e in log.entries(patient_id="P1")]
[('nurse', 'thresholds.update', {'hr_high': 130})]
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.accounts.schema import AuditRow

__all__ = ["AuditEntry", "AuditLog"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited action."""

    id: int
    at: datetime
    actor: str
    action: str
    patient_id: str | None
    target: str | None
    detail: dict[str, Any]


class AuditLog:
    """Append and read audit entries in the registry database."""

    def __init__(self, sessions: Callable[[], Session]) -> None:
        self._sessions = sessions

    def record(
        self,
        actor: str,
        action: str,
        *,
        patient_id: str | None = None,
        target: str | None = None,
        detail: Mapping[str, Any] | None = None,
        session: Session | None = None,
    ) -> None:
        """Append one entry (inside ``session``'s transaction when given: atomic with it)."""
        row = AuditRow(
            at=datetime.now(UTC),
            actor=actor,
            action=action,
            patient_id=patient_id,
            target=target,
            detail_json=json.dumps(dict(detail or {}), sort_keys=True, default=str),
        )
        if session is not None:
            session.add(row)
        else:
            with self._sessions() as own, own.begin():
                own.add(row)
        logger.info("audit: %s by %s (patient %s)", action, actor, patient_id or "-")

    def entries(
        self,
        *,
        patient_id: str | None = None,
        visible: frozenset[str] | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Entries newest first, optionally for one patient and below ``before_id``."""
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if patient_id is not None:
            query = query.where(AuditRow.patient_id == patient_id)
        if visible is not None:
            query = query.where(AuditRow.patient_id.in_(sorted(visible)))
        if before_id is not None:
            query = query.where(AuditRow.id < before_id)
        with self._sessions() as session:
            return [
                AuditEntry(
                    r.id, r.at, r.actor, r.action, r.patient_id, r.target, json.loads(r.detail_json)
                )
                for r in session.scalars(query).all()
            ]

"""Per-patient thresholds and overrides: stored, versioned, audited and published atomically.

:meth:`ThresholdRepository.put` validates nothing itself (the caller hands a checked
:class:`~stream.detect.config.PatientConfig`); it writes the new configuration, bumps the
version, appends the audit entry with before and after, and publishes to the workers, all in
one transaction: if publishing fails, nothing is stored and the caller learns so.

Examples
--------
>>> from ingest.registry import Registry
>>> from api.config_publisher import InMemoryConfigPublisher
>>> reg = Registry("sqlite://")
>>> _ = reg.add_patient("P1")
>>> pub = InMemoryConfigPublisher()
>>> repo = ThresholdRepository(reg.session, pub)
>>> repo.get("P1").version
0
>>> stored = repo.put("P1", PatientConfig(spo2_scale=2), actor="nurse")
>>> stored.version, stored.updated_by, pub.current["P1"]["spo2_scale"]
(1, 'nurse', 2)
>>> from api.accounts.audit import AuditLog
>>> [(e.action, e.detail["after"]["spo2_scale"]) for e in AuditLog(reg.session).entries()]
[('thresholds.update', 2)]
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from api.accounts.schema import AuditRow, ThresholdsRow
from api.config_publisher import PatientConfigPublisher
from api.exceptions import PreconditionFailed
from stream.detect.config import PatientConfig

__all__ = ["StoredConfig", "ThresholdRepository"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredConfig:
    """A patient's configuration with its version (0: never set, the defaults)."""

    patient_id: str
    config: PatientConfig
    version: int
    updated_at: datetime | None
    updated_by: str | None


class ThresholdRepository:
    """Read and change per-patient configuration."""

    def __init__(self, sessions: Callable[[], Session], publisher: PatientConfigPublisher) -> None:
        self._sessions = sessions
        self._publisher = publisher

    def get(self, patient_id: str) -> StoredConfig:
        """The patient's configuration (defaults at version 0 if never set)."""
        with self._sessions() as session:
            row = session.get(ThresholdsRow, patient_id)
            if row is None:
                return StoredConfig(patient_id, PatientConfig(), 0, None, None)
            return _stored(row)

    def put(
        self,
        patient_id: str,
        config: PatientConfig,
        *,
        actor: str,
        expected_version: int | None = None,
    ) -> StoredConfig:
        """Replace the configuration; audited and published in the same transaction.

        Raises
        ------
        PreconditionFailed
            ``expected_version`` is given and is not the current version.
        ServiceUnavailable
            The publisher could not make the change durable (nothing was stored).
        """
        now = datetime.now(UTC)
        with self._sessions() as session, session.begin():
            row = session.get(ThresholdsRow, patient_id)
            current = 0 if row is None else row.version
            if expected_version is not None and expected_version != current:
                raise PreconditionFailed(
                    f"thresholds are at version {current}, not {expected_version}"
                )
            before = PatientConfig().to_dict() if row is None else json.loads(row.config_json)
            after = config.to_dict()
            if row is None:
                row = ThresholdsRow(
                    patient_id=patient_id,
                    config_json="",
                    version=0,
                    updated_at=now,
                    updated_by=actor,
                )
                session.add(row)
            row.config_json = json.dumps(after, sort_keys=True)
            row.version = current + 1
            row.updated_at = now
            row.updated_by = actor
            session.add(
                AuditRow(
                    at=now,
                    actor=actor,
                    action="thresholds.update",
                    patient_id=patient_id,
                    target=f"version {current + 1}",
                    detail_json=json.dumps({"before": before, "after": after}, sort_keys=True),
                )
            )
            session.flush()
            self._publisher.publish(patient_id, after)
            stored = _stored(row)
        logger.info(
            "thresholds of patient %s set to version %d by %s", patient_id, stored.version, actor
        )
        return stored


def _stored(row: ThresholdsRow) -> StoredConfig:
    return StoredConfig(
        row.patient_id,
        PatientConfig.from_dict(json.loads(row.config_json)),
        row.version,
        row.updated_at,
        row.updated_by,
    )

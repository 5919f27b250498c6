"""Patient and device queries for the API: paginated, visibility-filtered, team-annotated.

The registry (:class:`ingest.registry.Registry`) owns creating patients and devices; this
module adds the reads the API needs that the registry's whole-table listings do not give:
keyset pagination, a visibility filter pushed into SQL, each patient's care teams, and a
patient's devices.

Examples
--------
>>> from ingest.registry import Registry
>>> reg = Registry("sqlite://")
>>> for pid in ("P1", "P2", "P3"):
...     _ = reg.add_patient(pid)
>>> d = PatientDirectory(reg.session)
>>> [p.patient_id for p in d.page(visible=None, after="P1", limit=10)]
['P2', 'P3']
>>> [p.patient_id for p in d.page(visible=frozenset({"P3"}), after=None, limit=10)]
['P3']
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.accounts.schema import TeamPatientRow
from api.exceptions import NotFound
from ingest.registry import DeviceRow, EnrollmentRow, PatientRow

__all__ = ["DeviceView", "PatientDirectory", "PatientView"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PatientView:
    """A patient with the care teams looking after them."""

    patient_id: str
    name: str | None
    created_at: datetime
    teams: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeviceView:
    """A device as enrolled to one patient (one enrolment period)."""

    device_id: str
    patient_id: str
    enrolled_from: datetime
    enrolled_to: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """Enrolled now and not revoked."""
        return self.enrolled_to is None and self.revoked_at is None


class PatientDirectory:
    """Read (and rename) patients in the registry database.

    Parameters
    ----------
    sessions
        Session factory bound to the registry engine.
    """

    def __init__(self, sessions: Callable[[], Session]) -> None:
        self._sessions = sessions

    def page(
        self,
        *,
        visible: frozenset[str] | None,
        after: str | None,
        limit: int,
        team: str | None = None,
    ) -> list[PatientView]:
        """Up to ``limit`` patients with ids greater than ``after``, by id.

        ``visible`` restricts to those ids (``None``: no restriction); ``team`` to a team's
        patients.
        """
        query = select(PatientRow).order_by(PatientRow.patient_id).limit(limit)
        if after is not None:
            query = query.where(PatientRow.patient_id > after)
        if visible is not None:
            if not visible:
                return []
            query = query.where(PatientRow.patient_id.in_(sorted(visible)))
        if team is not None:
            query = query.where(
                PatientRow.patient_id.in_(
                    select(TeamPatientRow.patient_id).where(TeamPatientRow.team_id == team)
                )
            )
        with self._sessions() as session:
            rows = session.scalars(query).all()
            teams = self._teams(session, [r.patient_id for r in rows])
            return [
                PatientView(r.patient_id, r.name, r.created_at, teams.get(r.patient_id, ()))
                for r in rows
            ]

    def get(self, patient_id: str) -> PatientView | None:
        """The patient, or ``None``."""
        with self._sessions() as session:
            row = session.get(PatientRow, patient_id)
            if row is None:
                return None
            teams = self._teams(session, [patient_id])
            return PatientView(row.patient_id, row.name, row.created_at, teams.get(patient_id, ()))

    def rename(self, patient_id: str, name: str | None) -> PatientView:
        """Set the patient's display name."""
        with self._sessions() as session, session.begin():
            row = session.get(PatientRow, patient_id)
            if row is None:
                raise NotFound("patient not found")
            row.name = name
        view = self.get(patient_id)
        assert view is not None  # noqa: S101 - just updated
        return view

    def devices(self, patient_id: str) -> list[DeviceView]:
        """Every enrolment of a device to ``patient_id``, newest first."""
        query = (
            select(EnrollmentRow, DeviceRow.revoked_at)
            .join(DeviceRow, DeviceRow.device_id == EnrollmentRow.device_id)
            .where(EnrollmentRow.patient_id == patient_id)
            .order_by(EnrollmentRow.valid_from.desc(), EnrollmentRow.device_id)
        )
        with self._sessions() as session:
            return [
                DeviceView(e.device_id, e.patient_id, e.valid_from, e.valid_to, revoked)
                for e, revoked in session.execute(query).all()
            ]

    def device_patient(self, device_id: str) -> str | None:
        """The patient a device is (or was last) enrolled to, or ``None`` if unknown."""
        query = (
            select(EnrollmentRow.patient_id)
            .where(EnrollmentRow.device_id == device_id)
            .order_by(EnrollmentRow.valid_from.desc())
            .limit(1)
        )
        with self._sessions() as session:
            return session.scalars(query).first()

    @staticmethod
    def _teams(session: Session, patient_ids: list[str]) -> dict[str, tuple[str, ...]]:
        if not patient_ids:
            return {}
        out: dict[str, list[str]] = {}
        query = (
            select(TeamPatientRow.patient_id, TeamPatientRow.team_id)
            .where(TeamPatientRow.patient_id.in_(patient_ids))
            .order_by(TeamPatientRow.team_id)
        )
        for pid, team in session.execute(query).all():
            out.setdefault(pid, []).append(team)
        return {pid: tuple(teams) for pid, teams in out.items()}

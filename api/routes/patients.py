"""Patients: list, get, register, rename, and care-team assignment."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.deps import (
    Admin,
    AuditDep,
    PatientId,
    PatientsDep,
    PatientsReader,
    PatientsWriter,
    ServicesDep,
)
from api.exceptions import BadRequest, Conflict
from api.pagination import decode_cursor, encode_cursor
from api.problems import problem_responses
from api.schemas.patients import PatientIn, PatientOut, PatientPageOut, PatientUpdate, TeamsIn
from ingest.exceptions import RegistryError

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/patients", tags=["patients"])


@router.get(
    "",
    response_model=PatientPageOut,
    summary="List patients",
    responses=problem_responses(400, 401, 403, 422),
)
def list_patients(
    principal: PatientsReader,
    patients: PatientsDep,
    cursor: Annotated[str | None, Query(max_length=200, description="From `next_cursor`.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    team: Annotated[str | None, Query(max_length=64, description="Only this care team's.")] = None,
) -> PatientPageOut:
    """The patients the caller may see, by id (a patient sees only themself)."""
    after = decode_cursor(cursor, str) if cursor else None
    rows = patients.page(
        visible=principal.visible_patients, after=after, limit=limit + 1, team=team
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return PatientPageOut(
        items=[PatientOut.from_view(v) for v in rows],
        next_cursor=encode_cursor(rows[-1].patient_id) if more else None,
    )


@router.post(
    "",
    response_model=PatientOut,
    status_code=status.HTTP_201_CREATED,
    summary="Register a patient",
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
def create_patient(
    body: PatientIn, principal: Admin, services: ServicesDep, audit: AuditDep, response: Response
) -> PatientOut:
    """Register a patient and, optionally, the care teams looking after them (admin)."""
    if services.patients.get(body.patient_id) is not None:
        raise Conflict("patient already exists")
    for team in body.teams:
        if team not in {t.team_id for t in services.accounts.list_teams()}:
            raise BadRequest(f"unknown team {team!r}")
    try:
        services.registry.add_patient(body.patient_id, name=body.name)
    except RegistryError as exc:
        raise Conflict("patient could not be registered") from exc
    if body.teams:
        services.accounts.set_patient_teams(body.patient_id, body.teams)
    audit.record(
        principal.subject,
        "patient.create",
        patient_id=body.patient_id,
        detail={"teams": sorted(body.teams)},
    )
    view = services.patients.get(body.patient_id)
    assert view is not None  # noqa: S101 - just created
    response.headers["Location"] = f"/api/v1/patients/{body.patient_id}"
    return PatientOut.from_view(view)


@router.get(
    "/{patient_id}",
    response_model=PatientOut,
    summary="Get a patient",
    responses=problem_responses(401, 403, 404, 422),
)
def get_patient(
    patient_id: PatientId, principal: PatientsReader, patients: PatientsDep
) -> PatientOut:
    """One patient and their care teams."""
    view = patients.get(patient_id)
    assert view is not None  # noqa: S101 - PatientId checked existence
    return PatientOut.from_view(view)


@router.patch(
    "/{patient_id}",
    response_model=PatientOut,
    summary="Update a patient",
    responses=problem_responses(401, 403, 404, 422),
)
def update_patient(
    patient_id: PatientId,
    body: PatientUpdate,
    principal: PatientsWriter,
    patients: PatientsDep,
    audit: AuditDep,
) -> PatientOut:
    """Change a patient's display name."""
    view = patients.rename(patient_id, body.name)
    audit.record(
        principal.subject, "patient.update", patient_id=patient_id, detail={"name": "changed"}
    )
    return PatientOut.from_view(view)


@router.put(
    "/{patient_id}/teams",
    response_model=PatientOut,
    summary="Set a patient's care teams",
    responses=problem_responses(400, 401, 403, 404, 422),
)
def set_teams(
    patient_id: PatientId, body: TeamsIn, principal: Admin, services: ServicesDep, audit: AuditDep
) -> PatientOut:
    """Make ``teams`` exactly the care teams looking after the patient (admin)."""
    known = {t.team_id for t in services.accounts.list_teams()}
    unknown = sorted(set(body.teams) - known)
    if unknown:
        raise BadRequest(f"unknown teams: {', '.join(unknown)}")
    before = services.accounts.teams_of_patient(patient_id)
    after = services.accounts.set_patient_teams(patient_id, body.teams)
    audit.record(
        principal.subject,
        "patient.teams",
        patient_id=patient_id,
        detail={"before": list(before), "after": list(after)},
    )
    view = services.patients.get(patient_id)
    assert view is not None  # noqa: S101 - PatientId checked existence
    return PatientOut.from_view(view)

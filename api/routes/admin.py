"""Administration (admin role only): users, care teams and memberships, app clients, audit."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from api.deps import AccountsDep, Admin, AuditDep
from api.pagination import decode_cursor, encode_cursor
from api.problems import problem_responses
from api.schemas.admin import (
    AuditOut,
    AuditPageOut,
    ClientIn,
    ClientOut,
    MemberIn,
    TeamIn,
    TeamOut,
    UserIn,
    UserOut,
)
from api.schemas.patients import NAME_PATTERN

logger = logging.getLogger(__name__)

router = APIRouter(tags=["admin"])

_WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 422)


@router.get(
    "/users",
    response_model=list[UserOut],
    summary="List users",
    responses=problem_responses(401, 403),
)
def list_users(principal: Admin, accounts: AccountsDep) -> list[UserOut]:
    """Every user, by name."""
    return [UserOut.from_info(u) for u in accounts.list_users()]


@router.post(
    "/users",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a user",
    responses=_WRITE_ERRORS,
)
def create_user(body: UserIn, principal: Admin, accounts: AccountsDep, audit: AuditDep) -> UserOut:
    """Create a person's login; a patient user is linked to their patient record."""
    user = accounts.add_user(
        body.username, body.password, role=body.role, patient_id=body.patient_id, teams=body.teams
    )
    audit.record(
        principal.subject,
        "user.create",
        patient_id=user.patient_id,
        target=user.username,
        detail={"role": user.role, "teams": list(user.teams)},
    )
    return UserOut.from_info(user)


@router.get(
    "/teams",
    response_model=list[TeamOut],
    summary="List care teams",
    responses=problem_responses(401, 403),
)
def list_teams(principal: Admin, accounts: AccountsDep) -> list[TeamOut]:
    """Every care team with its members and patients."""
    return [TeamOut.from_info(t) for t in accounts.list_teams()]


@router.post(
    "/teams",
    response_model=TeamOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a care team",
    responses=_WRITE_ERRORS,
)
def create_team(body: TeamIn, principal: Admin, accounts: AccountsDep, audit: AuditDep) -> TeamOut:
    """Create an empty care team."""
    team = accounts.add_team(body.team_id)
    audit.record(principal.subject, "team.create", target=team.team_id)
    return TeamOut.from_info(team)


@router.post(
    "/teams/{team_id}/members",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Add a team member",
    responses=_WRITE_ERRORS,
)
def add_member(
    team_id: Annotated[str, Path(pattern=NAME_PATTERN)],
    body: MemberIn,
    principal: Admin,
    accounts: AccountsDep,
    audit: AuditDep,
) -> Response:
    """Make a user a member of the team (idempotent)."""
    accounts.add_member(team_id, body.username)
    audit.record(principal.subject, "team.member", target=f"{team_id}:{body.username}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/clients",
    response_model=ClientOut,
    status_code=status.HTTP_201_CREATED,
    summary="Register an app client",
    responses=_WRITE_ERRORS,
)
def create_client(
    body: ClientIn, principal: Admin, accounts: AccountsDep, audit: AuditDep, response: Response
) -> ClientOut:
    """Register an app for the client-credentials grant; the secret is shown only now."""
    client, secret = accounts.add_client(
        body.client_id, scopes=body.scopes, patients=body.patients, teams=body.teams
    )
    audit.record(
        principal.subject,
        "client.create",
        target=client.client_id,
        detail={
            "scopes": sorted(client.scopes),
            "patients": list(client.patients),
            "teams": list(client.teams),
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return ClientOut.from_info(client, secret)


@router.get(
    "/audit",
    response_model=AuditPageOut,
    summary="Read the audit log",
    responses=problem_responses(400, 401, 403, 422),
)
def read_audit(
    principal: Admin,
    audit: AuditDep,
    patient_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPageOut:
    """Audit entries newest first, optionally for one patient."""
    before = decode_cursor(cursor, int) if cursor else None
    rows = audit.entries(patient_id=patient_id, before_id=before, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPageOut(
        items=[AuditOut.from_entry(e) for e in rows],
        next_cursor=encode_cursor(rows[-1].id) if more else None,
    )

"""Who is calling: the :class:`~api.access.Principal` behind a verified token.

Run on every authenticated request, so it reloads the caller from the database each time (a
deactivation or a care-team change applies to the next request, not at token expiry) and
does so with a few plain SQL queries rather than ORM object graphs.

Examples
--------
>>> from ingest.registry import Registry
>>> from api.accounts.users import Accounts
>>> reg = Registry("sqlite://")
>>> _ = reg.add_patient("P1")
>>> acc = Accounts(reg.session)
>>> _ = acc.add_team("ward-a")
>>> acc.assign_patient("ward-a", "P1")
>>> _ = acc.add_user("kim", "long password", role="clinician", teams=["ward-a"])
>>> with reg.session() as session:
...     p = resolve_principal(session, "user", "kim")
>>> p.role, sorted(p.visible_patients), sorted(p.teams)
('clinician', ['P1'], ['ward-a'])
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.access import ROLES, Principal, Role
from api.accounts.schema import (
    AppClientRow,
    ClientGrantRow,
    TeamMemberRow,
    TeamPatientRow,
    UserRow,
)
from api.exceptions import BadRequest

__all__ = ["resolve_principal", "role_of"]


def role_of(value: str) -> Role:
    """``value`` as a :data:`~api.access.Role`, or BadRequest."""
    if value not in ROLES:
        raise BadRequest(f"unknown role {value!r}: use one of {', '.join(ROLES)}")
    return value  # type: ignore[return-value]  # checked against ROLES just above


def resolve_principal(
    session: Session, kind: str, subject: str, token_scopes: frozenset[str] = frozenset()
) -> Principal | None:
    """The caller ``subject`` (a user, or an app client when ``kind == "client"``).

    ``None`` if the account is gone or disabled. For an app the effective scopes are those in
    the token that are still granted.
    """
    if kind == "client":
        return _client(session, subject, token_scopes)
    row = session.execute(
        select(UserRow.role, UserRow.active, UserRow.patient_id).where(UserRow.username == subject)
    ).first()
    if row is None or not row.active:
        return None
    role = role_of(row.role)
    if role == "admin":
        return Principal(subject, "admin")
    if role == "patient":
        own = frozenset({row.patient_id} if row.patient_id else ())
        return Principal(subject, "patient", visible_patients=own, patient_id=row.patient_id)
    pairs = session.execute(
        select(TeamMemberRow.team_id, TeamPatientRow.patient_id)
        .outerjoin(TeamPatientRow, TeamPatientRow.team_id == TeamMemberRow.team_id)
        .where(TeamMemberRow.username == subject)
    ).all()
    return Principal(
        subject,
        role,
        visible_patients=frozenset(p for _, p in pairs if p is not None),
        teams=frozenset(t for t, _ in pairs),
    )


def _client(session: Session, client_id: str, token_scopes: frozenset[str]) -> Principal | None:
    client = session.execute(
        select(AppClientRow.scopes, AppClientRow.active).where(AppClientRow.client_id == client_id)
    ).first()
    if client is None or not client.active:
        return None
    grants = session.execute(
        select(ClientGrantRow.patient_id, ClientGrantRow.team_id).where(
            ClientGrantRow.client_id == client_id
        )
    ).all()
    teams = {t for _, t in grants if t}
    visible = {p for p, _ in grants if p} | _team_patients(session, teams)
    return Principal(
        client_id,
        "app",
        scopes=token_scopes & frozenset(client.scopes.split()),
        visible_patients=frozenset(visible),
        teams=frozenset(teams),
    )


def _team_patients(session: Session, teams: Iterable[str]) -> set[str]:
    teams = list(teams)
    if not teams:
        return set()
    return set(
        session.scalars(select(TeamPatientRow.patient_id).where(TeamPatientRow.team_id.in_(teams)))
    )

"""Users, care teams and app clients: who may log in, and whose data they may see.

:class:`Accounts` speaks plain values (:class:`UserInfo`, :class:`TeamInfo`,
:class:`ClientInfo`, :class:`~api.access.Principal`), never ORM rows. Its most frequent call
is :meth:`Accounts.principal`, run on every authenticated request: it reloads the caller and
recomputes the patients they may see, so a team change or a deactivation applies at once.

Examples
--------
>>> from ingest.registry import Registry
>>> reg = Registry("sqlite://")
>>> _ = reg.add_patient("P1"), reg.add_patient("P2")
>>> acc = Accounts(reg.session)
>>> _ = acc.add_team("ward-a")
>>> acc.assign_patient("ward-a", "P1")
>>> _ = acc.add_user("nurse", "correct horse", role="clinician", teams=["ward-a"])
>>> acc.authenticate_user("nurse", "wrong") is None
True
>>> p = acc.principal("user", "nurse")
>>> p.role, sorted(p.visible_patients)
('clinician', ['P1'])
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.access import APP_FORBIDDEN_SCOPES, SCOPES, Principal, Role
from api.accounts.principals import resolve_principal, role_of
from api.accounts.schema import (
    AppClientRow,
    CareTeamRow,
    ClientGrantRow,
    TeamMemberRow,
    TeamPatientRow,
    UserRow,
)
from api.exceptions import BadRequest, Conflict, NotFound
from api.security import hash_password, new_client_secret, verify_password
from ingest.registry import PatientRow

__all__ = ["Accounts", "ClientInfo", "TeamInfo", "UserInfo", "validate_name"]

logger = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD_LENGTH = 8

SessionFactory = Callable[[], Session]


def validate_name(kind: str, value: str) -> str:
    """Return ``value`` if it is a valid username, team or client id, else raise BadRequest.

    Examples
    --------
    >>> validate_name("team", "ward-a")
    'ward-a'
    >>> validate_name("team", "ward a")
    Traceback (most recent call last):
    ...
    api.exceptions.BadRequest: invalid team 'ward a': use [A-Za-z0-9][A-Za-z0-9._@-]{0,63}
    """
    if NAME_PATTERN.fullmatch(value) is None:
        raise BadRequest(f"invalid {kind} {value!r}: use {NAME_PATTERN.pattern}")
    return value


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A user as the API reports it (never the password hash)."""

    username: str
    role: Role
    patient_id: str | None
    teams: tuple[str, ...]
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TeamInfo:
    """A care team with its members and patients."""

    team_id: str
    members: tuple[str, ...]
    patients: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """An app client, its granted scopes and the patients and teams it may read."""

    client_id: str
    scopes: frozenset[str]
    patients: tuple[str, ...]
    teams: tuple[str, ...]
    active: bool
    created_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


class Accounts:
    """Users, care teams and app clients in the registry database.

    Parameters
    ----------
    sessions
        Session factory bound to the registry engine (e.g. ``Registry.session``).
    """

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    # -- users ----------------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        password: str,
        *,
        role: str,
        patient_id: str | None = None,
        teams: Iterable[str] = (),
    ) -> UserInfo:
        """Create a user; a ``patient`` user must name their patient record.

        Raises
        ------
        BadRequest
            Invalid name, role, short password, or a patient link on a non-patient role.
        Conflict
            The username is taken.
        NotFound
            The patient or a team does not exist.
        """
        validate_name("username", username)
        checked = role_of(role)
        if checked == "app":
            raise BadRequest("apps are clients, not users: use an app client")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise BadRequest(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
        if (checked == "patient") != (patient_id is not None):
            raise BadRequest("a patient user needs --patient, and only a patient user has one")
        teams = list(dict.fromkeys(teams))
        with self._sessions() as session, session.begin():
            if session.get(UserRow, username) is not None:
                raise Conflict(f"user {username!r} already exists")
            if patient_id is not None and session.get(PatientRow, patient_id) is None:
                raise NotFound(f"patient {patient_id!r} not found")
            for team in teams:
                if session.get(CareTeamRow, team) is None:
                    raise NotFound(f"team {team!r} not found")
            session.add(
                UserRow(
                    username=username,
                    password_hash=hash_password(password),
                    role=checked,
                    patient_id=patient_id,
                    created_at=_now(),
                )
            )
            session.flush()
            session.add_all(TeamMemberRow(team_id=t, username=username) for t in teams)
        logger.info("added user %s (%s)", username, checked)
        info = self.get_user(username)
        assert info is not None  # noqa: S101 - just committed
        return info

    def get_user(self, username: str) -> UserInfo | None:
        """The user, or ``None``."""
        with self._sessions() as session:
            row = session.get(UserRow, username)
            return None if row is None else self._user_info(session, row)

    def list_users(self) -> list[UserInfo]:
        """Every user, by name."""
        with self._sessions() as session:
            rows = session.scalars(select(UserRow).order_by(UserRow.username)).all()
            return [self._user_info(session, row) for row in rows]

    def set_active(self, username: str, active: bool) -> None:
        """Enable or disable a user's logins (their tokens stop working at once)."""
        with self._sessions() as session, session.begin():
            row = session.get(UserRow, username)
            if row is None:
                raise NotFound(f"user {username!r} not found")
            row.active = active

    def authenticate_user(self, username: str, password: str) -> UserInfo | None:
        """The active user whose password matches, else ``None`` (same cost either way)."""
        with self._sessions() as session:
            row = session.get(UserRow, username)
            ok = verify_password(row.password_hash if row else None, password)
            if row is None or not ok or not row.active:
                return None
            return self._user_info(session, row)

    @staticmethod
    def _user_info(session: Session, row: UserRow) -> UserInfo:
        teams = session.scalars(
            select(TeamMemberRow.team_id)
            .where(TeamMemberRow.username == row.username)
            .order_by(TeamMemberRow.team_id)
        ).all()
        return UserInfo(
            row.username,
            role_of(row.role),
            row.patient_id,
            tuple(teams),
            row.active,
            row.created_at,
        )

    # -- teams ----------------------------------------------------------------------------

    def add_team(self, team_id: str) -> TeamInfo:
        """Create a care team."""
        validate_name("team", team_id)
        with self._sessions() as session, session.begin():
            if session.get(CareTeamRow, team_id) is not None:
                raise Conflict(f"team {team_id!r} already exists")
            row = CareTeamRow(team_id=team_id, created_at=_now())
            session.add(row)
        logger.info("added team %s", team_id)
        return TeamInfo(team_id, (), (), row.created_at)

    def list_teams(self) -> list[TeamInfo]:
        """Every team with members and patients, by id."""
        with self._sessions() as session:
            teams = session.scalars(select(CareTeamRow).order_by(CareTeamRow.team_id)).all()
            members = session.execute(select(TeamMemberRow.team_id, TeamMemberRow.username)).all()
            patients = session.execute(
                select(TeamPatientRow.team_id, TeamPatientRow.patient_id)
            ).all()
        return [
            TeamInfo(
                t.team_id,
                tuple(sorted(u for team, u in members if team == t.team_id)),
                tuple(sorted(p for team, p in patients if team == t.team_id)),
                t.created_at,
            )
            for t in teams
        ]

    def add_member(self, team_id: str, username: str) -> None:
        """Make ``username`` a member of ``team_id`` (idempotent)."""
        with self._sessions() as session, session.begin():
            self._require(session, CareTeamRow, team_id, "team")
            self._require(session, UserRow, username, "user")
            if session.get(TeamMemberRow, (team_id, username)) is None:
                session.add(TeamMemberRow(team_id=team_id, username=username))

    def assign_patient(self, team_id: str, patient_id: str) -> None:
        """Put ``patient_id`` in the care of ``team_id`` (idempotent)."""
        with self._sessions() as session, session.begin():
            self._require(session, CareTeamRow, team_id, "team")
            self._require(session, PatientRow, patient_id, "patient")
            if session.get(TeamPatientRow, (team_id, patient_id)) is None:
                session.add(
                    TeamPatientRow(team_id=team_id, patient_id=patient_id, assigned_at=_now())
                )
        logger.info("assigned patient %s to team %s", patient_id, team_id)

    def set_patient_teams(self, patient_id: str, teams: Iterable[str]) -> tuple[str, ...]:
        """Make ``teams`` exactly the care teams of ``patient_id``; return them sorted."""
        wanted = sorted(set(teams))
        with self._sessions() as session, session.begin():
            self._require(session, PatientRow, patient_id, "patient")
            for team in wanted:
                self._require(session, CareTeamRow, team, "team")
            current = set(
                session.scalars(
                    select(TeamPatientRow.team_id).where(TeamPatientRow.patient_id == patient_id)
                )
            )
            session.execute(
                delete(TeamPatientRow).where(
                    TeamPatientRow.patient_id == patient_id,
                    TeamPatientRow.team_id.not_in(wanted),
                )
            )
            session.add_all(
                TeamPatientRow(team_id=t, patient_id=patient_id, assigned_at=_now())
                for t in wanted
                if t not in current
            )
        return tuple(wanted)

    def teams_of_patient(self, patient_id: str) -> tuple[str, ...]:
        """The care teams looking after ``patient_id``, sorted."""
        with self._sessions() as session:
            return tuple(
                session.scalars(
                    select(TeamPatientRow.team_id)
                    .where(TeamPatientRow.patient_id == patient_id)
                    .order_by(TeamPatientRow.team_id)
                )
            )

    @staticmethod
    def _require(session: Session, table: type[object], key: str, kind: str) -> None:
        if session.get(table, key) is None:
            raise NotFound(f"{kind} {key!r} not found")

    # -- app clients ----------------------------------------------------------------------

    def add_client(
        self,
        client_id: str,
        *,
        scopes: Iterable[str],
        patients: Iterable[str] = (),
        teams: Iterable[str] = (),
    ) -> tuple[ClientInfo, str]:
        """Register an app client; return it and its secret (shown once, stored hashed)."""
        validate_name("client id", client_id)
        granted = frozenset(scopes)
        unknown = granted - set(SCOPES)
        if unknown:
            raise BadRequest(f"unknown scopes: {', '.join(sorted(unknown))}")
        if granted & APP_FORBIDDEN_SCOPES:
            raise BadRequest("app clients cannot hold the admin scope")
        secret = new_client_secret()
        patients, teams = sorted(set(patients)), sorted(set(teams))
        with self._sessions() as session, session.begin():
            if session.get(AppClientRow, client_id) is not None:
                raise Conflict(f"client {client_id!r} already exists")
            for p in patients:
                self._require(session, PatientRow, p, "patient")
            for t in teams:
                self._require(session, CareTeamRow, t, "team")
            row = AppClientRow(
                client_id=client_id,
                secret_hash=hash_password(secret),
                scopes=" ".join(sorted(granted)),
                created_at=_now(),
            )
            session.add(row)
            session.flush()
            session.add_all(ClientGrantRow(client_id=client_id, patient_id=p) for p in patients)
            session.add_all(ClientGrantRow(client_id=client_id, team_id=t) for t in teams)
        logger.info("added app client %s", client_id)
        info = ClientInfo(client_id, granted, tuple(patients), tuple(teams), True, row.created_at)
        return info, secret

    def authenticate_client(self, client_id: str, secret: str) -> ClientInfo | None:
        """The active client whose secret matches, else ``None``."""
        with self._sessions() as session:
            row = session.get(AppClientRow, client_id)
            ok = verify_password(row.secret_hash if row else None, secret)
            if row is None or not ok or not row.active:
                return None
            return self._client_info(session, row)

    @staticmethod
    def _client_info(session: Session, row: AppClientRow) -> ClientInfo:
        grants = session.scalars(
            select(ClientGrantRow).where(ClientGrantRow.client_id == row.client_id)
        ).all()
        return ClientInfo(
            row.client_id,
            frozenset(row.scopes.split()),
            tuple(sorted(g.patient_id for g in grants if g.patient_id)),
            tuple(sorted(g.team_id for g in grants if g.team_id)),
            row.active,
            row.created_at,
        )

    # -- per request ----------------------------------------------------------------------

    def principal(
        self, kind: str, subject: str, token_scopes: frozenset[str] = frozenset()
    ) -> Principal | None:
        """The caller behind a verified token, or ``None`` if gone or deactivated.

        See :func:`api.accounts.principals.resolve_principal`.
        """
        with self._sessions() as session:
            return resolve_principal(session, kind, subject, token_scopes)

"""Administration models: users, care teams, app clients, audit entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.accounts.audit import AuditEntry
from api.accounts.users import ClientInfo, TeamInfo, UserInfo
from api.schemas.patients import ID_PATTERN, NAME_PATTERN


class UserOut(BaseModel):
    """A user (never their password)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "nurse",
                    "role": "clinician",
                    "patient_id": None,
                    "teams": ["ward-a"],
                    "active": True,
                    "created_at": "2024-03-01T07:00:00Z",
                }
            ]
        }
    )

    username: str
    role: Literal["admin", "clinician", "patient", "app"]
    patient_id: str | None
    teams: list[str]
    active: bool
    created_at: datetime

    @classmethod
    def from_info(cls, u: UserInfo) -> UserOut:
        """Build from an account record."""
        return cls(
            username=u.username,
            role=u.role,
            patient_id=u.patient_id,
            teams=list(u.teams),
            active=u.active,
            created_at=u.created_at,
        )


class UserIn(BaseModel):
    """Create a user."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "username": "nurse2",
                    "password": "a long passphrase",
                    "role": "clinician",
                    "teams": ["ward-a"],
                    "patient_id": None,
                }
            ]
        },
    )

    username: str = Field(pattern=NAME_PATTERN)
    password: str = Field(min_length=8, max_length=200)
    role: Literal["admin", "clinician", "patient"]
    patient_id: str | None = Field(default=None, pattern=ID_PATTERN)
    teams: list[str] = Field(default_factory=list, max_length=50)


class TeamOut(BaseModel):
    """A care team, its members and its patients."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "team_id": "ward-a",
                    "members": ["nurse"],
                    "patients": ["P0001"],
                    "created_at": "2024-03-01T07:00:00Z",
                }
            ]
        }
    )

    team_id: str
    members: list[str]
    patients: list[str]
    created_at: datetime

    @classmethod
    def from_info(cls, t: TeamInfo) -> TeamOut:
        """Build from an account record."""
        return cls(
            team_id=t.team_id,
            members=list(t.members),
            patients=list(t.patients),
            created_at=t.created_at,
        )


class TeamIn(BaseModel):
    """Create a care team."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"team_id": "ward-b"}]}
    )

    team_id: str = Field(pattern=NAME_PATTERN)


class MemberIn(BaseModel):
    """Add a user to a care team."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"username": "nurse2"}]}
    )

    username: str = Field(pattern=NAME_PATTERN)


class ClientIn(BaseModel):
    """Register an app client (OAuth2 client credentials)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "client_id": "telemed-app",
                    "scopes": ["alerts:read", "vitals:read"],
                    "patients": [],
                    "teams": ["ward-a"],
                }
            ]
        },
    )

    client_id: str = Field(pattern=NAME_PATTERN)
    scopes: list[str] = Field(min_length=1, max_length=20)
    patients: list[str] = Field(default_factory=list, max_length=1000)
    teams: list[str] = Field(default_factory=list, max_length=50)


class ClientOut(BaseModel):
    """An app client; ``client_secret`` is present only in the response that created it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "client_id": "telemed-app",
                    "scopes": ["alerts:read", "vitals:read"],
                    "patients": [],
                    "teams": ["ward-a"],
                    "active": True,
                    "created_at": "2024-03-01T07:00:00Z",
                    "client_secret": "3q2-7wEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                }
            ]
        }
    )

    client_id: str
    scopes: list[str]
    patients: list[str]
    teams: list[str]
    active: bool
    created_at: datetime
    client_secret: str | None = None

    @classmethod
    def from_info(cls, c: ClientInfo, secret: str | None = None) -> ClientOut:
        """Build from an account record."""
        return cls(
            client_id=c.client_id,
            scopes=sorted(c.scopes),
            patients=list(c.patients),
            teams=list(c.teams),
            active=c.active,
            created_at=c.created_at,
            client_secret=secret,
        )


class AuditOut(BaseModel):
    """One audit-log entry."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 17,
                    "at": "2024-03-01T08:20:00Z",
                    "actor": "nurse",
                    "action": "thresholds.update",
                    "patient_id": "P0001",
                    "target": None,
                    "detail": {"before": {}, "after": {"hr_high": 130}},
                }
            ]
        }
    )

    id: int
    at: datetime
    actor: str
    action: str
    patient_id: str | None
    target: str | None
    detail: dict[str, Any]

    @classmethod
    def from_entry(cls, e: AuditEntry) -> AuditOut:
        """Build from a log entry."""
        return cls(
            id=e.id,
            at=e.at,
            actor=e.actor,
            action=e.action,
            patient_id=e.patient_id,
            target=e.target,
            detail=e.detail,
        )


class AuditPageOut(BaseModel):
    """Audit entries newest first; pass ``next_cursor`` as ``cursor`` for older ones."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": 17,
                            "at": "2024-03-01T08:20:00Z",
                            "actor": "nurse",
                            "action": "device.enroll",
                            "patient_id": "P0001",
                            "target": "watch-0001",
                            "detail": {},
                        }
                    ],
                    "next_cursor": None,
                }
            ]
        }
    )

    items: list[AuditOut]
    next_cursor: str | None

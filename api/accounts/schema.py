"""The API's tables, on the registry's declarative base so one database holds everything.

Users (people who log in), care teams, which users belong to which team, which patients a
team looks after, app clients (OAuth2 client credentials) with their scopes and patient or
team grants, per-patient thresholds, the audit log, and the login sessions behind refresh
tokens (:class:`TokenFamilyRow`). Patients themselves are the registry's
:class:`~ingest.registry.PatientRow`.

Examples
--------
>>> {"users", "care_teams", "team_members", "team_patients", "app_clients",
...  "audit_log", "patient_thresholds", "token_families"} <= set(RegistryBase.metadata.tables)
True
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ingest.registry import RegistryBase
from ingest.registry.schema import ID_LENGTH

__all__ = [
    "AppClientRow",
    "AuditRow",
    "CareTeamRow",
    "ClientGrantRow",
    "TeamMemberRow",
    "TeamPatientRow",
    "ThresholdsRow",
    "TokenFamilyRow",
    "UserRow",
]

NAME_LENGTH = 64


class UserRow(RegistryBase):
    """A person who logs in: admin, clinician or patient (then linked to a patient record)."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    patient_id: Mapped[str | None] = mapped_column(
        ForeignKey("patients.patient_id"), default=None, index=True
    )
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class CareTeamRow(RegistryBase):
    """A care team (ward, virtual-ward shift, specialty service)."""

    __tablename__ = "care_teams"

    team_id: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    created_at: Mapped[datetime]


class TeamMemberRow(RegistryBase):
    """User ``username`` is a member of team ``team_id``."""

    __tablename__ = "team_members"

    team_id: Mapped[str] = mapped_column(ForeignKey("care_teams.team_id"), primary_key=True)
    username: Mapped[str] = mapped_column(
        ForeignKey("users.username"), primary_key=True, index=True
    )


class TeamPatientRow(RegistryBase):
    """Team ``team_id`` looks after patient ``patient_id``."""

    __tablename__ = "team_patients"

    team_id: Mapped[str] = mapped_column(ForeignKey("care_teams.team_id"), primary_key=True)
    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.patient_id"), primary_key=True, index=True
    )
    assigned_at: Mapped[datetime]


class AppClientRow(RegistryBase):
    """An application authenticating with OAuth2 client credentials."""

    __tablename__ = "app_clients"

    client_id: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    #: Granted scopes, space-separated (the OAuth2 ``scope`` syntax).
    scopes: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class ClientGrantRow(RegistryBase):
    """App client ``client_id`` may read patient ``patient_id`` or the patients of ``team_id``."""

    __tablename__ = "app_client_grants"
    __table_args__ = (Index("ix_app_client_grants_client", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("app_clients.client_id"))
    patient_id: Mapped[str | None] = mapped_column(ForeignKey("patients.patient_id"), default=None)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("care_teams.team_id"), default=None)


class ThresholdsRow(RegistryBase):
    """The current per-patient thresholds and overrides (JSON), with a version for ETags."""

    __tablename__ = "patient_thresholds"

    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.patient_id"), primary_key=True)
    config_json: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(NAME_LENGTH))


class AuditRow(RegistryBase):
    """One audited action: who did what to which patient, when, with before/after detail."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_patient_at", "patient_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(NAME_LENGTH))
    action: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), default=None)
    target: Mapped[str | None] = mapped_column(String(200), default=None)
    detail_json: Mapped[str] = mapped_column(Text, default="{}")


class TokenFamilyRow(RegistryBase):
    """One login's chain of refresh tokens: which one is still unspent, and whether it is revoked.

    Only identifiers and times are kept, never a token: ``family_id`` is the tokens' ``sid``
    claim and ``current_jti`` the ``jti`` of the one refresh token of the chain that may still
    be used. ``previous_jti`` and ``rotated_at`` say which token the last rotation spent and
    when (the current token's ``iat``): presented again within the reuse grace interval, that
    one token gets the current one back. Any other refresh token of the family is spent, so
    presenting one is a replay. The two columns came after the table first shipped
    (:mod:`api.accounts.migrations` adds them to older databases), so both are nullable.
    """

    __tablename__ = "token_families"
    __table_args__ = (Index("ix_token_families_expires_at", "expires_at"),)

    family_id: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username"), index=True)
    current_jti: Mapped[str] = mapped_column(String(NAME_LENGTH))
    #: The refresh token the last rotation spent (``None`` before the first rotation).
    previous_jti: Mapped[str | None] = mapped_column(String(NAME_LENGTH), default=None)
    #: When the last rotation issued ``current_jti`` (epoch seconds, that token's ``iat``).
    rotated_at: Mapped[int | None] = mapped_column(default=None)
    #: The session's absolute end (epoch seconds, the refresh tokens' ``exp``): prunable after.
    expires_at: Mapped[int]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

"""Who may use the API: users, care teams, app clients, and what the API records about them.

The tables (:mod:`api.accounts.schema`) live on the registry's declarative base, in the same
database as patients and devices. :class:`~api.accounts.users.Accounts` manages users, teams
and app clients and resolves a token's :class:`~api.access.Principal`;
:class:`~api.accounts.patients.PatientDirectory` pages patients and devices;
:class:`~api.accounts.audit.AuditLog` is the append-only audit trail;
:class:`~api.accounts.thresholds.ThresholdRepository` keeps per-patient configuration;
:class:`~api.accounts.token_families.TokenFamilies` rotates refresh tokens and revokes a
login's tokens on replay or logout; :func:`~api.accounts.migrations.upgrade_schema` adds the
columns an older Vigil's database lacks.
"""

__all__: list[str] = []

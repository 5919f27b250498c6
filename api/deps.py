"""Shared route dependencies as ``Annotated`` aliases, so route signatures read plainly.

Authentication: :func:`get_principal` verifies the bearer token, checks that a person's login
session has not been revoked, and reloads the caller from the registry on every request.
Authorization has two halves, both here: the scope aliases (``AlertsReader``,
``VitalsReader``, ``Admin`` ...) answer 403 when the caller's role or app grant lacks the
scope, and :data:`PatientId` answers 404 for a patient the caller may not see (or that does
not exist). Every route that takes a ``patient_id`` path parameter uses
:data:`PatientId`; ``tests/api/test_api_isolation.py`` enumerates the app's routes to hold
that line.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Path, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlowPassword, OAuthFlows
from fastapi.security import OAuth2, SecurityScopes

from alerts.store import AlertStore as AlertStoreBase
from alerts.store import VitalsStore as VitalsStoreBase
from api.access import SCOPES, Principal, require_patient, require_scope
from api.accounts.audit import AuditLog
from api.accounts.patients import PatientDirectory
from api.accounts.thresholds import ThresholdRepository
from api.accounts.users import Accounts
from api.exceptions import NotAuthenticated, NotFound
from api.live import AlertHub
from api.security import TokenClaims, decode_token
from api.services import Services

__all__ = [
    "AccountsDep",
    "Admin",
    "AlertStore",
    "AlertsReader",
    "AlertsWriter",
    "AuditDep",
    "CurrentPrincipal",
    "DevicesReader",
    "DevicesWriter",
    "HubDep",
    "PatientId",
    "PatientsDep",
    "PatientsReader",
    "PatientsWriter",
    "ServicesDep",
    "ThresholdsDep",
    "ThresholdsReader",
    "ThresholdsWriter",
    "VitalsReader",
    "VitalsStore",
]

logger = logging.getLogger(__name__)

# Trivial dependencies are ``async def``: FastAPI runs plain ``def`` dependencies in its thread
# pool, and a thread hop per lookup costs more than the lookup under load.

TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 - a path, not a secret
PATIENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

oauth2_scheme = OAuth2(
    flows=OAuthFlows(
        password=OAuthFlowPassword(tokenUrl=TOKEN_URL, scopes=SCOPES),
        clientCredentials=OAuthFlowClientCredentials(tokenUrl=TOKEN_URL, scopes=SCOPES),
    ),
    scheme_name="OAuth2",
    description="People log in with a password; apps with client credentials.",
    auto_error=False,
)


async def get_services(request: Request) -> Services:
    """The app's :class:`~api.services.Services`."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_principal(
    request: Request,
    security_scopes: SecurityScopes,
    services: ServicesDep,
    authorization: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    """Authenticate the bearer token (401) and check the route's scopes (403).

    The caller is resolved once per request (cached on ``request.state``), however many
    dependencies ask for it.
    """
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        principal = cached
    else:
        principal, claims = _authenticate(services, authorization)
        # For long-lived responses (the alert stream): when the token dies, and its login.
        request.state.token_expires_at = claims.expires_at
        request.state.token_session_id = claims.session_id
    request.state.principal = principal
    for scope in security_scopes.scopes:
        require_scope(principal, scope)
    return principal


def _authenticate(services: Services, authorization: str | None) -> tuple[Principal, TokenClaims]:
    """The caller, and the claims of its verified token."""
    if not authorization:
        raise NotAuthenticated("authentication required")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("use a bearer token")
    claims = decode_token(
        services.keys, token.strip(), expected_type="access", now=services.clock()
    )
    # A person's token dies with its login session (logout, refresh-token replay): one
    # primary-key read in the registry database that the principal lookup below uses anyway.
    if claims.session_id is not None and not services.token_families.is_active(claims.session_id):
        raise NotAuthenticated("session ended: sign in again")
    principal = services.accounts.principal(claims.kind, claims.subject, claims.scopes)
    if principal is None:
        raise NotAuthenticated("account unknown or disabled")
    return principal, claims


def _scoped(*scopes: str) -> object:
    return Security(get_principal, scopes=list(scopes))


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
PatientsReader = Annotated[Principal, _scoped("patients:read")]
PatientsWriter = Annotated[Principal, _scoped("patients:write")]
DevicesReader = Annotated[Principal, _scoped("devices:read")]
DevicesWriter = Annotated[Principal, _scoped("devices:write")]
VitalsReader = Annotated[Principal, _scoped("vitals:read")]
AlertsReader = Annotated[Principal, _scoped("alerts:read")]
AlertsWriter = Annotated[Principal, _scoped("alerts:write")]
ThresholdsReader = Annotated[Principal, _scoped("thresholds:read")]
ThresholdsWriter = Annotated[Principal, _scoped("thresholds:write")]
Admin = Annotated[Principal, _scoped("admin")]


async def get_alert_store(services: ServicesDep) -> AlertStoreBase:
    """The alert store."""
    return services.alert_store


async def get_vitals_store(services: ServicesDep) -> VitalsStoreBase:
    """The vitals store."""
    return services.vitals_store


async def get_accounts(services: ServicesDep) -> Accounts:
    """Users, teams and app clients."""
    return services.accounts


async def get_patients(services: ServicesDep) -> PatientDirectory:
    """Patient and device queries."""
    return services.patients


async def get_audit(services: ServicesDep) -> AuditLog:
    """The audit log."""
    return services.audit


async def get_thresholds(services: ServicesDep) -> ThresholdRepository:
    """Per-patient configuration."""
    return services.thresholds


async def get_hub(services: ServicesDep) -> AlertHub:
    """The live-event hub."""
    return services.hub


AlertStore = Annotated[AlertStoreBase, Depends(get_alert_store)]
VitalsStore = Annotated[VitalsStoreBase, Depends(get_vitals_store)]
AccountsDep = Annotated[Accounts, Depends(get_accounts)]
PatientsDep = Annotated[PatientDirectory, Depends(get_patients)]
AuditDep = Annotated[AuditLog, Depends(get_audit)]
ThresholdsDep = Annotated[ThresholdRepository, Depends(get_thresholds)]
HubDep = Annotated[AlertHub, Depends(get_hub)]


def visible_patient(
    patient_id: Annotated[
        str,
        Path(
            pattern=PATIENT_ID_PATTERN,
            description="The patient's pseudonymous id.",
            examples=["P0001"],
        ),
    ],
    principal: CurrentPrincipal,
    patients: PatientsDep,
) -> str:
    """The path's patient id, if the caller may see that patient and it exists (else 404)."""
    require_patient(principal, patient_id)
    if patients.get(patient_id) is None:
        raise NotFound("patient not found")
    return patient_id


PatientId = Annotated[str, Depends(visible_patient)]

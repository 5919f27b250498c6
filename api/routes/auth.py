"""Tokens: ``POST /auth/token`` for every grant, ``GET /auth/me`` for who the caller is.

One token endpoint serves the three OAuth 2.0 grants Vigil supports (RFC 6749):
``password`` for people (an access token plus a refresh token), ``refresh_token`` (rotates
the pair), and ``client_credentials`` for apps (access token only, with the requested subset
of the app's granted scopes; the client may authenticate with HTTP Basic or form fields).
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Annotated

from fastapi import APIRouter, Form, Header, Response

from api.access import ROLE_SCOPES
from api.deps import CurrentPrincipal, ServicesDep
from api.exceptions import BadRequest, NotAuthenticated
from api.problems import problem_responses
from api.schemas.auth import MeOut, TokenOut
from api.security import decode_token, issue_token
from api.services import Services

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/auth", tags=["auth"])

GrantType = Annotated[
    str,
    Form(
        pattern="^(password|refresh_token|client_credentials)$",
        description="OAuth 2.0 grant: password (people), refresh_token, client_credentials (apps).",
    ),
]


def _invalid_grant(detail: str) -> BadRequest:
    return BadRequest(detail, oauth_error="invalid_grant")


def _invalid_client() -> NotAuthenticated:
    return NotAuthenticated("invalid client credentials", oauth_error="invalid_client")


def _user_tokens(
    services: Services, username: str, role: str, *, session_ends: float | None = None
) -> TokenOut:
    """An access and a refresh token; a refreshed pair keeps the login's ``session_ends``."""
    s, now = services.settings, services.clock()
    access_ttl = s.access_token_minutes * 60
    refresh_ttl = s.refresh_token_hours * 3600 if session_ends is None else session_ends - now
    return TokenOut(
        access_token=issue_token(
            services.keys,
            subject=username,
            kind="user",
            token_type="access",  # noqa: S106 - a token kind
            ttl_s=access_ttl,
            now=now,
        ),
        expires_in=access_ttl,
        refresh_token=issue_token(
            services.keys,
            subject=username,
            kind="user",
            token_type="refresh",  # noqa: S106 - a token kind
            ttl_s=refresh_ttl,
            now=now,
        ),
        scope=" ".join(sorted(ROLE_SCOPES[role])),
    )


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _invalid_client() from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _invalid_client()
    return client_id, secret


@router.post(
    "/token",
    response_model=TokenOut,
    summary="Get an access token",
    responses=problem_responses(400, 401, 422),
)
def token(
    services: ServicesDep,
    response: Response,
    grant_type: GrantType = "password",
    username: Annotated[str | None, Form(max_length=64)] = None,
    password: Annotated[str | None, Form(max_length=200)] = None,
    refresh_token: Annotated[str | None, Form(max_length=4096)] = None,
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=200)] = None,
    scope: Annotated[str, Form(max_length=1000, description="Space-separated scopes (apps).")] = "",
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> TokenOut:
    """Exchange credentials for a bearer token (OAuth 2.0 password, refresh or client grant).

    Access tokens live ``VIGIL_ACCESS_TOKEN_MINUTES`` (15 by default); send them as
    ``Authorization: Bearer <token>``.
    """
    response.headers["Cache-Control"] = "no-store"
    if grant_type == "password":
        if not username or password is None:
            raise BadRequest("username and password are required", oauth_error="invalid_request")
        user = services.accounts.authenticate_user(username, password)
        if user is None:
            logger.info("failed login")
            raise NotAuthenticated("incorrect username or password", oauth_error="invalid_grant")
        return _user_tokens(services, user.username, user.role)
    if grant_type == "refresh_token":
        if not refresh_token:
            raise BadRequest("refresh_token is required", oauth_error="invalid_request")
        try:
            claims = decode_token(
                services.keys, refresh_token, expected_type="refresh", now=services.clock()
            )
        except NotAuthenticated as exc:
            raise _invalid_grant("invalid or expired refresh token") from exc
        fresh = services.accounts.get_user(claims.subject) if claims.kind == "user" else None
        if fresh is None or not fresh.active:
            raise _invalid_grant("invalid or expired refresh token")
        # Rotation must not extend the session: it ends refresh_token_hours after the login.
        return _user_tokens(services, fresh.username, fresh.role, session_ends=claims.expires_at)
    basic = _basic_credentials(authorization)
    cid, secret = basic if basic else (client_id, client_secret)
    if not cid or secret is None:
        raise _invalid_client()
    client = services.accounts.authenticate_client(cid, secret)
    if client is None:
        raise _invalid_client()
    requested = frozenset(scope.split()) or client.scopes
    if not requested <= client.scopes:
        raise BadRequest("requested scope exceeds the client's grant", oauth_error="invalid_scope")
    ttl = services.settings.access_token_minutes * 60
    return TokenOut(
        access_token=issue_token(
            services.keys,
            subject=client.client_id,
            kind="client",
            token_type="access",  # noqa: S106 - a token kind
            ttl_s=ttl,
            now=services.clock(),
            scopes=requested,
        ),
        expires_in=ttl,
        scope=" ".join(sorted(requested)),
    )


@router.get("/me", response_model=MeOut, summary="Who am I", responses=problem_responses(401))
def me(principal: CurrentPrincipal) -> MeOut:
    """The caller's identity, role, teams and effective scopes."""
    return MeOut(
        subject=principal.subject,
        role=principal.role,
        patient_id=principal.patient_id,
        teams=sorted(principal.teams),
        scopes=sorted(principal.effective_scopes),
    )

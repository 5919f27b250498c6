"""Tokens: ``POST /auth/token`` for every grant, ``POST /auth/revoke`` to log out,
``GET /auth/me`` for who the caller is.

One token endpoint serves the three OAuth 2.0 grants Vigil supports (RFC 6749):
``password`` for people (an access token plus a refresh token), ``refresh_token`` (rotates
the pair), and ``client_credentials`` for apps (access token only, with the requested subset
of the app's granted scopes; the client may authenticate with HTTP Basic or form fields).

Refresh tokens are single-use (RFC 9700 section 4.14.2): a login starts a token family
(:mod:`api.accounts.token_families`), each refresh spends the token it was given, and
presenting a spent one again revokes the family, so whoever replayed it and the legitimate
client both have to log in again. The one exception is the token a refresh just spent, sent
again within ``VIGIL_REFRESH_REUSE_GRACE_SECONDS`` (a second tab, a retry after a lost
response): it gets that refresh's answer again, the same refresh token and an access token
expiring with the first. Rotation never extends the login's absolute session end.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Annotated

from fastapi import APIRouter, Form, Header, Response, status

from api.access import ROLE_SCOPES
from api.deps import CurrentPrincipal, ServicesDep
from api.exceptions import BadRequest, NotAuthenticated
from api.problems import problem_responses
from api.schemas.auth import MeOut, TokenOut
from api.security import TokenClaims, TokenType, decode_token, issue_token, new_token_id
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


def _session_over(detail: str) -> NotAuthenticated:
    return NotAuthenticated(detail, oauth_error="invalid_grant")


def _user_tokens(
    services: Services,
    username: str,
    role: str,
    *,
    session_id: str,
    refresh_jti: str,
    session_ends: float,
    issued_at: float,
    now: float,
) -> TokenOut:
    """An access and a refresh token of login ``session_id``, both issued at ``issued_at``.

    The refresh token, whose id is ``refresh_jti``, expires at the login's ``session_ends``,
    and the access token at the latest then too (no token of a login outlives it). Given the
    same ``refresh_jti`` and ``issued_at``, the refresh token comes out the same bytes: a
    refresh token reused within the grace gets the one its first use got. ``expires_in``
    counts from ``now``.
    """
    access_ttl = min(services.settings.access_token_minutes * 60, int(session_ends - issued_at))
    return TokenOut(
        access_token=issue_token(
            services.keys,
            subject=username,
            kind="user",
            token_type="access",  # noqa: S106 - a token kind
            ttl_s=access_ttl,
            now=issued_at,
            session_id=session_id,
        ),
        expires_in=access_ttl - int(now - issued_at),
        refresh_token=issue_token(
            services.keys,
            subject=username,
            kind="user",
            token_type="refresh",  # noqa: S106 - a token kind
            ttl_s=session_ends - issued_at,
            now=issued_at,
            token_id=refresh_jti,
            session_id=session_id,
        ),
        scope=" ".join(sorted(ROLE_SCOPES[role])),
    )


def _login(services: Services, username: str, role: str) -> TokenOut:
    """A new login: a new token family, its session ending ``refresh_token_hours`` from now."""
    now = services.clock()
    session_ends = now + services.settings.refresh_token_hours * 3600
    jti = new_token_id()
    sid = services.token_families.start(username, first_jti=jti, expires_at=session_ends, now=now)
    return _user_tokens(
        services,
        username,
        role,
        session_id=sid,
        refresh_jti=jti,
        session_ends=session_ends,
        issued_at=now,
        now=now,
    )


def _refresh(services: Services, refresh_token: str) -> TokenOut:
    """Spend ``refresh_token`` for a new pair of the same login; a replay revokes the login.

    The token the last refresh spent, sent again within the reuse grace, gets that refresh's
    pair again: the same refresh token, and an access token issued when it was.
    """
    now = services.clock()
    try:
        claims = decode_token(services.keys, refresh_token, expected_type="refresh", now=now)
    except NotAuthenticated as exc:
        raise _invalid_grant("invalid or expired refresh token") from exc
    fresh = services.accounts.get_user(claims.subject) if claims.kind == "user" else None
    # No session id: a refresh token from before rotation existed, which cannot be spent once.
    if fresh is None or not fresh.active or claims.session_id is None or not claims.token_id:
        raise _invalid_grant("invalid or expired refresh token")
    rotation = services.token_families.rotate(
        claims.session_id, spent_jti=claims.token_id, next_jti=new_token_id(), now=now
    )
    if rotation.outcome == "replayed":
        raise _session_over(
            "refresh token already used: the session is revoked for safety; sign in again"
        )
    if rotation.successor is None:
        raise _session_over("session ended: sign in again")
    # Rotation must not extend the session: it ends refresh_token_hours after the login.
    return _user_tokens(
        services,
        fresh.username,
        fresh.role,
        session_id=claims.session_id,
        refresh_jti=rotation.successor.jti,
        session_ends=claims.expires_at,
        issued_at=rotation.successor.issued_at,
        now=now,
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
        return _login(services, user.username, user.role)
    if grant_type == "refresh_token":
        if not refresh_token:
            raise BadRequest("refresh_token is required", oauth_error="invalid_request")
        return _refresh(services, refresh_token)
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


def _revocable(services: Services, token: str, hint: str | None) -> TokenClaims | None:
    """The claims of ``token`` if it is a valid refresh or access token, else ``None``."""
    now = services.clock()
    hinted_access = hint == "access_token"  # noqa: S105 - a hint name, not a secret
    kinds: tuple[TokenType, ...] = ("access", "refresh") if hinted_access else ("refresh", "access")
    for kind in kinds:
        try:
            return decode_token(services.keys, token, expected_type=kind, now=now)
        except NotAuthenticated:
            continue
    return None


@router.post(
    "/revoke",
    status_code=status.HTTP_200_OK,
    response_class=Response,
    summary="Log out: revoke a login's tokens",
    responses={200: {"description": "Revoked, or nothing to revoke."}, **problem_responses(422)},
)
def revoke(
    services: ServicesDep,
    token: Annotated[
        str, Form(max_length=4096, description="The refresh token (or an access token).")
    ],
    token_type_hint: Annotated[
        str | None,
        Form(
            max_length=64,
            description="Which kind ``token`` is: ``refresh_token`` or ``access_token``; "
            "another value is ignored (RFC 7009 2.1: every kind is searched anyway).",
        ),
    ] = None,
) -> Response:
    """Revoke the login ``token`` belongs to (OAuth 2.0 token revocation, RFC 7009): its
    refresh token can no longer be used and its access tokens stop working at once.

    Holding the token is the credential, so no other authentication is needed. As RFC 7009
    asks, an invalid, expired or already revoked token also gets 200: there is nothing to do.
    """
    claims = _revocable(services, token, token_type_hint)
    if claims is not None and claims.session_id is not None:
        if services.token_families.revoke(claims.session_id, now=services.clock()):
            logger.info("logout: revoked token family %s", claims.session_id)
    return Response(status_code=status.HTTP_200_OK, headers={"Cache-Control": "no-store"})


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

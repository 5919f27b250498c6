"""Passwords (argon2id) and bearer tokens (JWT, HS256): issuing and checking credentials.

Access tokens are short-lived and carry only who the caller is (``sub``, ``knd``: user or
client, ``scope`` for apps); what they may see is resolved from the registry on every request,
so removing a clinician from a care team takes effect at once, not when the token expires.
Refresh tokens are longer-lived, typed ``refresh`` and accepted only by the token endpoint
(and by ``/auth/revoke``, to end their login).
A person's tokens carry their login's session id (``sid``): the token endpoint rotates refresh
tokens within that session and revokes it on replay or logout
(:mod:`api.accounts.token_families`). A refresh token is determined by its claims (HS256 signs
deterministically), so the token endpoint can hand the same one out again within the reuse grace.

References
----------
RFC 6749 (OAuth 2.0), RFC 7519 (JWT), RFC 9700 (OAuth 2.0 Security Best Current Practice),
RFC 9106 (Argon2).

Examples
--------
>>> keys = TokenKeys(secret="x" * 32, issuer="vigil")
>>> token = issue_token(keys, subject="nurse", kind="user", token_type="access", ttl_s=60, now=0.0)
>>> claims = decode_token(keys, token, expected_type="access", now=30.0)
>>> claims.subject, claims.kind, claims.scopes, claims.session_id
('nurse', 'user', frozenset(), None)
>>> decode_token(keys, token, expected_type="access", now=120.0)
Traceback (most recent call last):
...
api.exceptions.NotAuthenticated: token expired
"""

from __future__ import annotations

import functools
import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from api.exceptions import NotAuthenticated

logger = logging.getLogger(__name__)

TokenType = Literal["access", "refresh"]
SubjectKind = Literal["user", "client"]
ALGORITHM = "HS256"
#: Seconds a token's ``iat`` may lie ahead of this process's clock: API replicas whose clocks
#: differ by that much accept each other's fresh tokens (RFC 7519 4.1.6 allows "some small
#: leeway"). ``exp`` gets none: a token is never honoured past its end by this clock.
IAT_LEEWAY_S = 30.0

_hasher = PasswordHasher()


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verified against when the user does not exist, so a login for an unknown name costs the
    # same time as a wrong password and timing does not reveal which usernames exist.
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """Hash a password or client secret with argon2id (RFC 9106 defaults of argon2-cffi).

    Examples
    --------
    >>> h = hash_password("s3cret-pass")
    >>> h.startswith("$argon2id$"), verify_password(h, "s3cret-pass"), verify_password(h, "no")
    (True, True, False)
    """
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Return whether ``password`` matches ``password_hash``; ``None`` hash never matches."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def new_client_secret() -> str:
    """Return a fresh random client secret (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def new_token_id() -> str:
    """Return a fresh random token or session id (128 bits, hex)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class TokenKeys:
    """The signing secret and issuer used for every token of one deployment."""

    secret: str
    issuer: str = "vigil"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """The verified content of a token."""

    subject: str
    kind: SubjectKind
    token_type: TokenType
    scopes: frozenset[str]
    expires_at: float
    token_id: str
    #: The login session (token family) a person's token belongs to; ``None`` for apps.
    session_id: str | None = None


def issue_token(
    keys: TokenKeys,
    *,
    subject: str,
    kind: SubjectKind,
    token_type: TokenType,
    ttl_s: float,
    now: float,
    scopes: frozenset[str] = frozenset(),
    token_id: str | None = None,
    session_id: str | None = None,
) -> str:
    """Sign a token for ``subject`` valid for ``ttl_s`` seconds from ``now`` (epoch seconds).

    ``token_id`` becomes the ``jti`` (default: a fresh random one); ``session_id`` the ``sid``
    of the login the token belongs to.

    Examples
    --------
    >>> keys = TokenKeys(secret="x" * 32)
    >>> token = issue_token(keys, subject="nurse", kind="user", token_type="refresh",
    ...                     ttl_s=60, now=0.0, token_id="j1", session_id="s1")
    >>> claims = decode_token(keys, token, expected_type="refresh", now=1.0)
    >>> claims.token_id, claims.session_id
    ('j1', 's1')

    Another replica whose clock is 2 s behind the issuer's accepts it too (``IAT_LEEWAY_S``):

    >>> decode_token(keys, token, expected_type="refresh", now=-2.0).subject
    'nurse'
    """
    payload: dict[str, object] = {
        "iss": keys.issuer,
        "sub": subject,
        "knd": kind,
        "typ": token_type,
        "iat": int(now),
        "exp": int(now + ttl_s),
        "jti": token_id or new_token_id(),
    }
    if session_id is not None:
        payload["sid"] = session_id
    if scopes:
        payload["scope"] = " ".join(sorted(scopes))
    return jwt.encode(payload, keys.secret, algorithm=ALGORITHM)


def decode_token(
    keys: TokenKeys, token: str, *, expected_type: TokenType, now: float
) -> TokenClaims:
    """Verify signature, issuer, expiry and type; raise :class:`NotAuthenticated` otherwise."""
    try:
        payload = jwt.decode(
            token,
            keys.secret,
            algorithms=[ALGORITHM],
            issuer=keys.issuer,
            # Times are checked below against ``now`` (the app's clock), not PyJWT's own.
            options={
                "require": ["exp", "iat", "sub", "iss"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise NotAuthenticated("invalid token") from exc
    iat = payload.get("iat")
    if not isinstance(iat, int | float) or iat > now + IAT_LEEWAY_S:
        raise NotAuthenticated("invalid token")
    exp = payload.get("exp")
    if not isinstance(exp, int | float) or exp <= now:
        raise NotAuthenticated("token expired")
    sub, kind, typ = payload.get("sub"), payload.get("knd"), payload.get("typ")
    if typ != expected_type:
        raise NotAuthenticated(f"wrong token type: expected the {expected_type} token")
    if not isinstance(sub, str) or not sub or kind not in ("user", "client"):
        raise NotAuthenticated("invalid token")
    scope = payload.get("scope", "")
    sid = payload.get("sid")
    return TokenClaims(
        subject=sub,
        kind=kind,
        token_type=typ,
        scopes=frozenset(str(scope).split()),
        expires_at=float(exp),
        token_id=str(payload.get("jti", "")),
        session_id=sid if isinstance(sid, str) and sid else None,
    )

"""Settings of the API process (``VIGIL_API_*`` on top of the shared ``VIGIL_*`` ones).

Examples
--------
>>> s = ApiSettings(_env_file=None)
>>> s.access_token_minutes, s.api_port, s.refresh_reuse_grace_seconds
(15, 8000, 30)
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from vigil.settings import Settings


class ApiSettings(Settings):
    """Shared settings plus the API's own knobs.

    Token lifetimes follow the OAuth 2.0 Security BCP (RFC 9700): access tokens short enough
    that a leaked one expires within a shift's handover, refresh tokens bounded by a shift.
    """

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_hours: int = Field(default=12, ge=1, le=24 * 30)
    #: Seconds after a refresh during which the refresh token it spent may be sent again and
    #: get the same new one back (two tabs, a lost response) instead of ending the login as a
    #: replay; 0 turns it off. At most 60 s, as Amazon Cognito's retry grace period, and so
    #: never longer than the shortest access token (the reuse's one expires with the first's).
    refresh_reuse_grace_seconds: int = Field(default=30, ge=0, le=60)
    jwt_issuer: str = "vigil"
    #: Events kept for ``Last-Event-ID`` resume (about an hour of a 500-patient ward).
    sse_replay_buffer: int = Field(default=10_000, ge=1)
    #: Seconds a readiness probe may take before it counts as down.
    probe_timeout_seconds: float = Field(default=2.0, gt=0)


@lru_cache(maxsize=1)
def get_api_settings() -> ApiSettings:
    """Return the API process settings, read once from the environment."""
    return ApiSettings()

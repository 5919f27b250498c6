"""Token and identity models (OAuth 2.0 token response, RFC 6749 section 5.1)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TokenOut(BaseModel):
    """An OAuth 2.0 access token response."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJudXJzZSJ9.x",
                    "token_type": "bearer",
                    "expires_in": 900,
                    "refresh_token": "eyJhbGciOiJIUzI1NiJ9.eyJ0eXAiOiJyZWZyZXNoIn0.y",
                    "scope": "alerts:read vitals:read",
                }
            ]
        }
    )

    access_token: str
    token_type: str = Field(default="bearer", description="Always 'bearer'.")
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str | None = Field(
        default=None, description="For people: exchange for a new pair at the token endpoint."
    )
    scope: str = Field(default="", description="Space-separated scopes the token carries.")


class MeOut(BaseModel):
    """Who the caller is and what they may do."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "subject": "nurse",
                    "role": "clinician",
                    "patient_id": None,
                    "teams": ["ward-a"],
                    "scopes": ["alerts:read", "alerts:write", "vitals:read"],
                }
            ]
        }
    )

    subject: str
    role: str
    patient_id: str | None
    teams: list[str]
    scopes: list[str]

"""Patient, care-team assignment, device and NEWS2 models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.accounts.patients import DeviceView, PatientView

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"


class PatientOut(BaseModel):
    """A monitored patient and the care teams looking after them."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "patient_id": "P0001",
                    "name": "Bed 12",
                    "created_at": "2024-03-01T07:00:00Z",
                    "teams": ["ward-a"],
                }
            ]
        }
    )

    patient_id: str
    name: str | None
    created_at: datetime
    teams: list[str]

    @classmethod
    def from_view(cls, v: PatientView) -> PatientOut:
        """Build from a registry view."""
        return cls(
            patient_id=v.patient_id, name=v.name, created_at=v.created_at, teams=list(v.teams)
        )


class PatientPageOut(BaseModel):
    """One page of patients by id; pass ``next_cursor`` as ``cursor`` for the next."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "patient_id": "P0001",
                            "name": "Bed 12",
                            "created_at": "2024-03-01T07:00:00Z",
                            "teams": ["ward-a"],
                        }
                    ],
                    "next_cursor": "WyJQMDAwMSJd",
                }
            ]
        }
    )

    items: list[PatientOut]
    next_cursor: str | None


class PatientIn(BaseModel):
    """Register a patient (admin)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"patient_id": "P0042", "name": "Bed 3", "teams": ["ward-a"]}]
        },
    )

    patient_id: str = Field(pattern=ID_PATTERN, description="Pseudonymous id used everywhere.")
    name: str | None = Field(default=None, max_length=200)
    teams: list[str] = Field(default_factory=list, max_length=50)


class PatientUpdate(BaseModel):
    """Change a patient's display name."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "Bed 14"}]})

    name: str | None = Field(max_length=200)


class TeamsIn(BaseModel):
    """The complete set of care teams that should look after a patient."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"teams": ["ward-a", "night-b"]}]}
    )

    teams: list[str] = Field(max_length=50)


class DeviceOut(BaseModel):
    """A device enrolment of a patient."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "device_id": "watch-0001",
                    "patient_id": "P0001",
                    "enrolled_from": "2024-03-01T07:00:00Z",
                    "enrolled_to": None,
                    "revoked_at": None,
                    "active": True,
                }
            ]
        }
    )

    device_id: str
    patient_id: str
    enrolled_from: datetime
    enrolled_to: datetime | None
    revoked_at: datetime | None
    active: bool

    @classmethod
    def from_view(cls, v: DeviceView) -> DeviceOut:
        """Build from a registry view."""
        return cls(
            device_id=v.device_id,
            patient_id=v.patient_id,
            enrolled_from=v.enrolled_from,
            enrolled_to=v.enrolled_to,
            revoked_at=v.revoked_at,
            active=v.active,
        )


class DeviceIn(BaseModel):
    """Enroll a new device to a patient."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"device_id": "watch-0042"}]}
    )

    device_id: str = Field(pattern=ID_PATTERN)


class DeviceCredentialsOut(BaseModel):
    """A newly enrolled device and its MQTT credentials. The password is shown only now."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "device_id": "watch-0042",
                    "patient_id": "P0042",
                    "mqtt_username": "watch-0042",
                    "mqtt_password": "q0b5VnE1eZ4m2f8Zp6s3hTzKJc9wLrXy7uAaBdGiNoQ",
                    "mqtt_topic": "vigil/v1/devices/watch-0042/vitals",
                }
            ]
        }
    )

    device_id: str
    patient_id: str
    mqtt_username: str
    mqtt_password: str
    mqtt_topic: str


class News2Out(BaseModel):
    """The patient's latest NEWS2 (worst score of the latest minute with data)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "patient_id": "P0001",
                    "minute": "2024-03-01T08:12:00Z",
                    "score": 5,
                    "risk": "medium",
                    "subscores": {"rr": 2, "spo2": 1, "hr": 2, "temp": 0},
                }
            ]
        }
    )

    patient_id: str
    minute: datetime
    score: int = Field(ge=0, le=20)
    risk: Literal["low", "low-medium", "medium", "high"]
    subscores: dict[str, int]

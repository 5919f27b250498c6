"""Per-patient thresholds and overrides (the API face of :class:`PatientConfig`)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.accounts.thresholds import StoredConfig
from ingest.sample import RANGES
from stream.detect.config import PatientConfig

Vital = Literal["hr", "spo2", "rr", "temp", "sbp", "dbp", "glucose"]

_EXAMPLE: dict[str, Any] = {
    "spo2_scale": 2,
    "on_oxygen": False,
    "consciousness": "A",
    "thresholds": {"hr": {"low": 45, "high": 125}, "spo2": {"low": 88, "high": None}},
    "snooze_until": None,
    "snooze_kinds": [],
    "alert_channels": [],
}


class Limits(BaseModel):
    """Alerting limits for one vital; ``null`` keeps the population default for that side."""

    model_config = ConfigDict(extra="forbid")

    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Limits:
        for v in (self.low, self.high):
            if v is not None and not math.isfinite(v):
                raise ValueError("limits must be finite numbers")
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError("low must be below high")
        return self


class ThresholdsIn(BaseModel):
    """A patient's clinician settings: NEWS2 options, alerting limits, snooze, channels."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    spo2_scale: Literal[1, 2] = Field(
        default=1, description="NEWS2 SpO2 scale; 2 for a prescribed 88-92 % target."
    )
    on_oxygen: bool = Field(default=False, description="On supplemental oxygen (NEWS2 +2).")
    consciousness: Literal["A", "C", "V", "P", "U"] = Field(
        default="A", description="Latest ACVPU assessment."
    )
    thresholds: dict[Vital, Limits] = Field(default_factory=dict)
    snooze_until: datetime | None = Field(
        default=None, description="Hold back non-critical alerts until then."
    )
    snooze_kinds: list[str] = Field(
        default_factory=list, max_length=50, description="Kinds the snooze covers; empty = all."
    )
    alert_channels: list[str] = Field(
        default_factory=list, max_length=16, description="Custom channels that may alert."
    )

    @model_validator(mode="after")
    def _in_range(self) -> ThresholdsIn:
        for vital, limits in self.thresholds.items():
            lo, hi = RANGES[vital]
            for v in (limits.low, limits.high):
                if v is not None and not lo <= v <= hi:
                    raise ValueError(f"{vital} limits must lie within [{lo:g}, {hi:g}]")
        for kind in self.snooze_kinds:
            if not kind or len(kind) > 64 or not kind.replace("_", "").isalnum():
                raise ValueError("snooze kinds are names like 'tachycardia'")
        for channel in self.alert_channels:
            if not channel.isidentifier() or not channel.islower() or len(channel) > 32:
                raise ValueError("channels are lower-case names like 'hrv_ms'")
        if self.snooze_until is not None:
            su = self.snooze_until
            su = su.replace(tzinfo=UTC) if su.tzinfo is None else su
            if not datetime(2000, 1, 1, tzinfo=UTC) <= su < datetime(2100, 1, 1, tzinfo=UTC):
                raise ValueError("snooze_until must lie between 2000 and 2100")
        return self

    def to_config(self) -> PatientConfig:
        """The detection-side configuration."""
        su = self.snooze_until
        return PatientConfig(
            spo2_scale=self.spo2_scale,
            on_oxygen=self.on_oxygen,
            consciousness=self.consciousness,
            thresholds={v: (lim.low, lim.high) for v, lim in sorted(self.thresholds.items())},
            snooze_until=None
            if su is None
            else (su if su.tzinfo else su.replace(tzinfo=UTC)).timestamp(),
            snooze_kinds=tuple(self.snooze_kinds),
            alert_channels=tuple(self.alert_channels),
        )


class ThresholdsOut(ThresholdsIn):
    """The stored settings with their version (send it as ``If-Match`` to update safely)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    **_EXAMPLE,
                    "patient_id": "P0001",
                    "version": 3,
                    "updated_at": "2024-03-01T08:20:00Z",
                    "updated_by": "nurse",
                }
            ]
        },
    )

    patient_id: str
    version: int = Field(description="0 until first set (the defaults).")
    updated_at: datetime | None
    updated_by: str | None

    @classmethod
    def from_stored(cls, s: StoredConfig) -> ThresholdsOut:
        """Build from the stored configuration."""
        c = s.config
        known = {k: v for k, v in c.thresholds.items() if k in RANGES}
        return cls(
            patient_id=s.patient_id,
            version=s.version,
            updated_at=s.updated_at,
            updated_by=s.updated_by,
            spo2_scale=2 if c.spo2_scale == 2 else 1,
            on_oxygen=c.on_oxygen,
            consciousness=c.consciousness.upper(),
            thresholds={k: Limits(low=lo, high=hi) for k, (lo, hi) in known.items()},
            snooze_until=None
            if c.snooze_until is None
            else datetime.fromtimestamp(c.snooze_until, UTC),
            snooze_kinds=list(c.snooze_kinds),
            alert_channels=list(c.alert_channels),
        )

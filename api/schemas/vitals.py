"""Vitals models: latest values and history from the per-minute rollups."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from alerts.store import VitalPoint


class VitalPointOut(BaseModel):
    """One vital over one bucket: mean, range and number of samples."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"ts": "2024-03-01T08:12:00Z", "mean": 82.5, "min": 80, "max": 86, "count": 12}
            ]
        }
    )

    ts: datetime
    mean: float
    min: float
    max: float
    count: int

    @classmethod
    def from_point(cls, p: VitalPoint) -> VitalPointOut:
        """Build from a store point."""
        return cls(ts=p.ts, mean=p.mean, min=p.min, max=p.max, count=p.count)


class LatestVitalsOut(BaseModel):
    """Each vital's most recent 1-minute rollup."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "patient_id": "P0001",
                    "vitals": {
                        "hr": {
                            "ts": "2024-03-01T08:12:00Z",
                            "mean": 82.5,
                            "min": 80,
                            "max": 86,
                            "count": 12,
                        },
                        "spo2": {
                            "ts": "2024-03-01T08:12:00Z",
                            "mean": 96.0,
                            "min": 95,
                            "max": 97,
                            "count": 12,
                        },
                    },
                }
            ]
        }
    )

    patient_id: str
    vitals: dict[str, VitalPointOut]


class VitalSeriesOut(BaseModel):
    """A patient's vitals history: per vital, buckets oldest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "patient_id": "P0001",
                    "resolution": "5m",
                    "start": "2024-03-01T08:00:00Z",
                    "stop": "2024-03-01T08:10:00Z",
                    "series": {
                        "hr": [
                            {
                                "ts": "2024-03-01T08:00:00Z",
                                "mean": 78.2,
                                "min": 71,
                                "max": 90,
                                "count": 60,
                            },
                            {
                                "ts": "2024-03-01T08:05:00Z",
                                "mean": 80.1,
                                "min": 74,
                                "max": 88,
                                "count": 60,
                            },
                        ]
                    },
                }
            ]
        }
    )

    patient_id: str
    resolution: Literal["1m", "5m", "1h"]
    start: datetime
    stop: datetime
    series: dict[str, list[VitalPointOut]]

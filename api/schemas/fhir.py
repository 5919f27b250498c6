"""The outline of FHIR searchset Bundles as returned by ``/fhir/r4`` (resources stay JSON)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

FHIR_JSON = "application/fhir+json"


class FhirJSONResponse(JSONResponse):
    """JSON with the FHIR media type."""

    media_type = FHIR_JSON


class BundleLink(BaseModel):
    """A Bundle link (self, next)."""

    relation: str
    url: str


class BundleEntry(BaseModel):
    """One Bundle entry: a FHIR resource as JSON."""

    model_config = ConfigDict(extra="allow")

    fullUrl: str  # noqa: N815 - FHIR's field name
    resource: dict[str, Any]
    search: dict[str, Any] | None = None


class Bundle(BaseModel):
    """A FHIR R4 ``searchset`` Bundle."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "resourceType": "Bundle",
                    "type": "searchset",
                    "total": 1,
                    "link": [
                        {
                            "relation": "self",
                            "url": "http://127.0.0.1:8000/fhir/r4/Flag?patient=P0001",
                        }
                    ],
                    "entry": [
                        {
                            "fullUrl": "http://127.0.0.1:8000/fhir/r4/Flag/4a6c04408b89695eaa031ea3",
                            "resource": {
                                "resourceType": "Flag",
                                "id": "4a6c04408b89695eaa031ea3",
                                "status": "active",
                                "code": {"text": "HR 128 bpm for 12 min"},
                                "subject": {"reference": "Patient/P0001"},
                            },
                            "search": {"mode": "match"},
                        }
                    ],
                }
            ]
        },
    )

    resourceType: Literal["Bundle"]  # noqa: N815 - FHIR's field name
    type: Literal["searchset"]
    total: int | None = Field(
        default=None, description="Number of matches; absent when a `next` page follows."
    )
    link: list[BundleLink]
    entry: list[BundleEntry]

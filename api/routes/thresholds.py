"""Per-patient thresholds and overrides: read, and replace (validated, audited, published)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Header, Response

from api.deps import PatientId, ThresholdsDep, ThresholdsReader, ThresholdsWriter
from api.exceptions import BadRequest
from api.problems import problem_responses
from api.schemas.thresholds import ThresholdsIn, ThresholdsOut

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/patients/{patient_id}/thresholds", tags=["thresholds"])


def _etag(version: int) -> str:
    return f'"v{version}"'


@router.get(
    "",
    response_model=ThresholdsOut,
    summary="Get thresholds",
    responses=problem_responses(401, 403, 404, 422),
)
def get_thresholds(
    patient_id: PatientId, principal: ThresholdsReader, repo: ThresholdsDep, response: Response
) -> ThresholdsOut:
    """The patient's settings (the defaults, version 0, until a clinician sets them)."""
    stored = repo.get(patient_id)
    response.headers["ETag"] = _etag(stored.version)
    return ThresholdsOut.from_stored(stored)


@router.put(
    "",
    response_model=ThresholdsOut,
    summary="Replace thresholds",
    responses=problem_responses(400, 401, 403, 404, 412, 422, 503),
)
def put_thresholds(
    patient_id: PatientId,
    body: ThresholdsIn,
    principal: ThresholdsWriter,
    repo: ThresholdsDep,
    response: Response,
    if_match: Annotated[
        str | None,
        Header(
            description='The ETag (`"v<version>"`) this update is based on; 412 if stale.',
            max_length=100,
        ),
    ] = None,
) -> ThresholdsOut:
    """Replace the patient's settings; takes effect in detection within seconds.

    The change is audited (who, when, before and after) and published to the workers on
    ``vigil.patient-config``; if publishing fails nothing changes (503).
    """
    expected = None
    if if_match is not None and if_match.strip() != "*":
        tag = if_match.strip().removeprefix("W/").strip('"')
        if not tag.startswith("v") or not (tag[1:].isascii() and tag[1:].isdigit()):
            raise BadRequest('If-Match must be an ETag like "v3"')
        expected = int(tag[1:])
    try:
        config = body.to_config()
    except ValueError as exc:
        raise BadRequest(f"invalid thresholds: {exc}") from exc
    stored = repo.put(patient_id, config, actor=principal.subject, expected_version=expected)
    response.headers["ETag"] = _etag(stored.version)
    return ThresholdsOut.from_stored(stored)

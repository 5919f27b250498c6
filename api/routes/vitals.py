"""Vitals: latest values, history from the rollups (1 min / 5 min / 1 h), current NEWS2."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response

from api.deps import PatientId, ServicesDep, VitalsReader, VitalsStore
from api.etag import NOT_MODIFIED, conditional
from api.exceptions import BadRequest, NotFound
from api.params import utc_param
from api.problems import problem_responses
from api.schemas.patients import News2Out
from api.schemas.vitals import LatestVitalsOut, VitalPointOut, VitalSeriesOut

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/patients/{patient_id}", tags=["vitals"])

#: Longest window per resolution: bounds the points one request can ask for (~10k per vital).
MAX_WINDOW: dict[str, timedelta] = {
    "1m": timedelta(days=7),
    "5m": timedelta(days=35),
    "1h": timedelta(days=400),
}

IfNoneMatch = Annotated[
    str | None,
    Header(description="An ETag from an earlier response; 304 if still current.", max_length=500),
]


@router.get(
    "/vitals/latest",
    response_model=LatestVitalsOut,
    summary="Latest vitals",
    responses={**NOT_MODIFIED, **problem_responses(401, 403, 404, 422, 503)},
)
def latest_vitals(
    patient_id: PatientId,
    principal: VitalsReader,
    store: VitalsStore,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """Each vital's most recent 1-minute rollup (mean, range, sample count)."""
    points = store.latest_vitals(patient_id)
    out = LatestVitalsOut(
        patient_id=patient_id,
        vitals={name: VitalPointOut.from_point(p) for name, p in sorted(points.items())},
    )
    return conditional(out, if_none_match)


@router.get(
    "/vitals",
    response_model=VitalSeriesOut,
    summary="Vitals history",
    responses={**NOT_MODIFIED, **problem_responses(400, 401, 403, 404, 422, 503)},
)
def vitals_history(
    patient_id: PatientId,
    principal: VitalsReader,
    store: VitalsStore,
    services: ServicesDep,
    start: Annotated[
        datetime | None,
        Query(alias="from", description="Window start (default: 24 h before `to`); naive = UTC."),
    ] = None,
    stop: Annotated[
        datetime | None, Query(alias="to", description="Window end, exclusive (default: now).")
    ] = None,
    resolution: Annotated[Literal["1m", "5m", "1h"], Query(description="Bucket width.")] = "5m",
    vital: Annotated[
        list[str] | None,
        Query(
            description="Only these vitals (repeatable), e.g. hr, spo2.",
            max_length=20,
        ),
    ] = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """Bucketed history from the per-minute rollups, per vital, oldest first."""
    now = datetime.fromtimestamp(services.data_now(), UTC)
    stop_utc = utc_param("to", stop) if stop is not None else now
    start_utc = utc_param("from", start) if start is not None else stop_utc - timedelta(hours=24)
    if start_utc >= stop_utc:
        raise BadRequest("'from' must be before 'to'")
    if stop_utc - start_utc > MAX_WINDOW[resolution]:
        days = MAX_WINDOW[resolution].days
        raise BadRequest(f"window too long for resolution {resolution}: at most {days} days")
    vitals = sorted(set(vital)) if vital else None
    if vitals is not None and any(not v.isidentifier() or len(v) > 32 for v in vitals):
        raise BadRequest("vital names are lower-case identifiers like 'hr'")
    points = store.vitals_history(
        patient_id, start=start_utc, stop=stop_utc, resolution=resolution, vitals=vitals
    )
    series: dict[str, list[VitalPointOut]] = {}
    for p in points:
        series.setdefault(p.vital, []).append(VitalPointOut.from_point(p))
    out = VitalSeriesOut(
        patient_id=patient_id, resolution=resolution, start=start_utc, stop=stop_utc, series=series
    )
    return conditional(out, if_none_match)


@router.get(
    "/news2",
    response_model=News2Out,
    summary="Current NEWS2",
    responses=problem_responses(401, 403, 404, 422, 503),
)
def current_news2(patient_id: PatientId, principal: VitalsReader, store: VitalsStore) -> News2Out:
    """The latest NEWS2 the worker computed (RCP 2017); 404 until one exists."""
    rec = store.latest_news2(patient_id)
    if rec is None:
        raise NotFound("no NEWS2 recorded for this patient yet")
    return News2Out(
        patient_id=rec.patient_id,
        minute=rec.minute,
        score=rec.score,
        risk=rec.risk,
        subscores=dict(rec.subscores),
    )

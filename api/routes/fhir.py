"""FHIR R4 read access: vitals as vital-signs Observations, alerts as Flags (searchset Bundles).

The mapping itself is :mod:`api.fhir` (pure); this router only authorises, queries the
stores and builds links. Observations come from the rollups, at a resolution chosen by the
window (1 min up to 6 h, 5 min up to a week, 1 h beyond), newest first; each carries its
bucket as ``effectivePeriod``. Paging is by time: the ``next`` link repeats the search with
``date=lt<oldest instant returned>``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request

from alerts.exceptions import BadCursor
from alerts.store import AlertQuery
from alerts.store.base import RESOLUTIONS, AlertRecord
from api import fhir
from api.access import Principal, require_patient
from api.deps import (
    AlertsReader,
    AlertStore,
    PatientsDep,
    ServicesDep,
    VitalsReader,
    VitalsStore,
)
from api.exceptions import BadRequest, NotFound
from api.fhir_search import channels_for_codes, date_range
from api.params import EARLIEST, LATEST
from api.problems import problem_responses
from api.schemas.fhir import Bundle, FhirJSONResponse

logger = logging.getLogger(__name__)

router = APIRouter(tags=["fhir"], default_response_class=FhirJSONResponse)

PatientParam = Annotated[
    str,
    Query(
        max_length=80,
        description="Patient id, or a reference `Patient/<id>`.",
        examples=["P0001"],
    ),
]


def _patient(principal: Principal, patients: PatientsDep, raw: str) -> str:
    patient_id = raw.removeprefix("Patient/")
    require_patient(principal, patient_id)
    if patients.get(patient_id) is None:
        raise NotFound("patient not found")
    return patient_id


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir/r4"


_BP: frozenset[str] = frozenset({"sbp", "dbp"})
#: A FHIR resource id, as the read routes take it.
FhirId = Annotated[str, Path(pattern=r"^[A-Za-z0-9\-.]{1,64}$")]


def _flag(record: AlertRecord) -> fhir.JSON:
    """An alert record (with its lifecycle state) as a FHIR Flag."""
    view = record.alert.to_json_dict()
    view.update(status=record.state.status, resolved_at=record.state.resolved_at)
    return fhir.alert_flag(view)


def _minute_ceil(t: datetime) -> datetime:
    floor = t.replace(second=0, microsecond=0)
    return floor if floor == t else floor + timedelta(minutes=1)


def _resolution(window: timedelta) -> Literal["1m", "5m", "1h"]:
    if window <= timedelta(hours=6):
        return "1m"
    if window <= timedelta(days=7):
        return "5m"
    return "1h"


@router.get(
    "/Observation",
    response_model=Bundle,
    summary="Search vital-signs Observations",
    responses=problem_responses(400, 401, 403, 404, 422, 503),
)
def search_observations(
    request: Request,
    principal: VitalsReader,
    patients: PatientsDep,
    store: VitalsStore,
    services: ServicesDep,
    patient: PatientParam,
    code: Annotated[
        list[str] | None,
        Query(description="LOINC codes, `[system|]code`, comma = OR (e.g. 8867-4).", max_length=10),
    ] = None,
    date: Annotated[
        list[str] | None,
        Query(
            description="FHIR date search with prefixes: ge, gt, le, lt, eq (default last 24 h).",
            max_length=4,
        ),
    ] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=1000, description="Page size.")] = 100,
    bucket: Annotated[
        Literal["1m", "5m", "1h"] | None,
        Query(
            alias="_resolution",
            description="Averaging period; by default from the searched window (a `next` link "
            "keeps the first page's).",
        ),
    ] = None,
) -> FhirJSONResponse:
    """Vital signs as FHIR Observations (heart rate, respiratory rate, SpO2, temperature, BP)."""
    patient_id = _patient(principal, patients, patient)
    try:
        channels = channels_for_codes(code) if code else fhir.CHANNELS
        if channels & _BP:  # a component's code finds its panel: both pressures, not one
            channels = channels | _BP
        now = datetime.fromtimestamp(services.data_now(), UTC)
        start, stop = date_range(date or [], default=(EARLIEST, LATEST))
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    if not date:
        start, stop = now - timedelta(hours=24), now
    stop = min(stop, now + timedelta(minutes=1))
    resources: list[fhir.JSON] = []
    oldest: datetime | None = None
    more = False
    if start < stop:  # then stop is after EARLIEST: 400 days before it is a date
        start = max(start, stop - timedelta(days=400))
        resolution = bucket or _resolution(stop - start)
        points = store.vitals_history(
            patient_id, start=start, stop=stop, resolution=resolution, vitals=sorted(channels)
        )
        by_ts: dict[datetime, dict[str, float | None]] = {}
        for p in points:
            by_ts.setdefault(p.ts, {})[p.vital] = p.mean
        period = timedelta(seconds=RESOLUTIONS[resolution])
        first, last = _minute_ceil(start), _minute_ceil(stop)
        for ts in sorted(by_ts, reverse=True):
            # A bucket cut by the window holds only the minutes inside the window (the
            # store's contract): its period says so, and so stays within ge/gt/le/lt bounds.
            lo, hi = max(ts, first), min(ts + period, last)
            if hi <= lo:  # (a bound inside a minute: that minute is not in the window)
                continue
            batch = fhir.vital_observations(
                patient_id, lo, by_ts[ts], period=hi - lo, channels=channels
            )
            if resources and len(resources) + len(batch) > count:
                more = True
                break
            resources.extend(batch)
            oldest = ts
    params = [
        (k, v) for k, v in request.query_params.multi_items() if k not in ("date", "_resolution")
    ]
    self_url = f"{_base(request)}/Observation?{urlencode(request.query_params.multi_items())}"
    next_url = None
    if more and oldest is not None:
        nxt = params + [
            ("date", f"ge{fhir.fhir_instant(start)}"),
            ("date", f"lt{fhir.fhir_instant(oldest)}"),
            ("_resolution", resolution),  # later pages' windows are shorter: same periods
        ]
        next_url = f"{_base(request)}/Observation?{urlencode(nxt)}"
    bundle = fhir.searchset(
        resources, base_url=_base(request), self_url=self_url, next_url=next_url
    )
    return FhirJSONResponse(bundle)


def _observation_key(obs_id: str) -> tuple[str, str, datetime, timedelta] | None:
    """``(patient, channel, start, period)`` of an Observation id a search gave, else ``None``.

    Ids are ``{patient}-{channel}-{epoch}`` with ``-{seconds}s`` for averages over more than
    a minute (:func:`api.fhir.vital_observations`); a patient id that is no legal FHIR id
    was hashed and cannot be read back.
    """
    parts = obs_id.split("-")
    period = timedelta(minutes=1)
    if len(parts) >= 4 and parts[-1].endswith("s") and parts[-1][:-1].isdigit():
        seconds = int(parts.pop()[:-1])
        if seconds > RESOLUTIONS["1h"]:  # no average is longer than an hour
            return None
        period = timedelta(seconds=seconds)
    if len(parts) < 3 or not parts[-1].isdigit() or len(parts[-1]) > 11:
        return None
    start = datetime.fromtimestamp(int(parts.pop()), UTC)
    channel = parts.pop()
    if channel not in fhir.VITALS and channel != "bp":
        return None
    return "-".join(parts), channel, start, period


@router.get(
    "/Observation/{observation_id}",
    summary="Read one vital-signs Observation",
    responses=problem_responses(401, 403, 404, 422, 503),
    response_class=FhirJSONResponse,
)
def read_observation(
    observation_id: FhirId,
    principal: VitalsReader,
    store: VitalsStore,
) -> FhirJSONResponse:
    """The Observation a search entry's ``fullUrl`` names: the same average, recomputed.

    Another patient's, or a patient's outside the caller's care, is not found (404).
    """
    key = _observation_key(observation_id)
    if key is None:
        raise NotFound("Observation not found")
    patient_id, channel, start, period = key
    require_patient(principal, patient_id)
    vitals = sorted(_BP) if channel == "bp" else [channel]
    seconds = int(period.total_seconds())
    t0 = int(start.timestamp())
    # the finest rollup one of whose buckets holds the whole period (cut to it, as searched)
    resolutions: tuple[Literal["1m", "5m", "1h"], ...] = ("1m", "5m", "1h")
    resolution = next(
        (r for r in resolutions if t0 // RESOLUTIONS[r] == (t0 + seconds - 1) // RESOLUTIONS[r]),
        None,
    )
    if resolution is None:
        raise NotFound("Observation not found")
    points = store.vitals_history(
        patient_id, start=start, stop=start + period, resolution=resolution, vitals=vitals
    )
    values: dict[str, float | None] = {p.vital: p.mean for p in points}
    for obs in fhir.vital_observations(
        patient_id, start, values, period=period, channels=frozenset(vitals)
    ):
        if obs["id"] == observation_id:
            return FhirJSONResponse(obs)
    raise NotFound("Observation not found")


@router.get(
    "/Flag",
    response_model=Bundle,
    summary="Search alert Flags",
    responses=problem_responses(400, 401, 403, 404, 422, 503),
)
def search_flags(
    request: Request,
    principal: AlertsReader,
    patients: PatientsDep,
    store: AlertStore,
    patient: PatientParam,
    status: Annotated[
        Literal["active", "inactive"] | None,
        Query(description="active: open or acknowledged; inactive: resolved."),
    ] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=1000, description="Page size.")] = 100,
    cursor: Annotated[
        str | None, Query(alias="_cursor", max_length=500, description="From a `next` link.")
    ] = None,
) -> FhirJSONResponse:
    """The patient's alerts as FHIR Flags, newest first, in pages linked by `next`."""
    patient_id = _patient(principal, patients, patient)
    statuses: frozenset[Literal["open", "acknowledged", "resolved"]] = frozenset()
    if status == "active":
        statuses = frozenset({"open", "acknowledged"})
    elif status == "inactive":
        statuses = frozenset({"resolved"})
    try:
        page = store.list_alerts(
            AlertQuery(
                patient_ids=frozenset({patient_id}), statuses=statuses, limit=count, cursor=cursor
            )
        )
    except BadCursor as exc:
        raise BadRequest("malformed _cursor") from exc
    flags = [_flag(record) for record in page.items]
    self_url = f"{_base(request)}/Flag?{urlencode(request.query_params.multi_items())}"
    next_url = None
    if page.next_cursor is not None:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "_cursor"]
        next_url = f"{_base(request)}/Flag?{urlencode([*params, ('_cursor', page.next_cursor)])}"
    bundle = fhir.searchset(flags, base_url=_base(request), self_url=self_url, next_url=next_url)
    return FhirJSONResponse(bundle)


@router.get(
    "/Flag/{flag_id}",
    summary="Read one alert Flag",
    responses=problem_responses(401, 403, 404, 422, 503),
    response_class=FhirJSONResponse,
)
def read_flag(
    flag_id: FhirId,
    principal: AlertsReader,
    store: AlertStore,
) -> FhirJSONResponse:
    """The Flag a search entry's ``fullUrl`` names (its id is the alert's id).

    Another patient's, or a patient's outside the caller's care, is not found (404), as in
    the alerts API.
    """
    record = store.get_alert(flag_id)
    if record is None or not principal.can_see(record.alert.patient_id):
        raise NotFound("Flag not found")
    return FhirJSONResponse(_flag(record))

"""Alerts: list (filters, cursor pages, ETag), get, history, lifecycle actions, live stream.

Every lifecycle action records an :class:`~alerts.lifecycle.AlertEvent` whose actor is the
caller from the token (never a client-supplied name), after the lifecycle's strict gate
(:func:`alerts.lifecycle.check`, 409 when the action does not apply), and publishes the
alert's new state to the live stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from alerts.exceptions import BadCursor, InvalidTransition
from alerts.lifecycle import Action
from alerts.store import AlertQuery, AlertRecord
from api.access import Principal, restrict_patients
from api.deps import AlertsReader, AlertStore, AlertsWriter, ServicesDep
from api.etag import NOT_MODIFIED, conditional
from api.exceptions import BadRequest, Conflict, NotFound
from api.params import utc_param
from api.problems import problem_responses
from api.schemas.alerts import (
    AckIn,
    AlertEventOut,
    AlertOut,
    AlertPageOut,
    AssignIn,
    NoteIn,
    ResolveIn,
    SnoozeIn,
)
from api.services import Services

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/alerts", tags=["alerts"])

#: Seconds between re-reading a stream client's visible patients and login (team changes
#: apply live; a revoked login's stream ends).
VISIBILITY_REFRESH_S = 30.0
#: Reconnection delay suggested to EventSource clients, milliseconds.
SSE_RETRY_MS = 2000

AlertId = Annotated[
    str,
    Path(pattern=r"^[A-Za-z0-9._-]{1,64}$", examples=["4a6c04408b89695eaa031ea3"]),
]


def _visible_record(store: AlertStore, principal: Principal, alert_id: str) -> AlertRecord:
    record = store.get_alert(alert_id)
    if record is None or not principal.can_see(record.alert.patient_id):
        raise NotFound("alert not found")
    return record


@router.get(
    "",
    response_model=AlertPageOut,
    summary="List alerts",
    responses={**NOT_MODIFIED, **problem_responses(400, 401, 403, 404, 422, 503)},
)
def list_alerts(
    principal: AlertsReader,
    store: AlertStore,
    status: Annotated[
        list[Literal["open", "acknowledged", "resolved"]] | None,
        Query(description="Lifecycle status (repeatable)."),
    ] = None,
    severity: Annotated[
        list[Literal["info", "low", "medium", "high", "critical"]] | None,
        Query(description="Current severity (repeatable)."),
    ] = None,
    category: Annotated[
        list[Literal["clinical", "technical"]] | None, Query(description="Category (repeatable).")
    ] = None,
    patient_id: Annotated[
        str | None, Query(max_length=64, description="Only this patient's alerts.")
    ] = None,
    since: Annotated[
        datetime | None, Query(description="Opened at or after (for polling); naive = UTC.")
    ] = None,
    until: Annotated[datetime | None, Query(description="Opened before.")] = None,
    cursor: Annotated[str | None, Query(max_length=500, description="From `next_cursor`.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    if_none_match: Annotated[
        str | None,
        Header(
            description="An ETag from an earlier response; 304 if still current.", max_length=500
        ),
    ] = None,
) -> Response:
    """Alert episodes the caller may see, newest opening first, in cursor pages.

    Poll cheaply with ``since`` and ``If-None-Match``; or subscribe to ``/alerts/stream``.
    """
    query = AlertQuery(
        statuses=frozenset(status or ()),
        severities=frozenset(severity or ()),
        categories=frozenset(category or ()),
        patient_ids=restrict_patients(principal, patient_id),
        since=utc_param("since", since) if since else None,
        until=utc_param("until", until) if until else None,
        limit=limit,
        cursor=cursor,
    )
    if query.since is not None and query.until is not None and query.since >= query.until:
        raise BadRequest("'since' must be before 'until'")
    try:
        page = store.list_alerts(query)
    except BadCursor as exc:
        raise BadRequest("malformed cursor") from exc
    out = AlertPageOut(
        items=[AlertOut.from_record(r) for r in page.items], next_cursor=page.next_cursor
    )
    return conditional(out, if_none_match)


def _stream_patient(
    principal: AlertsReader,
    patient_id: Annotated[
        str | None, Query(max_length=64, description="Only this patient's alerts.")
    ] = None,
) -> str | None:
    # A dependency, not the generator's body: that runs after the 200 has been sent.
    if patient_id is not None:
        restrict_patients(principal, patient_id)
    return patient_id


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    summary="Live alerts (Server-Sent Events)",
    responses={
        200: {
            "description": (
                "An endless `text/event-stream`. Each `alert` event's data is an `AlertOut` "
                "(new episodes and every change); clients upsert by `alert_id`. A `reset` event "
                "means the `Last-Event-ID` could not be resumed: refetch `/alerts`."
            )
        },
        **problem_responses(401, 403, 404, 422),
    },
)
async def stream_alerts(
    request: Request,
    principal: AlertsReader,
    services: ServicesDep,
    patient_id: Annotated[str | None, Depends(_stream_patient)],
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", max_length=100, description="Resume after this event."),
    ] = None,
) -> AsyncIterable[ServerSentEvent]:
    """New and changed alerts the caller may see, as they happen; resumable.

    FastAPI interleaves a keep-alive comment every 15 s of silence, so proxies keep the
    connection open. The stream ends when the caller's access token expires (a stolen token
    must not listen for ever), or within 30 s of its login being revoked (logout, a replayed
    refresh token): reconnect with a fresh token and ``Last-Event-ID``.
    """
    expires_at: float | None = getattr(request.state, "token_expires_at", None)
    session_id: str | None = getattr(request.state, "token_session_id", None)
    sub = services.hub.subscribe(last_event_id)
    services.metrics.sse_clients.inc()
    visible = principal
    refreshed = asyncio.get_running_loop().time()
    try:
        yield ServerSentEvent(comment="vigil alert stream", retry=SSE_RETRY_MS)
        if sub.reset:
            yield ServerSentEvent(event="reset", data={"reason": "cannot resume; refetch"})
        pending = list(sub.replay)
        while True:
            if expires_at is not None and services.clock() >= expires_at:
                return  # the token expired: nothing more on it (the client reconnects)
            while pending:
                ev = pending.pop(0)
                if visible.can_see(ev.patient_id) and patient_id in (None, ev.patient_id):
                    yield ServerSentEvent(event=ev.event, id=ev.id, data=ev.data)
            now = asyncio.get_running_loop().time()
            if now - refreshed >= VISIBILITY_REFRESH_S:
                if session_id is not None and not await asyncio.to_thread(
                    services.token_families.is_active, session_id
                ):
                    return  # the login was revoked: its tokens are dead, and so is the stream
                visible = await _refresh(services, principal)
                refreshed = now
            timeout = VISIBILITY_REFRESH_S
            if expires_at is not None:
                timeout = max(0.0, min(timeout, expires_at - services.clock()))
            try:
                got = await sub.get(timeout=timeout)
            except StopAsyncIteration:
                return
            if got is not None:
                pending.append(got)
    finally:
        sub.close()
        services.metrics.sse_clients.dec()


async def _refresh(services: Services, principal: Principal) -> Principal:
    fresh = await asyncio.to_thread(
        services.accounts.principal,
        "client" if principal.role == "app" else "user",
        principal.subject,
        principal.scopes,
    )
    # A deactivated caller keeps the connection but sees nothing more.
    return fresh or Principal(principal.subject, principal.role, visible_patients=frozenset())


@router.get(
    "/{alert_id}",
    response_model=AlertOut,
    summary="Get an alert",
    responses=problem_responses(401, 403, 404, 422, 503),
)
def get_alert(alert_id: AlertId, principal: AlertsReader, store: AlertStore) -> AlertOut:
    """One alert episode with its lifecycle state."""
    return AlertOut.from_record(_visible_record(store, principal, alert_id))


@router.get(
    "/{alert_id}/events",
    response_model=list[AlertEventOut],
    summary="An alert's history",
    responses=problem_responses(401, 403, 404, 422, 503),
)
def alert_events(
    alert_id: AlertId, principal: AlertsReader, store: AlertStore
) -> list[AlertEventOut]:
    """Every lifecycle event of the alert, oldest first: who did what, when."""
    _visible_record(store, principal, alert_id)
    return [AlertEventOut.from_event(e) for e in store.events(alert_id)]


def _act(
    services: Services,
    principal: Principal,
    alert_id: str,
    action: Action,
    *,
    note: str = "",
    until: datetime | None = None,
    assignee: str | None = None,
) -> AlertOut:
    store = services.alert_store
    _visible_record(store, principal, alert_id)
    try:
        result = store.record_action(
            alert_id, action, actor=principal.subject, note=note, until=until, assignee=assignee
        )
    except InvalidTransition as exc:
        raise Conflict(str(exc)) from exc
    if result is None:
        raise NotFound("alert not found")
    record, _event = result
    out = AlertOut.from_record(record)
    services.hub.publish("alert", record.alert.patient_id, out.model_dump(mode="json"))
    services.metrics.sse_events.inc()
    logger.info("alert %s: %s by %s", alert_id, action, principal.subject)
    return out


_ACTION_ERRORS = problem_responses(400, 401, 403, 404, 409, 422, 503)


@router.post(
    "/{alert_id}/ack", response_model=AlertOut, summary="Acknowledge", responses=_ACTION_ERRORS
)
def ack(
    alert_id: AlertId, principal: AlertsWriter, services: ServicesDep, body: AckIn | None = None
) -> AlertOut:
    """Someone is looking at it. Only an open alert can be acknowledged (else 409)."""
    return _act(services, principal, alert_id, "ack", note=(body or AckIn()).note)


@router.post(
    "/{alert_id}/resolve", response_model=AlertOut, summary="Resolve", responses=_ACTION_ERRORS
)
def resolve(
    alert_id: AlertId, principal: AlertsWriter, services: ServicesDep, body: ResolveIn | None = None
) -> AlertOut:
    """Handled; nothing more to do. Terminal: later actions other than notes get 409."""
    return _act(services, principal, alert_id, "resolve", note=(body or ResolveIn()).note)


@router.post(
    "/{alert_id}/snooze", response_model=AlertOut, summary="Snooze", responses=_ACTION_ERRORS
)
def snooze(
    alert_id: AlertId, body: SnoozeIn, principal: AlertsWriter, services: ServicesDep
) -> AlertOut:
    """Silence notifications for ``minutes``; the alert stays listed."""
    until = datetime.fromtimestamp(services.clock(), UTC) + timedelta(minutes=body.minutes)
    return _act(services, principal, alert_id, "snooze", note=body.note, until=until)


@router.post(
    "/{alert_id}/assign", response_model=AlertOut, summary="Assign", responses=_ACTION_ERRORS
)
def assign(
    alert_id: AlertId, body: AssignIn, principal: AlertsWriter, services: ServicesDep
) -> AlertOut:
    """Make a user responsible for the alert: an active clinician or admin who can see it.

    One answer for every assignee who cannot take it (unknown, inactive, a patient's login, or
    outside the patient's care team): the caller learns nothing about other accounts.
    """
    record = _visible_record(services.alert_store, principal, alert_id)  # 404 before all else
    assignee = services.accounts.principal("user", body.assignee)
    if (
        assignee is None
        or assignee.role not in ("clinician", "admin")
        or not assignee.can_see(record.alert.patient_id)
    ):
        raise BadRequest("no clinician of this patient's care team by that name")
    return _act(services, principal, alert_id, "assign", note=body.note, assignee=body.assignee)


@router.post(
    "/{alert_id}/note", response_model=AlertOut, summary="Add a note", responses=_ACTION_ERRORS
)
def note(
    alert_id: AlertId, body: NoteIn, principal: AlertsWriter, services: ServicesDep
) -> AlertOut:
    """Add a note to the alert's record (allowed in any state)."""
    return _act(services, principal, alert_id, "note", note=body.text)

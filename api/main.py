"""The API application factory: :func:`create_app` wires stores, registry, bus and routes.

Every collaborator is a parameter, so the same app runs in production (InfluxDB stores,
Kafka alert bus and config publisher, the registry database from settings: the defaults) and
embedded (SQLite stores, in-process bus and publisher: what ``vigil demo`` and the unit tests
pass in). The care-team dashboard's static files are served at ``/``, after every API route.

Examples
--------
>>> from alerts.store.sqlite import SqliteStore
>>> from ingest.registry import Registry
>>> from api.config_publisher import InMemoryConfigPublisher
>>> from api.live import InMemoryAlertBus
>>> store = SqliteStore(":memory:")
>>> app = create_app(
...     ApiSettings(_env_file=None, secret_key="s" * 32),
...     registry=Registry("sqlite://"), alert_store=store, vitals_store=store,
...     alert_bus=InMemoryAlertBus(), config_publisher=InMemoryConfigPublisher(), probes={},
... )
>>> from fastapi.routing import iter_route_contexts
>>> paths = {rc.path for rc in iter_route_contexts(app.routes)}
>>> sorted(paths & {"/healthz", "/api/v1/alerts", "/fhir/r4/Flag"})
['/api/v1/alerts', '/fhir/r4/Flag', '/healthz']
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import iter_route_contexts

from alerts.exceptions import BadCursor, InvalidTransition, StoreUnavailable
from alerts.lifecycle import initial_state
from alerts.model import Alert
from alerts.store import AlertRecord, AlertStore, VitalsStore
from api.accounts import schema as _schema  # noqa: F401 - registers the API's tables
from api.accounts.audit import AuditLog
from api.accounts.migrations import upgrade_schema
from api.accounts.patients import PatientDirectory
from api.accounts.thresholds import ThresholdRepository
from api.accounts.token_families import TokenFamilies
from api.accounts.users import Accounts
from api.config_publisher import KafkaConfigPublisher, PatientConfigPublisher
from api.dashboard import mount_dashboard
from api.exceptions import ApiError, BadRequest, Conflict, ServiceUnavailable
from api.live import AlertBus, AlertHub
from api.metrics import ApiMetrics, MetricsMiddleware
from api.openapi import tidy_openapi
from api.problems import for_fhir_clients, install_problem_handlers
from api.readiness import Probe, influx_probe, kafka_probe, sql_probe
from api.routes import admin, alerts, auth, devices, fhir, health, patients, thresholds, vitals
from api.schemas.alerts import AlertOut
from api.security import TokenKeys
from api.services import Services
from api.settings import ApiSettings, get_api_settings
from ingest.registry import Registry, RegistryBase
from ingest.topics import TopicNames
from vigil import __version__

__all__ = ["API_PREFIX", "FHIR_PREFIX", "create_app"]

logger = logging.getLogger(__name__)
#: Held while an app builds its OpenAPI schema (see ``create_app``).
_OPENAPI_BUILD = threading.Lock()

API_PREFIX = "/api/v1"
FHIR_PREFIX = "/fhir/r4"

DESCRIPTION = """\
Remote patient monitoring: patients and devices, vitals and NEWS2, alerts with their
lifecycle and a live stream, per-patient thresholds, and FHIR R4 read access.

**Authentication.** `POST /api/v1/auth/token` with the OAuth 2.0 password grant (people) or
client-credentials grant (apps), then send `Authorization: Bearer <access_token>`. Every route
needs a token except `/healthz`, `/readyz` and `/metrics`. People also get a refresh token:
the `refresh_token` grant exchanges it for a new pair of the same login, which ends
`VIGIL_REFRESH_TOKEN_HOURS` after sign-in however often it is refreshed. A refresh token works
once: presenting a used one again answers 401 and revokes the whole login (RFC 9700 section
4.14.2), except that the one just used may be sent again within
`VIGIL_REFRESH_REUSE_GRACE_SECONDS` (30 s) of its refresh, as a second tab or a retry after a
lost response would, and gets the same new refresh token back. `POST /api/v1/auth/revoke`
(RFC 7009) logs out.

**Authorization.** Roles: `admin` (everything), `clinician` (the patients of their care
teams), `patient` (only their own data), `app` (its granted scopes and patients or teams).
Another patient's data answers 404, whether or not it exists.

**Errors** are RFC 9457 `application/problem+json`; under `/fhir/r4`, a client asking for
`application/fhir+json` gets a FHIR `OperationOutcome`.
"""

TAGS = [
    {"name": "auth", "description": "Tokens (OAuth 2.0) and the caller's identity."},
    {"name": "patients", "description": "Patients and their care teams."},
    {"name": "devices", "description": "Device enrolment (MQTT credentials) and revocation."},
    {"name": "vitals", "description": "Latest vitals, history from rollups, NEWS2."},
    {"name": "alerts", "description": "Alerts, their lifecycle, the live stream (SSE)."},
    {"name": "thresholds", "description": "Per-patient thresholds and overrides (audited)."},
    {"name": "admin", "description": "Users, care teams, app clients, audit log (admin)."},
    {"name": "fhir", "description": "FHIR R4: vital-signs Observations and alert Flags."},
    {"name": "ops", "description": "Liveness, readiness, Prometheus metrics (no token)."},
]


def _signing_key(settings: ApiSettings) -> str:
    # HS256 wants >= 256-bit keys (RFC 7518 3.2); derive one from whatever secret is set.
    secret = settings.secret_key.get_secret_value().encode()
    return hashlib.sha256(b"vigil-jwt\x00" + secret).hexdigest()


def _default_device_sync(registry: Registry) -> Callable[[], None] | None:
    from ingest.broker_auth import BrokerAuthSync
    from ingest.settings import get_ingest_settings

    sync = BrokerAuthSync.from_settings(get_ingest_settings())
    if sync is None:
        return None
    broker = sync

    def device_sync() -> None:
        broker.sync(registry.broker_credentials())

    return device_sync


def create_app(
    settings: ApiSettings | None = None,
    *,
    registry: Registry | None = None,
    alert_store: AlertStore | None = None,
    vitals_store: VitalsStore | None = None,
    alert_bus: AlertBus | None = None,
    config_publisher: PatientConfigPublisher | None = None,
    probes: Mapping[str, Probe] | None = None,
    device_sync: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.time,
    data_clock: Callable[[], float] | None = None,
) -> FastAPI:
    """Build the Vigil API.

    Parameters
    ----------
    settings
        API settings (default: from the environment).
    registry
        The registry (patients, devices) whose database also holds users, teams, app clients,
        thresholds and the audit log (default: ``VIGIL_REGISTRY_URL``).
    alert_store, vitals_store
        Storage (default: the configured :func:`alerts.store.open_store`, InfluxDB).
    alert_bus
        Source of new alert records for the live stream (default: Kafka ``vigil.alerts``).
    config_publisher
        Where threshold changes go (default: Kafka ``vigil.patient-config``).
    probes
        Readiness probes by name (default: the registry, plus Kafka and InfluxDB when this
        factory builds the Kafka and InfluxDB collaborators itself).
    device_sync
        Called after a device is enrolled or revoked to update the MQTT broker's credentials
        (default: rewrite the Mosquitto password file if ``VIGIL_MQTT_PASSWORD_FILE`` is set).
    clock
        Epoch-seconds clock for token expiry and snoozes (tests move it).
    data_clock
        Event-time clock for default query windows such as "the last 24 h" (default:
        ``clock``); the embedded demo passes its simulated clock, which runs ahead.
    """
    settings = settings or get_api_settings()
    topics = TopicNames(settings.topic_prefix)
    owned: list[Callable[[], object]] = []
    # Readiness follows what this process depends on: the defaults it builds below.
    default_probes: dict[str, Probe] = {}
    if registry is None:
        registry = Registry(settings.registry_database_url)
        owned.append(registry.close)
    default_probes["registry"] = sql_probe(registry.engine)
    RegistryBase.metadata.create_all(registry.engine)
    upgrade_schema(registry.engine)  # columns added since an older Vigil made the tables
    if alert_store is None or vitals_store is None:
        from alerts.settings import get_alerts_settings
        from alerts.store import open_store

        alerts_settings = get_alerts_settings()
        store = open_store(alerts_settings)
        owned.append(store.close)
        alert_store = alert_store or store
        vitals_store = vitals_store or store
        if alerts_settings.store == "influx":
            default_probes["influxdb"] = influx_probe(alerts_settings.influx_url)
    if config_publisher is None:
        config_publisher = KafkaConfigPublisher(settings.kafka_bootstrap, topics.patient_config)
        owned.append(config_publisher.close)
        default_probes["kafka"] = kafka_probe(settings.kafka_bootstrap)
    if alert_bus is None:
        from api.kafka_bus import KafkaAlertBus

        kafka_bus = KafkaAlertBus(settings.kafka_bootstrap, topics.alerts)
        alert_bus = kafka_bus
        default_probes["kafka"] = kafka_probe(settings.kafka_bootstrap)
        default_probes["alert-stream"] = kafka_bus.probe
    if probes is None:
        probes = default_probes
    if device_sync is None:
        device_sync = _default_device_sync(registry)
    services = Services(
        settings=settings,
        registry=registry,
        accounts=Accounts(registry.session),
        patients=PatientDirectory(registry.session),
        audit=AuditLog(registry.session),
        thresholds=ThresholdRepository(registry.session, config_publisher),
        alert_store=alert_store,
        vitals_store=vitals_store,
        hub=AlertHub(buffer=settings.sse_replay_buffer),
        bus=alert_bus,
        publisher=config_publisher,
        probes=dict(probes),
        keys=TokenKeys(secret=_signing_key(settings), issuer=settings.jwt_issuer),
        token_families=TokenFamilies(
            registry.session, reuse_grace_s=settings.refresh_reuse_grace_seconds
        ),
        metrics=ApiMetrics(),
        device_sync=device_sync,
        clock=clock,
        data_clock=data_clock,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.hub.attach(asyncio.get_running_loop())
        pump = asyncio.create_task(_pump(services), name="vigil-alert-pump")
        try:
            yield
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            with contextlib.suppress(Exception):
                await services.bus.stop()
            services.hub.close()
            for close in reversed(owned):
                with contextlib.suppress(Exception):
                    close()

    app = FastAPI(
        title="Vigil API",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
    )
    app.state.services = services
    install_problem_handlers(app, fhir_prefix=FHIR_PREFIX)
    _install_domain_errors(app)
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    for router in (auth, patients, devices, vitals, alerts, thresholds, admin):
        app.include_router(router.router, prefix=API_PREFIX)
    app.include_router(fhir.router, prefix=FHIR_PREFIX)
    app.include_router(health.router)
    # Last, so /api/v1, /fhir/r4 and the ops routes keep precedence over the static files.
    mount_dashboard(app)
    _build_routes(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            # built on first use (100 ms: an app per test must not pay it), one build at a
            # time in the process: FastAPI swaps the process-wide warnings filters meanwhile
            # (see _build_routes)
            with _OPENAPI_BUILD:
                if app.openapi_schema is None:
                    schema = get_openapi(
                        title=app.title,
                        version=app.version,
                        description=app.description,
                        routes=app.routes,
                        tags=app.openapi_tags,
                        license_info=app.license_info,
                    )
                    app.openapi_schema = tidy_openapi(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _build_routes(app: FastAPI) -> None:
    """Build every route of ``app`` now, so that serving a request builds no validator.

    FastAPI builds the routes of an included router (their parameter, body and response
    validators) on the first request that reaches it, silencing pydantic's warnings meanwhile
    with ``warnings.catch_warnings``, which swaps the process-wide filters and is not
    thread-safe. Two apps in one process serving their first requests at once (replicas in a
    test, each on its own event loop thread) then build in two threads; one build restores
    the filters under the other, whose silenced warning escapes: an error under ``-W error``
    (a 500), a stray line on stderr otherwise. One app under uvicorn builds on its one event
    loop, but stalls it meanwhile. Built here, in the thread that builds the app, first
    requests only read.
    """
    for _ in iter_route_contexts(app.routes):
        pass


def _install_domain_errors(app: FastAPI) -> None:
    """Map the stores' errors to problems: outage 503, bad cursor 400, bad transition 409."""
    from api.problems import problem_response  # local: keeps the handler table readable

    async def handler(request: Any, exc: Exception) -> Any:
        mapped: ApiError
        if isinstance(exc, StoreUnavailable):
            mapped = ServiceUnavailable("storage is unavailable; try again")
        elif isinstance(exc, BadCursor):
            mapped = BadRequest("malformed cursor")
        else:
            mapped = Conflict(str(exc))
        return problem_response(
            mapped.status, title=mapped.title, detail=mapped.detail, instance=request.url.path
        )

    for exc_type in (StoreUnavailable, BadCursor, InvalidTransition):
        app.add_exception_handler(exc_type, for_fhir_clients(handler, FHIR_PREFIX))


def _live_record(services: Services, alert: Alert) -> AlertRecord:
    """The full view of a just-received alert record for the live stream.

    A new episode (``seq`` 0) has no lifecycle yet, so no store round trip is needed; a later
    record of an episode takes its lifecycle state from the store (best effort: the sink may
    not have stored it yet, or the store may be down).
    """
    fresh = AlertRecord(
        alert=alert,
        opened_at=alert.detected_at if alert.seq == 0 else alert.started_at,
        state=initial_state(alert.alert_id),
    )
    if alert.seq == 0:
        return fresh
    try:
        stored = services.alert_store.get_alert(alert.alert_id)
    except Exception:  # the live view degrades; the REST list stays authoritative
        logger.warning("store lookup for live alert %s failed", alert.alert_id)
        return fresh
    if stored is None:
        return fresh
    newest = alert if alert.seq >= stored.alert.seq else stored.alert
    return AlertRecord(alert=newest, opened_at=stored.opened_at, state=stored.state)


async def _pump(services: Services) -> None:
    """Feed the alert bus into the live hub, reconnecting with backoff on failure."""
    backoff = 1.0
    while True:
        try:
            await services.bus.start()
            backoff = 1.0
            async for alert in services.bus.alerts():
                services.metrics.alerts_received.inc()
                record = (
                    _live_record(services, alert)
                    if alert.seq == 0
                    else await asyncio.to_thread(_live_record, services, alert)
                )
                out = AlertOut.from_record(record).model_dump(mode="json")
                services.hub.publish("alert", alert.patient_id, out)
                services.metrics.sse_events.inc()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Kafka down, topic missing: the REST API keeps serving
            logger.warning(
                "alert bus unavailable (%s: %s); retrying in %.0f s",
                type(exc).__name__,
                exc,
                backoff,
            )
            with contextlib.suppress(Exception):
                await services.bus.stop()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)

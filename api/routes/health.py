"""Operations: liveness, readiness, Prometheus metrics. The only routes without a token."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from api.deps import ServicesDep
from api.metrics import PROMETHEUS_CONTENT_TYPE
from api.readiness import check_all

router = APIRouter(tags=["ops"])


class Health(BaseModel):
    """Liveness."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str


class Readiness(BaseModel):
    """Readiness with one entry per dependency."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "ok", "checks": {"influxdb": "ok", "kafka": "ok", "registry": "ok"}}
            ]
        }
    )

    status: str
    checks: dict[str, str]


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    """The process is up and serving."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness",
    responses={503: {"model": Readiness, "description": "A dependency is unreachable."}},
)
async def readyz(services: ServicesDep) -> JSONResponse:
    """Kafka, InfluxDB and the registry all answer (503 otherwise, naming the failing ones)."""
    checks = await check_all(services.probes, timeout_s=services.settings.probe_timeout_seconds)
    ok = all(v == "ok" for v in checks.values())
    body = Readiness(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {PROMETHEUS_CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
def metrics(services: ServicesDep) -> Response:
    """Request counts and latencies by route template, live-stream clients (text format)."""
    return Response(services.metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)

"""Errors as RFC 9457 problems (never a stack trace), the OpenAPI document, and the ops routes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from alerts.exceptions import StoreUnavailable
from alerts.store import AlertPage, AlertQuery
from tests.api.conftest import TestClient
from tests.api.world import World, build_world

PROBLEM = "application/problem+json"


def test_unknown_routes_and_methods_are_problems(world: World, client: TestClient) -> None:
    missing = client.get("/api/v1/nothing-here", headers=world.auth("admin"))
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    assert missing.json()["instance"] == "/api/v1/nothing-here"
    wrong = client.delete("/api/v1/alerts", headers=world.auth("admin"))
    assert wrong.status_code == 405 and wrong.headers["content-type"] == PROBLEM


def test_validation_problems_list_the_fields_but_never_echo_the_input(
    world: World, client: TestClient
) -> None:
    secret = "hunter2-but-longer"
    r = client.post(
        "/api/v1/users",
        json={"username": "bad name!", "password": secret, "role": "wizard"},
        headers=world.auth("admin"),
    )
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    problem = r.json()
    assert problem["type"] == "urn:vigil:problem:validation-error"
    assert {tuple(e["loc"]) for e in problem["errors"]} >= {("body", "username"), ("body", "role")}
    assert secret not in r.text and "wizard" not in r.text


def test_a_json_body_sent_as_text_is_told_what_to_send(world: World, client: TestClient) -> None:
    r = client.put(
        "/api/v1/patients/P1/thresholds",
        content=b'{"spo2_scale": 2}',
        headers={**world.auth("nurse"), "Content-Type": "text/plain"},
    )
    assert r.status_code == 422
    assert r.json()["detail"].startswith("the body must be JSON (Content-Type: application/json)")


class ExplodingStore:
    """An alert store whose list fails like a bug, or like an outage."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def list_alerts(self, query: AlertQuery) -> AlertPage:
        raise self.exc


def test_an_unexpected_error_is_a_bare_500_problem_without_internals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    w = build_world()
    w.services.alert_store = ExplodingStore(RuntimeError("hr=187 secret internal detail"))  # type: ignore[assignment]
    with TestClient(w.app, raise_server_exceptions=False) as client:
        r = client.get("/api/v1/alerts", headers=w.auth("admin"))
    assert r.status_code == 500 and r.headers["content-type"] == PROBLEM
    assert "secret internal detail" not in r.text and "Traceback" not in r.text
    # the log has where it failed, not what the message said (it may quote data)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "unhandled RuntimeError on GET /api/v1/alerts" in logged and "list_alerts" in logged
    assert "hr=187" not in logged


def test_a_storage_outage_is_a_503_problem() -> None:
    w = build_world()
    w.services.alert_store = ExplodingStore(StoreUnavailable("influx down"))  # type: ignore[assignment]
    with TestClient(w.app) as client:
        r = client.get("/api/v1/alerts", headers=w.auth("admin"))
    assert r.status_code == 503 and r.headers["content-type"] == PROBLEM


def test_health_and_readiness(world: World, client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200

    async def down() -> None:
        raise ConnectionRefusedError

    world.services.probes = {"kafka": down}
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"] == {"kafka": "down: ConnectionRefusedError"}


def test_metrics_label_routes_by_template_and_never_by_patient(
    world: World, client: TestClient
) -> None:
    client.get("/api/v1/patients/P3/vitals/latest", headers=world.auth("admin"))
    text = client.get("/metrics").text
    assert 'route="/api/v1/patients/{patient_id}/vitals/latest"' in text
    assert "P3" not in text


def _operations(doc: dict[str, Any]) -> Sequence[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, item in doc["paths"].items() for m, op in item.items()]


def test_the_openapi_document_is_complete(world: World) -> None:
    doc = world.app.openapi()
    schemas = doc["components"]["schemas"]
    public = {"/healthz", "/readyz", "/metrics", "/api/v1/auth/token", "/api/v1/auth/revoke"}
    for method, path, op in _operations(doc):
        where = f"{method.upper()} {path}"
        assert op.get("summary") and op.get("description"), where
        assert bool(op.get("security")) == (path not in public), where
        for status, response in op["responses"].items():
            if int(status) >= 400 and not (path == "/readyz" and status == "503"):
                assert list(response["content"]) == [PROBLEM], where
            for media in response.get("content", {}).values():
                ref = media.get("schema", {}).get("$ref")
                if ref and status.startswith("2"):
                    assert schemas[ref.rsplit("/", 1)[1]].get("examples"), (
                        f"{where} {status} example"
                    )
        ref = (
            op.get("requestBody", {})
            .get("content", {})
            .get("application/json", {})
            .get("schema", {})
            .get("$ref")
        )
        if ref:
            assert schemas[ref.rsplit("/", 1)[1]].get("examples"), f"{where} request example"
    assert set(doc["components"]["securitySchemes"]["OAuth2"]["flows"]) == {
        "password",
        "clientCredentials",
    }

"""Isolation, enumerated over the app's routes so that a new route cannot escape it.

The routes come from the running app (``iter_route_contexts(app.routes)``), not from a list
kept by hand. Every route that names a patient, directly (``{patient_id}``, ``?patient=``,
``?patient_id=``) or through something that belongs to one (``{alert_id}``,
``{device_id}``), is called by each caller on a patient outside their reach and must answer
403 or 404; the same request by an admin must not, which proves the refusal comes from the
caller's reach and not from a malformed request. Every API route answers 401 without a
token, except the few that are public by design, which are listed here explicitly so that
adding another public route is a conscious act. Requests go over a real socket (the live
stream is one of the routes and never ends).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from tests.api.conftest import LiveServer
from tests.api.world import World

#: Routes that answer without a token, by design.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/api/v1/auth/token"),
    # Logout (RFC 7009): the token being revoked is the credential.
    ("POST", "/api/v1/auth/revoke"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    # The dashboard's static files (mounted at "/"): no data, which it reads through the API.
    ("GET", ""),
}
#: Path and query parameters that name a patient or something that belongs to one.
PATIENT_PATH = {"patient_id", "alert_id", "device_id"}
PATIENT_QUERY = {"patient", "patient_id"}

#: (caller, a patient outside the caller's reach) — every role, and both directions.
CROSSINGS = [
    ("patient1", "P3"),
    ("patient3", "P1"),
    ("nurse", "P3"),
    ("nurse-b", "P1"),
    ("nurse-b", "P2"),
    ("telemed", "P3"),
    ("telemed", "P2"),
]


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    path_params: frozenset[str]
    query_params: frozenset[str]
    body: dict[str, Any] | None

    @property
    def takes_patient(self) -> bool:
        return bool(self.path_params & PATIENT_PATH or self.query_params & PATIENT_QUERY)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def api_operations(world: World) -> list[Op]:
    """Every HTTP operation of the app, with its parameters and an example body.

    Path parameters come from the route's template; query parameters (including those of
    sub-dependencies) and the body example from the route's OpenAPI operation. A route left
    out of the document is reported, unless it is public by design.
    """
    doc = world.app.openapi()
    schemas = doc["components"]["schemas"]
    ops = []
    for rc in iter_route_contexts(world.app.routes):
        if not isinstance(rc.original_route, APIRoute):
            continue
        path = str(rc.path)
        path_params = frozenset(re.findall(r"{(\w+)(?::\w+)?}", path))
        for method in sorted(rc.methods or ()):
            body = None
            spec = doc["paths"].get(path, {}).get(method.lower())
            if spec is None:
                assert (method, path) in PUBLIC, f"{method} {path} is not documented"
                spec = {}
            query_params = frozenset(
                p["name"] for p in spec.get("parameters", []) if p["in"] == "query"
            )
            content = spec.get("requestBody", {}).get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref")
            if ref:
                body = schemas[ref.rsplit("/", 1)[1]]["examples"][0]
            ops.append(Op(method, path, path_params, query_params, body))
    return ops


def request_for(world: World, op: Op, patient: str) -> tuple[str, dict[str, str]]:
    """The URL and query of ``op`` aimed at ``patient`` (their alert, their device)."""
    device = {"P1": "watch-1", "P3": "watch-3", "P2": "watch-2"}[patient]
    values = {
        "patient_id": patient,
        "alert_id": world.alerts[patient][0].alert_id,
        "device_id": device,
        "team_id": "ward-a",
    }
    path = op.path
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    query = {q: patient for q in op.query_params & PATIENT_QUERY}
    return path, query


def call(client: httpx.Client, op: Op, path: str, query: dict[str, str], token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with client.stream(op.method, path, params=query, json=op.body, headers=headers) as r:
        return r.status_code  # the body is never read: the live stream does not end


@pytest.fixture(scope="module")
def shared_http(shared_live_server: LiveServer) -> Iterator[httpx.Client]:
    """A client of the module's shared world: for requests that are refused or only read."""
    with httpx.Client(base_url=shared_live_server.base_url, timeout=10) as c:
        yield c


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    """A client of this test's own world: for requests that change it."""
    with httpx.Client(base_url=live_server.base_url, timeout=10) as c:
        yield c


def test_the_enumeration_finds_every_kind_of_patient_route(world: World) -> None:
    ops = [op for op in api_operations(world) if op.takes_patient]
    paths = {op.path for op in ops}
    # Guards the guard: if enumeration silently found nothing, isolation would pass vacuously.
    assert len(ops) >= 20
    assert {
        "/api/v1/patients/{patient_id}",
        "/api/v1/patients/{patient_id}/vitals",
        "/api/v1/alerts/{alert_id}/ack",
        "/api/v1/devices/{device_id}/revoke",
        "/api/v1/alerts/stream",
        "/fhir/r4/Observation",
        "/fhir/r4/Flag",
    } <= paths


def test_no_token_gets_401_on_every_api_route(
    shared_world: World, shared_http: httpx.Client
) -> None:
    wrong = []
    for op in api_operations(shared_world):
        if (op.method, op.path) in PUBLIC:
            continue
        path, query = request_for(shared_world, op, "P1")
        status = call(shared_http, op, path, query, token=None)
        if status != 401:
            wrong.append(f"{op}: {status}")
    assert not wrong, wrong


def test_every_route_outside_the_api_prefixes_is_public_by_design(world: World) -> None:
    # Routes under /api/v1 and /fhir/r4 are held to 401 above; anything else must be listed.
    public_paths = {path for _, path in PUBLIC}
    stray = {
        str(rc.path)
        for rc in iter_route_contexts(world.app.routes)
        if not str(rc.path).startswith(("/api/v1/", "/fhir/r4/"))
    } - public_paths
    assert not stray


def test_a_token_with_a_bad_signature_or_wrong_type_gets_401(
    shared_world: World, shared_http: httpx.Client
) -> None:
    forged = shared_world.token("admin")[:-4] + "AAAA"
    op = Op("GET", "/api/v1/alerts", frozenset(), frozenset(), None)
    assert call(shared_http, op, "/api/v1/alerts", {}, forged) == 401
    refresh = shared_world.services.keys
    from api.security import issue_token

    as_refresh = issue_token(
        refresh,
        subject="admin",
        kind="user",
        token_type="refresh",
        ttl_s=60,
        now=shared_world.now[0],
    )
    assert call(shared_http, op, "/api/v1/alerts", {}, as_refresh) == 401


@pytest.mark.parametrize(("caller", "patient"), CROSSINGS)
def test_callers_get_403_or_404_on_every_route_of_a_patient_outside_their_reach(
    shared_world: World, shared_http: httpx.Client, caller: str, patient: str
) -> None:
    token = shared_world.token(caller)
    admin = shared_world.token("admin")
    leaks, vacuous = [], []
    for op in api_operations(shared_world):
        if not op.takes_patient:
            continue
        path, query = request_for(shared_world, op, patient)
        status = call(shared_http, op, path, query, token)
        if status not in (403, 404):
            leaks.append(f"{op} as {caller} on {patient}: {status}")
        if op.method == "GET":
            # The admin reaches the same data with the same request: the refusal is isolation.
            control = call(shared_http, op, path, query, admin)
            if control in (401, 403, 404, 422):
                vacuous.append(f"{op} as admin on {patient}: {control}")
    assert not leaks, leaks
    assert not vacuous, vacuous


def _listed_patients(http: httpx.Client, token: str) -> tuple[set[str], set[str]]:
    headers = {"Authorization": f"Bearer {token}"}
    alerts = http.get("/api/v1/alerts", params={"limit": 200}, headers=headers)
    patients = http.get("/api/v1/patients", headers=headers)
    assert alerts.status_code == 200 and patients.status_code == 200
    return (
        {a["patient_id"] for a in alerts.json()["items"]},
        {p["patient_id"] for p in patients.json()["items"]},
    )


@pytest.mark.parametrize(
    ("caller", "visible"),
    [
        ("patient1", {"P1"}),
        ("patient3", {"P3"}),
        ("nurse", {"P1", "P2"}),
        ("nurse-b", {"P3"}),
        ("telemed", {"P1"}),
        ("admin", {"P1", "P2", "P3"}),
    ],
)
def test_lists_show_exactly_the_callers_patients(
    shared_world: World, shared_http: httpx.Client, caller: str, visible: set[str]
) -> None:
    alert_patients, patients = _listed_patients(shared_http, shared_world.token(caller))
    assert patients == visible
    assert alert_patients == visible


def test_removing_a_patient_from_a_team_hides_them_at_once(
    world: World, http: httpx.Client
) -> None:
    token = world.token("nurse")
    headers = {"Authorization": f"Bearer {token}"}
    assert http.get("/api/v1/patients/P2", headers=headers).status_code == 200
    world.accounts.set_patient_teams("P2", [])
    assert http.get("/api/v1/patients/P2", headers=headers).status_code == 404
    assert _listed_patients(http, token) == ({"P1"}, {"P1"})


def test_an_app_token_carries_only_the_scopes_it_was_issued(
    shared_world: World, shared_http: httpx.Client
) -> None:
    narrow = shared_world.token("telemed", scopes=frozenset({"vitals:read"}))
    headers = {"Authorization": f"Bearer {narrow}"}
    assert shared_http.get("/api/v1/patients/P1/vitals/latest", headers=headers).status_code == 200
    assert shared_http.get("/api/v1/alerts", headers=headers).status_code == 403
    assert shared_http.post("/api/v1/alerts/x/ack", headers=headers).status_code == 403

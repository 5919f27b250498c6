"""Per-patient thresholds: validated, versioned, audited, published to detection atomically."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, MutableMapping
from typing import Any

import pytest

from api.config_publisher import PatientConfigPublisher
from api.exceptions import ServiceUnavailable
from stream.detect.config import PatientConfig
from tests.api.conftest import TestClient
from tests.api.world import World, build_world

URL = "/api/v1/patients/P1/thresholds"
CHANGE = {"spo2_scale": 2, "on_oxygen": True, "thresholds": {"hr": {"low": 40, "high": 125}}}


def test_a_patient_without_settings_reads_the_defaults_at_version_0(
    world: World, client: TestClient
) -> None:
    r = client.get(URL, headers=world.auth("nurse"))
    assert r.status_code == 200 and r.headers["etag"] == '"v0"'
    assert r.json()["version"] == 0 and r.json()["spo2_scale"] == 1 and r.json()["thresholds"] == {}


def test_a_change_is_stored_published_and_audited_with_the_actor(
    world: World, client: TestClient
) -> None:
    r = client.put(URL, json=CHANGE, headers=world.auth("nurse"))
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["updated_by"], r.headers["etag"]) == (1, "nurse", '"v1"')
    published = PatientConfig.from_dict(world.publisher.current["P1"])
    assert published.spo2_scale == 2 and published.on_oxygen
    assert published.thresholds["hr"] == (40.0, 125.0)
    audit = client.get("/api/v1/audit", params={"patient_id": "P1"}, headers=world.auth("admin"))
    entry = audit.json()["items"][0]
    assert (entry["action"], entry["actor"]) == ("thresholds.update", "nurse")
    assert (
        entry["detail"]["before"]["spo2_scale"] == 1 and entry["detail"]["after"]["spo2_scale"] == 2
    )


def test_if_match_guards_against_overwriting_someone_elses_change(
    world: World, client: TestClient
) -> None:
    headers = world.auth("nurse")
    assert client.put(URL, json=CHANGE, headers={**headers, "If-Match": '"v0"'}).status_code == 200
    stale = client.put(URL, json={"spo2_scale": 1}, headers={**headers, "If-Match": '"v0"'})
    assert stale.status_code == 412
    assert client.get(URL, headers=headers).json()["spo2_scale"] == 2


def test_an_if_match_that_is_not_one_of_our_etags_is_a_400(world: World) -> None:
    # Raw bytes over ASGI: test clients would re-encode a latin-1 header value.
    async def call(if_match: bytes) -> tuple[int, bytes]:
        body = b'{"spo2_scale": 1}'
        headers = [
            (b"authorization", world.auth("nurse")["Authorization"].encode()),
            (b"content-type", b"application/json"),
            (b"if-match", if_match),
        ]
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PUT",
            "scheme": "http", "path": URL, "raw_path": URL.encode(), "query_string": b"",
            "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
            "server": ("testserver", 80),
        }  # fmt: skip
        sent: list[MutableMapping[str, Any]] = []
        received = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return received.pop(0) if received else {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        await world.app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        return start["status"], b"".join(m.get("body", b"") for m in sent)

    for tag in (b'"v\xb2"', b'"v\xb9"', b'"x1"'):
        status, text = asyncio.run(call(tag))
        assert status == 400 and b"If-Match must be an ETag" in text, (tag, status, text)


@pytest.mark.parametrize(
    "body",
    [
        {"thresholds": {"hr": {"low": 130, "high": 40}}},  # inverted
        {"thresholds": {"hr": {"low": 5, "high": 40}}},  # below the physiological range
        {"thresholds": {"bogus": {"low": 1, "high": 2}}},  # not a vital
        {"spo2_scale": 3},
        {"consciousness": "Z"},
        {"snooze_until": "1900-01-01T00:00:00Z"},
        {"unknown_field": 1},
    ],
)
def test_invalid_settings_are_refused_and_nothing_changes(
    world: World, client: TestClient, body: dict[str, Any]
) -> None:
    r = client.put(URL, json=body, headers=world.auth("nurse"))
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert "P1" not in world.publisher.current


def test_patients_read_but_do_not_change_their_settings(world: World, client: TestClient) -> None:
    headers = world.auth("patient1")
    assert client.get(URL, headers=headers).status_code == 200
    assert client.put(URL, json=CHANGE, headers=headers).status_code == 403


class DownPublisher(PatientConfigPublisher):
    def publish(self, patient_id: str, config: Mapping[str, Any]) -> None:
        raise ServiceUnavailable("kafka is down")


def test_when_publishing_fails_nothing_is_stored_or_audited() -> None:
    w = build_world(config_publisher=DownPublisher())
    with TestClient(w.app) as client:
        r = client.put(URL, json=CHANGE, headers=w.auth("nurse"))
        assert r.status_code == 503
        assert client.get(URL, headers=w.auth("nurse")).json()["version"] == 0
        audit = client.get("/api/v1/audit", headers=w.auth("admin")).json()["items"]
    assert not [e for e in audit if e["action"] == "thresholds.update"]

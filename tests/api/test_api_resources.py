"""Patients, devices, vitals, NEWS2 and administration over REST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.conftest import TestClient
from tests.api.world import T_NOW, World

# -- patients -----------------------------------------------------------------------------


def test_an_admin_registers_a_patient_with_care_teams(world: World, client: TestClient) -> None:
    admin = world.auth("admin")
    body = {"patient_id": "P9", "name": "Bed 9", "teams": ["ward-a"]}
    r = client.post("/api/v1/patients", json=body, headers=admin)
    assert r.status_code == 201 and r.headers["location"] == "/api/v1/patients/P9"
    assert r.json()["teams"] == ["ward-a"]
    assert client.get("/api/v1/patients/P9", headers=world.auth("nurse")).status_code == 200
    assert client.post("/api/v1/patients", json=body, headers=admin).status_code == 409
    unknown_team = {"patient_id": "P10", "teams": ["nowhere"]}
    assert client.post("/api/v1/patients", json=unknown_team, headers=admin).status_code == 400
    assert (
        client.post(
            "/api/v1/patients", json={"patient_id": "P11"}, headers=world.auth("nurse")
        ).status_code
        == 403
    )


def test_clinicians_rename_their_patients_and_it_is_audited(
    world: World, client: TestClient
) -> None:
    r = client.patch("/api/v1/patients/P1", json={"name": "Bed 1A"}, headers=world.auth("nurse"))
    assert r.status_code == 200 and r.json()["name"] == "Bed 1A"
    assert (
        client.patch(
            "/api/v1/patients/P1", json={"name": "x"}, headers=world.auth("patient1")
        ).status_code
        == 403
    )
    audit = client.get(
        "/api/v1/audit", params={"patient_id": "P1"}, headers=world.auth("admin")
    ).json()
    assert audit["items"][0]["action"] == "patient.update"


def test_care_team_assignment_moves_a_patient_between_clinicians(
    world: World, client: TestClient
) -> None:
    r = client.put(
        "/api/v1/patients/P3/teams", json={"teams": ["ward-a"]}, headers=world.auth("admin")
    )
    assert r.json()["teams"] == ["ward-a"]
    assert client.get("/api/v1/patients/P3", headers=world.auth("nurse")).status_code == 200
    assert client.get("/api/v1/patients/P3", headers=world.auth("nurse-b")).status_code == 404
    assert (
        client.put(
            "/api/v1/patients/P3/teams", json={"teams": []}, headers=world.auth("nurse")
        ).status_code
        == 403
    )


def test_patient_pages_follow_the_cursor(world: World, client: TestClient) -> None:
    headers = world.auth("admin")
    first = client.get("/api/v1/patients", params={"limit": 2}, headers=headers).json()
    second = client.get(
        "/api/v1/patients", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
    ).json()
    assert [p["patient_id"] for p in first["items"] + second["items"]] == ["P1", "P2", "P3"]
    assert second["next_cursor"] is None


# -- devices ------------------------------------------------------------------------------


def test_enrolling_a_device_shows_its_mqtt_credentials_once(
    world: World, client: TestClient
) -> None:
    synced: list[bool] = []
    world.services.device_sync = lambda: synced.append(True)
    headers = world.auth("nurse")
    r = client.post("/api/v1/patients/P1/devices", json={"device_id": "watch-9"}, headers=headers)
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    creds = r.json()
    assert creds["mqtt_username"] == "watch-9" and len(creds["mqtt_password"]) >= 32
    assert creds["mqtt_topic"] == "vigil/v1/devices/watch-9/vitals"
    assert synced == [True]  # the broker learns the new credentials
    listing = client.get("/api/v1/patients/P1/devices", headers=headers)
    assert creds["mqtt_password"] not in listing.text
    assert {d["device_id"] for d in listing.json()} == {"watch-1", "watch-9"}
    again = client.post(
        "/api/v1/patients/P1/devices", json={"device_id": "watch-9"}, headers=headers
    )
    assert again.status_code == 409


def test_revoking_a_device_ends_its_enrolment(world: World, client: TestClient) -> None:
    headers = world.auth("nurse")
    assert client.post("/api/v1/devices/watch-1/revoke", headers=headers).status_code == 204
    [device] = client.get("/api/v1/patients/P1/devices", headers=headers).json()
    assert device["revoked_at"] is not None and device["active"] is False
    record = world.registry.device_record("watch-1")
    assert record is not None and record.revoked


# -- vitals -------------------------------------------------------------------------------


def test_latest_vitals_have_every_channel_and_support_etags(
    world: World, client: TestClient
) -> None:
    headers = world.auth("patient1")
    r = client.get("/api/v1/patients/P1/vitals/latest", headers=headers)
    assert set(r.json()["vitals"]) == {"hr", "spo2", "rr", "temp", "sbp", "dbp"}
    again = client.get(
        "/api/v1/patients/P1/vitals/latest", headers={**headers, "If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304


def test_history_is_bucketed_at_the_requested_resolution(world: World, client: TestClient) -> None:
    headers = world.auth("nurse")
    end = T_NOW.replace(minute=0)  # a whole hour inside the seeded two
    params = {
        "from": (end - timedelta(hours=1)).isoformat(),
        "to": end.isoformat(),
        "vital": ["hr", "spo2"],
    }
    five = client.get(
        "/api/v1/patients/P1/vitals", params={**params, "resolution": "5m"}, headers=headers
    )
    series = five.json()["series"]
    assert set(series) == {"hr", "spo2"} and len(series["hr"]) == 12
    assert all(p["count"] == 60 for p in series["hr"])  # five 1-minute rollups of 12 samples
    hourly = client.get(
        "/api/v1/patients/P1/vitals", params={**params, "resolution": "1h"}, headers=headers
    )
    assert sum(p["count"] for p in hourly.json()["series"]["hr"]) == 720


def test_history_refuses_inverted_or_oversized_windows(world: World, client: TestClient) -> None:
    headers = world.auth("nurse")
    now = datetime.now(UTC)
    inverted = {"from": now.isoformat(), "to": (now - timedelta(hours=1)).isoformat()}
    huge = {"from": (now - timedelta(days=30)).isoformat(), "resolution": "1m"}
    for params in (inverted, huge):
        r = client.get("/api/v1/patients/P1/vitals", params=params, headers=headers)
        assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"


def test_current_news2_is_the_latest_record(world: World, client: TestClient) -> None:
    r = client.get("/api/v1/patients/P1/news2", headers=world.auth("patient1"))
    assert r.status_code == 200 and (r.json()["score"], r.json()["risk"]) == (1, "low")


# -- administration -----------------------------------------------------------------------


def test_admins_manage_users_teams_and_app_clients(world: World, client: TestClient) -> None:
    admin = world.auth("admin")
    assert client.post("/api/v1/teams", json={"team_id": "night"}, headers=admin).status_code == 201
    user = {
        "username": "nurse-n",
        "password": "long enough pw",
        "role": "clinician",
        "teams": ["night"],
    }
    created = client.post("/api/v1/users", json=user, headers=admin)
    assert created.status_code == 201 and "password" not in created.text
    assert (
        client.post(
            "/api/v1/teams/night/members", json={"username": "nurse"}, headers=admin
        ).status_code
        == 204
    )
    teams = {t["team_id"]: t for t in client.get("/api/v1/teams", headers=admin).json()}
    assert teams["night"]["members"] == ["nurse", "nurse-n"]
    app = {"client_id": "tele2", "scopes": ["alerts:read"], "teams": ["ward-b"]}
    made = client.post("/api/v1/clients", json=app, headers=admin)
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    token = client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "tele2",
            "client_secret": made.json()["client_secret"],
        },
    ).json()["access_token"]
    alerts = client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"}).json()[
        "items"
    ]
    assert {a["patient_id"] for a in alerts} == {"P3"}


def test_administration_is_for_admins_only(world: World, client: TestClient) -> None:
    for path in ("/api/v1/users", "/api/v1/teams", "/api/v1/audit"):
        assert client.get(path, headers=world.auth("nurse")).status_code == 403
    bad_client = {"client_id": "evil", "scopes": ["admin"]}
    assert (
        client.post("/api/v1/clients", json=bad_client, headers=world.auth("admin")).status_code
        == 400
    )

"""Alerts over REST: filters, cursor pages, conditional polling, lifecycle actions."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.conftest import TestClient
from tests.api.world import T_NOW, World, build_world


def ids(r: object) -> list[str]:
    return [a["alert_id"] for a in r.json()["items"]]  # type: ignore[attr-defined]


def test_alerts_are_listed_newest_first_with_their_lifecycle(
    world: World, client: TestClient
) -> None:
    r = client.get("/api/v1/alerts", headers=world.auth("admin"))
    items = r.json()["items"]
    assert [a["kind"] for a in items] == [
        "tachypnoea",
        "hypoxia",
        "fever",
        "device_offline",
        "tachycardia",
    ]
    assert all(a["status"] == "open" and a["episode_status"] == "open" for a in items)


@pytest.mark.parametrize(
    ("query", "kinds"),
    [
        ({"severity": "high"}, {"hypoxia"}),
        ({"category": "technical"}, {"device_offline"}),
        ({"severity": ["low", "info"]}, {"fever", "device_offline"}),
        ({"patient_id": "P1"}, {"tachycardia", "fever"}),
    ],
)
def test_filters_narrow_the_list(
    world: World, client: TestClient, query: dict[str, object], kinds: set[str]
) -> None:
    r = client.get("/api/v1/alerts", params=query, headers=world.auth("admin"))
    assert {a["kind"] for a in r.json()["items"]} == kinds


def test_cursor_pages_cover_every_alert_once() -> None:
    w = build_world(extra_alerts=23)
    with TestClient(w.app) as client:
        seen: list[str] = []
        params: dict[str, object] = {"limit": 7}
        while True:
            r = client.get("/api/v1/alerts", params=params, headers=w.auth("admin"))
            seen += ids(r)
            cursor = r.json()["next_cursor"]
            if cursor is None:
                break
            params["cursor"] = cursor
    assert len(seen) == len(set(seen)) == 28


def test_since_returns_alerts_opened_from_then_on(world: World, client: TestClient) -> None:
    # From the seeded alerts' own clock: the suite may reach this test minutes after import.
    since = (T_NOW - timedelta(minutes=12)).isoformat()
    r = client.get("/api/v1/alerts", params={"since": since}, headers=world.auth("admin"))
    assert {a["kind"] for a in r.json()["items"]} == {"hypoxia", "tachypnoea"}


def test_polling_with_if_none_match_gets_304_until_something_changes(
    world: World, client: TestClient
) -> None:
    headers = world.auth("nurse")
    first = client.get("/api/v1/alerts", headers=headers)
    etag = first.headers["etag"]
    same = client.get("/api/v1/alerts", headers={**headers, "If-None-Match": etag})
    assert same.status_code == 304 and same.content == b""
    client.post(f"/api/v1/alerts/{world.alerts['P1'][0].alert_id}/ack", headers=headers)
    changed = client.get("/api/v1/alerts", headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_ack_records_the_actor_from_the_token_and_a_second_ack_conflicts(
    world: World, client: TestClient
) -> None:
    alert_id = world.alerts["P1"][0].alert_id
    headers = world.auth("nurse")
    r = client.post(f"/api/v1/alerts/{alert_id}/ack", json={"note": "on my way"}, headers=headers)
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["acknowledged_by"]) == ("acknowledged", "nurse")
    again = client.post(f"/api/v1/alerts/{alert_id}/ack", headers=world.auth("admin"))
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    events = client.get(f"/api/v1/alerts/{alert_id}/events", headers=headers).json()
    assert [(e["action"], e["actor"], e["note"]) for e in events] == [("ack", "nurse", "on my way")]


def test_a_resolved_alert_takes_notes_but_no_other_action(world: World, client: TestClient) -> None:
    alert_id = world.alerts["P3"][0].alert_id
    headers = world.auth("nurse-b")
    assert (
        client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=headers).json()["status"]
        == "resolved"
    )
    assert (
        client.post(
            f"/api/v1/alerts/{alert_id}/snooze", json={"minutes": 5}, headers=headers
        ).status_code
        == 409
    )
    note = client.post(
        f"/api/v1/alerts/{alert_id}/note", json={"text": "called back"}, headers=headers
    )
    assert note.status_code == 200 and note.json()["notes"][-1]["text"] == "called back"


def test_snooze_and_assign_set_their_fields(world: World, client: TestClient) -> None:
    alert_id = world.alerts["P1"][1].alert_id
    headers = world.auth("nurse")
    snoozed = client.post(
        f"/api/v1/alerts/{alert_id}/snooze", json={"minutes": 30}, headers=headers
    )
    until = datetime.fromisoformat(snoozed.json()["snoozed_until"])
    assert abs((until - datetime.fromtimestamp(world.now[0], UTC)).total_seconds() - 1800) < 5
    # nobody, a patient's login, a clinician of another team: one answer, nothing learned
    refusals = [
        client.post(f"/api/v1/alerts/{alert_id}/assign", json={"assignee": who}, headers=headers)
        for who in ("ghost", "patient1", "nurse-b")
    ]
    assert {(r.status_code, r.json()["detail"]) for r in refusals} == {
        (400, "no clinician of this patient's care team by that name")
    }
    assigned = client.post(
        f"/api/v1/alerts/{alert_id}/assign", json={"assignee": "nurse"}, headers=headers
    )
    assert assigned.json()["assigned_to"] == "nurse"


def test_patients_read_their_alerts_but_cannot_act_on_them(
    world: World, client: TestClient
) -> None:
    alert_id = world.alerts["P1"][0].alert_id
    headers = world.auth("patient1")
    assert client.get(f"/api/v1/alerts/{alert_id}", headers=headers).status_code == 200
    assert client.post(f"/api/v1/alerts/{alert_id}/ack", headers=headers).status_code == 403


def test_bad_cursor_and_out_of_range_times_are_400_problems(
    world: World, client: TestClient
) -> None:
    headers = world.auth("admin")
    bad = client.get("/api/v1/alerts", params={"cursor": "not-a-cursor"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["detail"] == "malformed cursor"
    # Well-formed JSON no database can compare with: a 65-bit integer, a lone surrogate.
    for path, key in (
        ("/api/v1/alerts", [2**70, "x"]),
        ("/api/v1/alerts", [1, "\ud800"]),
        ("/api/v1/patients", ["\ud800"]),
        ("/api/v1/patients", [2**70]),
        ("/api/v1/audit", [2**70]),
    ):
        cursor = base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")
        r = client.get(path, params={"cursor": cursor}, headers=headers)
        assert r.status_code == 400 and r.json()["detail"] == "malformed cursor", (path, key)
    ancient = client.get("/api/v1/alerts", params={"since": "0001-01-01T00:00:00"}, headers=headers)
    assert ancient.status_code == 400
    backwards = {"since": "2024-03-02T00:00:00Z", "until": "2024-03-01T00:00:00Z"}
    reversed_ = client.get("/api/v1/alerts", params=backwards, headers=headers)
    assert reversed_.status_code == 400 and "before" in reversed_.json()["detail"]

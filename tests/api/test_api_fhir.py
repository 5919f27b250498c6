"""FHIR R4: vital-signs Observations and alert Flags that validate with ``fhir.resources``.

``fhir.resources`` checks structure and datatypes (R4B models, the R4 maintenance release
whose Observation and Flag match R4); the vital-signs profile's own rules (category, LOINC
code, UCUM unit, subject, effective time, BP components) are asserted here one by one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome

from alerts.exceptions import StoreUnavailable
from api import fhir
from tests.api.conftest import TestClient
from tests.api.test_api_problems_ops import ExplodingStore
from tests.api.world import World, seed_vitals

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
#: channel -> (required LOINC code, UCUM code), from the HL7 vital-signs profiles.
PROFILE = {
    "8867-4": "/min",  # heart rate
    "9279-1": "/min",  # respiratory rate
    "2708-6": "%",  # oxygen saturation (with 59408-5, pulse oximetry)
    "8310-5": "Cel",  # body temperature
}


def search(client: TestClient, world: World, resource: str, **params: Any) -> dict[str, Any]:
    r = client.get(f"/fhir/r4/{resource}", params=params, headers=world.auth("nurse"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/fhir+json"
    Bundle.model_validate(r.json())  # raises if the bundle or any resource is not valid R4
    body: dict[str, Any] = r.json()
    return body


def all_pages(client: TestClient, world: World, page: dict[str, Any]) -> list[str]:
    """The resource ids of ``page`` and of every page its ``next`` links lead to."""
    ids: list[str] = []
    while True:
        ids += [e["resource"]["id"] for e in page["entry"]]
        nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not nxt:
            return ids
        page = client.get(nxt[0], headers=world.auth("nurse")).json()


def assert_vital_signs_profile(obs: dict[str, Any]) -> None:
    Observation.model_validate(obs)
    assert obs["status"] == "final"
    assert "http://hl7.org/fhir/StructureDefinition/vitalsigns" in obs["meta"]["profile"]
    [category] = obs["category"]
    assert category["coding"][0]["code"] == "vital-signs"
    assert obs["subject"]["reference"] == "Patient/P1"
    assert "effectivePeriod" in obs or "effectiveDateTime" in obs
    codes = {c["code"] for c in obs["code"]["coding"] if c["system"] == LOINC}
    if "85354-9" in codes:  # blood pressure panel: components, no value of its own
        assert "valueQuantity" not in obs
        by_code = {c["code"]["coding"][0]["code"]: c for c in obs["component"]}
        assert set(by_code) == {"8480-6", "8462-4"}
        for component in by_code.values():
            q = component["valueQuantity"]
            assert (q["system"], q["code"]) == (UCUM, "mm[Hg]")
        return
    [code] = codes & set(PROFILE)
    q = obs["valueQuantity"]
    assert (q["system"], q["code"]) == (UCUM, PROFILE[code])
    if code == "2708-6":
        assert "59408-5" in codes


def test_observations_validate_and_follow_the_vital_signs_profile(
    world: World, client: TestClient
) -> None:
    bundle = search(client, world, "Observation", patient="P1", _count=60)
    resources = [e["resource"] for e in bundle["entry"]]
    assert len(resources) >= 50
    for obs in resources:
        assert_vital_signs_profile(obs)
    codes = {c["code"] for o in resources for c in o["code"]["coding"]}
    assert {"8867-4", "9279-1", "59408-5", "2708-6", "8310-5", "85354-9"} <= codes


def test_code_and_date_narrow_the_search(world: World, client: TestClient) -> None:
    now = datetime.now(UTC)
    start = (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    bundle = search(
        client,
        world,
        "Observation",
        patient="Patient/P1",
        code=f"{LOINC}|8867-4",
        date=f"ge{start}",
    )
    resources = [e["resource"] for e in bundle["entry"]]
    assert resources and all(r["code"]["coding"][0]["code"] == "8867-4" for r in resources)
    assert all(r["effectivePeriod"]["start"] >= start for r in resources)


def test_count_pages_with_a_next_link_that_continues_where_the_page_ended(
    world: World, client: TestClient
) -> None:
    first = search(client, world, "Observation", patient="P1", code="8867-4", _count=10)
    [next_link] = [link["url"] for link in first["link"] if link["relation"] == "next"]
    r = client.get(next_link, headers=world.auth("nurse"))
    second = r.json()
    firsts = {e["resource"]["id"] for e in first["entry"]}
    seconds = {e["resource"]["id"] for e in second["entry"]}
    assert len(firsts) == len(seconds) == 10 and not firsts & seconds
    oldest_first = min(e["resource"]["effectivePeriod"]["start"] for e in first["entry"])
    assert all(e["resource"]["effectivePeriod"]["start"] < oldest_first for e in second["entry"])
    assert "total" not in first  # this page's size is not the number of matches


def test_a_blood_pressure_component_code_finds_the_whole_panel(
    world: World, client: TestClient
) -> None:
    by_panel = search(client, world, "Observation", patient="P1", code="85354-9")
    by_systolic = search(client, world, "Observation", patient="P1", code="8480-6")
    assert by_panel["entry"] and by_systolic["entry"] == by_panel["entry"]
    for entry in by_systolic["entry"]:
        codes = [c["code"]["coding"][0]["code"] for c in entry["resource"]["component"]]
        assert codes == ["8480-6", "8462-4"] and all(
            "valueQuantity" in c for c in entry["resource"]["component"]
        )


def test_flags_page_with_a_next_link_and_lose_none(world: World, client: TestClient) -> None:
    every = search(client, world, "Flag", patient="P1")
    ids = [e["resource"]["id"] for e in every["entry"]]
    assert len(ids) >= 2 and every["total"] == len(ids)
    seen = all_pages(client, world, search(client, world, "Flag", patient="P1", _count=1))
    assert seen == ids


def test_an_unsupported_code_or_date_is_a_400_problem(world: World, client: TestClient) -> None:
    for params in (
        {"code": "1234-5"},
        {"date": "yesterday"},
        {"code": "http://snomed.info/sct|1"},
        {"date": "9999-12"},  # the end of the month is beyond year 9999
        {"date": "9999-12-31T23:59:59Z"},
        {"date": "2024-13"},
    ):
        r = client.get(
            "/fhir/r4/Observation", params={"patient": "P1", **params}, headers=world.auth("nurse")
        )
        assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"


def test_a_window_that_ends_before_any_data_is_an_empty_bundle(
    world: World, client: TestClient
) -> None:
    for date in ("lt0001", "le0002"):
        r = client.get(
            "/fhir/r4/Observation",
            params={"patient": "P1", "date": date},
            headers=world.auth("nurse"),
        )
        assert r.status_code == 200 and r.json()["total"] == 0


def test_alerts_are_flags_active_until_resolved(world: World, client: TestClient) -> None:
    alert_id = world.alerts["P1"][0].alert_id
    client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=world.auth("nurse"))
    bundle = search(client, world, "Flag", patient="P1")
    flags = {e["resource"]["identifier"][0]["value"]: e["resource"] for e in bundle["entry"]}
    for flag in flags.values():
        Flag.model_validate(flag)
        assert flag["subject"]["reference"] == "Patient/P1"
    assert flags[alert_id]["status"] == "inactive" and "end" in flags[alert_id]["period"]
    other = world.alerts["P1"][1].alert_id
    assert flags[other]["status"] == "active"
    active = search(client, world, "Flag", patient="P1", status="active")
    assert [e["resource"]["identifier"][0]["value"] for e in active["entry"]] == [other]


@pytest.mark.parametrize(
    ("channel", "loinc", "ucum"),
    [
        ("hr", "8867-4", "/min"),
        ("rr", "9279-1", "/min"),
        ("spo2", "2708-6", "%"),
        ("temp", "8310-5", "Cel"),
    ],
)
def test_each_vital_maps_to_its_loinc_code_and_ucum_unit(
    channel: str, loinc: str, ucum: str
) -> None:
    t = datetime(2024, 5, 1, 8, tzinfo=UTC)
    [obs] = fhir.vital_observations("P1", t, {channel: 42.0})
    Observation.model_validate(obs)
    assert obs["code"]["coding"][0]["code"] == loinc
    assert (
        obs["valueQuantity"]["code"] == ucum and obs["effectiveDateTime"] == "2024-05-01T08:00:00Z"
    )


def test_severity_maps_to_the_standard_flag_priority_extension() -> None:
    alert = {
        "alert_id": "a1",
        "patient_id": "P9",
        "category": "technical",
        "kind": "device_offline",
        "severity": "critical",
        "message": "no data for 30 min",
        "started_at": 1714550400.0,
    }
    flag = fhir.alert_flag(alert)
    Flag.model_validate(flag)
    [ext] = flag["extension"]
    assert ext["url"] == fhir.FLAG_PRIORITY_EXT
    assert ext["valueCodeableConcept"]["coding"][0]["code"] == "PH"
    assert flag["category"][0]["coding"][0]["code"] == "admin"


def test_the_fhir_mapping_and_search_parsing_are_pure() -> None:
    import ast
    from pathlib import Path

    from api import fhir_search

    banned = {
        "fastapi",
        "starlette",
        "sqlalchemy",
        "kafka",
        "aiokafka",
        "faust",
        "paho",
        "influxdb_client",
        "httpx",
        "amqtt",
        "pydantic",
    }
    for module in (fhir, fhir_search):
        tree = ast.parse(Path(str(module.__file__)).read_text())
        imported = {
            (node.module or "").split(".")[0]
            if isinstance(node, ast.ImportFrom)
            else alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        assert not imported & banned, module.__name__


def test_paging_keeps_the_first_pages_averaging_period(world: World, client: TestClient) -> None:
    # a 7-hour window is averaged over 5 minutes; its later pages' windows are shorter, and
    # must not switch to 1-minute values (the pages would no longer add up to the search)
    start = (datetime.now(UTC) - timedelta(hours=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    whole = search(client, world, "Observation", patient="P1", code="8867-4", date=f"ge{start}")
    first = search(
        client, world, "Observation", patient="P1", code="8867-4", date=f"ge{start}", _count=5
    )
    ids = all_pages(client, world, first)
    assert len(ids) > 5 and ids == [e["resource"]["id"] for e in whole["entry"]]


def test_date_bounds_inside_a_bucket_give_periods_within_the_bounds(
    world: World, client: TestClient
) -> None:
    # a 7-hour window is averaged over 5 minutes; bounds 2 minutes into a bucket cut the
    # buckets at both ends, which hold only the minutes inside the bounds
    seed_vitals(world.store, "P1", hours=10)
    aligned = datetime.fromtimestamp(datetime.now(UTC).timestamp() // 300 * 300, UTC)
    ge = aligned - timedelta(hours=8) + timedelta(minutes=2)
    lt = aligned - timedelta(hours=1) + timedelta(minutes=2)
    bundle = search(
        client,
        world,
        "Observation",
        patient="P1",
        code="8867-4",
        date=[f"ge{fhir.fhir_instant(ge)}", f"lt{fhir.fhir_instant(lt)}"],
        _count=1000,
    )
    periods = [e["resource"]["effectivePeriod"] for e in bundle["entry"]]
    assert len(periods) > 80
    assert min(p["start"] for p in periods) == fhir.fhir_instant(ge)
    assert max(p["end"] for p in periods) == fhir.fhir_instant(lt)


def test_a_fhir_client_gets_errors_as_an_operation_outcome(
    world: World, client: TestClient
) -> None:
    fhir_json = {"Accept": "application/fhir+json"}
    nurse = {**world.auth("nurse"), **fhir_json}
    cases = [
        ("Observation", {"patient": "P1", "date": "yesterday"}, nurse, 400, "invalid"),
        ("Observation", {"patient": "P1"}, fhir_json, 401, "login"),
        ("Flag", {"patient": "P3"}, nurse, 404, "not-found"),
        ("Flag", {"patient": "P3", "_format": "json"}, world.auth("nurse"), 404, "not-found"),
        ("Observation", {"patient": "P1", "_count": "0"}, nurse, 422, "invalid"),
    ]
    for resource, params, headers, status, code in cases:
        r = client.get(f"/fhir/r4/{resource}", params=params, headers=headers)
        assert r.status_code == status, r.text
        assert r.headers["content-type"] == "application/fhir+json"
        OperationOutcome.model_validate(r.json())
        assert r.json()["issue"][0]["code"] == code and r.json()["issue"][0]["diagnostics"]
        if status == 401:
            assert r.headers["www-authenticate"].startswith("Bearer")
    world.services.alert_store = ExplodingStore(StoreUnavailable("down"))  # type: ignore[assignment]
    r = client.get("/fhir/r4/Flag", params={"patient": "P1"}, headers=nurse)
    assert r.status_code == 503 and r.json()["resourceType"] == "OperationOutcome"
    # the REST API's clients keep their problem+json
    r = client.get("/api/v1/alerts", headers=fhir_json)
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"


def test_a_flags_full_url_reads_it_back_for_those_who_may_see_it(
    world: World, client: TestClient
) -> None:
    bundle = search(client, world, "Flag", patient="P1")
    entry = bundle["entry"][0]
    path = entry["fullUrl"].split("://", 1)[1].split("/", 1)[1]
    r = client.get("/" + path, headers={**world.auth("nurse"), "Accept": "application/fhir+json"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    assert r.json() == entry["resource"]
    r = client.get("/fhir/r4/Flag/0123456789abcdef01234567", headers=world.auth("nurse"))
    assert r.status_code == 404
    r = client.get("/" + path, headers=world.auth("nurse-b"))  # P1 is not in ward-b's care
    assert r.status_code == 404


def test_observations_of_different_averaging_windows_have_different_ids() -> None:
    t = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    ids = {
        width: fhir.vital_observations("P1", t, {"hr": 70.0}, period=timedelta(minutes=width))[0][
            "id"
        ]
        for width in (1, 5, 60)
    }
    assert ids[1] == f"P1-hr-{int(t.timestamp())}"  # 1-minute ids as they always were
    assert len(set(ids.values())) == 3


@pytest.mark.parametrize("window", ["default", "1m", "1h", "cut"])
def test_an_observations_full_url_reads_it_back_for_those_who_may_see_it(
    world: World, client: TestClient, window: str
) -> None:
    seed_vitals(world.store, "P1", hours=10)
    params: dict[str, Any] = {"_resolution": window} if window in ("1m", "1h") else {}
    if window == "cut":  # bounds 2 minutes into 5-minute buckets: both end buckets are cut
        aligned = datetime.fromtimestamp(datetime.now(UTC).timestamp() // 300 * 300, UTC)
        ge = aligned - timedelta(hours=8) + timedelta(minutes=2)
        lt = aligned - timedelta(hours=1) + timedelta(minutes=2)
        params = {"date": [f"ge{fhir.fhir_instant(ge)}", f"lt{fhir.fhir_instant(lt)}"]}
    bundle = search(client, world, "Observation", patient="P1", _count=1000, **params)
    entries = bundle["entry"]
    assert entries, bundle
    if window == "cut":
        assert any(e["resource"]["id"].endswith("-180s") for e in entries)
    for entry in entries[:20] + entries[-20:]:
        path = "/" + entry["fullUrl"].split("://", 1)[1].split("/", 1)[1]
        r = client.get(path, headers=world.auth("nurse"))
        assert r.status_code == 200, (path, r.text)
        assert r.json() == entry["resource"]
    assert client.get(path, headers=world.auth("nurse-b")).status_code == 404  # not ward-b's
    for bad in ("P1-hr-x", "P1-pulse-1709276400", "nonsense", "P1-hr-1709276400-7200s",
                "P1-hr-1709276400-99999999999999s"):  # fmt: skip
        assert (
            client.get(f"/fhir/r4/Observation/{bad}", headers=world.auth("nurse")).status_code
            == 404
        )


def test_a_bound_inside_a_minute_leaves_that_minute_out(world: World, client: TestClient) -> None:
    seed_vitals(world.store, "P1", hours=2)
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    ge = minute + timedelta(milliseconds=500)
    lt = minute + timedelta(minutes=3)
    bundle = search(
        client, world, "Observation", patient="P1", code="8867-4",
        date=[f"ge{ge.isoformat().replace('+00:00', 'Z')}", f"lt{fhir.fhir_instant(lt)}"],
    )  # fmt: skip
    periods = [e["resource"]["effectivePeriod"] for e in bundle["entry"]]
    assert [p["start"] for p in periods] == [
        fhir.fhir_instant(minute + timedelta(minutes=m)) for m in (2, 1)
    ]
    assert all(p["start"] < p["end"] for p in periods)

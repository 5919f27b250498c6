"""The assembled one-process demo: dashboard, API, fleet over MQTT, detection and config path."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import httpx
import pytest

from vigil.demo.runtime import DemoOptions, DemoRuntime

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(condition: Callable[[], object], timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not await asyncio.to_thread(condition):
            await asyncio.sleep(0.2)


async def nurse_auth(http: httpx.AsyncClient) -> dict[str, str]:
    """Sign in as the demo's nurse; the bearer header."""
    data = {"username": "nurse", "password": "nurse-demo"}
    token = (await http.post("/api/v1/auth/token", data=data)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def demo() -> AsyncIterator[DemoRuntime]:
    rt = DemoRuntime(
        DemoOptions(port=free_port(), mqtt_port=free_port(), patients=3, speed=300.0, warmup_min=10)
    )
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()
    assert not rt.data_dir.exists()  # a temp dir of its own is deleted at stop


async def test_the_demo_serves_the_dashboard_its_charts_and_the_api(demo: DemoRuntime) -> None:
    async with httpx.AsyncClient(base_url=demo.url) as http:
        index = await http.get("/")
        assert index.status_code == 200 and "js/app.js" in index.text
        chart_lib = await http.get("/vendor/uPlot.esm.js")  # installed by `make assets`
        assert chart_lib.status_code == 200
        auth = await nurse_auth(http)
        patients = (await http.get("/api/v1/patients", headers=auth)).json()["items"]
        assert [p["patient_id"] for p in patients] == ["P0001", "P0002", "P0003"]


async def test_default_query_windows_follow_the_simulated_clock(demo: DemoRuntime) -> None:
    # Simulated time runs ahead of the wall clock: "the last 24 h" must mean the demo's.
    assert demo.store is not None
    store = demo.store

    def ahead_of_wall_clock() -> bool:
        hr = store.latest_vitals("P0001").get("hr")
        return hr is not None and hr.ts.timestamp() > time.time() + 120

    await until(ahead_of_wall_clock)
    async with httpx.AsyncClient(base_url=demo.url) as http:
        auth = await nurse_auth(http)
        vitals = await http.get("/api/v1/patients/P0001/vitals?vital=hr", headers=auth)
        fhir = await http.get("/fhir/r4/Observation?patient=P0001&code=8867-4", headers=auth)
    now = time.time()
    series = vitals.json()["series"]["hr"]
    assert datetime.fromisoformat(series[-1]["ts"]).timestamp() > now
    entries = fhir.json()["entry"]
    newest = max(e["resource"]["effectivePeriod"]["start"] for e in entries)
    assert datetime.fromisoformat(newest).timestamp() > now


async def test_simulated_devices_publish_through_broker_gateway_and_detection(
    demo: DemoRuntime,
) -> None:
    assert demo.fleet is not None and demo.fleet.stats.connected == 3
    assert demo.store is not None
    store = demo.store
    await until(lambda: any(store.latest_vitals(f"P000{i}") for i in (1, 2, 3)))
    assert demo.gateway is not None and demo.gateway.sent[demo.topics.vitals] > 0
    assert demo.worker is not None and demo.worker.stats.samples > 0


async def test_thresholds_saved_in_the_api_reach_the_running_detector(demo: DemoRuntime) -> None:
    async with httpx.AsyncClient(base_url=demo.url) as http:
        auth = await nurse_auth(http)
        body = {"spo2_scale": 2, "thresholds": {"hr": {"low": 40, "high": 150}}}
        resp = await http.put("/api/v1/patients/P0002/thresholds", json=body, headers=auth)
        assert resp.status_code == 200, resp.text
    assert demo.worker is not None
    detector = demo.worker.detector
    await until(lambda: "P0002" in detector.configs)  # type: ignore[attr-defined]
    config = detector.configs["P0002"]  # type: ignore[attr-defined]
    assert config.spo2_scale == 2 and config.thresholds["hr"] == (40.0, 150.0)

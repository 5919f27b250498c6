"""The demo's detection worker: gateway records in; alerts, rollups and NEWS2 stored, then live."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from alerts.model import Alert
from alerts.store.base import AlertQuery
from alerts.store.sqlite import SqliteStore
from ingest.directory import DeviceRecord, Enrollment, InMemoryDirectory
from ingest.encoding import encode_vitals
from ingest.payload import PayloadHandler, device_topic
from ingest.sample import Sample
from ingest.topics import TopicNames
from stream.pipeline import Pipeline
from stream.replay import replay
from vigil.demo.bus import InProcessBus
from vigil.demo.clock import SimClock
from vigil.demo.worker import DetectionWorker

Running = tuple[InProcessBus, SqliteStore, "ListSink", DetectionWorker, list[float]]
T0 = 1_700_000_040.0  # a minute boundary
TOPICS = TopicNames()


class ListSink:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def publish(self, alert: Alert) -> None:
        self.alerts.append(alert)


@pytest.fixture
async def running() -> AsyncIterator[
    tuple[InProcessBus, SqliteStore, ListSink, DetectionWorker, list[float]]
]:
    bus, store, sink = InProcessBus(), SqliteStore(":memory:"), ListSink()
    wall = [0.0]
    clock = SimClock(start=T0, speed=60.0, wall=lambda: wall[0])
    worker = DetectionWorker(
        bus,
        (TOPICS.vitals, TOPICS.patient_config),
        Pipeline(emit_resolved=True),
        store,
        sink,
        clock,
    )
    tasks = [asyncio.create_task(worker.run()), asyncio.create_task(worker.apply_configs())]
    yield bus, store, sink, worker, wall
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    store.close()


def sample(minute: int, hr: float) -> Sample:
    return Sample(
        "P1", "dev-1", T0 + 60.0 * minute, hr=hr, spo2=97.0, rr=14.0 + minute % 3, temp=36.8
    )


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for the worker (it runs as a task) to get somewhere."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_sustained_tachycardia_is_stored_before_it_is_published_live(
    running: Running,
) -> None:
    bus, store, sink, worker, _ = running
    minutes = [sample(m, 72.0 + m % 4) for m in range(90)] + [
        sample(m, 142.0) for m in range(90, 105)
    ]
    for s in minutes:
        bus.publish(TOPICS.vitals, "P1", encode_vitals([s], received_at=s.ts))
    await until(lambda: any(a.kind == "tachycardia" for a in sink.alerts))
    assert worker.stats.samples == 105
    kinds = {a.kind for a in sink.alerts}
    assert "tachycardia" in kinds
    stored = store.list_alerts(AlertQuery(categories=frozenset({"clinical"})))
    assert {r.alert.alert_id for r in stored.items} >= {
        a.alert_id for a in sink.alerts if a.category == "clinical"
    }
    assert worker.stats.clinical_alerts >= 1 and worker.stats.first_clinical_at is not None


async def test_closed_minutes_are_rolled_up_with_news2(running: Running) -> None:
    bus, store, _, _, _ = running
    for m in range(5):
        s = sample(m, 72.0)
        bus.publish(TOPICS.vitals, "P1", encode_vitals([s], received_at=s.ts))
    await until(lambda: "hr" in store.latest_vitals("P1") and store.latest_news2("P1") is not None)
    latest = store.latest_vitals("P1")
    assert latest["hr"].mean == 72.0
    assert latest["hr"].ts == datetime.fromtimestamp(T0 + 3 * 60, UTC)  # minute 4 is still open
    news = store.latest_news2("P1")
    assert news is not None and news.score == 0 and news.risk == "low"
    assert set(news.subscores) == {"hr", "spo2", "rr", "temp", "air_or_oxygen", "consciousness"}
    assert sum(news.subscores.values()) == news.score


async def test_clinician_settings_from_the_config_topic_reach_detection_and_news2(
    running: Running,
) -> None:
    bus, store, _, worker, _ = running
    config = {"spo2_scale": 2, "on_oxygen": True, "thresholds": {"hr": [40, 150]}, "v": 1}
    pipeline = worker.detector
    assert isinstance(pipeline, Pipeline)
    bus.publish(TOPICS.patient_config, "P1", json.dumps(config).encode())
    await until(lambda: "P1" in pipeline.configs)
    for m in range(3):
        s = sample(m, 72.0)
        bus.publish(TOPICS.vitals, "P1", encode_vitals([s], received_at=s.ts))
    await until(lambda: store.latest_news2("P1") is not None)
    assert pipeline.configs["P1"].thresholds["hr"] == (40.0, 150.0)
    news = store.latest_news2("P1")
    assert news is not None and news.score >= 2  # supplemental oxygen scores 2


async def test_silence_in_event_time_raises_a_technical_alert_on_tick(running: Running) -> None:
    bus, _, sink, worker, wall = running
    for m in range(30):
        s = sample(m, 72.0)
        bus.publish(TOPICS.vitals, "P1", encode_vitals([s], received_at=s.ts))
    await until(lambda: worker.stats.samples == 30)
    wall[0] = 120.0  # two wall minutes at 60x: two simulated hours without a sample
    await worker.tick()
    assert any(a.category == "technical" for a in sink.alerts)


async def test_a_run_of_refused_samples_raises_rejected_data_as_replay_does(
    running: Running,
) -> None:
    bus, store, sink, worker, _ = running
    rows: list[dict[str, object]] = [
        {"patient_id": "P1", "device_id": "dev-1", **sample(m, 72.0).to_dict()} for m in range(10)
    ]
    bad = [{"ts": T0 + 600 + i, "hr": 400} for i in range(3)] + [{"hr": 70}] * 3
    rows += [{"patient_id": "P1", "device_id": "dev-1", **r} for r in bad]
    # What the gateway puts on vigil.vitals for these rows, one message.
    handler = PayloadHandler(
        InMemoryDirectory([DeviceRecord("dev-1", (Enrollment("P1", 0.0),))]), TOPICS
    )
    body = [{k: v for k, v in r.items() if k not in ("patient_id", "device_id")} for r in rows]
    for rec in handler.handle(
        device_topic("dev-1"), json.dumps({"samples": body}).encode(), received_at=T0 + 3600
    ):
        if rec.topic == TOPICS.vitals:
            bus.publish(rec.topic, "P1", rec.value)
    await until(lambda: worker.stats.rejected == 6)
    await until(lambda: any(a.kind == "rejected_data" for a in sink.alerts))
    expected = [a for a in replay(rows).alerts if a.kind == "rejected_data"]
    got = [a for a in sink.alerts if a.kind == "rejected_data"]
    assert [a.to_json_dict() for a in got] == [a.to_json_dict() for a in expected]
    stored = store.list_alerts(AlertQuery(categories=frozenset({"technical"})))
    assert {r.alert.alert_id for r in stored.items} >= {a.alert_id for a in got}


async def test_silence_inside_a_backlog_is_a_data_gap_where_replay_raises_it(
    running: Running,
) -> None:
    # P2 is silent for an hour inside data that arrives at once (the demo's warm-up, a late
    # batch): event time ticks as in replay, not only with the wall clock afterwards
    bus, _, sink, worker, _ = running
    samples = []
    for m in range(120):
        samples.append(Sample("P1", "d1", T0 + 60.0 * m, hr=72.0 + m % 4, spo2=97.0, rr=14.0))
        if m < 30 or m >= 90:
            samples.append(Sample("P2", "d2", T0 + 60.0 * m, hr=70.0 + m % 3, spo2=97.0, rr=15.0))
    for s in samples:
        bus.publish(TOPICS.vitals, s.patient_id, encode_vitals([s], received_at=s.ts))
    await until(lambda: worker.stats.samples == len(samples) and worker.idle())
    rows = [{"patient_id": s.patient_id, "device_id": s.device_id, **s.to_dict()} for s in samples]
    expected = [(a.alert_id, a.status) for a in replay(rows, emit_resolved=True).alerts]
    assert expected and [(a.alert_id, a.status) for a in sink.alerts] == expected


async def test_custom_channels_are_rolled_up_as_the_stream_worker_does(running: Running) -> None:
    bus, store, _, _, _ = running
    for m in range(3):
        s = Sample("P1", "d1", T0 + 60.0 * m, hr=72.0, custom={"etco2": 35.0 + m})
        bus.publish(TOPICS.vitals, "P1", encode_vitals([s], received_at=s.ts))
    await until(lambda: "etco2" in store.latest_vitals("P1"))
    assert store.latest_vitals("P1")["etco2"].mean == 36.0

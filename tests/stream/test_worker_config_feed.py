"""Clinician settings reach the worker from the compacted topic, at start and live."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from kafka import KafkaProducer

from ingest.topics import TopicSpec, create_topics
from stream.config_feed import ConfigFeed, encode_config
from stream.detect.config import PatientConfig

pytestmark = pytest.mark.integration


async def test_settings_on_the_topic_apply_before_ready_and_updates_apply_live(
    stack_env: dict[str, str],
) -> None:
    bootstrap = stack_env["VIGIL_KAFKA_BOOTSTRAP"]
    topic = f"t{uuid.uuid4().hex[:10]}.vigil.patient-config"
    create_topics(bootstrap, [TopicSpec(topic, 3, {"cleanup.policy": "compact"})])
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    producer.send(topic, key=b"p1", value=encode_config(PatientConfig(spo2_scale=2))).get(30)
    producer.send(topic, key=b"p2", value=b"{broken").get(30)
    applied: dict[str, PatientConfig] = {}
    feed = ConfigFeed(bootstrap, topic, applied.__setitem__)
    task = asyncio.ensure_future(feed.run())
    try:
        await asyncio.wait_for(feed.ready.wait(), 30)
        assert applied == {"p1": PatientConfig(spo2_scale=2)}  # the broken one is skipped
        producer.send(topic, key=b"p2", value=encode_config(PatientConfig(on_oxygen=True)))
        producer.send(topic, key=b"p1", value=None).get(30)  # a tombstone: back to defaults
        for _ in range(100):
            if applied.get("p1") == PatientConfig() and "p2" in applied:
                break
            await asyncio.sleep(0.1)
        assert applied == {"p1": PatientConfig(), "p2": PatientConfig(on_oxygen=True)}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        producer.close()

"""Fixtures of the ingest integration tests (helpers in :mod:`tests.ingest.ingest_stack`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.broker_auth import BrokerAuthSync
from ingest.registry import Registry
from ingest.settings import IngestSettings
from ingest.topics import TopicNames, create_topics, topic_specs
from tests.ingest.ingest_stack import IngestRun, free_port
from vigil.devstack import drop_scratch_topics


@pytest.fixture
def ingest_run(stack_env: dict[str, str], tmp_path: Path) -> Iterator[IngestRun]:
    run = uuid.uuid4().hex[:8]
    env = {
        **stack_env,
        "VIGIL_TOPIC_PREFIX": f"it-{run}.",
        "VIGIL_REGISTRY_URL": f"sqlite:///{tmp_path / 'registry.sqlite3'}",
        "VIGIL_MQTT_REGISTRY_SECTION": f"it-{run}",
        "VIGIL_GATEWAY_CLIENT_ID": f"it-gw-{run}",
        "VIGIL_GATEWAY_SHARE_GROUP": f"it-gw-{run}",
        "VIGIL_GATEWAY_SESSION_EXPIRY_S": "300",
        "VIGIL_GATEWAY_METRICS_PORT": str(free_port()),
        "VIGIL_GATEWAY_REGISTRY_REFRESH_S": "1",
    }
    settings = IngestSettings.model_validate(
        {k[len("VIGIL_") :].lower(): v for k, v in env.items()}
    )
    topics = TopicNames(settings.topic_prefix)
    create_topics(settings.kafka_bootstrap, topic_specs(topics, vitals_partitions=3))
    sync = BrokerAuthSync.from_settings(settings)
    assert sync is not None, "the stack must export VIGIL_MQTT_PASSWORD_FILE"
    registry = Registry(settings.registry_database_url)
    ingest = IngestRun(env, settings, registry, topics, sync)
    try:
        yield ingest
    finally:
        for gateway in ingest.gateways:
            gateway.kill()
        for section in ingest.extra_sections:
            section.remove_section()
        sync.sync({})
        registry.close()
        drop_scratch_topics(settings.kafka_bootstrap, settings.topic_prefix)

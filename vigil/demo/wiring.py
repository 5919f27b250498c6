"""How the demo plugs its in-process parts into the production components' seams.

- the API (:func:`api.main.create_app`) gets the SQLite store, the registry, an in-memory alert
  bus and a config publisher whose changes travel over the in-process bus to the worker (as
  they would over Kafka's compacted ``vigil.patient-config``), plus the dashboard at ``/``;
- the gateway's :class:`~ingest.gateway.MessageProcessor` gets a :class:`BusSink` in place of
  the Kafka producer;
- detection is :class:`stream.pipeline.Pipeline`, exactly as the Faust worker runs it.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI

from alerts.store.base import Store
from api.config_publisher import InMemoryConfigPublisher
from api.live import InMemoryAlertBus
from api.main import create_app
from api.readiness import sql_probe
from api.settings import ApiSettings
from ingest.registry import Registry
from ingest.sink import DeliveryCallback, RecordSink
from ingest.topics import TopicNames
from vigil.demo.bus import InProcessBus

__all__ = ["BusSink", "build_app"]

logger = logging.getLogger(__name__)


class BusSink(RecordSink):
    """The gateway's producer, writing to the in-process bus (delivered at once).

    Counts what it produced per topic, for the demo's progress line.
    """

    def __init__(self, bus: InProcessBus) -> None:
        self.bus = bus
        self.sent: dict[str, int] = {}

    def send(
        self, topic: str, key: bytes | None, value: bytes, on_delivery: DeliveryCallback
    ) -> None:
        self.bus.publish(topic, key.decode() if key else "", value)
        self.sent[topic] = self.sent.get(topic, 0) + 1
        on_delivery(None)

    def flush(self, timeout: float | None = None) -> None:
        """Nothing is ever pending."""

    def close(self, timeout: float | None = None) -> None:
        """Nothing to release."""


def build_app(
    *,
    registry: Registry,
    store: Store,
    alert_bus: InMemoryAlertBus,
    bus: InProcessBus,
    topics: TopicNames,
    device_sync: Callable[[], None] | None = None,
    data_clock: Callable[[], float] | None = None,
) -> FastAPI:
    """The production API over the demo's in-process parts, with the dashboard at ``/``.

    ``data_clock`` is the simulated clock: "the last 24 h" of vitals means 24 h of its time.
    """
    publisher = InMemoryConfigPublisher()

    def forward(patient_id: str, config: Mapping[str, Any]) -> None:
        bus.publish(topics.patient_config, patient_id, json.dumps(dict(config)).encode())

    publisher.add_listener(forward)
    settings = ApiSettings(
        _env_file=None,
        environment="development",
        # a fresh signing key per run: tokens from an earlier demo are worthless
        secret_key=secrets.token_urlsafe(32),
    )
    app = create_app(
        settings,
        registry=registry,
        alert_store=store,
        vitals_store=store,
        alert_bus=alert_bus,
        config_publisher=publisher,
        probes={"registry": sql_probe(registry.engine)},
        device_sync=device_sync or (lambda: None),
        data_clock=data_clock,
    )
    return app

"""Prometheus metrics of the MQTT -> Kafka gateway.

Each :class:`GatewayMetrics` has its own registry, so several gateways in one process (tests,
the embedded demo) never collide; ``vigil gateway`` serves it over HTTP.

Examples
--------
>>> m = GatewayMetrics()
>>> m.received.inc()
>>> m.rejected.labels(reason="bad_json").inc()
>>> b'vigil_gateway_samples_rejected_total{reason="bad_json"} 1.0' in m.exposition()
True
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["GatewayMetrics"]

#: Receive-to-PUBACK latency buckets: linger (ms) up to Kafka retries (s).
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class GatewayMetrics:
    """Counters and histograms the gateway updates (names prefixed ``vigil_gateway_``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = CollectorRegistry() if registry is None else registry
        r = self.registry
        self.received = Counter(
            "vigil_gateway_messages_received", "MQTT messages received", registry=r
        )
        self.acked = Counter(
            "vigil_gateway_messages_acked", "MQTT messages acknowledged after Kafka", registry=r
        )
        self.produced = Counter(
            "vigil_gateway_samples_produced", "Valid samples acknowledged by Kafka", registry=r
        )
        self.rejected = Counter(
            "vigil_gateway_samples_rejected",
            "Samples or whole messages dead-lettered, by reason",
            ["reason"],
            registry=r,
        )
        self.produce_errors = Counter(
            "vigil_gateway_produce_errors", "Kafka records that could not be delivered", registry=r
        )
        self.ack_latency = Histogram(
            "vigil_gateway_ack_latency_seconds",
            "From MQTT receive to PUBACK (Kafka acknowledged every record)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.inflight = Gauge(
            "vigil_gateway_inflight_messages",
            "Messages received but not yet acknowledged",
            registry=r,
        )
        self.mqtt_up = Gauge(
            "vigil_gateway_mqtt_subscribed",
            "1 while connected to the broker and subscribed to the devices' topics, else 0",
            registry=r,
        )

    def exposition(self) -> bytes:
        """The metrics in Prometheus text format."""
        return generate_latest(self.registry)

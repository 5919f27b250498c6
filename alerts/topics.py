"""The Kafka topics of the alerts side: what the sink reads, where dead letters go.

Names carry the same optional prefix as every Vigil topic (``VIGIL_TOPIC_PREFIX``), so test
runs on one broker never see each other's records. The rollup topic names come from
:mod:`stream.rollup`, next to the records' producer.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.topics import TopicSpec
from stream.rollup import NEWS2_TOPIC, VITALS_1M_TOPIC

__all__ = ["SinkTopics"]


@dataclass(frozen=True)
class SinkTopics:
    """The topics the sink reads and writes, under an optional prefix.

    Examples
    --------
    >>> t = SinkTopics("run1.")
    >>> t.alerts, t.alerts_dlq, t.alert_events, t.vitals_1m, t.news2
    ('run1.vigil.alerts', 'run1.vigil.alerts.dlq', 'run1.vigil.alert-events', \
'run1.vigil.vitals.1m', 'run1.vigil.news2')
    """

    prefix: str = ""

    @property
    def alerts(self) -> str:
        """Alert records (``Alert.to_json``), keyed by patient_id."""
        return f"{self.prefix}vigil.alerts"

    @property
    def alerts_dlq(self) -> str:
        """Records the sink could not decode."""
        return f"{self.prefix}vigil.alerts.dlq"

    @property
    def alert_events(self) -> str:
        """Lifecycle events (:class:`alerts.lifecycle.AlertEvent` JSON), keyed by alert_id."""
        return f"{self.prefix}vigil.alert-events"

    @property
    def vitals_1m(self) -> str:
        """Per-minute vitals rollups (:mod:`stream.rollup`)."""
        return f"{self.prefix}{VITALS_1M_TOPIC}"

    @property
    def news2(self) -> str:
        """Per-minute NEWS2 records (:mod:`stream.rollup`)."""
        return f"{self.prefix}{NEWS2_TOPIC}"

    @property
    def webhooks_dlq(self) -> str:
        """Webhook deliveries that failed every attempt (:mod:`alerts.webhooks`)."""
        return f"{self.prefix}vigil.webhooks.dlq"

    def consumed(self) -> list[str]:
        """The topics the sink consumes."""
        return [self.alerts, self.alert_events, self.vitals_1m, self.news2]

    def specs(self, partitions: int) -> list[TopicSpec]:
        """Every topic the sink and the notifier use (patient-keyed ones share the count)."""
        month = {"retention.ms": str(30 * 24 * 3600 * 1000)}
        return [
            TopicSpec(self.alerts, partitions),
            TopicSpec(self.alert_events, 3),
            TopicSpec(self.vitals_1m, partitions),
            TopicSpec(self.news2, partitions),
            TopicSpec(self.alerts_dlq, 3, month),
            TopicSpec(self.webhooks_dlq, 3, month),
        ]

"""Vigil's Kafka topics: their names and their idempotent creation.

Kafka runs with automatic topic creation off, so ``vigil topics create`` makes every topic the
pipeline uses: the ingest topics and the stream worker's per-minute outputs (the worker's
state changelog is Faust's own). Names carry an optional prefix (``VIGIL_TOPIC_PREFIX``) so
concurrent test runs on one broker never see each other's records.

Examples
--------
>>> names = TopicNames("run7.")
>>> names.vitals, names.dlq, names.patient_config
('run7.vigil.vitals', 'run7.vigil.vitals.dlq', 'run7.vigil.patient-config')
>>> [spec.name for spec in topic_specs(TopicNames(), vitals_partitions=12)][-2:]
['vigil.vitals.1m', 'vigil.news2']
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "TopicNames",
    "TopicSpec",
    "create_topics",
    "subscribe_when_known",
    "topic_specs",
    "wait_for_topics",
]

logger = logging.getLogger(__name__)

#: Kafka's error code for "topic already exists" (CreateTopics response).
_TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True)
class TopicNames:
    """The names of Vigil's topics under an optional ``prefix``."""

    prefix: str = ""

    @property
    def vitals(self) -> str:
        """Validated samples, keyed by patient_id (:mod:`ingest.encoding`)."""
        return f"{self.prefix}vigil.vitals"

    @property
    def dlq(self) -> str:
        """Dead letters: whatever could not enter ``vigil.vitals``, with the reason."""
        return f"{self.prefix}vigil.vitals.dlq"

    @property
    def alerts(self) -> str:
        """Alerts as JSON, keyed by patient_id."""
        return f"{self.prefix}vigil.alerts"

    @property
    def patient_config(self) -> str:
        """Per-patient configuration overrides (compacted, keyed by patient_id)."""
        return f"{self.prefix}vigil.patient-config"

    @property
    def vitals_1m(self) -> str:
        """Per-minute vitals rollups from the stream worker, keyed by patient_id."""
        return f"{self.prefix}vigil.vitals.1m"

    @property
    def news2(self) -> str:
        """Per-minute NEWS2 records from the stream worker, keyed by patient_id."""
        return f"{self.prefix}vigil.news2"


@dataclass(frozen=True)
class TopicSpec:
    """What one topic should look like."""

    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


def topic_specs(names: TopicNames, *, vitals_partitions: int = 12) -> list[TopicSpec]:
    """Return the specs of every topic Vigil needs.

    ``vitals``, ``alerts``, ``patient-config`` and the per-minute ``vitals.1m`` and ``news2``
    share the patient key, so they share the partition count (a worker's partitions line up
    across them); the DLQ is low-volume, three partitions are plenty, and it keeps a month for
    investigation.
    """
    return [
        TopicSpec(names.vitals, vitals_partitions),
        TopicSpec(names.dlq, 3, {"retention.ms": str(30 * 24 * 3600 * 1000)}),
        TopicSpec(names.alerts, vitals_partitions),
        TopicSpec(names.patient_config, vitals_partitions, {"cleanup.policy": "compact"}),
        TopicSpec(names.vitals_1m, vitals_partitions),
        TopicSpec(names.news2, vitals_partitions),
    ]


def create_topics(
    bootstrap: str, specs: list[TopicSpec], *, replication_factor: int = 1
) -> dict[str, str]:
    """Create the topics that do not exist yet; return ``{name: "created" | "exists"}``.

    Idempotent: existing topics are left as they are (a partition count that differs is
    reported in the log, never changed, because repartitioning moves patients between
    partitions).
    """
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vigil-topics")
    try:
        existing: dict[str, Any] = {
            t["name"]: t
            for t in admin.describe_topics([s.name for s in specs])
            if not t.get("error_code")
        }
        wanted = {
            s.name: {
                "num_partitions": s.partitions,
                "replication_factor": replication_factor,
                "configs": dict(s.configs),
            }
            for s in specs
            if s.name not in existing
        }
        result = {name: "exists" for name in existing}
        for s in specs:
            if s.name in existing and len(existing[s.name]["partitions"]) != s.partitions:
                logger.warning(
                    "topic %s has %d partitions, not %d; left unchanged",
                    s.name,
                    len(existing[s.name]["partitions"]),
                    s.partitions,
                )
        if wanted:
            response = admin.create_topics(wanted, raise_errors=False)
            for topic in response["topics"]:
                code = topic["error_code"]
                if code == _TOPIC_ALREADY_EXISTS:  # created concurrently by someone else
                    result[topic["name"]] = "exists"
                elif code:
                    from kafka.errors import for_code

                    raise for_code(code)(f"creating {topic['name']}: {topic.get('error_message')}")
                else:
                    result[topic["name"]] = "created"
            admin.wait_for_topics(list(wanted), timeout_ms=30_000)
        return result
    finally:
        admin.close()


def wait_for_topics(bootstrap: str, topics: list[str], timeout_s: float = 30.0) -> None:
    """Return once the cluster's metadata shows all ``topics`` (or, after ``timeout_s``, say so).

    A throwaway client looks: a group member must not subscribe to topics that do not exist
    yet (freshly created ones take a moment to show). The member's own metadata is another
    matter (:func:`subscribe_when_known`).
    """
    from kafka import KafkaConsumer

    probe = KafkaConsumer(bootstrap_servers=bootstrap, client_id="vigil-topic-probe")
    try:
        deadline = time.monotonic() + timeout_s
        missing = set(topics) - probe.topics()
        while missing and time.monotonic() < deadline:
            time.sleep(0.2)
            missing -= probe.topics()
    finally:
        probe.close()
    if missing:
        logger.warning("subscribing before these topics exist: %s", ", ".join(sorted(missing)))


def subscribe_when_known(consumer: Any, topics: list[str]) -> None:
    """Subscribe a kafka-python ``consumer`` and fetch its topics' metadata before it joins.

    A member joins its group (at its first poll) with the metadata it holds. A new consumer's
    first metadata has no topics (:func:`wait_for_topics` only showed that they exist), so its
    first generation got no partitions, the metadata that came next differed from what it had
    assigned with, and an immediate rebalance followed, in which kafka-python 3.0's group join
    could hang for good (the sink's integration test, its second generation elected leader and
    then silent: 2 runs in 6 with both cores busy). Asking for each topic's partitions once
    subscribed fetches the metadata the coordinator assigns and compares with, so the first
    generation is the only one.
    """
    consumer.subscribe(topics)
    for topic in topics:
        consumer.partitions_for_topic(topic)

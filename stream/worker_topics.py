"""The topics the stream worker reads and writes, created if missing.

The worker uses the topics ``vigil topics create`` makes (:func:`ingest.topics.topic_specs`,
the one list, including its per-minute rollup and NEWS2 topics of :mod:`stream.rollup`); at
start it makes sure they exist (idempotent; Kafka's automatic creation is off). The state
table's changelog topic is created by Faust itself.

Examples
--------
>>> from stream.worker_settings import WorkerSettings
>>> [(s.name, s.partitions) for s in worker_topic_specs(WorkerSettings(
...     _env_file=None, topic_prefix="t.", vitals_partitions=4))][-2:]
[('t.vigil.vitals.1m', 4), ('t.vigil.news2', 4)]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ingest.topics import TopicNames, TopicSpec, create_topics, topic_specs
from stream.worker_settings import WorkerSettings

__all__ = ["OutputTopics", "ensure_topics", "worker_topic_specs"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutputTopics:
    """Where the worker core (:mod:`stream.processor`) sends its records, and what it reads."""

    vitals: str
    dlq: str
    alerts: str
    rollups: str
    news2: str

    @classmethod
    def for_prefix(cls, prefix: str) -> OutputTopics:
        """The standard topic names under ``prefix``."""
        names = TopicNames(prefix)
        return cls(
            vitals=names.vitals,
            dlq=names.dlq,
            alerts=names.alerts,
            rollups=names.vitals_1m,
            news2=names.news2,
        )


def worker_topic_specs(settings: WorkerSettings) -> list[TopicSpec]:
    """Every topic the worker uses; the patient-keyed ones share the vitals partition count."""
    return topic_specs(settings.topics, vitals_partitions=settings.vitals_partitions)


def ensure_topics(settings: WorkerSettings) -> dict[str, str]:
    """Create the worker's topics that do not exist yet; ``{name: "created" | "exists"}``."""
    result = create_topics(settings.kafka_bootstrap, worker_topic_specs(settings))
    created = sorted(name for name, what in result.items() if what == "created")
    if created:
        logger.info("created topics %s", created)
    return result

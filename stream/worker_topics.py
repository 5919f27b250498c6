"""The topics the stream worker reads and writes, created if missing.

``vigil topics create`` makes the ingest topics; the worker also writes per-minute rollups
and NEWS2 records (:mod:`stream.rollup`), so at start it makes sure every topic it uses
exists (idempotent; Kafka's automatic creation is off). The state table's changelog topic is
created by Faust itself.

Examples
--------
>>> from stream.worker_settings import WorkerSettings
>>> [(s.name, s.partitions) for s in worker_topic_specs(WorkerSettings(
...     _env_file=None, topic_prefix="t.", vitals_partitions=4))][-2:]
[('t.vigil.vitals.1m', 4), ('t.vigil.news2', 4)]
"""

from __future__ import annotations

import logging

from ingest.topics import TopicSpec, create_topics, topic_specs
from stream.worker_settings import WorkerSettings

__all__ = ["ensure_topics", "worker_topic_specs"]

logger = logging.getLogger(__name__)


def worker_topic_specs(settings: WorkerSettings) -> list[TopicSpec]:
    """Every topic the worker uses; the patient-keyed ones share the vitals partition count."""
    n = settings.vitals_partitions
    return [
        *topic_specs(settings.topics, vitals_partitions=n),
        TopicSpec(settings.rollup_topic, n),
        TopicSpec(settings.news2_topic, n),
    ]


def ensure_topics(settings: WorkerSettings) -> dict[str, str]:
    """Create the worker's topics that do not exist yet; ``{name: "created" | "exists"}``."""
    result = create_topics(settings.kafka_bootstrap, worker_topic_specs(settings))
    created = sorted(name for name, what in result.items() if what == "created")
    if created:
        logger.info("created topics %s", created)
    return result

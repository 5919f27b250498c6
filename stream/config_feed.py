"""Clinician settings for the worker: the compacted ``vigil.patient-config`` topic, followed live.

Every worker reads the *whole* topic (all partitions, no consumer group, from the beginning)
and then keeps following it, so a patient's settings are known wherever the patient's
partition moves and a change applies to the next sample without a restart. The topic is
compacted and small (one record per configured patient), so reading it all is cheap.

Records are keyed by ``patient_id``; the value is a :class:`~stream.detect.config.PatientConfig`
as JSON (:meth:`~stream.detect.config.PatientConfig.to_dict`), or empty (a tombstone) to go back
to the defaults. :func:`decode_config` is the pure part.

Examples
--------
>>> decode_config(b'{"spo2_scale": 2}').spo2_scale
2
>>> decode_config(None) == PatientConfig()
True
>>> encode_config(PatientConfig(on_oxygen=True))[:31]
b'{"spo2_scale":1,"on_oxygen":tru'
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec

from stream.detect.config import PatientConfig

__all__ = ["ConfigFeed", "decode_config", "encode_config"]

logger = logging.getLogger(__name__)


def decode_config(value: bytes | None) -> PatientConfig:
    """Parse a ``vigil.patient-config`` value (``None`` or empty: the defaults).

    Raises
    ------
    msgspec.DecodeError, ValueError
        If it is not a valid configuration.
    """
    if not value:
        return PatientConfig()
    data = msgspec.json.decode(value)
    if not isinstance(data, dict):
        raise ValueError("a patient configuration is a JSON object")
    return PatientConfig.from_dict(data)


def encode_config(config: PatientConfig) -> bytes:
    """The ``vigil.patient-config`` value of ``config``."""
    return msgspec.json.encode(config.to_dict())


class ConfigFeed:
    """Follows the configuration topic and calls ``apply(patient_id, config)`` per record.

    :attr:`ready` is set once everything that was on the topic at start has been applied,
    so the worker can hold its first sample until every known setting is in place.

    Parameters
    ----------
    bootstrap
        Kafka bootstrap servers.
    topic
        The configuration topic.
    apply
        Called for each record in topic order per patient.
    """

    def __init__(
        self, bootstrap: str, topic: str, apply: Callable[[str, PatientConfig], None]
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.apply = apply
        self.ready = asyncio.Event()
        self.applied = 0
        #: Seconds to wait for the topic's partitions before going on without settings.
        self.missing_after_s = 10.0

    async def run(self) -> None:
        """Read the topic forever (cancel to stop)."""
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=None,  # every partition, no group: each worker needs every setting
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            end: dict[Any, int] | None = None
            started = time.monotonic()
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for rec in records:
                        self._apply(rec.key, rec.value)
                if self.ready.is_set():
                    continue
                if end is None:
                    tps = consumer.assignment()
                    if tps:
                        end = await consumer.end_offsets(list(tps))
                    elif time.monotonic() - started > self.missing_after_s:
                        logger.warning("topic %s not found: no clinician settings", self.topic)
                        self.ready.set()
                        continue
                    else:
                        continue
                if all([await consumer.position(tp) >= n for tp, n in end.items()]):
                    logger.info("clinician settings loaded: %d records", self.applied)
                    self.ready.set()
        finally:
            await consumer.stop()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if not key:
            logger.warning("configuration record without a patient key ignored")
            return
        patient_id = key.decode(errors="replace")
        try:
            config = decode_config(value)
        except (msgspec.DecodeError, ValueError) as exc:
            logger.warning(
                "invalid configuration for patient %s ignored: %s", patient_id, type(exc).__name__
            )
            return
        self.apply(patient_id, config)
        self.applied += 1

"""Publishing per-patient configuration to the detection workers (``vigil.patient-config``).

The topic is compacted and keyed by patient id, so it always holds each patient's current
:class:`~stream.detect.config.PatientConfig` (the JSON of ``PatientConfig.to_dict()``); a
worker that restarts rebuilds every patient's settings by reading it from the beginning.
:class:`KafkaConfigPublisher` writes it with ``acks=all`` and waits for the broker, so the
API reports success only when the change is durable; :class:`InMemoryConfigPublisher` is the
embedded demo's and the tests' stand-in, with listeners for an in-process pipeline.

Examples
--------
>>> pub = InMemoryConfigPublisher()
>>> seen = []
>>> pub.add_listener(lambda pid, cfg: seen.append((pid, cfg["spo2_scale"])))
>>> pub.publish("P1", {"spo2_scale": 2, "v": 1})
>>> pub.current["P1"]["spo2_scale"], seen
(2, [('P1', 2)])
"""

from __future__ import annotations

import json
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from api.exceptions import ServiceUnavailable

__all__ = ["InMemoryConfigPublisher", "KafkaConfigPublisher", "PatientConfigPublisher"]

logger = logging.getLogger(__name__)

Listener = Callable[[str, Mapping[str, Any]], None]


class PatientConfigPublisher(ABC):
    """Where per-patient configuration changes go."""

    @abstractmethod
    def publish(self, patient_id: str, config: Mapping[str, Any]) -> None:
        """Make ``config`` the current configuration of ``patient_id``; durable on return.

        Raises
        ------
        ServiceUnavailable
            If the change could not be made durable (the caller rolls back).
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class InMemoryConfigPublisher(PatientConfigPublisher):
    """Keeps the latest configuration per patient and calls listeners (demo, tests)."""

    def __init__(self) -> None:
        self.current: dict[str, dict[str, Any]] = {}
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(patient_id, config)`` on every publish."""
        self._listeners.append(listener)

    def publish(self, patient_id: str, config: Mapping[str, Any]) -> None:
        with self._lock:
            self.current[patient_id] = dict(config)
        for listener in list(self._listeners):
            listener(patient_id, config)


class KafkaConfigPublisher(PatientConfigPublisher):
    """Produce configurations to the compacted topic with kafka-python (created lazily).

    Parameters
    ----------
    bootstrap
        Kafka bootstrap servers.
    topic
        The patient-config topic (it must exist: auto-creation is off).
    timeout_s
        How long :meth:`publish` waits for the broker's acknowledgement.
    """

    def __init__(self, bootstrap: str, topic: str, *, timeout_s: float = 10.0) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._timeout_s = timeout_s
        self._producer: Any = None
        self._lock = threading.Lock()

    def _get_producer(self) -> Any:
        with self._lock:
            if self._producer is None:
                from kafka import KafkaProducer

                self._producer = KafkaProducer(
                    bootstrap_servers=self._bootstrap,
                    acks="all",
                    client_id="vigil-api-config",
                    max_block_ms=int(self._timeout_s * 1000),
                )
            return self._producer

    def publish(self, patient_id: str, config: Mapping[str, Any]) -> None:
        value = json.dumps(dict(config), sort_keys=True, separators=(",", ":")).encode()
        try:
            future = self._get_producer().send(self._topic, key=patient_id.encode(), value=value)
            future.get(timeout=self._timeout_s)
        except Exception as exc:  # any client error means "not durable"
            logger.warning(
                "publishing config for patient %s failed: %s", patient_id, type(exc).__name__
            )
            raise ServiceUnavailable("configuration could not be published; try again") from exc

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=self._timeout_s)
                self._producer = None

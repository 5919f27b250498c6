"""The webhook loop: ``vigil.alerts`` and ``vigil.alert-events`` into a webhook Notifier.

It runs in its own consumer group (``VIGIL_NOTIFIER_GROUP``), beside the storage sink in the
``vigil sink`` process, so a slow or failing webhook never holds up storage and an InfluxDB
outage never holds up notifications. Offsets are committed after every record of a poll
has been delivered or dead-lettered; the delivery ledger makes re-reads harmless.

A group that has never committed starts at the *latest* offset: a new notifier does not page
a ward about last month's alerts.

Lifecycle state (for snooze and escalation level) is read from the store only for
escalations: an episode's opening record cannot have been snoozed yet.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

import msgspec

from alerts.exceptions import MalformedRecord, StoreError
from alerts.lifecycle import AlertEvent
from alerts.model import Alert
from alerts.records import decode_record
from alerts.sink import Consumer
from alerts.store.base import AlertStore
from alerts.topics import SinkTopics
from alerts.webhooks import DeliveryResult, Notification, Notifier, notification_event

__all__ = ["NotifierLoop", "WebhookDeadLetter", "kafka_dead_letters"]

logger = logging.getLogger(__name__)


class WebhookDeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """A notification that failed every attempt (``vigil.webhooks.dlq``)."""

    notification: Notification
    reason: str
    failed_at: float
    v: int = 1


def kafka_dead_letters(producer: Any, topic: str) -> Any:
    """A dead-letter sink producing :class:`WebhookDeadLetter` JSON to ``topic``."""

    def send(note: Notification, reason: str) -> None:
        letter = WebhookDeadLetter(notification=note, reason=reason, failed_at=time.time())
        producer.send(topic, msgspec.json.encode(letter), note.alert.get("patient_id", "").encode())
        producer.flush(timeout=30)

    return send


class NotifierLoop:
    """Consume alerts and lifecycle events; hand them to a :class:`Notifier`.

    Parameters
    ----------
    notifier
        Decides and delivers.
    store
        Lifecycle state for escalations (snooze, level).
    consumer
        Subscribed to ``topics.alerts`` and ``topics.alert_events``, manual commits.
    topics
        Topic names.
    """

    def __init__(
        self, notifier: Notifier, store: AlertStore, consumer: Consumer, topics: SinkTopics
    ) -> None:
        self.notifier = notifier
        self.store = store
        self.consumer = consumer
        self.topics = topics
        #: The most recent outcomes (for tests and the log).
        self.results: deque[DeliveryResult] = deque(maxlen=10_000)
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask :meth:`run` to return after the current poll."""
        self._stop.set()

    def run(self) -> None:
        """Deliver until :meth:`stop`."""
        while not self._stop.is_set():
            self.step()

    def _state(self, alert_id: str) -> Any:
        try:
            return self.store.get_alert(alert_id)
        except StoreError as exc:  # no state: notify rather than stay silent
            logger.warning("no lifecycle state for %s (%s); assuming not snoozed", alert_id, exc)
            return None

    def handle(self, topic: str, value: bytes | None) -> list[DeliveryResult]:
        """Notify for one record (undecodable records are skipped; the sink dead-letters them)."""
        try:
            item = decode_record(self.topics, topic, value)
        except MalformedRecord:
            return []
        if isinstance(item, Alert):
            kind = notification_event(item)
            if kind is None:
                return []
            record = self._state(item.alert_id) if kind == "alert.escalated" else None
            return self.notifier.on_alert(item, None if record is None else record.state)
        if isinstance(item, AlertEvent) and item.action == "escalate":
            record = self._state(item.alert_id)
            if record is None:
                return self.notifier.on_event(item, None, None)
            return self.notifier.on_event(item, record.alert, record.state)
        return []

    def step(self) -> int:
        """Handle one poll's records and commit; return how many records were read."""
        from kafka.errors import CommitFailedError, RebalanceInProgressError
        from kafka.structs import OffsetAndMetadata

        polled = self.consumer.poll(timeout_ms=500, max_records=100)
        offsets: dict[Any, Any] = {}
        count = 0
        for tp, records in polled.items():
            for rec in records:
                self.results.extend(self.handle(rec.topic, rec.value))
                offsets[tp] = OffsetAndMetadata(rec.offset + 1, "", -1)
                count += 1
        if offsets:
            try:
                self.consumer.commit(offsets)
            except (CommitFailedError, RebalanceInProgressError) as exc:
                logger.warning("notifier commit failed after a rebalance: %s", exc)
        return count


def open_notifier_consumer(bootstrap: str, group: str, topics: SinkTopics) -> Any:
    """A kafka-python consumer for the notifier (manual commits, new groups start at latest)."""
    from kafka import KafkaConsumer

    from ingest.topics import wait_for_topics

    wait_for_topics(bootstrap, [topics.alerts, topics.alert_events])
    return KafkaConsumer(
        topics.alerts,
        topics.alert_events,
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=f"{group}-notifier",
        enable_auto_commit=False,
        auto_offset_reset="latest",
        max_poll_records=100,
        max_poll_interval_ms=600_000,
        # A crashed sink's partitions move to a restarted one within ~10 s, not Kafka's 45 s.
        session_timeout_ms=10_000,
    )

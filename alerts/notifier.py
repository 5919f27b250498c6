"""The webhook loop: ``vigil.alerts`` and ``vigil.alert-events`` into a webhook Notifier.

It runs in its own consumer group (``VIGIL_NOTIFIER_GROUP``), beside the storage sink in the
``vigil sink`` process, so a slow or failing webhook never holds up storage and an InfluxDB
outage never holds up notifications. Offsets are committed after every record of a poll
has been delivered or dead-lettered; the delivery ledger makes re-reads harmless.

A group that has never committed starts at the *latest* offset: a new notifier does not page
a ward about last month's alerts.

Lifecycle state (for snooze, resolution and escalation level) is read from the store only for
escalations: an episode's opening record cannot have been snoozed yet. A detector's
escalation is sent even when the store cannot say (notify rather than stay silent); a
clinician's escalation event waits for the store (the loop stops without committing and the
event is read again), since it names the alert and level that the store holds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

import msgspec

from alerts.exceptions import MalformedRecord, StoreError
from alerts.lifecycle import AlertEvent, fold
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
        key = note.alert.get("patient_id", "").encode()
        future = producer.send(topic, msgspec.json.encode(letter), key)
        producer.flush(timeout=30)
        # flush() does not raise for a record that failed: its future does. A dead letter
        # that did not reach Kafka must not be recorded as delivered (the record is re-read).
        future.get(timeout=30)

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
    retry_s
        Pause before a record that could not be handled (the store or the dead-letter topic
        was down) is read again.
    """

    def __init__(
        self,
        notifier: Notifier,
        store: AlertStore,
        consumer: Consumer,
        topics: SinkTopics,
        *,
        retry_s: float = 2.0,
    ) -> None:
        self.notifier = notifier
        self.store = store
        self.consumer = consumer
        self.topics = topics
        self.retry_s = retry_s
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
            # A human escalation needs the alert it escalates: with the store down, fail (the
            # record is read again) rather than commit past a page that was never sent.
            record = self.store.get_alert(item.alert_id)
            if record is None:
                return self.notifier.on_event(item, None, None)
            # the sink, in its own group, may not have stored this event yet: fold it in
            # (fold counts an event id once) so the page carries the level it raises to
            events = [*self.store.events(item.alert_id), item]
            return self.notifier.on_event(item, record.alert, fold(item.alert_id, events))
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
                try:
                    results = self.handle(rec.topic, rec.value)
                except Exception as exc:  # noqa: BLE001 - the store or the DLQ is down
                    # not lost and not skipped: this partition reads the record again after a
                    # pause (the records before it are committed)
                    logger.warning(
                        "notifier: %s on %s@%d; reading it again in %.0f s",
                        type(exc).__name__, rec.topic, rec.offset, self.retry_s,
                    )  # fmt: skip
                    self.consumer.seek(tp, rec.offset)
                    self._stop.wait(self.retry_s)
                    break
                self.results.extend(results)
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

    from ingest.topics import subscribe_when_known, wait_for_topics

    names = [topics.alerts, topics.alert_events]
    wait_for_topics(bootstrap, names)
    consumer = KafkaConsumer(
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
    subscribe_when_known(consumer, names)
    return consumer

"""Webhooks: tell each care team's system about new and escalated alerts.

What is sent. For every alert record that *opens* an episode (``status="open"``, ``seq`` 0)
an ``alert.new`` notification, and for every escalation - a detector record with
``status="escalated"`` or an ``escalate`` lifecycle event - an ``alert.escalated``
notification, to every :class:`~alerts.settings.WebhookTarget` whose team cares for the
patient. Escalations of a snoozed alert are not sent (:func:`alerts.lifecycle.is_snoozed`).

How. An HTTP ``POST`` of JSON (:meth:`Notification.body`) with headers

- ``X-Vigil-Event``: ``alert.new`` | ``alert.escalated``;
- ``X-Vigil-Delivery``: a stable id per (record, team) - receivers dedupe on it;
- ``X-Vigil-Signature``: ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with the
  team's secret (:func:`sign`, :func:`verify`; the timestamp bounds replays).

A 2xx answer is success. Connection errors, timeouts, 408, 429 and 5xx are retried with
exponential backoff up to ``max_attempts``; other 4xx answers cannot improve and are not
retried. A delivery that does not succeed goes to the dead-letter sink
(``vigil.webhooks.dlq`` in production). A :class:`~alerts.ledger.DeliveryLedger` remembers finished
deliveries so a re-read Kafka record is not sent twice; a crash between sending and
recording can still repeat one (at-least-once, hence the delivery id).

The HTTP transport sits behind :class:`Transport` (:class:`HttpxTransport` in production,
a scripted fake in unit tests).

Examples
--------
>>> sig = sign(b"s3cret", b'{"a":1}', timestamp=1714550400)
>>> sig[:13]
't=1714550400,'
>>> verify(b"s3cret", b'{"a":1}', sig, now=1714550460)
True
>>> verify(b"wrong", b'{"a":1}', sig, now=1714550460)
False
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

import msgspec

from alerts.backoff import backoff_delays
from alerts.exceptions import WebhookError
from alerts.ledger import DeliveryLedger
from alerts.lifecycle import AlertEvent, AlertState, is_snoozed
from alerts.model import Alert
from alerts.settings import WebhookTarget

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "DeliveryResult",
    "HttpxTransport",
    "Notification",
    "Notifier",
    "StaticTargets",
    "TargetResolver",
    "Transport",
    "TransportFailed",
    "notification_event",
    "sign",
    "verify",
]

logger = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "X-Vigil-Signature"
DELIVERY_HEADER: Final = "X-Vigil-Delivery"
EVENT_HEADER: Final = "X-Vigil-Event"
#: Version of the notification body.
NOTIFICATION_VERSION: Final = 1

Event = Literal["alert.new", "alert.escalated"]
Outcome = Literal["delivered", "dead", "duplicate"]


def _key(secret: bytes | str) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: bytes | str, body: bytes, *, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(
    secret: bytes | str, body: bytes, header: str, *, now: float, tolerance_s: float = 300.0
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and is at most ``tolerance_s`` old."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp=timestamp).rsplit("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    """One message to one team: what happened, to which alert."""

    delivery_id: str
    event: Event
    team: str
    alert: dict[str, Any]
    escalation_level: int = 0
    actor: str | None = None
    v: int = NOTIFICATION_VERSION

    def body(self) -> bytes:
        """The JSON request body."""
        return msgspec.json.encode(self)


def notification_event(alert: Alert) -> Event | None:
    """Which notification an alert record warrants, if any.

    Examples
    --------
    >>> a = Alert.new(patient_id="p1", category="clinical", kind="fever", severity="low",
    ...               vitals=["temp"], started_at=0.0, detected_at=0.0, message="T 38.4")
    >>> notification_event(a), notification_event(msgspec.structs.replace(a, status="resolved"))
    ('alert.new', None)
    """
    if alert.status == "open" and alert.seq == 0:
        return "alert.new"
    if alert.status == "escalated":
        return "alert.escalated"
    return None


def _delivery_id(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


class TargetResolver(Protocol):
    """Which webhook targets care for a patient (settings today, the registry later)."""

    def targets_for(self, patient_id: str) -> Sequence[WebhookTarget]:
        """Targets whose team covers ``patient_id``."""


@dataclass(frozen=True)
class StaticTargets:
    """Targets from settings (``VIGIL_WEBHOOKS``)."""

    targets: Sequence[WebhookTarget]

    def targets_for(self, patient_id: str) -> Sequence[WebhookTarget]:
        """Targets whose ``patients`` include ``patient_id`` or ``"*"``."""
        return [t for t in self.targets if t.covers(patient_id)]


class TransportFailed(WebhookError):
    """The request did not complete (connection refused, timeout, TLS ...)."""


class Transport(Protocol):
    """Sends one HTTP POST; the only network I/O of webhooks."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        """POST ``body``; return the status code or raise :class:`TransportFailed`."""


class HttpxTransport:
    """:class:`Transport` over one pooled :class:`httpx.Client`."""

    def __init__(self) -> None:
        import httpx

        self._httpx = httpx
        self._client = httpx.Client(follow_redirects=False)

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        try:
            response = self._client.post(url, content=body, headers=dict(headers), timeout=timeout)
        except (self._httpx.HTTPError, self._httpx.InvalidURL, UnicodeError) as exc:
            # InvalidURL is no HTTPError, nor is the UnicodeError (IDNAError) of a host name
            # such as xn--: uncaught, one mistyped target URL stopped the notifier loop at
            # that record for ever, every other team's pages behind it
            raise TransportFailed(f"{type(exc).__name__}: {exc}") from None
        return response.status_code

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


@dataclass(frozen=True)
class DeliveryResult:
    """What became of one notification."""

    delivery_id: str
    team: str
    event: Event
    outcome: Outcome
    attempts: int
    status: int | None = None
    reason: str = ""


#: Called with a notification that failed every attempt, and why.
DeadLetterSink = Callable[[Notification, str], None]


class Notifier:
    """Decides what to send to whom, signs it, sends it, retries, dead-letters.

    Parameters
    ----------
    targets
        Who cares for which patient.
    transport
        The HTTP seam.
    ledger
        Finished deliveries (dedupes re-read records).
    dead_letter
        Receives notifications that failed every attempt.
    max_attempts, backoff_s, backoff_max_s, timeout_s
        Retry policy and per-request timeout.
    sleep, clock
        Seams for tests (``clock`` is wall time: it goes into signatures and snooze checks).
    """

    def __init__(
        self,
        targets: TargetResolver,
        transport: Transport,
        ledger: DeliveryLedger,
        dead_letter: DeadLetterSink,
        *,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        timeout_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.targets = targets
        self.transport = transport
        self.ledger = ledger
        self.dead_letter = dead_letter
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.timeout_s = timeout_s
        self.sleep = sleep
        self.clock = clock

    def _snoozed(self, state: AlertState | None) -> bool:
        from datetime import UTC, datetime

        return state is not None and is_snoozed(state, datetime.fromtimestamp(self.clock(), UTC))

    def _quiet(self, state: AlertState | None, severity: str) -> str | None:
        """Why an escalation is not paged (snoozed, or resolved by a clinician), or ``None``.

        A critical escalation is paged whatever the state, as the detector's policy lets a
        critical alert through a snooze.
        """
        if severity == "critical" or state is None:
            return None
        if state.status == "resolved":
            return "resolved"
        return "snoozed" if self._snoozed(state) else None

    def on_alert(self, alert: Alert, state: AlertState | None = None) -> list[DeliveryResult]:
        """Notify about one detector record; ``state`` is its lifecycle state if known."""
        event = notification_event(alert)
        if event is None:
            return []
        quiet = self._quiet(state, alert.severity) if event == "alert.escalated" else None
        if quiet is not None:
            logger.info("alert %s escalated while %s: not sent", alert.alert_id, quiet)
            return []
        body = alert.to_json_dict()
        level = state.escalation_level if state is not None else 0
        return [
            self.deliver(
                target,
                Notification(
                    delivery_id=_delivery_id(alert.alert_id, alert.seq, target.team),
                    event=event,
                    team=target.team,
                    alert=body,
                    escalation_level=level,
                ),
            )
            for target in self.targets.targets_for(alert.patient_id)
        ]

    def on_event(
        self, event: AlertEvent, alert: Alert | None, state: AlertState | None
    ) -> list[DeliveryResult]:
        """Notify about a lifecycle event (only ``escalate`` events are sent)."""
        if event.action != "escalate":
            return []
        if alert is None:
            logger.warning("escalation of unknown alert %s: not sent", event.alert_id)
            return []
        quiet = self._quiet(state, alert.severity)
        if quiet is not None:
            logger.info("alert %s escalated while %s: not sent", event.alert_id, quiet)
            return []
        level = state.escalation_level if state is not None else 1
        return [
            self.deliver(
                target,
                Notification(
                    delivery_id=_delivery_id(event.event_id, target.team),
                    event="alert.escalated",
                    team=target.team,
                    alert=alert.to_json_dict(),
                    escalation_level=level,
                    actor=event.actor,
                ),
            )
            for target in self.targets.targets_for(alert.patient_id)
        ]

    def deliver(self, target: WebhookTarget, note: Notification) -> DeliveryResult:
        """Send ``note`` to ``target`` with retries; dead-letter it if every attempt fails."""
        if self.ledger.seen(note.delivery_id):
            return DeliveryResult(note.delivery_id, target.team, note.event, "duplicate", 0)
        body = note.body()
        secret = target.secret.get_secret_value()
        delays = iter(backoff_delays(self.backoff_s, self.backoff_max_s))
        status: int | None = None
        reason = ""
        attempt = 0
        for attempt in range(1, self.max_attempts + 1):
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "vigil-webhooks/1",
                EVENT_HEADER: note.event,
                DELIVERY_HEADER: note.delivery_id,
                SIGNATURE_HEADER: sign(secret, body, timestamp=int(self.clock())),
            }
            try:
                status = self.transport.post(target.url, body, headers, self.timeout_s)
            except TransportFailed as exc:
                status, reason = None, str(exc)
            else:
                if 200 <= status < 300:
                    self.ledger.record(note.delivery_id, "delivered")
                    return DeliveryResult(
                        note.delivery_id, target.team, note.event, "delivered", attempt, status
                    )
                reason = f"HTTP {status}"
                if status < 500 and status not in (408, 429):
                    break  # the receiver refuses this request; retrying cannot help
            logger.warning(
                "webhook %s to team %s failed (attempt %d/%d): %s",
                note.delivery_id,
                target.team,
                attempt,
                self.max_attempts,
                reason,
            )
            if attempt < self.max_attempts:
                self.sleep(next(delays))
        self.dead_letter(note, reason)
        self.ledger.record(note.delivery_id, "dead")
        return DeliveryResult(
            note.delivery_id, target.team, note.event, "dead", attempt, status, reason
        )

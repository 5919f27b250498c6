"""Errors raised by the alerts package: lifecycle, storage, the sink and webhooks.

Hierarchy::

    vigil.exceptions.VigilError
    └── AlertsError                 anything the alerts layer refuses
        ├── InvalidTransition       a lifecycle action that does not apply to the alert's state
        ├── StoreError              a store could not read or write
        │   ├── StoreUnavailable    the backend is down or unreachable (retry later)
        │   └── BadCursor           a pagination cursor that this store did not issue
        ├── MalformedRecord         a Kafka record the sink cannot decode (it goes to the DLQ)
        └── WebhookError            webhook configuration or delivery failed

Callers that retry (the sink, during an InfluxDB outage) catch :class:`StoreUnavailable`;
everything else in :class:`StoreError` is a bug or bad input and is not retried.
"""

from __future__ import annotations

from vigil.exceptions import VigilError


class AlertsError(VigilError):
    """Base class of the alerts layer's errors."""


class InvalidTransition(AlertsError):
    """A lifecycle action does not apply to the alert's current state.

    Examples
    --------
    >>> str(InvalidTransition("ack", "resolved"))
    "cannot 'ack' an alert that is resolved"
    """

    def __init__(self, action: str, status: str) -> None:
        super().__init__(f"cannot {action!r} an alert that is {status}")
        self.action = action
        self.status = status

    def __reduce__(self) -> tuple[type[InvalidTransition], tuple[str, str]]:
        return (InvalidTransition, (self.action, self.status))


class StoreError(AlertsError):
    """A store could not read or write."""


class StoreUnavailable(StoreError):
    """The storage backend is down or unreachable; the operation may succeed later."""


class BadCursor(StoreError):
    """A pagination cursor was malformed or not issued by this store."""


class MalformedRecord(AlertsError):
    """A record the sink cannot decode.

    ``reason`` is a stable snake_case code (``bad_json``, ``bad_alert``, ``unknown_topic`` ...)
    that labels the dead-letter record.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[MalformedRecord], tuple[str, str]]:
        return (MalformedRecord, (self.reason, self.detail))


class WebhookError(AlertsError):
    """Webhook configuration is invalid or a delivery failed."""

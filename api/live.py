"""Live alert events for Server-Sent Events: an in-process hub with resume, and alert buses.

:class:`AlertHub` numbers every event it publishes and keeps the last ``buffer`` of them, so a
client that reconnects with ``Last-Event-ID`` gets what it missed. Event ids are
``<epoch>-<seq>``: the epoch is random per hub, so an id from before an API restart (or from
another API instance) is recognised as foreign and the client is told to ``reset`` (refetch
the list) instead of silently missing events. A subscriber that falls more than ``queue_size``
events behind is disconnected rather than allowed to grow memory; it reconnects and resumes.

An :class:`AlertBus` is where new detector alert records come from: :class:`InMemoryAlertBus`
for the embedded demo and tests, :class:`api.kafka_bus.KafkaAlertBus` for production. The app
pumps the bus into the hub; lifecycle changes made through the API are published to the hub
directly.

Examples
--------
>>> import asyncio
>>> async def demo():
...     hub = AlertHub(buffer=10, epoch="e1")
...     first = hub.publish("alert", "P1", {"n": 1})
...     hub.publish("alert", "P1", {"n": 2})
...     sub = hub.subscribe(first.id)       # resume after the first event
...     return [e.data["n"] for e in sub.replay], sub.reset, hub.subscribe("other-3").reset
>>> asyncio.run(demo())
([2], False, True)
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from alerts.model import Alert

__all__ = ["AlertBus", "AlertHub", "InMemoryAlertBus", "LiveEvent", "Subscription"]

logger = logging.getLogger(__name__)

_CLOSED = object()


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One event on the live stream."""

    epoch: str
    seq: int
    event: str
    patient_id: str
    data: dict[str, Any]

    @property
    def id(self) -> str:
        """The SSE event id, ``<epoch>-<seq>``."""
        return f"{self.epoch}-{self.seq}"


@dataclass(eq=False)
class Subscription:
    """One client's view of the hub: events to replay, then live ones from :meth:`get`.

    ``reset`` is true when the client's ``Last-Event-ID`` could not be resumed (unknown epoch
    or older than the buffer): it should refetch its state over REST.
    """

    hub: AlertHub
    replay: list[LiveEvent]
    reset: bool
    queue: asyncio.Queue[object] = field(default_factory=asyncio.Queue)
    closed: bool = False

    async def get(self, timeout: float) -> LiveEvent | None:
        """The next live event, or ``None`` after ``timeout`` seconds without one.

        Raises
        ------
        StopAsyncIteration
            When the hub shuts down or this subscriber fell too far behind.
        """
        try:
            item = await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None
        if item is _CLOSED:
            raise StopAsyncIteration
        assert isinstance(item, LiveEvent)  # noqa: S101 - only events and _CLOSED are queued
        return item

    def close(self) -> None:
        """Stop receiving events."""
        self.hub.unsubscribe(self)


class AlertHub:
    """Fan live events out to subscribers, keeping a replay buffer for ``Last-Event-ID``.

    :meth:`publish` may be called from any thread once :meth:`attach` has bound the hub to
    the event loop serving the subscribers.

    Parameters
    ----------
    buffer
        Events kept for resume.
    queue_size
        Events a subscriber may lag behind before it is disconnected.
    epoch
        Id prefix; random by default (see the module docstring).
    """

    def __init__(
        self, *, buffer: int = 10_000, queue_size: int = 1_000, epoch: str | None = None
    ) -> None:
        self.epoch = epoch or secrets.token_hex(4)
        self._buffer: deque[LiveEvent] = deque(maxlen=buffer)
        self._queue_size = queue_size
        self._seq = 0
        self._lock = threading.Lock()
        self._subs: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to the loop the subscribers run on (the app's lifespan does this)."""
        self._loop = loop

    @property
    def subscribers(self) -> int:
        """Connected subscribers."""
        return len(self._subs)

    def publish(self, event: str, patient_id: str, data: dict[str, Any]) -> LiveEvent:
        """Number, buffer and fan out one event; safe from any thread."""
        with self._lock:
            self._seq += 1
            ev = LiveEvent(self.epoch, self._seq, event, patient_id, data)
            self._buffer.append(ev)
            subs = list(self._subs)
        if subs:
            loop = self._loop
            if loop is None or _on_loop(loop):
                self._fan_out(ev, subs)
            elif not loop.is_closed():
                loop.call_soon_threadsafe(self._fan_out, ev, subs)
        return ev

    def _fan_out(self, ev: LiveEvent, subs: list[Subscription]) -> None:
        for sub in subs:
            if sub.closed:
                continue
            if sub.queue.qsize() >= self._queue_size:
                logger.warning(
                    "live subscriber fell %d events behind; disconnecting it", self._queue_size
                )
                self._end(sub)
            else:
                sub.queue.put_nowait(ev)

    def subscribe(self, last_event_id: str | None = None) -> Subscription:
        """Register a subscriber, resuming after ``last_event_id`` when possible."""
        with self._lock:
            replay: list[LiveEvent] = []
            reset = False
            if last_event_id:
                after = self._parse(last_event_id)
                oldest = self._buffer[0].seq if self._buffer else self._seq + 1
                if after is None or after > self._seq or after < oldest - 1:
                    reset = True
                else:
                    replay = [e for e in self._buffer if e.seq > after]
            sub = Subscription(self, replay, reset)
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove a subscriber (idempotent)."""
        sub.closed = True
        with self._lock:
            self._subs.discard(sub)

    def close(self) -> None:
        """End every subscription (at shutdown, so open streams finish)."""
        with self._lock:
            subs = list(self._subs)
            self._subs.clear()
        for sub in subs:
            if self._loop is not None and not _on_loop(self._loop) and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._end, sub)
            else:
                self._end(sub)

    def _end(self, sub: Subscription) -> None:
        sub.closed = True
        self._subs.discard(sub)
        sub.queue.put_nowait(_CLOSED)

    def _parse(self, last_event_id: str) -> int | None:
        epoch, _, seq = last_event_id.strip().rpartition("-")
        if epoch != self.epoch or not (seq.isascii() and seq.isdigit()):
            return None
        return int(seq)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class AlertBus(ABC):
    """Where the API hears about new detector alert records (``vigil.alerts``)."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect; after this returns, records published are delivered by :meth:`alerts`."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Disconnect and end :meth:`alerts`."""

    @abstractmethod
    def alerts(self) -> AsyncIterator[Alert]:
        """Alert records as they arrive (one consumer: the app's pump)."""


class InMemoryAlertBus(AlertBus):
    """An alert bus fed by :meth:`publish` from any thread (embedded demo, tests).

    Examples
    --------
    >>> import asyncio
    >>> a = Alert.new(patient_id="P1", category="clinical", kind="fever", severity="low",
    ...               vitals=["temp"], started_at=0.0, detected_at=0.0, message="T 38.4")
    >>> async def demo():
    ...     bus = InMemoryAlertBus()
    ...     await bus.start()
    ...     bus.publish(a)
    ...     it = bus.alerts()
    ...     got = await anext(it)
    ...     await bus.stop()
    ...     return got.kind
    >>> asyncio.run(demo())
    'fever'
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Alert | None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[Alert] = []
        self._lock = threading.Lock()

    async def start(self) -> None:
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._queue = asyncio.Queue()
            for alert in self._pending:
                self._queue.put_nowait(alert)
            self._pending.clear()

    async def stop(self) -> None:
        with self._lock:
            if self._queue is not None:
                self._queue.put_nowait(None)

    def publish(self, alert: Alert) -> None:
        """Hand one alert record to the API (thread-safe; buffered until :meth:`start`)."""
        with self._lock:
            loop, queue = self._loop, self._queue
            if loop is None or queue is None:
                self._pending.append(alert)
                return
        if _on_loop(loop):
            queue.put_nowait(alert)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(queue.put_nowait, alert)

    async def alerts(self) -> AsyncIterator[Alert]:
        if self._queue is None:
            raise RuntimeError("start() the bus first")
        while (alert := await self._queue.get()) is not None:
            yield alert

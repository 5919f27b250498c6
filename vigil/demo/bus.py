"""An in-process message bus: Kafka's place in the one-process demo.

Topics carry ``(key, value)`` records of bytes, as Kafka does, so the adapters that encode for
Kafka work unchanged. Every subscriber gets every record published after it subscribed, in
publish order (one partition per topic is enough for one process). Queues are bounded by
default: a subscriber that falls too far behind loses the oldest records and the loss is
counted, so a stalled reader can never exhaust memory. A ``lossless`` subscription (the
detection worker's: vitals must not be lost) is unbounded, as a Kafka log is: an overloaded
demo falls behind rather than drop samples.

:meth:`InProcessBus.publish` may be called from any thread (the API runs sync handlers in a
thread pool); delivery always happens on the bus's event loop.

Examples
--------
>>> import asyncio
>>> async def demo() -> list[tuple[str, bytes]]:
...     bus = InProcessBus()
...     sub = bus.subscribe("vigil.alerts")
...     bus.publish("vigil.alerts", "p1", b"{}")
...     bus.publish("vigil.vitals", "p1", b"ignored: nobody subscribed")
...     rec = await sub.get()
...     return [(rec.key, rec.value)]
>>> asyncio.run(demo())
[('p1', b'{}')]
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

__all__ = ["BusRecord", "InProcessBus", "Subscription"]

logger = logging.getLogger(__name__)

#: Records a subscriber may lag behind before the oldest are dropped (about 10 minutes of a
#: 50-patient demo at one sample per second per patient).
DEFAULT_MAX_LAG = 50_000


@dataclass(frozen=True, slots=True)
class BusRecord:
    """One record on a topic: Kafka's key and value, plus its offset on the topic."""

    topic: str
    key: str
    value: bytes
    offset: int


@dataclass(eq=False)
class Subscription:
    """A subscriber's view of one topic: an async iterator of :class:`BusRecord`."""

    topic: str
    _queue: asyncio.Queue[BusRecord] = field(repr=False)
    dropped: int = 0

    async def get(self) -> BusRecord:
        """Wait for the next record."""
        return await self._queue.get()

    def get_nowait(self) -> BusRecord | None:
        """The next record if one is waiting, else ``None``."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def pending(self) -> int:
        """Records waiting to be read."""
        return self._queue.qsize()

    def _offer(self, record: BusRecord) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(record)

    def __aiter__(self) -> AsyncIterator[BusRecord]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[BusRecord]:
        while True:
            yield await self._queue.get()


class InProcessBus:
    """Named topics with fan-out to subscribers, on one asyncio event loop.

    Parameters
    ----------
    max_lag
        Queue bound per subscriber (see the module docstring).
    """

    def __init__(self, *, max_lag: int = DEFAULT_MAX_LAG) -> None:
        self.max_lag = max_lag
        self._subs: dict[str, list[Subscription]] = {}
        self._offsets: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def subscribe(self, topic: str, *, lossless: bool = False) -> Subscription:
        """Receive every record published to ``topic`` from now on (call on the bus's loop).

        ``lossless``: never drop a record, however far behind (unbounded).
        """
        self._bind_loop()
        sub = Subscription(topic, asyncio.Queue(maxsize=0 if lossless else self.max_lag))
        with self._lock:
            self._subs.setdefault(topic, []).append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop delivering to ``sub``."""
        with self._lock:
            subs = self._subs.get(sub.topic, [])
            if sub in subs:
                subs.remove(sub)

    def publish(self, topic: str, key: str, value: bytes) -> int:
        """Publish one record; returns its offset. Safe to call from any thread."""
        with self._lock:
            offset = self._offsets.get(topic, 0)
            self._offsets[topic] = offset + 1
        record = BusRecord(topic, key, value, offset)
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop:
            self._deliver(record)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._deliver, record)
        return offset

    def _deliver(self, record: BusRecord) -> None:
        with self._lock:
            subs = list(self._subs.get(record.topic, ()))
        for sub in subs:
            sub._offer(record)  # noqa: SLF001 - the bus owns its subscriptions

    def offsets(self) -> dict[str, int]:
        """Records published so far, per topic."""
        with self._lock:
            return dict(self._offsets)

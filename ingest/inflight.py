"""The gateway's window of MQTT messages that are received but not yet acknowledged.

An MQTT message may be acknowledged only once Kafka holds every record it produced; until
then the broker keeps it and redelivers it if the gateway dies. :class:`InflightWindow` counts
each message's outstanding records, acknowledges completed messages in arrival order (MQTT
5, 4.6: PUBACKs go out in the order the PUBLISHes came in), and bounds how many messages are
in flight: :meth:`~InflightWindow.open` blocks when the window is full, which stops the MQTT
network thread from reading, which makes the broker hold further messages (backpressure
with bounded memory).

Acknowledgements carry the connection *generation*: after a reconnect the broker redelivers
whatever was unacknowledged, and a late PUBACK for the previous connection's packet id could
acknowledge an unrelated new message that reuses the id, so those are dropped instead.

Examples
--------
>>> acked = []
>>> window = InflightWindow(2, ack=lambda mid, generation: acked.append(mid))
>>> first = window.open(mid=1, generation=1, records=2)
>>> second = window.open(mid=2, generation=1, records=1)
>>> window.done(second, None)   # finished first, but waits for message 1
>>> acked
[]
>>> window.done(first, None); window.done(first, None)
>>> acked, len(window)
([1, 2], 0)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["InflightEntry", "InflightWindow"]


class InflightEntry:
    """One received message awaiting its records' delivery."""

    __slots__ = ("failed", "generation", "info", "mid", "pending", "started")

    def __init__(self, mid: int, generation: int, records: int, info: object) -> None:
        self.mid = mid
        self.generation = generation
        self.pending = records
        self.failed: BaseException | None = None
        self.started = time.monotonic()
        self.info = info


class InflightWindow:
    """Bounded, ordered acknowledgement of in-flight messages (thread-safe).

    Parameters
    ----------
    capacity
        Most messages in flight; :meth:`open` blocks beyond it.
    ack
        ``ack(mid, generation)``, called in arrival order for each fully delivered message,
        under the window's lock (keep it short: it queues a PUBACK).
    on_complete
        ``on_complete(entry)`` for every entry leaving the window successfully (metrics).
    on_failure
        ``on_failure(error)`` the first time a record fails; that message and every later one
        stay unacknowledged (the broker will redeliver them).
    """

    def __init__(
        self,
        capacity: int,
        *,
        ack: Callable[[int, int], None],
        on_complete: Callable[[InflightEntry], None] | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._ack = ack
        self._on_complete = on_complete
        self._on_failure = on_failure
        self._entries: deque[InflightEntry] = deque()
        self._cond = threading.Condition()
        self._failed: BaseException | None = None

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def failed(self) -> BaseException | None:
        """The first delivery error, if any."""
        return self._failed

    def open(
        self,
        *,
        mid: int,
        generation: int,
        records: int,
        info: object = None,
        timeout: float | None = None,
    ) -> InflightEntry:
        """Register a message that will produce ``records`` records; block while full.

        Raises TimeoutError if no room frees up within ``timeout`` seconds.
        """
        if records < 1:
            raise ValueError("a message produces at least one record")
        entry = InflightEntry(mid, generation, records, info)
        with self._cond:
            # After a failure nothing is acknowledged any more, so admit the entry rather
            # than block the caller forever: it will be redelivered like the rest.
            if not self._cond.wait_for(
                lambda: len(self._entries) < self.capacity or self._failed is not None, timeout
            ):
                raise TimeoutError("in-flight window full")
            self._entries.append(entry)
        return entry

    def done(self, entry: InflightEntry, error: BaseException | None) -> None:
        """Report one record of ``entry`` delivered (``error is None``) or lost."""
        with self._cond:
            if error is not None and entry.failed is None:
                entry.failed = error
                if self._failed is None:
                    self._failed = error
                    self._cond.notify_all()
                    if self._on_failure is not None:
                        self._on_failure(error)
            entry.pending -= 1
            released = False
            entries = self._entries
            while entries and entries[0].pending <= 0 and self._failed is None:
                head = entries.popleft()
                self._ack(head.mid, head.generation)
                if self._on_complete is not None:
                    self._on_complete(head)
                released = True
            if released:
                self._cond.notify_all()

    def wait_empty(self, timeout: float | None = None) -> bool:
        """Wait until every message is acknowledged; False on timeout or after a failure."""
        with self._cond:
            return (
                self._cond.wait_for(lambda: not self._entries or self._failed is not None, timeout)
                and not self._entries
            )

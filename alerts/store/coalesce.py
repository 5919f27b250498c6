"""Run identical concurrent reads once: callers that arrive while one is in flight share it.

Every InfluxDB query costs the server milliseconds of CPU however small, and the API's
busiest read is the same for everyone: the first window of the alert timeline
(:mod:`alerts.store.influx_alerts`) does not depend on who asks, only the filtering after it
does. When many dashboards poll at once, :class:`Coalescer` lets the first caller run the
query and the others wait for its answer ("single flight"), instead of queueing dozens of
identical queries on the server.

What a caller can miss: a joiner receives an answer to a query that started before it
arrived, at most one query's duration earlier. Writes made through the same store bump a
generation (:meth:`Coalescer.invalidate`) that is part of the key, so a read that starts
after this process's write returned never joins a query from before it (read-your-writes).
Writes by other processes (the sink) carry no ordering promise towards an API request in
the first place. Shared results must be treated as read-only.

Examples
--------
>>> c = Coalescer()
>>> c.run("q", lambda: [1, 2])
[1, 2]
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import TypeVar

__all__ = ["Coalescer"]

T = TypeVar("T")


class Coalescer:
    """Single-flight execution of keyed, side-effect-free reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._inflight: dict[tuple[int, Hashable], Future[object]] = {}

    def invalidate(self) -> None:
        """Make reads that start from now on ignore the ones already in flight."""
        with self._lock:
            self._generation += 1

    def run(self, key: Hashable, read: Callable[[], T]) -> T:
        """``read()``, or the result of an identical read already in flight."""
        with self._lock:
            slot = (self._generation, key)
            future = self._inflight.get(slot)
            leader = future is None
            if future is None:
                future = self._inflight[slot] = Future()
        if not leader:
            return future.result()  # type: ignore[return-value]
        try:
            result = read()
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            future.set_result(result)
            return result
        finally:
            with self._lock:
                del self._inflight[slot]

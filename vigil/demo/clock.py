"""The demo's simulated clock: event time that runs ``speed`` times faster than the wall clock.

Detection runs on event time (sample timestamps), so a time-accelerated fleet makes clinical
events that take an hour unfold in a minute, and every time-based rule (sustained for 5 min,
device offline after 10 min) keeps its meaning. The gateway's "timestamp in the future" check,
the device-offline ticks and the fleet's send schedule all read this clock instead of the
wall clock.

Examples
--------
>>> clock = SimClock(start=1_000.0, speed=60.0, wall=lambda: 10.0)
>>> clock.now()
1000.0
>>> clock._wall = lambda: 12.5   # 2.5 s of wall time later ...
>>> clock.now()                  # ... 150 s of event time have passed
1150.0
>>> clock.wall_delay(1300.0)     # event time 1300 arrives 2.5 s later
2.5
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["SimClock"]


class SimClock:
    """Event time = ``start + (wall - wall_at_start) * speed``.

    Parameters
    ----------
    start
        Event time (epoch seconds UTC) at construction.
    speed
        Event seconds per wall second (60: one simulated hour per real minute).
    wall
        Monotonic wall clock (injectable for tests).
    """

    def __init__(
        self, *, start: float, speed: float, wall: Callable[[], float] = time.monotonic
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.speed = speed
        self._wall = wall
        self._wall0 = wall()

    def now(self) -> float:
        """The current event time (epoch seconds UTC)."""
        return self.start + (self._wall() - self._wall0) * self.speed

    def wall_delay(self, event_time: float) -> float:
        """Wall seconds until ``event_time`` (0 if it has passed)."""
        return max(0.0, (event_time - self.now()) / self.speed)

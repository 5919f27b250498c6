"""The time-of-day profile of a personal baseline: 24 hourly offsets from the context level.

Circadian rhythm and routine (a morning blood-pressure surge, a lower heart rate at night)
move a channel's normal with the hour. A baseline learns one offset per UTC hour of the day,
shared by all activity contexts, and expects ``level + offset`` with the offset linearly
interpolated between the two hours around the reading (:func:`~stream.detect.contexts.time_of_day`).

Each hour's mean residual is folded into its offset (at rate ``profile_rate``) only when the
hour is over, and only from ordinary readings (learned at full weight; ten of them, or most
of the hour's), so the present never
moves its own expectation and an afternoon fever does not teach tomorrow's afternoon to
expect one.

:class:`DailyProfile` is the profile's half of :class:`~stream.detect.baseline.ChannelModel`,
which owns (and pickles) the state it reads.

Examples
--------
>>> from stream.detect.baseline import ChannelModel
>>> m = ChannelModel()
>>> m.profile_offset(3600.0 * 7.5)  # nothing learned: no offset
0.0
>>> m.daily[7], m.daily[8] = 2.0, 4.0
>>> m.profile_offset(3600.0 * 7.5)
3.0
"""

from __future__ import annotations

import logging
import math
from array import array

from stream.detect.contexts import time_of_day

logger = logging.getLogger(__name__)

__all__ = ["DailyProfile"]

#: An hour's mean residual teaches the profile when this many of its readings, or most of them
#: (sparse channels: four readings an hour, or one), were ordinary.
_MIN_HOUR_READINGS = 10


class DailyProfile:
    """Hourly offsets from the context level (see the module docstring).

    A mixin without state of its own: the attributes below belong to the subclass.
    """

    daily: array[float]
    hour_bin: int
    hour_sum: float
    hour_n: int
    hour_all: int

    def profile_offset(self, ts: float) -> float:
        """The profile's offset at event time ``ts``."""
        i0, i1, f = time_of_day(ts)
        w = self.daily
        return w[i0] + f * (w[i1] - w[i0])

    def _learn_profile(
        self, rate: float, value: float, level: float, tod: tuple[int, int, float], weight: float
    ) -> None:
        """Account for ``value`` (``level`` its context's level) in its hour's residuals.

        ``rate`` is ``profile_rate``; the closing hour, if any, is folded in first.
        """
        i0, i1, f = tod
        hour = i0 if f < 0.5 else i1
        if hour != self.hour_bin:
            n = self.hour_n
            if n >= _MIN_HOUR_READINGS or 2 * n > self.hour_all:  # mostly ordinary
                w = self.daily
                b = self.hour_bin
                w[b] += rate * (self.hour_sum / self.hour_n - w[b])
            self.hour_bin = hour
            self.hour_sum = 0.0
            self.hour_n = 0
            self.hour_all = 0
        self.hour_all += 1
        if weight == 1.0:
            d = value - level
            self.hour_sum += d if -1e300 < d < 1e300 else math.copysign(1e300, d)
            self.hour_n += 1

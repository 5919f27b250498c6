"""The time-of-day profile of a personal baseline: hourly offsets from the context level.

Circadian rhythm and routine (a morning blood-pressure surge, a lower heart rate at night)
move a channel's normal with the hour. A baseline learns one offset per UTC hour of the day,
shared by all activity contexts, and expects ``level + offset`` with the offset linearly
interpolated between the two hours around the reading (:func:`~stream.detect.contexts.time_of_day`).

Weekends keep hours of their own (bins 24-47): a lie-in, a quiet Sunday, a server's weekend
load. Until a weekend hour has been learned once it follows its weekday hour, so a channel
whose weekends are like its weekdays loses nothing, and one whose weekends differ alarms on
its first weekend only.

Each hour's mean residual is folded into its offset (at rate ``profile_rate``) only when the
hour is over, and only from ordinary readings (learned at full weight; ten of them, or most
of the hour's), so the present never
moves its own expectation and an afternoon fever does not teach tomorrow's afternoon to
expect one.

An hour not learned yet (a weekday hour: its offset exactly 0.0; a weekend hour: not seen)
between learned hours of its block (weekdays or weekends), each at most :data:`FILL_HOURS`
away, expects the line between them (:func:`filled`), and is learned from there. Expecting
the level instead, the hours furthest from it — a daily peak, a trough — never learned: their
readings departed from the level by the whole rhythm, were never ordinary, so they never
taught their hour, and each day, at the same hour, the channel alarmed for hours (a counts
channel whose noon peak stood 2.5 scales above its level, a synthetic stream of
``bench/anomaly.py``, alarmed every day 10:30-13:30).
Likewise the first hours of a first weekend unlike the week departed before the rest of it
was learned, and the next Saturday they alarmed again, following their weekday hours.

:class:`DailyProfile` is the profile's half of :class:`~stream.detect.baseline.ChannelModel`,
which owns (and pickles) the state it reads.

Examples
--------
>>> from stream.detect.baseline import ChannelModel
>>> m = ChannelModel()
>>> m.profile_offset(3600.0 * 7.5)  # nothing learned: no offset
0.0
>>> m.daily[7], m.daily[8] = 2.0, 4.0
>>> m.profile_offset(3600.0 * 7.5)  # 1970-01-01 07:30 UTC, a Thursday
3.0
>>> m.profile_offset(86400.0 * 2 + 3600.0 * 7.5)  # the Saturday after: not learned
0.0
>>> m.daily[11] = 8.0  # hours 9 and 10 not learned: the line from 4.0 (8:00) to 8.0 (11:00)
>>> m.profile_offset(3600.0 * 9.0), m.profile_offset(3600.0 * 10.5)
(5.333333333333333, 7.333333333333333)
"""

from __future__ import annotations

import logging
import math
from array import array

from stream.detect.contexts import HOUR_BINS, time_of_day

logger = logging.getLogger(__name__)

__all__ = ["DailyProfile"]

#: An hour's mean residual teaches the profile when this many of its readings, or most of them
#: (sparse channels: four readings an hour, or one), were ordinary.
_MIN_HOUR_READINGS = 10
#: Offsets are single precision: beyond this they are held here (state stays finite).
_F32_MAX = 3.4e38
#: The first weekend hour bin (:func:`~stream.detect.contexts.time_of_day`).
_WEEKEND = HOUR_BINS // 2
#: An hour not learned yet follows the learned hours around it if both are this near.
FILL_HOURS = 4


def filled(w: array[float], i: int, seen: int = 0) -> float:
    """Offset of hour bin ``i`` of the profile ``w``: its own if learned, else the line between
    the nearest learned hours of its block on either side, each at most :data:`FILL_HOURS`
    away (else its own).

    A weekday hour is learned once its offset is not 0.0; a weekend hour once its bit is set
    in ``seen`` (``weekend_seen``): until then it holds a copy of its weekday hour.

    (``_step.c`` has the same: keep the two in step.)

    >>> w = array("f", bytes(4 * HOUR_BINS))
    >>> w[22], w[1] = 3.0, 6.0  # across midnight: 23:00 and 00:00 lie between them
    >>> filled(w, 23), filled(w, 0), filled(w, 2)
    (4.0, 5.0, 0.0)
    >>> w[24 + 5], w[24 + 6], w[24 + 9] = 9.0, 2.0, 5.0  # Saturday 05:00 and 09:00 learned
    >>> filled(w, 24 + 6, seen=1 << 5 | 1 << 9), filled(w, 24 + 6, seen=1 << 5)
    (8.0, 2.0)
    """
    if i < _WEEKEND:
        x = w[i]
        if x != 0.0:
            return x
        base = 0
        seen = ~0
    else:
        if seen >> (i - _WEEKEND) & 1:
            return w[i]
        base = _WEEKEND
    h = i - base
    for d0 in range(1, FILL_HOURS + 1):
        j = (h - d0) % _WEEKEND
        if seen >> j & 1 and w[base + j] != 0.0:
            break
    else:
        return w[i]
    before = w[base + j]
    for d1 in range(1, FILL_HOURS + 1):
        j = (h + d1) % _WEEKEND
        if seen >> j & 1 and w[base + j] != 0.0:
            return before + (w[base + j] - before) * d0 / (d0 + d1)
    return w[i]


class DailyProfile:
    """Hourly offsets from the context level (see the module docstring).

    A mixin without state of its own: the attributes below belong to the subclass.
    """

    daily: array[float]
    weekend_seen: int
    weekday_level: array[float]
    level: array[float]
    sd_cache: array[float]
    hour_bin: int
    hour_sum: float
    hour_n: int
    hour_all: int

    def profile_offset(self, ts: float) -> float:
        """The profile's offset at event time ``ts``."""
        return self.offset_at(time_of_day(ts))

    def offset_at(self, tod: tuple[int, int, float]) -> float:
        """The profile's offset at time of day ``tod`` (:func:`time_of_day` of a time).

        (:meth:`~stream.detect.baseline.ChannelModel.step` inlines the same: keep the two in
        step.)
        """
        i0, i1, f = tod
        w = self.daily
        seen = self.weekend_seen
        w0 = filled(w, i0, seen)
        return w0 + f * (filled(w, i1, seen) - w0)

    def _learn_profile(
        self,
        rate: float,
        value: float,
        ctx: int,
        tod: tuple[int, int, float],
        weight: float,
    ) -> None:
        """Account for ``value`` (of context ``ctx``) in its hour's residuals.

        ``rate`` is ``profile_rate``; the closing hour, if any, is folded in first. A weekday
        hour is copied to its weekend hour until the weekend hour has been learned itself
        (``weekend_seen``, a bit per hour); a weekend hour within a scale (the context's) of
        its weekday hour teaches the weekday hour too: weekends like weekdays are days of
        data like any other.

        Residuals are from the context's level; a weekend hour's mean is taken from the level
        at the last weekday hour instead (``weekday_level``): a weekend unlike the week moves
        the level while it departs, and the weekend hours must learn all of the difference,
        not what is left of it.

        (:meth:`~stream.detect.baseline.ChannelModel.step` inlines the same within an hour:
        keep the two in step.)
        """
        i0, i1, f = tod
        hour = i0 if f < 0.5 else i1
        level = self.level[ctx]
        if hour != self.hour_bin:
            n = self.hour_n
            if n >= _MIN_HOUR_READINGS or 2 * n > self.hour_all:  # mostly ordinary
                w = self.daily
                b = self.hour_bin
                mean = self.hour_sum / n
                if b >= _WEEKEND:
                    ref = self.weekday_level[ctx]
                    if ref == ref:  # from the level of the last weekday instead
                        mean += level - ref
                    old = filled(w, b, self.weekend_seen)
                    w[b] = _single(old + rate * (mean - old))
                    self.weekend_seen |= 1 << (b - _WEEKEND)
                    b -= _WEEKEND
                    old = filled(w, b)
                    scale = self.sd_cache[ctx]
                    if -scale < mean - old < scale:
                        w[b] = _single(old + rate * (mean - old))
                else:
                    old = filled(w, b)
                    w[b] = _single(old + rate * (mean - old))
                    self.weekday_level[ctx] = level
                    if not self.weekend_seen >> b & 1:
                        w[b + _WEEKEND] = w[b]
            self.hour_bin = hour
            self.hour_sum = 0.0
            self.hour_n = 0
            self.hour_all = 0
        self.hour_all += 1
        if weight == 1.0:
            d = value - level
            self.hour_sum += d if -1e300 < d < 1e300 else math.copysign(1e300, d)
            self.hour_n += 1


def _single(x: float) -> float:
    """``x`` held within single precision's range."""
    return x if -_F32_MAX < x < _F32_MAX else math.copysign(_F32_MAX, x)

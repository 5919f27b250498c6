"""Where a reading belongs: its activity context and its hour of the day.

A personal baseline keeps one normal per **activity context** — ``STILL`` (very little
movement, typically sleep), ``REST`` and ``ACTIVE`` (light activity); the context of a sample
comes from its motion channel (:mod:`stream.detect.activity`) — and, across contexts, one
offset per **hour of the day** (circadian rhythm, a morning blood-pressure surge), with the
hours of Saturdays and Sundays (UTC) apart from those of weekdays (a lie-in, a quiet weekend
on a server), interpolated between the two hours around a reading (:func:`time_of_day`).

Examples
--------
>>> CONTEXTS[STILL], CONTEXTS[REST], CONTEXTS[ACTIVE]
('still', 'rest', 'active')
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

__all__ = ["ACTIVE", "CONTEXTS", "HOUR_BINS", "REST", "STILL", "time_of_day"]

STILL, REST, ACTIVE = 0, 1, 2
CONTEXTS = ("still", "rest", "active")


#: Hour bins: 0-23 are the hours of weekdays, 24-47 those of Saturdays and Sundays (UTC).
HOUR_BINS = 48
_WEEK = 7 * 86400.0
#: The bin of each hour of the week from Thursday 00:00 UTC (the epoch was a Thursday), and
#: of the hour after the last.
_BIN = tuple(h % 24 + (24 if 48 <= h < 96 else 0) for h in range(169))


def time_of_day(ts: float) -> tuple[int, int, float]:
    """Hour bins around ``ts`` (UTC) and the interpolation weight of the second.

    Weekday hours are bins 0-23, weekend hours 24-47 (:data:`HOUR_BINS`); the bin after a
    Friday's 23:00 is Saturday's 00:00 (24), after a Sunday's 23:00 Monday's 00:00 (0).

    >>> day, hour = 86400.0, 3600.0
    >>> time_of_day(6.5 * hour), time_of_day(23.75 * hour)  # 1970-01-01, a Thursday
    ((6, 7, 0.5), (23, 0, 0.75))
    >>> time_of_day(day + 23.75 * hour), time_of_day(2 * day + 6.5 * hour)  # Fri, Sat
    ((23, 24, 0.75), (30, 31, 0.5))
    >>> time_of_day(3 * day + 23.75 * hour)  # Sunday night: Monday comes next
    (47, 0, 0.75)
    """
    hour = (ts % _WEEK) / 3600.0
    i = int(hour)
    if i > 167:  # float rounding at the very end of a week
        i = 167
    return _BIN[i], _BIN[i + 1], hour - i

"""Where a reading belongs: its activity context and its hour of the day.

A personal baseline keeps one normal per **activity context** — ``STILL`` (very little
movement, typically sleep), ``REST`` and ``ACTIVE`` (light activity); the context of a sample
comes from its motion channel (:mod:`stream.detect.activity`) — and, across contexts, one
offset per **hour of the day** (circadian rhythm, a morning blood-pressure surge), interpolated
between the two hours around a reading (:func:`time_of_day`).

Examples
--------
>>> CONTEXTS[STILL], CONTEXTS[REST], CONTEXTS[ACTIVE]
('still', 'rest', 'active')
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

__all__ = ["ACTIVE", "CONTEXTS", "REST", "STILL", "time_of_day"]

STILL, REST, ACTIVE = 0, 1, 2
CONTEXTS = ("still", "rest", "active")


def time_of_day(ts: float) -> tuple[int, int, float]:
    """Hour-of-day bins around ``ts`` (UTC) and the interpolation weight of the second.

    >>> time_of_day(6.5 * 3600.0), time_of_day(23.75 * 3600.0)
    ((6, 7, 0.5), (23, 0, 0.75))
    """
    hour = (ts % 86400.0) / 3600.0
    i0 = int(hour)
    if i0 > 23:  # float rounding at the very end of a day
        i0 = 23
    return i0, (i0 + 1) % 24, hour - i0

"""Step plausibility: a vital that jumps further in a minute than a body can is a suspect.

Motion and signal quality (:mod:`stream.detect.activity`) catch most wearable artifacts, but
not every device reports them, and not every loose strap shows in them. The shape of the signal
is the other witness: a resting heart rate does not go from 65 to 180 bpm between two readings a
minute apart, nor SpO2 from 96 to 78 %, while real deterioration ramps over minutes (a
clinical event's steepest minute moves HR by about 12 bpm, SpO2 by about 2 %).

:class:`StepGate` keeps, per vital, the last plausible reading. A reading further from it than
the vital's :data:`~stream.detect.vitals.MAX_STEP` (scaled by the time between the two readings,
so a vital sampled every 5 min is barely gated) is a *suspect*: neither learned nor allowed to
build clinical evidence. Suspects that agree with one another form a candidate new level; once
it has held for :data:`CONFIRM_S` the level is real (an abrupt arrhythmia, a true drop) and its
readings are plausible again. A monitor artifact lasts 1-5 min, so it never alerts on its own,
while a true abrupt change alerts about 5 min later than it otherwise would. Readings more than
:data:`NEAR_S` apart are not compared (after a charging gap, the first reading starts afresh).

Examples
--------
>>> gate = StepGate()
>>> [gate.check("hr", x, 60.0 * i) for i, x in enumerate([70, 72, 185, 190, 71, 73])]
[True, True, False, False, True, True]
>>> [gate.check("hr", 150.0, 60.0 * i) for i in range(6, 14)]  # a new level that holds
[False, False, False, False, False, False, True, True]
>>> gate.check("sbp", 90.0, 900.0)  # vitals without a step bound are never gated
True
"""

from __future__ import annotations

import logging
from typing import Final

from stream.detect.vitals import MAX_STEP

logger = logging.getLogger(__name__)

__all__ = ["CONFIRM_S", "NEAR_S", "StepGate"]

#: A new level is believed once its readings have agreed for this long (s).
CONFIRM_S: Final = 330.0
#: Readings further apart than this (s) are not compared.
NEAR_S: Final = 600.0
_NAN: Final = float("nan")


class StepGate:
    """Per-patient step plausibility of the vitals in :data:`~stream.detect.vitals.MAX_STEP`.

    State per vital: ``[last, last_ts, run_last, run_ts, run_start, step]``: the last
    plausible reading and when it was taken, the candidate new level (its latest reading,
    when, and when it began; ``run_start`` is ``nan`` when there is none) and the vital's
    step bound.
    """

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state: dict[str, list[float]] = {}

    def __getstate__(self) -> dict[str, list[float]]:
        return self.state

    def __setstate__(self, state: dict[str, list[float]]) -> None:
        self.state = state

    def check(self, vital: str, x: float, ts: float) -> bool:
        """Whether reading ``x`` of ``vital`` at ``ts`` is plausible (and remember it)."""
        s = self.state.get(vital)
        if s is not None:
            d = x - s[0]
            if s[4] != s[4] and -s[5] <= d <= s[5]:  # the common case: no jump, no suspects
                s[0] = x
                s[1] = ts
                return True
            return _check_slow(s, x, ts)
        step = MAX_STEP.get(vital)
        if step is not None:
            self.state[vital] = [x, ts, x, ts, _NAN, step]
        return True


def _check_slow(s: list[float], x: float, ts: float) -> bool:
    """:meth:`StepGate.check` beyond its common case; ``s`` is the vital's state."""
    step = s[5]
    run_start = s[4]
    dt = abs(ts - s[1])
    run_dt = abs(ts - s[3])
    # the step allowed grows with the sampling interval (time since the previous reading,
    # plausible or not), not with the time spent among suspects
    interval = dt if run_start != run_start else min(dt, run_dt)
    if dt > NEAR_S or abs(x - s[0]) <= step * max(1.0, interval / 60.0):
        s[0], s[1], s[4] = x, ts, _NAN
        return True
    if run_start != run_start or run_dt > NEAR_S or abs(x - s[2]) > step * max(1.0, run_dt / 60.0):
        s[2], s[3], s[4] = x, ts, ts  # a new candidate level
        return False
    s[2], s[3] = x, ts
    if ts - run_start >= CONFIRM_S:
        s[0], s[1], s[4] = x, ts, _NAN
        return True
    return False

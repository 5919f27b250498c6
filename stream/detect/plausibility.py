"""Step plausibility: a vital that jumps further in a minute than a body can is a suspect.

Motion and signal quality (:mod:`stream.detect.activity`) catch most wearable artifacts, but
not every device reports them, and not every loose strap shows in them. The shape of the signal
is the other witness: a resting heart rate does not go from 65 to 180 bpm between two readings a
minute apart, nor SpO2 from 96 to 78 %, while real deterioration ramps over minutes (a
clinical event's steepest minute moves HR by about 12 bpm, SpO2 by about 2 %).

Per optically sensed vital (:data:`~stream.detect.vitals.MAX_STEP`), the caller keeps the last
plausible reading (the monitor: the newest reading in the personal model's smoothing window)
and asks :class:`StepGate`. A reading further from it than
the vital's :data:`~stream.detect.vitals.MAX_STEP` (scaled by the time between the two readings,
so a vital sampled every 5 min is barely gated) is a *suspect*: neither learned nor allowed to
build clinical evidence. Suspects that agree with one another form a candidate new level; once
it has held for :data:`CONFIRM_S` the level is real (an abrupt arrhythmia, a true drop) and its
readings are plausible again. A monitor artifact lasts 1-5 min, so it never alerts on its own,
while a true abrupt change alerts about 5 min later than it otherwise would. Readings more than
:data:`NEAR_S` apart are not compared (after a charging gap, the first reading starts afresh).

A level whose every reading came with a *clean* signal (the caller says so: the device reports
a quality of :data:`CLEAN_QUALITY` or better and motion that shows the wearer at rest) is
believed sooner, after :data:`CONFIRM_CLEAN_S`: an artifact is what motion and a poor optical
signal make, and a heart that jumps from 84 to 138 bpm in a still, well-read wearer is more
likely an arrhythmia. A device that reports no quality or no motion keeps :data:`CONFIRM_S`.

Examples
--------
>>> gate, last = StepGate(), [None, 0.0]  # the caller keeps the last plausible reading
>>> def read(x, t):
...     ok = gate.check("hr", x, t, *last)
...     last[:] = [x, t] if ok else last
...     return ok
>>> [read(x, 60.0 * i) for i, x in enumerate([70, 72, 185, 190, 71, 73])]
[True, True, False, False, True, True]
>>> [read(150.0, 60.0 * i) for i in range(6, 14)]  # a new level that holds
[False, False, False, False, False, False, True, True]
>>> gate.check("sbp", 90.0, 900.0, 120.0, 0.0)  # vitals without a step bound are never gated
True
>>> clean = StepGate()  # the same jump, every reading clean
>>> [clean.check("hr", 150.0, 60.0 * i, 70.0, 0.0, True) for i in range(1, 6)]
[False, False, False, True, True]
"""

from __future__ import annotations

import logging
from typing import Final

from stream.detect.vitals import MAX_STEP

logger = logging.getLogger(__name__)

__all__ = ["CLEAN_QUALITY", "CONFIRM_CLEAN_S", "CONFIRM_S", "NEAR_S", "StepGate"]

#: A new level is believed once its readings have agreed for this long (s) ...
CONFIRM_S: Final = 330.0
#: ... or this long when every one of them was clean (a simulated abrupt tachycardia at rest
#: was alerted 9 min after it began; the 1-5 min artifacts of the simulator all come with
#: motion or a poor signal, but a real one need not: three readings a minute apart).
CONFIRM_CLEAN_S: Final = 150.0
#: The signal quality (0..1, as the device reports it) of a clean reading, with motion at rest.
CLEAN_QUALITY: Final = 0.85
#: Readings further apart than this (s) are not compared.
NEAR_S: Final = 600.0
_NAN: Final = float("nan")


class StepGate:
    """Per-patient step plausibility of the vitals in :data:`~stream.detect.vitals.MAX_STEP`.

    The caller keeps the last plausible reading (the personal model's smoothing window does);
    the gate keeps, per vital and only while one exists, the candidate new level:
    ``[run_last, run_ts, run_start, run_clean]`` (its latest reading, when, when it began, and
    1.0 while every reading of it was clean; a level saved before that flag had three items
    and is not clean).
    When there is no candidate level and ``x`` is within one step of ``last``, :meth:`check`
    returns ``True`` and changes nothing: callers may test that first (the monitor does).
    """

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state: dict[str, list[float]] = {}

    def __getstate__(self) -> dict[str, list[float]]:
        return self.state

    def __setstate__(self, state: dict[str, list[float]]) -> None:
        self.state = state

    def check(
        self,
        vital: str,
        x: float,
        ts: float,
        last: float | None = None,
        last_ts: float = _NAN,
        clean: bool = False,
    ) -> bool:
        """Whether reading ``x`` of ``vital`` at ``ts`` is plausible, after ``last`` at ``last_ts``.

        ``last`` is the last plausible reading (``None`` when there is none, e.g. after a gap);
        ``clean`` says the reading came with a clean signal (see the module docstring).
        """
        step = MAX_STEP.get(vital)
        if step is None:
            return True
        run = self.state.get(vital)
        dt = abs(ts - last_ts) if last is not None else _NAN
        # the step allowed grows with the sampling interval (time since the previous reading,
        # plausible or not), not with the time spent among suspects
        interval = dt if run is None else min(dt, abs(ts - run[1]))
        if last is None or not dt <= NEAR_S or abs(x - last) <= step * max(1.0, interval / 60.0):
            if run is not None:
                del self.state[vital]
            return True
        if (
            run is None
            or abs(ts - run[1]) > NEAR_S
            or abs(x - run[0]) > step * max(1.0, abs(ts - run[1]) / 60.0)
        ):
            # a new candidate level (also when suspects disagree: start again)
            self.state[vital] = [x, ts, ts, 1.0 if clean else 0.0]
            return False
        if not clean and len(run) > 3:
            run[3] = 0.0
        if ts - run[2] >= (CONFIRM_CLEAN_S if len(run) > 3 and run[3] else CONFIRM_S):
            del self.state[vital]  # the new level is real
            return True
        run[0], run[1] = x, ts
        return False

"""Activity context and artifact gating from the motion and signal-quality channels.

Wearable optical and impedance sensors lie when the wearer moves: a loose strap or a run gives
false heart rates of 150-200 or 30-40 and false SpO2 dips. And real exertion legitimately raises
heart rate, respiration and blood pressure for the duration *and* the recovery. So each sample
gets:

- a **context** for the personal baselines: ``STILL`` (very little movement over the last
  minutes, typically sleep), ``REST`` or ``ACTIVE`` (light activity such as walking);
- motion is taken as dynamic acceleration (gravity removed); a device that reports the raw
  magnitude (about 1 g at rest) is recognised by its floor and corrected;
- a **reliable** flag: ``False`` when the device reports poor quality, when the sample itself
  shows a burst of motion, or during vigorous exertion and its recovery period. Unreliable
  readings are neither learned nor allowed to build clinical evidence.
- the bounds are in g, set for a sensor on which a wearer's typical awake motion reads
  0.08-0.12 g. Devices do not all read motion on that scale (filtering, averaging window,
  placement), so each wearer's typical awake motion is learned, and on a device that reads
  lower the active and burst bounds come down with it: a workout there is still exertion,
  not a tachycardia (:attr:`Activity.typical`); the still bound follows the device's
  quietest readings and the wearer's typical motion (up to 0.06 g, beyond which the floor is
  an offset, removed), so that sleep is still sleep and sitting awake is not
  (:attr:`Activity.still_at`);
- **steps up**: a quick motion average well above the wearer's typical awake motion, or a
  burst of motion: a walk or the stairs beginning, before the motion average shows it
  (:meth:`Activity.stepping_since`);
- the wearer's **waking hours**, learned from the share of still readings in each hour of the
  day (:attr:`Activity.hours`): resting then, a heart rate, breathing rate or SpO2 a scale
  below the sleeping normal is no doze.

Examples
--------
>>> a = Activity()
>>> a.update(0.02, 0.95, 0.0)
(1, True)
>>> a.update(2.0, 0.3, 60.0)   # a motion burst with poor quality: an artifact suspect
(1, False)
>>> [a.update(1.5, 0.85, 120.0 + 60 * i)[1] for i in range(8)][-1]   # exercising
False
>>> a.update(0.1, 0.95, 660.0)  # just stopped: recovery still gated
(1, False)
>>> a.update(0.1, 0.95, 4000.0)
(1, True)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from stream.detect.contexts import ACTIVE, REST, STILL

logger = logging.getLogger(__name__)

__all__ = ["Activity", "activity_update"]

#: A device whose quietest motion (g) stays above this reports an offset (gravity, bias) ...
_OFFSET_ABOVE = 0.03
#: ... and is corrected to read this when still (a calibrated sensor's noise floor, g).
_QUIET = 0.01
#: Hours of motion minima the floor is taken from.
_FLOOR_HOURS = 24
#: A floor above this (g) is the raw magnitude (gravity, ~1 g): removed from the first
#: reading; a lower one once it rests on this many hourly minima (a night among them).
_RAW_ABOVE = 0.3
_FLOOR_TRUSTED = 18
#: Typical awake motion (g) for which the burst bound, and the active bound, hold as given; a
#: wearer whose typical motion is lower has them scaled down in proportion ...
_TYPICAL_FOR_BURST = 0.12
_TYPICAL_FOR_ACTIVE = 0.08
#: ... by a factor of at most this much.
_SCALE_MIN = 0.15
#: Awake readings before the typical motion is used, and over which it is then averaged.
_TYPICAL_AFTER = 30
_TYPICAL_SPAN = 720.0
#: The wearer moves about more than usual (:meth:`Activity.busier`) while the motion average
#: is at least this many times the typical awake motion.
BUSIER = 1.5
#: ... and stirring (more than usual, if only a little: an early warning of heart or breathing
#: rate waits, :meth:`~stream.detect.rules.VitalRule.evidence`) from this many times.
STIRRING = 1.2
#: The wearer steps up (a walk or the stairs beginning: heart and breathing rate follow within
#: a minute or two, :meth:`Activity.stepping_since`) while a quick motion average, of time
#: constant STEP_TAU (s), is at least STEP_UP times the typical awake motion ...
STEP_UP = 1.6
STEP_TAU = 90.0
#: ... and a spell of steps up lasts while each comes within this many seconds of the last.
STEP_SPELL_S = 300.0
#: An hour of the day counts in :attr:`Activity.hours` if it had this many motion readings;
#: its share of still readings (%) is averaged over the days, the newest day weighing this.
_HOUR_READINGS = 6
_HOUR_WEIGHT = 0.3
#: Waking hours: a share of still readings at most this (%), the hour and those either side.
_WAKING_SHARE = 20
#: The share of an hour not yet seen.
_UNSEEN = 255


class Activity:
    """Per-patient motion state: smoothed motion, exertion and its recovery window.

    Parameters
    ----------
    tau
        Time constant (s) of the motion average.
    still_below
        Motion (g) under which a sample counts as still (at least: :attr:`still_at`); the
        wearer is still (context ``STILL``) once 60 % of recent samples are, and until fewer
        than 30 % are.
    active_above
        Average motion (g) from which the wearer counts as active (walking).
    vigorous_above
        Average motion (g) from which the wearer is exerting: vitals are not interpretable.
    burst_motion
        Motion (g) of a single sample that makes that sample an artifact suspect.
    min_quality
        Device quality under which a sample is an artifact suspect.
    recovery
        Seconds after exertion during which vitals are still not interpretable.
    active_linger
        Seconds the ``ACTIVE`` context lasts after movement stops (heart rate takes minutes
        to come back down after a walk).

    Attributes
    ----------
    floor
        Motion is meant as dynamic acceleration (gravity removed, ~0 g at rest), but many
        devices send the raw magnitude (~1 g at rest), and some have a bias. The floor is the
        3rd lowest of the last 24 hourly minima (a glitch or two cannot move it; in the first
        hour, the lowest reading so far); a floor above ``_OFFSET_ABOVE`` is an offset,
        removed so that the floor reads as a still sensor does (``_QUIET``). The floor counts
        once it rests on 18 hourly minima, a night among them: until then the quietest
        minutes of a wearer who started awake (0.02-0.06 g) would pass for a bias, and only
        gravity is removed (a floor from 0.3 g, as 1 g at most). State:
        ``[offset, end of the current hour, its minimum, earlier hourly minima...]``.
    typical
        The wearer's typical awake motion, and what it makes of the bounds:
        ``[mean log motion, readings, burst factor, active factor, floor]`` (the floor:
        :attr:`still_at`). The mean is over awake readings (neither still nor bursts; over
        the first 720, then a moving average of that span). From the 30th on (with every
        reading until the 60th, then every 8th), ``burst_motion`` is scaled by
        ``typical / 0.12`` and ``active_above`` by ``typical / 0.08``, each factor at most 1
        and at least 0.15. On the simulated cohorts (typical motion 0.02-0.15 g, a workout
        0.8-2 g) the bounds hold nearly as given; on the same cohort read at half the scale,
        a workout at 0.4-1 g would otherwise be neither a burst nor exertion, and its heart
        rate of 150 a tachycardia.
    still_at
        The still bound in use: ``still_below``, or lower, the geometric mean of the floor
        (after any offset is removed; at least 0.005 g) and the typical awake motion; or
        twice the floor if that is higher. Until the floor is trusted (:attr:`floor`), it is
        ``still_below``. A sensor whose quietest readings are 0.02 g (a night reads
        0.02-0.04) would otherwise never be still, and one on which a wearer sitting awake
        reads 0.01-0.03 g would be still all day: either way the wearer's sleeping and waking
        normals would be learned as one.
    hours
        The wearer's waking hours: ``[still readings this hour, readings this hour, then
        for each hour of the day (UTC) its share of still readings in %, 255 until seen]``.
        An hour with at least 6 motion readings is folded in as the next one begins, the
        share averaged over the days (the newest day weighing 0.3). A waking hour
        (:meth:`waking_hour`) has a share of at most 20 %, as have the hours either side:
        the wearer is usually neither asleep nor falling asleep or waking then. Learned, not
        clock hours: wearers live in other time zones and work night shifts. An hour not yet
        seen (the first day) is judged as it is being lived: so far, and the two hours before.
    step_ewm, step_since, step_last
        The quick motion average (time constant :data:`STEP_TAU`, bursts left out; ``nan``
        before any motion), and when the current (or last) spell of steps up began and when
        its last step was (``-inf`` before any): :meth:`stepping_since`.
    """

    __slots__ = (
        "active_above",
        "active_linger",
        "active_until",
        "burst_motion",
        "ewm",
        "exertion",
        "last_t",
        "min_quality",
        "prev_motion",
        "recovery",
        "still",
        "still_below",
        "stillness",
        "tau",
        "vigorous_above",
        "vigorous_until",
        "floor",  # added after the first release: see __setstate__
        "typical",  # (likewise)
        "still_at",  # (likewise)
        "hours",  # (likewise)
        "step_ewm",  # (likewise)
        "step_since",  # (likewise)
        "step_last",  # (likewise)
    )

    def __init__(
        self,
        tau: float = 300.0,
        still_below: float = 0.02,
        active_above: float = 0.25,
        vigorous_above: float = 0.6,
        burst_motion: float = 0.8,
        min_quality: float = 0.5,
        recovery: float = 1500.0,
        active_linger: float = 600.0,
    ) -> None:
        self.tau = tau
        self.still_below = still_below
        self.active_above = active_above
        self.vigorous_above = vigorous_above
        self.burst_motion = burst_motion
        self.min_quality = min_quality
        self.recovery = recovery
        self.active_linger = active_linger
        self.active_until = -math.inf
        self.prev_motion = 0.0
        self.ewm = math.nan
        self.stillness = 0.0
        self.still = False
        self.exertion = 0.0
        self.last_t = -math.inf
        self.vigorous_until = -math.inf
        self.floor: list[float] = []
        self.typical: list[float] = [0.0, 0.0, 1.0, 1.0, 0.0]
        self.still_at = still_below
        self.hours: list[int] = [0, 0, *([_UNSEEN] * 24)]
        self.step_ewm = math.nan
        self.step_since = -math.inf
        self.step_last = -math.inf

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        n = len(self.__slots__)
        if len(state) == n - 7:  # saved before the motion floor existed
            state = (*state, [])
        if len(state) == n - 6:  # ... before the typical motion
            state = (*state, [0.0, 0.0, 1.0, 1.0, 0.0], state[self.__slots__.index("still_below")])
        if len(state) == n - 4:  # ... before the hours of the day
            state = (*state, [0, 0, *([_UNSEEN] * 24)])
        if len(state) == n - 3:  # ... before the steps up
            state = (*state, math.nan, -math.inf, -math.inf)
        for k, v in zip(self.__slots__, state, strict=True):
            setattr(self, k, v)

    @property
    def exerting(self) -> bool:
        """Whether the last update was during exertion or its recovery."""
        return self.last_t < self.vigorous_until

    def update(self, motion: float | None, quality: float | None, ts: float) -> tuple[int, bool]:
        """Fold in one sample's motion and quality; return ``(context, reliable)``.

        Two averages: of ordinary motion (the context) and of the share of samples with
        bursts of motion (exertion, once it reaches ``vigorous_above`` - several minutes of
        bursts, which a momentary artifact is not).
        """
        reliable = quality is None or quality >= self.min_quality
        if motion is not None:
            f = self.floor  # the motion offset, inlined (innermost loop of replay)
            if f and f[1] - 3600.0 <= ts < f[1]:
                if motion < f[2]:
                    f[2] = motion
                    if len(f) == 3:
                        self._set_offset()
            else:
                self._new_hour(motion, ts)
            offset = f[0]
            if offset:
                motion = motion - offset if motion > offset else 0.0
            typ = self.typical
            burst = motion >= self.burst_motion * typ[2]
            if not burst and motion >= self.still_at:
                self._learn_typical(motion)
            dt = ts - self.last_t
            if self.ewm != self.ewm:  # first motion reading
                self.ewm = motion if not burst else self.burst_motion
                self.exertion = 1.0 if burst else 0.0
                self.stillness = 1.0 if motion < self.still_at else 0.0
            elif dt > 0.0:
                a = 1.0 - math.exp(-dt / self.tau) if dt < 5.0 * self.tau else 1.0
                # stillness: share of recent samples with hardly any motion, over twice the
                # time constant, so that turning over in bed does not wake the context
                a2 = a
                self.stillness += a2 * ((1.0 if motion < self.still_at else 0.0) - self.stillness)
                if burst:
                    reliable = False
                    self.exertion += a * (1.0 - self.exertion)
                else:
                    self.exertion -= a * self.exertion
                    self.ewm += a * (motion - self.ewm)
            elif burst:
                reliable = False
            if self.still:
                self.still = self.stillness >= 0.3
            else:
                self.still = self.stillness >= 0.6
            hours = self.hours  # this hour's readings, and its still ones
            hours[1] += 1
            if self.still:
                hours[0] += 1
            if self.exertion >= self.vigorous_above:
                self.vigorous_until = ts + self.recovery
            # a step up (stepping_since): the quick motion average well above the usual, or a
            # burst (the stairs, a dash), left out of the average; a new spell if the last
            # step is long past
            if burst:
                step = typ[1] >= _TYPICAL_AFTER
            else:
                q = self.step_ewm
                if q != q:
                    q = motion
                elif dt > 0.0:
                    a = 1.0 - math.exp(-dt / STEP_TAU) if dt < 5.0 * STEP_TAU else 1.0
                    q += a * (motion - q)
                self.step_ewm = q
                step = typ[1] >= _TYPICAL_AFTER and q >= STEP_UP * math.exp(typ[0])
            if step:
                if ts - self.step_last > STEP_SPELL_S:
                    self.step_since = ts
                self.step_last = ts
            # two moving samples in a row (turning over in bed is one) or a moving average
            prev = self.prev_motion
            active_above = self.active_above * typ[3]
            moving = (prev if prev < motion else motion) >= active_above  # min(), inlined
            if not burst and (moving or self.ewm >= active_above):
                self.active_until = ts + self.active_linger
            self.prev_motion = motion
        if ts > self.last_t:
            self.last_t = ts
        if ts < self.vigorous_until:
            reliable = False
        # self.context, inlined (innermost loop of replay)
        if self.ewm != self.ewm:
            return REST, reliable
        if self.last_t < self.active_until:
            return ACTIVE, reliable
        return (STILL if self.still else REST), reliable

    def _learn_typical(self, motion: float) -> None:
        """Fold an awake reading into :attr:`typical` and rescale the bounds."""
        typ = self.typical
        typ[1] = n = typ[1] + 1.0
        typ[0] += (math.log(motion) - typ[0]) / (n if n < _TYPICAL_SPAN else _TYPICAL_SPAN)
        # the bounds follow it every reading at first, then every 8th (it moves slowly)
        if n >= _TYPICAL_AFTER and (n < 2.0 * _TYPICAL_AFTER or n % 8.0 == 0.0):
            typical = math.exp(typ[0])
            typ[2] = min(1.0, max(typical / _TYPICAL_FOR_BURST, _SCALE_MIN))
            typ[3] = min(1.0, max(typical / _TYPICAL_FOR_ACTIVE, _SCALE_MIN))
            self._set_still()

    def _new_hour(self, motion: float, ts: float) -> None:
        """Motion floor bookkeeping at the first reading of an hour (see :attr:`floor`)."""
        f = self.floor
        hour_end = (ts // 3600.0 + 1.0) * 3600.0
        if not f:
            f.extend((0.0, hour_end, motion))
        elif hour_end > f[1]:
            self._end_hour(f[1])
            f.append(f[2])
            if len(f) > 3 + _FLOOR_HOURS:
                del f[3]
            f[1] = hour_end
            f[2] = motion
        else:  # an older hour (reordered samples): its minimum is not kept
            return
        self._set_offset()

    def _end_hour(self, end: float) -> None:
        """Fold the share of still readings of the hour ending at ``end`` into :attr:`hours`."""
        hours = self.hours
        if hours[1] >= _HOUR_READINGS:
            i = 2 + int(end // 3600.0 - 1.0) % 24
            share = 100 * hours[0] // hours[1]
            old = hours[i]
            hours[i] = share if old == _UNSEEN else round(old + _HOUR_WEIGHT * (share - old))
        hours[0] = hours[1] = 0

    def waking_hour(self, ts: float) -> bool:
        """Whether ``ts`` is in one of the wearer's waking hours (:attr:`hours`).

        An hour of the day not seen yet (the first day, or a day's charging gap) is judged as
        it is lived: ``ts`` in the hour being counted, still at most 20 % of its readings so
        far (6 at least), and the two hours before it waking. On the first day no hour had
        been seen, so no hour was waking: an adult at 72 bpm awake and 60 asleep, falling to
        37 from 18:23, was judged against the sleeping normal and alerted at HR 42, 30 min
        after onset (a simulated cohort, seed 20261206); now at 50, 24 min after. On 20
        simulated cohorts (10,000 patient-days) 45 first-day events were alerted 6 min sooner
        on average and two bradycardias that were missed are alerted, for 3 more false alerts
        (frail wearers falling asleep late on their first evening, still moving).

        Examples
        --------
        >>> a = Activity()
        >>> for m in range(2 * 1440):  # asleep 23:00-07:00
        ...     asleep = not 7 <= m // 60 % 24 < 23
        ...     _ = a.update(0.01 if asleep else 0.1, 0.95, 60.0 * m)
        >>> [a.waking_hour(86400.0 + 3600.0 * h) for h in (3, 7, 8, 12, 21, 22)]
        [False, False, True, True, True, False]
        >>> b = Activity()  # the first day, awake from 08:00
        >>> for m in range(8 * 60, 9 * 60 + 30):
        ...     _ = b.update(0.1, 0.95, 60.0 * m)
        >>> b.waking_hour(3600.0 * 9.5)  # 07:00-08:00 was not seen
        False
        >>> for m in range(9 * 60 + 30, 10 * 60 + 30):
        ...     _ = b.update(0.1, 0.95, 60.0 * m)
        >>> b.waking_hour(3600.0 * 10.5)
        True
        """
        hours = self.hours
        i = int(ts // 3600.0) % 24
        if hours[2 + i] == _UNSEEN:
            f = self.floor
            return (
                bool(f)
                and f[1] - 3600.0 <= ts < f[1]
                and hours[1] >= _HOUR_READINGS
                and 100 * hours[0] <= _WAKING_SHARE * hours[1]
                and hours[2 + (i - 1) % 24] <= _WAKING_SHARE
                and hours[2 + (i - 2) % 24] <= _WAKING_SHARE
            )
        return (
            hours[2 + i] <= _WAKING_SHARE
            and hours[2 + (i - 1) % 24] <= _WAKING_SHARE
            and hours[2 + (i + 1) % 24] <= _WAKING_SHARE
        )

    def _set_offset(self) -> None:
        """The offset to remove from motion: see :attr:`floor`."""
        f = self.floor
        minima = f[3:]
        # first hour: the lowest reading so far; then the 3rd lowest hourly minimum
        floor = sorted(minima)[min(3, len(minima)) - 1] if minima else f[2]
        if len(minima) < _FLOOR_TRUSTED:
            # An awake wearer's quietest minutes read 0.02-0.06 g (over gravity, 1.02-1.06):
            # taken for an offset, they would make sitting awake read as still, and the still
            # baseline learn waking values its first night would then depart from (a cohort
            # begun at 09:00). Until a night is among the minima, only gravity is removed.
            f[0] = min(floor, 1.0) if floor >= _RAW_ABOVE else 0.0
            self.typical[4] = 0.0
        else:
            f[0] = floor - _QUIET if floor > _OFFSET_ABOVE else 0.0
            self.typical[4] = floor - f[0]
        self._set_still()

    def _set_still(self) -> None:
        """The still bound from the floor and the typical motion: see :attr:`still_at`."""
        typ = self.typical
        level = typ[4]
        if level <= 0.0:  # not known yet (or a sensor that reads exactly 0 at rest)
            self.still_at = self.still_below
            return
        bound = self.still_below
        if typ[1] >= _TYPICAL_AFTER:
            bound = min(bound, math.sqrt(max(level, 0.5 * _QUIET) * math.exp(typ[0])))
        self.still_at = max(bound, 2.0 * level)

    def busier(self, factor: float = BUSIER) -> bool:
        """Whether the wearer has been moving about more than usual these last minutes.

        The motion average (time constant ``tau``) is at least ``factor`` (:data:`BUSIER`,
        or :data:`STIRRING`) times the wearer's typical awake motion (:attr:`typical`, once
        known). A walk at twice one's usual motion may stay under ``active_above`` (a
        sensor's scale, a slow walker, the two readings in a row it needs), yet it raises
        heart and breathing rate 15-30 bpm and 3-6 /min within the minute: a rise a resting
        baseline must not take for a tachycardia. The scale is the wearer's own, so it holds
        on any device's scale.

        Examples
        --------
        >>> a = Activity()
        >>> for i in range(60):
        ...     _ = a.update(0.08, 0.95, 60.0 * i)
        >>> a.busier()
        False
        >>> for i in range(60, 66):
        ...     _ = a.update(0.2, 0.95, 60.0 * i)   # six minutes of a walk at 2.5 times that
        >>> a.busier(), a.context == ACTIVE
        (True, False)
        >>> for i in range(66, 80):
        ...     _ = a.update(0.11, 0.95, 60.0 * i)   # a stroll, a little more than usual
        >>> a.busier(), a.busier(STIRRING)
        (False, True)
        """
        typ = self.typical
        return typ[1] >= _TYPICAL_AFTER and self.ewm >= factor * math.exp(typ[0])

    def stepping_since(self) -> float | None:
        """When the current spell of steps up began, or ``None`` outside one.

        The wearer steps up while a quick average of their motion (time constant
        :data:`STEP_TAU`, bursts left out) is at least :data:`STEP_UP` times their typical
        awake motion (:attr:`typical`, once known), and at a burst of motion (the stairs, a
        dash: on a second cohort, the heart and breathing rate after a flight of stairs were
        a third of its remaining false tachypneas); a spell of steps up lasts while each comes
        within :data:`STEP_SPELL_S` of the last, up to the last update. A walk or the stairs
        show as one in their first minute or two, while the motion average (:meth:`busier`)
        takes minutes: heart and breathing rate rise 15-30 bpm and 3-6 /min within a minute
        or two of the first step (:meth:`~stream.detect.monitor.PatientMonitor.observe`). One
        reading a little above the usual (a gesture) is no step up: the quick average takes
        two readings a minute apart at 1.8 times the usual, or one at 2.3 times.

        Examples
        --------
        >>> a = Activity()
        >>> for i in range(60):
        ...     _ = a.update(0.08, 0.95, 60.0 * i)
        >>> a.stepping_since() is None
        True
        >>> _ = a.update(0.2, 0.95, 3600.0)     # 2.5 times the usual: a walk begins
        >>> _ = a.update(0.09, 0.95, 3660.0)
        >>> a.stepping_since(), a.busier()
        (3600.0, False)
        >>> for i in range(62, 67):
        ...     _ = a.update(0.08, 0.95, 60.0 * i)   # it was a few steps: the spell ends
        >>> a.stepping_since() is None
        True
        """
        return self.step_since if self.last_t - self.step_last <= STEP_SPELL_S else None

    @property
    def context(self) -> int:
        """The current context: ``STILL``, ``REST`` or ``ACTIVE``."""
        ewm = self.ewm
        if ewm != ewm:
            return REST
        if self.last_t < self.active_until:
            return ACTIVE
        if self.still:
            return STILL
        return REST


def _compiled_update() -> Callable[[Activity, float | None, float | None, float], tuple[int, bool]]:
    """``update(activity, motion, quality, ts)``: :meth:`Activity.update` compiled
    (``stream/detect/_activity.c``, built by ``pip install``) if it was built, else the method
    itself. Either leaves the same state and returns the same value, bit for bit; the compiled
    one hands the pure-Python method every call outside its common case (float readings, state
    of Activity's own types), and calls a subclass's instance's own ``update``."""
    try:
        from stream.detect import _activity  # (a C extension: setup.py)
    except ImportError:
        return Activity.update
    _activity.bind(Activity, Activity.update)
    return _activity.update


#: :meth:`Activity.update` as a function of the activity, compiled when it can be (the monitor
#: calls it once per sample: ``activity_update(activity, motion, quality, ts)``).
activity_update = _compiled_update()

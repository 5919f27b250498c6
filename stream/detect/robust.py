"""The per-context robust statistic under a personal baseline: level and scale of one context.

Per activity context (:mod:`stream.detect.contexts`) a channel keeps an exponentially
weighted **level** and a Huber-clipped **mean absolute deviation**, with time-based learning
rates so irregular sampling (a cuff every 15-60 min, a 5-minute metric) needs no retuning.
While warming up they are running means (an event during the first hours must not be
averaged in as fast as the first readings were), and a young baseline follows faster: its
level's time constant grows from 2 h to ``tau``. The **scale** is the deviation times the
normal-distribution factor, shrunk towards a population ``prior_scale`` while data is scarce
and floored at the sensor's resolution; a context still warming up borrows the best-learned
one with a widened scale.

Readings reach the statistic through a median of the last three (:func:`median3_with`), so an
isolated spike cannot move what is compared with the baseline.

:class:`ContextStats` is the statistic's half of
:class:`~stream.detect.baseline.ChannelModel`, which owns (and pickles) the state it reads.

Examples
--------
>>> from stream.detect.baseline import ChannelModel
>>> from stream.detect.contexts import ACTIVE, REST
>>> m = ChannelModel(prior_scale=5.0)
>>> m.scale(REST)  # before data: the population prior
5.0
>>> for i in range(40):
...     m.learn_one({"value": 70.0 + (i % 2), "ts": 60.0 * i, "context": REST})
>>> round(m.level[REST], 1), round(m.scale(REST), 2), m.n[ACTIVE]
(70.5, 3.31, 0)
>>> median3_with([70.0, 71.0], 140.0), median3_with([], 140.0)
(71.0, 140.0)
"""

from __future__ import annotations

import logging
import math
from array import array

from stream.detect.contexts import REST

logger = logging.getLogger(__name__)

__all__ = ["BORROWED_WIDTH", "MIN_SCALE_READINGS", "ContextStats", "median3_with"]

_GAUSS_MAD = 1.2533  # sigma / mean absolute deviation for a normal distribution
_MAX_DT = 900.0  # a learning step never counts for more than 15 min of data
_YOUNG_TAU = 7200.0  # a new baseline's level time constant (s), growing to tau with its age
_R_MAX = 1e300  # residuals are clipped here at most: state stays finite for any finite input
_REL_RESOLUTION = 1e-9  # scale floor relative to the level: float resolution, not a prior
#: Without a population prior, a scale from fewer readings than this is not trusted to score.
MIN_SCALE_READINGS = 10
#: A context with too few readings of its own is judged by the best-learned one, its scale
#: this many times wider.
BORROWED_WIDTH = 2.0


class ContextStats:
    """Level and robust scale per activity context (see the module docstring).

    A mixin without state of its own: the attributes below belong to the subclass.
    """

    tau: float
    tau_scale: float
    warmup: int
    prior_scale: float | None
    min_scale: float
    huber: float
    n: array[int]
    level: array[float]
    dev: array[float]
    learned_at: array[float]
    sd_cache: array[float]
    born: float

    def scale(self, ctx: int = REST) -> float:
        """Current scale (robust standard deviation) of context ``ctx``.

        (:meth:`_learn_stats` inlines the same: keep the two in step.)
        """
        n = self.n[ctx]
        dev_sd = _GAUSS_MAD * self.dev[ctx]
        prior = self.prior_scale
        if prior is not None:
            w = float(self.warmup)
            if dev_sd < 1e150:
                sd = math.sqrt((w * prior * prior + n * dev_sd * dev_sd) / (w + n))
            else:  # its square would overflow; the prior is negligible beside it
                sd = dev_sd * math.sqrt(n / (w + n))
        else:
            sd = dev_sd
        floor = self.min_scale
        # numerical resolution only: a floor relative to the level would make the units'
        # origin matter (50 000 +- 5 is as learnable as 0 +- 5)
        rel = _REL_RESOLUTION * abs(self.level[ctx])
        if rel > floor:
            floor = rel
        return sd if sd > floor else (floor if floor > 0.0 else 1e-12)

    def _baseline(self, ctx: int) -> tuple[float, float, bool] | None:
        """``(expected, scale, settled)`` for ``ctx``, falling back to the best-learned context."""
        n = self.n
        if n[ctx] >= self.warmup:
            return self.level[ctx], self.sd_cache[ctx], True
        if n[ctx] >= MIN_SCALE_READINGS:
            return self.level[ctx], 1.5 * self.sd_cache[ctx], False
        best = max(range(3), key=n.__getitem__)
        if n[best] == 0 or (self.prior_scale is None and n[best] < MIN_SCALE_READINGS):
            return None  # no scale to judge by yet (one deviation is not a spread)
        # a context with too little data borrows the best-learned one, with a wider scale
        return self.level[best], BORROWED_WIDTH * self.sd_cache[best], False

    def _learn_stats(
        self,
        value: float,
        ts: float,
        ctx: int,
        sd: float,
        weight: float,
        expected: float,
        weight_scale: float,
        young: bool = False,
    ) -> int:
        """Fold one reading into the level and deviation of ``ctx``; return its prior count.

        ``sd`` > 0 clips the residual at ``huber`` scales; ``weight`` and ``weight_scale``
        multiply the level's and the deviation's rates. ``young`` learns the level at a new
        baseline's time constant whatever the model's age.
        """
        n = self.n[ctx]
        if self.born != self.born:
            self.born = ts
        if n == 0:
            # a new context starts from what the others predict, not from scratch
            self.level[ctx] = value if expected != expected else expected
            self.dev[ctx] = 0.0
            self.n[ctx] = 1
            self.learned_at[ctx] = ts
            self.sd_cache[ctx] = self.scale(ctx)
            return 0
        dt = ts - self.learned_at[ctx]
        dt = 0.0 if dt < 0.0 else (_MAX_DT if dt > _MAX_DT else dt)
        # running mean while warming up, then the time constants (an event during the first
        # hours must not be averaged in as fast as the first readings were)
        warm = 1.0 / (n + 1) if n < 4 * self.warmup else 0.0
        # a young baseline follows faster (time constant grows from 2 h to tau with its age),
        # so the first day's daily rhythm is tracked before the time-of-day profile exists
        tau = ts - self.born + _YOUNG_TAU
        if tau < _YOUNG_TAU or young:  # (a reading older than the first learned: age 0)
            tau = _YOUNG_TAU
        if tau > self.tau or tau != tau:
            tau = self.tau
        a_level = dt / tau
        a_scale = dt / self.tau_scale
        if warm > a_level:
            a_level = warm
        if warm > a_scale:
            a_scale = warm
        a_level *= weight
        a_scale *= weight_scale
        r = value - expected if expected == expected else value - self.level[ctx]
        # (near float max, r may overflow; so may a scale of a spread near it)
        lim = self.huber * sd if 0.0 < sd < _R_MAX else _R_MAX
        r = lim if r > lim else (-lim if r < -lim else r)
        self.level[ctx] = level = self.level[ctx] + a_level * r
        dev = self.dev[ctx]
        self.dev[ctx] = dev = dev + a_scale * ((r if r >= 0.0 else -r) - dev)
        self.n[ctx] = m = n + 1
        self.learned_at[ctx] = ts
        # self.scale(ctx), inlined (this runs for every reading learned)
        dev_sd = _GAUSS_MAD * dev
        prior = self.prior_scale
        if prior is not None:
            w = float(self.warmup)
            if dev_sd < 1e150:
                new_sd = math.sqrt((w * prior * prior + m * dev_sd * dev_sd) / (w + m))
            else:
                new_sd = dev_sd * math.sqrt(m / (w + m))
        else:
            new_sd = dev_sd
        floor = self.min_scale
        rel = _REL_RESOLUTION * abs(level)
        if rel > floor:
            floor = rel
        self.sd_cache[ctx] = new_sd if new_sd > floor else (floor if floor > 0.0 else 1e-12)
        return n


def median3_with(window: list[float], value: float) -> float:
    """Median of a full two-reading ``window`` and ``value``; ``value`` itself otherwise.

    (:meth:`~stream.detect.baseline.ChannelModel.step` inlines the same on its hot path.)
    """
    if len(window) == 2:
        return _median3(window[0], window[1], value)
    return value


def _median3(a: float, b: float, c: float) -> float:
    if a > b:
        a, b = b, a
    if c <= a:
        return a
    if c >= b:
        return b
    return c

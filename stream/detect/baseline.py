"""Personal baselines: an online, robust model of one channel's normal, per activity context.

:class:`ChannelModel` is Vigil's univariate anomaly layer. It knows nothing about medicine: the
same class, with the same defaults, learns a heart rate, a step count or a server's CPU load.
Clinical knowledge (NEWS2 bands, relevance floors) lives in :mod:`stream.detect.rules` and
only *reads* what this model computes.

Per context (``STILL`` — e.g. asleep, ``REST``, ``ACTIVE`` — light activity; contexts come from
the motion channel, :mod:`stream.detect.activity`) it keeps an exponentially weighted level and
a Huber-clipped mean absolute deviation, with time-based learning rates so irregular sampling
(a cuff every 15-60 min, a 5-minute metric) needs no retuning. Each step:

1. a median of the last three *reliable* readings (artifact gating: isolated spikes cannot
   move it) — dense channels only; sparse ones (gaps above ``max_gap``) use the raw reading;
2. ``z = (smoothed - expected) / scale`` against the current context's baseline, falling back
   to the best-learned context with a widened scale while a context is still warming up;
3. two one-sided CUSUMs of the clipped ``z`` (a slow, persistent drift accumulates; noise
   does not) — the trend detector over hours;
4. learning, unless told not to: samples with ``|z| >= freeze_z`` are learned at a tenth of the
   rate, so an ongoing deterioration is absorbed only slowly as the new normal.

The score in [0, 1] rises with ``|z|`` of the smoothed value (0.5 at ``z_on``), with the CUSUM
(0.5 at ``cusum_h``) and, more weakly, with ``|z|`` of the raw reading (isolated spikes).

Examples
--------
>>> import random
>>> rng = random.Random(7)
>>> m = ChannelModel()
>>> m.score_one({"value": 70.0})  # nothing learned yet: no evidence either way
0.0
>>> for i in range(600):
...     m.learn_one({"value": 70.0 + rng.gauss(0.0, 3.0), "ts": 60.0 * i})
>>> round(m.level[REST]), round(m.scale(REST))
(70, 3)
>>> m.score_one({"value": 71.0, "ts": 36000.0}) < 0.05
True
>>> 0.2 < m.score_one({"value": 95.0, "ts": 36000.0}) < 0.5  # one spike: smoothed away
True
>>> [m.step(95.0, 36000.0 + 60 * i) > 0.9 for i in range(3)]  # sustained: anomalous
[False, True, True]
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable
from typing import Any

from river import base

logger = logging.getLogger(__name__)

__all__ = ["ACTIVE", "CONTEXTS", "REST", "STILL", "ChannelModel", "time_of_day"]

STILL, REST, ACTIVE = 0, 1, 2
CONTEXTS = ("still", "rest", "active")
_GAUSS_MAD = 1.2533  # sigma / mean absolute deviation for a normal distribution
_MAX_DT = 900.0  # a learning step never counts for more than 15 min of data


class ChannelModel(base.AnomalyDetector):
    """Online personal baseline and anomaly score for one numeric channel.

    A high score means the channel's recent (smoothed) value is far from this individual's
    learned normal for the current context, or has drifted persistently away from it.

    Parameters
    ----------
    tau
        Time constant (s) of the level. Long, so that hours of deterioration are not learned
        as normal; the level still follows a slow change of habit over days.
    tau_scale
        Time constant (s) of the scale (mean absolute deviation).
    warmup
        Readings per context before its baseline counts as learned (until then: running mean,
        population ``prior_scale`` if given, and a fallback to the best-learned context).
    prior_scale
        Scale assumed before data exists (e.g. 5 bpm for a heart rate); ``None`` learns it
        from the first readings alone.
    min_scale
        Floor of the scale, in channel units (sensor resolution).
    huber
        Residuals are clipped at ``huber`` scales before learning (robust to outliers).
    z_on
        ``|z|`` at which the level score is 0.5.
    cusum_k, cusum_h
        CUSUM allowance (in scales per reading) and decision level (score 0.5 at ``cusum_h``).
    freeze_z
        Readings with ``|z|`` at or above this are learned at a tenth of the rate.
    max_gap
        Seconds after which the smoothing window restarts (and a channel counts as sparse).
    tau_daily
        Time constant (s) of the time-of-day profile (24 h and 12 h harmonics, learned by
        least mean squares on the residuals); ``None`` disables it.
    """

    def __init__(
        self,
        tau: float = 12 * 3600.0,
        tau_scale: float = 24 * 3600.0,
        warmup: int = 30,
        prior_scale: float | None = None,
        min_scale: float = 0.0,
        huber: float = 2.5,
        z_on: float = 4.0,
        cusum_k: float = 1.5,
        cusum_h: float = 60.0,
        freeze_z: float = 3.0,
        max_gap: float = 600.0,
        tau_daily: float | None = 24 * 3600.0,
    ) -> None:
        self.tau = tau
        self.tau_scale = tau_scale
        self.warmup = warmup
        self.prior_scale = prior_scale
        self.min_scale = min_scale
        self.huber = huber
        self.z_on = z_on
        self.cusum_k = cusum_k
        self.cusum_h = cusum_h
        self.freeze_z = freeze_z
        self.max_gap = max_gap
        self.tau_daily = tau_daily
        # time-of-day profile: weights of the 24 h and 12 h harmonics, shared by contexts
        self.daily = [0.0, 0.0, 0.0, 0.0]
        # learned state, per context
        self.n = [0, 0, 0]
        self.level = [0.0, 0.0, 0.0]
        self.dev = [0.0, 0.0, 0.0]
        self.learned_at = [0.0, 0.0, 0.0]
        self.born = math.nan  # event time of the first learned reading
        # smoothing window and the last step's results
        self.recent: list[float] = []
        self.recent_at = -math.inf
        self.xs = math.nan
        self.expected = math.nan
        self.sd = math.nan
        self.z = 0.0
        self.settled = False
        self.cusum_up = 0.0
        self.cusum_down = 0.0
        self.up_since = 0.0
        self.down_since = 0.0

    # -- River contract -------------------------------------------------------------------

    def learn_one(self, x: dict[Hashable, Any]) -> None:
        """Learn one reading ``{"value": v, "ts": t, "context": c}`` (ts, context optional)."""
        ts = float(x.get("ts", 0.0))
        self.step(float(x["value"]), ts, int(x.get("context", REST)), tod=time_of_day(ts))

    def score_one(self, x: dict[Hashable, Any]) -> float:
        """Score a reading against the current state, without learning or smoothing it in."""
        value = float(x["value"])
        ctx = int(x.get("context", REST))
        ts = float(x.get("ts", self.recent_at))
        base = self._baseline(ctx)
        if base is None:
            return 0.0
        expected, sd, _ = base
        if self.tau_daily is not None and ts == ts and abs(ts) != math.inf:
            c1, s1, c2, s2 = time_of_day(ts)
            w = self.daily
            expected += w[0] * c1 + w[1] * s1 + w[2] * c2 + w[3] * s2
        window = self.recent if ts - self.recent_at <= self.max_gap else []
        xs = _median_with(window, value)
        return self._score((xs - expected) / sd, (value - expected) / sd, self.cusum_up)

    # -- the hot path -----------------------------------------------------------------------

    def scale(self, ctx: int = REST) -> float:
        """Current scale (robust standard deviation) of context ``ctx``."""
        n = self.n[ctx]
        dev_sd = _GAUSS_MAD * self.dev[ctx]
        prior = self.prior_scale
        if prior is not None:
            w = float(self.warmup)
            sd = math.sqrt((w * prior * prior + n * dev_sd * dev_sd) / (w + n))
        else:
            sd = dev_sd
        floor = self.min_scale
        rel = 1e-3 * abs(self.level[ctx])
        if rel > floor:
            floor = rel
        return sd if sd > floor else (floor if floor > 0.0 else 1e-9)

    def _baseline(self, ctx: int) -> tuple[float, float, bool] | None:
        """``(expected, scale, settled)`` for ``ctx``, falling back to the best-learned context."""
        n = self.n
        if n[ctx] >= self.warmup:
            return self.level[ctx], self.scale(ctx), True
        if n[ctx] >= 10:
            return self.level[ctx], 1.5 * self.scale(ctx), False
        best = max(range(3), key=n.__getitem__)
        if n[best] == 0:
            return None
        # a context with too little data borrows the best-learned one, with a wider scale
        return self.level[best], 2.0 * self.scale(best), False

    def _score(self, z: float, z_raw: float, cusum: float) -> float:
        z4 = z * z * z * z
        on4 = self.z_on**4
        p = z4 / (z4 + on4)
        r4 = z_raw * z_raw * z_raw * z_raw
        spike = 0.8 * r4 / (r4 + 16.0 * on4)
        if spike > p:
            p = spike
        c = cusum / (cusum + self.cusum_h)
        return c if c > p else p

    def step(
        self,
        value: float,
        ts: float,
        ctx: int = REST,
        *,
        reliable: bool = True,
        learn: bool = True,
        tod: tuple[float, float, float, float] | None = None,
    ) -> float:
        """Smooth, score and (optionally) learn one reading; return its score in [0, 1].

        Unreliable readings (artifact suspects) are neither smoothed in nor learned and score 0.
        After the call, ``xs``, ``expected``, ``sd``, ``z`` and ``settled`` describe the reading.
        ``tod`` is :func:`time_of_day` of ``ts`` (computed once per sample by the caller).
        """
        if not reliable:
            return 0.0
        window = self.recent
        if ts - self.recent_at > self.max_gap:
            window.clear()
        if len(window) == 2:
            a, b = window
            xs = _median3(a, b, value)
            window[0] = b
            window[1] = value
        else:
            xs = value
            window.append(value)
        self.recent_at = ts
        self.xs = xs

        base = self._baseline(ctx)
        if base is None:
            self.expected = value
            self.sd = math.nan
            self.z = 0.0
            self.settled = False
            if learn:
                self._learn(value, ts, ctx, 0.0, 1.0, value, None)
            return 0.0
        expected, sd, settled = base
        if tod is not None and self.tau_daily is not None:
            w = self.daily
            expected += w[0] * tod[0] + w[1] * tod[1] + w[2] * tod[2] + w[3] * tod[3]
        self.expected = expected
        self.sd = sd
        self.settled = settled
        z = (xs - expected) / sd
        self.z = z

        # CUSUM on the clipped z: sustained drifts accumulate, noise and spikes do not.
        zc = 6.0 if z > 6.0 else (-6.0 if z < -6.0 else z)
        k = self.cusum_k
        up = self.cusum_up + zc - k
        if up <= 0.0:
            up = 0.0
            self.up_since = ts
        down = self.cusum_down - zc - k
        if down <= 0.0:
            down = 0.0
            self.down_since = ts
        cap = 4.0 * self.cusum_h  # bounded, so it returns to zero soon after recovery
        self.cusum_up = up if up < cap else cap
        self.cusum_down = down if down < cap else cap

        if learn:
            weight = 0.1 if (z >= self.freeze_z or z <= -self.freeze_z) else 1.0
            self._learn(
                value, ts, ctx, sd if settled or self.prior_scale else 0.0, weight, expected, tod
            )
        return self._score(z, (value - expected) / sd, up if up > down else down)

    def _learn(
        self,
        value: float,
        ts: float,
        ctx: int,
        sd: float,
        weight: float,
        expected: float,
        tod: tuple[float, float, float, float] | None,
    ) -> None:
        n = self.n[ctx]
        if self.born != self.born:
            self.born = ts
        if n == 0:
            # a new context starts from what the others predict, not from scratch
            self.level[ctx] = value if expected != expected else expected
            self.dev[ctx] = 0.0
            self.n[ctx] = 1
            self.learned_at[ctx] = ts
            return
        dt = ts - self.learned_at[ctx]
        dt = 0.0 if dt < 0.0 else (_MAX_DT if dt > _MAX_DT else dt)
        # running mean while warming up, then the time constants (an event during the first
        # hours must not be averaged in as fast as the first readings were)
        warm = 1.0 / (n + 1) if n < 4 * self.warmup else 0.0
        # a young baseline follows faster (time constant grows from 2 h to tau with its age),
        # so the first day's daily rhythm is tracked before the time-of-day profile exists
        tau = ts - self.born + 7200.0
        if tau > self.tau or tau != tau:
            tau = self.tau
        a_level = dt / tau
        a_scale = dt / self.tau_scale
        if warm > a_level:
            a_level = warm
        if warm > a_scale:
            a_scale = warm
        a_level *= weight
        a_scale *= weight
        r = value - expected if expected == expected else value - self.level[ctx]
        if sd > 0.0:
            lim = self.huber * sd
            r = lim if r > lim else (-lim if r < -lim else r)
        self.level[ctx] += a_level * r
        self.dev[ctx] += a_scale * ((r if r >= 0.0 else -r) - self.dev[ctx])
        if tod is not None and self.tau_daily is not None and n >= self.warmup:
            # least mean squares on the harmonics (each has mean square 1/2, hence the 2)
            g = 2.0 * weight * dt / self.tau_daily * r
            w = self.daily
            w[0] += g * tod[0]
            w[1] += g * tod[1]
            w[2] += g * tod[2]
            w[3] += g * tod[3]
        self.n[ctx] = n + 1
        self.learned_at[ctx] = ts


def time_of_day(ts: float) -> tuple[float, float, float, float]:
    """Harmonic features of the UTC time of day: cos/sin of the 24 h and the 12 h cycle.

    >>> [round(v, 3) for v in time_of_day(6 * 3600.0)]
    [0.0, 1.0, -1.0, 0.0]
    """
    angle = (ts % 86400.0) * (2.0 * math.pi / 86400.0)
    c1 = math.cos(angle)
    s1 = math.sin(angle)
    return c1, s1, 2.0 * c1 * c1 - 1.0, 2.0 * s1 * c1


def _median3(a: float, b: float, c: float) -> float:
    if a > b:
        a, b = b, a
    if c <= a:
        return a
    if c >= b:
        return b
    return c


def _median_with(window: list[float], value: float) -> float:
    if len(window) == 2:
        return _median3(window[0], window[1], value)
    return value

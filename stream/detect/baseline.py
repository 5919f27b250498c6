"""Personal baselines: an online, robust model of one channel's normal, per activity context.

:class:`ChannelModel` is Vigil's univariate anomaly layer. It knows nothing about medicine: the
same class, with the same defaults, learns a heart rate, a step count or a server's CPU load.
Clinical knowledge (NEWS2 bands, relevance floors) lives in :mod:`stream.detect.rules` and
only *reads* what this model computes.

Per activity context (:mod:`stream.detect.contexts`) it keeps a robust level and scale
(:mod:`stream.detect.robust`); on top, a time-of-day profile of 24 hourly offsets, with
weekends' hours apart (:mod:`stream.detect.daily`). Each step:

1. a median of the last three *reliable* readings (artifact gating: isolated spikes cannot
   move it) — dense channels only; sparse ones (gaps above ``max_gap``) use the raw reading;
2. ``z = (smoothed - expected) / scale`` against the current context's baseline, falling back
   to the best-learned context with a widened scale while a context is still warming up;
3. two one-sided CUSUMs of the clipped ``z``, weighted by time (a slow, persistent drift
   accumulates; noise does not) — the trend detector over hours, from the second day on;
   noise that wanders for longer than ten minutes (a machine's temperature) gives it less
   evidence, by the correlation time learned from ordinary readings;
4. learning, unless told not to: samples with ``|z| >= freeze_z`` are learned at a tenth of the
   rate, so an ongoing deterioration is absorbed only slowly as the new normal — until it has
   lasted ``absorb_after`` (then it *is* the new normal, learned without the Huber clip, so
   that a scale that cannot describe it, such as the zero spread of a channel that was
   constant so far, cannot lock it out). Readings of a suspicious run of repeats (a stuck
   sensor) are not learned at all. After warm-up at most one reading per ``learn_every``
   seconds is learned (cost, not statistics: rates are per unit time).

The score in [0, 1] rises with ``|z|`` of the smoothed value (0.5 at ``z_on``), with the CUSUM
(0.5 at ``cusum_h``, 0.94 at its cap of four times that: a departure sustained for hours is
as certain as a far one), more weakly with ``|z|`` of the raw reading (an isolated reading
scores 0.5 at 1.35 ``z_on``, 5.4 scales out by default; less so from a channel that often reads
five scales out: a bursty metric's bursts are its normal), and with
a run of identical readings (a stuck sensor) beyond the longest run the channel has completed
(a metric idle at zero every night is not stuck at night), judged against how often it repeats
itself (0.5 when chance gives the run odds of one in a million: four identical readings of
a channel that never repeats, about eight of a heart rate that repeats one time in eight).

The score says how unexpected the present is, so a departure (or a stuck run) that has scored
0.5 or more for a quarter of an hour is *known*: its score fades with a quarter-hour time
constant until the departure is over (``known_since``), below 0.5 about 25 minutes after it was
first found. A new normal is not an anomaly for ever, and every reading still scored high after
a change has been flagged is a false positive to whoever thresholds the score (NAB counts each
one). A known departure that grows is news again: a reading whose score reaches a tenth the
departure had not reached (0.6, 0.7, ...; ``known_tenths``) is not faded, so a threshold above
0.5 still sees a slow drift or a widening shift, once. On the synthetic streams of
``bench/anomaly.py`` (seeds 0, 3, 7, 11), against a half-hour fade without it, the NAB-like
score counted per reading at its best threshold rose from 69-77 to 74-81, and at thresholds
0.7 / 0.8 / 0.9 from 59-64 / 38-45 / 26-31 per alarm to 72-75 / 63-66 / 53-56; at 0.5 per
alarm it fell by 0.6-1.1 points (the grown readings are alarms too). ``z`` and the CUSUM,
which the clinical rules read, still show the departure, and an alert on it stays open while
it lasts.

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
>>> 0.2 < m.score_one({"value": 85.0, "ts": 36000.0}) < 0.5  # one reading 5 sd out: weak
True
>>> m.score_one({"value": 95.0, "ts": 36000.0}) > 0.5  # 8 sd out: anomalous on its own
True
>>> [m.step(95.0, 36000.0 + 60 * i) > 0.9 for i in range(3)]  # sustained: anomalous
[False, True, True]
"""

from __future__ import annotations

import logging
import math
from array import array
from collections.abc import Callable, Hashable
from typing import Any, Final

from river import base

from stream.detect.channel_state import PARAMS, STATE, defaults_of, restore, save
from stream.detect.contexts import ACTIVE, CONTEXTS, HOUR_BINS, REST, STILL, time_of_day
from stream.detect.daily import DailyProfile, filled
from stream.detect.robust import ContextStats, median3_with

logger = logging.getLogger(__name__)

__all__ = [
    "ACTIVE",
    "CONTEXTS",
    "REST",
    "STILL",
    "TREND_AFTER_S",
    "ChannelModel",
    "LEARN_LOWS",
    "channel_step",
    "time_of_day",
]


#: Age (s of data) before the CUSUM (the trend detector) runs: the first day has no time-of-day
#: profile to judge by.
TREND_AFTER_S = 86400.0
#: Stuck readings: the repeat rate is a running mean over this many readings, never trusted
#: below ``_REP_FLOOR``; a run scores 0.5 when its chance is 10 ** -_FLAT_HALF.
_REP_MEMORY = 250
_REP_FLOOR = 0.01
_FLAT_HALF = 6.0
_FLAT_HALF4 = _FLAT_HALF**4
#: Heavy tails: the share of learned readings at least _TAIL_Z scales out (a running mean over
#: _REP_MEMORY readings) halves the spike score at _TAIL_HALF.
_TAIL_Z = 5.0
_TAIL_HALF = 0.002
#: A lone reading's spike score is 0.8 r^4 / (r^4 + _SPIKE_K z_on^4) for r scales out: 0.5 at
#: 1.35 z_on (5.4 scales: a Gaussian reading that far is one in 15 million).
_SPIKE_K = 2.0
_log10 = math.log10
#: |z| beyond this is this (its fourth power must not overflow: any finite input scores).
_Z_MAX = 1e6
#: Noise whose correlation time exceeds _CORR_FREE_S (its lag-one autocorrelation at least
#: _RHO_FREE) gives the CUSUM sqrt(_CORR_FREE_S / correlation time) of its evidence.
_CORR_FREE_S = 600.0
_RHO_FREE = 0.3
#: A departure scored 0.5 or more for _KNOWN_S fades with time constant _FADE_S (unless its
#: score reaches a new tenth: ``known_tenths``).
_KNOWN_S = 0.25 * 3600.0
_FADE_S = 900.0
#: ``learn`` of :meth:`ChannelModel.step` that learns a departure below the expected value as
#: a new baseline learns (whole: neither frozen nor clipped, at its 2 h time constant); one
#: above, as ``True`` does.
LEARN_LOWS: Final = 2
#: The CUSUM counts evidence per this many seconds (``cusum_k``, ``cusum_h`` are per minute).
_CUSUM_UNIT = 60.0


class ChannelModel(ContextStats, DailyProfile, base.AnomalyDetector):
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
        CUSUM allowance (in scales) and decision level (score 0.5 at ``cusum_h``), per minute
        of readings: each reading counts for the time since the previous one (one reading
        after a gap), so the trend detector is as fast in time at any sampling rate. It
        starts after a day of data (before that, the daily rhythm is not yet known). Noise
        correlated for longer than 10 minutes (lag-one autocorrelation of ordinary readings)
        counts ``sqrt(10 min / correlation time)`` as much: its excursions are not drifts.
    freeze_z
        Readings with ``|z|`` at or above this are learned at a tenth of the rate.
    max_gap
        Seconds after which the smoothing window restarts (and a channel counts as sparse).
    profile_rate
        Learning rate of the time-of-day profile: hourly offsets from the level (weekend hours
        apart), linearly interpolated. Each hour's mean residual is folded into its offset when
        the hour is over, from readings that were not departures (``|z| < freeze_z``) only, so
        the present never moves its own expectation and an afternoon fever does not teach
        tomorrow's afternoon to expect one. ``None`` disables it.
    absorb_after
        A departure that has lasted this long (continuously, by the CUSUM) is learned at the
        full rate again: it has been alerted on, and it is the patient's new normal.
    learn_every
        After its warm-up, a context learns at most one reading per this many seconds. Rates are
        per unit of time, so this changes cost, not time constants (every third reading of a
        1/min stream; every reading of a 5-min one).
    """

    __slots__ = (*PARAMS, *STATE, "_on4")  # _on4: z_on ** 4, derived (not saved)

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
        freeze_z: float = 2.0,
        max_gap: float = 600.0,
        profile_rate: float | None = 0.35,
        learn_every: float = 150.0,
        absorb_after: float = 6 * 3600.0,
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
        self.profile_rate = profile_rate
        self.learn_every = learn_every
        self.absorb_after = absorb_after
        self._on4 = z_on**4
        # time-of-day profile: hourly offsets from the context level, shared by contexts
        # weekdays' hours, then weekends' (single precision: offsets need no more, and a
        # patient with every custom channel must stay within 16 KiB)
        self.daily = array("f", bytes(4 * HOUR_BINS))
        self.weekend_seen = 0  # a bit per weekend hour learned at least once
        self.weekday_level = array("d", (math.nan, math.nan, math.nan))  # per context
        # this hour's residuals, folded into the profile when the hour is over (so that the
        # present never moves its own expectation)
        self.hour_bin = -1
        self.hour_sum = 0.0
        self.hour_n = 0
        self.hour_all = 0
        # learned state, per context (flat arrays: 100 000 patients must fit in memory)
        self.n = array("q", (0, 0, 0))
        self.level = array("d", (0.0, 0.0, 0.0))
        self.dev = array("d", (0.0, 0.0, 0.0))
        self.learned_at = array("d", (0.0, 0.0, 0.0))
        self.sd_cache = array("d", (math.nan, math.nan, math.nan))
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
        # stuck readings: the current run of repeats, and how often this channel repeats
        self.flat_run = 0
        self.rep_p = 0.5
        self.rep_n = 0
        self.tail_p = 0.0
        # the lag-one autocorrelation of ordinary readings' raw z (zz / z2)
        self.zz = 0.0  # running mean of raw z times the previous reading's
        self.z2 = 0.0  # running mean of raw z squared
        self.known_since = math.nan  # when the present departure first scored 0.5
        self.known_tenths = 0  # the highest tenth its score has reached (int(10 * p))
        self.long_run = 0  # the longest run this channel has completed: sticky is its normal

    def __getstate__(self) -> tuple[Any, ...]:
        # compact: a patient with every custom channel must pickle within 16 KiB
        # (:mod:`stream.detect.channel_state`)
        return save(self, _DEFAULTS)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        restore(self, state, _DEFAULTS)
        self._on4 = self.z_on**4

    # -- River contract -------------------------------------------------------------------

    def learn_one(self, x: dict[Hashable, Any]) -> None:
        """Learn one reading ``{"value": v, "ts": t, "context": c}`` (ts, context optional).

        A reading whose value or time is not finite is not learned (ingest refuses such
        samples; a direct caller's NaN must not become the level).
        """
        ts = float(x.get("ts", 0.0))
        value = float(x["value"])
        if value - value != 0.0 or ts - ts != 0.0:  # NaN or infinite
            return
        self.step(value, ts, int(x.get("context", REST)), tod=time_of_day(ts))

    def score_one(self, x: dict[Hashable, Any]) -> float:
        """Score a reading against the current state, without learning or smoothing it in."""
        value = float(x["value"])
        ctx = int(x.get("context", REST))
        ts = float(x.get("ts", self.recent_at))
        base = self._baseline(ctx)
        if base is None:
            return 0.0
        expected, sd, _ = base
        if self.profile_rate is not None and ts == ts and abs(ts) != math.inf:
            expected += self.profile_offset(ts)
        window = self.recent if ts - self.recent_at <= self.max_gap else []
        xs = median3_with(window, value)
        up, down = self.cusum_up, self.cusum_down
        cusum = up if up > down else down
        p = self._score((xs - expected) / sd, (value - expected) / sd, cusum)
        # as step() scores a run of repeats: from three beyond the longest run completed
        run = self.flat_run + 1 if window and value == window[-1] else 0
        if run >= 3 and run - self.long_run >= 3:
            flat = self._flat_score(run - self.long_run)
            if flat > p:
                p = flat
        return self._faded(p, ts) if cusum or run >= 3 else p

    def lasted(self, up: bool, ts: float) -> bool:
        """Whether the departure above (``up``) or below the expected value has been
        sustained (its CUSUM above zero) for ``absorb_after`` at ``ts``: the new normal, as
        :meth:`step` learns it.

        >>> m = ChannelModel()
        >>> m.lasted(True, 0.0)
        False
        """
        if (self.cusum_up if up else self.cusum_down) <= 0.0:
            return False
        return ts - (self.up_since if up else self.down_since) >= self.absorb_after

    def expected_in(
        self, ctx: int, ts: float, tod: tuple[int, int, float] | None = None
    ) -> float | None:
        """Expected value at ``ts`` in context ``ctx``, or ``None`` if that context is unsettled.

        ``tod``, if given, is :func:`time_of_day` of ``ts`` (the caller's, computed once).
        """
        if self.n[ctx] < self.warmup:
            return None
        expected = self.level[ctx]
        if self.profile_rate is not None:
            expected += self.offset_at(time_of_day(ts) if tod is None else tod)
        return expected

    def _faded(self, p: float, ts: float) -> float:
        """Score ``p`` at ``ts``, faded if a departure has been known for over ``_KNOWN_S``
        (unless ``p`` has grown to a tenth it had not reached)."""
        known = self.known_since
        if ts - known > _KNOWN_S and int(p * 10.0) <= self.known_tenths:  # (NaN: False)
            return p * math.exp((known + _KNOWN_S - ts) / _FADE_S)
        return p

    def _flat_score(self, run: int) -> float:
        """Score of ``run`` repeats of one value (beyond the longest run this channel has
        completed): 0.5 when chance gives them odds of 1e-6."""
        if run <= 0:
            return 0.0
        p = self.rep_p
        x = run * -math.log10(p if p > _REP_FLOOR else _REP_FLOOR)
        x *= x
        x *= x
        return x / (x + _FLAT_HALF4)

    # -- the hot path -----------------------------------------------------------------------

    def _score(self, z: float, z_raw: float, cusum: float) -> float:
        if not -_Z_MAX < z < _Z_MAX:
            z = _Z_MAX
        if not -_Z_MAX < z_raw < _Z_MAX:
            z_raw = _Z_MAX
        z4 = z * z * z * z
        on4 = self.z_on**4
        p = z4 / (z4 + on4)
        r4 = z_raw * z_raw * z_raw * z_raw
        spike = 0.8 * r4 / (r4 + _SPIKE_K * on4)
        spike *= _TAIL_HALF / (self.tail_p + _TAIL_HALF)
        if spike > p:
            p = spike
        c = cusum / self.cusum_h
        c *= c
        c /= c + 1.0
        return c if c > p else p

    def step(
        self,
        value: float,
        ts: float,
        ctx: int = REST,
        reliable: bool = True,
        learn: bool | int = True,
        tod: tuple[int, int, float] | None = None,
    ) -> float:
        """Smooth, score and (optionally) learn one reading; return its score in [0, 1].

        Unreliable readings (artifact suspects) are neither smoothed in nor learned and score 0.
        After the call, ``xs``, ``expected``, ``sd``, ``z`` and ``settled`` describe the reading.
        ``tod`` is :func:`time_of_day` of ``ts`` (computed once per sample by the caller).
        ``learn`` is ``True``, ``False`` (score only) or :data:`LEARN_LOWS`: a reading below
        the expected value is then learned as an ordinary one, however far (not frozen, not
        clipped, at a new baseline's time constant), because the caller has judged it the
        channel's normal; one above is learned as with ``True``.

        ``stream/detect/_step.c`` copies this method's settled case in C (:data:`channel_step`,
        which the monitor calls): keep the two in step (``tests/stream/test_detect_hot_path.py``
        holds them to the same state, bit for bit).
        """
        if not reliable:
            return 0.0
        window = self.recent
        dt = ts - self.recent_at
        step_s = dt
        if dt > self.max_gap:
            window.clear()
            dt = _CUSUM_UNIT  # after a gap a reading is one reading's worth of evidence
        # stuck readings: the run of repeats (scored below, as unlikely as this channel
        # makes it)
        run = self.flat_run
        if window and value == window[-1]:
            run += 1
            self.flat_run = run
        elif run:
            if run > self.long_run:
                self.long_run = run
            self.flat_run = run = 0
            if self.cusum_up == 0.0 and self.cusum_down == 0.0:
                self.known_since = math.nan  # a known run of repeats is over
        if len(window) == 2:
            a, b = window
            window[0] = b
            window[1] = value
            # median of three, inlined (this is the innermost loop of replay)
            if a > b:
                a, b = b, a
            xs = a if value <= a else (b if value >= b else value)
        else:
            xs = value
            window.append(value)
        self.recent_at = ts
        self.xs = xs

        n_ctx = self.n[ctx]
        if n_ctx >= self.warmup:  # the common case, inlined
            expected = self.level[ctx]
            sd = self.sd_cache[ctx]
            settled = True
        else:
            base = self._baseline(ctx)
            if base is None:
                self.expected = value
                self.sd = math.nan
                self.z = 0.0
                self.settled = False
                if learn:
                    self._learn(value, ts, ctx, 0.0, 1.0, math.nan, None)
                return 0.0
            expected, sd, settled = base
        off = 0.0  # the daily profile's, at this time of day
        if tod is not None and self.profile_rate is not None:
            # self.offset_at(tod), inlined (this runs for every reading): a learned weekday
            # hour (bins below 24) is its own offset, any other hour is filled()'s
            w = self.daily
            i0, i1, f = tod
            w0 = w[i0] if i0 < 24 and w[i0] else filled(w, i0, self.weekend_seen)
            off = w0 + f * ((w[i1] if i1 < 24 and w[i1] else filled(w, i1, self.weekend_seen)) - w0)
            expected += off
        self.expected = expected
        self.sd = sd
        self.settled = settled
        z = (xs - expected) / sd
        self.z = z
        zr = (value - expected) / sd  # of the raw reading
        if not -1e6 < zr < 1e6:  # _Z_MAX (a constant here: this runs for every reading)
            zr = 1e6

        # CUSUM on the clipped z: sustained drifts accumulate, noise and spikes do not.
        k = self.cusum_k
        up = self.cusum_up
        down = self.cusum_down
        if -k <= z <= k and up == 0.0 and down == 0.0:  # the common case: nothing to add
            self.up_since = self.down_since = ts
        else:
            # (constants inlined below: _Z_MAX, _CUSUM_UNIT, TREND_AFTER_S)
            if not -1e6 < z < 1e6:  # any finite input, however extreme, scores finitely
                self.z = z = 1e6 if z > 0.0 else -1e6
            zc = 6.0 if z > 6.0 else (-6.0 if z < -6.0 else z)
            # evidence per minute, not per reading: a 5-minute metric drifts as fast as a
            # 1/min one; no time-of-day profile on the first day: an hours-long departure
            # may be the daily rhythm
            per = dt / 60.0 if dt > 0.0 and ts - self.born >= 86400.0 else 0.0
            if per and self.zz > _RHO_FREE * self.z2 and 0.0 < step_s <= self.max_gap:
                # persistent noise: an excursion of correlated readings is less evidence
                rho = self.zz / self.z2
                tc = step_s / -math.log(rho) if rho < 0.999 else step_s * 1000.0
                if tc > _CORR_FREE_S:
                    per *= math.sqrt(_CORR_FREE_S / tc)
            up += per * (zc - k)
            if up <= 0.0:
                up = 0.0
                self.up_since = ts
            down -= per * (zc + k)
            if down <= 0.0:
                down = 0.0
                self.down_since = ts
            cap = 4.0 * self.cusum_h  # bounded, so it returns to zero soon after recovery
            self.cusum_up = up = up if up < cap else cap
            self.cusum_down = down = down if down < cap else cap
            if up == 0.0 and down == 0.0 and run < 3:
                self.known_since = math.nan  # the departure is over

        tail = self.tail_p  # as it was before this reading
        if learn and (n_ctx < 4 * self.warmup or ts - self.learned_at[ctx] >= self.learn_every):
            # a sustained departure is learned slowly (level and daily profile a tenth as
            # fast from freeze_z, the scale from 1.5 freeze_z): deterioration must not become
            # the new normal within hours
            az = z if z >= 0.0 else -z
            weight = weight_scale = 1.0
            clip = sd
            young = False
            if learn == LEARN_LOWS and z < 0.0:
                if az >= self.freeze_z:
                    # a departure below is learned as a young baseline learns (whole, at
                    # its time constant): the monitor has judged it the patient's normal
                    young = True
                    clip = 0.0
            elif az >= self.freeze_z:
                # ... until it has lasted absorb_after: then it is the new normal, learned
                # unclipped (a scale that cannot describe it, e.g. of a channel that was
                # constant so far, must not stop it from being learned)
                since = self.up_since if z > 0.0 else self.down_since
                if ts - since < self.absorb_after:
                    weight = 0.1
                    if az >= 1.5 * self.freeze_z:
                        weight_scale = 0.1
                else:
                    clip = 0.0
            # a suspicious run of repeats (a stuck sensor) is not data: nothing is learned
            if run < 3 or self._flat_score(run - self.long_run) < 0.25:
                # how often this channel repeats
                seen = self.rep_n
                if seen < _REP_MEMORY:  # a running mean, then a moving one
                    self.rep_n = seen + 1
                    seen += 2
                self.rep_p += ((run > 0) - self.rep_p) / seen
                # how often this channel reads far out on its own (heavy tails, bursts)
                self.tail_p += ((zr >= _TAIL_Z or zr <= -_TAIL_Z) - self.tail_p) / seen
                # how persistent its ordinary noise is (departures say nothing of it): raw z
                # of this reading and of the one before it (if adjacent: the window's first),
                # on every fourth reading learned (cost: this runs for every channel)
                if not n_ctx & 3 and len(window) == 2:
                    zp = (window[0] - expected) / sd
                    fz = self.freeze_z
                    if -fz < zr < fz and -fz < zp < fz:
                        wt = 4.0 / seen if seen > 4 else 1.0  # (a quarter of the readings)
                        self.zz += (zr * zp - self.zz) * wt
                        self.z2 += (zr * zr - self.z2) * wt
                own = expected
                if n_ctx < 10:  # (MIN_SCALE_READINGS, inlined: this runs for every learning)
                    # judged against a borrowed level, learned against its own: a new context
                    # starts from the borrowed level (the offset is added to it when read)
                    own = self.level[ctx] + off if n_ctx else expected - off
                # self._learn(...), inlined
                n = self._learn_stats(
                    value,
                    ts,
                    ctx,
                    clip,  # a trusted scale exists (else: returned above)
                    weight,
                    own,
                    weight_scale,
                    young,
                )
                rate = self.profile_rate
                if n and tod is not None and rate is not None and n >= self.warmup:
                    if (tod[0] if tod[2] < 0.5 else tod[1]) != self.hour_bin:
                        self._learn_profile(rate, value, ctx, tod, weight)  # folds the hour in
                    else:  # the same hour: self._learn_profile(...), inlined
                        self.hour_all += 1
                        if weight == 1.0:
                            d = value - self.level[ctx]
                            self.hour_sum += d if -1e300 < d < 1e300 else math.copysign(1e300, d)
                            self.hour_n += 1
        # the score (see _score), inlined: this runs for every reading of every channel
        on4 = self._on4
        z4 = z * z
        z4 *= z4
        p = z4 / (z4 + on4)
        r4 = zr * zr
        r4 *= r4
        spike = 0.8 * r4 / (r4 + _SPIKE_K * on4)
        if tail:  # a far reading is less surprising from a channel that often reads far out
            spike *= _TAIL_HALF / (tail + _TAIL_HALF)
        if spike > p:
            p = spike
        cusum = up if up > down else down
        if cusum:
            c = cusum / self.cusum_h
            c *= c
            c /= c + 1.0
            if c > p:
                p = c
        # fewer than three repeats (beyond the longest run completed) score < 0.2 even on a
        # channel that never repeats
        if run >= 3 and run - self.long_run >= 3:
            # self._flat_score(run - self.long_run), inlined
            rp = self.rep_p
            x = (run - self.long_run) * -_log10(rp if rp > _REP_FLOOR else _REP_FLOOR)
            x *= x
            x *= x
            x /= x + _FLAT_HALF4
            if x > p:
                p = x
        if cusum or run >= 3:
            # a departure (or a run of repeats) that has scored 0.5 for _KNOWN_S is known (its
            # alert, if any, says so): its score fades, so a new normal is not an anomaly for
            # ever (until it is over: the CUSUM back at zero with no run, see above)
            known = self.known_since
            if known != known:
                if p >= 0.5:
                    self.known_since = ts
                    self.known_tenths = int(p * 10.0)
            elif (tenths := int(p * 10.0)) > self.known_tenths:
                self.known_tenths = tenths  # grown to a new tenth: news again, not faded
            elif ts - known > _KNOWN_S:  # self._faded(p, ts), inlined
                p *= math.exp((known + _KNOWN_S - ts) / _FADE_S)
        return p

    def _learn(
        self,
        value: float,
        ts: float,
        ctx: int,
        sd: float,
        weight: float,
        expected: float,
        tod: tuple[int, int, float] | None,
        weight_scale: float = 1.0,
    ) -> None:
        n = self._learn_stats(value, ts, ctx, sd, weight, expected, weight_scale)
        rate = self.profile_rate
        if n and tod is not None and rate is not None and n >= self.warmup:
            self._learn_profile(rate, value, ctx, tod, weight)


#: The parameters' defaults, in ``PARAMS`` order (a state does not save them).
_DEFAULTS: tuple[Any, ...] = defaults_of(ChannelModel)


def _compiled_step() -> Callable[..., float]:
    """``step(model, value, ts, ctx, reliable, learn, tod)``: :meth:`ChannelModel.step`
    compiled (``stream/detect/_step.c``, built by ``pip install``) if it was built, else the
    method itself. Either leaves the same state and returns the same score, bit for bit; the
    compiled one hands the pure-Python method every call outside its common case (a settled
    context, state of ChannelModel's own types), and calls a subclass's instance's own
    ``step``."""
    try:
        from stream.detect import _step  # (a C extension: setup.py)
    except ImportError:
        return ChannelModel.step
    _step.bind(ChannelModel, ChannelModel.step)
    compiled: Callable[..., float] = _step.step
    return compiled


#: :meth:`ChannelModel.step` as a function of the model, compiled when it can be (the
#: monitor's innermost loop calls it positionally: ``step(model, value, ts, ctx, reliable,
#: learn, tod)``).
channel_step = _compiled_step()

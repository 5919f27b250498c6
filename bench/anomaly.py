"""Benchmark the univariate anomaly layer on synthetic, labelled, non-medical streams.

Usage::

    .venv/bin/python bench/anomaly.py [--seed 0] [--per 6]

Each stream is one custom channel ``value`` of its own patient, sampled every 5 minutes for
14 days (4032 readings from 2023-11-14 00:00 UTC), replayed through the exact worker path
(:func:`stream.replay.replay`); the fused per-sample score in [0, 1] is what is judged. The
data are generated here: nothing comes from, or is tuned to, a public benchmark.

**Families** (native units; ``sd`` is the noise's marginal standard deviation, the unit of
every anomaly size; ``daily`` is ``sin(d) + 0.3 sin(2d)`` of the time of day with a random
phase). Seasonal families are marked *.

- ``daily`` *: level U(5, 50), daily amplitude U(0.5, 6) sd, Gaussian noise, sd 1.
- ``weekly`` *: as ``daily`` (level U(20, 100)); on Saturdays and Sundays the daily amplitude
  halves and the level drops by U(1, 4) sd.
- ``ar1``: level U(-20, 20), AR(1) noise with coefficient U(0.8, 0.98), marginal sd 1.
- ``student_t``: level U(0, 30), Student-t noise (4 degrees of freedom) scaled to sd 1. No
  outliers are added beyond what the heavy tail produces.
- ``counts_low``: Poisson counts, mean 3 (sd = sqrt 3).
- ``counts_high`` *: Poisson counts, mean 200 (1 + m daily), m U(0.1, 0.5); sd = sqrt 200.
- ``offset``: 5e4 + Gaussian noise of sd 20 (a large offset, small relative variance).
- ``negative`` *: level -U(10, 100), daily amplitude U(0.5, 4) sd, Gaussian noise, sd 1.

Every stream is then rescaled, ``y = a (x + c)`` with ``a`` log-uniform in [1e-3, 1e6] and
``c`` = U(0, 1) x level (same sign, so counts stay non-negative and negative streams
negative): units never matter.

**Anomalies**, one per stream, onset uniform in [day 4, day 12) (a reading index); sign
random (positive for counts, which are rounded and clipped at 0 after injection):

- ``spike``: 1-3 consecutive readings + U(6, 10) sd.
- ``level_shift``: + U(2, 5) sd from onset on (persists).
- ``variance_burst``: noise x U(3, 5) for 2-12 h.
- ``drift``: a linear ramp reaching U(4, 8) sd after 6-24 h, then held.
- ``flatline``: the reading before onset repeated exactly for 6-24 h.
- ``pattern_break`` (seasonal families only): for 24 h the daily component vanishes or is
  negated (phase flip), with equal probability.
- ``none``: no anomaly (a control for false alarms).

The **label window** is ``[onset, onset + min(max(duration, 2 h), 12 h)]`` (persistent
anomalies: 12 h).

**Scoring**, per threshold in 0.5 ... 0.9. An *alarm* is a rising edge of
``score >= threshold``; an edge within 1 h of the previous alarm is the same alarm. A window
is *detected* by an alarm inside it; its delay is the first such alarm - onset. A *false
alarm* lies outside every window widened to ``[onset - 1 h, end + 6 h]``; false alarms per
stream-day count days 2-14 (day 1 is a warm-up, reported separately as a count). The summary
score follows NAB's standard profile (Lavin and Ahmad, ICMLA 2015; our own code, not NAB's
code or data): a detected window earns ``sigma(y) = 2 / (1 + exp(5 y)) - 1`` with ``y`` = -1
at onset and 0 at the window's end; a missed window costs 1; a false alarm after day 1 costs
0.11; normalised so a detector that never alarms scores 0 and one alarming exactly at every
onset scores 100.

NAB's own scorer counts every *reading* at or above the threshold outside the windows as a
false positive, not every alarm; a score that stays high after an anomaly (a level shift that is
the new normal, a sensor still stuck after its window) costs 0.11 per reading there. The
summary also gives the NAB-like score counted that way ("every reading"), with the same
widened windows and day-1 exclusion.
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

logger = logging.getLogger(__name__)

Array = npt.NDArray[np.float64]

STEP = 300.0  # 5-minute sampling
DAY = 86400.0
HOUR = 3600.0
PER_DAY = int(DAY // STEP)
POINTS = 14 * PER_DAY
START = 1_699_920_000.0  # 2023-11-14 00:00 UTC, a Tuesday
FAMILIES = tuple("daily weekly ar1 student_t counts_low counts_high offset negative".split())
SEASONAL = frozenset({"daily", "weekly", "counts_high", "negative"})
COUNTS = frozenset({"counts_low", "counts_high"})
KINDS = tuple("none spike level_shift variance_burst drift flatline pattern_break".split())
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
MERGE_S = HOUR  # crossings this soon after an alarm belong to it
BEFORE_S, AFTER_S = HOUR, 6 * HOUR  # false-alarm exclusion around a window
MIN_WINDOW_S, MAX_WINDOW_S = 2 * HOUR, 12 * HOUR
# per family, in native units: level range, daily amplitude range, noise sd (default 1)
_LEVEL = {"daily": (5.0, 50.0), "weekly": (20.0, 100.0), "ar1": (-20.0, 20.0)}
_LEVEL |= {"student_t": (0.0, 30.0), "negative": (-100.0, -10.0), "offset": (5e4, 5e4)}
_LEVEL |= {"counts_low": (3.0, 3.0), "counts_high": (200.0, 200.0)}
_AMP = {"daily": (0.5, 6.0), "weekly": (0.5, 6.0), "negative": (0.5, 4.0)}
_AMP["counts_high"] = (20.0, 100.0)
_SD = {"counts_low": math.sqrt(3.0), "counts_high": math.sqrt(200.0), "offset": 20.0}
# NAB standard profile (Lavin and Ahmad 2015)
A_TP, A_FN, A_FP = 1.0, -1.0, -0.11


@dataclass(frozen=True)
class Stream:
    """A stream (``values[i]`` read at ``START + i * STEP``) and its label window, if any."""

    family: str
    kind: str
    values: list[float]
    window: tuple[float, float] | None


@dataclass(frozen=True)
class Outcome:
    """How a detector did on one stream at one threshold (see :func:`score_stream`).

    ``detected`` is ``None`` without a window; ``false_alarms`` count days 2-14 only.
    """

    detected: bool | None
    delay_s: float | None
    reward: float
    false_alarms: int
    false_alarms_day1: int


def generate_stream(family: str, kind: str, rng: np.random.Generator) -> Stream:
    """Generate one 14-day, 5-minute stream of ``family`` with one anomaly of ``kind``.

    The exact definitions are in the module docstring.

    Examples
    --------
    >>> s = generate_stream("daily", "level_shift", np.random.default_rng(1))
    >>> len(s.values), s.window is not None and s.window[1] - s.window[0]
    (4032, 43200.0)
    >>> 4 * DAY <= s.window[0] - START < 12 * DAY
    True
    >>> generate_stream("ar1", "none", np.random.default_rng(1)).window is None
    True
    """
    if kind not in KINDS or (kind == "pattern_break" and family not in SEASONAL):
        raise ValueError(f"no {kind!r} stream of family {family!r}")
    n = POINTS
    t = START + STEP * np.arange(n, dtype=np.float64)
    d = 2.0 * math.pi * (t % DAY) / DAY + rng.uniform(0.0, 2.0 * math.pi)
    shape = np.sin(d) + 0.3 * np.sin(2.0 * d)
    sd = _SD.get(family, 1.0)
    lo, hi = _LEVEL[family]
    level = rng.uniform(lo, hi) if lo < hi else lo
    seasonal = rng.uniform(*_AMP[family]) * shape if family in SEASONAL else np.zeros(n)
    extra = np.zeros(n)
    if family == "weekly":
        weekend = ((t // DAY + 3) % 7) >= 5  # 1970-01-01 was a Thursday (Monday = 0)
        seasonal = np.where(weekend, 0.5 * seasonal, seasonal)
        extra = np.where(weekend, -rng.uniform(1.0, 4.0), 0.0)
    onset = int(rng.integers(4 * PER_DAY, 12 * PER_DAY))
    if kind == "pattern_break":
        stop = onset + PER_DAY
        seasonal[onset:stop] *= 0.0 if rng.random() < 0.5 else -1.0
    noise = _noise(family, level + seasonal, sd, rng)
    sign = 1.0 if family in COUNTS or rng.random() < 0.5 else -1.0
    duration = math.inf
    x = level + extra + seasonal + sd * noise
    if kind == "spike":
        k = int(rng.integers(1, 4))
        x[onset : onset + k] += sign * rng.uniform(6.0, 10.0) * sd
        duration = k * STEP
    elif kind == "level_shift":
        x[onset:] += sign * rng.uniform(2.0, 5.0) * sd
    elif kind == "variance_burst":
        k = int(rng.integers(24, 145))
        x[onset : onset + k] += (rng.uniform(3.0, 5.0) - 1.0) * sd * noise[onset : onset + k]
        duration = k * STEP
    elif kind == "drift":
        ramp = np.minimum(1.0, np.arange(1, n - onset + 1) / rng.integers(72, 289))
        x[onset:] += sign * rng.uniform(4.0, 8.0) * sd * ramp
    elif kind in ("flatline", "pattern_break"):
        duration = float(rng.integers(72, 289) * STEP if kind == "flatline" else DAY)
    if family in COUNTS:
        x = np.maximum(np.round(x), 0.0)
    y = 10.0 ** rng.uniform(-3.0, 6.0) * (x + rng.uniform(0.0, 1.0) * level)
    if kind == "flatline":
        y[onset : onset + int(duration // STEP)] = y[onset - 1]
    if kind == "none":
        return Stream(family, kind, y.tolist(), None)
    start = START + onset * STEP
    length = min(max(duration, MIN_WINDOW_S), MAX_WINDOW_S)
    return Stream(family, kind, y.tolist(), (start, start + length))


def _noise(family: str, mean: Array, sd: float, rng: np.random.Generator) -> Array:
    """Noise of ``family`` in units of ``sd`` (counts: Poisson around ``mean``, over ``sd``)."""
    n = len(mean)
    if family in COUNTS:
        lam = np.maximum(mean, 0.0)
        return (rng.poisson(lam).astype(np.float64) - lam) / sd
    if family == "student_t":
        return rng.standard_t(4, n) / math.sqrt(2.0)  # var of t(4) is 2
    if family == "ar1":
        phi = rng.uniform(0.8, 0.98)
        out = rng.normal(0.0, math.sqrt(1.0 - phi * phi), n)
        out[0] = rng.normal()  # the stationary distribution from the start
        for i in range(1, n):
            out[i] += phi * out[i - 1]
        return out
    return rng.normal(0.0, 1.0, n)


def make_streams(seed: int = 0, per: int = 6) -> list[Stream]:
    """``per`` streams of every (family, kind) pair, each from its own seeded generator.

    A stream depends only on ``(seed, family, kind, index)``, never on ``per``.

    >>> a, b = make_streams(3, per=1), make_streams(3, per=1)
    >>> len(a), a == b
    (52, True)
    """
    return [
        generate_stream(family, kind, np.random.default_rng([seed, fi, ki, j]))
        for fi, family in enumerate(FAMILIES)
        for ki, kind in enumerate(KINDS)
        if kind != "pattern_break" or family in SEASONAL
        for j in range(per)
    ]


def alarm_times(
    ts: Sequence[float], scores: Sequence[float], threshold: float, merge_s: float = MERGE_S
) -> list[float]:
    """Alarms: rising edges of ``score >= threshold``, merged within ``merge_s`` of an alarm.

    >>> alarm_times([0, 300, 600, 900, 4500, 9000], [0.9, 0.2, 0.95, 0.1, 0.8, 0.8], 0.5)
    [0, 4500]
    """
    alarms: list[float] = []
    above, last = False, -math.inf
    for t, s in zip(ts, scores, strict=True):
        if s >= threshold:
            if not above and t - last >= merge_s:
                alarms.append(t)
                last = t
            above = True
        else:
            above = False
    return alarms


def scaled_sigmoid(y: float) -> float:
    """NAB's reward curve: about 0.987 at ``y = -1`` (window start), 0 at ``y = 0`` (end).

    >>> round(scaled_sigmoid(-1.0), 4), scaled_sigmoid(0.0)
    (0.9866, 0.0)
    """
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def score_stream(
    alarms: Iterable[float], window: tuple[float, float] | None, start: float = START
) -> Outcome:
    """Judge one stream's alarms against its label window (see the module docstring).

    >>> w = (START + 5 * DAY, START + 5.5 * DAY)
    >>> score_stream([START + 3600, w[0] + 600], w)  # doctest: +ELLIPSIS
    Outcome(detected=True, delay_s=600.0, reward=0.98..., false_alarms=0, false_alarms_day1=1)
    """
    first: float | None = None
    fp = fp_day1 = 0
    for t in alarms:
        if window is not None and window[0] <= t <= window[1]:
            first = t if first is None else first
        elif window is not None and window[0] - BEFORE_S <= t <= window[1] + AFTER_S:
            continue  # near a window: neither a detection nor a false alarm
        elif t < start + DAY:
            fp_day1 += 1
        else:
            fp += 1
    if window is None:
        return Outcome(None, None, 0.0, fp, fp_day1)
    if first is None:
        return Outcome(False, None, A_FN, fp, fp_day1)
    onset, end = window
    y = (first - onset) / (end - onset) - 1.0 if end > onset else -1.0
    return Outcome(True, first - onset, A_TP * scaled_sigmoid(y), fp, fp_day1)


def per_reading(
    outcome: Outcome,
    ts: Sequence[float],
    scores: Sequence[float],
    threshold: float,
    window: tuple[float, float] | None,
    start: float = START,
) -> Outcome:
    """``outcome`` with its false alarms counted per reading at or above ``threshold``.

    Readings in the widened window and on day 1 do not count (as for alarms).

    >>> w = (START + 5 * DAY, START + 5.5 * DAY)
    >>> t = [START + DAY, START + DAY + 300, w[0], w[1] + 600, START + 13 * DAY]
    >>> o = score_stream([], w)
    >>> per_reading(o, t, [0.9, 0.9, 0.9, 0.9, 0.2], 0.5, w).false_alarms
    2
    """
    before, after = (window[0] - BEFORE_S, window[1] + AFTER_S) if window else (0.0, -1.0)
    n = sum(
        1
        for t, p in zip(ts, scores, strict=True)
        if p >= threshold and t >= start + DAY and not before <= t <= after
    )
    return Outcome(outcome.detected, outcome.delay_s, outcome.reward, n, 0)


def nab_score(outcomes: Sequence[Outcome]) -> float:
    """Normalised NAB-like score: 0 for a detector that never alarms, 100 for a perfect one.

    >>> w = (START + 4 * DAY, START + 4.5 * DAY)
    >>> nab_score([score_stream([w[0]], w)]), nab_score([score_stream([], w)])
    (100.0, 0.0)
    """
    windows = sum(1 for o in outcomes if o.detected is not None)
    if windows == 0:
        return math.nan
    raw = sum(o.reward for o in outcomes) + A_FP * sum(o.false_alarms for o in outcomes)
    null = A_FN * windows
    perfect = A_TP * scaled_sigmoid(-1.0) * windows
    return 100.0 * (raw - null) / (perfect - null)


def false_alarm_rate(outcomes: Sequence[Outcome]) -> float:
    """False alarms per stream-day over days 2-14 (13 days a stream)."""
    days = len(outcomes) * (POINTS * STEP / DAY - 1.0)
    return sum(o.false_alarms for o in outcomes) / days if days else math.nan


def replay_scores(streams: Sequence[Stream]) -> list[list[float]]:
    """Each stream's scores from the exact replay path, one fresh pipeline per stream."""
    from stream.replay import replay

    out = []
    for i, s in enumerate(streams):
        records = (
            {"patient_id": f"s{i}", "device_id": f"d{i}", "ts": START + STEP * k, "value": v}
            for k, v in enumerate(s.values)
        )
        result = replay(records, keep_scores=True)
        if result.accepted != len(s.values):
            raise RuntimeError(f"stream {i}: rejected {dict(result.rejected)}")
        out.append([score for _, _, score in result.scores])
    return out


def _cell(outcomes: list[Outcome]) -> str:
    judged = [o for o in outcomes if o.detected is not None]
    if not judged:
        return f"{false_alarm_rate(outcomes):.3f} FP/d"
    delays = [o.delay_s / 60.0 for o in judged if o.delay_s is not None]
    med = f"{statistics.median(delays):.0f}" if delays else "-"
    return f"{sum(1 for o in judged if o.detected) / len(judged):.2f} / {med:>3}m"


def report(streams: Sequence[Stream], scores: Sequence[Sequence[float]]) -> None:
    """Print detection, delay, false alarms and the summary score per threshold."""
    ts = [START + STEP * k for k in range(POINTS)]
    pairs = list(zip(streams, scores, strict=True))
    by_thr = {
        t: [score_stream(alarm_times(ts, c, t), s.window) for s, c in pairs] for t in THRESHOLDS
    }
    print("\ndetection rate / median delay by threshold ('none': false alarms per stream-day)")
    print(f"{'type':<20}{'n':>4}" + "".join(f"{thr:>13}" for thr in THRESHOLDS))
    for kind in KINDS:
        idx = [i for i, s in enumerate(streams) if s.kind == kind]
        cells = [_cell([by_thr[thr][i] for i in idx]) for thr in THRESHOLDS]
        print(f"{kind:<20}{len(idx):>4}" + "".join(f"{c:>13}" for c in cells))
    every = {
        t: [per_reading(o, ts, c, t, s.window) for o, (s, c) in zip(by_thr[t], pairs, strict=True)]
        for t in THRESHOLDS
    }
    rows = {
        "FP/stream-day d2-14": [f"{false_alarm_rate(o):.3f}" for o in by_thr.values()],
        "FP count day 1": [str(sum(x.false_alarms_day1 for x in o)) for o in by_thr.values()],
        "NAB-like score": [f"{nab_score(o):.1f}" for o in by_thr.values()],
        "FP readings/stream": [
            f"{statistics.mean(x.false_alarms for x in o):.1f}" for o in every.values()
        ],
        "NAB-like, per reading": [f"{nab_score(o):.1f}" for o in every.values()],
    }
    for name, cells in rows.items():
        print(f"{name:<24}" + "".join(f"{c:>13}" for c in cells))
    best = max(THRESHOLDS, key=lambda thr: nab_score(by_thr[thr]))
    print(f"\nbest threshold {best}: NAB-like score {nab_score(by_thr[best]):.1f}")
    print("detection rate by family x type; false alarms per stream-day d2-14, day-1 count")
    groups: dict[tuple[str, str], list[Outcome]] = {}
    for s, o in zip(streams, by_thr[best], strict=True):
        groups.setdefault((s.family, s.kind), []).append(o)
    kinds = KINDS[1:]
    print(f"{'family':<12}" + "".join(f"{k[:10]:>11}" for k in kinds) + f"{'FP/d':>7}{'d1':>4}")
    for family in FAMILIES:
        rates = [[o.detected is True for o in groups.get((family, k), [])] for k in kinds]
        cells = [f"{sum(r) / len(r):.2f}" if r else "-" for r in rates]
        fam = [o for (f, _), os in groups.items() if f == family for o in os]
        day1 = sum(o.false_alarms_day1 for o in fam)
        print(
            f"{family:<12}"
            + "".join(f"{c:>11}" for c in cells)
            + f"{false_alarm_rate(fam):>7.3f}{day1:>4}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per", type=int, default=6, help="streams per (family, type) pair")
    args = ap.parse_args()
    t0 = time.perf_counter()
    streams = make_streams(args.seed, args.per)
    t1 = time.perf_counter()
    scores = replay_scores(streams)
    t2 = time.perf_counter()
    n = len(streams) * POINTS
    print(
        f"{len(streams)} streams ({len(FAMILIES)} families, {args.per} per family x type, "
        f"seed {args.seed}) x {POINTS} readings at 5 min = 14 d; generated in {t1 - t0:.1f} s, "
        f"replayed {n:,} readings in {t2 - t1:.1f} s ({n / (t2 - t1):,.0f}/s)"
    )
    report(streams, scores)
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()

"""The hand-inlined hot path agrees with the methods it inlines.

:meth:`ChannelModel.step`, :meth:`ContextStats._learn_stats` and :meth:`Activity.update` copy
the arithmetic of ``scale``, ``offset_at``, ``_learn_profile``, ``_score``, ``_flat_score``,
``_faded`` and ``context`` inline for speed (each copy is marked "inlined" and "keep in step").
Here seeded streams with every regime the copies branch on (a daily rhythm, context switches,
gaps, reordered readings, spikes, runs of repeats, a sustained departure that is frozen then
absorbed, unreliable readings, readings not learned, no time of day) go through the hot path,
and after every reading the state it leaves is checked against the methods: a copy edited
without its original, or the other way round, fails here.

The compiled step (``stream/detect/_step.c``, which the monitor calls) copies ``step`` in C.
On the same streams, and on calls it hands back to the method, it must leave the same state
and return the same score, bit for bit; so must a replay of a simulated cohort. Likewise the
compiled ``Activity.update`` (``stream/detect/_activity.c``), on a wearable's motion streams,
and ``DataQuality.on_sample`` (``stream/detect/_technical.c``), on runs of poor signal and of
stuck readings.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import math
import pickle
import random
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ingest.sample import Sample
from ingest.simulator.cohort import CohortSpec, simulate_cohort
from stream.detect import _activity, _step, _technical, activity, baseline, monitor, technical
from stream.detect.activity import Activity
from stream.detect.baseline import ACTIVE, LEARN_LOWS, REST, STILL, ChannelModel, time_of_day
from stream.detect.channel_state import FIELDS
from stream.detect.findings import Finding
from stream.detect.technical import DataQuality, pure_on_sample
from stream.replay import replay

MONDAY = 1700438400.0  # 2023-11-20 00:00 UTC

#: (value, ts, context, reliable, learn, tod) of one reading (learn: a bool or LEARN_LOWS).
Reading = tuple[float, float, int, bool, bool | int, tuple[int, int, float] | None]


def readings(seed: int, days: float = 2.5) -> Iterator[Reading]:
    """A 1/min stream of ``days`` with every regime the hot path branches on."""
    rng = random.Random(seed)
    ts = MONDAY + rng.uniform(0.0, 86400.0)
    end = ts + days * 86400.0
    ctx = REST
    shift_from = ts + rng.uniform(0.8, 1.2) * 86400.0  # a departure of 8 h: frozen, absorbed
    repeat = 0
    value = 70.0
    while ts < end:
        r = rng.random()
        if r < 0.004:
            ts += rng.uniform(700.0, 5000.0)  # a gap: the smoothing window restarts
        elif r < 0.008:
            ts -= rng.uniform(1.0, 300.0)  # a reordered reading
        else:
            ts += rng.gauss(60.0, 3.0)
        if rng.random() < 0.01:
            ctx = rng.choice((REST, REST, STILL, ACTIVE))
        if repeat:
            repeat -= 1  # a run of repeats: the value stays
        else:
            hour = (ts % 86400.0) / 3600.0
            value = 70.0 + 6.0 * math.sin(2.0 * math.pi * hour / 24.0) + rng.gauss(0.0, 2.0)
            if shift_from <= ts < shift_from + 8 * 3600.0:
                value += 18.0
            if rng.random() < 0.01:
                value += rng.choice((-1.0, 1.0)) * rng.uniform(20.0, 60.0)  # a spike
            if rng.random() < 0.005:
                repeat = rng.randint(2, 25)
        tod = time_of_day(ts) if rng.random() > 0.01 else None
        reliable, learn = rng.random() > 0.03, rng.random() > 0.05
        # still: a young sleeping baseline's lows are learned as ordinary (PatientMonitor)
        yield value, ts, ctx, reliable, LEARN_LOWS if learn and ctx == STILL else learn, tod


MODELS = {
    "default": {},
    "prior scale": {"prior_scale": 3.0, "min_scale": 0.5},
    "no profile": {"profile_rate": None},
    "learns every reading": {"learn_every": 0.0, "warmup": 10},
}


def reference_score(before: ChannelModel, after: ChannelModel, value: float, ts: float) -> float:
    """The score ``step`` returns, from the methods (``before``: the state before the step)."""
    zr = (value - after.expected) / after.sd
    if not -1e6 < zr < 1e6:
        zr = 1e6
    cusum = max(after.cusum_up, after.cusum_down)
    p = before._score(after.z, zr, cusum)  # the tail frequency as it was before the reading
    run = after.flat_run
    if run >= 3 and run - after.long_run >= 3:
        p = max(p, after._flat_score(run - after.long_run))
    if not (cusum or run >= 3):
        return p
    # faded as the departure was known before the reading (the tenths it had reached then),
    # unless the step found it anew
    same = before.known_since == after.known_since  # (NaN: not the same)
    return (before if same else after)._faded(p, ts)


@pytest.mark.parametrize("params", MODELS.values(), ids=MODELS.keys())
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_step_agrees_with_the_methods_it_inlines(params, seed):
    m = ChannelModel(**params)
    checked = {"settled": 0, "young": 0, "same hour": 0, "scored": 0}
    for value, ts, ctx, reliable, learn, tod in readings(seed):
        before = copy.deepcopy(m)
        p = m.step(value, ts, ctx, reliable, learn, tod)
        # the scale of every context learned (robust.ContextStats.scale, inlined in learning)
        for c in range(3):
            if m.n[c]:
                assert m.sd_cache[c] == m.scale(c)
        if not reliable or before._baseline(ctx) is None:
            assert p == 0.0
            continue
        # the expected value: the context's baseline plus the daily profile (offset_at)
        level, _, settled = before._baseline(ctx)
        off = before.offset_at(tod) if tod is not None and m.profile_rate is not None else 0.0
        assert m.expected == level + off
        assert m.settled == settled
        checked["settled" if settled else "young"] += 1
        # the score (_score, _flat_score, _faded)
        assert p == pytest.approx(reference_score(before, m, value, ts), rel=1e-12, abs=1e-300)
        checked["scored"] += p > 0.1
        # a reading learned within the hour (_learn_profile)
        learned = m.n[ctx] > before.n[ctx]
        if (
            learned
            and tod is not None
            and m.profile_rate is not None
            and before.n[ctx] >= m.warmup
            and m.hour_bin == before.hour_bin
        ):
            ref = copy.deepcopy(m)
            ref.hour_sum, ref.hour_n, ref.hour_all = before.hour_sum, before.hour_n, before.hour_all
            weight = 1.0 if m.hour_n > before.hour_n else 0.1  # a frozen reading: not summed
            ref._learn_profile(m.profile_rate, value, ctx, tod, weight)
            assert (ref.hour_sum, ref.hour_n, ref.hour_all) == (m.hour_sum, m.hour_n, m.hour_all)
            checked["same hour"] += 1
    # every branch above was exercised (the stream is not too tame to test anything)
    assert checked["settled"] > 1000 and checked["young"] > 10 and checked["scored"] > 10
    assert checked["same hour"] > 100 or m.profile_rate is None


def test_the_hot_path_inlines_its_constants_as_they_are():
    # ChannelModel.step writes these as literals (a global costs every reading)
    source = inspect.getsource(ChannelModel.step)
    assert baseline._Z_MAX == 1e6 and "< 1e6" in source
    assert baseline._CUSUM_UNIT == 60.0 and "dt / 60.0" in source
    assert baseline.TREND_AFTER_S == 86400.0 and "ts - self.born >= 86400.0" in source


def test_the_compiled_update_has_the_constants_of_activity():
    # _activity.c copies activity.py's constants as #defines, each naming its original
    source = (Path(activity.__file__).parent / "_activity.c").read_text()
    copies = re.findall(r"^#define \w+ ([\d.]+) +/\* (\w+) \*/", source, re.M)
    assert {name for _, name in copies} >= {"STEP_UP", "STEP_TAU", "STEP_SPELL_S", "_TYPICAL_AFTER"}
    for value, name in copies:
        assert float(value) == getattr(activity, name), name


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_activity_update_returns_its_context(seed):
    # Activity.update returns the context property's value, inlined
    rng = random.Random(seed)
    a = Activity()
    ts = MONDAY
    seen = set()
    for _ in range(5000):
        ts += rng.choice((60.0, 60.0, 60.0, 1.0, 3600.0, -30.0))
        r = rng.random()
        motion = None if r < 0.05 else (rng.uniform(0.0, 1.2) if r < 0.3 else rng.uniform(0, 0.05))
        quality = None if rng.random() < 0.5 else rng.random()
        ctx, _ = a.update(motion, quality, ts)
        assert ctx == a.context
        seen.add(ctx)
    assert seen == {REST, STILL, ACTIVE}


# -- the compiled step (stream/detect/_step.c) -------------------------------------------------


def state_of(m: object, fields: tuple[str, ...] = FIELDS) -> list[str]:
    """Every saved field of ``m``, exactly (``repr`` tells -0.0 from 0.0 and shows NaN)."""
    return [f"{k}={getattr(m, k)!r}:{type(getattr(m, k)).__name__}" for k in fields]


@contextmanager
def counting(module: Any, cls: type, method: Callable[..., Any]) -> Iterator[list[int]]:
    """Count the calls ``module``'s compiled method hands to the pure-Python ``method``."""
    calls = [0]

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return method(*args, **kwargs)

    module.bind(cls, counted)
    try:
        yield calls
    finally:
        module.bind(cls, method)


@pytest.fixture
def handed_over():
    """Count the calls the compiled step hands to the pure-Python method."""
    with counting(_step, ChannelModel, ChannelModel.step) as calls:
        yield calls


@pytest.mark.parametrize("params", MODELS.values(), ids=MODELS.keys())
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_compiled_step_leaves_the_state_the_method_does(params, seed, handed_over):
    method, compiled = ChannelModel(**params), ChannelModel(**params)
    calls = 0
    for value, ts, ctx, reliable, learn, tod in readings(seed):
        p = method.step(value, ts, ctx, reliable, learn, tod)
        q = _step.step(compiled, value, ts, ctx, reliable, learn, tod)
        assert repr(q) == repr(p)
        assert state_of(compiled) == state_of(method)
        calls += 1
    # most readings took the compiled path (the others: contexts warming up)
    assert handed_over[0] < 0.1 * calls
    assert pickle.dumps(compiled) == pickle.dumps(method)


ODD = {
    "an integer reading": (70, 1e5, REST, True, True, None),
    "an integer time": (70.0, 100000, REST, True, True, None),
    "a negative context": (70.0, 1e5, -1, True, True, None),
    "a time of day as a list": (70.0, 1e5, REST, True, True, [3, 4, 0.5]),
    "an infinite reading": (math.inf, 1e5, REST, True, True, None),
    "a NaN reading": (math.nan, 1e5, REST, True, True, None),
    "unreliable": (70.0, 1e5, REST, False, True, None),
    "not learned": (70.0, 1e5, REST, True, False, time_of_day(1e5)),
    "lows learned, a reading below": (40.0, 1e5, REST, True, LEARN_LOWS, time_of_day(1e5)),
    "lows learned, a reading above": (99.0, 1e5, REST, True, LEARN_LOWS, time_of_day(1e5)),
    "learned, as an integer too large": (40.0, 1e5, REST, True, 2**70, time_of_day(1e5)),
}


def warm(**params: object) -> ChannelModel:
    m = ChannelModel(**params)
    for i in range(200):
        m.step(70.0 + i % 5, 60.0 * i, REST, True, True, time_of_day(60.0 * i))
    return m


@pytest.mark.parametrize("call", ODD.values(), ids=ODD.keys())
def test_odd_calls_give_what_the_method_gives(call):
    method, compiled = warm(), warm()
    assert repr(_step.step(compiled, *call)) == repr(method.step(*call))
    assert state_of(compiled) == state_of(method)


#: Learned hours around holes: weekdays 02:00-05:00 (between 01:00 and 06:00), 23:00-00:00
#: (across midnight) and 07:00-20:00 (too wide: not filled); Saturday 11:00 (weekend bins).
PROFILE = {1: 2.0, 6: -3.0, 21: 4.0, 22: 5.0, 2 * 12 + 10: 1.0, 24 + 12: 3.0}


@pytest.mark.parametrize("hour", [3.5, 23.5, 0.25, 10.0, 2 * 24 + 11.0, 2 * 24 + 11.75])
def test_the_compiled_step_fills_an_unlearned_hour_as_the_method_does(hour):
    method, compiled = warm(), warm()
    for m in (method, compiled):
        for h, x in PROFILE.items():
            m.daily[h] = x
        m.weekend_seen = 1 << 10 | 1 << 12  # (a weekend hour is learned once its bit is set)
    ts = 7 * 86400.0 + 3600.0 * hour  # a week after warm()'s readings, a Thursday
    tod = time_of_day(ts)
    assert repr(_step.step(compiled, 72.0, ts, REST, True, True, tod)) == repr(
        method.step(72.0, ts, REST, True, True, tod)
    )
    assert state_of(compiled) == state_of(method)
    assert (method.offset_at(tod) == 0.0) == (hour == 10.0)  # 07:00-20:00: too wide a hole


@pytest.mark.parametrize(
    "params", [{"z_on": 0.0}, {"tau_scale": 0.0}, {"warmup": 0}, {"cusum_h": 0.0}]
)
def test_degenerate_parameters_fail_as_the_method_does(params):
    outcomes = []
    for run in (lambda m, *a: m.step(*a), _step.step):
        m = ChannelModel(**params)
        try:
            for i in range(200):
                run(m, 70.0 + 9 * (i % 7), 60.0 * i, REST, True, True, time_of_day(60.0 * i))
            outcomes.append(("ok", state_of(m)))
        except ZeroDivisionError as e:
            outcomes.append(("raised", str(e), i, state_of(m)))
    assert outcomes[0] == outcomes[1]


def test_a_state_of_other_types_is_handed_to_the_method(handed_over):
    # a direct caller's integers in the state (as an older release could save them)
    method, compiled = warm(), warm()
    for m in (method, compiled):
        m.recent = [70, 71]
        m.cusum_up = 0
    for i in range(3):
        ts = 12000.0 + 60 * i
        p = method.step(72.0, ts, REST, True, True, time_of_day(ts))
        assert repr(_step.step(compiled, 72.0, ts, REST, True, True, time_of_day(ts))) == repr(p)
    assert state_of(compiled) == state_of(method)
    assert handed_over[0] >= 1


# -- the compiled Activity.update (stream/detect/_activity.c) ---------------------------------


def motions(seed: int, days: float = 3.0) -> Iterator[tuple[float | None, float | None, float]]:
    """(motion, quality, ts) of a wearable: every regime ``Activity.update`` branches on.

    Nights still and days moving, a workout, bursts, a device that adds gravity (seed 2) or
    reads lower (seed 3), missing motion or quality, gaps of hours, reordered and repeated
    times, readings of exactly 0.
    """
    rng = random.Random(seed)
    gravity, k = (1.0 if seed % 3 == 2 else 0.0), (0.3 if seed % 3 == 0 else 1.0)
    ts = MONDAY + rng.uniform(0.0, 86400.0)
    end = ts + days * 86400.0
    while ts < end:
        r = rng.random()
        if r < 0.004:
            ts += rng.uniform(700.0, 5000.0)  # a gap
        elif r < 0.006:
            ts -= 4000.0  # a reading of an hour before (its motion floor is not kept)
        elif r < 0.012:
            ts -= rng.uniform(1.0, 300.0)  # a reordered reading
        elif r < 0.02:
            pass  # the same time again
        else:
            ts += rng.gauss(60.0, 3.0)
        hour = (ts % 86400.0) / 3600.0
        if hour >= 23.0 or hour < 7.0:
            m = abs(rng.gauss(0.012, 0.004))
        elif 17.0 <= hour < 18.0:
            m = abs(rng.gauss(1.4, 0.3))
        else:
            m = 0.08 * math.exp(rng.gauss(0.0, 0.5))
        r = rng.random()
        if r < 0.02:
            m = rng.uniform(0.5, 2.0)  # a burst
        elif r < 0.03:
            m = 0.0
        motion = None if rng.random() < 0.05 else gravity + k * m
        quality = None if rng.random() < 0.3 else rng.random()
        yield motion, quality, ts


def activity_state(a: Activity) -> list[str]:
    return state_of(a, Activity.__slots__)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_compiled_update_leaves_the_state_the_method_does(seed):
    method, compiled = Activity(), Activity()
    calls = 0
    with counting(_activity, Activity, Activity.update) as handed_over:
        for motion, quality, ts in motions(seed):
            expected = method.update(motion, quality, ts)
            assert _activity.update(compiled, motion, quality, ts) == expected
            assert activity_state(compiled) == activity_state(method)
            assert pickle.dumps(compiled) == pickle.dumps(method)
            calls += 1
    assert handed_over[0] == 0 and calls > 3000


def awake() -> Activity:
    a = Activity()
    for motion, quality, ts in itertools.islice(motions(5), 1500):
        a.update(motion, quality, ts)
    return a


ODD_UPDATES = {
    "an integer motion": (0, 0.9, MONDAY + 2e5),
    "an integer time": (0.05, 0.9, int(MONDAY + 2e5)),
    "an integer quality": (0.05, 1, MONDAY + 2e5),
    "no motion": (None, 0.2, MONDAY + 2e5),
    "a NaN motion": (math.nan, 0.9, MONDAY + 2e5),
    "an infinite motion": (math.inf, 0.9, MONDAY + 2e5),
    "an old time": (0.05, None, MONDAY),
}


@pytest.mark.parametrize("call", ODD_UPDATES.values(), ids=ODD_UPDATES.keys())
def test_odd_updates_give_what_the_method_gives(call):
    method, compiled = awake(), awake()
    assert _activity.update(compiled, *call) == method.update(*call)
    assert activity_state(compiled) == activity_state(method)


def test_a_zero_still_bound_fails_as_the_method_does():
    # a reading of 0 learned as typical motion: math.log(0) raises in both
    outcomes = []
    for run in (Activity.update, _activity.update):
        a = Activity(still_below=0.0)
        try:
            run(a, 0.0, 0.9, MONDAY)
            run(a, 0.0, 0.9, MONDAY + 60.0)
            outcomes.append(("ok", activity_state(a)))
        except ValueError as e:
            outcomes.append(("raised", str(e), activity_state(a)))
    assert outcomes[0] == outcomes[1] and outcomes[0][0] == "raised"


def test_an_activity_of_other_types_is_handed_to_the_method():
    method, compiled = Activity(tau=300), Activity(tau=300)  # an integer parameter
    with counting(_activity, Activity, Activity.update) as handed_over:
        for motion, quality, ts in itertools.islice(motions(6), 300):
            expected = method.update(motion, quality, ts)
            assert _activity.update(compiled, motion, quality, ts) == expected
    assert activity_state(compiled) == activity_state(method)
    assert handed_over[0] == 300


# -- the compiled DataQuality.on_sample (stream/detect/_technical.c) --------------------------


def quality_samples(seed: int, n: int = 4000) -> Iterator[tuple[float, float | None, Sample]]:
    """(ts, quality, sample) of a wearable: runs of poor signal and of stuck readings (each
    long enough to report, and shorter), gaps, reordered times, readings missing."""
    rng = random.Random(seed)
    ts = MONDAY + rng.uniform(0.0, 86400.0)
    poor = stuck = 0
    hr = rr = 70.0
    for _ in range(n):
        r = rng.random()
        ts += rng.uniform(2000.0, 4000.0) if r < 0.005 else -30.0 if r < 0.01 else 60.0
        if not poor and rng.random() < 0.01:
            poor = rng.randint(3, 25)
        if not stuck and rng.random() < 0.01:
            stuck = rng.randint(3, 45)
        quality = None if rng.random() < 0.2 else rng.uniform(0.0, 0.45) if poor else 0.9
        poor = max(0, poor - 1)
        if stuck:
            stuck -= 1
        else:
            hr, rr = float(rng.randint(60, 80)), float(rng.randint(12, 18))
        sample = Sample(
            patient_id="p",
            device_id="d",
            ts=ts,
            hr=None if rng.random() < 0.05 else hr,
            rr=None if rng.random() < 0.05 else rr,
            quality=quality,
        )
        yield ts, quality, sample


def quality_state(dq: DataQuality) -> list[str]:
    return state_of(dq, DataQuality.__slots__)


def findings_of(out: list[Finding]) -> list[tuple[object, ...]]:
    return [(f.kind, f.severity, f.vitals, f.since, f.message, f.evidence) for f in out]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_compiled_on_sample_leaves_the_state_the_method_does(seed):
    method, compiled = DataQuality(), DataQuality()
    reported = 0
    with counting(_technical, DataQuality, DataQuality.on_sample) as handed_over:
        for ts, quality, sample in quality_samples(seed):
            expected = method.on_sample(ts, quality=quality, values=sample)
            got = _technical.on_sample(compiled, ts, quality, sample)
            assert findings_of(got) == findings_of(expected)
            assert quality_state(compiled) == quality_state(method)
            assert pickle.dumps(compiled) == pickle.dumps(method)
            reported += bool(expected)
    # the calls that report a finding are the method's; most are not
    assert 0 < reported == handed_over[0] < 0.2 * 4000


ODD_QUALITY_CALLS = {
    "a mapping": (MONDAY + 2e5, 0.9, {"hr": 72.0, "rr": 14.0}),
    "an integer time": (int(MONDAY + 2e5), 0.9, Sample("p", "d", MONDAY + 2e5, hr=72.0)),
    "an integer quality": (MONDAY + 2e5, 1, Sample("p", "d", MONDAY + 2e5, hr=72.0)),
    "no readings": (MONDAY + 2e5, None, object()),
    "an old time": (MONDAY, 0.1, Sample("p", "d", MONDAY, hr=70.0, rr=14.0)),
}


def flat_then_poor() -> DataQuality:
    dq = DataQuality()
    for i in range(20):
        dq.on_sample(MONDAY + 1e5 + 60.0 * i, quality=0.9 if i < 10 else 0.1, values={"hr": 70.0})
    return dq


@pytest.mark.parametrize("call", ODD_QUALITY_CALLS.values(), ids=ODD_QUALITY_CALLS.keys())
def test_odd_on_sample_calls_give_what_the_method_gives(call):
    method, compiled = flat_then_poor(), flat_then_poor()
    ts, quality, values = call
    expected = method.on_sample(ts, quality=quality, values=values)
    assert findings_of(_technical.on_sample(compiled, ts, quality, values)) == findings_of(expected)
    assert quality_state(compiled) == quality_state(method)


def test_a_quality_state_of_other_types_is_handed_to_the_method():
    method, compiled = DataQuality(gap_after=1800), DataQuality(gap_after=1800)  # an integer
    with counting(_technical, DataQuality, DataQuality.on_sample) as handed_over:
        for ts, quality, sample in itertools.islice(quality_samples(4), 200):
            expected = method.on_sample(ts, quality=quality, values=sample)
            got = _technical.on_sample(compiled, ts, quality, sample)
            assert findings_of(got) == findings_of(expected)
    assert quality_state(compiled) == quality_state(method)
    assert handed_over[0] == 200


# -- every compiled method ---------------------------------------------------------------------


#: The monitor's name of each compiled method, the pure-Python method it stands for, and the
#: module that defines it.
PURE = {
    "step": ("channel_step", ChannelModel.step, baseline),
    "update": ("activity_update", Activity.update, activity),
    "on_sample": ("quality_on_sample", pure_on_sample, technical),
}
COMPILED = {"step": _step.step, "update": _activity.update, "on_sample": _technical.on_sample}


@pytest.mark.parametrize(("name", "compiled"), COMPILED.items())
def test_every_compiled_method_is_built_and_used(name, compiled):
    # CI builds them (pip install runs setup.py); a missing compiler must not pass unnoticed
    monitors_name, _, module = PURE[name]
    assert getattr(module, monitors_name) is compiled
    assert getattr(monitor, monitors_name) is compiled


@pytest.mark.parametrize(("name", "method", "module"), PURE.values(), ids=PURE.keys())
def test_replay_gives_the_same_output_compiled(name, method, module, monkeypatch):
    # a simulated cohort past its first day (the trend detector runs), every regime of it
    cohort = simulate_cohort(CohortSpec(patients=6, days=1.5, seed=11))
    records = [dict(r.payload) for r in cohort.records()]

    def run() -> tuple[list[dict[str, object]], list[tuple[str, float, float]]]:
        result = replay(records, partitions=3)
        return [a.to_json_dict() for a in result.alerts], result.scores

    compiled = run()
    monkeypatch.setattr(monitor, name, method)
    assert run() == compiled
    assert {a["category"] for a in compiled[0]} == {"clinical", "technical"}


ON_SAMPLE = Sample("p", "d", MONDAY + 2e5, hr=70.0)

#: Per compiled method: its class and name, an instance with some history, the method's call
#: and the compiled one's, and what to compare of their results.
SUBCLASSED: dict[str, tuple[Any, ...]] = {
    "step": (
        ChannelModel, "step", warm,
        lambda m: m.step(72.0, 12000.0, REST, True, True, time_of_day(12000.0)),
        lambda m: _step.step(m, 72.0, 12000.0, REST, True, True, time_of_day(12000.0)),
        repr,
    ),
    "update": (
        Activity, "update", awake,
        lambda m: m.update(0.05, 0.9, MONDAY + 2e5),
        lambda m: _activity.update(m, 0.05, 0.9, MONDAY + 2e5),
        repr,
    ),
    "on_sample": (
        DataQuality, "on_sample", flat_then_poor,
        lambda m: m.on_sample(MONDAY + 2e5, quality=0.1, values=ON_SAMPLE),
        lambda m: _technical.on_sample(m, MONDAY + 2e5, 0.1, ON_SAMPLE),
        findings_of,
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("cls", "name", "build", "call", "compiled", "result"), SUBCLASSED.values(), ids=SUBCLASSED
)
def test_a_subclass_gets_its_own_method(cls, name, build, call, compiled, result):
    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls = getattr(self, "calls", 0) + 1
        return getattr(cls, name)(self, *args, **kwargs)

    counting_cls = type("Counting", (cls,), {"__slots__": ("calls",), name: counted})
    sub, method = counting_cls(), build()
    slots = [k for c in cls.__mro__ for k in getattr(c, "__slots__", ())]
    for k in slots:
        setattr(sub, k, copy.deepcopy(getattr(method, k)))
    assert result(compiled(sub)) == result(call(method))
    assert sub.calls == 1
    assert state_of(sub, tuple(slots)) == state_of(method, tuple(slots))

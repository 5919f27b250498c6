"""One contract suite over every detector configuration (River ``checks/`` style).

Every configuration Vigil runs — the generic model for custom channels, and the personal
model of each vital with its priors — must: pickle and unpickle to an equivalent detector,
score before any learning, not change when only scored, clone into an independent fresh
detector, stay small, and score any finite input (however extreme) in [0, 1] with a state
that stays finite. The whole per-patient state (detector + episodes) must stay under
16 KiB pickled even with every custom channel in use.
"""

from __future__ import annotations

import copy
import math
import pickle
import random
from collections.abc import Hashable, Iterator
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ingest.sample import Sample
from stream.detect.baseline import ACTIVE, REST, STILL, ChannelModel
from stream.detect.monitor import MAX_CUSTOM_MODELS, VITAL_MODEL_PARAMS
from stream.pipeline import Pipeline
from tests.stream.detect_synth import T0

CONFIGS = {
    "custom-channel": {},
    **{f"vital-{name}": params for name, params in VITAL_MODEL_PARAMS.items()},
    "no-daily-profile": {"profile_rate": None},
    "fast": {"tau": 3600.0, "tau_scale": 7200.0, "warmup": 5, "learn_every": 0.0},
}
STATE_BOUND = 1024  # bytes of one pickled channel model


def stream(n: int = 500, seed: int = 0) -> Iterator[dict[Hashable, Any]]:
    rng = random.Random(seed)
    for i in range(n):
        ctx = (REST, STILL, ACTIVE)[(i // 60) % 3]
        yield {"value": 50.0 + 10.0 * math.sin(i / 50) + rng.gauss(0, 2), "ts": 60.0 * i,
               "context": ctx}  # fmt: skip


@pytest.fixture(params=sorted(CONFIGS), ids=str)
def model(request: pytest.FixtureRequest) -> ChannelModel:
    return ChannelModel(**CONFIGS[request.param])


def trained(model: ChannelModel) -> ChannelModel:
    for x in stream():
        model.learn_one(x)
    return model


def test_pickle_round_trip_gives_an_equivalent_detector(model):
    m = trained(model)
    again = pickle.loads(pickle.dumps(m))  # noqa: S301 - our own bytes
    probe: dict[Hashable, Any] = {"value": 71.0, "ts": 500 * 60.0, "context": REST}
    assert again.score_one(probe) == m.score_one(probe)
    nxt: dict[Hashable, Any] = {"value": 55.0, "ts": 501 * 60.0}
    again.learn_one(nxt)
    m.learn_one(nxt)
    assert again.score_one(probe) == m.score_one(probe)


def test_scoring_before_any_learning_returns_a_valid_score(model):
    for x in stream(5):
        s = model.score_one(x)
        assert s == 0.0


def test_scores_are_in_the_unit_interval(model):
    m = model
    for x in stream():
        assert 0.0 <= m.score_one(x) <= 1.0
        m.learn_one(x)
    assert 0.0 <= m.score_one({"value": 1e9, "ts": 1e6}) <= 1.0


def test_scoring_does_not_mutate(model):
    m = trained(model)
    before = pickle.dumps(m)
    for x in stream(50, seed=9):
        m.score_one(x)
    assert pickle.dumps(m) == before


def test_clones_are_fresh_and_independent(model):
    m = trained(model)
    clone = m.clone()
    assert clone._get_params() == m._get_params()
    assert clone.n[REST] == 0 and clone.score_one({"value": 50.0}) == 0.0
    clone.learn_one({"value": 10.0, "ts": 0.0})
    assert m.n[REST] != clone.n[REST]
    deep = copy.deepcopy(m)
    deep.learn_one({"value": 1e6, "ts": 1e6})
    assert deep.level[REST] != m.level[REST]


def test_state_size_is_bounded_however_long_it_learns(model):
    m = trained(model)
    small = len(pickle.dumps(m))
    for x in stream(3000, seed=2):
        m.learn_one(x)
    assert len(pickle.dumps(m)) == small <= STATE_BOUND


#: Snapshot bytes a patient's state may take: the 16 KiB target, less room for what a patient
#: in the middle of several alerts adds (open episodes with their messages, rule state).
FULL_STATE_BOUND = 16 * 1024 - 2048


def realistic_patient(days: int) -> Iterator[Sample]:
    """A patient over ``days`` days from a Monday: asleep (still) at night, resting and out
    walking by day, a cuff every 15-60 min, a glucose sensor every 5 min, and every custom
    channel a device may send, under the longest names ingest accepts."""
    rng = random.Random(4)
    names = [f"c{i:02d}_" + "x" * 28 for i in range(MAX_CUSTOM_MODELS)]
    next_cuff = 7
    for m in range(days * 1440):
        hour = (m / 60.0) % 24.0
        if hour >= 23.0 or hour < 7.0:
            motion = round(0.012 + abs(rng.gauss(0, 0.004)), 3)  # asleep: STILL
        elif m % 180 < 30:
            motion = round(0.45 * math.exp(rng.gauss(0, 0.1)), 3)  # a walk: ACTIVE
        else:
            motion = round(0.08 * math.exp(rng.gauss(0, 0.4)), 3)  # REST
        cuff = m >= next_cuff
        if cuff:
            next_cuff = m + rng.randint(15, 60)
        walking = motion > 0.3
        yield Sample(
            "p1", "d1", T0 + 60.0 * m,
            hr=float(round(72 + 15 * walking + rng.gauss(0, 3))),
            spo2=float(min(100, round(97 + rng.gauss(0, 0.5)))),
            rr=float(round(14 + 4 * walking + rng.gauss(0, 0.6))),
            temp=round(36.8 + rng.gauss(0, 0.05), 1),
            sbp=float(round(122 + rng.gauss(0, 6))) if cuff else None,
            dbp=float(round(80 + rng.gauss(0, 4))) if cuff else None,
            glucose=float(round(100 + rng.gauss(0, 8))) if m % 5 == 0 else None,
            motion=motion, quality=round(min(1.0, 0.95 + rng.gauss(0, 0.02)), 2),
            custom={n: 10.0 * k + rng.gauss(0, 1.0 + k) for k, n in enumerate(names)},
        )  # fmt: skip


def test_a_patients_full_state_stays_under_16_kib_with_every_custom_channel():
    # Eight days from a Monday: every context, every hour of weekdays and of a weekend
    # learned by every channel, so the state has its steady (largest) size.
    pipe = Pipeline()
    sizes = []
    for i, s in enumerate(realistic_patient(8)):
        pipe.process(s)
        if i % 1440 == 1439:
            sizes.append(len(pipe.snapshot("p1")))
    mon = pipe._patients["p1"].monitor  # noqa: SLF001 - the test looks inside
    assert len(mon.channels) == 7 + MAX_CUSTOM_MODELS
    assert all(min(ch.n) >= ch.warmup for ch in mon.channels.values())
    assert max(sizes) <= FULL_STATE_BOUND, sizes


_FINITE = st.floats(allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize("name", ["custom-channel", "vital-hr", "fast"])
@given(
    values=st.lists(_FINITE, min_size=1, max_size=60),
    step=st.sampled_from([1.0, 60.0, 300.0, 3600.0]),
)
# spreads near float max: the scale's square and the Huber bound overflowed to inf
@example(values=[3.025852360363576e163, 0.0, 1.7976931348623153e308, -1.1984620899082107e308],
         step=1.0)  # fmt: skip
@settings(max_examples=60, deadline=None)
def test_any_finite_stream_scores_in_the_unit_interval_with_finite_state(name, values, step):
    m = ChannelModel(**CONFIGS[name])
    for i, v in enumerate(values):
        ts = 1.7e9 + step * i
        assert 0.0 <= m.step(v, ts) <= 1.0
        assert 0.0 <= m.score_one({"value": v, "ts": ts}) <= 1.0
    state = [*m.level, *m.dev, *m.daily, m.hour_sum, m.z, m.cusum_up, m.cusum_down, m.rep_p]
    assert all(math.isfinite(x) for x in state)


@pytest.mark.parametrize("name", ["custom-channel", "vital-hr", "fast"])
@given(
    values=st.lists(_FINITE, min_size=1, max_size=40),
    offsets=st.lists(st.floats(-20000.0, 20000.0), min_size=40, max_size=40),
    contexts=st.lists(st.sampled_from([REST, STILL, ACTIVE]), min_size=40, max_size=40),
)
# a reading two hours before the first one learned gave the level a time constant of 0
@example(values=[70.0, 71.0, 70.5], offsets=[0.0, -8100.0, -7200.0], contexts=[REST] * 3)
@settings(max_examples=60, deadline=None)
def test_readings_in_any_time_order_and_context_keep_the_state_finite(
    name, values, offsets, contexts
):
    # direct callers may learn out of order (hours before the first reading) and switch
    # contexts (a new one borrowing another's level): nothing may divide by zero or overflow
    m = ChannelModel(**CONFIGS[name])
    for v, dt, ctx in zip(values, offsets, contexts, strict=False):
        m.learn_one({"value": v, "ts": 1.7e9 + dt, "context": ctx})
        assert 0.0 <= m.score_one({"value": v, "ts": 1.7e9 + dt, "context": ctx}) <= 1.0
    assert all(math.isfinite(x) for x in [*m.level, *m.dev, *m.daily])


def test_a_reading_that_is_not_finite_is_not_learned(model):
    m = trained(model)
    before = pickle.dumps(m)
    for x in ({"value": math.nan, "ts": 1e5}, {"value": 1.0, "ts": math.nan},
              {"value": math.inf, "ts": 1e5}, {"value": 1.0, "ts": -math.inf}):  # fmt: skip
        m.learn_one(x)
        assert 0.0 <= m.score_one(x) <= 1.0
    assert pickle.dumps(m) == before


def test_a_patient_restored_mid_stream_continues_exactly_as_one_never_saved():
    samples = list(realistic_patient(3))
    cut = 2 * 1440 + 7 * 60 + 13  # a weekday morning, every channel mid-learning
    pipe = Pipeline()
    for s in samples[:cut]:
        pipe.process(s)
    restored = Pipeline()
    restored.restore("p1", pipe.snapshot("p1"))
    for s in samples[cut:]:
        a, b = pipe.process(s), restored.process(s)
        assert (a.score, a.channel) == (b.score, b.channel)
        assert [(f.kind, f.severity, f.firing, f.score, f.message) for f in a.findings] == [
            (f.kind, f.severity, f.firing, f.score, f.message) for f in b.findings
        ]
        assert [x.to_json_dict() for x in a.alerts + a.resolved] == [
            x.to_json_dict() for x in b.alerts + b.resolved
        ]
    # the same state, part by part (the whole pickle may memoise shared strings differently)
    assert _parts(restored) == _parts(pipe)


def _parts(pipe: Pipeline) -> list[bytes]:
    st = pipe._patients["p1"]  # noqa: SLF001 - the test looks inside
    mon = st.monitor
    return [pickle.dumps(getattr(mon, k)) for k in mon.__slots__] + [pickle.dumps(st.tracker)]

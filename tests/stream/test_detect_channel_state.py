"""A channel model's saved form: compact, exact, and every earlier form still restores."""

from __future__ import annotations

import math
import pickle
import random

import pytest

from stream.detect.baseline import ACTIVE, REST, STILL, ChannelModel, time_of_day
from stream.detect.channel_state import FIELDS, INTS, defaults_of, fields_state, save
from stream.detect.monitor import VITAL_MODEL_PARAMS

MONDAY = 1700438400.0  # 2023-11-20 00:00 UTC
CONFIGS = {
    "custom-channel": {},
    **{f"vital-{name}": params for name, params in VITAL_MODEL_PARAMS.items()},
    "no-daily-profile": {"profile_rate": None},
}


def learned(params: dict[str, object], days: int = 9, seed: int = 5) -> ChannelModel:
    """A model after ``days`` of 5-minute readings from a Monday, in every context (weekend
    hours learned too), with a stuck run, a departure and a gap on the way."""
    m = ChannelModel(**params)  # type: ignore[arg-type]
    for t, v, ctx in readings(days, seed):
        m.step(v, t, ctx, tod=time_of_day(t))
    return m


def readings(days: int, seed: int, start: float = MONDAY) -> list[tuple[float, float, int]]:
    rng = random.Random(seed)
    out = []
    for i in range(days * 288):
        t = start + 300.0 * i
        if 1000 <= i < 1010:
            v = 60.0  # a stuck run
        elif 1500 <= i < 1560:
            v = 80.0 + rng.gauss(0.0, 1.0)  # a departure of five hours
        else:
            v = 60.0 + 5.0 * math.sin(2 * math.pi * (t % 86400) / 86400) + rng.gauss(0.0, 1.0)
        if i % 700 == 0:
            t += 3600.0  # a gap: the smoothing window restarts
        out.append((t, v, (STILL, REST, ACTIVE)[(i // 40) % 3]))
    return out


def same(a: ChannelModel, b: ChannelModel) -> bool:
    """Every field (the scale cache and ``z_on ** 4`` too) equal, bit for bit (by repr: NaN)."""
    keys = (*FIELDS, "_on4")
    return [repr(getattr(a, k)) for k in keys] == [repr(getattr(b, k)) for k in keys]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_compact_form_restores_every_field_and_the_same_future(name):
    m = learned(CONFIGS[name])
    assert type(m.__getstate__()[0]) is bytes  # (the compact form)
    again = pickle.loads(pickle.dumps(m))  # noqa: S301 - our own bytes
    assert same(again, m)
    for t, v, ctx in readings(2, seed=6, start=m.recent_at + 300.0):
        tod = time_of_day(t)
        assert again.step(v, t, ctx, tod=tod) == m.step(v, t, ctx, tod=tod)
    assert same(again, m)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_the_per_field_form_of_earlier_releases_restores_the_same_model(name):
    m = learned(CONFIGS[name])
    old = fields_state(m, defaults_of(ChannelModel))  # what changelogs hold so far
    restored = ChannelModel.__new__(ChannelModel)
    restored.__setstate__(old)
    assert same(restored, m)
    assert pickle.dumps(restored) == pickle.dumps(m)


@pytest.mark.parametrize("name", ["custom-channel", "vital-hr"])  # params at defaults, and not
def test_the_compact_form_saved_before_known_tenths_restores_with_none_reached(name):
    m = learned(CONFIGS[name])
    state = save(m, defaults_of(ChannelModel))
    tenths = 1 + INTS.index("known_tenths")
    old = (*state[:tenths], *state[tenths + 1 :])  # what those releases wrote
    restored = ChannelModel.__new__(ChannelModel)
    restored.__setstate__(old)
    m.known_tenths = 0
    assert same(restored, m)


def test_a_fresh_model_round_trips():
    m = ChannelModel(prior_scale=5.0)
    again = pickle.loads(pickle.dumps(m))  # noqa: S301 - our own bytes
    assert same(again, m)
    assert again.score_one({"value": 70.0}) == m.score_one({"value": 70.0})


def test_integer_readings_are_saved_field_by_field_and_stay_integers():
    # a direct caller may step integers: packed as doubles they would come back floats
    # (and a finding's evidence would say 72.0 where it said 72)
    m = ChannelModel()
    for i in range(200):
        m.step(70 + i % 5, 60 * i)
    assert m.__getstate__()[0] is None  # (the per-field form)
    again = pickle.loads(pickle.dumps(m))  # noqa: S301 - our own bytes
    assert same(again, m)
    assert type(again.xs) is int and type(again.recent[-1]) is int


def test_the_compact_form_is_smaller_than_the_per_field_one():
    for params in ({}, VITAL_MODEL_PARAMS["hr"]):
        m = learned(params, days=3)
        compact = len(pickle.dumps(save(m, defaults_of(ChannelModel)), protocol=5))
        per_field = len(pickle.dumps(fields_state(m, defaults_of(ChannelModel)), protocol=5))
        assert compact <= per_field - 50
    assert type(save(learned({}, days=1), defaults_of(ChannelModel))[-1]) is bool  # no params

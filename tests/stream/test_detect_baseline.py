"""The univariate personal model: what it learns, what it ignores, how fast it forgets."""

from __future__ import annotations

import copy
import itertools
import math
import random
from array import array

import pytest

from stream.detect.baseline import (
    _FADE_S,
    _KNOWN_S,
    ACTIVE,
    REST,
    STILL,
    ChannelModel,
    time_of_day,
)
from stream.detect.channel_state import (
    ARRAYS,
    LATER_STATE,
    PARAMS,
    STATE,
    defaults_of,
    fields_state,
)
from stream.detect.robust import MIN_SCALE_READINGS

MONDAY = 1700438400.0  # 2023-11-20 00:00 UTC


def feed(
    m: ChannelModel, values: list[float], start: float = 0.0, step: float = 60.0, ctx: int = REST
) -> list[float]:
    scores = []
    for i, v in enumerate(values):
        ts = start + step * i
        scores.append(m.step(v, ts, ctx, tod=time_of_day(ts)))
    return scores


def noise(n: int, mean: float, sd: float, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [mean + rng.gauss(0.0, sd) for _ in range(n)]


def test_learns_the_level_and_scale_of_a_stationary_channel():
    m = ChannelModel()
    feed(m, noise(1440, 50.0, 2.0))
    assert abs(m.level[REST] - 50.0) < 0.5
    assert 1.5 < m.scale(REST) < 2.6


def test_the_scale_is_scale_free_across_units():
    small, large = ChannelModel(), ChannelModel()
    s1 = feed(small, noise(600, 0.002, 0.0001) + [0.0028] * 5)
    s2 = feed(large, noise(600, 2e6, 1e5) + [2.8e6] * 5)
    assert s1[-1] > 0.9 and s2[-1] > 0.9
    assert max(s1[100:600]) < 0.5 and max(s2[100:600]) < 0.5


@pytest.mark.parametrize(("a", "b"), [(1e6, 0.0), (1e-3, 0.0), (1.0, -1000.0), (0.01, 5e4)])
def test_scores_do_not_depend_on_the_units_or_their_origin(a, b):
    # a daily rhythm, then a 6-sd level shift: the same stream in other units scores the same
    rng = random.Random(11)
    values = [10.0 + 3.0 * math.sin(2 * math.pi * i / 288) + rng.gauss(0.0, 1.0)
              for i in range(3 * 288)]  # fmt: skip
    values += [16.0 + rng.gauss(0.0, 1.0) for _ in range(24)]
    plain = feed(ChannelModel(), values, step=300.0)
    moved = feed(ChannelModel(), [a * v + b for v in values], step=300.0)
    assert max(abs(p - q) for p, q in zip(plain, moved, strict=True)) < 1e-6
    assert max(moved[:-24]) < 0.5 and max(moved[-24:-12]) > 0.5  # within the hour


def test_without_a_prior_nothing_scores_until_a_spread_is_learned():
    m = ChannelModel()
    scores = feed(m, [11.3, 11.5, 11.2, 9.8, 10.9, 10.1, 10.6, 9.5, 10.2, 10.8, 25.0, 25.0])
    assert scores[:MIN_SCALE_READINGS] == [0.0] * MIN_SCALE_READINGS
    assert scores[-1] > 0.9


def test_the_first_days_rhythm_is_not_taken_for_a_drift():
    # no time-of-day profile yet: hours below the early level are the rhythm, not a trend
    rng = random.Random(1)
    values = [10.0 + 3.0 * math.sin(2 * math.pi * i / 288) + rng.gauss(0.0, 1.0)
              for i in range(288)]  # fmt: skip
    m = ChannelModel()
    scores = feed(m, values, start=1736121600.0, step=300.0)
    assert m.cusum_up == m.cusum_down == 0.0
    assert max(scores) < 0.5


def test_an_isolated_spike_barely_moves_the_smoothed_value():
    m = ChannelModel(prior_scale=3.0)
    feed(m, noise(300, 70.0, 2.0))
    m.step(190.0, 300 * 60.0)
    assert abs(m.xs - 70.0) < 6.0
    assert m.z < 3.0


def test_a_lone_reading_six_scales_out_scores_as_an_anomaly():
    # 0.5 at 5.4 scales (1.35 z_on): the smallest spikes of bench/anomaly.py, 6 sd, scored 0.45
    # at 1.6 z_on and were missed at 0.5; a Gaussian channel reads 5.4 scales out one time in
    # 15 million
    for k, expected in ((6.0, True), (4.5, False)):
        m = ChannelModel()
        feed(m, noise(3 * 288, 20.0, 1.0), start=MONDAY, step=300.0)
        ts = MONDAY + 3 * 86400.0
        x = m.level[REST] + m.profile_offset(ts) + k * m.sd_cache[REST]
        assert (m.step(x, ts, tod=time_of_day(ts)) >= 0.5) is expected


def test_unreliable_readings_are_neither_learned_nor_scored():
    m = ChannelModel()
    feed(m, noise(200, 70.0, 2.0))
    before = (m.level[REST], m.n[REST], m.xs)
    assert m.step(30.0, 200 * 60.0, reliable=False) == 0.0
    assert (m.level[REST], m.n[REST], m.xs) == before


def test_an_ongoing_shift_is_absorbed_only_slowly():
    m = ChannelModel(prior_scale=3.0)
    feed(m, noise(2880, 70.0, 3.0))
    scores = feed(m, noise(240, 100.0, 3.0), start=2880 * 60.0)
    assert min(scores[5:15]) > 0.9  # anomalous until known for a quarter of an hour, then it fades:
    assert max(scores[80:]) < 0.25  # a new normal is not an anomaly for ever
    assert m.z > 5.0 and m.level[REST] < 75.0  # still a departure four hours later


def test_contexts_keep_separate_baselines():
    m = ChannelModel()
    feed(m, noise(600, 72.0, 2.0), ctx=REST)
    feed(m, noise(600, 60.0, 2.0), start=600 * 60.0, ctx=STILL)
    assert abs(m.level[REST] - 72.0) < 1.0 and abs(m.level[STILL] - 60.0) < 1.0
    assert m.n[ACTIVE] == 0


def test_an_unlearned_context_borrows_the_learned_one_with_a_wider_scale():
    m = ChannelModel(prior_scale=2.0)
    feed(m, noise(600, 72.0, 2.0))
    m.step(72.0, 600 * 60.0, ACTIVE)
    assert not m.settled and m.sd > 1.5 * m.sd_cache[REST]


def test_the_hot_path_inlines_min_scale_readings_as_it_is():
    # ChannelModel.step writes MIN_SCALE_READINGS as a literal (a global costs every reading)
    import inspect

    assert f"n_ctx < {MIN_SCALE_READINGS}:" in inspect.getsource(ChannelModel.step)


def test_a_new_context_starts_from_the_others_level_without_the_hour_counted_twice():
    # a daily rhythm learned at rest; then still, at 06:00 (the rhythm near its peak), at
    # exactly the level rest expects: still's level is rest's, and stays near it
    m = ChannelModel(prior_scale=1.0)
    rng = random.Random(3)
    wave = [50.0 + 5.0 * math.sin(2 * math.pi * i / 288) for i in range(288 * 5)]
    feed(m, [w + rng.gauss(0, 0.5) for w in wave[: 288 * 4]], start=MONDAY, step=300.0)
    t = MONDAY + 4 * 86400.0 + 6 * 3600.0
    assert m.profile_offset(t) > 2.0
    m.step(m.level[REST] + m.profile_offset(t), t, STILL, tod=time_of_day(t))
    assert m.level[STILL] == pytest.approx(m.level[REST])
    seen = []
    for i in range(1, 10):  # still borrowing rest's level: learning against its own
        ts = t + 300.0 * i
        seen.append(wave[288 * 4 + 72 + i] + rng.gauss(0, 0.5))
        m.step(seen[-1], ts, STILL, tod=time_of_day(ts))
    assert abs(m.level[STILL] + m.profile_offset(ts) - sum(seen) / len(seen)) < 0.5


@pytest.mark.parametrize("start", [MONDAY, MONDAY + 3 * 86400.0])  # (then Thursday-Sunday)
def test_the_daily_rhythm_is_learned_and_expected(start):
    m = ChannelModel(prior_scale=0.2)
    rng = random.Random(5)
    values = [37.0 + 0.3 * math.cos(2 * math.pi * i / 1440) + rng.gauss(0, 0.1)
              for i in range(1440 * 4)]  # fmt: skip
    feed(m, values, start=start)
    peak = m.score_one({"value": 37.3, "ts": start + 1440 * 4 * 60.0})  # midnight: usual peak
    trough = m.score_one({"value": 37.3, "ts": start + (1440 * 4 + 720) * 60.0})  # noon
    # a weekend in the first days teaches the weekday hours only where it resembles them
    # (within a scale): a rhythm still half learned then is learned more slowly
    assert peak < 0.05 and trough > (0.3 if start == MONDAY else 0.2)


@pytest.mark.parametrize(
    ("amplitude", "phase", "seed"), [(0.35, 3.5, 2), (0.45, 4.0, 2), (0.35, 4.5, 1)]
)
def test_a_daily_peak_far_from_the_level_is_learned_too(amplitude, phase, seed):
    # counts at 5 min whose afternoon peak stands far above the day's level: expecting the
    # level there, the peak hours were never ordinary, so never learned (2-3 of them, with
    # these seeds), and alarmed every afternoon (13-49 readings on Thursday and Friday)
    rng = random.Random(seed)
    values = []
    for i in range(5 * 288):  # Monday to Friday
        d = 2 * math.pi * (i % 288) / 288 + phase
        mean = 200.0 * (1.0 + amplitude * (math.sin(d) + 0.3 * math.sin(2 * d)))
        values.append(float(round(mean + rng.gauss(0.0, math.sqrt(mean)))))
    m = ChannelModel()
    scores = feed(m, values, start=MONDAY, step=300.0)
    assert all(m.daily[h] != 0.0 for h in range(24))  # every hour learned
    assert sum(p >= 0.5 for p in scores[3 * 288 :]) == 0  # Thursday and Friday: no alarm


def test_the_cusum_accumulates_a_small_persistent_drift():
    m = ChannelModel(prior_scale=2.0)
    feed(m, noise(1440, 70.0, 2.0))
    feed(m, noise(180, 75.0, 2.0, seed=3), start=1440 * 60.0)  # +2.5 sd for 3 h
    assert m.cusum_up > m.cusum_h


def test_a_late_reading_is_scored_with_the_drift_on_either_side():
    # score_one (late readings) must see a downward drift as step() does, not only an upward one
    m = ChannelModel(prior_scale=2.0)
    feed(m, noise(1440, 70.0, 2.0))
    drift = feed(m, noise(60, 65.0, 2.0, seed=3), start=1440 * 60.0)  # -2.5 sd for 1 h
    assert m.cusum_down > m.cusum_h and m.cusum_up == 0.0
    late = m.score_one({"value": m.xs, "ts": m.recent_at})
    # known for over a quarter of an hour: both faded alike, from a CUSUM beyond its decision
    # level (the level alone, 2.5 sd, would score 0.13 before fading)
    faded = math.exp((m.known_since + _KNOWN_S - m.recent_at) / _FADE_S)
    assert late / faded > 0.5 and abs(late - drift[-1]) < 0.01


def test_a_late_reading_of_a_stuck_channel_scores_as_a_live_one_would():
    # score_one must judge repeats as step() does: a known stuck run faded, a short run not
    m = ChannelModel()
    feed(m, noise(2 * 288, 10.0, 1.0), start=MONDAY, step=300.0)
    t = MONDAY + 2 * 86400.0
    stuck = feed(m, [10.3] * 96, start=t, step=300.0)  # known within the hour, faded since
    assert m.score_one({"value": 10.3, "ts": m.recent_at}) == pytest.approx(stuck[-1], abs=0.01)
    fresh = ChannelModel()
    feed(fresh, noise(600, 20.0, 1.0), step=300.0)  # a channel that never repeats
    feed(fresh, [20.4], start=600 * 300.0, step=300.0)
    for k in (1, 2):  # the second and third equal readings: no run to speak of yet
        clone = copy.deepcopy(fresh)
        ts = (600 + k) * 300.0
        live = clone.step(20.4, ts, tod=time_of_day(ts))
        assert fresh.score_one({"value": 20.4, "ts": ts}) == pytest.approx(live, rel=1e-9)
        feed(fresh, [20.4], start=ts, step=300.0)


def test_time_of_day_bins_interpolate_between_hours():
    assert time_of_day(0.0) == (0, 1, 0.0)
    assert time_of_day(86399.0)[:2] == (23, 0)


def test_a_stuck_channel_scores_within_a_few_readings():
    m = ChannelModel()
    scores = feed(m, noise(600, 20.0, 1.0) + [20.5] * 12, step=300.0)
    assert max(scores[100:601]) < 0.5
    # the 4th identical reading on, until known for a quarter of an hour
    assert scores[603] >= 0.5 and min(scores[605:607]) > 0.85


def test_repeats_are_judged_against_how_often_the_channel_repeats():
    rng = random.Random(2)
    counts = []  # small counts repeat all the time: a run of threes is ordinary
    for _ in range(3000):
        k, p, u = 0, math.exp(-2.0), rng.random()
        while u > p:
            u -= p
            k += 1
            p *= 2.0 / k
        counts.append(float(k))
    m = ChannelModel()
    scores = feed(m, counts, step=300.0)
    assert 0.15 < m.rep_p < 0.3
    assert max(scores[500:]) < 0.5


def test_bursts_are_judged_against_how_often_the_channel_bursts():
    rng = random.Random(4)
    # a channel idle at 0 that reads 1 one time in twenty: a 1 is ordinary for it
    bursty = [float(rng.random() < 0.05) for _ in range(3000)]
    m = ChannelModel()
    scores = feed(m, bursty, step=300.0)
    ones = [p for p, v in zip(scores[300:], bursty[300:], strict=True) if v]
    assert m.tail_p > 0.02
    assert sum(p >= 0.5 for p in ones) <= 0.25 * len(ones)  # (all of them before)
    # a quiet Gaussian channel still flags one far reading
    m = ChannelModel()
    scores = feed(m, noise(1000, 20.0, 1.0) + [30.0] + noise(5, 20.0, 1.0, seed=3), step=300.0)
    assert m.tail_p < 0.004
    assert scores[1000] >= 0.5 and max(scores[300:1000]) < 0.5


@pytest.mark.parametrize("arrays", ["bytes", "objects"])
def test_a_state_saved_before_stuck_readings_were_modelled_restores(arrays):
    m = ChannelModel()
    feed(m, noise(100, 20.0, 1.0))
    # then, the parameters were saved inline, and the profile was 24 hours of doubles; the
    # first release pickled its arrays as array objects, later ones as their bytes
    state = fields_state(m, defaults_of(ChannelModel))
    assert state[0] is None  # (later: the defaults were saved as None)
    old = [*(getattr(m, k) for k in PARAMS), *state[1 : -len(LATER_STATE)]]
    fields = (*PARAMS, *STATE)
    daily_at = fields.index("daily")
    old[daily_at] = array("d", [0.25 * h for h in range(24)]).tobytes()
    if arrays == "objects":
        old = [array(ARRAYS[k] if k != "daily" else "d", v) if type(v) is bytes else v
               for k, v in zip(fields, old, strict=False)]  # fmt: skip
    restored = ChannelModel.__new__(ChannelModel)
    restored.__setstate__(tuple(old))
    later = {k: v for k, v in LATER_STATE.items() if v is not None}
    assert {k: getattr(restored, k) for k in later} == later
    assert all(x != x for x in restored.weekday_level)  # none known yet
    assert list(restored.daily) == [0.25 * h for h in range(24)] * 2  # weekends as weekdays
    assert restored.step(20.0, 6000.0) < 0.5
    saturday = MONDAY + 5 * 86400.0  # a weekend hour reads the widened profile
    assert 0.0 <= restored.step(20.0, saturday, tod=time_of_day(saturday)) < 0.5


def _weekly(weeks: int, drop: float, seed: int = 8) -> tuple[list[float], list[float]]:
    """5-minute readings from a Monday: a daily rhythm, and weekends ``drop`` lower."""
    rng = random.Random(seed)
    start = MONDAY
    ts = [start + 300.0 * i for i in range(weeks * 7 * 288)]
    values = [50.0 + 3.0 * math.sin(2 * math.pi * (t % 86400) / 86400) + rng.gauss(0.0, 1.0)
              - (drop if (t - start) % (7 * 86400) >= 5 * 86400 else 0.0)
              for t in ts]  # fmt: skip
    return ts, values


def test_weekends_keep_a_normal_of_their_own():
    # a quiet weekend (4 sd lower) alarms the first time only: after it, weekends and
    # weekdays are both expected
    ts, values = _weekly(3, 4.0)
    m = ChannelModel()
    scores = [m.step(v, t, REST, tod=time_of_day(t)) for t, v in zip(ts, values, strict=True)]
    week = 7 * 288
    first_weekend = scores[5 * 288 : week]
    third_weekdays, third_weekend = (
        scores[2 * week : 2 * week + 5 * 288],
        scores[2 * week + 5 * 288 :],
    )
    assert max(first_weekend) > 0.7  # new: the first weekend is a departure
    assert sum(p >= 0.5 for p in third_weekend) == 0
    assert sum(p >= 0.5 for p in third_weekdays) == 0
    assert m.weekend_seen == (1 << 24) - 1
    weekend_level = sum(m.daily[24:]) / 24 - sum(m.daily[:24]) / 24
    assert -4.5 < weekend_level < -3.0


@pytest.mark.parametrize("seed", [1, 2])
def test_a_weekend_hour_first_seen_departing_follows_the_weekend_hours_learned(seed):
    # weekends 4 sd lower: Saturday's first hours departed (not learned) while the rest of
    # the weekend was learned; the next Saturday they followed their weekday hours, and
    # alarmed again (31-32 readings, when a known departure faded after two hours); now they
    # follow the weekend hours around them
    rng = random.Random(seed)
    tuesday = MONDAY - 6 * 86400.0
    m = ChannelModel()
    scores = []
    for i in range(14 * 288):
        weekend = 4 <= (i // 288) % 7 <= 5
        d = 2 * math.pi * (i % 288) / 288
        x = 50.0 + (2.0 if weekend else 4.0) * (math.sin(d) + 0.3 * math.sin(2 * d))
        ts = tuesday + 300.0 * i
        scores.append(
            m.step(x - (4.0 if weekend else 0.0) + rng.gauss(0, 1), ts, tod=time_of_day(ts))
        )
    assert sum(p >= 0.5 for p in scores[4 * 288 : 6 * 288]) >= 6  # the first weekend: new
    assert sum(p >= 0.5 for p in scores[11 * 288 : 13 * 288]) == 0


def _nightly_idle(days: int, seed: int = 3) -> list[float]:
    """A count-like metric at 5 min: exactly 0 for six hours every night, about 5 by day."""
    rng = random.Random(seed)
    return [0.0 if (i % 288) < 72 else float(max(0, round(rng.gauss(5.0, 2.0))))
            for i in range(days * 288)]  # fmt: skip


def test_a_channel_that_starts_constant_learns_its_spread_within_two_days():
    # the first six hours give a scale of zero; the day's spread must still be learned
    m = ChannelModel()
    scores = feed(m, _nightly_idle(5), start=1699920000.0, step=300.0)
    assert max(scores[3 * 288 :]) < 0.5
    assert m.long_run >= 71  # a night of zeros is this channel's normal run


def test_a_stuck_sensors_readings_are_not_learned():
    m = ChannelModel()
    feed(m, noise(2 * 288, 20.0, 1.0), step=300.0)
    level = m.level[REST]
    scores = feed(m, [26.0] * 144, start=2 * 288 * 300.0, step=300.0)
    assert min(scores[1:5]) > 0.8  # (known for a quarter of an hour, then it fades)
    assert abs(m.level[REST] - level) < 0.2


@pytest.mark.parametrize("step", [900.0, 3600.0])
def test_the_daily_rhythm_is_learned_from_sparse_readings(step):
    # four readings an hour, or one: each mostly ordinary hour still teaches the profile
    per_day = int(86400 / step)
    rng = random.Random(6)
    values = [20.0 + 5.0 * math.sin(2 * math.pi * i / per_day) + rng.gauss(0.0, 1.0)
              for i in range(10 * per_day)]  # fmt: skip
    m = ChannelModel()
    feed(m, values, step=step)
    assert max(m.daily) > 3.0 and min(m.daily) < -3.0


def _ar1(n: int, phi: float, seed: int = 9) -> list[float]:
    """AR(1) noise of marginal sd 1 around 10, one reading per 5 minutes."""
    rng = random.Random(seed)
    x, out = rng.gauss(0.0, 1.0), []
    for _ in range(n):
        x = phi * x + rng.gauss(0.0, math.sqrt(1.0 - phi * phi))
        out.append(10.0 + x)
    return out


def test_persistent_noise_is_less_evidence_for_the_trend_detector():
    # a server metric whose noise wanders for hours (AR(1), 0.97 per 5 min): its excursions
    # are not drifts; a shift of 5 sd still is
    values = _ar1(12 * 288, 0.97)
    m = ChannelModel()
    scores = feed(m, values, start=MONDAY, step=300.0)
    assert m.zz / m.z2 > 0.8  # the lag-one autocorrelation it learned
    alarms = sum(1 for a, b in itertools.pairwise(scores[288:]) if a < 0.5 <= b)
    assert alarms <= 1
    shifted = feed(m, [v + 5.0 for v in _ar1(288, 0.97, seed=10)], start=MONDAY + 12 * 86400.0,
                   step=300.0)  # fmt: skip
    assert max(shifted[:36]) >= 0.5  # within three hours


def test_independent_noise_keeps_the_full_trend_evidence():
    m = ChannelModel()
    feed(m, noise(3 * 288, 10.0, 1.0), start=MONDAY, step=300.0)
    assert abs(m.zz / m.z2) < 0.15
    # a 2.5-sd shift: 1 scale over the allowance per minute reaches the decision level in an hour
    scores = feed(m, noise(36, 12.5, 1.0, seed=4), start=MONDAY + 3 * 86400.0, step=300.0)
    assert max(scores[:18]) >= 0.5


def test_a_known_departure_fades_and_a_new_one_scores_again():
    # 5-minute readings: two days of normal, 4 h 6 sd up, 12 h back, 6 sd up again
    m = ChannelModel()
    feed(m, noise(2 * 288, 10.0, 1.0), start=MONDAY, step=300.0)
    t = MONDAY + 2 * 86400.0
    first = feed(m, noise(48, 16.0, 1.0, seed=2), start=t, step=300.0)
    assert max(first[:6]) > 0.8  # found at once
    assert max(first[12:]) < 0.5  # known for a quarter of an hour, then faded
    assert m.known_since == m.known_since
    feed(m, noise(144, 10.0, 1.0, seed=3), start=t + 4 * 3600.0, step=300.0)
    assert m.known_since != m.known_since  # over
    again = feed(m, noise(24, 16.0, 1.0, seed=4), start=t + 16 * 3600.0, step=300.0)
    assert max(again[:6]) > 0.8


def test_a_known_departure_that_grows_scores_again_at_each_new_tenth():
    # a drift to 8 sd over a day (5-min readings): found at 0.5 and faded once known, it is
    # news again whenever its score reaches a tenth it had not (0.6, 0.7, ...): whoever
    # thresholds the score higher must still see it, once
    m = ChannelModel()
    feed(m, noise(2 * 288, 10.0, 1.0), start=MONDAY, step=300.0)
    ramp = [v + 8.0 * i / 288 for i, v in enumerate(noise(288, 10.0, 1.0, seed=5))]
    scores = feed(m, ramp, start=MONDAY + 2 * 86400.0, step=300.0)
    found = next(i for i, p in enumerate(scores) if p >= 0.5)
    assert max(scores) >= 0.9
    assert sum(p >= 0.5 for p in scores[found + 6 :]) <= 4  # a reading per tenth, not a run
    assert m.known_tenths == 9


def test_a_stuck_run_fades_once_known():
    m = ChannelModel()
    feed(m, noise(2 * 288, 10.0, 1.0), start=MONDAY, step=300.0)
    stuck = feed(m, [10.3] * 96, start=MONDAY + 2 * 86400.0, step=300.0)
    assert max(stuck[:12]) > 0.5 and max(stuck[-24:]) < 0.5

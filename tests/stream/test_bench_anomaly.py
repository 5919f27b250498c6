"""The anomaly benchmark's scorer and generator (bench/anomaly.py), pinned on hand-made data."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import anomaly  # noqa: E402

H = 3600.0
DAY = anomaly.DAY
S0 = anomaly.START
WINDOW = (S0 + 5 * DAY, S0 + 5 * DAY + 12 * H)


def _alarms(pairs: list[tuple[float, float]], threshold: float = 0.5) -> list[float]:
    return anomaly.alarm_times([t for t, _ in pairs], [s for _, s in pairs], threshold)


# -- alarms ----------------------------------------------------------------------------------


def test_an_alarm_is_a_rising_edge_and_a_held_score_alarms_once():
    pairs = [(0.0, 0.1), (300.0, 0.6), (600.0, 0.9), (7200.0, 0.7), (20000.0, 0.2)]
    assert _alarms(pairs) == [300.0]


def test_a_first_reading_above_threshold_alarms_and_equality_counts():
    assert _alarms([(0.0, 0.5), (300.0, 0.1)]) == [0.0]
    assert _alarms([(0.0, 0.4999), (300.0, 0.1)]) == []


def test_crossings_within_an_hour_of_an_alarm_are_the_same_alarm():
    pairs = [(0.0, 0.9), (300.0, 0.1), (3000.0, 0.9), (3300.0, 0.1), (3900.0, 0.9)]
    # 3000 s is within 1 h of the alarm at 0; 3900 s is not (measured from the alarm)
    assert _alarms(pairs) == [0.0, 3900.0]


def test_threshold_decides_which_edges_exist():
    pairs = [(0.0, 0.1), (300.0, 0.65), (600.0, 0.1), (9000.0, 0.95)]
    assert _alarms(pairs, 0.6) == [300.0, 9000.0]
    assert _alarms(pairs, 0.7) == [9000.0]


# -- windows and false alarms ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("t", "detected"),
    [
        (WINDOW[0], True),
        (WINDOW[1], True),
        (WINDOW[0] - 1.0, False),
        (WINDOW[1] + 1.0, False),
    ],
)
def test_a_window_is_detected_only_by_an_alarm_inside_it(t, detected):
    assert anomaly.score_stream([t], WINDOW).detected is detected


def test_delay_is_the_first_alarm_in_the_window_minus_onset():
    out = anomaly.score_stream([WINDOW[0] + 600.0, WINDOW[0] + 1200.0], WINDOW)
    assert out.delay_s == 600.0
    assert out.false_alarms == 0


@pytest.mark.parametrize(
    ("t", "false"),
    [
        (WINDOW[0] - H, 0),  # widened window starts 1 h before onset
        (WINDOW[0] - H - 1.0, 1),
        (WINDOW[1] + 6 * H, 0),  # ... and ends 6 h after the window
        (WINDOW[1] + 6 * H + 1.0, 1),
        (S0 + 2 * DAY, 1),
    ],
)
def test_false_alarms_fall_outside_the_widened_window(t, false):
    out = anomaly.score_stream([t], WINDOW)
    assert out.false_alarms == false
    assert out.detected is False


def test_day_one_false_alarms_are_counted_apart():
    out = anomaly.score_stream([S0, S0 + DAY - 1.0, S0 + DAY], None)
    assert (out.false_alarms_day1, out.false_alarms) == (2, 1)
    assert out.detected is None and out.reward == 0.0


def test_false_alarm_rate_is_per_stream_day_over_days_2_to_14():
    outcomes = [anomaly.score_stream([S0 + 3 * DAY], None), anomaly.score_stream([], None)]
    assert anomaly.false_alarm_rate(outcomes) == pytest.approx(1 / 26)


# -- the NAB-like score ----------------------------------------------------------------------


def test_perfect_detector_scores_100_and_null_detector_0():
    windows = [WINDOW, (S0 + 8 * DAY, S0 + 8 * DAY + 2 * H)]
    perfect = [anomaly.score_stream([w[0]], w) for w in windows] + [anomaly.score_stream([], None)]
    null = [anomaly.score_stream([], w) for w in windows] + [anomaly.score_stream([], None)]
    assert anomaly.nab_score(perfect) == pytest.approx(100.0)
    assert anomaly.nab_score(null) == pytest.approx(0.0)


def test_reward_decays_with_lateness_and_false_alarms_cost_0_11():
    at_end = anomaly.score_stream([WINDOW[1]], WINDOW)
    assert at_end.detected and at_end.reward == pytest.approx(0.0)
    half = anomaly.score_stream([(WINDOW[0] + WINDOW[1]) / 2], WINDOW).reward
    assert 0.0 < half < anomaly.scaled_sigmoid(-1.0)
    span = anomaly.scaled_sigmoid(-1.0) + 1.0  # perfect - null, per window
    assert anomaly.nab_score([at_end]) == pytest.approx(100.0 / span)
    with_fp = anomaly.score_stream([WINDOW[0], S0 + 2 * DAY], WINDOW)
    assert anomaly.nab_score([with_fp]) == pytest.approx(100.0 - 100.0 * 0.11 / span)


def test_day_one_false_alarms_do_not_cost_in_the_score():
    out = anomaly.score_stream([S0 + H, WINDOW[0]], WINDOW)
    assert anomaly.nab_score([out]) == pytest.approx(100.0)


def test_per_reading_a_score_held_after_the_window_costs_every_reading():
    # detected at onset; then held high from 7 h after the window's end for two hours
    ts = [S0 + 300.0 * k for k in range(anomaly.POINTS)]
    late = WINDOW[1] + 7 * H
    scores = [0.9 if t == WINDOW[0] or late <= t < late + 2 * H else 0.0 for t in ts]
    by_alarm = anomaly.score_stream(anomaly.alarm_times(ts, scores, 0.5), WINDOW)
    every = anomaly.per_reading(by_alarm, ts, scores, 0.5, WINDOW)
    assert (by_alarm.false_alarms, every.false_alarms) == (1, 24)
    assert every.reward == by_alarm.reward
    assert anomaly.nab_score([every]) < anomaly.nab_score([by_alarm])


# -- the generator ---------------------------------------------------------------------------


def test_generator_is_deterministic_and_each_stream_independent_of_the_count():
    one, again = anomaly.make_streams(5, per=1), anomaly.make_streams(5, per=1)
    assert one == again
    assert one != anomaly.make_streams(6, per=1)
    two = anomaly.make_streams(5, per=2)
    assert one == two[::2]
    assert all(len(s.values) == anomaly.POINTS for s in one)


def _stream(family: str, kind: str, i: int = 0) -> anomaly.Stream:
    return anomaly.generate_stream(family, kind, np.random.default_rng([42, i]))


def _onset_index(s: anomaly.Stream) -> int:
    assert s.window is not None
    return round((s.window[0] - S0) / anomaly.STEP)


@pytest.mark.parametrize(
    ("kind", "low", "high"),
    [
        ("spike", 2 * H, 2 * H),
        ("level_shift", 12 * H, 12 * H),
        ("variance_burst", 2 * H, 12 * H),
        ("drift", 12 * H, 12 * H),
        ("flatline", 6 * H, 12 * H),
        ("pattern_break", 12 * H, 12 * H),
    ],
)
def test_label_windows_start_between_day_4_and_12_with_their_documented_length(kind, low, high):
    for i in range(4):
        s = _stream("daily", kind, i)
        assert s.window is not None
        assert 4 * DAY <= s.window[0] - S0 < 12 * DAY
        assert low <= s.window[1] - s.window[0] <= high


def test_spike_sits_exactly_at_the_labelled_onset():
    for i in range(4):
        s = _stream("offset", "spike", i)
        v = np.asarray(s.values)
        dev = np.abs(v - np.median(v))
        k = _onset_index(s)
        # 6-10 sd: larger than any Gaussian reading of 4032 (about 4 sd at most)
        assert int(np.argmax(dev)) in (k, k + 1, k + 2)
        assert dev[k] > 5.0 * float(np.std(v[: k - 1]))


def test_level_shift_starts_at_the_labelled_onset():
    for i in range(4):
        s = _stream("offset", "level_shift", i)
        v = np.asarray(s.values)
        k = _onset_index(s)
        sd = float(np.std(v[:k]))
        assert abs(np.mean(v[k : k + 288]) - np.mean(v[k - 288 : k])) > 1.8 * sd


def test_flatline_repeats_the_reading_before_onset_exactly():
    for i in range(4):
        s = _stream("ar1", "flatline", i)
        assert s.window is not None
        k = _onset_index(s)
        n = round((s.window[1] - s.window[0]) / anomaly.STEP)
        assert len(set(s.values[k - 1 : k + n])) == 1
        assert s.values[k - 2] != s.values[k - 1]


def test_none_streams_have_no_window_and_signs_survive_rescaling():
    assert _stream("weekly", "none").window is None
    assert min(_stream("counts_low", "spike").values) >= 0.0
    assert max(_stream("negative", "drift").values) < 0.0
    assert all(math.isfinite(x) for x in _stream("student_t", "variance_burst").values)


def test_pattern_break_needs_a_seasonal_family():
    with pytest.raises(ValueError, match="pattern_break"):
        _stream("ar1", "pattern_break")


def test_streams_go_through_the_replay_path_as_a_custom_channel():
    s = _stream("counts_high", "none")
    short = anomaly.Stream(s.family, s.kind, s.values[:300], None)
    (scores,) = anomaly.replay_scores([short])
    assert len(scores) == 300
    assert all(0.0 <= x <= 1.0 for x in scores)

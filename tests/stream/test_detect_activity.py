"""Activity context and artifact gating, whichever way the device reports motion."""

from __future__ import annotations

import pickle
import random

import pytest

from alerts.model import Alert
from stream.detect.activity import Activity
from stream.detect.contexts import STILL
from stream.pipeline import Pipeline
from tests.stream.detect_synth import T0, Mod, Person, exercise, ramp, samples

DAY = 1440


def day_of_motion(seed: int = 0, minutes: int = 2 * DAY) -> list[tuple[float, float]]:
    """(ts, motion) once a minute: still at night, light movement by day, a workout, a glitch."""
    rng = random.Random(seed)
    out = []
    for m in range(minutes):
        hour = (m / 60.0) % 24.0
        if hour >= 23.0 or hour < 7.0:
            motion = 0.012 + abs(rng.gauss(0.0, 0.004))
        elif 17.0 <= hour < 18.0:
            motion = 1.4 + rng.gauss(0.0, 0.2)
        else:
            motion = 0.08 * pow(2.718, rng.gauss(0.0, 0.4))
        out.append((60.0 * m, round(motion, 3)))
    return out


def contexts(motions: list[tuple[float, float]], offset: float) -> list[tuple[int, bool]]:
    a = Activity()
    return [a.update(max(0.0, m + offset), 0.95, ts) for ts, m in motions]


@pytest.mark.parametrize("offset", [1.0, 0.98, 1.03, 0.04])
def test_a_device_reporting_gravity_or_a_bias_is_read_as_a_calibrated_one(offset):
    motions = day_of_motion()
    calibrated = contexts(motions, 0.0)
    offset_device = contexts(motions, offset)
    # the floor needs a night's minima: a small bias is removed once it rests on 18 hours'
    # (an awake wearer's quietest minutes look like one), gravity from the first reading
    settled = (6 if offset > 0.3 else 18) * 60
    same = sum(a == b for a, b in zip(calibrated[settled:], offset_device[settled:], strict=True))
    assert same / (len(motions) - settled) >= 0.97


def test_raw_magnitude_is_not_one_long_burst_from_the_first_reading():
    # uncorrected, every reading of ~1 g would be a burst of motion: nothing reliable at all
    a = Activity()
    out = [a.update(1.0 + 0.01 * (i % 3), 0.95, 60.0 * i) for i in range(30)]
    assert all(reliable for _, reliable in out)


def test_a_glitch_reading_of_zero_does_not_move_the_floor():
    motions = day_of_motion()
    glitched = [(ts, 0.0 if i in (600, 1800) else m) for i, (ts, m) in enumerate(motions)]
    a, b = Activity(), Activity()
    ref = [a.update(1.0 + m, 0.95, ts) for ts, m in motions]
    out = [b.update(1.0 + m if m else 0.0, 0.95, ts) for ts, m in glitched]
    assert sum(x != y for x, y in zip(ref, out, strict=True)) <= 30


def test_a_calibrated_device_is_not_corrected_once_it_has_had_a_night():
    a = Activity()
    for ts, m in day_of_motion(minutes=DAY):
        a.update(m, 0.95, ts)
    assert a.floor[0] == 0.0


def test_state_saved_before_the_floor_existed_restores():
    a = Activity()
    for ts, m in day_of_motion(minutes=120):
        a.update(m, 0.95, ts)
    old = a.__getstate__()[:-7]  # (the floor; the typical motion, still bound, hours, steps after)
    b = Activity.__new__(Activity)
    b.__setstate__(old)
    assert b.floor == []
    assert b.update(0.1, 0.95, 7200.0) == a.update(0.1, 0.95, 7200.0)
    assert pickle.loads(pickle.dumps(a)).floor == a.floor  # noqa: S301 - our own bytes


def test_state_saved_before_the_typical_motion_existed_restores():
    a = Activity()
    for ts, m in day_of_motion(minutes=600):
        a.update(m, 0.95, ts)
    b = Activity.__new__(Activity)
    b.__setstate__(a.__getstate__()[:-6])
    assert b.typical == [0.0, 0.0, 1.0, 1.0, 0.0]  # the bounds as given, until it has learned
    assert b.still_at == b.still_below
    assert b.floor == a.floor
    assert b.update(0.06, 0.95, 36000.0) == a.update(0.06, 0.95, 36000.0)
    for i in range(1, 31):  # and it learns again
        b.update(0.06, 0.95, 36000.0 + 60.0 * i)
    assert b.typical[1] == 31.0 and b.typical[3] == pytest.approx(0.75)
    assert pickle.loads(pickle.dumps(a)).typical == a.typical  # noqa: S301 - our own bytes


def scaled(motions: list[tuple[float, float]], k: float) -> list[tuple[float, float]]:
    return [(ts, round(m * k, 4)) for ts, m in motions]


def workout(motions: list[tuple[float, float]], activity: Activity) -> list[bool]:
    """Reliability of each minute of the second day's workout (17:00-18:00)."""
    out = []
    for ts, m in motions:
        _, reliable = activity.update(m, 0.95, ts)
        if DAY + 17 * 60 <= ts / 60.0 < DAY + 18 * 60:
            out.append(reliable)
    return out


@pytest.mark.parametrize("k", [1.0, 0.5, 0.3])
def test_a_workout_is_exertion_on_a_device_that_reads_motion_lower(k):
    # a workout at 1.4 g on a wearer typically at 0.08 g, read by a device at k times the scale
    base = workout(day_of_motion(), Activity())
    assert sum(base) <= 5  # exertion: its vitals are not read
    out = workout(scaled(day_of_motion(), k), Activity())
    assert sum(out) <= sum(base) + 2


@pytest.mark.parametrize("k", [1.0, 0.3, 2.0])
def test_a_walk_at_twice_the_usual_motion_is_busier_on_any_device_scale(k):
    # days of light movement (typically 0.08 g) read at k times the scale, then ten minutes
    # at twice that: busier from a few minutes in, not before. (At x2 the first night reads
    # above the still bound and counts as awake until the floor is trusted: on the first day
    # the typical motion is low, and ordinary movement is often busier.)
    a = Activity()
    day = scaled(day_of_motion(minutes=2 * DAY + 10 * 60), k)  # (ends at 10:00, awake)
    busy = [(a.update(m, 0.95, ts), a.busier())[1] for ts, m in day]
    assert not any(busy[-60:])
    t = day[-1][0]
    walk = [(a.update(0.16 * k, 0.95, t + 60.0 * i), a.busier())[1] for i in range(1, 11)]
    assert walk[-1] and not walk[0]


def test_a_device_that_reads_lower_has_its_bounds_scaled_from_the_typical_motion():
    a, b = Activity(), Activity()
    for ts, m in day_of_motion(minutes=DAY):
        a.update(m, 0.95, ts)
    for ts, m in scaled(day_of_motion(minutes=DAY), 0.4):
        b.update(m, 0.95, ts)
    burst_a, active_a = a.typical[2:4]
    burst_b, active_b = b.typical[2:4]
    # typical about 0.08 g: the active bound nearly as given, the burst bound lower
    assert active_a > 0.9 and 0.55 < burst_a < 0.75
    # (a little higher: the device's quietest awake readings now count as still)
    assert 0.4 * burst_a <= burst_b < 0.5 * burst_a
    assert 0.4 * active_a <= active_b < 0.5 * active_a


def with_gravity(m: int, v: dict[str, float | None]) -> None:
    if v["motion"] is not None:
        v["motion"] = round(1.0 + v["motion"], 3)


def clinical(mods: tuple[Mod, ...], minutes: int) -> list[Alert]:
    pipe = Pipeline()
    out: list[Alert] = []
    for s in samples(Person(seed=21), minutes, mods=mods):
        out.extend(a for a in pipe.process(s).alerts if a.category == "clinical")
    return out


def test_a_raw_magnitude_device_alerts_as_a_calibrated_one():
    onset = 2 * DAY + 300
    mods = (exercise(DAY + 600, 45), ramp("hr", onset, 20, 140.0, onset + 120))
    calibrated = clinical(mods, 2 * DAY + 480)
    gravity = clinical((*mods, with_gravity), 2 * DAY + 480)
    assert {a.kind for a in calibrated} == {"tachycardia"}
    assert [(a.kind, a.status, a.detected_at) for a in gravity] == [
        (a.kind, a.status, a.detected_at) for a in calibrated
    ]


def read_at(k: float) -> Mod:
    """A device that reads motion at ``k`` times the scale (applied after the other mods)."""

    def mod(m: int, v: dict[str, float | None]) -> None:
        if v["motion"] is not None:
            v["motion"] = round(v["motion"] * k, 3)

    return mod


def test_workouts_on_a_device_that_reads_motion_lower_are_not_tachycardias():
    # daily workouts at HR 160; read at 0.4 of the scale the workout is 0.56 g, under the
    # burst bound as given (0.8 g): without the typical motion each was a tachycardia
    onset = 3 * DAY + 300
    mods = (
        exercise(DAY + 600, 45),
        exercise(2 * DAY + 600, 60),
        exercise(3 * DAY + 1000, 30),
        ramp("hr", onset, 20, 140.0, onset + 120),
    )
    calibrated = clinical(mods, 3 * DAY + 1100)
    lower = clinical((*mods, read_at(0.4)), 3 * DAY + 1100)
    assert {a.kind for a in calibrated} == {"tachycardia"}
    assert [(a.kind, a.status) for a in lower] == [(a.kind, a.status) for a in calibrated]
    assert all(a.detected_at >= T0 + 60.0 * onset for a in lower)
    assert abs(lower[0].detected_at - calibrated[0].detected_at) <= 300.0


def after_day_one(motions: list[tuple[float, float]], from_h: int, to_h: int) -> list[int]:
    """Indices of the readings after the first day between ``from_h`` and ``to_h`` o'clock."""
    return [
        i
        for i, (ts, _) in enumerate(motions)
        if ts > DAY * 60 and from_h <= ts % 86400 / 3600 < to_h
    ]


def test_a_device_whose_quietest_readings_are_higher_still_sees_sleep():
    # read at twice the scale, a night is 0.024-0.04 g: all above the still bound as given
    motions = day_of_motion()
    ref = contexts(motions, 0.0)
    a = Activity()
    doubled = [a.update(2.0 * m, 0.95, ts) for ts, m in motions]
    nights = after_day_one(motions, 0, 7)
    assert all(ref[i][0] == STILL for i in nights[30:])
    assert sum(doubled[i][0] == STILL for i in nights) >= 0.95 * len(nights)
    assert 0.035 < a.still_at < 0.06


def test_a_device_that_reads_lower_does_not_make_a_wearer_awake_still():
    # read at 0.3 of the scale, a wearer awake reads 0.01-0.05 g, some of it under the still
    # bound as given: 59 of 480 daytime minutes were still, judged by the sleeping normal
    motions = day_of_motion()
    a = Activity()
    lower = [a.update(0.3 * m, 0.95, ts) for ts, m in motions]
    days = after_day_one(motions, 9, 17)
    assert sum(lower[i][0] == STILL for i in days) <= 0.01 * len(days)
    nights = after_day_one(motions, 0, 7)
    assert sum(lower[i][0] == STILL for i in nights) >= 0.95 * len(nights)


def test_a_wearer_who_starts_awake_is_not_taken_for_still():
    # monitoring begins at 09:00: the first hours' quietest minutes (0.02-0.06 g) are no
    # sensor offset; removed as one, sitting awake read as still and the still baseline
    # learned waking values, from which every night then departed
    motions = day_of_motion(minutes=3 * DAY)[9 * 60 :]
    a = Activity()
    out = [a.update(m, 0.95, ts) for ts, m in motions]
    day1 = [i for i, (ts, _) in enumerate(motions) if ts < 23 * 3600]
    assert not any(out[i][0] == STILL for i in day1)
    assert a.floor[0] == 0.0


def shifted(motions: list[tuple[float, float]], hours: int) -> list[tuple[float, float]]:
    """The same days of motion, ``hours`` later on the clock (another time zone, a shift)."""
    return [(ts + 3600.0 * hours, m) for ts, m in motions]


def test_waking_hours_are_the_wearers_own():
    # asleep 23:00-07:00, then the same days ten hours later (a night shift: 09:00-17:00)
    for hours, awake, asleep in ((0, (9, 13, 21), (23, 3, 7)), (10, (19, 23, 7), (9, 13, 17))):
        a = Activity()
        for ts, m in shifted(day_of_motion(minutes=3 * DAY), hours):
            a.update(m, 0.95, ts)
        day = 3 * 86400.0
        assert all(a.waking_hour(day + 3600.0 * h + 1800.0) for h in awake)
        assert not any(a.waking_hour(day + 3600.0 * h + 1800.0) for h in asleep)


def test_no_hour_is_a_waking_hour_until_learned_but_the_one_being_lived_awake():
    a = Activity()
    for ts, m in day_of_motion(minutes=540):  # the first night and two hours awake
        a.update(m, 0.95, ts)
    assert not any(a.waking_hour(3600.0 * h + 1800.0) for h in range(24))  # 06:00 was asleep
    for ts, m in day_of_motion(minutes=600)[540:]:  # a third hour awake
        a.update(m, 0.95, ts)
    # 07:00 and 08:00 were awake, and 09:00 is so far: that hour, while it is being lived
    assert [h for h in range(24) if a.waking_hour(3600.0 * h + 1800.0)] == [9]
    assert not a.waking_hour(DAY * 60.0 + 9 * 3600.0 + 1800.0)  # not the same hour tomorrow
    b = Activity()
    for ts, m in day_of_motion(minutes=600)[:569]:  # the hour being lived is still so far
        b.update(0.01 if ts >= 9 * 3600.0 else m, 0.95, ts)
    assert not b.waking_hour(9 * 3600.0 + 1800.0)
    b = Activity()  # a device without a motion channel
    for ts, _ in day_of_motion():
        b.update(None, 0.95, ts)
    assert not any(b.waking_hour(3600.0 * h) for h in range(24))


def test_state_saved_before_the_hours_existed_restores():
    a = Activity()
    for ts, m in day_of_motion():
        a.update(m, 0.95, ts)
    assert a.waking_hour(DAY * 60.0 + 12 * 3600.0)
    b = Activity.__new__(Activity)
    b.__setstate__(a.__getstate__()[:-4])
    assert b.floor == a.floor and b.typical == a.typical and b.still_at == a.still_at
    assert not b.waking_hour(DAY * 60.0 + 12 * 3600.0)  # none learned yet
    assert b.update(0.06, 0.95, 2 * DAY * 60.0) == a.update(0.06, 0.95, 2 * DAY * 60.0)
    assert pickle.loads(pickle.dumps(a)).hours == a.hours  # noqa: S301 - our own bytes


def test_state_saved_before_the_steps_up_existed_restores():
    a = Activity()
    for ts, m in day_of_motion():
        a.update(m, 0.95, ts)
    b = Activity.__new__(Activity)
    b.__setstate__(a.__getstate__()[:-3])
    assert b.hours == a.hours and b.typical == a.typical
    assert b.stepping_since() is None
    assert b.update(0.3, 0.95, 2 * DAY * 60.0) == a.update(0.3, 0.95, 2 * DAY * 60.0)
    assert b.stepping_since() == a.stepping_since() == 2 * DAY * 60.0


def _settled(motion: float = 0.08) -> Activity:
    """An hour awake at ``motion``: the typical awake motion learned."""
    a = Activity()
    for i in range(60):
        a.update(motion, 0.95, 60.0 * i)
    return a


def _steps(a: Activity, motions: tuple[float, ...], start: float = 3600.0) -> list[float | None]:
    """``stepping_since()`` after each of ``motions``, a minute apart from ``start``."""
    out = []
    for i, m in enumerate(motions):
        a.update(m, 0.95, start + 60.0 * i)
        out.append(a.stepping_since())
    return out


def test_a_spell_of_steps_up_begins_at_its_first_step_and_lasts_while_they_come():
    # a walk of a few minutes at 2.5 times the usual, then sitting down: the spell lasts 5 min
    # after the last step up
    walk, sit = (0.2, 0.2, 0.2), (0.08,) * 8
    assert _steps(_settled(), walk + sit) == [3600.0] * 8 + [None] * 3
    a = _settled()
    _steps(a, walk + sit)
    assert _steps(a, (0.2,), start=3600.0 + 60.0 * 11) == [3600.0 + 60.0 * 11]  # a new one


@pytest.mark.parametrize(
    ("motions", "stepped"),
    [((0.15, 0.08), False), ((0.15, 0.15), True), ((0.19,), True), ((1.4, 0.08), True)],
    ids=["a-gesture", "two-readings-at-1.9-times", "one-at-2.4-times", "a-burst"],
)
def test_a_step_up_is_well_above_the_usual_motion_for_a_minute_or_two(motions, stepped):
    # or a burst of motion (a flight of stairs), which the quick average leaves out
    steps = _steps(_settled(), motions)
    assert (steps[-1] is not None) is stepped


def test_steps_up_are_on_the_wearers_own_scale():
    # a device reading half the scale: 0.1 g against a usual 0.04 is a step up
    assert _steps(_settled(0.04), (0.1,)) == [3600.0]


def test_no_step_up_before_the_usual_motion_is_known():
    a = Activity()
    a.update(0.08, 0.95, 0.0)
    assert _steps(a, (0.5, 0.5), start=60.0) == [None, None]

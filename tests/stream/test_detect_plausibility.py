"""Step plausibility: jumps no body makes are suspects until the new level holds."""

from __future__ import annotations

import pickle

import pytest

from alerts.model import Alert
from ingest.sample import Sample
from stream.detect import plausibility
from stream.detect.monitor import PatientMonitor
from stream.detect.plausibility import CONFIRM_CLEAN_S, CONFIRM_S, NEAR_S, StepGate
from stream.detect.vitals import MAX_STEP
from stream.pipeline import Pipeline
from tests.stream.detect_synth import T0, Mod, Person, ramp, samples

DAY = 1440


class Reader:
    """A caller of the gate: keeps the last plausible reading, as the monitor does."""

    def __init__(self, gate: StepGate | None = None) -> None:
        self.gate = gate or StepGate()
        self.last: dict[str, tuple[float, float]] = {}

    def __call__(self, vital: str, x: float, ts: float, clean: bool = False) -> bool:
        last, last_ts = self.last.get(vital, (None, float("nan")))
        ok = self.gate.check(vital, x, ts, last, last_ts, clean)
        if ok:
            self.last[vital] = (x, ts)
        return ok


def run(
    reader: Reader,
    vital: str,
    values: list[float],
    *,
    every: float = 60.0,
    clean: list[bool] | None = None,
) -> list[bool]:
    flags = clean or [False] * len(values)
    return [reader(vital, x, every * i, flags[i]) for i, x in enumerate(values)]


def test_ordinary_noise_and_a_steep_clinical_ramp_pass():
    # a tachycardia ramp at its steepest: 12 bpm a minute, plus noise
    assert all(run(Reader(), "hr", [70, 74, 69, 81, 93, 105, 117, 129, 135, 133]))


@pytest.mark.parametrize(("vital", "usual", "false"), [
    ("hr", 68.0, 185.0), ("hr", 68.0, 32.0), ("spo2", 96.0, 78.0), ("spo2", 97.0, 88.0),
])  # fmt: skip
def test_an_artifact_of_up_to_five_minutes_is_suspect_throughout(vital, usual, false):
    for minutes in range(1, 6):
        out = run(Reader(), vital, [usual] * 5 + [false] * minutes + [usual] * 3)
        assert out == [True] * 5 + [False] * minutes + [True] * 3


def test_a_new_level_that_holds_is_believed_after_confirm_s():
    out = run(Reader(), "hr", [70.0] * 3 + [150.0, 152.0, 149.0, 151.0, 150.0, 148.0, 150.0])
    believed = [i for i, ok in enumerate(out) if ok and i >= 3]
    assert believed == [9]  # the first reading >= CONFIRM_S after the jump
    assert 60.0 * (9 - 3) >= CONFIRM_S > 60.0 * (8 - 3)


def test_a_new_level_read_clean_throughout_is_believed_after_confirm_clean_s():
    values = [70.0] * 3 + [150.0, 152.0, 149.0, 151.0, 150.0, 148.0, 150.0]
    out = run(Reader(), "hr", values, clean=[True] * len(values))
    assert [i for i, ok in enumerate(out) if ok and i >= 3][0] == 6
    assert 60.0 * (6 - 3) >= CONFIRM_CLEAN_S > 60.0 * (5 - 3)


@pytest.mark.parametrize("dirty", [3, 5, 6])
def test_one_reading_that_is_not_clean_makes_the_level_wait_confirm_s(dirty):
    values = [70.0] * 3 + [150.0, 152.0, 149.0, 151.0, 150.0, 148.0, 150.0]
    clean = [True] * len(values)
    clean[dirty] = False
    out = run(Reader(), "hr", values, clean=clean)
    assert [i for i, ok in enumerate(out) if ok and i >= 3] == [9]


def test_a_clean_level_that_disagrees_starts_again_and_a_clean_artifact_is_still_held():
    # two minutes of a clean artifact are still suspect, and a level that jumps about never
    # holds, however clean
    clean = [True] * 12
    out = run(Reader(), "hr", [70.0] * 3 + [185.0, 186.0] + [71.0] * 2 + [70.0] * 5, clean=clean)
    assert out == [True] * 3 + [False] * 2 + [True] * 7
    out = run(Reader(), "hr", [70.0] * 3 + [185.0, 35.0, 190.0, 30.0, 180.0, 40.0, 185.0, 72.0],
              clean=[True] * 11)  # fmt: skip
    assert out == [True] * 3 + [False] * 7 + [True]


def test_a_candidate_level_saved_before_the_clean_flag_waits_confirm_s():
    read = Reader()
    run(read, "hr", [70.0, 70.0, 150.0], clean=[True] * 3)
    read.gate.state["hr"] = read.gate.state["hr"][:3]  # as saved by an earlier release
    assert [read("hr", 150.0, 60.0 * i, True) for i in range(3, 10)] == [False] * 5 + [True] * 2


def test_suspects_that_disagree_restart_the_candidate_level():
    # artifacts jumping about are not a level
    out = run(Reader(), "hr", [70.0] * 3 + [185.0, 35.0, 190.0, 30.0, 180.0, 40.0, 185.0, 72.0])
    assert out == [True] * 3 + [False] * 7 + [True]


def test_sparse_sampling_and_gaps_are_not_gated():
    # every 5 minutes the allowed step is five times larger
    assert all(run(Reader(), "hr", [70.0, 120.0, 170.0], every=300.0))
    read = Reader()
    assert read("hr", 70.0, 0.0)
    assert read("hr", 160.0, NEAR_S + 1.0)  # after a charging gap: a fresh start
    assert StepGate().check("hr", 160.0, 0.0, None)  # nothing plausible to compare with


def test_a_missed_reading_does_not_let_an_artifact_through():
    # the allowance follows the sampling interval, not the time spent among suspects
    out = run(Reader(), "hr", [68.0, 68.0, 31.0, 40.0, 32.0, 32.0, 69.0])
    assert out == [True, True, False, False, False, False, True]


def test_vitals_without_a_step_bound_are_never_gated():
    assert set(MAX_STEP) == {"hr", "spo2"}  # the optical channels motion corrupts
    assert all(run(Reader(), "sbp", [120.0, 60.0, 200.0]))
    assert all(run(Reader(), "steps", [0.0, 5000.0, 0.0]))


def test_state_pickles_and_restores_mid_run():
    read = Reader()
    run(read, "hr", [70.0, 70.0, 150.0, 150.0])
    assert read.gate.state  # a candidate level is pending
    clone = Reader(pickle.loads(pickle.dumps(read.gate)))  # noqa: S301 - our own bytes
    clone.last = dict(read.last)
    ts = [240.0, 300.0, 360.0, 420.0, 480.0]
    assert [read("hr", 150.0, t) for t in ts] == [clone("hr", 150.0, t) for t in ts]
    assert read.gate.state == {}  # believed: nothing pending


# -- in the monitor ----------------------------------------------------------------------------


def no_signal_quality(m: int, v: dict[str, float | None]) -> None:
    """A device that reports neither quality nor motion."""
    v["quality"] = None
    v["motion"] = None


def false_readings(start: int, minutes: int, vital: str, value: float) -> Mod:
    def mod(m: int, v: dict[str, float | None]) -> None:
        if start <= m < start + minutes:
            v[vital] = value

    return mod


def clinical(mods: tuple[Mod, ...], minutes: int) -> list[Alert]:
    pipe = Pipeline()
    out: list[Alert] = []
    for s in samples(Person(seed=11), minutes, mods=(no_signal_quality, *mods)):
        out.extend(a for a in pipe.process(s).alerts if a.category == "clinical")
    return out


def test_artifacts_are_caught_by_shape_alone_when_the_device_reports_no_quality():
    mods = (
        false_readings(DAY + 100, 5, "hr", 185.0),
        false_readings(DAY + 300, 3, "hr", 33.0),
        false_readings(DAY + 500, 4, "spo2", 79.0),
        false_readings(DAY + 700, 1, "hr", 190.0),
    )
    assert clinical(mods, 2 * DAY) == []


def test_a_true_abrupt_change_still_alerts_soon_after_it_holds():
    alerts = clinical((false_readings(DAY + 100, 60, "hr", 165.0),), DAY + 200)
    assert [a.kind for a in alerts][:1] == ["tachycardia"]
    delay = (alerts[0].detected_at - T0) / 60.0 - (DAY + 100)
    assert CONFIRM_S / 60.0 <= delay <= CONFIRM_S / 60.0 + 3.0


def abrupt_tachycardia_delay(mods: tuple[Mod, ...]) -> float:
    """Minutes from an abrupt jump to HR 165 at rest (a day in) to its alert."""
    pipe = Pipeline()
    onset = DAY + 100
    for s in samples(
        Person(seed=11), DAY + 200, mods=(*mods, false_readings(onset, 60, "hr", 165.0))
    ):
        found = [a for a in pipe.process(s).alerts if a.category == "clinical"]
        if found:
            assert found[0].kind == "tachycardia"
            return (found[0].detected_at - T0) / 60.0 - onset
    raise AssertionError("no alert")


def test_an_abrupt_change_read_clean_alerts_sooner_than_one_the_device_cannot_vouch_for():
    clean = abrupt_tachycardia_delay(())  # quality 0.95 at rest, as the device reports it
    unvouched = abrupt_tachycardia_delay((no_signal_quality,))
    assert CONFIRM_CLEAN_S / 60.0 <= clean <= CONFIRM_CLEAN_S / 60.0 + 3.0
    assert CONFIRM_S / 60.0 <= unvouched <= CONFIRM_S / 60.0 + 3.0


def test_a_ramp_is_not_slowed_by_the_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    onset = DAY + 100
    mods = (ramp("hr", onset, 20, 140.0, onset + 120),)
    gated = clinical(mods, DAY + 240)
    monkeypatch.setattr(plausibility, "MAX_STEP", {})  # no vital has a step bound
    ungated = clinical(mods, DAY + 240)
    assert {a.kind for a in gated} == {"tachycardia"}
    assert [(a.status, a.detected_at) for a in gated] == [
        (a.status, a.detected_at) for a in ungated
    ]


def test_a_monitor_pickled_before_the_gate_existed_restores():
    mon = PatientMonitor("p1")
    for i in range(30):
        mon.observe(Sample("p1", "d1", T0 + 60.0 * i, hr=70.0, spo2=97.0))
    old = mon.__getstate__()[:-3]  # the state tuple as released before the gate
    restored = PatientMonitor.__new__(PatientMonitor)
    restored.__setstate__(old)
    assert isinstance(restored.gate, StepGate)
    _, found = restored.observe(Sample("p1", "d1", T0 + 1800.0, hr=71.0, spo2=97.0))
    assert found == []

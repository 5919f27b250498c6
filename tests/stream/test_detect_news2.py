"""NEWS2 (RCP 2017) sub-scores and response bands, at every chart boundary."""

from __future__ import annotations

import pytest

from stream.detect.news2 import (
    news2,
    response_level,
    score_hr,
    score_rr,
    score_sbp,
    score_spo2,
    score_temp,
)


@pytest.mark.parametrize(
    ("rr", "points"),
    [(5, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (40, 3)],
)
def test_respiration_rate_bands(rr, points):
    assert score_rr(rr) == points


@pytest.mark.parametrize(
    ("spo2", "points"), [(85, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
)
def test_spo2_scale_1_bands(spo2, points):
    assert score_spo2(spo2) == points


@pytest.mark.parametrize(
    ("spo2", "on_oxygen", "points"),
    [(83, False, 3), (84, False, 2), (85, False, 2), (86, False, 1), (87, False, 1),
     (88, False, 0), (92, False, 0), (97, False, 0), (93, True, 1), (94, True, 1),
     (95, True, 2), (96, True, 2), (97, True, 3), (90, True, 0)],
)  # fmt: skip
def test_spo2_scale_2_bands_depend_on_oxygen_above_target(spo2, on_oxygen, points):
    assert score_spo2(spo2, scale=2, on_oxygen=on_oxygen) == points


@pytest.mark.parametrize(
    ("sbp", "points"),
    [(70, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3)],
)
def test_systolic_bp_bands(sbp, points):
    assert score_sbp(sbp) == points


@pytest.mark.parametrize(
    ("hr", "points"),
    [(35, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2),
     (130, 2), (131, 3)],
)  # fmt: skip
def test_pulse_bands(hr, points):
    assert score_hr(hr) == points


@pytest.mark.parametrize(
    ("temp", "points"),
    [(34.0, 3), (35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1),
     (39.1, 2), (41.0, 2)],
)  # fmt: skip
def test_temperature_bands(temp, points):
    assert score_temp(temp) == points


def test_missing_parameters_score_zero_and_are_reported():
    r = news2(hr=72)
    assert r.total == 0 and set(r.missing) == {"rr", "spo2", "sbp", "temp"}


def test_oxygen_and_new_confusion_add_two_and_three():
    r = news2(hr=72, spo2=97, rr=14, sbp=120, temp=36.8, on_oxygen=True, consciousness="C")
    assert r.subscores["oxygen"] == 2 and r.subscores["consciousness"] == 3
    assert r.total == 5 and r.response == "medium"


@pytest.mark.parametrize(
    ("total", "single", "band"),
    [(0, 0, "none"), (1, 1, "low"), (4, 2, "low"), (3, 3, "low-medium"), (5, 2, "medium"),
     (6, 3, "medium"), (7, 2, "emergency"), (12, 3, "emergency")],
)  # fmt: skip
def test_response_bands(total, single, band):
    assert response_level(total, single) == band


def test_copd_patient_on_scale_2_at_target_scores_nothing_for_spo2():
    assert news2(spo2=89, spo2_scale=2).subscores["spo2"] == 0
    assert news2(spo2=89).subscores["spo2"] == 3

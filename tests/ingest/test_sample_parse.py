"""The sample contract: what parse_sample accepts, what it rejects and why."""

from __future__ import annotations

import math
import pickle

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.exceptions import IngestError, SampleRejected
from ingest.sample import (
    MAX_CUSTOM_CHANNELS,
    RANGES,
    REASON_CODES,
    Sample,
    coerce_text_fields,
    format_ts,
    parse_json_sample,
    parse_sample,
    parse_ts,
)
from vigil.exceptions import VigilError

TS = 1_709_280_000.0  # 2024-03-01T08:00:00Z


def parse(raw: dict[str, object], **kw: object) -> Sample:
    return parse_sample(raw, patient_id="p1", device_id="d1", **kw)  # type: ignore[arg-type]


def reason(raw: object, **kw: object) -> str:
    with pytest.raises(SampleRejected) as info:
        parse_sample(raw, patient_id="p1", device_id="d1", **kw)  # type: ignore[arg-type]
    assert info.value.reason_code in REASON_CODES
    return info.value.reason_code


def test_a_full_sample_is_parsed_into_floats_with_utc_epoch_time():
    s = parse({"ts": "2024-03-01T08:00:00Z", "hr": 72, "spo2": 97, "rr": 14, "temp": 36.8,
               "sbp": 120, "dbp": 80, "glucose": 95, "motion": 0.1, "quality": 0.9})  # fmt: skip
    assert s.ts == TS
    assert (s.hr, s.spo2, s.rr, s.temp, s.sbp, s.dbp) == (72.0, 97.0, 14.0, 36.8, 120.0, 80.0)
    assert isinstance(s.hr, float) and s.custom == {}


@pytest.mark.parametrize(
    "ts",
    [TS, int(TS), "1709280000", "2024-03-01T08:00:00Z", "2024-03-01T09:00:00+01:00",
     "2024-03-01T08:00:00", "2024-03-01T08:00:00.000Z"],
)  # fmt: skip
def test_ts_accepts_iso_8601_and_epoch_seconds_naive_means_utc(ts):
    assert parse({"ts": ts, "hr": 70}).ts == TS


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ({"hr": 70}, "missing_ts"),
        ({"ts": None, "hr": 70}, "missing_ts"),
        ({"ts": "yesterday", "hr": 70}, "bad_ts"),
        ({"ts": 12.0, "hr": 70}, "bad_ts"),
        ({"ts": 1e13, "hr": 70}, "bad_ts"),
        ({"ts": [TS], "hr": 70}, "bad_ts"),
        ({"ts": TS, "hr": "72"}, "wrong_type"),
        ({"ts": TS, "hr": True}, "wrong_type"),
        ({"ts": TS, "steps": False}, "wrong_type"),
        ({"ts": TS, "hr": math.nan}, "not_finite"),
        ({"ts": TS, "hrv": math.inf}, "not_finite"),
        ({"ts": TS, "hr": 301}, "out_of_range"),
        ({"ts": TS, "hr": 19.9}, "out_of_range"),
        ({"ts": TS, "spo2": 101}, "out_of_range"),
        ({"ts": TS, "temp": 5.0}, "out_of_range"),
        ({"ts": TS, "rr": -3}, "out_of_range"),
        ({"ts": TS, "quality": 1.5, "hr": 70}, "out_of_range"),
        ({"ts": TS, "sbp": 80, "dbp": 90}, "inconsistent_bp"),
        ({"ts": TS, "HeartRate": 70}, "bad_channel_name"),
        ({"ts": TS, "a" * 33: 1.0}, "bad_channel_name"),
        ({"ts": TS, "custom": {"hr": 1.0}}, "bad_channel_name"),
        ({"ts": TS, "load": 1.0, "custom": {"load": 2.0}}, "bad_channel_name"),  # which one?
        ({"ts": TS, "custom": [1.0]}, "wrong_type"),
        ({"ts": TS, "motion": 0.2, "quality": 0.9}, "no_vitals"),
        ({"ts": TS, "firmware": "1.2"}, "no_vitals"),
    ],
)
def test_invalid_samples_are_rejected_with_a_stable_reason(raw, code):
    assert reason(raw) == code


def test_a_non_mapping_and_missing_ids_are_rejected():
    assert reason([1, 2]) == "not_an_object"
    with pytest.raises(SampleRejected) as info:
        parse_sample({"ts": TS, "hr": 70}, patient_id="", device_id="d1")
    assert info.value.reason_code == "bad_id"


def test_a_ts_in_epoch_milliseconds_is_refused_with_a_hint_saying_so():
    for ts in (TS * 1000, str(int(TS * 1000))):
        with pytest.raises(SampleRejected) as info:
            parse({"ts": ts, "hr": 70})
        assert info.value.reason_code == "bad_ts" and "milliseconds" in info.value.detail
    with pytest.raises(SampleRejected) as info:
        parse({"ts": 1e6, "hr": 70})
    assert "milliseconds" not in info.value.detail


def test_ts_more_than_five_minutes_after_receipt_is_in_the_future():
    assert parse({"ts": TS + 299, "hr": 70}, received_at=TS).ts == TS + 299
    assert reason({"ts": TS + 301, "hr": 70}, received_at=TS) == "ts_in_future"
    assert parse({"ts": TS - 86400, "hr": 70}, received_at=TS).ts == TS - 86400  # late is fine


def test_custom_channels_top_level_or_nested_are_collected_in_name_order():
    s = parse({"ts": TS, "zeta": 1, "alpha_2": 2.5, "custom": {"m": -1.0}, "fw": "v1"})
    assert s.custom == {"alpha_2": 2.5, "m": -1.0, "zeta": 1.0}
    assert list(s.custom) == sorted(s.custom)


def test_at_most_sixteen_custom_channels():
    raw: dict[str, object] = {"ts": TS}
    raw.update({f"c{i}": float(i) for i in range(MAX_CUSTOM_CHANNELS)})
    assert len(parse(raw).custom) == MAX_CUSTOM_CHANNELS
    raw["c99"] = 1.0
    assert reason(raw) == "too_many_channels"


def test_custom_channels_only_need_to_be_finite():
    assert parse({"ts": TS, "load": -1e9}).custom == {"load": -1e9}


def test_ids_in_the_payload_are_ignored_in_favour_of_the_caller():
    s = parse_sample({"ts": TS, "hr": 70, "patient_id": "mallory"}, patient_id="p1",
                     device_id="d1")  # fmt: skip
    assert s.patient_id == "p1"


def test_every_range_bound_is_inclusive():
    for field, (lo, hi) in RANGES.items():
        if field in ("motion", "quality"):
            continue
        if field == "dbp":
            assert parse({"ts": TS, "dbp": lo}).dbp == lo
            continue
        assert getattr(parse({"ts": TS, field: lo}), field) == lo
        assert getattr(parse({"ts": TS, field: hi}), field) == hi


def test_rejection_is_a_vigil_error_and_pickles():
    err = SampleRejected("out_of_range", "hr=400")
    assert isinstance(err, IngestError) and isinstance(err, VigilError)
    again = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes
    assert (again.reason_code, again.detail) == ("out_of_range", "hr=400")


def test_csv_rows_are_coerced_to_numbers_and_nulls():
    row = coerce_text_fields({"ts": "2024-03-01T08:00:00Z", "hr": "71", "spo2": "", "fw": "x"})
    assert parse(row).hr == 71.0 and parse(row).spo2 is None


vital = st.floats(min_value=20, max_value=300, allow_nan=False)


@given(
    ts=st.floats(min_value=946_684_800, max_value=4_102_444_000, allow_nan=False),
    hr=vital,
    custom=st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,31}", fullmatch=True).filter(
            lambda n: (
                n not in RANGES
                and n not in {"ts", "custom", "received_at", "patient_id", "device_id"}
            )
        ),
        st.floats(allow_nan=False, allow_infinity=False),
        max_size=MAX_CUSTOM_CHANNELS,
    ),
)
def test_to_dict_round_trips_through_parse_sample(ts, hr, custom):
    s = parse({"ts": round(ts, 3), "hr": hr, **custom})
    again = parse(s.to_dict())
    assert again.hr == s.hr and again.custom == s.custom
    assert abs(again.ts - s.ts) < 1e-3


def test_format_ts_writes_iso_utc_with_z():
    assert format_ts(TS) == "2024-03-01T08:00:00Z"
    assert format_ts(TS + 0.5) == "2024-03-01T08:00:00.500Z"
    assert parse_ts(format_ts(TS + 0.5)) == TS + 0.5


@given(
    st.integers(min_value=946684800, max_value=4102444799),
    st.integers(min_value=0, max_value=999),
)
def test_cached_minute_parsing_matches_the_iso_parser(epoch, ms):
    from datetime import UTC, datetime

    text = format_ts(epoch + ms / 1000.0)
    expected = datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()
    assert parse_ts(text) == parse_ts(text) == expected


def test_a_refused_timestamp_is_refused_every_time_it_is_seen() -> None:
    # Parsed timestamps are cached whole; a refusal must not be (nor its text be taken later).
    for _ in range(3):
        with pytest.raises(SampleRejected):
            parse_ts("2025-01-06T10:00:61Z")
    assert parse_ts("2025-01-06T10:00:01Z") == parse_ts("2025-01-06T10:00:01Z") == 1736157601.0


@pytest.mark.parametrize(
    "text", ["2025-01-06T24:00:00Z", "2025-01-06T23:59:60.5Z", "2025-13-06T10:00:00Z",
             "2025-01-06T10-00:00Z", "2025-01-06T10:00:0xZ", "2025-01-06T10:60:00Z",
             "2025-01-06T10:00:61Z", "2025-01-06T 1:00:00Z", "2025-01-06T10:00:1e1Z",
             "2025-01-06T10:00:+1.0Z", "2025-01-06T10:00:00.5xZ"],
)  # fmt: skip
def test_malformed_canonical_timestamps_are_bad_ts_even_when_the_minute_is_cached(text):
    parse_ts("2025-01-06T10:00:00Z")
    with pytest.raises(SampleRejected) as info:
        parse_ts(text)
    assert info.value.reason_code == "bad_ts"


@pytest.mark.parametrize(
    "ts",
    [
        "2024W09T01T08:00:00Z",  # an ISO week date where the canonical form has its date
        "1_709_280_000",
        " 1709280000 ",
        "١٧٠٩٢٨٠٠٠٠",  # Arabic-Indic digits
        "1.70928e9",
        "nan",
    ],
)
def test_timestamps_float_would_take_are_refused(ts):
    with pytest.raises(SampleRejected, match="bad_ts"):
        parse({"ts": ts, "hr": 70})


def test_odd_but_valid_values_get_their_precise_reason():
    with pytest.raises(SampleRejected, match="not_finite"):
        parse({"ts": TS, "hr": 10**400})
    with pytest.raises(SampleRejected, match="bad_ts"):
        parse({"ts": 10**400, "hr": 70})
    with pytest.raises(SampleRejected, match="bad_channel_name"):
        parse({"ts": TS, "hr": 70, "\ud800": 1.0})
    assert parse({"ts": "1709280000.5", "hr": 70}).ts == 1709280000.5


# -- the JSON fast path (parse_json_sample) ----------------------------------------------------


def general(line: bytes, patient_id: str | None = None) -> Sample | str:
    """What the general path makes of a JSON line, as replay reads one: the sample or why not."""
    raw = orjson.loads(line)
    pid = raw.get("patient_id") if isinstance(raw, dict) else None
    pid = patient_id if pid is None else pid
    did = raw.get("device_id") if isinstance(raw, dict) else None
    try:
        return parse_sample(raw, patient_id=pid, device_id=pid if did is None else did)
    except SampleRejected as e:
        return e.reason_code


PLAIN = [
    b'{"patient_id":"p1","device_id":"d1","ts":"2024-03-01T08:00:00Z","hr":72,"spo2":97}',
    b'{"patient_id":"p1","ts":1709280000,"hr":72.5,"motion":0.02,"quality":0.9}',
    b'{"patient_id":"p1","ts":"1709280000","sbp":120,"dbp":80}',
    b'{"patient_id":"p1","ts":1709280000.25,"temp":36.8,"rr":14,"glucose":null}',
    b'{"ts":1709280000,"hr":72,"patient_id":"p1","hr":75}',  # the last of a key, as orjson
    b'{"patient_id":"p1","ts":"2024-03-01T09:00:00+01:00","hr":20,"spo2":100}',
    b'{"patient_id":"p1","ts":1709280000,"hr":72,"custom":{}}',  # as Sample.to_dict writes
    b'{"patient_id":"p1","ts":1709280000,"hr":72,"custom":null}',
]


@pytest.mark.parametrize("line", PLAIN)
def test_a_plain_json_line_is_the_sample_the_general_path_makes(line):
    sample = parse_json_sample(line)
    assert sample is not None and sample == general(line)


GENERAL = [
    b'{"patient_id":"p1","ts":1709280000,"hr":72,"hrv":41.0}',  # a custom channel
    b'{"patient_id":"p1","ts":1709280000,"hr":72,"custom":{"hrv":41.0}}',
    b'{"patient_id":"p1","ts":1709280000,"hr":72,"custom":{"HRV":41.0}}',
    b'{"patient_id":"p1","ts":1709280000,"hr":72,"custom":[]}',
    b'{"patient_id":"p1","ts":1709280000,"hr":72,"firmware":"1.2"}',  # metadata
    b'{"patient_id":"p1","ts":1709280000,"hr":72,"received_at":1709280001}',
    b'{"patient_id":"p1","ts":1709280000,"hr":301}',
    b'{"patient_id":"p1","ts":1709280000,"hr":true}',
    b'{"patient_id":"p1","ts":1709280000,"hr":"72"}',
    b'{"patient_id":"p1","ts":1709280000,"hr":1e400}',
    b'{"patient_id":"p1","hr":72}',
    b'{"patient_id":"p1","ts":null,"hr":72}',
    b'{"patient_id":"p1","ts":"yesterday","hr":72}',
    b'{"patient_id":"p1","ts":1709280000000,"hr":72}',
    b'{"patient_id":"p1","ts":1709280000,"sbp":80,"dbp":90}',
    b'{"patient_id":"p1","ts":1709280000,"motion":0.2}',
    b'{"patient_id":"","ts":1709280000,"hr":72}',
    b'{"patient_id":7,"ts":1709280000,"hr":72}',
    b'{"ts":1709280000,"hr":72}',
    b'{"patient_id":"p1","device_id":"","ts":1709280000,"hr":72}',
    b"[1709280000, 72]",
    b"{not json",
    b"",
]


@pytest.mark.parametrize("line", GENERAL)
def test_every_other_line_is_left_to_the_general_path(line):
    assert parse_json_sample(line) is None


def test_a_line_without_its_patient_takes_the_readers():
    line = b'{"ts":1709280000,"hr":72}'
    sample = parse_json_sample(line, patient_id="cpu")
    assert sample is not None and sample == general(line, patient_id="cpu")
    assert (sample.patient_id, sample.device_id) == ("cpu", "cpu")


@given(
    st.dictionaries(
        st.sampled_from(["patient_id", "device_id", "ts", *RANGES, "hrv"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-10, 2_000_000_000),
            st.floats(-1e3, 2e9),
            st.sampled_from(["p1", "", "2024-03-01T08:00:00Z", "x"]),
        ),
    )
)
def test_the_fast_path_accepts_only_what_the_general_path_accepts_as_the_same(raw):
    line = orjson.dumps(raw)
    sample = parse_json_sample(line)
    if sample is not None:
        assert sample == general(line)

"""The vital-signs sample: Vigil's one message from devices, and its validation.

A raw sample is a flat JSON object from a wearable. :func:`parse_sample` turns it into an
immutable :class:`Sample` or raises :class:`~ingest.exceptions.SampleRejected` with a stable
reason code. It is on the hot path of the gateway and of ``vigil replay`` (tens of thousands of
samples per second), so it walks the mapping once and does no regex work for known names.

Fields (all optional except ``ts``; at least one vital or custom channel is required):

========== ======== ============== ==================================================
field      unit     accepted range why the bounds
========== ======== ============== ==================================================
hr         bpm      20 - 300       motion artifacts (30-40, 150-200) must pass; the
                                   gating in :mod:`stream.detect` handles them
spo2       %        50 - 100       pulse oximetry is meaningless below ~50 %
rr         /min     1 - 80         0 is a sensor failure, not a reading
temp       °C       25 - 45        covers skin sensors and deep hypothermia
sbp        mmHg     40 - 300       cuff measuring range
dbp        mmHg     20 - 200       and ``dbp < sbp`` when both are present
glucose    mg/dL    10 - 1500      CGM/meter range incl. hyperosmolar states
motion     g        0 - 16         accelerometer full scale; dynamic acceleration
                                   (gravity removed) is meant, raw magnitude (~1 g
                                   at rest) is recognised and corrected
quality    0..1     0 - 1          device signal-quality index
========== ======== ============== ==================================================

Any other field with a numeric value is a *custom channel*: its name must match
``[a-z][a-z0-9_]{0,31}``, at most 16 per sample, and its value must be finite; personal models
learn and score it, clinical rules ignore it. Custom channels may also come nested under a
``"custom"`` object (the shape :meth:`Sample.to_dict` writes). Other fields whose value is a
string or null are metadata and are ignored. Booleans are never numbers.

``ts`` is ISO-8601 (``Z`` or an offset; naive means UTC) or epoch seconds (int, float or a
numeric string), and must lie in [2000-01-01, 2100-01-01). When ``received_at`` is given, a
``ts`` more than :data:`MAX_FUTURE_S` after it is rejected as ``ts_in_future`` (clock drift
beyond that would corrupt event-time processing); late samples are accepted here and handled
by the detector's reorder window.

Examples
--------
>>> s = parse_sample({"ts": "2024-03-01T08:00:00Z", "hr": 72, "spo2": 97.0, "hrv_ms": 41.5},
...                  patient_id="p1", device_id="d1")
>>> s.ts, s.hr, s.custom
(1709280000.0, 72.0, {'hrv_ms': 41.5})
>>> s.to_dict()["ts"]
'2024-03-01T08:00:00Z'
>>> parse_sample({"ts": 1709280000, "hr": 400}, patient_id="p1", device_id="d1")
Traceback (most recent call last):
...
ingest.exceptions.SampleRejected: out_of_range: hr=400.0 outside [20.0, 300.0]
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

from ingest.exceptions import SampleRejected

logger = logging.getLogger(__name__)

__all__ = [
    "CHANNEL_NAME",
    "CLINICAL_FIELDS",
    "MAX_CUSTOM_CHANNELS",
    "MAX_FUTURE_S",
    "RANGES",
    "REASON_CODES",
    "Sample",
    "coerce_text_fields",
    "format_ts",
    "SampleFields",
    "parse_json_sample",
    "parse_sample",
    "parse_ts",
]

#: Physiological ranges per field, inclusive (see the module docstring for the reasons).
RANGES: dict[str, tuple[float, float]] = {
    "hr": (20.0, 300.0),
    "spo2": (50.0, 100.0),
    "rr": (1.0, 80.0),
    "temp": (25.0, 45.0),
    "sbp": (40.0, 300.0),
    "dbp": (20.0, 200.0),
    "glucose": (10.0, 1500.0),
    "motion": (0.0, 16.0),
    "quality": (0.0, 1.0),
}
#: Fields that count as vital signs (``motion`` and ``quality`` are context, not vitals).
CLINICAL_FIELDS = ("hr", "spo2", "rr", "temp", "sbp", "dbp", "glucose")
#: Custom channel names.
CHANNEL_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
MAX_CUSTOM_CHANNELS = 16
#: Tolerated device clock lead over the receiver, in seconds.
MAX_FUTURE_S = 300.0
TS_MIN = 946684800.0  # 2000-01-01T00:00:00Z
TS_MAX = 4102444800.0  # 2100-01-01T00:00:00Z

#: Every reason code :func:`parse_sample` can raise, with its meaning.
REASON_CODES: dict[str, str] = {
    "missing_ts": "no ts field",
    "bad_ts": "ts is not ISO-8601/epoch seconds or is outside [2000, 2100)",
    "ts_in_future": "ts is more than MAX_FUTURE_S after received_at",
    "wrong_type": "a vital or channel value is not a number (booleans included)",
    "not_finite": "NaN or infinity",
    "out_of_range": "a vital outside its physiological range",
    "inconsistent_bp": "diastolic pressure not below systolic",
    "too_many_channels": "more than MAX_CUSTOM_CHANNELS custom channels",
    "bad_channel_name": "a numeric field whose name is not [a-z][a-z0-9_]{0,31}, is reserved, "
    "or is given both beside the vitals and in custom",
    "no_vitals": "neither a vital sign nor a custom channel",
    "bad_id": "patient_id or device_id empty or not a string",
    "not_an_object": "the sample is not a JSON object",
}

_META = frozenset({"ts", "patient_id", "device_id", "received_at", "custom"})
_RESERVED = frozenset(RANGES) | _META
_KNOWN = frozenset(RANGES) | _META
_name_ok: dict[str, bool] = {}


def _in_range(field: str) -> Any:
    """The msgspec type of vital ``field``: a float within :data:`RANGES`, or ``None``."""
    lo, hi = RANGES[field]
    return Annotated[float, msgspec.Meta(ge=lo, le=hi)] | None


class SampleFields(msgspec.Struct, frozen=True, gc=False):
    """The known fields of a raw sample, typed and range-checked by msgspec in one C call.

    The wire format's :class:`~ingest.encoding.WireSample` extends it (same fields, same order).
    """

    ts: float | str | None = None
    hr: _in_range("hr") = None  # type: ignore[valid-type]
    spo2: _in_range("spo2") = None  # type: ignore[valid-type]
    rr: _in_range("rr") = None  # type: ignore[valid-type]
    temp: _in_range("temp") = None  # type: ignore[valid-type]
    sbp: _in_range("sbp") = None  # type: ignore[valid-type]
    dbp: _in_range("dbp") = None  # type: ignore[valid-type]
    glucose: _in_range("glucose") = None  # type: ignore[valid-type]
    motion: _in_range("motion") = None  # type: ignore[valid-type]
    quality: _in_range("quality") = None  # type: ignore[valid-type]


class Sample(msgspec.Struct, frozen=True, gc=False):
    """One validated reading of a patient's wearable at event time ``ts`` (epoch seconds UTC).

    Vitals are ``None`` when the device did not report them (BP comes from a cuff every
    15-60 min). ``custom`` maps custom channel names to finite values.
    """

    patient_id: str
    device_id: str
    ts: float
    hr: float | None = None
    spo2: float | None = None
    rr: float | None = None
    temp: float | None = None
    sbp: float | None = None
    dbp: float | None = None
    glucose: float | None = None
    motion: float | None = None
    quality: float | None = None
    custom: dict[str, float] = msgspec.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the plain JSON-able dict, ``ts`` as ISO-8601 UTC, custom channels nested.

        ``parse_sample(s.to_dict(), ...)`` gives back an equal sample (to the millisecond).
        """
        return {
            "patient_id": self.patient_id,
            "device_id": self.device_id,
            "ts": format_ts(self.ts),
            "hr": self.hr,
            "spo2": self.spo2,
            "rr": self.rr,
            "temp": self.temp,
            "sbp": self.sbp,
            "dbp": self.dbp,
            "glucose": self.glucose,
            "motion": self.motion,
            "quality": self.quality,
            "custom": dict(self.custom),
        }


def format_ts(ts: float) -> str:
    """Format epoch seconds as ISO-8601 UTC with a ``Z``; milliseconds only when non-zero.

    Examples
    --------
    >>> format_ts(0.0), format_ts(1709280000.25)
    ('1970-01-01T00:00:00Z', '2024-03-01T08:00:00.250Z')
    """
    ms = round(ts * 1000.0)
    sec, frac = divmod(ms, 1000)
    day, tod = divmod(sec, 86400)
    prefix = _day_prefix.get(day)
    if prefix is None:
        prefix = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%dT")
        if len(_day_prefix) < 100_000:
            _day_prefix[day] = prefix
    hh, rest = divmod(tod, 3600)
    mm, ss = divmod(rest, 60)
    if frac:
        return f"{prefix}{hh:02d}:{mm:02d}:{ss:02d}.{frac:03d}Z"
    return f"{prefix}{hh:02d}:{mm:02d}:{ss:02d}Z"


def parse_ts(value: object) -> float:
    """Parse an event time (ISO-8601 or epoch seconds) into epoch seconds UTC.

    Raises
    ------
    SampleRejected
        ``bad_ts`` (unparseable or outside [2000, 2100)), ``not_finite`` or ``wrong_type``.

    Examples
    --------
    >>> parse_ts("2024-03-01T09:00:00+01:00"), parse_ts("1709280000"), parse_ts(1709280000)
    (1709280000.0, 1709280000.0, 1709280000.0)
    """
    t = type(value)
    if t is float:
        ts: float = value  # type: ignore[assignment]
    elif t is str:
        cached = _ts_text.get(value)  # type: ignore[call-overload]  # (a call less on a hit)
        ts = cached if cached is not None else _parse_ts_text(value)  # type: ignore[arg-type]
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise SampleRejected("bad_ts", f"ts of type {t.__name__}")
    else:
        try:
            ts = float(value)
        except OverflowError:  # an integer of hundreds of digits
            raise SampleRejected("bad_ts", "ts is not finite") from None
    if not TS_MIN <= ts < TS_MAX:
        if math.isfinite(ts):
            # the commonest device mistake gets named, not just refused
            hint = " (epoch milliseconds? ts is in seconds)" if TS_MIN <= ts / 1000 < TS_MAX else ""
            raise SampleRejected("bad_ts", f"ts={ts!r} outside [2000, 2100){hint}")
        raise SampleRejected("bad_ts", "ts is not finite")
    return ts


#: Epoch seconds as text: ASCII digits only (``float`` would also take "1_700_000_000",
#: " 1700000000 ", other scripts' digits, "1e9", "nan").
_EPOCH_TEXT = re.compile(r"-?[0-9]{1,16}(?:\.[0-9]{1,16})?")
#: The date of a canonical timestamp, "YYYY-MM-DD" (``fromisoformat`` also reads week dates).
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_day_epoch: dict[str, float] = {}
_day_prefix: dict[int, str] = {}
#: "YYYY-MM-DDTHH:MM:" -> (epoch of the day, seconds of the minute into the day).
_minute_base: dict[str, tuple[float, float]] = {}
#: Minutes cached before the cache starts over (~3 days of a time-ordered stream).
_MINUTE_CACHE_SIZE = 4096


#: Whole timestamps already parsed (devices of a fleet report on the same seconds; a
#: replayed cohort reads each about a dozen times). Started over when full.
_ts_text: dict[str, float] = {}
_TS_CACHE_SIZE = 8192


def _parse_ts_text(text: str) -> float:
    ts = _ts_text.get(text)
    if ts is None:
        ts = _parse_ts_uncached(text)  # raises for text that is no timestamp: never cached
        if len(_ts_text) >= _TS_CACHE_SIZE:
            _ts_text.clear()
        _ts_text[text] = ts
    return ts


def _parse_ts_uncached(text: str) -> float:
    # Fast path for the canonical "YYYY-MM-DDTHH:MM:SS[.fff]Z" that format_ts writes: the
    # date and the minute are parsed once per minute, only the seconds every time.
    # Anything the fast path does not fully check (a leap second, "10:60", " 1:00", "1e1")
    # goes to the strict slow path, which accepts or rejects it as datetime.fromisoformat does.
    n = len(text)
    if n >= 20 and text[-1] == "Z" and text[10] == "T" and (n == 20 or text[19] == "."):
        base = _minute_base.get(text[:17])
        if base is None:
            base = _parse_minute(text)
            if base is None:
                return _iso_slow(text)
        day, minute = base
        sec = text[17:-1]
        if sec.isascii() and sec[:2].isdigit() and sec[0] < "6" and (n == 20 or sec[3:].isdigit()):
            return day + minute + float(sec)
        return _iso_slow(text)
    if _EPOCH_TEXT.fullmatch(text):
        return float(text)
    return _iso_slow(text)


def _parse_minute(text: str) -> tuple[float, float] | None:
    """``(day epoch, seconds of HH:MM)`` of a canonical timestamp; ``None`` if not canonical."""
    day = _day_epoch.get(text[:10])
    if day is None:
        if not _DATE_TEXT.fullmatch(text[:10]):
            return None
        day = _iso_slow(text[:10])
        if len(_day_epoch) < 100_000:
            _day_epoch[text[:10]] = day
    hh, mm = text[11:13], text[14:16]
    if text[13] != ":" or text[16] != ":" or not (hh + mm).isascii():
        return None
    if not (hh.isdigit() and mm.isdigit() and hh < "24" and mm < "60"):
        return None
    minute = int(hh) * 3600.0 + int(mm) * 60.0
    if len(_minute_base) >= _MINUTE_CACHE_SIZE:
        _minute_base.clear()
    _minute_base[text[:17]] = (day, minute)
    return day, minute


def _iso_slow(text: str) -> float:
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise SampleRejected("bad_ts", "ts is neither ISO-8601 nor epoch seconds") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _number(name: str, value: object) -> float:
    """Return ``value`` as a finite float or raise; booleans are refused."""
    t = type(value)
    if t is float:
        v: float = value  # type: ignore[assignment]
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            v = float(value)
        except OverflowError:  # an integer of hundreds of digits
            raise SampleRejected("not_finite", f"{name} is beyond the float range") from None
    else:
        raise SampleRejected("wrong_type", f"{name} is {t.__name__}, not a number")
    if v - v != 0.0:  # NaN or +-inf, cheaper than math.isfinite on this path
        raise SampleRejected("not_finite", f"{name} is not finite")
    return v


def _check_name(name: str) -> None:
    ok = _name_ok.get(name)
    if ok is None:
        ok = (
            isinstance(name, str)
            and CHANNEL_NAME.fullmatch(name) is not None
            and name not in _RESERVED
        )
        if len(_name_ok) < 65536:  # bounded cache: names come from untrusted devices
            _name_ok[name] = ok
    if not ok:
        raise SampleRejected("bad_channel_name", f"channel name {str(name)[:40]!r}")


def parse_sample(
    raw: Mapping[str, object],
    *,
    patient_id: str,
    device_id: str,
    received_at: float | None = None,
) -> Sample:
    """Validate a raw sample and return a :class:`Sample`.

    Parameters
    ----------
    raw
        The decoded JSON object. ``patient_id``/``device_id`` keys in it are ignored: the
        caller attributes the sample (the gateway from the registry, replay from the file).
    patient_id, device_id
        Who the sample belongs to and which device sent it.
    received_at
        Receiver clock (epoch seconds) used for the ``ts_in_future`` check; ``None`` skips it.

    Raises
    ------
    SampleRejected
        With one of :data:`REASON_CODES`.

    Examples
    --------
    >>> parse_sample({"ts": 1709280000, "hr": True}, patient_id="p", device_id="d")
    Traceback (most recent call last):
    ...
    ingest.exceptions.SampleRejected: wrong_type: hr is bool, not a number
    >>> parse_sample({"ts": 1709280600, "hr": 70}, patient_id="p", device_id="d",
    ...              received_at=1709280000).ts
    Traceback (most recent call last):
    ...
    ingest.exceptions.SampleRejected: ts_in_future: ts is 600 s after received_at
    """
    if type(patient_id) is not str or not patient_id or type(device_id) is not str or not device_id:
        raise SampleRejected("bad_id", "patient_id and device_id must be non-empty strings")
    if type(raw) is not dict:
        if not isinstance(raw, Mapping):
            raise SampleRejected("not_an_object", f"sample is {type(raw).__name__}")
        raw = dict(raw)
    try:
        # Fast path: msgspec checks types and ranges of the known fields in C.
        known = msgspec.convert(raw, SampleFields)
    except (msgspec.ValidationError, UnicodeEncodeError) as exc:  # the latter: a lone surrogate
        _diagnose(raw)  # raises the precise reason
        raise SampleRejected("wrong_type", str(exc)) from None  # pragma: no cover
    ts_raw = known.ts
    if ts_raw is None:
        raise SampleRejected("missing_ts", "sample has no ts")
    ts = parse_ts(ts_raw)
    if received_at is not None and ts - received_at > MAX_FUTURE_S:
        raise SampleRejected("ts_in_future", f"ts is {ts - received_at:.0f} s after received_at")

    custom: dict[str, float] = {}
    if not _KNOWN.issuperset(raw):  # no set built for the common sample without extras
        for key in sorted(raw.keys() - _KNOWN):  # sorted: channel order must not depend on hashing
            value = raw[key]
            if value is None or type(value) is str:
                continue  # metadata such as firmware version or units
            _check_name(key)
            custom[key] = _number(key, value)
    nested = raw.get("custom")
    if nested is not None:
        if not isinstance(nested, Mapping):
            raise SampleRejected("wrong_type", "custom is not an object")
        for name, cv in nested.items():
            _check_name(name)
            if name in custom:  # which of the two to keep? neither is dropped unseen
                raise SampleRejected(
                    "bad_channel_name", f"channel {name!r} given twice (also in custom)"
                )
            custom[name] = _number(name, cv)
        custom = dict(sorted(custom.items()))
    if len(custom) > MAX_CUSTOM_CHANNELS:
        raise SampleRejected(
            "too_many_channels", f"{len(custom)} custom channels > {MAX_CUSTOM_CHANNELS}"
        )
    return _finish(known, ts, custom, patient_id, device_id)


def _finish(
    known: SampleFields, ts: float, custom: dict[str, float], patient_id: str, device_id: str
) -> Sample:
    """The checks across fields, after each field has passed its own; the sample."""
    sbp = known.sbp
    dbp = known.dbp
    if sbp is not None and dbp is not None and dbp >= sbp:
        raise SampleRejected("inconsistent_bp", f"dbp={dbp!r} not below sbp={sbp!r}")
    if (
        not custom
        and known.hr is None
        and known.spo2 is None
        and known.rr is None
        and known.temp is None
        and sbp is None
        and dbp is None
        and known.glucose is None
    ):
        raise SampleRejected("no_vitals", "no vital sign or custom channel")
    return Sample(
        patient_id,
        device_id,
        ts,
        known.hr,
        known.spo2,
        known.rr,
        known.temp,
        sbp,
        dbp,
        known.glucose,
        known.motion,
        known.quality,
        custom,
    )


class _JsonSample(SampleFields, forbid_unknown_fields=True, frozen=True, gc=False):
    """A JSON sample of known fields only, with who sent it: one C call decodes and checks it."""

    patient_id: str | None = None
    device_id: str | None = None
    custom: dict[str, Any] | None = None  # (as Sample.to_dict writes it: empty, or not plain)


_decode_json_sample = msgspec.json.Decoder(_JsonSample).decode


def parse_json_sample(line: bytes, *, patient_id: str | None = None) -> Sample | None:
    """The sample of one JSON line, if it is a plain valid one; else ``None``.

    The fast path of :func:`parse_sample` for a recorded JSON line of known fields only (no
    custom channel, no metadata; an empty ``custom``), valid, that names its patient (or
    ``patient_id`` does): one decoding and checking call instead of a JSON object and its
    conversion. The device is the patient when the line names none, as replay reads a
    recorded stream. Any other line gives ``None``: decode it and call :func:`parse_sample`,
    which accepts or rejects it (with its reason). A line this accepts, :func:`parse_sample`
    accepts as the same sample.

    Examples
    --------
    >>> parse_json_sample(b'{"patient_id": "p1", "ts": "2024-03-01T08:00:00Z", "hr": 72}')
    Sample(patient_id='p1', device_id='p1', ts=1709280000.0, hr=72.0, spo2=None, rr=None, \
temp=None, sbp=None, dbp=None, glucose=None, motion=None, quality=None, custom={})
    >>> parse_json_sample(b'{"patient_id": "p1", "ts": 1709280000, "hr": 900}') is None
    True
    >>> parse_json_sample(b'{"patient_id": "p1", "ts": 1709280000, "spo2_raw": 0.9}') is None
    True
    """
    try:
        known = _decode_json_sample(line)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    pid = known.patient_id
    if pid is None:
        pid = patient_id
    did = known.device_id
    if did is None:
        did = pid
    if not pid or not did or known.ts is None or known.custom:
        return None
    try:
        return _finish(known, parse_ts(known.ts), {}, pid, did)
    except SampleRejected:
        return None


def _diagnose(raw: Mapping[str, object]) -> None:
    """Find the first invalid known field the slow way and raise its precise reason."""
    for key, bounds in RANGES.items():
        value = raw.get(key)
        if value is None:
            continue
        v = _number(key, value)
        if not bounds[0] <= v <= bounds[1]:
            raise SampleRejected("out_of_range", f"{key}={v!r} outside [{bounds[0]}, {bounds[1]}]")
    parse_ts(raw.get("ts", 0.0) if raw.get("ts") is not None else TS_MIN)
    for key in raw:
        try:
            key.encode()
        except UnicodeEncodeError:  # an escaped lone surrogate such as "\ud800"
            detail = f"field name {key[:40]!r} is not Unicode text"
            raise SampleRejected("bad_channel_name", detail) from None


def coerce_text_fields(row: Mapping[str, str | None]) -> dict[str, object]:
    """Turn a CSV row (all strings) into the JSON-like mapping :func:`parse_sample` expects.

    Empty cells become ``None``; cells that parse as numbers become floats; other text stays
    text (``ts`` in ISO-8601, identifiers, metadata).

    Examples
    --------
    >>> coerce_text_fields({"ts": "2024-03-01T08:00:00Z", "hr": "71", "spo2": "", "fw": "1.2a"})
    {'ts': '2024-03-01T08:00:00Z', 'hr': 71.0, 'spo2': None, 'fw': '1.2a'}
    """
    out: dict[str, object] = {}
    for key, text in row.items():
        if text is None or text == "":
            out[key] = None
            continue
        if key in ("ts", "patient_id", "device_id"):
            out[key] = text
            continue
        try:
            out[key] = float(text)
        except ValueError:
            out[key] = text
    return out

"""Flux query text for the InfluxDB store (pure: strings in, strings out).

Every value is embedded as an escaped literal (:func:`string`) rather than a query
parameter, so tag predicates stay simple equalities the storage engine pushes down.
Queries that return records pivot fields into columns and add ``ns = int(v: r._time)`` so
readers get exact nanoseconds (:mod:`alerts.store.schema` truncates them back).

Examples
--------
>>> string('say "hi" ${x}')
'"say \\\\"hi\\\\" \\\\${x}"'
>>> any_of("patient_id", ["p1", "p2"])
'(r.patient_id == "p1" or r.patient_id == "p2")'
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Final

from alerts.store.schema import ALERT_EVENTS, ALERTS, NEWS2, VITALS_1M

__all__ = [
    "FAR_FUTURE_NS",
    "alert_patient",
    "any_of",
    "episode_records",
    "events",
    "news2_at",
    "news2_history",
    "news2_last_time",
    "openings",
    "string",
    "vitals_history",
    "vitals_latest",
]

#: Stop bound of "all time" ranges (2100-01-01T00:00:00Z).
FAR_FUTURE_NS: Final = 4_102_444_800 * 10**9

_PIVOT: Final = (
    '|> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
    "  |> map(fn: (r) => ({r with ns: int(v: r._time)}))"
)


def string(value: str) -> str:
    """A Flux string literal (escapes backslash, quote and ``${`` interpolation)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def any_of(column: str, values: Iterable[str]) -> str:
    """A predicate true when ``r.<column>`` equals one of ``values`` (sorted, for stable text)."""
    terms = [f"r.{column} == {string(v)}" for v in sorted(set(values))]
    if not terms:
        raise ValueError("any_of needs at least one value")
    return "(" + " or ".join(terms) + ")"


def _array(values: Iterable[str]) -> str:
    return "[" + ", ".join(string(v) for v in sorted(set(values))) + "]"


def _range(start_ns: int, stop_ns: int) -> str:
    return f"|> range(start: time(v: {start_ns}), stop: time(v: {stop_ns}))"


def openings(
    bucket: str,
    *,
    start_ns: int,
    stop_ns: int,
    patient_ids: Collection[str] | None,
    categories: Collection[str],
    limit: int | None,
) -> str:
    """Opening records (``seq == 0``) in ``[start, stop)``, newest first: ns, alert_id, patient."""
    filters = [f'r._measurement == "{ALERTS}"', '(r._field == "seq" or r._field == "alert_id")']
    if patient_ids is not None:
        filters.append(any_of("patient_id", patient_ids))
    if categories:
        filters.append(any_of("category", categories))
    limit_line = f"\n  |> limit(n: {limit})" if limit is not None else ""
    return f"""from(bucket: {string(bucket)})
  {_range(start_ns, stop_ns)}
  |> filter(fn: (r) => {" and ".join(filters)})
  {_PIVOT}
  |> filter(fn: (r) => r.seq == 0)
  |> keep(columns: ["ns", "alert_id", "patient_id"])
  |> group()
  |> sort(columns: ["ns"], desc: true){limit_line}"""


def episode_records(
    bucket: str, *, alert_ids: Collection[str], patient_ids: Collection[str], start_ns: int
) -> str:
    """Every stored record of ``alert_ids`` (whose patients are ``patient_ids``)."""
    return f"""from(bucket: {string(bucket)})
  {_range(start_ns, FAR_FUTURE_NS)}
  |> filter(fn: (r) => r._measurement == "{ALERTS}" and {any_of("patient_id", patient_ids)})
  {_PIVOT}
  |> filter(fn: (r) => contains(value: r.alert_id, set: {_array(alert_ids)}))"""


def alert_patient(bucket: str, alert_id: str) -> str:
    """The patient tag of any record of ``alert_id`` (one row, or none)."""
    return f"""from(bucket: {string(bucket)})
  {_range(0, FAR_FUTURE_NS)}
  |> filter(fn: (r) => r._measurement == "{ALERTS}" and r._field == "alert_id")
  |> filter(fn: (r) => r._value == {string(alert_id)})
  |> keep(columns: ["patient_id"])
  |> group()
  |> limit(n: 1)"""


def events(bucket: str, *, alert_ids: Collection[str], patient_ids: Collection[str] | None) -> str:
    """Every lifecycle event of ``alert_ids`` (optionally narrowed to their patients)."""
    where = f'r._measurement == "{ALERT_EVENTS}"'
    if patient_ids is not None:
        where += f" and {any_of('patient_id', patient_ids)}"
    return f"""from(bucket: {string(bucket)})
  {_range(0, FAR_FUTURE_NS)}
  |> filter(fn: (r) => {where})
  {_PIVOT}
  |> filter(fn: (r) => contains(value: r.alert_id, set: {_array(alert_ids)}))"""


def vitals_latest(bucket: str, patient_id: str) -> str:
    """Each vital's most recent minute of one patient."""
    return f"""from(bucket: {string(bucket)})
  {_range(0, FAR_FUTURE_NS)}
  |> filter(fn: (r) => r._measurement == "{VITALS_1M}" and r.patient_id == {string(patient_id)})
  |> last()
  {_PIVOT}"""


def vitals_history(
    bucket: str,
    patient_id: str,
    *,
    start_ns: int,
    stop_ns: int,
    width_s: int,
    vitals: Collection[str] | None,
) -> str:
    """Minutes in ``[start, stop)`` merged into epoch-aligned buckets of ``width_s`` seconds.

    Each output row is one (vital, bucket): ``bucket`` (ns), ``wsum`` (sum of mean x count),
    ``count``, ``min``, ``max``; the caller divides ``wsum`` by ``count``. With
    ``width_s == 60`` the rows are the stored minutes themselves.
    """
    where = f'r._measurement == "{VITALS_1M}" and r.patient_id == {string(patient_id)}'
    if vitals is not None:
        where += f" and {any_of('vital', vitals)}" if vitals else " and false"
    width_ns = width_s * 10**9
    return f"""import "math"

from(bucket: {string(bucket)})
  {_range(start_ns, stop_ns)}
  |> filter(fn: (r) => {where})
  {_PIVOT}
  |> map(fn: (r) => ({{vital: r.vital, bucket: r.ns / {width_ns} * {width_ns},
        wsum: r.mean * float(v: r.count), count: r.count, min: r.min, max: r.max}}))
  |> group(columns: ["vital", "bucket"])
  |> reduce(
      identity: {{wsum: 0.0, count: 0, min: math.maxfloat, max: -math.maxfloat}},
      fn: (r, accumulator) => ({{
        wsum: accumulator.wsum + r.wsum,
        count: accumulator.count + r.count,
        min: if r.min < accumulator.min then r.min else accumulator.min,
        max: if r.max > accumulator.max then r.max else accumulator.max,
      }}))
  |> group()
  |> sort(columns: ["bucket", "vital"])"""


def news2_last_time(bucket: str, patient_id: str) -> str:
    """The time (``ns``) of the patient's most recent NEWS2 record."""
    return f"""from(bucket: {string(bucket)})
  {_range(0, FAR_FUTURE_NS)}
  |> filter(fn: (r) => r._measurement == "{NEWS2}" and r.patient_id == {string(patient_id)})
  |> filter(fn: (r) => r._field == "score")
  |> last()
  |> map(fn: (r) => ({{ns: int(v: r._time)}}))"""


def news2_history(bucket: str, patient_id: str, *, start_ns: int, stop_ns: int) -> str:
    """NEWS2 records with minute in ``[start, stop)``."""
    return f"""from(bucket: {string(bucket)})
  {_range(start_ns, stop_ns)}
  |> filter(fn: (r) => r._measurement == "{NEWS2}" and r.patient_id == {string(patient_id)})
  {_PIVOT}
  |> group()
  |> sort(columns: ["ns"])"""


def news2_at(bucket: str, patient_id: str, ns: int) -> str:
    """The NEWS2 record at exactly ``ns``."""
    return news2_history(bucket, patient_id, start_ns=ns, stop_ns=ns + 1)

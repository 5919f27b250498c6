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

from alerts.store.projections import ALERT_EVENT_LOG, ALERTS_BY_ID, alert_shard
from alerts.store.schema import ALERT_EVENTS, ALERTS, NEWS2, VITALS_1M

__all__ = [
    "FAR_FUTURE_NS",
    "alert_docs_by_id",
    "all_records",
    "any_of",
    "episode_records",
    "events",
    "news2_at",
    "news2_history",
    "news2_last_time",
    "openings",
    "string",
    "timeline",
    "vitals_history",
    "vitals_latest",
    "vitals_minutes",
    "vitals_windows",
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


def all_records(bucket: str, measurement: str, *, start_ns: int, stop_ns: int) -> str:
    """Every point of ``measurement`` in ``[start, stop)``, pivoted, with ``ns``."""
    return f"""from(bucket: {string(bucket)})
  {_range(start_ns, stop_ns)}
  |> filter(fn: (r) => r._measurement == {string(measurement)})
  {_PIVOT}"""


def alert_docs_by_id(bucket: str, alert_id: str) -> str:
    """The ``doc`` of every stored record of ``alert_id`` (one ``alerts_by_id`` shard)."""
    shard = string(alert_shard(alert_id))
    return f"""from(bucket: {string(bucket)})
  {_range(0, FAR_FUTURE_NS)}
  |> filter(fn: (r) => r._measurement == "{ALERTS_BY_ID}" and r.shard == {shard})
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> filter(fn: (r) => r.alert_id == {string(alert_id)})
  |> keep(columns: ["doc"])"""


def timeline(bucket: str, *, docs: tuple[int, int], log: tuple[int, int] | None) -> str:
    """Alert records with point time in ``docs`` and events written in ``log`` (``[start, stop)``).

    One row per point: ``_measurement`` (``alerts_by_id`` or ``alert_event_log``) and
    ``_value`` (the ``doc``). One request for both: InfluxDB spends milliseconds of CPU on
    every query however small, so a list page asks once per window.
    """
    branches = [(ALERTS_BY_ID, docs)] + ([(ALERT_EVENT_LOG, log)] if log else [])
    parts = [
        f"""from(bucket: {string(bucket)})
    {_range(*span)}
    |> filter(fn: (r) => r._measurement == "{measurement}" and r._field == "doc")
    |> keep(columns: ["_measurement", "_value"])"""
        for measurement, span in branches
    ]
    return parts[0] if len(parts) == 1 else "union(tables: [\n  " + ",\n  ".join(parts) + "\n])"


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

    The slow path (a pivot of every minute and a Flux ``reduce``) for points written before
    ``vitals_1m`` had its ``sum`` field; :func:`vitals_windows` is the fast one. Each output
    row is one (vital, bucket): ``bucket`` (ns), ``wsum`` (sum of mean x count), ``count``,
    ``min``, ``max``; the caller divides ``wsum`` by ``count``.
    """
    where = _vitals_where(patient_id, vitals)
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


def _vitals_where(patient_id: str, vitals: Collection[str] | None) -> str:
    where = f'r._measurement == "{VITALS_1M}" and r.patient_id == {string(patient_id)}'
    if vitals is not None:
        where += f" and {any_of('vital', vitals)}" if vitals else " and false"
    return where


def vitals_minutes(
    bucket: str, patient_id: str, *, start_ns: int, stop_ns: int, vitals: Collection[str] | None
) -> str:
    """The stored minutes in ``[start, stop)``: ``_time``, ``vital``, mean, min, max, count."""
    fields = any_of("_field", ["mean", "min", "max", "count"])
    return f"""from(bucket: {string(bucket)})
  {_range(start_ns, stop_ns)}
  |> filter(fn: (r) => {_vitals_where(patient_id, vitals)} and {fields})
  |> keep(columns: ["_time", "_field", "_value", "vital"])
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")"""


def vitals_windows(
    bucket: str,
    patient_id: str,
    *,
    start_ns: int,
    stop_ns: int,
    width_s: int,
    vitals: Collection[str] | None,
) -> str:
    """Minutes in ``[start, stop)`` aggregated into epoch-aligned windows of ``width_s``.

    One row per (window, vital): ``_time``, ``vital``, ``min`` (min), ``max`` (max), ``count``
    and ``sum`` (sums, as floats): window aggregates InfluxDB computes in its storage engine.
    ``_time`` is the window's start, clipped to ``start`` for the first window (callers align
    it down). Each branch repeats the source so that the planner pushes every aggregate down;
    only the pivot of the (few) windows runs in Flux.
    """
    where = _vitals_where(patient_id, vitals)
    branches = [
        f"""from(bucket: {string(bucket)})
    {_range(start_ns, stop_ns)}
    |> filter(fn: (r) => {where} and {any_of("_field", fields)})
    |> aggregateWindow(every: {width_s}s, fn: {fn}, createEmpty: false, timeSrc: "_start")
    |> toFloat()
    |> keep(columns: ["_time", "_field", "_value", "vital"])"""
        for fields, fn in ((["min"], "min"), (["max"], "max"), (["count", "sum"], "sum"))
    ]
    pivot = 'pivot(rowKey: ["_time", "vital"], columnKey: ["_field"], valueColumn: "_value")'
    return "union(tables: [\n  " + ",\n  ".join(branches) + f"\n])\n  |> {pivot}"


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

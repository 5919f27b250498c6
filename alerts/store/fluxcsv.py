"""Flux query results as plain rows: un-annotated CSV read with the stdlib ``csv`` module.

The client's own result parser builds a ``FluxRecord`` per row and converts every cell by
its annotation; for the tens of thousands of cells a vitals history or an alert page
returns, that costs more CPU in the API process than InfluxDB spends answering. This asks
for CSV without annotations and hands each row back as a ``dict`` of strings, so readers
convert only the cells they use. A null cell reads as ``""``.

Times come back as RFC 3339 strings with nanoseconds (:data:`DIALECT`); :func:`rfc3339_ns`
turns one into epoch nanoseconds.

Examples
--------
>>> text = (
...     ",result,table,_time,_value\\r\\n"
...     ",_result,0,2024-05-01T08:00:00.25Z,1.5\\r\\n"
...     "\\r\\n"
...     ",result,table,_time,note\\r\\n"
...     ',_result,1,2024-05-01T08:01:00Z,"a, b"\\r\\n'
... )
>>> rows = list(parse(text))
>>> rows[0]["_value"], rows[1]["note"]
('1.5', 'a, b')
>>> rfc3339_ns(rows[0]["_time"])
1714550400250000000
"""

from __future__ import annotations

import calendar
import csv
import io
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, Final

__all__ = ["DIALECT", "parse", "rfc3339_ns"]

#: The dialect queries ask for (keyword arguments of ``influxdb_client.Dialect``).
DIALECT: Final[dict[str, Any]] = {
    "header": True,
    "annotations": [],
    "delimiter": ",",
    "date_time_format": "RFC3339Nano",
}


def parse(text: str) -> Iterator[dict[str, str]]:
    """Rows of an un-annotated Flux CSV response, keyed by column name.

    Each table (or run of tables sharing a schema) starts with its header row; the leading
    annotation column is empty.
    """
    header: list[str] | None = None
    for row in csv.reader(io.StringIO(text, newline="")):
        if len(row) < 3:
            header = None  # the blank line between tables of different schemas
            continue
        if header is None or (row[1] == "result" and row[2] == "table"):
            header = row
            continue
        yield dict(zip(header, row, strict=False))


@lru_cache(maxsize=1 << 16)
def _seconds(prefix: str) -> int:
    date, _, clock = prefix.partition("T")
    year, month, day = date.split("-")
    hour, minute, second = clock.split(":")
    return calendar.timegm(
        (int(year), int(month), int(day), int(hour), int(minute), int(second), 0, 0, 0)
    )


def rfc3339_ns(text: str) -> int:
    """Epoch nanoseconds of a UTC RFC 3339 time (``...Z``, up to 9 fractional digits).

    Examples
    --------
    >>> rfc3339_ns("1970-01-01T00:00:01.000000002Z"), rfc3339_ns("2024-05-01T08:00:00Z")
    (1000000002, 1714550400000000000)
    """
    seconds = _seconds(text[:19])
    if len(text) > 20 and text[19] == ".":
        return seconds * 1_000_000_000 + int(text[20:-1].ljust(9, "0"))
    return seconds * 1_000_000_000

"""Reading recorded samples for ``vigil replay`` and ``vigil eval``: JSONL or CSV files.

A :class:`RecordReader` yields raw sample mappings in file order, exactly as a device sent
them (validation is :func:`ingest.sample.parse_sample`'s job, inside the replay);
:meth:`RecordReader.entries`, what replay reads, gives a plain valid JSON line as its
validated sample at once (:func:`ingest.sample.parse_json_sample`, the same sample, faster).
JSONL has one JSON object per line; CSV has a header row (after a UTF-8 byte-order mark, if
a spreadsheet wrote one) and its cells are converted by
:func:`ingest.sample.coerce_text_fields` (empty cell = not reported). The format is chosen by
the file suffix (``.csv``, else JSONL). Lines that are not JSON objects (or CSV rows with too
many cells or bytes that are not UTF-8) are counted in :attr:`RecordReader.malformed` and
skipped. NaN, Infinity and out-of-range numbers are read as the gateway reads them, so that
validation refuses their sample as ``not_finite``, as it does live. ``on_progress`` receives
bytes read so far.

A file of one stream may leave the patient out: ``patient_id`` fills it in for every record
without one (the CLI names a CSV that has no ``patient_id`` column after the file). A CSV
header without a ``ts`` column reads its ``timestamp`` or ``time`` column (any case) as ``ts``:
a metric exported as ``timestamp,value`` is scored as it is.

Examples
--------
>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as d:
...     p = pathlib.Path(d) / "s.csv"
...     _ = p.write_text("patient_id,device_id,ts,hr,sbp\\np1,d1,2025-01-06T00:00:00Z,71,\\n")
...     rows = list(RecordReader(p))
>>> rows
[{'patient_id': 'p1', 'device_id': 'd1', 'ts': '2025-01-06T00:00:00Z', 'hr': 71.0, 'sbp': None}]
>>> with tempfile.TemporaryDirectory() as d:
...     p = pathlib.Path(d) / "cpu.csv"
...     _ = p.write_text("timestamp,value\\n2014-04-01 00:00:00,0.13\\n")
...     rows = list(RecordReader(p, patient_id="cpu"))
>>> rows
[{'ts': '2014-04-01 00:00:00', 'value': 0.13, 'patient_id': 'cpu'}]
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from ingest.payload import loads_lenient
from ingest.sample import Sample, coerce_text_fields, parse_json_sample

logger = logging.getLogger(__name__)

__all__ = ["TS_COLUMNS", "RecordReader", "csv_header", "ts_column"]

#: Bytes between two progress callbacks.
_PROGRESS_EVERY = 1 << 20
#: CSV columns read as ``ts`` when the header has none (compared in lower case).
TS_COLUMNS = ("timestamp", "time")


def ts_column(header: list[str]) -> str | None:
    """The column of a CSV ``header`` that holds the event time: ``ts``, else an alias.

    >>> ts_column(["patient_id", "ts", "hr"]), ts_column(["Timestamp", "value"])
    ('ts', 'Timestamp')
    >>> ts_column(["when", "value"]) is None
    True
    """
    if "ts" in header:
        return "ts"
    lower = [h.lower() for h in header]
    for alias in TS_COLUMNS:
        if alias in lower:
            return header[lower.index(alias)]
    return None


def csv_header(path: Path) -> list[str]:
    """The header row of a CSV file (empty if the file is)."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        return next(csv.reader(fh), [])


class RecordReader:
    """Iterate the raw samples of a JSONL or CSV file (see the module docstring).

    Parameters
    ----------
    path
        The input file.
    on_progress
        Called with the number of bytes read so far, about every MiB and at the end.
    patient_id
        The patient (stream) of records without a ``patient_id``; ``None`` leaves them without
        one (validation then refuses them as ``bad_id``).
    """

    def __init__(
        self,
        path: Path,
        *,
        on_progress: Callable[[int], None] | None = None,
        patient_id: str | None = None,
    ) -> None:
        self.path = path
        self.on_progress = on_progress
        self.patient_id = patient_id
        self.malformed = 0

    @property
    def is_csv(self) -> bool:
        """Whether the file is read as CSV."""
        return self.path.suffix.lower() == ".csv"

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._csv() if self.is_csv else self._jsonl()

    def entries(self) -> Iterator[dict[str, Any] | Sample]:
        """The records as :meth:`__iter__` reads them, or their samples, as ``vigil replay``
        takes them: a JSON line that :func:`~ingest.sample.parse_json_sample` accepts comes as
        its validated :class:`~ingest.sample.Sample` (one call instead of a JSON object and its
        validation), every other record as the mapping :meth:`__iter__` gives."""
        if self.is_csv:
            yield from self._csv()
            return
        default = self.patient_id
        for line in self._lines():
            sample = parse_json_sample(line, patient_id=default)
            if sample is not None:
                yield sample
            else:
                obj = self._record(line)
                if obj is not None:
                    yield obj

    def _jsonl(self) -> Iterator[dict[str, Any]]:
        for line in self._lines():
            obj = self._record(line)
            if obj is not None:
                yield obj

    def _lines(self) -> Iterator[bytes]:
        done = mark = 0
        with self.path.open("rb") as fh:
            for line in fh:
                done += len(line)
                if done - mark >= _PROGRESS_EVERY and self.on_progress is not None:
                    self.on_progress(done)
                    mark = done
                yield line
        if self.on_progress is not None:
            self.on_progress(done)

    def _record(self, line: bytes) -> dict[str, Any] | None:
        """The mapping of a JSON line; ``None`` for a blank line, or one that is no JSON
        object (counted in :attr:`malformed`)."""
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            if not line.strip():
                return None  # a blank line (checked only here: most lines are JSON)
            try:  # NaN, Infinity, 1e400: read as the gateway reads them (not_finite)
                obj = loads_lenient(line)
            except ValueError:
                obj = None
        if type(obj) is not dict:
            self.malformed += 1
            return None
        if self.patient_id is not None and obj.get("patient_id") is None:
            obj["patient_id"] = self.patient_id
        return obj

    def _csv(self) -> Iterator[dict[str, Any]]:
        with self.path.open("rb") as raw:
            # A byte that is not UTF-8 spoils its row only (U+FFFD marks it), not the file.
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
            mark = 0
            rows = csv.DictReader(text)
            header = rows.fieldnames
            if header:
                ts = ts_column(list(header))
                if ts is not None and ts != "ts":
                    rows.fieldnames = ["ts" if h == ts else h for h in header]
            default = self.patient_id
            for row in rows:
                if self.on_progress is not None and raw.tell() - mark >= _PROGRESS_EVERY:
                    mark = raw.tell()
                    self.on_progress(mark)
                if None in row or any("\ufffd" in v for v in row.values() if v):
                    self.malformed += 1  # more cells than header columns, or not UTF-8
                    continue
                record = coerce_text_fields(row)
                if default is not None and record.get("patient_id") is None:
                    record["patient_id"] = default
                yield record
            if self.on_progress is not None:
                self.on_progress(raw.tell())

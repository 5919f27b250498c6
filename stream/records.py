"""Reading recorded samples for ``vigil replay`` and ``vigil eval``: JSONL or CSV files.

A :class:`RecordReader` yields raw sample mappings in file order, exactly as a device sent
them (validation is :func:`ingest.sample.parse_sample`'s job, inside the replay). JSONL has one
JSON object per line; CSV has a header row and its cells are converted by
:func:`ingest.sample.coerce_text_fields` (empty cell = not reported). The format is chosen by
the file suffix (``.csv``, else JSONL). Lines that are not JSON objects (or CSV rows with
too many cells or bytes that are not UTF-8) are counted in :attr:`RecordReader.malformed`
and skipped. NaN, Infinity and out-of-range numbers are read as the gateway reads them, so
that validation refuses their sample as ``not_finite``, as it does live.
``on_progress`` receives bytes read so far.

Examples
--------
>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as d:
...     p = pathlib.Path(d) / "s.csv"
...     _ = p.write_text("patient_id,device_id,ts,hr,sbp\\np1,d1,2025-01-06T00:00:00Z,71,\\n")
...     rows = list(RecordReader(p))
>>> rows
[{'patient_id': 'p1', 'device_id': 'd1', 'ts': '2025-01-06T00:00:00Z', 'hr': 71.0, 'sbp': None}]
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
from ingest.sample import coerce_text_fields

logger = logging.getLogger(__name__)

__all__ = ["RecordReader"]

#: Bytes between two progress callbacks.
_PROGRESS_EVERY = 1 << 20


class RecordReader:
    """Iterate the raw samples of a JSONL or CSV file (see the module docstring).

    Parameters
    ----------
    path
        The input file.
    on_progress
        Called with the number of bytes read so far, about every MiB and at the end.
    """

    def __init__(self, path: Path, *, on_progress: Callable[[int], None] | None = None) -> None:
        self.path = path
        self.on_progress = on_progress
        self.malformed = 0

    @property
    def is_csv(self) -> bool:
        """Whether the file is read as CSV."""
        return self.path.suffix.lower() == ".csv"

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._csv() if self.is_csv else self._jsonl()

    def _jsonl(self) -> Iterator[dict[str, Any]]:
        loads = orjson.loads
        done = mark = 0
        with self.path.open("rb") as fh:
            for line in fh:
                done += len(line)
                if done - mark >= _PROGRESS_EVERY and self.on_progress is not None:
                    self.on_progress(done)
                    mark = done
                if not line.strip():
                    continue
                try:
                    obj = loads(line)
                except orjson.JSONDecodeError:
                    try:  # NaN, Infinity, 1e400: read as the gateway reads them (not_finite)
                        obj = loads_lenient(line)
                    except ValueError:
                        obj = None
                if type(obj) is not dict:
                    self.malformed += 1
                    continue
                yield obj
        if self.on_progress is not None:
            self.on_progress(done)

    def _csv(self) -> Iterator[dict[str, Any]]:
        with self.path.open("rb") as raw:
            # A byte that is not UTF-8 spoils its row only (U+FFFD marks it), not the file.
            text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
            mark = 0
            for row in csv.DictReader(text):
                if self.on_progress is not None and raw.tell() - mark >= _PROGRESS_EVERY:
                    mark = raw.tell()
                    self.on_progress(mark)
                if None in row or any("\ufffd" in v for v in row.values() if v):
                    self.malformed += 1  # more cells than header columns, or not UTF-8
                    continue
                yield coerce_text_fields(row)
            if self.on_progress is not None:
                self.on_progress(raw.tell())

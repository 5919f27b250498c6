"""Cohort files: ``samples.jsonl`` (receive order) and ``labels.json``.

A cohort directory holds exactly these two files; :func:`write_cohort` makes one and
:func:`read_labels` reads the labels back (the evaluation uses it).

Examples
--------
>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as d:
...     summary = write_cohort(CohortSpec(patients=2, days=0.25, seed=3), pathlib.Path(d))
...     labels = read_labels(pathlib.Path(d))
...     lines = (pathlib.Path(d) / SAMPLES_FILE).read_text().splitlines()
>>> summary["samples"] == len(lines), labels["summary"]["patients"]
(True, 2)
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Final

import orjson

from ingest.simulator.cohort import CohortSpec, simulate_cohort

logger = logging.getLogger(__name__)

SAMPLES_FILE: Final[str] = "samples.jsonl"
LABELS_FILE: Final[str] = "labels.json"


def write_cohort(spec: CohortSpec, out_dir: Path) -> dict[str, Any]:
    """Simulate ``spec`` and write ``samples.jsonl`` and ``labels.json`` into ``out_dir``.

    Returns
    -------
    dict
        The labels' ``summary`` (patients, samples, events, cold-start events, invalid).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    cohort = simulate_cohort(spec)
    dumps = orjson.dumps
    with (out_dir / SAMPLES_FILE).open("wb") as fh:
        batch: list[bytes] = []
        for rec in cohort.records():
            batch.append(dumps(rec.payload))
            if len(batch) >= 50_000:
                fh.write(b"\n".join(batch) + b"\n")
                batch.clear()
        if batch:
            fh.write(b"\n".join(batch) + b"\n")
    labels = cohort.labels()
    (out_dir / LABELS_FILE).write_text(json.dumps(labels, indent=1) + "\n", encoding="utf-8")
    logger.info("wrote cohort to %s", out_dir)
    summary: dict[str, Any] = labels["summary"]
    return summary


def read_labels(cohort_dir: Path) -> dict[str, Any]:
    """Read ``labels.json`` from a cohort directory."""
    data: dict[str, Any] = json.loads((cohort_dir / LABELS_FILE).read_text(encoding="utf-8"))
    return data

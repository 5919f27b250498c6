"""``vigil eval``: replay a labelled cohort through Vigil and the baselines, and score them.

One pass over ``samples.jsonl`` feeds the exact worker pipeline (:func:`stream.replay.replay`,
with each patient's clinician settings from ``labels.json``, e.g. SpO2 scale 2 for COPD) and
collects the accepted samples for the baselines (:mod:`stream.baselines`). Every method is then
scored with the same definitions (:mod:`stream.evaluation`).

Examples
--------
>>> import tempfile, pathlib
>>> from ingest.simulator import CohortSpec, write_cohort
>>> with tempfile.TemporaryDirectory() as d:
...     _ = write_cohort(CohortSpec(patients=2, days=0.3, seed=1), pathlib.Path(d))
...     ev = evaluate_cohort(pathlib.Path(d))
>>> list(ev.results)
['vigil', 'static', 'static 5 min', 'news2', 'news2 5 min']
>>> ev.samples == ev.accepted + sum(ev.rejected.values())
True
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.exceptions import SampleRejected
from ingest.sample import parse_sample
from ingest.simulator.files import SAMPLES_FILE, read_labels
from stream.baselines import SUSTAIN_S, VitalSeries, baseline_alerts, news2_alarm, static_alarm
from stream.detect.config import PatientConfig
from stream.evaluation import (
    Metrics,
    clinical_alert_times,
    events_from_labels,
    patient_days_from_labels,
    score_alerts,
)
from stream.records import RecordReader
from stream.replay import replay

logger = logging.getLogger(__name__)

__all__ = ["CohortEvaluation", "configs_from_labels", "evaluate_cohort"]


@dataclass
class CohortEvaluation:
    """Scores of every method on one cohort, plus what the replay saw."""

    results: dict[str, Metrics]
    patient_days: float
    samples: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    alert_records: int = 0


def configs_from_labels(labels: Mapping[str, Any]) -> dict[str, PatientConfig]:
    """Clinician settings per patient from ``labels.json`` (``patients[].config``).

    >>> cfg = configs_from_labels({"patients": [{"patient_id": "p1", "config": {"spo2_scale": 2}}]})
    >>> cfg["p1"].spo2_scale
    2
    """
    return {
        str(p["patient_id"]): PatientConfig.from_dict(p.get("config") or {})
        for p in labels["patients"]
    }


def _collect(
    records: Iterable[dict[str, Any]], series: defaultdict[str, VitalSeries]
) -> Iterator[dict[str, Any]]:
    """Pass records through unchanged, keeping the accepted ones' vitals for the baselines."""
    for raw in records:
        try:
            s = parse_sample(raw, patient_id=raw.get("patient_id"), device_id=raw.get("device_id"))  # type: ignore[arg-type]
        except SampleRejected:
            pass
        else:
            series[s.patient_id].append(s.ts, s.hr, s.spo2, s.rr, s.temp, s.sbp)
        yield raw


def evaluate_cohort(
    cohort_dir: Path, *, on_progress: Callable[[int], None] | None = None
) -> CohortEvaluation:
    """Replay ``cohort_dir`` (``samples.jsonl`` + ``labels.json``) and score every method.

    Parameters
    ----------
    cohort_dir
        A directory written by ``vigil simulate``.
    on_progress
        Called with bytes of ``samples.jsonl`` read so far.
    """
    labels = read_labels(cohort_dir)
    events = events_from_labels(labels)
    days = patient_days_from_labels(labels)
    configs = configs_from_labels(labels)
    scales = {pid: cfg.spo2_scale for pid, cfg in configs.items()}

    series: defaultdict[str, VitalSeries] = defaultdict(VitalSeries)
    reader = RecordReader(cohort_dir / SAMPLES_FILE, on_progress=on_progress)
    result = replay(_collect(reader, series), configs=configs, keep_scores=False)
    logger.info("replayed %d samples of %d patients", result.samples, len(series))

    results = {
        "vigil": score_alerts(events, clinical_alert_times(result.alerts), patient_days=days)
    }
    for name, rule in (("static", static_alarm), ("news2", news2_alarm)):
        for suffix, sustain in (("", 0.0), (" 5 min", SUSTAIN_S)):
            alerts = baseline_alerts(series, rule, sustain_s=sustain, spo2_scales=scales)
            results[name + suffix] = score_alerts(events, alerts, patient_days=days)
    rejected = Counter(result.rejected)
    if reader.malformed:
        rejected["malformed_line"] += reader.malformed
    return CohortEvaluation(
        results=results,
        patient_days=days,
        samples=result.samples + reader.malformed,
        accepted=result.accepted,
        rejected=rejected,
        alert_records=len(result.alerts),
    )

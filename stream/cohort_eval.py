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

import msgspec

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

__all__ = [
    "CohortEvaluation",
    "configs_from_labels",
    "evaluate_cohort",
    "parse_patient_configs",
]


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

    A patient entry without a ``config`` object may carry the settings itself (e.g.
    ``{"patient_id": "p2", "spo2_scale": 2}``); unknown keys are ignored.

    >>> cfg = configs_from_labels({"patients": [{"patient_id": "p1", "config": {"spo2_scale": 2}},
    ...                                         {"patient_id": "p2", "spo2_scale": 2}]})
    >>> cfg["p1"].spo2_scale, cfg["p2"].spo2_scale
    (2, 2)
    """
    return parse_patient_configs({"patients": labels["patients"]})


def parse_patient_configs(data: Any) -> dict[str, PatientConfig]:
    """Clinician settings from a JSON document in any of the shapes ``--patient-config`` takes.

    ``{patient_id: config}``, ``{"patients": {patient_id: config}}`` or a ``labels.json``
    (``{"patients": [{"patient_id": ..., "config": {...}}]}``).

    Raises
    ------
    ValueError
        With a message naming the patient and the field, for any other shape or value.

    Examples
    --------
    >>> parse_patient_configs({"patients": {"p1": {"spo2_scale": 2}}})["p1"].spo2_scale
    2
    >>> parse_patient_configs({"p1": {"spo2_scale": "x"}})
    Traceback (most recent call last):
    ...
    ValueError: patient p1: Expected `int`, got `str` - at `$.spo2_scale`
    """
    if not isinstance(data, Mapping):
        raise ValueError("expected a JSON object")
    patients = data.get("patients")
    if isinstance(patients, list):
        entries: dict[str, Any] = {}
        for i, p in enumerate(patients):
            if not isinstance(p, Mapping) or "patient_id" not in p:
                raise ValueError(f"patients[{i}]: expected an object with a patient_id")
            cfg = p.get("config")
            entries[str(p["patient_id"])] = cfg if isinstance(cfg, Mapping) else p
    elif isinstance(patients, Mapping):
        entries = {str(k): v for k, v in patients.items()}
    else:
        entries = {str(k): v for k, v in data.items()}
    out: dict[str, PatientConfig] = {}
    for pid, cfg in entries.items():
        if not isinstance(cfg, Mapping):
            raise ValueError(f"patient {pid}: expected a JSON object of settings")
        try:
            out[pid] = PatientConfig.from_dict(cfg)
        except (msgspec.ValidationError, ValueError, TypeError) as exc:
            raise ValueError(f"patient {pid}: {exc}") from None
    return out


def _collect(
    records: Iterable[dict[str, Any]], series: defaultdict[str, VitalSeries]
) -> Iterator[dict[str, Any]]:
    """Pass records through unchanged, keeping the accepted ones' vitals for the baselines."""
    for raw in records:
        try:
            pid = raw.get("patient_id")
            did = raw.get("device_id")
            if did is None:  # a recorded stream without devices: one per patient (as replay)
                did = pid
            s = parse_sample(raw, patient_id=pid, device_id=did)  # type: ignore[arg-type]
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

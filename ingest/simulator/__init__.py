"""A seeded, labelled cohort generator: realistic wearable streams with known events.

Pure (numpy only): :mod:`~ingest.simulator.profiles` draws who the patients are,
:mod:`~ingest.simulator.events` what happens to them, :mod:`~ingest.simulator.physiology` what
their bodies do minute by minute, :mod:`~ingest.simulator.device` what the wearable makes of it,
:mod:`~ingest.simulator.cohort` merges patients in receive order, and
:mod:`~ingest.simulator.files` writes ``samples.jsonl`` and ``labels.json``.

``vigil simulate`` writes a cohort; the demo and the MQTT fleet stream one with
:func:`iter_cohort`.
"""

from ingest.simulator.cohort import (
    DEFAULT_START,
    Cohort,
    CohortSpec,
    PatientTrace,
    SimRecord,
    iter_cohort,
    simulate_cohort,
    simulate_patient,
)
from ingest.simulator.events import EVENT_TYPES, Event, EventType
from ingest.simulator.files import LABELS_FILE, SAMPLES_FILE, read_labels, write_cohort
from ingest.simulator.profiles import Physiology, ProfileName

__all__ = [
    "DEFAULT_START",
    "EVENT_TYPES",
    "LABELS_FILE",
    "SAMPLES_FILE",
    "Cohort",
    "CohortSpec",
    "Event",
    "EventType",
    "PatientTrace",
    "Physiology",
    "ProfileName",
    "SimRecord",
    "iter_cohort",
    "read_labels",
    "simulate_cohort",
    "simulate_patient",
    "write_cohort",
]

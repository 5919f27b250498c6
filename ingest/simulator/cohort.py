"""A seeded, labelled cohort: many patients merged into one stream in receive order.

Patient ``i`` of a cohort depends only on ``(seed, i)`` (``numpy.random.SeedSequence([seed, i])``),
so growing a cohort keeps its existing patients identical. Samples of all patients are merged
in the order they *arrive* (see :mod:`ingest.simulator.device` for late, batched delivery).

Examples
--------
>>> spec = CohortSpec(patients=2, days=0.5, seed=7)
>>> cohort = simulate_cohort(spec)
>>> records = list(cohort.records())
>>> len(records) == cohort.n_samples
True
>>> first = records[0].payload
>>> sorted(first)[:4], first["ts"].endswith("Z")
(['device_id', 'hr', 'motion', 'patient_id'], True)
>>> all(a.received_at <= b.received_at for a, b in zip(records, records[1:]))
True
>>> [r.payload["hr"] for r in simulate_cohort(spec).records()][:5] == [
...     r.payload["hr"] for r in records[:5]]
True
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from ingest.sample import format_ts as iso
from ingest.simulator.device import CHANNELS, DeviceTrace, observe
from ingest.simulator.events import Event, schedule_events
from ingest.simulator.physiology import true_vitals
from ingest.simulator.profiles import Physiology, draw_physiology, draw_profile

logger = logging.getLogger(__name__)

#: Default cohort start (a Monday, midnight UTC): fixed so that a seed fully determines output.
DEFAULT_START: Final[float] = datetime(2025, 1, 6, tzinfo=UTC).timestamp()
_INT_CHANNELS: Final[frozenset[str]] = frozenset({"hr", "spo2", "rr", "sbp", "dbp"})


@dataclass(frozen=True, slots=True)
class CohortSpec:
    """What to simulate.

    Parameters
    ----------
    patients
        Number of patients.
    days
        Monitoring days per patient (each patient starts 0-2 h after ``start``).
    seed
        Seed: the same spec always gives the same cohort.
    start
        Epoch seconds (UTC) of the cohort start.
    period_s
        Seconds between samples of one device.
    events_per_day
        Mean labelled events per patient-day (0.3: ~1.5 per 5 days, some patients none).
    cold_start_fraction
        Share of patients-with-events whose first event begins < 6 h after their first sample.
    invalid_fraction
        Share of samples carrying an impossible value.
    severity
        Least factor on each event's plateau departures from the patient's usual values: an
        event's factor is drawn uniformly from ``[severity, 1]`` (1: the events as drawn;
        0.6: milder ones, some within static thresholds). Below 1 it changes the events only:
        times, patients and noise stay those of the same seed at 1.
    ramp
        Minutes in which every event but a sepsis-like deterioration reaches its plateau,
        instead of the 10-60 drawn (``None``: as drawn; 1: an abrupt onset, from one minute
        to the next). Onsets and ends stay the same (the plateau lasts longer), as do the
        patients and the noise: how much of a detector's delay is its own, and how much the
        ramp's (``bench/delay_floor.py --ramp``).
    """

    patients: int = 150
    days: float = 5.0
    seed: int = 0
    start: float = DEFAULT_START
    period_s: float = 60.0
    events_per_day: float = 0.3
    cold_start_fraction: float = 0.3
    invalid_fraction: float = 0.0005
    severity: float = 1.0
    ramp: int | None = None


@dataclass(frozen=True, slots=True)
class SimRecord:
    """One message as a device sends it: when it arrives and its JSON payload."""

    received_at: float
    payload: dict[str, Any]


@dataclass(slots=True)
class PatientTrace:
    """One simulated patient: identity, physiology, events and device output."""

    patient_id: str
    device_id: str
    physiology: Physiology
    start: float
    period_s: float
    events: list[Event]
    exercise: list[tuple[int, int]]
    device: DeviceTrace

    def label(self) -> dict[str, Any]:
        """The patient's entry in ``labels.json`` (times ISO-8601 UTC)."""
        at = self.at
        d = self.device
        sent = np.flatnonzero(d.keep)
        return {
            "patient_id": self.patient_id,
            "device_id": self.device_id,
            "profile": self.physiology.profile,
            "config": {"spo2_scale": self.physiology.spo2_scale},
            "baseline": self.physiology.as_dict(),
            "first_sample": at(int(sent[0])),
            "last_sample": at(int(sent[-1])),
            "clock": {
                "offset_s": round(d.clock_offset_s, 2),
                "drift_ppm": round(d.clock_drift_ppm, 2),
            },
            "charging_gaps": [{"start": at(a), "end": at(b)} for a, b in d.gaps],
            "dropouts": [
                {"start": at(a), "end": at(b), "delivered_at": iso(round(t, 3))}
                for a, b, t in d.dropouts
            ],
            "exercise": [{"start": at(a), "end": at(b)} for a, b in self.exercise],
            "artifacts": [{"start": at(a), "end": at(b), "kind": k} for a, b, k in d.artifacts],
        }

    def at(self, index: int) -> str:
        """ISO time of sample ``index`` on the true (not device) clock."""
        return iso(self.start + index * self.period_s)

    def event_labels(self) -> list[dict[str, Any]]:
        """Labelled events; ``cold_start`` is onset < 6 h after the first sample."""
        first = self.start + float(np.flatnonzero(self.device.keep)[0]) * self.period_s
        out = []
        for ev in self.events:
            onset = self.start + ev.onset * 60.0
            out.append(
                {
                    "patient_id": self.patient_id,
                    "type": ev.type,
                    "onset": iso(onset),
                    "end": iso(self.start + ev.end * 60.0),
                    "cold_start": onset - first < 6 * 3600.0,
                    "ramp_min": ev.ramp,
                    "levels": {k: round(v, 1) for k, v in ev.levels.items()},
                    "deltas": {k: round(v, 1) for k, v in ev.deltas.items()},
                }
            )
        return out

    def payload(self, row: int, ts_text: str) -> dict[str, Any]:
        """The JSON payload of sample ``row`` (absent channels omitted)."""
        cols = self.device.columns
        out: dict[str, Any] = {
            "patient_id": self.patient_id,
            "device_id": self.device_id,
            "ts": ts_text,
        }
        for name in CHANNELS:
            x = float(cols[name][row])
            if x == x:  # not NaN
                out[name] = int(x) if name in _INT_CHANNELS else x
        bad = self.device.invalid.get(row)
        if bad is not None:
            out[bad[0]] = bad[1]
        return out


def simulate_patient(spec: CohortSpec, index: int) -> PatientTrace:
    """Simulate patient ``index`` of ``spec`` (independent of the other patients)."""
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, index]))
    per_min = 60.0 / spec.period_s
    start = spec.start + round(float(rng.uniform(0, 120))) * 60.0
    n = int(spec.days * 86400.0 / spec.period_s)
    phys = draw_physiology(rng, draw_profile(rng))
    events = schedule_events(
        rng,
        phys,
        int(n / per_min),
        events_per_day=spec.events_per_day,
        cold_start_fraction=spec.cold_start_fraction,
    )
    if spec.severity < 1.0:  # a generator of its own: the rest of the patient stays the same
        mild = np.random.default_rng(np.random.SeedSequence([spec.seed, index, 1]))
        events = [ev.scaled(phys, float(mild.uniform(spec.severity, 1.0))) for ev in events]
    if spec.ramp is not None:
        events = [ev.with_ramp(spec.ramp) for ev in events]
    protected = [(int(a * per_min), int(b * per_min)) for a, b in (e.protected for e in events)]
    vitals = true_vitals(
        rng, phys, n=n, start=start, period_s=spec.period_s, events=events, protected=protected
    )
    device = observe(
        rng,
        vitals,
        start=start,
        period_s=spec.period_s,
        protected=protected,
        invalid_fraction=spec.invalid_fraction,
    )
    return PatientTrace(
        patient_id=f"p{index + 1:04d}",
        device_id=f"dev-{index + 1:04d}",
        physiology=phys,
        start=start,
        period_s=spec.period_s,
        events=events,
        exercise=vitals.bouts,
        device=device,
    )


@dataclass(slots=True)
class Cohort:
    """A simulated cohort; :meth:`records` streams it in receive order."""

    spec: CohortSpec
    patients: list[PatientTrace]
    #: per merged sample, in receive order: patient index, row in that patient, receive time
    who: NDArray[np.int64] = field(init=False)
    rows: NDArray[np.int64] = field(init=False)
    received_at: NDArray[np.float64] = field(init=False)

    def __post_init__(self) -> None:
        sent = [np.flatnonzero(p.device.keep) for p in self.patients]
        who = np.concatenate([np.full(r.size, i, dtype=np.int64) for i, r in enumerate(sent)])
        rows = np.concatenate(sent).astype(np.int64)
        received = np.concatenate(
            [p.device.received_at[r] for p, r in zip(self.patients, sent, strict=True)]
        )
        order = np.lexsort((rows, who, received))  # ties: patient index, then row
        self.who, self.rows, self.received_at = who[order], rows[order], received[order]

    @property
    def n_samples(self) -> int:
        """Number of samples sent (charging gaps excluded)."""
        return int(self.who.size)

    def records(self) -> Iterator[SimRecord]:
        """Every sample in receive order, as the device would send it."""
        ts_text = [
            np.char.add(np.datetime_as_string(p.device.ts.astype("datetime64[s]"), unit="s"), "Z")
            for p in self.patients
        ]
        triples = zip(self.who.tolist(), self.rows.tolist(), self.received_at.tolist(), strict=True)
        for i, row, t in triples:
            p = self.patients[i]
            yield SimRecord(received_at=t, payload=p.payload(row, str(ts_text[i][row])))

    def labels(self) -> dict[str, Any]:
        """The ``labels.json`` document."""
        invalid = []
        for p in self.patients:
            for row, (name, value) in sorted(p.device.invalid.items()):
                invalid.append(
                    {
                        "patient_id": p.patient_id,
                        "ts": iso(float(p.device.ts[row])),
                        "field": name,
                        "value": value,
                        "expected_reason": "wrong_type"
                        if isinstance(value, str)
                        else "out_of_range",
                    }
                )
        events = [e for p in self.patients for e in p.event_labels()]
        return {
            "version": 1,
            "spec": {k: getattr(self.spec, k) for k in self.spec.__slots__},
            "start": iso(self.spec.start),
            "notes": (
                "Event onset = first minute of the ramp, end = last minute of the plateau "
                "(recovery takes 10-60 min after it); times are on the true clock, sample ts on "
                "the drifting device clock (< 15 s apart). samples.jsonl is in receive order: "
                "dropout backlogs arrive late, so ts is out of order by up to ~65 min. "
                "Temperature is in every sample; sbp/dbp only in cuff samples (every 15-60 min)."
            ),
            "patients": [p.label() for p in self.patients],
            "events": events,
            "invalid": invalid,
            "summary": {
                "patients": len(self.patients),
                "samples": self.n_samples,
                "events": len(events),
                "cold_start_events": sum(1 for e in events if e["cold_start"]),
                "invalid_samples": len(invalid),
            },
        }


def simulate_cohort(spec: CohortSpec) -> Cohort:
    """Simulate every patient of ``spec``."""
    logger.info("simulating %d patients x %.1f days (seed %d)", spec.patients, spec.days, spec.seed)
    return Cohort(spec=spec, patients=[simulate_patient(spec, i) for i in range(spec.patients)])


def iter_cohort(spec: CohortSpec) -> Iterator[SimRecord]:
    """Stream a cohort in receive order, e.g. for a time-accelerated demo or an MQTT fleet.

    Set ``spec.start`` to the wall-clock start you want; each record's ``received_at`` says
    when (in simulated time) to send it.

    >>> recs = iter_cohort(CohortSpec(patients=1, days=0.1, seed=1, start=1_700_000_000.0))
    >>> r = next(recs)
    >>> r.payload["patient_id"], r.received_at >= 1_700_000_000.0
    ('p0001', True)
    """
    yield from simulate_cohort(spec).records()

"""Detection as different devices would report the same patients.

Usage::

    .venv/bin/python bench/devices.py [--patients 100] [--days 5] [--seed 424242] [--start-hour 0]

One labelled cohort (``vigil simulate``, generated in memory) is rewritten the way real
devices differ from our simulator's, then replayed through the exact ``vigil replay`` path and
scored as ``vigil eval`` scores it (recall, median delay, false clinical alerts per
patient-day). Every variant keeps the physiology and the labels; only the reporting changes:

- ``as simulated``: the reference;
- ``no quality``: the device sends no signal-quality index (artifacts are only in the values);
- ``raw magnitude``: motion is the accelerometer magnitude with gravity (~1 g at rest);
- ``bias +0.04 g``: motion with a constant bias (removed once the floor is trusted, 18 h
  in: :attr:`~stream.detect.activity.Activity.floor`);
- ``motion x0.5`` / ``motion x0.3``: motion read on a smaller scale than the simulator's (a
  device's filtering or averaging window): a workout at 0.3-1 g instead of 0.8-2 g, under the
  burst bound as given (:attr:`~stream.detect.activity.Activity.typical`);
- ``motion x2``: on a larger scale (sleep then reads 0.02-0.04 g, above the still bound as
  given, which follows the floor once that is trusted, 18 h in:
  :attr:`~stream.detect.activity.Activity.still_at`);
- ``cuff apart``: blood pressure comes from a separate cuff device (its own ``device_id``);
- ``cuff 10 min ahead``: that cuff's clock runs 10 minutes ahead of the wearable's (or the
  wearable's behind: devices keep clocks of their own, and ingest bounds only a lead);
- ``redelivered``: 5 % of messages arrive twice (MQTT QoS 1 after a reconnect);
- ``no motion``: no accelerometer at all (exercise is then indistinguishable from
  tachycardia by design: reported, not a target);
- ``no temp`` / ``no rr``: a device without that sensor (the events only that vital shows
  cannot be seen: reported, not a target).

A variant is robust when its figures stay near the reference. Figures are exact (no timing).

``--start-hour H`` begins every patient's monitoring at about ``H``:00 UTC instead of midnight
(the simulator's day is UTC): patients enrolled by day meet their first night only hours in.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ingest.sample import format_ts, parse_ts  # noqa: E402
from ingest.simulator.cohort import (  # noqa: E402
    DEFAULT_START,
    Cohort,
    CohortSpec,
    simulate_cohort,
)
from stream.cohort_eval import configs_from_labels  # noqa: E402
from stream.evaluation import (  # noqa: E402
    clinical_alert_times,
    events_from_labels,
    patient_days_from_labels,
    score_alerts,
)
from stream.replay import replay  # noqa: E402

Record = dict[str, Any]
Variant = Callable[[Iterator[Record]], Iterator[Record]]


def _each(edit: Callable[[Record], None]) -> Variant:
    def variant(records: Iterator[Record]) -> Iterator[Record]:
        for r in records:
            edit(r)
            yield r

    return variant


def _motion(f: Callable[[float], float]) -> Callable[[Record], None]:
    def edit(r: Record) -> None:
        m = r.get("motion")
        if isinstance(m, float | int):
            r["motion"] = round(f(float(m)), 3)

    return edit


def _later(ts: Any, seconds: float) -> Any:
    """``ts`` (epoch seconds or ISO text, as a payload has it) ``seconds`` later."""
    if not seconds:
        return ts
    if isinstance(ts, int | float):
        return ts + seconds
    return format_ts(parse_ts(ts) + seconds)


def _cuff_apart(records: Iterator[Record], ahead: float = 0.0) -> Iterator[Record]:
    for r in records:
        sbp, dbp = r.pop("sbp", None), r.pop("dbp", None)
        yield r
        if sbp is not None:
            yield {
                "patient_id": r["patient_id"],
                "device_id": f"cuff-{r['patient_id']}",
                "ts": _later(r["ts"], ahead),
                "sbp": sbp,
                "dbp": dbp,
            }


def _redelivered(records: Iterator[Record]) -> Iterator[Record]:
    rng = random.Random(5)
    for r in records:
        yield r
        if rng.random() < 0.05:
            yield dict(r)


VARIANTS: dict[str, Variant] = {
    "as simulated": lambda records: records,
    "no quality": _each(lambda r: r.pop("quality", None)),
    "raw magnitude": _each(_motion(lambda m: 1.0 + m)),
    "bias +0.04 g": _each(_motion(lambda m: m + 0.04)),
    "motion x0.5": _each(_motion(lambda m: 0.5 * m)),
    "motion x0.3": _each(_motion(lambda m: 0.3 * m)),
    "motion x2": _each(_motion(lambda m: 2.0 * m)),
    "cuff apart": _cuff_apart,
    "cuff 10 min ahead": lambda records: _cuff_apart(records, ahead=600.0),
    "redelivered": _redelivered,
    "no motion": _each(lambda r: r.pop("motion", None)),
    "no temp": _each(lambda r: r.pop("temp", None)),
    "no rr": _each(lambda r: r.pop("rr", None)),
}


def records(cohort: Cohort) -> Iterator[Record]:
    """The cohort's samples as ``samples.jsonl`` holds them (receive order), fresh copies."""
    for rec in cohort.records():
        yield dict(rec.payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--days", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=424242)
    parser.add_argument(
        "--start-hour", type=float, default=0.0, help="monitoring begins about then (UTC)"
    )
    args = parser.parse_args()
    start = DEFAULT_START + 3600.0 * args.start_hour
    spec = CohortSpec(patients=args.patients, days=args.days, seed=args.seed, start=start)
    t0 = time.perf_counter()
    cohort = simulate_cohort(spec)
    labels = cohort.labels()
    events = events_from_labels(labels)
    days = patient_days_from_labels(labels)
    configs = configs_from_labels(labels)
    print(
        f"{args.patients} patients x {args.days:g} days (seed {args.seed}, from "
        f"{args.start_hour:g}:00): {len(events)} events, {days:.1f} patient-days"
    )
    print(f"{'variant':17s} {'recall':>7s} {'cold':>6s} {'median':>7s} {'p90':>6s} {'FA/pd':>7s}")
    for name, variant in VARIANTS.items():
        result = replay(variant(records(cohort)), configs=configs, keep_scores=False)
        m = score_alerts(events, clinical_alert_times(result.alerts), patient_days=days)
        print(
            f"{name:17s} {m.recall:7.3f} {m.cold_start_recall:6.2f} {m.median_delay_min:7.1f} "
            f"{m.p90_delay_min:6.1f} {m.false_per_patient_day:7.3f}",
            flush=True,
        )
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()

"""Benchmark ``vigil replay``: throughput, peak memory and per-patient state size.

Usage::

    .venv/bin/python bench/replay.py [--runs 3] [--patients 150] [--days 5]

1. **Throughput**: a 150-patient x 5-day cohort (~1.05M samples, generated once into
   ``$VIGIL_CACHE_DIR/bench`` or ``~/.cache/vigil/bench``) is replayed end to end from its JSONL
   file (read, JSON decode, validate, detect, alert policy, every alert record written out as
   JSON, a clock per partition of ``vigil.vitals``: what ``vigil replay`` runs) in a fresh
   process per run;
   samples/s (wall clock, and per CPU-second of the process, which is steadier on a shared
   machine) and peak RSS are reported as the median of ``--runs`` runs.
2. **State size**: the last run snapshots every patient's state after 5 days (mature
   baselines: the largest a state gets). 10 000 and 100 000 patients are then built in fresh
   processes by restoring those mature states under new ids, each fed one more sample so it is
   live; we report pickled ``Pipeline.snapshot`` bytes per patient (median, max) and the RSS
   of the process holding all of them.

Each phase runs in its own subprocess so peak RSS (``ru_maxrss``) belongs to that phase only.

The detectors run the compiled ``ChannelModel.step``, ``Activity.update`` and
``DataQuality.on_sample`` (``stream/detect/_step.c``, ``_activity.c``, ``_technical.c``) when
they were built, and each run says so. ``--compare`` replays each run twice, with them and
with the pure-Python methods, in alternating order, and prints both medians and their ratio:
one run's figures on the same noisy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import BuiltinFunctionType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cache_dir() -> Path:
    base = os.environ.get("VIGIL_CACHE_DIR") or str(Path.home() / ".cache" / "vigil")
    return Path(base) / "bench"


def _status_mib(field: str) -> float:
    """``VmHWM`` (peak) or ``VmRSS`` (current) of this process, in MiB.

    Not ``ru_maxrss``: it survives ``fork``/``exec`` and would report the parent's peak
    (generating the cohort) in a fresh phase process.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _peak_rss_mib() -> float:
    return _status_mib("VmHWM")


def _cohort(patients: int, days: float) -> Path:
    from ingest.simulator import CohortSpec, write_cohort

    out = _cache_dir() / f"cohort-{patients}x{days:g}-seed424242"
    if not (out / "labels.json").exists():
        print(f"generating cohort into {out} ...", flush=True)
        t0 = time.perf_counter()
        write_cohort(CohortSpec(patients=patients, days=days, seed=424242), out)
        print(f"  generated in {time.perf_counter() - t0:.1f} s", flush=True)
    return out


def phase_replay(cohort: Path, states_out: Path | None) -> dict[str, float]:
    """Replay the cohort file once as ``vigil replay`` does; optionally save every snapshot.

    As the command runs it: a clock per partition of ``vigil.vitals`` (the worker's ticks),
    resolutions emitted, every alert record written out as JSON (here to ``/dev/null``).
    """
    import orjson

    from alerts.model import Alert
    from ingest.simulator import read_labels
    from stream.cohort_eval import configs_from_labels
    from stream.detect.activity import activity_update
    from stream.detect.baseline import channel_step
    from stream.detect.technical import quality_on_sample
    from stream.records import RecordReader
    from stream.replay import replay
    from vigil.settings import get_settings

    configs = configs_from_labels(read_labels(cohort))
    partitions = get_settings().vitals_partitions
    with open(os.devnull, "wb") as out:
        write, dumps = out.write, orjson.dumps

        def on_alert(a: Alert) -> None:
            write(dumps(a.to_json_dict()) + b"\n")

        t0, c0 = time.perf_counter(), time.process_time()
        result = replay(
            RecordReader(cohort / "samples.jsonl").entries(),
            configs=configs,
            partitions=partitions,
            keep_scores=False,
            on_alert=on_alert,
            emit_resolved=True,
        )
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    if states_out is not None:
        states = {pid: p.snapshot(pid) for p in result.pipelines for pid in p.patients()}
        states_out.write_bytes(pickle.dumps(states))
    return {
        "samples": result.samples,
        "seconds": seconds,
        "samples_per_s": result.samples / seconds,
        "samples_per_cpu_s": result.samples / cpu,
        "peak_rss_mib": _peak_rss_mib(),
        "alerts": len(result.alerts),
        "compiled": all(
            isinstance(f, BuiltinFunctionType)
            for f in (channel_step, activity_update, quality_on_sample)
        ),
    }


def phase_states(states_file: Path, n: int) -> dict[str, float]:
    """Hold ``n`` patients built from mature snapshots; measure snapshot sizes and RSS."""
    from ingest.sample import Sample
    from stream.pipeline import Pipeline

    base_rss = _status_mib("VmRSS")
    mature: dict[str, bytes] = pickle.loads(states_file.read_bytes())  # noqa: S301 - own file
    pipe = Pipeline()
    donors = sorted(mature)
    t0 = time.perf_counter()
    for i in range(n):
        donor = donors[i % len(donors)]
        # Re-key the snapshot: (version, patient_id, monitor, tracker) with the new id.
        version, _, monitor, tracker = pickle.loads(mature[donor])  # noqa: S301 - own file
        pid = f"bench-{i:06d}"
        monitor.patient_id = pid
        tracker.patient_id = pid
        pipe.restore(pid, pickle.dumps((version, pid, monitor, tracker), protocol=5))
        last = monitor_last_ts(monitor)
        pipe.process(Sample(pid, "dev", last + 60.0, hr=72.0, spo2=97.0, rr=15.0, temp=36.8))
    build_s = time.perf_counter() - t0
    del mature
    rss = _status_mib("VmRSS")
    sizes = sorted(len(pipe.snapshot(p)) for p in pipe.patients())
    return {
        "patients": n,
        "median_state_bytes": statistics.median(sizes),
        "max_state_bytes": sizes[-1],
        "rss_mib": rss,
        "base_rss_mib": base_rss,
        "build_s": build_s,
    }


def monitor_last_ts(monitor: object) -> float:
    """Newest event time a restored monitor has seen (falls back to a fixed recent time)."""
    for name in ("last_ts", "watermark", "_last_ts", "_watermark"):
        value = getattr(monitor, name, None)
        if isinstance(value, int | float) and value > 0:
            return float(value)
    return 1_736_600_000.0


def _sub(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--patients", type=int, default=150)
    ap.add_argument("--days", type=float, default=5.0)
    ap.add_argument(
        "--compare",
        action="store_true",
        help="each run also with the pure-Python methods; print the ratio",
    )
    ap.add_argument("--pure-python", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--phase", choices=["replay", "states"], help=argparse.SUPPRESS)
    ap.add_argument("--cohort", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--states-file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.phase == "replay":
        if args.pure_python:  # as if the compiled modules had not been built
            sys.modules["stream.detect._step"] = None  # type: ignore[assignment]
            sys.modules["stream.detect._activity"] = None  # type: ignore[assignment]
            sys.modules["stream.detect._technical"] = None  # type: ignore[assignment]
        print(json.dumps(phase_replay(args.cohort, args.states_file)))
        return
    if args.phase == "states":
        print(json.dumps(phase_states(args.states_file, args.n)))
        return

    cohort = _cohort(args.patients, args.days)
    states_file = _cache_dir() / "mature-states.pickle"
    runs: list[dict[str, float]] = []
    pure: list[dict[str, float]] = []
    for i in range(args.runs):
        # with --compare, alternate which goes first: a machine slowing down favours neither
        modes = ((False, True) if i % 2 == 0 else (True, False)) if args.compare else (False,)
        for pure_python in modes:
            last = i == args.runs - 1 and not pure_python
            extra = ["--states-file", str(states_file)] if last else []
            if pure_python:
                extra.append("--pure-python")
            r = _sub("--phase", "replay", "--cohort", str(cohort), *extra)
            step = "compiled" if r["compiled"] else "pure Python"
            print(
                f"run {i + 1} ({step}): {r['samples']:.0f} samples in {r['seconds']:.1f} s = "
                f"{r['samples_per_s']:,.0f} samples/s wall ({r['samples_per_cpu_s']:,.0f} per "
                f"CPU-s), peak RSS {r['peak_rss_mib']:.0f} MiB",
                flush=True,
            )
            (pure if pure_python else runs).append(r)
    for label, rs in (("replay", runs), ("replay, pure Python", pure)):
        if rs:
            print(
                f"{label} (median of {len(rs)}): "
                f"{statistics.median(r['samples_per_s'] for r in rs):,.0f} samples/s wall, "
                f"{statistics.median(r['samples_per_cpu_s'] for r in rs):,.0f} per CPU-second, "
                f"peak RSS {statistics.median(r['peak_rss_mib'] for r in rs):.0f} MiB"
            )
    if pure:
        ratio = statistics.median(r["samples_per_s"] for r in runs) / statistics.median(
            r["samples_per_s"] for r in pure
        )
        print(f"compiled / pure Python: {ratio:.2f}x (medians, wall)")
    for n in (10_000, 100_000):
        s = _sub("--phase", "states", "--states-file", str(states_file), "--n", str(n))
        per_patient_kib = (s["rss_mib"] - s["base_rss_mib"]) * 1024.0 / n
        print(
            f"{n:,} patients: pickled state median {s['median_state_bytes']:,.0f} B, "
            f"max {s['max_state_bytes']:,.0f} B; RSS {s['rss_mib']:,.0f} MiB "
            f"(~{per_patient_kib:.1f} KiB/patient in memory; built in {s['build_s']:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""``vigil simulate``, ``vigil replay`` and ``vigil eval``: the offline face of detection.

- ``vigil simulate --out DIR`` writes a labelled cohort (:mod:`ingest.simulator`);
  ``--mqtt HOST:PORT`` publishes it as live devices instead (:mod:`ingest.mqtt_fleet` owns
  that mode; this command only parses its options).
- ``vigil replay INPUT --alerts OUT.jsonl [--scores SCORES.csv]`` runs the worker's exact
  detection code (:mod:`stream.replay`) over a JSONL or CSV file of samples.
- ``vigil eval DIR`` replays a labelled cohort and compares Vigil with the baselines
  (:mod:`stream.evaluation`, :mod:`stream.baselines`).

Heavy imports (numpy, the detection core) happen inside the commands so ``vigil --help`` stays
fast.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Annotated, Any

import typer

logger = logging.getLogger(__name__)

__all__ = ["eval_cohort", "register", "replay", "simulate"]


def simulate(
    out: Annotated[
        Path | None,
        typer.Option("--out", file_okay=False, help="Directory for samples.jsonl and labels.json."),
    ] = None,
    patients: Annotated[int, typer.Option("--patients", min=1, help="Number of patients.")] = 150,
    days: Annotated[float, typer.Option("--days", min=0.01, help="Days per patient.")] = 5.0,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same cohort.")] = 0,
    mqtt: Annotated[
        str | None,
        typer.Option("--mqtt", metavar="HOST:PORT", help="Publish live through MQTT instead."),
    ] = None,
    speed: Annotated[
        float, typer.Option("--speed", min=0.0, help="--mqtt: time acceleration (0 = max).")
    ] = 60.0,
    batch_seconds: Annotated[
        float,
        typer.Option("--batch-seconds", min=0.0, help="--mqtt: seconds of samples per message."),
    ] = 0.0,
    enroll: Annotated[
        bool, typer.Option("--enroll", help="--mqtt: register patients and devices first.")
    ] = False,
    credentials: Annotated[
        Path | None, typer.Option("--credentials", help="--mqtt: device passwords JSON file.")
    ] = None,
    id_prefix: Annotated[
        str, typer.Option("--id-prefix", help="--mqtt: prefix for patient and device ids.")
    ] = "",
    rate: Annotated[
        float | None, typer.Option("--rate", min=1e-4, help="Samples/s per device (1/60).")
    ] = None,
    duration: Annotated[
        str | None, typer.Option("--duration", help="Span instead of --days: 90s, 30m, 2h.")
    ] = None,
    severity: Annotated[
        float,
        typer.Option(
            "--severity",
            min=0.0,
            max=1.0,
            help="Milder events: each one's departures from the usual values x U(SEVERITY, 1).",
        ),
    ] = 1.0,
    ramp: Annotated[
        int | None,
        typer.Option(
            "--ramp",
            min=1,
            max=60,
            metavar="MIN",
            help="Every event but sepsis reaches its plateau in MIN minutes (1: abrupt), "
            "instead of 10-60, at the same times.",
        ),
    ] = None,
) -> None:
    """Simulate a labelled cohort of wearable patients (1 sample/min per device)."""
    from ingest.simulator import CohortSpec, write_cohort

    spec = CohortSpec(patients=patients, days=days, seed=seed, severity=severity, ramp=ramp)
    if rate is not None or duration is not None:  # (ingest) --rate/--duration of issue 4
        from ingest.mqtt_fleet import parse_duration

        try:
            span_days = spec.days if duration is None else parse_duration(duration) / 86400.0
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--duration") from None
        spec = dataclasses.replace(
            spec, days=span_days, period_s=spec.period_s if rate is None else 1.0 / rate
        )
    if mqtt is not None:
        from ingest.mqtt_fleet import run_fleet

        host, _, port = mqtt.rpartition(":")
        if not host or not (port.isascii() and port.isdigit()):
            raise typer.BadParameter("expected HOST:PORT", param_hint="--mqtt")
        report = run_fleet(
            spec,
            speed=speed,
            host=host,
            port=int(port),
            batch_seconds=batch_seconds,
            enroll=enroll,
            id_prefix=id_prefix,
            credentials_file=credentials,
        )
        typer.echo(
            f"{report.devices} devices sent {report.messages} messages "
            f"({report.samples} samples) in {report.seconds:.1f} s; {report.denied} denied"
        )
        return
    if out is None:
        raise typer.BadParameter("give --out DIR (or --mqtt HOST:PORT)", param_hint="--out")
    summary = write_cohort(spec, out)
    typer.echo(
        f"wrote {summary['samples']} samples of {summary['patients']} patients to "
        f"{out / 'samples.jsonl'}; {summary['events']} labelled events "
        f"({summary['cold_start_events']} cold start) and {summary['invalid_samples']} invalid "
        f"samples in {out / 'labels.json'}"
    )


def _progress(path: Path, label: str) -> tuple[Any, Callable[[int], None] | None]:
    """A rich progress bar over ``path``'s bytes on a terminal; nothing otherwise."""
    import sys

    if not sys.stderr.isatty():
        return contextlib.nullcontext(), None
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    bar = Progress(
        f"[bold]{label}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        transient=True,
    )
    task = bar.add_task(label, total=path.stat().st_size)
    return bar, lambda done: bar.update(task, completed=done)


def _rejected_text(rejected: Mapping[str, int]) -> str:
    total = sum(rejected.values())
    if not total:
        return "0"
    parts = ", ".join(f"{k} {v}" for k, v in sorted(rejected.items()))
    return f"{total} ({parts})"


def replay(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            exists=True,
            dir_okay=False,
            help="JSONL or CSV; device_id defaults to patient_id.",
        ),
    ],
    alerts: Annotated[Path, typer.Option("--alerts", help="Where to write the alerts (JSONL).")],
    scores: Annotated[
        Path | None,
        typer.Option("--scores", help="Also write patient_id,ts,score per accepted sample."),
    ] = None,
    patient_config: Annotated[
        Path | None,
        typer.Option(
            "--patient-config",
            help="Clinician settings: a labels.json, or a JSON object {patient_id: config}.",
        ),
    ] = None,
    patient_id: Annotated[
        str | None,
        typer.Option(
            "--patient-id",
            help="Patient (stream) of records without a patient_id. Default for a CSV without "
            "a patient_id column: the file name without its suffix.",
        ),
    ] = None,
    partitions: Annotated[
        int | None,
        typer.Option(
            "--partitions",
            min=1,
            help="Event-time clocks as the workers keep them, one per vigil.vitals partition "
            "(default: VIGIL_VITALS_PARTITIONS). Data-gap alerts depend on it; 1 = one clock.",
        ),
    ] = None,
) -> None:
    """Replay recorded samples through the worker's detection code; write alerts (and scores).

    Patients are routed to partitions as Kafka routes them, each with its own event-time clock,
    so the alerts are the stream workers' alerts for the same samples, id for id. A CSV of one
    stream may be just ``timestamp,value``: its ``timestamp`` (or ``time``) column is read as
    ``ts``, and it is one patient named after the file unless ``--patient-id`` says otherwise.
    """
    import csv

    import orjson

    from ingest.sample import format_ts
    from stream.records import RecordReader, csv_header, ts_column
    from stream.replay import replay as run_replay
    from vigil.settings import get_settings

    configs = _read_configs(patient_config) if patient_config is not None else None
    if partitions is None:
        partitions = get_settings().vitals_partitions
    reader = RecordReader(input_path, patient_id=patient_id)
    if reader.is_csv:
        header = csv_header(input_path)
        ts = ts_column(header)
        if ts is not None and ts != "ts":
            typer.echo(f"reading column {ts!r} as ts")
        if "patient_id" not in header and patient_id is None:
            reader.patient_id = input_path.stem
            typer.echo(f"no patient_id column: every row is patient {input_path.stem!r}")
    bar, on_progress = _progress(input_path, "replay")
    reader.on_progress = on_progress
    counts: Counter[tuple[str, str]] = Counter()
    with contextlib.ExitStack() as stack:
        alerts_out = stack.enter_context(_open_output(alerts, "--alerts", text=False))
        on_score = None
        if scores is not None:
            scores_out = stack.enter_context(_open_output(scores, "--scores", text=True))
            writer = csv.writer(scores_out, lineterminator="\n")
            writer.writerow(("patient_id", "ts", "score"))
            row = writer.writerow

            shown: dict[float, str] = {}  # a fleet's samples share their seconds

            def on_score(pid: str, ts: float, score: float) -> None:
                text = shown.get(ts)
                if text is None:
                    if len(shown) >= 8192:
                        shown.clear()
                    text = shown[ts] = format_ts(ts)
                row((pid, text, f"{score:.4f}"))

        def on_alert(a: Any) -> None:
            alerts_out.write(orjson.dumps(a.to_json_dict()) + b"\n")
            counts[(a.category, a.status)] += 1

        with bar:
            result = run_replay(
                reader.entries(),
                configs=configs,
                partitions=partitions,
                keep_scores=False,
                on_score=on_score,
                on_alert=on_alert,
                emit_resolved=True,  # the worker's alert stream, resolutions included
            )
    rejected = Counter(result.rejected)
    if reader.malformed:
        rejected["malformed_line"] += reader.malformed
    opened = {c: counts[(c, "open")] for c in ("clinical", "technical")}
    typer.echo(
        f"samples {result.samples + reader.malformed}: accepted {result.accepted}, "
        f"rejected {_rejected_text(rejected)}"
    )
    typer.echo(
        f"alerts {sum(opened.values())} (clinical {opened['clinical']}, technical "
        f"{opened['technical']}); {sum(counts.values())} records incl. escalations and "
        f"resolutions -> {alerts}"
    )
    if scores is not None:
        typer.echo(f"scores {result.accepted} rows -> {scores}")
    if not result.samples:  # "0 alerts" must not read as "nothing alarming" for an unread file
        what = f"{reader.malformed} unreadable lines" if reader.malformed else "it is empty"
        typer.echo(f"error: no samples in {input_path} ({what}): is it JSONL or CSV?", err=True)
        raise typer.Exit(1)


def _open_output(path: Path, option: str, *, text: bool) -> IO[Any]:
    """``path`` opened for writing, or a usage error naming ``option`` (no traceback)."""
    try:
        return path.open("w", encoding="utf-8", newline="") if text else path.open("wb")
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot write {path}: {exc.strerror}", param_hint=option
        ) from None


def _check_cohort(cohort: Path) -> None:
    """A usage error unless ``cohort`` holds a cohort as ``vigil simulate --out`` writes one."""
    import json

    from ingest.simulator import LABELS_FILE, SAMPLES_FILE

    for name in (SAMPLES_FILE, LABELS_FILE):
        if not (cohort / name).is_file():
            raise typer.BadParameter(
                f"{cohort} has no {name}: give a directory written by `vigil simulate --out`",
                param_hint="DIR",
            )
    try:
        labels = json.loads((cohort / LABELS_FILE).read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:  # json.JSONDecodeError and UnicodeError: ValueErrors
        raise typer.BadParameter(f"{cohort / LABELS_FILE}: {exc}", param_hint="DIR") from None
    if not (
        isinstance(labels, dict)
        and isinstance(labels.get("patients"), list)
        and isinstance(labels.get("events"), list)
    ):
        raise typer.BadParameter(
            f"{cohort / LABELS_FILE} is not the labels of a cohort (no patients and events lists)",
            param_hint="DIR",
        )


def _read_configs(path: Path) -> dict[str, Any]:
    import json

    from stream.cohort_eval import parse_patient_configs

    try:
        return dict(parse_patient_configs(json.loads(path.read_text(encoding="utf-8"))))
    except (ValueError, OSError) as exc:  # json.JSONDecodeError is a ValueError
        raise typer.BadParameter(str(exc), param_hint="--patient-config") from None


def eval_cohort(
    cohort: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", exists=True, file_okay=False, help="A cohort from vigil simulate."
        ),
    ],
) -> None:
    """Replay a labelled cohort; compare Vigil with static-threshold and NEWS2 baselines."""
    from rich.console import Console
    from rich.table import Table

    from ingest.simulator import SAMPLES_FILE
    from stream.cohort_eval import evaluate_cohort
    from stream.evaluation import format_table

    _check_cohort(cohort)
    bar, on_progress = _progress(cohort / SAMPLES_FILE, "eval")
    with bar:
        ev = evaluate_cohort(cohort, on_progress=on_progress)
    table = Table(
        title=f"{cohort}: {ev.patient_days:.1f} patient-days, {ev.samples} samples "
        f"({ev.accepted} accepted, rejected {_rejected_text(ev.rejected)})"
    )
    table.add_column("metric")
    for name in ev.results:
        table.add_column(name, justify="right")
    for metric, values in format_table(ev.results):
        table.add_row(metric, *values)
    Console(width=max(120, len(ev.results) * 16 + 30)).print(table)


def register(app: typer.Typer) -> None:
    """Add ``simulate``, ``replay`` and ``eval`` to the ``vigil`` command."""
    app.command("simulate")(simulate)
    app.command("replay")(replay)
    app.command("eval")(eval_cohort)

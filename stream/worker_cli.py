"""``vigil worker`` and ``vigil produce``: the Kafka face of detection.

- ``vigil worker`` runs one Faust stream worker (:mod:`stream.app`) until SIGTERM/SIGINT.
  Start as many as the load needs, on one host or several: they share the partitions.
- ``vigil produce INPUT.jsonl`` writes a file of samples into ``vigil.vitals`` exactly as the
  gateway encodes them (:mod:`stream.produce`): backfills, tests, benchmarks.

Both read :class:`~stream.worker_settings.WorkerSettings` (``VIGIL_*``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["produce", "register", "worker"]

logger = logging.getLogger(__name__)


def worker(
    loglevel: str = typer.Option("info", "--loglevel", "-l", help="Faust log level."),
) -> None:
    """Run a stream worker: vitals in; alerts, rollups and dead letters out."""
    from stream.app import run_worker
    from stream.worker_settings import get_worker_settings

    run_worker(get_worker_settings(), loglevel=loglevel)


def produce(
    input_path: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="JSONL file, one sample per line."),
    ],
) -> None:
    """Write the samples of a JSONL file into vigil.vitals (invalid lines to the DLQ)."""
    from stream.produce import produce_file
    from stream.worker_settings import get_worker_settings
    from stream.worker_topics import ensure_topics

    s = get_worker_settings()
    ensure_topics(s)
    report = produce_file(
        input_path,
        bootstrap=s.kafka_bootstrap,
        vitals_topic=s.topics.vitals,
        dlq_topic=s.topics.dlq,
        max_samples=s.produce_max_samples,
        linger_ms=s.producer_linger_ms,
        batch_size=s.producer_max_batch_size,
    )
    rejected = ", ".join(f"{k} {v}" for k, v in sorted(report.rejected.items())) or "none"
    typer.echo(
        f"produced {report.samples} samples in {report.records} records to {s.topics.vitals} "
        f"in {report.seconds:.1f} s; rejected: {rejected}"
    )


def register(app: typer.Typer) -> None:
    """Add ``worker`` and ``produce`` to the ``vigil`` command."""
    app.command("worker")(worker)
    app.command("produce")(produce)

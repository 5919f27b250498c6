"""Helpers of the sink integration tests: a `vigil sink` subprocess, Kafka I/O, Influx counts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from alerts.topics import SinkTopics
from ingest.topics import create_topics
from vigil.devstack import drop_scratch_topics

REPO_ROOT = Path(__file__).resolve().parents[2]


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}."


def make_topics(bootstrap: str, prefix: str, partitions: int = 3) -> SinkTopics:
    topics = SinkTopics(prefix)
    create_topics(bootstrap, topics.specs(partitions))
    return topics


def drop_topics(bootstrap: str, topics: SinkTopics) -> None:
    """Delete a test's topics (best effort: the broker is shared)."""
    try:
        drop_scratch_topics(bootstrap, topics.prefix)
    except Exception:  # noqa: S110 - leftovers are harmless, a failed cleanup must not fail a test
        pass


def producer(bootstrap: str) -> Any:
    from kafka import KafkaProducer

    return KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, batch_size=256 * 1024
    )


def produce(prod: Any, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    n = 0
    for key, value in records:
        prod.send(topic, value=value, key=key)
        n += 1
    prod.flush(timeout=60)
    return n


def consume_all(bootstrap: str, topic: str, expect: int, timeout_s: float = 30) -> list[Any]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    out: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < expect and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(records)
        # a moment more, to see records beyond the expected count
        for records in consumer.poll(timeout_ms=1000).values():
            out.extend(records)
    finally:
        consumer.close()
    return out


def committed(bootstrap: str, group: str) -> int:
    """Sum of the group's committed offsets (0 if it has none)."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return sum(max(0, o.offset) for o in offsets.values())


class SinkProcess:
    """`python -m vigil.cli sink` with its own environment and log file."""

    def __init__(self, env: Mapping[str, str], log: Path, *args: str) -> None:
        self.env = {**os.environ, **env}
        self.log = log
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SinkProcess:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vigil.cli", "sink", *self.args],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_for(
    predicate: Callable[[], bool], timeout_s: float, what: str, every: float = 0.25
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


class InfluxCounter:
    """Counts of the ``alerts`` measurement in one bucket: rows and distinct alert ids."""

    def __init__(self, env: Mapping[str, str], bucket: str) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient

        self.bucket = bucket
        self.client = InfluxDBClient(
            url=env["VIGIL_INFLUX_URL"],
            token=env["VIGIL_INFLUX_TOKEN"],
            org=env["VIGIL_INFLUX_ORG"],
            timeout=30_000,
        )
        self.query = self.client.query_api()

    def _scalar(self, flux: str) -> int:
        try:
            tables = self.query.query(flux)
        except Exception:  # InfluxDB may be stopped on purpose
            return -1
        values = [r.values["_value"] for t in tables for r in t.records]
        return int(values[0]) if values else 0

    def _base(self) -> str:
        return (
            f'from(bucket: "{self.bucket}") |> range(start: 0) '
            '|> filter(fn: (r) => r._measurement == "alerts" and r._field == "alert_id") '
            "|> group()"
        )

    def rows(self) -> int:
        return self._scalar(self._base() + " |> count()")

    def distinct_ids(self) -> int:
        return self._scalar(self._base() + " |> distinct() |> count()")

    def close(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]


def stack(*args: str, env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(REPO_ROOT / "deploy" / "local" / "stack"), *args],
        check=True,
        timeout=180,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    return done.stdout


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateInflux:
    """An InfluxDB of this test alone, run by the same `deploy/local/stack` script.

    Its own state dir and port (``VIGIL_STATE_DIR``, ``VIGIL_STACK_INFLUX_PORT``), so stopping
    it cannot disturb - or be undone by - other sessions sharing the default stack.
    """

    def __init__(self, state_dir: Path) -> None:
        self.stack_env = {
            "VIGIL_STATE_DIR": str(state_dir),
            "VIGIL_STACK_INFLUX_PORT": str(free_port()),
        }

    def start(self) -> None:
        stack("start", "influxdb", env=self.stack_env)

    def stop(self) -> None:
        stack("stop", "influxdb", env=self.stack_env)

    def settings(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for line in stack("env", env=self.stack_env).splitlines():
            if line.startswith("export VIGIL_INFLUX_"):
                key, value = line.removeprefix("export ").split("=", 1)
                env[key] = value.strip("'\"")
        return env

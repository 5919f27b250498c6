"""Helpers for the ingest integration tests: an isolated run on the shared local stack.

Each run gets its own Kafka topic prefix, SQLite registry, password-file section, gateway
client id and shared-subscription group, so runs never see each other's messages.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.broker_auth import BrokerAuthSync, PasswordFile, reload_broker
from ingest.encoding import RejectionNotice, decode_dead_letter, decode_entries, decode_vitals
from ingest.registry import Registry, hash_password
from ingest.settings import IngestSettings
from ingest.topics import TopicNames

REPO = Path(__file__).resolve().parents[2]

# kafka-python 3 loads its protocol schemas with importlib.resources.read_text (deprecated
# since Python 3.11) and pytest turns warnings into errors: import it once, silenced.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "(read|open)_text is deprecated", DeprecationWarning)
    import kafka  # noqa: F401
    import kafka.admin  # noqa: F401


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class GatewayProcess:
    """A `vigil gateway` subprocess; its log lines are kept for assertions."""

    def __init__(self, env: dict[str, str]) -> None:
        self.metrics_port = int(env["VIGIL_GATEWAY_METRICS_PORT"])
        self.lines: list[str] = []
        self._subscribed = threading.Event()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vigil.cli", "gateway"],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._subscribed.wait(60):
            self.kill()
            raise AssertionError("gateway did not subscribe:\n" + "".join(self.lines[-30:]))

    def _read(self) -> None:
        assert self.proc.stderr is not None
        with self.proc.stderr:
            for line in self.proc.stderr:
                self.lines.append(line)
                if "subscribed to" in line:
                    self._subscribed.set()

    def metric(self, name: str) -> float:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()  # noqa: S310
        m = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
        return float(m.group(1)) if m else 0.0

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self._reap(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self._reap(30)

    def _reap(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(10)  # the reader closes the pipe at EOF
        return code


@dataclass
class Collected:
    """What a consumer read from the run's vitals and DLQ topics."""

    vitals: list[tuple[bytes, list[Any]]] = field(default_factory=list)
    dead: list[Any] = field(default_factory=list)
    #: ``(key, notice)`` per rejection notice on the vitals topic.
    notices: list[tuple[bytes, Any]] = field(default_factory=list)

    @property
    def samples(self) -> list[Any]:
        return [s for _, batch in self.vitals for s in batch]


@dataclass
class IngestRun:
    env: dict[str, str]
    settings: IngestSettings
    registry: Registry
    topics: TopicNames
    sync: BrokerAuthSync
    gateways: list[GatewayProcess] = field(default_factory=list)
    extra_sections: list[PasswordFile] = field(default_factory=list)

    def enroll(self, pairs: dict[str, str], *, since: datetime) -> dict[str, str]:
        """Register ``{device: patient}`` and push them to the broker; the passwords."""
        creds = {}
        for device, patient in pairs.items():
            if self.registry.get_patient(patient) is None:
                self.registry.add_patient(patient)
            creds[device] = self.registry.add_device(device, patient, since=since).password
        self.sync.sync(self.registry.broker_credentials())
        return creds

    def broker_only_account(self, username: str, password: str) -> None:
        """A broker account the registry does not know (a stale or out-of-band credential)."""
        section = PasswordFile(
            self.sync.password_file.path, f"{self.settings.mqtt_registry_section}-x"
        )
        section.write_section({username: hash_password(password)})
        self.extra_sections.append(section)
        reload_broker(pid_file=self.settings.mqtt_pid_file)

    def start_gateway(self) -> GatewayProcess:
        gateway = GatewayProcess(self.env)
        self.gateways.append(gateway)
        return gateway

    def collect(
        self, until: Callable[[Collected], bool], *, timeout: float = 60, settle: float = 0
    ) -> Collected:
        """Read both topics from the start until ``until`` holds, then ``settle`` s more."""
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        consumer.subscribe([self.topics.vitals, self.topics.dlq])
        out = Collected()
        deadline = time.monotonic() + timeout
        done_at: float | None = None
        try:
            while time.monotonic() < deadline:
                for tp, records in consumer.poll(timeout_ms=200).items():
                    for r in records:
                        if tp.topic == self.topics.vitals:
                            out.vitals.append((r.key, decode_vitals(r.value)))
                            out.notices += [
                                (r.key, e)
                                for e in decode_entries(r.value)
                                if isinstance(e, RejectionNotice)
                            ]
                        else:
                            out.dead.append(decode_dead_letter(r.value))
                if done_at is None and until(out):
                    done_at = time.monotonic()
                if done_at is not None and time.monotonic() - done_at >= settle:
                    return out
        finally:
            consumer.close()
        return out


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)

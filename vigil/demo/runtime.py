"""Assemble the one-process demo: registry, broker, gateway, bus, detection, stores, API, fleet.

Data flows exactly as in production, with in-process stand-ins for the services::

    simulated fleet --MQTT--> embedded amqtt broker (device auth + topic ACL)
        --> gateway PayloadHandler (validation, attribution, dead letters)
        --> InProcessBus "vigil.vitals"  (Kafka's place)
        --> DetectionWorker: Pipeline (detection + alert policy), rollups, NEWS2
        --> SqliteStore (InfluxDB's place) --> API (REST + SSE) --> dashboard

:class:`DemoRuntime` owns the lifecycle: :meth:`DemoRuntime.start` brings everything up and
returns once the API answers; :meth:`DemoRuntime.stop` takes it down in reverse order, and the
data directory is deleted unless it was given by the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn

from alerts.store.sqlite import SqliteStore
from api.live import InMemoryAlertBus
from ingest.directory import CachedDirectory
from ingest.gateway import MessageProcessor
from ingest.payload import PayloadHandler
from ingest.registry import Registry
from ingest.simulator import CohortSpec, simulate_cohort
from ingest.topics import TopicNames
from stream.pipeline import Pipeline
from vigil.demo.accounts import DemoEnrolment, seed
from vigil.demo.broker import BrokerHooks, EmbeddedBroker
from vigil.demo.bus import InProcessBus
from vigil.demo.clock import SimClock
from vigil.demo.exceptions import DemoError
from vigil.demo.fleet import Fleet
from vigil.demo.wiring import BusSink, build_app
from vigil.demo.worker import DetectionWorker

__all__ = ["DemoOptions", "DemoRuntime"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoOptions:
    """What ``vigil demo`` was asked for (see its ``--help``)."""

    host: str = "127.0.0.1"
    port: int = 8000
    mqtt_port: int = 1883
    patients: int = 50
    speed: float = 60.0
    seed: int = 7
    days: float = 3.0
    #: Simulated minutes of history sent at once at start, so tiles and charts are not empty.
    warmup_min: float = 60.0
    #: Labelled events per patient-day: the demo wants something to happen soon.
    events_per_day: float = 1.0
    data_dir: Path | None = None


def _require_free(host: str, port: int, option: str, what: str) -> None:
    with socket.socket() as sock:
        # As uvicorn and the broker bind: a port whose last connections linger in TIME_WAIT
        # (a demo just stopped with a dashboard open) is free to them, so it is free here.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise DemoError(
                f"{host}:{port} is taken: {what}; choose another with {option}"
            ) from exc


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the demo stops everything itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class DemoRuntime:
    """The running demo (see the module docstring)."""

    def __init__(self, options: DemoOptions) -> None:
        self.options = options
        self.topics = TopicNames()
        self.gateway: BusSink | None = None
        self.started_wall = time.monotonic()
        self.event_start = 0.0
        #: Wall-clock epoch seconds at which event time was ``event_start``.
        self.wall_start = 0.0
        self._own_dir = options.data_dir is None
        self.data_dir = options.data_dir or Path(tempfile.mkdtemp(prefix="vigil-demo-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        #: Set when a component died (the demo then stops).
        self.failed = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._server: uvicorn.Server | None = None
        #: The API's live-alert hub (its streams are ended before the server stops).
        self._hub: Any = None
        self.fleet: Fleet | None = None
        self.worker: DetectionWorker | None = None
        self.broker: EmbeddedBroker | None = None
        self.enrolment: DemoEnrolment | None = None
        self.registry: Registry | None = None
        self.store: SqliteStore | None = None

    @property
    def url(self) -> str:
        """Where the dashboard is served."""
        return f"http://{self.options.host}:{self.options.port}/"

    async def start(self) -> None:
        """Bring everything up; returns when the API serves and the fleet is connected.

        Raises
        ------
        DemoError
            If the HTTP or MQTT port is already taken, or ``data_dir`` holds an earlier run.
        """
        opts = self.options
        if (self.data_dir / "registry.sqlite3").exists():
            raise DemoError(f"{self.data_dir} holds an earlier demo; give an empty --data-dir")
        _require_free(opts.host, opts.port, "--port", "HTTP")
        _require_free(
            opts.host,
            opts.mqtt_port,
            "--mqtt-port",
            "MQTT (is the local stack's Mosquitto running? `deploy/local/stack down`)",
        )
        now = time.time()
        # Event time starts at the wall clock; the fleet's warm-up history lies just before it.
        event_start = self.event_start = now - now % 60
        spec = CohortSpec(
            patients=opts.patients,
            days=opts.days,
            seed=opts.seed,
            start=event_start - opts.warmup_min * 60.0,
            events_per_day=opts.events_per_day,
            cold_start_fraction=1.0,
        )
        clock = SimClock(start=event_start, speed=opts.speed)
        self.wall_start = time.time()

        registry = self.registry = Registry(f"sqlite:///{self.data_dir / 'registry.sqlite3'}")
        enrolled_since = datetime.fromtimestamp(spec.start - 86400.0, tz=UTC)
        self.enrolment = await asyncio.to_thread(
            seed, registry, patients=opts.patients, enrolled_since=enrolled_since
        )
        store = self.store = SqliteStore(self.data_dir / "store.sqlite3")
        bus = InProcessBus()
        alert_bus = InMemoryAlertBus()

        # The gateway's own message handling; the embedded broker already acknowledged the
        # device, so there is no PUBACK to hold back until "Kafka" has the records.
        sink = self.gateway = BusSink(bus)
        processor = MessageProcessor(
            PayloadHandler(CachedDirectory(registry.device_record), self.topics),
            sink,
            ack=lambda mid, generation: None,
        )
        mids = itertools.count(1)

        def on_message(device_id: str, topic: str, payload: bytes) -> None:
            # received_at on the simulated clock: "timestamp in the future" means ahead of it
            processor.process(topic, payload, mid=next(mids), received_at=clock.now())

        hooks = BrokerHooks(credentials=registry.broker_credentials, on_message=on_message)
        self.broker = EmbeddedBroker(hooks, host=opts.host, port=opts.mqtt_port)
        await self.broker.start()

        self.worker = DetectionWorker(
            bus,
            (self.topics.vitals, self.topics.patient_config),
            Pipeline(emit_resolved=True),
            store,
            alert_bus,
            clock,
        )
        app = build_app(
            registry=registry,
            store=store,
            alert_bus=alert_bus,
            bus=bus,
            topics=self.topics,
            device_sync=hooks.invalidate,
            data_clock=clock.now,
        )
        self._hub = app.state.services.hub
        config = uvicorn.Config(
            app,
            host=opts.host,
            port=opts.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            # an open live-alert stream (a dashboard tab) ends only when the app shuts down:
            # do not wait for it for ever on Ctrl-C
            timeout_graceful_shutdown=3,
        )
        self._server = _QuietServer(config)
        self._spawn(self.worker.run(), "worker")
        self._spawn(self.worker.apply_configs(), "configs")
        self._spawn(self._server.serve(), "api")
        while not self._server.started:
            if self._tasks[-1].done():
                self._tasks[-1].result()  # re-raise why the API could not start
                raise RuntimeError("the API stopped while starting")
            await asyncio.sleep(0.05)

        # Simulating the cohort and preparing its first record take a second or two of CPU:
        # off the event loop, so the API answers meanwhile.
        cohort = await asyncio.to_thread(simulate_cohort, spec)
        pending = cohort.records()
        first = await asyncio.to_thread(next, pending)
        records = itertools.chain([first], pending)
        self.fleet = Fleet(
            records,
            clock,
            self.enrolment.device_passwords,
            broker_uri=f"mqtt://{opts.host}:{opts.mqtt_port}",
            patient_id_for=lambda sim_id: "P" + sim_id[1:],
        )
        await self.fleet.connect()
        self._spawn(self.fleet.run(), "fleet")
        self._spawn(self._tick_when_caught_up(), "ticker")
        logger.info("demo up in %.1f s", time.monotonic() - self.started_wall)

    async def _tick_when_caught_up(self) -> None:
        """Start event-time ticks once the warm-up backlog is through detection.

        Ticking earlier would find every patient silent since their last processed sample and
        raise data-gap alerts for devices whose samples are merely still queued.
        """
        assert self.fleet is not None and self.worker is not None  # noqa: S101 - set in start()
        await self.fleet.caught_up.wait()
        while not self.worker.idle():
            await asyncio.sleep(0.1)
        await self.worker.tick_forever()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=f"demo-{name}")
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.error("demo task %s failed: %r", task.get_name(), exc, exc_info=exc)
            self.failed.set()

    async def stop(self) -> None:
        """Stop everything in reverse order and delete the data directory we created."""
        if self.fleet is not None:
            for task in self._tasks:
                if task.get_name() == "demo-fleet":
                    task.cancel()
            await self.fleet.close()
        if self._server is not None:
            # end open live-alert streams first: uvicorn waits for its connections to close
            if self._hub is not None:
                self._hub.close()
            self._server.should_exit = True
        for task in self._tasks:
            if task.get_name() != "demo-api":
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.worker is not None:
            with contextlib.suppress(Exception):
                await self.worker.flush()
        if self.broker is not None:
            await self.broker.stop()
        if self.store is not None:
            self.store.close()
        if self.registry is not None:
            self.registry.close()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

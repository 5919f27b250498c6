"""The ``vigil demo`` command: start the one-process demo, print how to use it, show progress.

Stops cleanly on Ctrl-C (SIGINT) and SIGTERM: the fleet disconnects, the API closes its
streams, pending rollups are written, the broker shuts down and the throwaway data directory
is deleted.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from vigil.demo.runtime import DemoRuntime

__all__ = ["register"]

logger = logging.getLogger(__name__)

#: Wall seconds between progress lines.
PROGRESS_EVERY_S = 10.0
#: Loggers that write MQTT payloads (vitals) and device passwords at DEBUG and INFO: held at
#: WARNING even under ``vigil -v`` (no patient data or secrets in logs).
_PRIVATE = ("amqtt", "transitions")
#: Chatty loggers, quietened unless ``vigil -v``: third-party ones, and seeding (one line per
#: patient, device and team assignment).
_NOISY = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "websockets",
    "ingest.registry.store",
    "api.accounts.users",
)


def demo(
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="HTTP port of the API and dashboard.")
    ] = 8000,
    host: Annotated[str, typer.Option("--host", help="Interface for HTTP and MQTT.")] = "127.0.0.1",
    patients: Annotated[
        int, typer.Option("--patients", min=1, max=500, help="Simulated patients.")
    ] = 50,
    speed: Annotated[
        float,
        typer.Option("--speed", min=1.0, max=600.0, help="Simulated seconds per real second."),
    ] = 60.0,
    mqtt_port: Annotated[
        int, typer.Option("--mqtt-port", min=1, max=65535, help="Port of the embedded MQTT broker.")
    ] = 1883,
    seed: Annotated[
        int, typer.Option("--seed", help="Cohort seed (same seed, same patients).")
    ] = 7,
    days: Annotated[
        float, typer.Option("--days", min=0.1, help="Simulated days before the fleet stops.")
    ] = 3.0,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            file_okay=False,
            help="Keep the SQLite files here (default: a temp dir, deleted).",
        ),
    ] = None,
) -> None:
    """Run Vigil in one process: simulated wearables, MQTT, detection, alerts, API, dashboard."""
    from vigil.demo.runtime import DemoOptions

    for name in _PRIVATE:
        logging.getLogger(name).setLevel(logging.WARNING)
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        for name in _NOISY:
            logging.getLogger(name).setLevel(logging.WARNING)
    options = DemoOptions(
        host=host,
        port=port,
        mqtt_port=mqtt_port,
        patients=patients,
        speed=speed,
        seed=seed,
        days=days,
        data_dir=data_dir,
    )
    code = asyncio.run(_run(options))
    raise typer.Exit(code)


async def _run(options: object) -> int:
    from vigil.demo.runtime import DemoOptions, DemoRuntime

    assert isinstance(options, DemoOptions)  # noqa: S101 - typed by the caller
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    from vigil.demo.exceptions import DemoError

    runtime = DemoRuntime(options)
    print("Starting the Vigil demo ...", flush=True)
    try:
        await runtime.start()
    except DemoError as exc:
        await runtime.stop()
        print(f"Cannot start the demo: {exc}", flush=True)
        return 2
    except BaseException:
        await runtime.stop()
        raise
    _banner(runtime)
    progress = asyncio.create_task(_progress(runtime))
    failed = asyncio.create_task(runtime.failed.wait())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({failed, stopped}, return_when=asyncio.FIRST_COMPLETED)
    for task in (progress, failed, stopped):
        task.cancel()
    print("\nStopping ...", flush=True)
    await runtime.stop()
    print("Stopped.", flush=True)
    return 1 if runtime.failed.is_set() else 0


def _banner(rt: DemoRuntime) -> None:
    from vigil.demo.accounts import DEMO_LOGINS

    o = rt.options
    assert rt.enrolment is not None  # noqa: S101 - set by start()
    first_device, secret = next(iter(rt.enrolment.device_passwords.items()))
    n = len(rt.enrolment.patient_ids)
    sees = {"admin": "everything", "clinician": f"all {n} patients", "patient": "only P0001"}
    lines = [
        "",
        f"Vigil demo is running (ready in {time.monotonic() - rt.started_wall:.1f} s).",
        f"  Dashboard   {rt.url}",
        "  Logins      "
        + "\n              ".join(f"{u:<9} / {p:<13} {sees[r]}" for u, p, r in DEMO_LOGINS),
        f"  API         {rt.url}docs  (schema: {rt.url}openapi.json), e.g.",
        f"              curl -s -d username=nurse -d password=nurse-demo {rt.url}api/v1/auth/token",
        '              curl -s -H "Authorization: Bearer <access_token from above>" \\',
        f"                {rt.url}api/v1/patients/{rt.enrolment.patient_ids[0]}/vitals/latest",
        f"  MQTT        {o.host}:{o.mqtt_port}  ({n} simulated devices; each publishes to",
        "              vigil/v1/devices/<device>/vitals with its own credentials), e.g. a",
        "              reading stamped with the demo's simulated time (it runs ahead of yours):",
        f"              mosquitto_pub -h {o.host} -p {o.mqtt_port} -u {first_device} \\",
        f"                -P '{secret}' -t vigil/v1/devices/{first_device}/vitals \\",
        f'                -m "{{\\"ts\\": {_sim_ts_shell(rt)}, \\"hr\\": 150}}"',
        f"  Time        simulated, {o.speed:g}x real time"
        f" ({o.speed / 60:g} h of patient data per minute)",
        f"  Data        {rt.data_dir}{' (deleted at exit)' if o.data_dir is None else ''}",
        "Press Ctrl-C to stop.",
        "",
    ]
    print("\n".join(lines), flush=True)


def _sim_ts_shell(rt: DemoRuntime) -> str:
    """A shell expression for the demo's event time now, in epoch seconds.

    >>> from vigil.demo.runtime import DemoOptions, DemoRuntime
    >>> rt = DemoRuntime.__new__(DemoRuntime)
    >>> rt.event_start, rt.wall_start = 1_800_000_000.0, 1_800_000_012.3
    >>> rt.options = DemoOptions(speed=60.0)
    >>> _sim_ts_shell(rt)
    '$(( 1800000000 + ($(date +%s) - 1800000012) * 60 ))'
    >>> rt.options = DemoOptions(speed=2.5)
    >>> _sim_ts_shell(rt)
    '$(( 1800000000 + ($(date +%s) - 1800000012) * 5 / 2 ))'
    """
    num, den = Fraction(rt.options.speed).limit_denominator(1000).as_integer_ratio()
    scale = f" * {num}" + (f" / {den}" if den != 1 else "")
    return f"$(( {rt.event_start:.0f} + ($(date +%s) - {rt.wall_start:.0f}){scale} ))"


async def _progress(rt: DemoRuntime) -> None:
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)
        w, g, f = rt.worker, rt.gateway, rt.fleet
        if w is None or f is None or g is None:
            continue
        rejected = g.sent.get(rt.topics.dlq, 0)
        elapsed = time.monotonic() - rt.started_wall
        sim_h = (f.stats.last_event_time - rt.event_start) / 3600.0
        first = (
            None
            if w.stats.first_clinical_at is None
            else w.stats.first_clinical_at - rt.started_wall
        )
        print(
            f"[{int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}] simulated +{sim_h:4.1f} h | "
            f"{w.stats.samples:,} samples ({rejected:,} rejected) | "
            f"{w.stats.alerts} alerts, {w.stats.clinical_alerts} clinical"
            + (f" (first after {first:.0f} s)" if first is not None else "")
            + (" | fleet finished" if f.stats.finished else ""),
            flush=True,
        )


def register(app: typer.Typer) -> None:
    """Add ``vigil demo`` to the command line."""
    app.command("demo")(demo)

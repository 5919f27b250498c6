"""API latency under load: the alerts list and a 24 h vitals history at 50 concurrent clients.

Usage::

    .venv/bin/python bench/api.py [--store sqlite|influx] [--clients 50] [--seconds 15]

1. Seeds a registry (SQLite) and a store with ``--patients`` patients (default 40) on two care
   teams, 24 h of 1-minute vitals rollups per patient (6 vitals) and ``--alerts`` alerts. The
   store is the embedded SQLite one (default) or InfluxDB on the local stack (``--store
   influx``, a throw-away bucket, deleted afterwards).
2. Starts the real app (:func:`api.main.create_app`, one uvicorn worker) in a subprocess on
   127.0.0.1, with an in-memory alert bus (no Kafka is needed to read).
3. For each scenario, ``--clients`` concurrent clients (asyncio + httpx, one keep-alive
   connection each, as a clinician) repeat one request for ``--seconds`` after a warm-up:

   - ``alerts``: ``GET /api/v1/alerts?limit=50`` (the dashboard's queue);
   - ``vitals-24h``: ``GET /api/v1/patients/{id}/vitals?from=now-24h&resolution=5m`` (a
     patient page's charts: 6 vitals x 288 buckets, merged from 8640 rollups), random patient.

   Reports p50, p99, max latency (ms), requests/s and errors. Everything runs on one 2-core
   machine (server and load generator share it), so the numbers are a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vigil.devstack import stack_env  # noqa: E402

PASSWORD = "bench-passphrase"  # noqa: S105 - a throw-away account in a temp database
VITALS = {"hr": 72.0, "spo2": 97.0, "rr": 16.0, "temp": 36.8, "sbp": 121.0, "dbp": 79.0}


# -- the store -----------------------------------------------------------------------------


def open_store(args: argparse.Namespace) -> Any:
    if args.store == "sqlite":
        from alerts.store.sqlite import SqliteStore

        return SqliteStore(Path(args.workdir) / "alerts.sqlite3")
    from alerts.store.influx import InfluxStore

    env = stack_env()
    store = InfluxStore(
        url=env["VIGIL_INFLUX_URL"],
        token=env["VIGIL_INFLUX_TOKEN"],
        org=env.get("VIGIL_INFLUX_ORG", "vigil"),
        bucket=args.bucket,
    )
    store.ensure_buckets()
    return store


def drop_influx_bucket(bucket: str) -> None:
    from influxdb_client.client.influxdb_client import InfluxDBClient

    env = stack_env()
    with InfluxDBClient(
        url=env["VIGIL_INFLUX_URL"],
        token=env["VIGIL_INFLUX_TOKEN"],
        org=env.get("VIGIL_INFLUX_ORG", "vigil"),
    ) as client:
        api = client.buckets_api()
        found = api.find_bucket_by_name(bucket)
        if found is not None:
            api.delete_bucket(found)


def seed(args: argparse.Namespace) -> list[str]:
    from alerts.model import Alert
    from alerts.store import StoreBatch
    from api.accounts import schema  # noqa: F401 - registers the API's tables
    from api.accounts.users import Accounts
    from ingest.registry import Registry
    from stream.rollup import News2Record, VitalsRollup, VitalStats

    registry = Registry(f"sqlite:///{Path(args.workdir) / 'registry.sqlite3'}")
    accounts = Accounts(registry.session)
    patients = [f"P{i:04d}" for i in range(1, args.patients + 1)]
    for team in ("ward-a", "ward-b"):
        accounts.add_team(team)
    for i, pid in enumerate(patients):
        registry.add_patient(pid)
        accounts.assign_patient("ward-a" if i % 2 == 0 else "ward-b", pid)
    accounts.add_user("nurse", PASSWORD, role="clinician", teams=["ward-a", "ward-b"])
    registry.close()

    store = open_store(args)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rng = random.Random(7)
    t0 = time.perf_counter()
    for pid in patients:
        rollups, news2 = [], []
        for m in range(24 * 60):
            minute = now - timedelta(minutes=m + 1)
            vitals = {
                name: VitalStats(base + rng.uniform(-2, 2), base - 3, base + 3, 12)
                for name, base in VITALS.items()
            }
            rollups.append(VitalsRollup(patient_id=pid, minute=minute, vitals=vitals))
            if m % 5 == 0:
                news2.append(
                    News2Record(
                        patient_id=pid, minute=minute, score=1, risk="low", subscores={"hr": 0}
                    )
                )
        store.write_batch(StoreBatch(rollups=rollups, news2=news2))
    alerts = []
    for i in range(args.alerts):
        t = (now - timedelta(minutes=rng.uniform(0, 24 * 60))).timestamp()
        alerts.append(
            Alert.new(
                patient_id=rng.choice(patients),
                category="clinical" if i % 4 else "technical",
                kind=f"kind_{i % 12}",
                severity=("info", "low", "medium", "high", "critical")[i % 5],
                vitals=["hr"],
                started_at=t - 300,
                detected_at=t,
                message="benchmark alert",
                evidence={"hr": 120.0},
                score=0.8,
            )
        )
    store.write_batch(StoreBatch(alerts=alerts))
    store.close()
    rows = args.patients * 24 * 60 * len(VITALS)
    print(
        f"seeded {args.patients} patients x 24 h ({rows} vitals points), {args.alerts} alerts "
        f"into {args.store} in {time.perf_counter() - t0:.1f} s"
    )
    return patients


# -- the server (a subprocess running this file with --serve) -------------------------------


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from api.config_publisher import InMemoryConfigPublisher
    from api.live import InMemoryAlertBus
    from api.main import create_app
    from api.settings import ApiSettings
    from ingest.registry import Registry

    store = open_store(args)
    app = create_app(
        ApiSettings(_env_file=None, secret_key=secrets.token_urlsafe(32)),
        registry=Registry(f"sqlite:///{Path(args.workdir) / 'registry.sqlite3'}"),
        alert_store=store,
        vitals_store=store,
        alert_bus=InMemoryAlertBus(),
        config_publisher=InMemoryConfigPublisher(),
        probes={},
        device_sync=lambda: None,
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


def start_server(args: argparse.Namespace) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        __file__,
        "--serve",
        "--workdir",
        args.workdir,
        "--port",
        str(args.port),
        "--store",
        args.store,
        "--bucket",
        args.bucket,
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{args.port}/healthz", timeout=1):  # noqa: S310
                return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("the API server exited during start-up") from None
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("the API server did not start within 60 s")


# -- the load ---------------------------------------------------------------------------------


async def run_scenario(
    base: str, token: str, name: str, path_for: Any, clients: int, seconds: float, warmup: float
) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds

    async def client_loop(i: int) -> None:
        nonlocal errors
        rng = random.Random(i)
        headers = {"Authorization": f"Bearer {token}"}
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(
            base_url=base, headers=headers, limits=limits, timeout=30
        ) as http:
            while (now := time.perf_counter()) < stop_at:
                t = time.perf_counter()
                r = await http.get(path_for(rng))
                elapsed = time.perf_counter() - t
                if now >= measure_from:
                    if r.status_code == 200:
                        latencies.append(elapsed)
                    else:
                        errors += 1

    await asyncio.gather(*(client_loop(i) for i in range(clients)))
    latencies.sort()
    n = len(latencies)
    return {
        "scenario": name,
        "clients": clients,
        "requests": n,
        "errors": errors,
        "rps": n / seconds,
        "p50_ms": statistics.median(latencies) * 1000 if n else float("nan"),
        "p99_ms": latencies[min(n - 1, int(0.99 * n))] * 1000 if n else float("nan"),
        "max_ms": latencies[-1] * 1000 if n else float("nan"),
    }


def login(base: str) -> str:
    import httpx

    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": "nurse", "password": PASSWORD})
    r.raise_for_status()
    return str(r.json()["access_token"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", choices=("sqlite", "influx"), default="sqlite")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--alerts", type=int, default=2000)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--scenario",
        action="append",
        choices=("alerts", "vitals-24h"),
        help="run only this scenario (repeatable; default: both)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument(
        "--bucket", default=f"vigil-bench-{secrets.token_hex(4)}", help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return

    with tempfile.TemporaryDirectory(prefix="vigil-bench-api-") as workdir:
        args.workdir = workdir
        proc = None
        try:
            patients = seed(args)
            proc = start_server(args)
            base = f"http://127.0.0.1:{args.port}"
            token = login(base)

            def alerts_path(rng: random.Random) -> str:
                return "/api/v1/alerts?limit=50"

            def vitals_path(rng: random.Random) -> str:
                since = (datetime.now(UTC) - timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%SZ")
                return f"/api/v1/patients/{rng.choice(patients)}/vitals?from={since}&resolution=5m"

            results = []
            for name, path_for in (("alerts", alerts_path), ("vitals-24h", vitals_path)):
                if args.scenario and name not in args.scenario:
                    continue
                res = asyncio.run(
                    run_scenario(
                        base, token, name, path_for, args.clients, args.seconds, args.warmup
                    )
                )
                results.append(res)
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=20)
            if args.store == "influx":
                drop_influx_bucket(args.bucket)
    print(
        f"\nAPI under load: {args.clients} concurrent clients, {args.seconds:.0f} s per scenario, "
        f"store={args.store}, 1 uvicorn worker, server and clients on one {os.cpu_count()}-core box"
    )
    print(f"{'scenario':<12}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'req/s':>9}{'errors':>8}")
    for r in results:
        print(
            f"{r['scenario']:<12}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['max_ms']:>9.1f}"
            f"{r['rps']:>9.1f}{r['errors']:>8d}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

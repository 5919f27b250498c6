"""Readiness probes: can this API process reach Kafka, InfluxDB and the registry right now?

A probe is an async callable that returns when its dependency answers and raises otherwise.
:func:`check_all` runs them concurrently, each bounded by a timeout, and reports per probe;
``/readyz`` turns any failure into 503 so a load balancer stops routing here. Failure reasons
are exception class names only: no hosts, credentials or data leak through the endpoint.

Examples
--------
>>> import asyncio
>>> async def ok() -> None:
...     return None
>>> async def down() -> None:
...     raise ConnectionRefusedError
>>> asyncio.run(check_all({"a": ok, "b": down}, timeout_s=1.0))
{'a': 'ok', 'b': 'down: ConnectionRefusedError'}
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from sqlalchemy import Engine, text

__all__ = ["Probe", "check_all", "influx_probe", "kafka_probe", "sql_probe"]

logger = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[None]]


async def check_all(probes: Mapping[str, Probe], *, timeout_s: float) -> dict[str, str]:
    """Run every probe concurrently; ``{name: "ok" | "down: <reason>"}``."""

    async def one(name: str, probe: Probe) -> tuple[str, str]:
        try:
            await asyncio.wait_for(probe(), timeout_s)
        except TimeoutError:
            return name, "down: timeout"
        except Exception as exc:  # a probe failing for any reason means "not ready"
            logger.warning("readiness probe %s failed: %s", name, type(exc).__name__)
            return name, f"down: {type(exc).__name__}"
        return name, "ok"

    results = await asyncio.gather(*(one(n, p) for n, p in probes.items()))
    return dict(sorted(results))


def kafka_probe(bootstrap: str) -> Probe:
    """Probe Kafka with a metadata request to the bootstrap servers (aiokafka)."""

    async def probe() -> None:
        from aiokafka import AIOKafkaClient

        client = AIOKafkaClient(bootstrap_servers=bootstrap, client_id="vigil-api-readyz")
        try:
            await client.bootstrap()
        finally:
            await client.close()

    return probe


def influx_probe(url: str) -> Probe:
    """Probe InfluxDB's ``/health`` endpoint (status ``pass``)."""

    async def probe() -> None:
        import httpx

        async with httpx.AsyncClient(base_url=url, timeout=5.0) as client:
            response = await client.get("/health")
            response.raise_for_status()
            if response.json().get("status") != "pass":
                raise RuntimeError("influxdb health is not 'pass'")

    return probe


def sql_probe(engine: Engine) -> Probe:
    """Probe the registry database with ``SELECT 1`` (in a worker thread)."""

    def select_one() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    async def probe() -> None:
        await asyncio.to_thread(select_one)

    return probe

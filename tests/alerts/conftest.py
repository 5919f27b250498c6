"""Fixtures of the alerts tests: alert factories and a throw-away InfluxDB bucket per test."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator

import pytest

from alerts.store.influx import InfluxStore

# kafka-python 3 reads its protocol schemas with importlib.resources.read_text, deprecated
# since Python 3.11; pytest runs with filterwarnings=error. Not ours to fix: import it once
# here with exactly that warning silenced (the module is cached afterwards).
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "read_text is deprecated", DeprecationWarning)
    warnings.filterwarnings("ignore", "open_text is deprecated", DeprecationWarning)
    import kafka  # noqa: F401
    import kafka.admin  # noqa: F401


@pytest.fixture
def influx_bucket(stack_env: dict[str, str]) -> Iterator[str]:
    """A fresh InfluxDB bucket, deleted after the test."""
    from influxdb_client.client.influxdb_client import InfluxDBClient

    name = f"test-{uuid.uuid4().hex[:12]}"
    client = InfluxDBClient(
        url=stack_env["VIGIL_INFLUX_URL"],
        token=stack_env["VIGIL_INFLUX_TOKEN"],
        org=stack_env["VIGIL_INFLUX_ORG"],
    )
    buckets = client.buckets_api()
    bucket = buckets.create_bucket(bucket_name=name, org=stack_env["VIGIL_INFLUX_ORG"])
    try:
        yield name
    finally:
        try:
            buckets.delete_bucket(bucket)  # type: ignore[no-untyped-call]
        finally:
            client.close()  # type: ignore[no-untyped-call]


@pytest.fixture
def influx_store(stack_env: dict[str, str], influx_bucket: str) -> Iterator[InfluxStore]:
    """An :class:`InfluxStore` on a fresh bucket."""
    store = InfluxStore(
        url=stack_env["VIGIL_INFLUX_URL"],
        token=stack_env["VIGIL_INFLUX_TOKEN"],
        org=stack_env["VIGIL_INFLUX_ORG"],
        bucket=influx_bucket,
    )
    try:
        yield store
    finally:
        store.close()

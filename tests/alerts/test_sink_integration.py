"""Acceptance of the sink on the real stack: `vigil sink` subprocesses, Kafka, InfluxDB.

- 1,000 alerts (and malformed records) through Kafka -> exactly 1,000 distinct alert ids, one
  point each, also with the sink SIGKILLed mid-stream and restarted; the malformed records are
  in the DLQ. The first sink joins its group once.
- InfluxDB stopped for 60 s while alerts keep coming: nothing committed, memory flat, and
  after it returns every alert is there.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from ingest.encoding import decode_dead_letter
from tests.alerts.alert_factories import T0, make_alert
from tests.alerts.sink_harness import (
    InfluxCounter,
    PrivateInflux,
    SinkProcess,
    committed,
    consume_all,
    drop_topics,
    make_topics,
    produce,
    producer,
    unique_prefix,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
logger = logging.getLogger(__name__)


def alerts(n: int, tag: str) -> list[tuple[bytes | None, bytes]]:
    out: list[tuple[bytes | None, bytes]] = []
    for i in range(n):
        a = make_alert(f"{tag}-p{i % 50}", f"kind{i % 7}", started_at=T0 + i, detected_at=T0 + i)
        out.append((a.patient_id.encode(), a.to_json()))
    return out


def sink_env(
    stack_env: dict[str, str], prefix: str, bucket: str, tmp_path: Path, **extra: str
) -> dict[str, str]:
    return {
        **stack_env,
        "VIGIL_TOPIC_PREFIX": prefix,
        "VIGIL_INFLUX_BUCKET": bucket,
        "VIGIL_DATA_DIR": str(tmp_path),
        "VIGIL_WEBHOOKS": "[]",
        "VIGIL_VITALS_PARTITIONS": "3",
        **extra,
    }


def test_thousand_alerts_land_once_each_through_a_sigkill(stack_env, influx_bucket, tmp_path):
    bootstrap = stack_env["VIGIL_KAFKA_BOOTSTRAP"]
    prefix = unique_prefix()
    topics = make_topics(bootstrap, prefix)
    env = sink_env(
        stack_env,
        prefix,
        influx_bucket,
        tmp_path,
        VIGIL_SINK_BATCH_SIZE="50",
        VIGIL_SINK_LINGER_MS="100",
    )
    counter = InfluxCounter(stack_env, influx_bucket)
    records = alerts(1000, "k")
    malformed = [(b"p-bad", b"{truncated"), (b"p-bad", b'{"alert_id": 7}'), (None, b"\x00\xff")]
    for i, rec in enumerate(malformed):  # spread through the stream
        records.insert(150 + 300 * i, rec)

    prod = producer(bootstrap)
    first = SinkProcess(env, tmp_path / "sink1.log", "--role", "store").start()

    def paced() -> None:  # ~4 s of traffic, so the kill lands mid-stream
        for i in range(0, len(records), 25):
            produce(prod, topics.alerts, records[i : i + 25])
            time.sleep(0.1)

    feeder = threading.Thread(target=paced)
    feeder.start()
    try:
        wait_for(lambda: counter.distinct_ids() >= 200, 60, "the first 200 alerts in InfluxDB")
        first.kill()
        # Alone in its group, the sink joined once: a second join right after the first (its
        # metadata arriving late) could hang for good (ingest.topics.subscribe_when_known).
        joins = (tmp_path / "sink1.log").read_text().count("Successfully joined group")
        assert joins == 1, f"{joins} joins"
        at_kill = counter.distinct_ids()
        committed_at_kill = committed(bootstrap, f"{prefix}vigil-sink")
        assert at_kill < 1000, "the kill was meant to land mid-stream"
        second = SinkProcess(env, tmp_path / "sink2.log", "--role", "store").start()
        feeder.join()
        wait_for(lambda: counter.distinct_ids() == 1000, 90, "all 1,000 alert ids")
        wait_for(
            lambda: committed(bootstrap, f"{prefix}vigil-sink") == len(records),
            30,
            "every offset committed",
        )
        assert second.terminate() == 0, second.output()[-3000:]
        # Exactly one point per alert: re-delivered records overwrote, none duplicated.
        assert counter.distinct_ids() == 1000
        assert counter.rows() == 1000
        letters = consume_all(bootstrap, topics.alerts_dlq, expect=3)
        assert sorted(decode_dead_letter(r.value).reason for r in letters) == [
            "bad_json",
            "bad_json",
            "bad_record",
        ]
        assert {decode_dead_letter(r.value).payload for r in letters} == {v for _, v in malformed}
        print(  # noqa: T201 - the numbers the acceptance report quotes
            f"\n[sink kill] at SIGKILL: {at_kill} alert ids in InfluxDB, {committed_at_kill} "
            f"offsets committed (of {len(records)} records); after restart: 1000 ids, 1000 points"
        )
    finally:
        feeder.join()
        prod.close()
        drop_topics(bootstrap, topics)
        counter.close()
        for p in (first,):
            if p.alive():
                p.kill()


def test_influxdb_outage_loses_nothing_and_memory_stays_bounded(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    influx = PrivateInflux(tmp_path / "influx-state")
    influx.start()
    try:
        run_outage(stack_env, influx, tmp_path)
    finally:
        influx.stop()


def run_outage(stack_env: dict[str, str], influx: PrivateInflux, tmp_path: Path) -> None:
    influx_env = influx.settings()
    influx_bucket = influx_env["VIGIL_INFLUX_BUCKET"]
    stack_env = {**stack_env, **influx_env}
    bootstrap = stack_env["VIGIL_KAFKA_BOOTSTRAP"]
    prefix = unique_prefix()
    topics = make_topics(bootstrap, prefix)
    group = f"{prefix}vigil-sink"
    env = sink_env(
        stack_env,
        prefix,
        influx_bucket,
        tmp_path,
        VIGIL_SINK_BATCH_SIZE="1000",
        VIGIL_SINK_BACKOFF_MAX_S="4",
    )
    counter = InfluxCounter(stack_env, influx_bucket)
    prod = producer(bootstrap)
    sink = SinkProcess(env, tmp_path / "sink.log", "--role", "store").start()
    warm, during = 2_000, 40_000
    influx_down = False
    try:
        produce(prod, topics.alerts, alerts(warm, "warm"))
        wait_for(lambda: counter.distinct_ids() == warm, 60, "the warm-up alerts")
        time.sleep(1)
        rss_before = sink.rss_kib()

        influx.stop()
        influx_down = True
        t_down = time.monotonic()
        committed_before = committed(bootstrap, group)
        produce(prod, topics.alerts, alerts(during, "outage"))
        samples = []
        while time.monotonic() - t_down < 60:
            samples.append(sink.rss_kib())
            time.sleep(0.5)
        committed_during = committed(bootstrap, group)
        influx.start()
        influx_down = False
        outage_s = time.monotonic() - t_down

        t_up = time.monotonic()
        wait_for(
            lambda: counter.distinct_ids() == warm + during, 180, "every alert after the outage"
        )
        catch_up_s = time.monotonic() - t_up
        wait_for(lambda: committed(bootstrap, group) == warm + during, 30, "offsets committed")
        assert counter.rows() == warm + during
        assert sink.alive(), sink.output()[-3000:]
        assert committed_during == committed_before == warm  # nothing committed while down
        assert "store unavailable" in sink.output()
        growth_mib = (max(samples) - rss_before) / 1024
        produced_mib = sum(len(v) for _, v in alerts(during, "outage")) / 2**20
        print(  # noqa: T201
            f"\n[sink outage] InfluxDB down {outage_s:.0f}s; {during} alerts "
            f"({produced_mib:.1f} MiB of JSON) produced meanwhile; sink RSS before "
            f"{rss_before / 1024:.1f} MiB, max during {max(samples) / 1024:.1f} MiB "
            f"(+{growth_mib:.1f} MiB); all {warm + during} stored "
            f"{catch_up_s:.1f}s after it returned"
        )
        # Holding the outage's records would take several times their JSON size in Python;
        # the sink holds one batch (1,000 alerts) and a bounded fetch buffer.
        assert growth_mib < 24, f"RSS grew {growth_mib:.1f} MiB during the outage"
        assert sink.terminate() == 0
    finally:
        if influx_down:
            influx.start()
        if sink.alive():
            sink.kill()
        prod.close()
        drop_topics(bootstrap, topics)
        counter.close()

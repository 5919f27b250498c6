"""Acceptance of webhooks on the real stack: `vigil sink` -> a real local HTTP receiver.

Exactly one delivery per new alert, every signature verifies, a 500 is retried with the same
delivery id, an escalation is sent, and an escalation of a snoozed alert is not.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec
import pytest

from alerts.lifecycle import AlertEvent
from alerts.store.influx import InfluxStore
from alerts.webhooks import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, verify
from tests.alerts.alert_factories import T0, make_alert
from tests.alerts.sink_harness import (
    SinkProcess,
    drop_topics,
    make_topics,
    produce,
    producer,
    unique_prefix,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SECRET = "ward-a-webhook-secret"


class Receiver:
    """A local webhook endpoint that records requests and fails some on purpose."""

    def __init__(self) -> None:
        self.requests: list[dict[str, object]] = []
        self.fail_first: set[str] = set()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                doc = json.loads(body)
                alert_id = doc["alert"]["alert_id"]
                with receiver.lock:
                    seen = any(r["alert_id"] == alert_id for r in receiver.requests)
                    status = 500 if alert_id in receiver.fail_first and not seen else 200
                    receiver.requests.append(
                        {
                            "alert_id": alert_id,
                            "patient_id": doc["alert"]["patient_id"],
                            "event": self.headers[EVENT_HEADER],
                            "delivery": self.headers[DELIVERY_HEADER],
                            "signed": verify(
                                SECRET, body, self.headers[SIGNATURE_HEADER], now=time.time()
                            ),
                            "status": status,
                        }
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def ok(self, event: str) -> list[dict[str, object]]:
        with self.lock:
            return [r for r in self.requests if r["status"] == 200 and r["event"] == event]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_each_new_alert_is_delivered_once_signed_retried_and_snooze_respected(
    stack_env, influx_bucket, tmp_path
):
    bootstrap = stack_env["VIGIL_KAFKA_BOOTSTRAP"]
    prefix = unique_prefix()
    topics = make_topics(bootstrap, prefix)
    receiver = Receiver()
    env = {
        **stack_env,
        "VIGIL_TOPIC_PREFIX": prefix,
        "VIGIL_INFLUX_BUCKET": influx_bucket,
        "VIGIL_DATA_DIR": str(tmp_path),
        "VIGIL_VITALS_PARTITIONS": "3",
        "VIGIL_SINK_LINGER_MS": "50",
        "VIGIL_WEBHOOK_BACKOFF_S": "0.2",
        "VIGIL_WEBHOOKS": json.dumps(
            [{"team": "ward-a", "url": receiver.url, "secret": SECRET, "patients": ["*"]}]
        ),
    }
    store = InfluxStore(
        url=stack_env["VIGIL_INFLUX_URL"],
        token=stack_env["VIGIL_INFLUX_TOKEN"],
        org=stack_env["VIGIL_INFLUX_ORG"],
        bucket=influx_bucket,
    )
    prod = producer(bootstrap)
    sink = SinkProcess(env, tmp_path / "sink.log").start()
    try:
        # A new notifier group starts at the latest offset: knock until it listens.
        def warmed() -> bool:
            if receiver.ok("alert.new"):
                return True
            ping = make_alert("warmup", detected_at=time.time())
            produce(prod, topics.alerts, [(b"warmup", ping.to_json())])
            return False

        wait_for(warmed, 60, "the notifier to listen", every=1.0)
        time.sleep(1.5)  # let in-flight warm-up pings land before counting
        warmups = len(receiver.requests)

        alerts = [
            make_alert(f"w-p{i}", "tachycardia", started_at=T0 + i, detected_at=T0 + i)
            for i in range(20)
        ]
        receiver.fail_first.add(alerts[4].alert_id)
        produce(prod, topics.alerts, [(a.patient_id.encode(), a.to_json()) for a in alerts])
        ids = {a.alert_id for a in alerts}
        wait_for(
            lambda: ids <= {r["alert_id"] for r in receiver.ok("alert.new")},
            60,
            "a delivery for every new alert",
        )

        # Snooze alert 0 through the lifecycle topic (the sink stores it), then escalate 0 and 1.
        now = datetime.now(UTC)
        snooze = AlertEvent.create(
            alerts[0].alert_id,
            "snooze",
            actor="nurse.kim",
            at=now,
            until=now + timedelta(hours=1),
            patient_id="w-p0",
        )
        produce(prod, topics.alert_events, [(b"w-p0", msgspec.json.encode(snooze))])

        def snoozed() -> bool:
            record = store.get_alert(alerts[0].alert_id)
            return record is not None and record.state.snoozed_until is not None

        wait_for(snoozed, 30, "the snooze to be stored")
        escalations = [
            msgspec.structs.replace(
                a, status="escalated", seq=1, severity="high", detected_at=T0 + 600
            )
            for a in alerts[:2]
        ]
        produce(prod, topics.alerts, [(a.patient_id.encode(), a.to_json()) for a in escalations])
        wait_for(lambda: len(receiver.ok("alert.escalated")) >= 1, 30, "the escalation")
        time.sleep(2)  # room for a wrong delivery of the snoozed escalation to show up

        counted = receiver.requests[warmups:]
        new_ok = [r for r in counted if r["event"] == "alert.new" and r["status"] == 200]
        assert sorted(str(r["alert_id"]) for r in new_ok) == sorted(ids)  # exactly one each
        assert all(r["signed"] for r in receiver.requests)
        retried = [r for r in counted if r["alert_id"] == alerts[4].alert_id]
        assert [r["status"] for r in retried] == [500, 200]
        assert retried[0]["delivery"] == retried[1]["delivery"]
        assert [r["alert_id"] for r in receiver.ok("alert.escalated")] == [alerts[1].alert_id]
        assert len(counted) == 20 + 1 + 1  # 20 new, 1 retry, 1 escalation; nothing else
        assert sink.terminate() == 0, sink.output()[-3000:]
    finally:
        if sink.alive():
            sink.kill()
        prod.close()
        drop_topics(bootstrap, topics)
        store.close()
        receiver.close()

"""The dashboard's alert state (``store.js``) stays true to the server: run in Node, real app.

The queue must not show an alert as open once someone has acknowledged or resolved it, even
when that happened while this browser was not listening (the stream dropped, the API
restarted).
"""

from __future__ import annotations

import httpx

from tests.api.conftest import LiveServer
from tests.api.dashboard_node import run_dashboard
from tests.api.world import World

RELOAD = """
signIn({ token: ARGS[0], refresh_token: null, username: "nurse", role: "clinician" });
const store = await js("store.js");
await store.loadAlerts();
const before = store.openAlerts().map((a) => a.alert_id);
// A colleague resolves one while this browser is not listening; then a `reset` reloads.
const r = await post(`/api/v1/alerts/${ARGS[1]}/resolve`, ARGS[0]);
await store.loadAlerts();
done({ resolved: r.status, before, after: store.openAlerts().map((a) => a.alert_id) });
"""


def test_a_reload_drops_alerts_resolved_while_the_dashboard_was_not_listening(
    world: World, live_server: LiveServer
) -> None:
    gone = world.alerts["P1"][0].alert_id
    out = run_dashboard(RELOAD, live_server.base_url, world.token("nurse"), gone)
    assert out["resolved"] == 200
    assert gone in out["before"]
    assert gone not in out["after"]
    assert len(out["after"]) == len(out["before"]) - 1


DROPPED = """
signIn({ token: ARGS[0], refresh_token: null, username: "nurse", role: "clinician" });
const store = await js("store.js");
await store.loadAlerts();
let streams = 0;
intercept = async (url) => {
  if (!url.endsWith("/alerts/stream") || ++streams > 1) return;
  // The stream opens and drops before any event (so no Last-Event-ID); meanwhile a
  // colleague acknowledges an alert.
  await post(`/api/v1/alerts/${ARGS[1]}/ack`, ARGS[0]);
  const sse = { "Content-Type": "text/event-stream" };
  return new Response(": hello\\n\\n", { status: 200, headers: sse });
};
store.startLive();
try {
  await until(() => streams > 1 && store.state.live === "live", 5000);
  await until(() => store.state.alerts.get(ARGS[1]).status === "acknowledged", 2000);
} catch {}
done({ streams, status: store.state.alerts.get(ARGS[1]).status });
"""


def test_a_stream_back_after_a_drop_with_nothing_to_resume_from_refetches_alerts(
    world: World, live_server: LiveServer
) -> None:
    acked = world.alerts["P1"][1].alert_id
    out = run_dashboard(DROPPED, live_server.base_url, world.token("nurse"), acked)
    assert out["streams"] >= 2, out
    assert out["status"] == "acknowledged"
    r = httpx.get(f"{live_server.base_url}/api/v1/alerts/{acked}", headers=world.auth("nurse"))
    assert r.json()["acknowledged_by"] == "nurse"

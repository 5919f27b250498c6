"""Acting on alerts in the dashboard (``alerts.js``, ``patient.js``) in Node, on the real app.

After an action every view shows the alert's new state: the queue card, and the patient
page's timeline beside it; and when the server refuses the action because a colleague got
there first, the card shows what the colleague did instead of offering the same button again.
"""

from __future__ import annotations

import httpx

from tests.api.conftest import LiveServer
from tests.api.dashboard_node import run_dashboard
from tests.api.world import World

COLLEAGUE_FIRST = """
signIn({ token: ARGS[0], refresh_token: null, username: "nurse", role: "clinician" });
const store = await js("store.js");
const { mountQueue } = await js("alerts.js");
await store.loadAlerts();
const root = mountPoint();
mountQueue(root);
const card = () => byTestId(root, "alert-card").find((c) => c.dataset.alertId === ARGS[1]);
// A colleague acknowledges it first (this browser is not listening to the stream).
await post(`/api/v1/alerts/${ARGS[1]}/ack`, ARGS[2]);
byTestId(card(), "ack-button")[0].click();
const toast = document.getElementById("toast");
await until(() => toast.textContent !== "");
try { await until(() => card().dataset.status === "acknowledged", 2000); } catch {}
done({ toast: toast.textContent, status: card().dataset.status,
  ackButtons: byTestId(card(), "ack-button").length, text: card().textContent });
"""


def test_an_ack_refused_because_a_colleague_acked_first_shows_their_ack(
    world: World, live_server: LiveServer
) -> None:
    alert_id = world.alerts["P1"][0].alert_id
    args = (world.token("nurse"), alert_id, world.token("admin"))
    out = run_dashboard(COLLEAGUE_FIRST, live_server.base_url, *args)
    assert out["toast"].startswith("Could not ack"), out
    assert out["status"] == "acknowledged"
    assert out["ackButtons"] == 0
    assert "ack admin" in out["text"]


TIMELINE = """
signIn({ token: ARGS[0], refresh_token: null, username: "nurse", role: "clinician" });
const store = await js("store.js");
const { mountPatient } = await js("patient.js");
await store.loadAlerts();
const root = mountPoint();
mountPatient(root, "P1");
const entry = () => findAll(byTestId(root, "alert-timeline")[0],
  (n) => n.tagName === "LI" && n.textContent.includes("tachycardia"))[0];
await until(() => entry());
const before = entry().textContent;
const card = byTestId(root, "alert-card").find((c) => c.dataset.alertId === ARGS[1]);
byTestId(card, "ack-button")[0].click();
const toast = document.getElementById("toast");
await until(() => toast.textContent !== "");
done({ toast: toast.textContent, before, after: entry().textContent });
"""


def test_acknowledging_on_the_patient_page_updates_its_alert_timeline(
    world: World, live_server: LiveServer
) -> None:
    alert_id = world.alerts["P1"][0].alert_id
    out = run_dashboard(TIMELINE, live_server.base_url, world.token("nurse"), alert_id)
    assert out["toast"] == "tachycardia for P1: acknowledged.", out
    assert "· open" in out["before"]
    assert "· acknowledged" in out["after"]
    r = httpx.get(f"{live_server.base_url}/api/v1/alerts/{alert_id}", headers=world.auth("nurse"))
    assert r.json()["status"] == "acknowledged"

"""The patient page's thresholds editor (``patient.js``) in Node, saving to the real app."""

from __future__ import annotations

import httpx

from tests.api.conftest import LiveServer
from tests.api.dashboard_node import run_dashboard
from tests.api.world import World

#: Signs in as the nurse and opens P1's thresholds editor (``form``).
OPEN_EDITOR = """
signIn({ token: ARGS[0], refresh_token: null, username: "nurse", role: "clinician" });
const { mountPatient } = await js("patient.js");
const root = mountPoint();
mountPatient(root, "P1");
await until(() => byTestId(root, "thresholds-editor").length === 1);
const form = byTestId(root, "thresholds-editor")[0];
"""

SAVE = (
    OPEN_EDITOR
    + """
const high = findAll(form, (n) => n.getAttribute("aria-label") === "HR high")[0];
high.value = "130";
form.dispatch("submit");
const toast = document.getElementById("toast");
await until(() => /saved|Not saved|Someone/.test(toast.textContent));
const puts = calls.filter((c) => c.method === "PUT");
done({ toast: toast.textContent, put: puts.map((c) => c.headers), body: puts.map((c) => c.body) });
"""
)


def test_saving_the_thresholds_editor_keeps_limits_of_vitals_it_does_not_show(
    world: World, live_server: LiveServer
) -> None:
    url = f"{live_server.base_url}/api/v1/patients/P1/thresholds"
    auth = world.auth("nurse")
    glucose = {"low": 70.0, "high": 180.0}
    r = httpx.put(url, headers=auth, json={"thresholds": {"glucose": glucose}})
    assert r.status_code == 200, r.text
    out = run_dashboard(SAVE, live_server.base_url, world.token("nurse"))
    assert out["toast"] == "Thresholds saved.", out
    assert out["put"][0]["If-Match"] == '"v1"', "the save is guarded by the version it edited"
    saved = httpx.get(url, headers=auth).json()
    assert saved["version"] == 2
    assert saved["thresholds"]["hr"] == {"low": None, "high": 130.0}
    assert saved["thresholds"]["glucose"] == glucose


OUT_OF_RANGE = (
    OPEN_EDITOR
    + """
findAll(form, (n) => n.getAttribute("aria-label") === "HR high")[0].value = "400";
form.dispatch("submit");
const toast = document.getElementById("toast");
await until(() => toast.textContent !== "");
done({ toast: toast.textContent, error: toast.classList.contains("error") });
"""
)


def test_a_refused_save_tells_the_nurse_why_not_just_that_it_did_not_validate(
    world: World, live_server: LiveServer
) -> None:
    out = run_dashboard(OUT_OF_RANGE, live_server.base_url, world.token("nurse"))
    assert out["error"]
    assert out["toast"] == "Not saved: hr limits must lie within [20, 300]"

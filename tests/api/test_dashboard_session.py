"""The dashboard's API client (``api/static/js/api.js``) run in Node against the real app.

No browser: Node runs the module with ``fetch`` and ``sessionStorage`` stubbed, the request it
makes is recorded, and the test sends that very request to the app.

Refresh tokens are single-use and a replay ends the login, so the client must never spend one
twice: every caller of a tab that meets a 401 shares one exchange, or retries with the token
another caller already obtained. Tabs do not coordinate: a duplicated tab that spends the same
token seconds later is covered by the server's reuse grace. Signing out revokes the login on
the server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.api.conftest import LiveServer, TestClient
from tests.api.dashboard_node import run_dashboard
from tests.api.world import PASSWORD, World

API_JS = Path(__file__).parents[2] / "api" / "static" / "js" / "api.js"

#: Signs in with a stale access token and the given refresh token, makes one request that
#: gets 401, and prints the request the client then makes to refresh its token.
REFRESH_PROBE = """
const store = new Map();
globalThis.sessionStorage = {
  getItem: (k) => (store.has(k) ? store.get(k) : null),
  setItem: (k, v) => store.set(k, String(v)),
  removeItem: (k) => store.delete(k),
};
store.set("vigil.session", JSON.stringify({ token: "stale", refresh_token: process.argv[2] }));
const calls = [];
globalThis.fetch = async (url, init = {}) => {
  const headers = { ...(init.headers || {}) };
  const form = init.body instanceof URLSearchParams;
  if (form && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
    headers["Content-Type"] = "application/x-www-form-urlencoded;charset=UTF-8";
  }
  const body = init.body == null ? null : String(init.body);
  calls.push({ url, method: init.method || "GET", headers, body });
  return new Response("{}", { status: calls.length === 1 ? 401 : 503 });
};
const api = await import(process.argv[1]);
try { await api.request("GET", "/auth/me"); } catch {}
process.stdout.write(JSON.stringify(calls[1] || null));
"""


def test_the_dashboard_refreshes_an_expired_token_at_the_token_endpoint(
    world: World, client: TestClient
) -> None:
    tokens = client.post("/api/v1/auth/token", data={"username": "nurse", "password": PASSWORD})
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (make assets installs the dashboard with npm)"
    out = subprocess.run(  # noqa: S603 - our own script and module
        [
            node,
            "--input-type=module",
            "-e",
            REFRESH_PROBE,
            API_JS.as_uri(),
            tokens.json()["refresh_token"],
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    call = json.loads(out.stdout)
    assert call is not None, "the client did not try to refresh"
    r = client.request(call["method"], call["url"], headers=call["headers"], content=call["body"])
    assert r.status_code == 200, r.text
    assert r.json()["access_token"] and r.json()["refresh_token"]


#: Five callers of one tab (REST requests and the live stream's renewal) hit 401 with the same
#: expired access token at the same moment: the server holds every 401 until all five are in.
CONCURRENT_401S = """
signIn({ token: "expired", refresh_token: ARGS[0], username: "nurse", role: "clinician" });
const api = await js("api.js");
let signedOut = 0;
api.setUnauthorizedHandler(() => { signedOut += 1; });
const stale = () => calls.filter((c) => c.headers.Authorization === "Bearer expired").length;
intercept = async (url, init) => {
  if ((init.headers || {}).Authorization === "Bearer expired") await until(() => stale() >= 4);
};
const answers = await Promise.all([
  api.request("GET", "/auth/me"),
  api.request("GET", "/auth/me"),
  api.listAlerts(),
  api.listPatients(),
  api.renewSession("expired"),
]);
const exchanges = calls.filter((c) => c.url.endsWith("/auth/token")).length;
// The login survived: its newest refresh token still works, and so does the new access token.
const renewedAgain = await api.renewSession(api.currentSession().token);
const me = await api.request("GET", "/auth/me");
done({
  exchanges,
  signedOut,
  subjects: [answers[0].subject, answers[1].subject, me.subject],
  alerts: answers[2].length,
  patients: answers[3].length,
  renewed: answers[4],
  renewedAgain,
});
"""


def test_concurrent_401s_in_one_tab_share_one_refresh_and_keep_the_session(
    world: World, live_server: LiveServer
) -> None:
    out = run_dashboard(
        CONCURRENT_401S, live_server.base_url, live_server.tokens()["refresh_token"]
    )
    assert out["exchanges"] == 1, "one refresh token, spent once"
    assert out["signedOut"] == 0
    assert out["subjects"] == ["nurse", "nurse", "nurse"]
    assert out["alerts"] > 0 and out["patients"] == 2
    assert out["renewed"] is True and out["renewedAgain"] is True


#: A request sent with the old access token gets its 401 only after another caller of the tab
#: has finished refreshing: it must retry with the new token, not refresh again.
LATE_401 = """
signIn({ token: "expired", refresh_token: ARGS[0], username: "nurse", role: "clinician" });
const api = await js("api.js");
let signedOut = 0;
api.setUnauthorizedHandler(() => { signedOut += 1; });
intercept = async (url, init) => {
  const stale = (init.headers || {}).Authorization === "Bearer expired";
  if (stale && url.includes("/patients")) {
    await until(() => api.currentSession().token !== "expired");
  }
};
const late = api.listPatients();
const me = await api.request("GET", "/auth/me");
const patients = await late;
done({
  exchanges: calls.filter((c) => c.url.endsWith("/auth/token")).length,
  signedOut,
  me: me.subject,
  patients: patients.length,
});
"""


def test_a_401_arriving_after_a_refresh_reuses_the_new_token_instead_of_refreshing_again(
    world: World, live_server: LiveServer
) -> None:
    out = run_dashboard(LATE_401, live_server.base_url, live_server.tokens()["refresh_token"])
    assert out == {"exchanges": 1, "signedOut": 0, "me": "nurse", "patients": 2}


#: A duplicated tab: two copies of the dashboard (each its own api.js) with one session, both
#: holding the same expired access token and refresh token. Tab A refreshes, then tab B sends
#: the refresh token A just spent; the tabs share no lock, so the server's grace is what keeps
#: the login alive.
TWO_TABS = """
signIn({ token: "expired", refresh_token: ARGS[0], username: "nurse", role: "clinician" });
const tabA = await js("api.js?tab=a");
const tabB = await js("api.js?tab=b");
let signedOut = 0;
for (const tab of [tabA, tabB]) tab.setUnauthorizedHandler(() => { signedOut += 1; });
const a = await tabA.request("GET", "/auth/me");
const b = await tabB.request("GET", "/auth/me");
const meA = await tabA.request("GET", "/auth/me");
done({
  exchanges: calls.filter((c) => c.url.endsWith("/auth/token")).length,
  signedOut,
  subjects: [a.subject, b.subject, meA.subject],
  oneRefreshToken: tabA.currentSession().refresh_token === tabB.currentSession().refresh_token,
});
"""


def test_two_tabs_of_one_session_refreshing_with_the_same_token_both_stay_signed_in(
    world: World, live_server: LiveServer
) -> None:
    out = run_dashboard(TWO_TABS, live_server.base_url, live_server.tokens()["refresh_token"])
    assert out == {
        "exchanges": 2,
        "signedOut": 0,
        "subjects": ["nurse", "nurse", "nurse"],
        "oneRefreshToken": True,
    }


SIGN_OUT = """
const api = await js("api.js");
await api.login("nurse", ARGS[0]);
const { token, refresh_token } = api.currentSession();
await api.logout();
const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token });
const refreshed = await fetch("/api/v1/auth/token", { method: "POST", body: form });
const me = await fetch("/api/v1/auth/me", { headers: { Authorization: `Bearer ${token}` } });
done({
  session: api.currentSession(),
  revokes: calls.filter((c) => c.url.endsWith("/auth/revoke")).length,
  refresh: [refreshed.status, (await refreshed.json()).error],
  me: me.status,
});
"""


def test_signing_out_revokes_the_login_on_the_server(world: World, live_server: LiveServer) -> None:
    out = run_dashboard(SIGN_OUT, live_server.base_url, PASSWORD)
    assert out["session"] is None and out["revokes"] == 1
    assert out["refresh"] == [401, "invalid_grant"], "the refresh token is dead"
    assert out["me"] == 401, "and so is the access token"

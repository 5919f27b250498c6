"""The dashboard's API client (``api/static/js/api.js``) run in Node against the real app.

No browser: Node runs the module with ``fetch`` and ``sessionStorage`` stubbed, the request it
makes is recorded, and the test sends that very request to the app.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.api.conftest import TestClient
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

"""The dashboard's live alert stream (``sse.js`` through ``store.js``) in Node, on the real app.

The stream is a fetch() that outlives the 15-minute access token: when it has to reconnect
(a dropped connection, an API restart) its token has often expired, and it must refresh it
like every other request does rather than retry a dead token for ever.
"""

from __future__ import annotations

from tests.api.conftest import LiveServer
from tests.api.dashboard_node import run_dashboard
from tests.api.world import World

EXPIRED_STREAM = """
signIn({ token: "expired", refresh_token: ARGS[0], username: "nurse", role: "clinician" });
const store = await js("store.js");
store.startLive();
try {
  await until(() => store.state.live === "live", 4000);
} catch {
  done({ live: store.state.live, streams: calls.filter((c) => c.url.endsWith("/alerts/stream")) });
}
const streams = calls.filter((c) => c.url.endsWith("/alerts/stream"));
done({ live: store.state.live, auth: streams.map((c) => c.headers.Authorization) });
"""


def test_the_live_stream_refreshes_an_expired_token_and_goes_live(
    world: World, live_server: LiveServer
) -> None:
    tokens = live_server.tokens()
    out = run_dashboard(EXPIRED_STREAM, live_server.base_url, tokens["refresh_token"])
    assert out["live"] == "live", out
    assert out["auth"][0] == "Bearer expired"
    assert out["auth"][-1].startswith("Bearer ey"), "reconnected with the refreshed token"
    assert len(out["auth"]) == 2


ENDED_SESSION = """
signIn({ token: "expired", refresh_token: "not-a-token", username: "nurse", role: "clinician" });
const api = await js("api.js");
const store = await js("store.js");
let signedOut = 0;
api.setUnauthorizedHandler(() => { signedOut += 1; });
store.startLive();
await sleep(2500);
done({
  signedOut,
  session: api.currentSession(),
  streams: calls.filter((c) => c.url.endsWith("/alerts/stream")).length,
});
"""


def test_the_live_stream_sends_the_user_to_sign_in_when_the_session_is_over(
    world: World, live_server: LiveServer
) -> None:
    out = run_dashboard(ENDED_SESSION, live_server.base_url)
    assert out["signedOut"] == 1, "the user is told to sign in again"
    assert out["session"] is None
    assert out["streams"] == 1, "no retrying a dead token every few seconds"

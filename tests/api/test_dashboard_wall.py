"""The patient wall (``wall.js``) in Node, on the real app: its windows follow the data's time.

In ``vigil demo`` event time runs 60x ahead of the wall clock, so "the last 6 hours" of a
sparkline must end at the newest data seen, not at the browser's clock.
"""

from __future__ import annotations

from datetime import datetime

from tests.api.conftest import LiveServer
from tests.api.dashboard_node import run_dashboard
from tests.api.world import World

SPARKS = """
signIn({ token: ARGS[0], refresh_token: null, username: "nurse", role: "clinician" });
const { mountWall } = await js("wall.js");
const root = mountPoint();
mountWall(root);
const history = () => calls.filter((c) => /\\/vitals\\?/.test(c.url));
await until(() => history().length >= 2);
const latest = await (await fetch("/api/v1/patients/P1/vitals/latest",
  { headers: { Authorization: `Bearer ${ARGS[0]}` } })).json();
done({ to: history().map((c) => new URL(c.url, "http://x").searchParams.get("to")),
  newest: latest.vitals.hr.ts });
"""


def test_the_wall_sparklines_end_at_the_newest_data_not_the_browser_clock(
    world: World, live_server: LiveServer
) -> None:
    out = run_dashboard(SPARKS, live_server.base_url, world.token("nurse"))
    newest = datetime.fromisoformat(out["newest"]).timestamp()
    for to in out["to"]:
        # The window ends a minute after the newest reading (so that minute's bucket is in).
        assert datetime.fromisoformat(to).timestamp() == newest + 60, out

"""The live alert stream: the hub's resume rules, and SSE end to end over a real socket."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest

from api.live import AlertHub
from api.routes import alerts as alerts_routes
from tests.api.conftest import LiveServer
from tests.api.sse import Event, events
from tests.api.world import PASSWORD, World, make_alert

# -- the hub (pure asyncio) -----------------------------------------------------------------


async def test_resume_replays_exactly_the_events_after_last_event_id() -> None:
    hub = AlertHub(buffer=100, epoch="e")
    sent = [hub.publish("alert", "P1", {"n": i}) for i in range(5)]
    sub = hub.subscribe(sent[1].id)
    assert [e.data["n"] for e in sub.replay] == [2, 3, 4]
    assert not sub.reset


async def test_an_id_from_another_epoch_or_beyond_the_buffer_asks_the_client_to_reset() -> None:
    hub = AlertHub(buffer=3, epoch="e")
    sent = [hub.publish("alert", "P1", {"n": i}) for i in range(10)]
    assert hub.subscribe("other-5").reset  # another API process or an earlier run
    assert hub.subscribe(sent[2].id).reset  # fell out of the buffer
    assert hub.subscribe("e-999").reset  # from the future: not ours
    assert not hub.subscribe(sent[6].id).reset  # the oldest buffered is 7: 6 resumes exactly


async def test_subscribers_get_live_events_in_order_and_end_when_the_hub_closes() -> None:
    hub = AlertHub(epoch="e")
    hub.attach(asyncio.get_running_loop())
    sub = hub.subscribe()
    for i in range(3):
        hub.publish("alert", "P1", {"n": i})
    got = [await sub.get(timeout=1) for _ in range(3)]
    assert [e.data["n"] for e in got if e] == [0, 1, 2]
    assert await sub.get(timeout=0.01) is None  # nothing more yet
    hub.close()
    with pytest.raises(StopAsyncIteration):
        await sub.get(timeout=1)


async def test_publishing_from_a_worker_thread_reaches_loop_subscribers() -> None:
    hub = AlertHub(epoch="e")
    hub.attach(asyncio.get_running_loop())
    sub = hub.subscribe()
    worker = threading.Thread(target=hub.publish, args=("alert", "P1", {"n": 1}))
    worker.start()
    worker.join()
    event = await sub.get(timeout=2)
    assert event is not None and event.data == {"n": 1}


async def test_a_subscriber_that_falls_too_far_behind_is_disconnected() -> None:
    hub = AlertHub(epoch="e", queue_size=2)
    hub.attach(asyncio.get_running_loop())
    sub = hub.subscribe()
    for i in range(5):
        hub.publish("alert", "P1", {"n": i})
    received = []
    with pytest.raises(StopAsyncIteration):
        while True:
            received.append(await sub.get(timeout=1))
    assert len(received) == 2 and hub.subscribers == 0


# -- SSE over HTTP ------------------------------------------------------------------------


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    timeout = httpx.Timeout(10.0, read=5.0)  # a missing event fails fast instead of hanging
    with httpx.Client(base_url=live_server.base_url, timeout=timeout) as c:
        yield c


def next_alert(stream: Iterator[Event]) -> Event:
    for ev in stream:
        if ev.event == "alert":
            return ev
    raise AssertionError("stream ended")


def test_a_new_alert_reaches_the_clinicians_stream_but_not_other_teams(
    world: World, http: httpx.Client
) -> None:
    nurse, nurse_b = world.auth("nurse"), world.auth("nurse-b")
    with (
        http.stream("GET", "/api/v1/alerts/stream", headers=nurse) as r1,
        http.stream("GET", "/api/v1/alerts/stream", headers=nurse_b) as r3,
    ):
        assert r1.status_code == 200
        assert r1.headers["content-type"].startswith("text/event-stream")
        s1, s3 = events(r1), events(r3)
        world.bus.publish(make_alert("P3", "bradycardia", 1))
        world.bus.publish(make_alert("P1", "hypotension", 1, severity="high"))
        got = next_alert(s1).json()
        assert (got["patient_id"], got["kind"], got["status"]) == ("P1", "hypotension", "open")
        assert next_alert(s3).json()["patient_id"] == "P3"  # P1's alert never reached nurse-b


def test_an_acknowledgement_is_pushed_with_the_actor_from_the_token(
    world: World, http: httpx.Client
) -> None:
    alert_id = world.alerts["P1"][0].alert_id
    with http.stream("GET", "/api/v1/alerts/stream", headers=world.auth("patient1")) as r:
        stream = events(r)
        ack = http.post(f"/api/v1/alerts/{alert_id}/ack", headers=world.auth("nurse"))
        assert ack.status_code == 200
        pushed = next_alert(stream).json()
    assert pushed["alert_id"] == alert_id
    assert (pushed["status"], pushed["acknowledged_by"]) == ("acknowledged", "nurse")


def first_event(world: World, http: httpx.Client, headers: dict[str, str]) -> Event:
    """Connect, receive one alert event, disconnect."""
    with http.stream("GET", "/api/v1/alerts/stream", headers=headers) as r:
        stream = events(r)
        world.bus.publish(make_alert("P1", "first", 1))
        return next_alert(stream)


def test_reconnecting_with_last_event_id_delivers_what_was_missed(
    world: World, http: httpx.Client
) -> None:
    headers = world.auth("nurse")
    first = first_event(world, http, headers)
    assert first.id
    world.bus.publish(make_alert("P1", "second", 1))  # while disconnected
    world.bus.publish(make_alert("P1", "third", 1))
    resumed = {**headers, "Last-Event-ID": first.id}
    with http.stream("GET", "/api/v1/alerts/stream", headers=resumed) as r:
        stream = events(r)
        kinds = [next_alert(stream).json()["kind"] for _ in range(2)]
    assert kinds == ["second", "third"]


def test_an_unknown_last_event_id_gets_a_reset_event(world: World, http: httpx.Client) -> None:
    headers = {**world.auth("nurse"), "Last-Event-ID": "deadbeef-12"}
    with http.stream("GET", "/api/v1/alerts/stream", headers=headers) as r:
        first = next(ev for ev in events(r))
    assert first.event == "reset"


def test_a_last_event_id_with_other_digits_gets_a_reset_event(
    world: World, http: httpx.Client
) -> None:
    headers = world.auth("nurse")
    first_id = first_event(world, http, headers).id
    assert first_id is not None
    epoch = first_id.rpartition("-")[0]
    superscript_two = [(k.encode(), v.encode()) for k, v in headers.items()]
    superscript_two.append((b"Last-Event-ID", f"{epoch}-".encode() + b"\xb2"))  # latin-1
    with http.stream("GET", "/api/v1/alerts/stream", headers=superscript_two) as r:
        assert next(ev for ev in events(r)).event == "reset"


def test_the_stream_can_be_narrowed_to_one_visible_patient(
    world: World, http: httpx.Client
) -> None:
    with http.stream(
        "GET", "/api/v1/alerts/stream", params={"patient_id": "P2"}, headers=world.auth("nurse")
    ) as r:
        stream = events(r)
        world.bus.publish(make_alert("P1", "not-this-one", 1))
        world.bus.publish(make_alert("P2", "this-one", 1))
        assert next_alert(stream).json()["kind"] == "this-one"


def test_the_stream_ends_when_its_token_expires(world: World, http: httpx.Client) -> None:
    # A stolen access token lives 15 minutes, and so does a stream opened with it: what is
    # published after it expired is not sent, the stream ends, and the client reconnects.
    nurse = world.auth("nurse")
    with http.stream("GET", "/api/v1/alerts/stream", headers=nurse) as r:
        stream = events(r)
        world.bus.publish(make_alert("P1", "before", 1))
        assert next_alert(stream).json()["kind"] == "before"
        world.now[0] += 16 * 60  # past the access token's 15 minutes
        world.bus.publish(make_alert("P1", "after", 1))
        assert [ev.event for ev in stream if ev.event == "alert"] == []
    assert http.get("/api/v1/alerts/stream", headers=nurse).status_code == 401  # same token


def test_the_stream_ends_when_its_login_is_revoked(
    world: World, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Logout or a replayed refresh token revokes the login: a stream opened with one of its
    # access tokens ends at the next visibility check instead of at the token's expiry.
    monkeypatch.setattr(alerts_routes, "VISIBILITY_REFRESH_S", 0.2)
    pair = http.post("/api/v1/auth/token", data={"username": "nurse", "password": PASSWORD})
    nurse = {"Authorization": f"Bearer {pair.json()['access_token']}"}
    with http.stream("GET", "/api/v1/alerts/stream", headers=nurse) as r:
        stream = events(r)
        world.bus.publish(make_alert("P1", "before", 1))
        assert next_alert(stream).json()["kind"] == "before"
        revoked = http.post("/api/v1/auth/revoke", data={"token": pair.json()["refresh_token"]})
        assert revoked.status_code == 200
        # Ends by itself (the read timeout is 5 s): nothing more, the clock never moved.
        assert [ev.event for ev in stream if ev.event == "alert"] == []
    assert http.get("/api/v1/alerts/stream", headers=nurse).status_code == 401

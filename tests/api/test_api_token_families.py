"""Refresh-token rotation with reuse detection (RFC 9700 4.14.2), logout, and their store.

Each refresh token works once; a spent one presented again revokes its whole login (token
family), including the pair that replaced it. Logout (``POST /auth/revoke``) ends a login the
same way. The state lives in the registry database, so it survives a restart and is shared by
every API process over that database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from api.accounts.schema import TokenFamilyRow
from api.accounts.token_families import Rotation, TokenFamilies
from api.main import create_app
from api.security import issue_token
from api.settings import ApiSettings
from ingest.registry import Registry
from tests.api.conftest import TestClient
from tests.api.world import PASSWORD, World, build_world

TOKEN = "/api/v1/auth/token"
REVOKE = "/api/v1/auth/revoke"
ME = "/api/v1/auth/me"
PROBLEM = "application/problem+json"


def login(client: TestClient, username: str = "nurse") -> dict[str, str]:
    r = client.post(TOKEN, data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    body: dict[str, str] = r.json()
    return body


def refresh(client: TestClient, refresh_token: str) -> httpx.Response:
    r: httpx.Response = client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": refresh_token}
    )
    return r


def bearer(pair: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def claims(token: str) -> dict[str, object]:
    out: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return out


def families(world: World) -> list[TokenFamilyRow]:
    with world.registry.session() as session:
        return list(session.scalars(select(TokenFamilyRow).order_by(TokenFamilyRow.created_at)))


def test_a_refresh_returns_a_new_pair_of_the_same_login_and_spends_the_old_token(
    world: World, client: TestClient
) -> None:
    first = login(client)
    r = refresh(client, first["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    old, new = claims(first["refresh_token"]), claims(second["refresh_token"])
    assert new["sid"] == old["sid"] == claims(second["access_token"])["sid"]
    assert new["jti"] != old["jti"] and new["exp"] == old["exp"], "same login, same end"
    assert client.get(ME, headers=bearer(second)).status_code == 200
    (row,) = families(world)
    assert row.current_jti == new["jti"] and row.revoked_at is None
    # The next refresh spends the new token in turn.
    assert refresh(client, second["refresh_token"]).status_code == 200


def test_replaying_a_spent_refresh_token_is_refused_and_revokes_the_whole_login(
    world: World, client: TestClient
) -> None:
    first = login(client)
    second = refresh(client, first["refresh_token"]).json()  # the legitimate client refreshes

    replay = refresh(client, first["refresh_token"])  # a stolen copy of the spent token
    assert replay.status_code == 401
    assert replay.headers["content-type"] == PROBLEM
    assert replay.headers["www-authenticate"].startswith("Bearer")
    body = replay.json()
    assert body["error"] == "invalid_grant" and body["status"] == 401
    assert body["detail"] == (
        "refresh token already used: the session is revoked for safety; sign in again"
    )
    assert body["instance"] == TOKEN

    # The pair the legitimate client got from the same login is revoked too: both sign in again.
    again = refresh(client, second["refresh_token"])
    assert again.status_code == 401 and again.json()["detail"] == "session ended: sign in again"
    me = client.get(ME, headers=bearer(second))
    assert me.status_code == 401 and me.json()["detail"] == "session ended: sign in again"
    (row,) = families(world)
    assert row.revoked_at is not None
    # A fresh login is a new family and works.
    assert client.get(ME, headers=bearer(login(client))).status_code == 200


def test_a_replay_revokes_only_that_login_not_the_users_other_sessions(
    world: World, client: TestClient
) -> None:
    phone, desk = login(client), login(client)
    refresh(client, phone["refresh_token"])
    assert refresh(client, phone["refresh_token"]).status_code == 401
    assert client.get(ME, headers=bearer(desk)).status_code == 200
    assert refresh(client, desk["refresh_token"]).status_code == 200


def test_logout_revokes_the_refresh_token_and_the_access_tokens_of_the_login(
    world: World, client: TestClient
) -> None:
    pair, other = login(client), login(client)
    r = client.post(REVOKE, data={"token": pair["refresh_token"]})
    assert r.status_code == 200 and r.content == b""
    assert r.headers["cache-control"] == "no-store"
    denied = refresh(client, pair["refresh_token"])
    assert denied.status_code == 401 and denied.json()["error"] == "invalid_grant"
    assert client.get(ME, headers=bearer(pair)).status_code == 401
    assert client.get(ME, headers=bearer(other)).status_code == 200, "other logins live on"
    # RFC 7009: revoking again, or revoking junk, is not an error.
    assert client.post(REVOKE, data={"token": pair["refresh_token"]}).status_code == 200
    assert client.post(REVOKE, data={"token": "not-a-token"}).status_code == 200


@pytest.mark.parametrize(
    ("kind", "hint"),
    [
        ("access_token", "access_token"),  # logout with the access token revokes its login too
        # RFC 7009 2.1: the hint only orders the search; a value the server does not know is
        # ignored
        ("refresh_token", "mac_token"),
    ],
)
def test_logout_by_either_token_whatever_its_hint_revokes_the_login(
    world: World, client: TestClient, kind: str, hint: str
) -> None:
    pair = login(client)
    r = client.post(REVOKE, data={"token": pair[kind], "token_type_hint": hint})
    assert r.status_code == 200
    assert refresh(client, pair["refresh_token"]).status_code == 401
    assert client.get(ME, headers=bearer(pair)).status_code == 401


def test_logout_refuses_an_overlong_token_type_hint(world: World, client: TestClient) -> None:
    too_long = client.post(REVOKE, data={"token": "x", "token_type_hint": "h" * 65})
    assert too_long.status_code == 422 and "token_type_hint" in too_long.text


def test_a_refresh_token_from_before_rotation_has_no_login_and_is_refused(
    world: World, client: TestClient
) -> None:
    legacy = issue_token(
        world.services.keys,
        subject="nurse",
        kind="user",
        token_type="refresh",  # noqa: S106 - a token kind
        ttl_s=3600,
        now=world.now[0],
    )
    r = refresh(client, legacy)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_the_store_keeps_token_ids_only_and_logs_no_user(
    world: World, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    first = login(client, "patient1")
    refresh(client, first["refresh_token"])
    with caplog.at_level(logging.INFO):
        refresh(client, first["refresh_token"])
    (row,) = families(world)
    stored = " ".join(str(getattr(row, c.key)) for c in TokenFamilyRow.__table__.columns)
    assert first["refresh_token"] not in stored and first["access_token"] not in stored
    assert row.family_id == claims(first["refresh_token"])["sid"]
    assert any("replayed" in m and row.family_id in m for m in caplog.messages)
    assert not any("patient1" in m or "P1" in m for m in caplog.messages)


def test_ended_logins_are_pruned_and_live_ones_kept(world: World, client: TestClient) -> None:
    old = login(client)
    revoked = login(client)
    client.post(REVOKE, data={"token": revoked["refresh_token"]})
    assert len(families(world)) == 2
    world.now[0] += world.services.settings.refresh_token_hours * 3600 + 1
    new = login(client)  # a login prunes the families whose sessions are over
    assert [r.family_id for r in families(world)] == [claims(new["refresh_token"])["sid"]]
    # A token of a pruned family had expired anyway.
    assert refresh(client, old["refresh_token"]).status_code == 400
    assert world.services.token_families.prune(now=world.now[0]) == 0, "the live one stays"


def _app_over(world: World, registry_url: str) -> FastAPI:
    """Another API process: its own app and registry connection over the same database."""
    return create_app(
        ApiSettings(_env_file=None, secret_key="test-secret-" + "x" * 32, environment="test"),
        registry=Registry(registry_url),
        alert_store=world.store,
        vitals_store=world.store,
        alert_bus=world.bus,
        config_publisher=world.publisher,
        probes={},
        device_sync=lambda: None,
        clock=lambda: world.now[0],
    )


@pytest.fixture
def file_world(tmp_path: Path) -> Iterator[tuple[World, str]]:
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    w = build_world(registry_url=url)
    yield w, url
    w.store.close()
    w.registry.close()


def test_a_spent_token_stays_spent_after_a_restart_and_in_every_process(
    file_world: tuple[World, str],
) -> None:
    world, url = file_world
    with TestClient(world.app) as client:
        first = login(client)
        second = refresh(client, first["refresh_token"]).json()
    restarted = _app_over(world, url)
    with TestClient(restarted) as client:
        assert refresh(client, first["refresh_token"]).status_code == 401
    # The replay seen by the restarted process revoked the login for the first one too.
    with TestClient(world.app) as client:
        assert refresh(client, second["refresh_token"]).status_code == 401
        assert client.get(ME, headers=bearer(second)).status_code == 401
    restarted.state.services.registry.close()


def test_two_simultaneous_uses_of_one_refresh_token_let_exactly_one_through(
    file_world: tuple[World, str],
) -> None:
    world, url = file_world
    start = world.now[0]
    sid = world.services.token_families.start(
        "nurse", first_jti="r0", expires_at=start + 3600, now=start
    )
    # Separate registries: separate connections, as separate API processes would have.
    registries = [Registry(url) for _ in range(4)]
    gate = threading.Barrier(len(registries))
    outcomes: list[Rotation] = []

    def use(i: int) -> None:
        store = TokenFamilies(registries[i].session)
        gate.wait()
        outcomes.append(store.rotate(sid, spent_jti="r0", next_jti=f"r{i + 1}", now=start))

    threads = [threading.Thread(target=use, args=(i,)) for i in range(len(registries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in registries:
        r.close()
    # One use wins; the others are replays (or meet the family a replay already revoked).
    assert outcomes.count("rotated") == 1 and "replayed" in outcomes, outcomes
    assert set(outcomes) <= {"rotated", "replayed", "revoked"}, outcomes
    assert not world.services.token_families.is_active(sid)


def test_no_token_of_a_login_outlives_its_session_end(world: World, client: TestClient) -> None:
    # A login ends refresh_token_hours after sign-in however it is refreshed: an access token
    # from a refresh just before the end must not work past it (nor until a prune by someone
    # else's login happens to cut it short).
    first = login(client)
    ends = float(claims(first["refresh_token"])["exp"])  # type: ignore[arg-type]
    world.now[0] = ends - 60.0
    r = refresh(client, first["refresh_token"])
    assert r.status_code == 200, r.text
    last = r.json()
    assert last["expires_in"] <= 60 and claims(last["access_token"])["exp"] <= ends
    assert client.get(ME, headers=bearer(last)).status_code == 200
    world.now[0] = ends + 1.0
    assert client.get(ME, headers=bearer(last)).status_code == 401

"""Refresh-token rotation with reuse detection (RFC 9700 4.14.2), logout, and their store.

Each refresh token works once; a spent one presented again revokes its whole login (token
family), including the pair that replaced it. The one exception is the reuse grace: the token
a refresh just spent, presented again within ``refresh_reuse_grace_seconds`` (two tabs, a
retry after a lost response), gets that refresh's pair again and the login lives on. Logout
(``POST /auth/revoke``) ends a login. The state lives in the registry database, so it survives
a restart and is shared by every API process over that database. Time only moves when a test
moves the app's clock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from api.accounts.schema import TokenFamilyRow
from api.accounts.token_families import Outcome, Rotation, Successor, TokenFamilies
from api.accounts.users import Accounts
from api.security import issue_token
from api.settings import ApiSettings
from ingest.registry import Registry
from tests.api.conftest import TestClient
from tests.api.world import PASSWORD, World, build_world, use_fast_password_hashing

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


def past_the_grace(world: World) -> None:
    """Move the clock to where a second use of the token just spent is a replay again."""
    world.now[0] += world.services.settings.refresh_reuse_grace_seconds


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


def test_replaying_a_spent_refresh_token_after_the_grace_is_refused_and_revokes_the_login(
    world: World, client: TestClient
) -> None:
    first = login(client)
    second = refresh(client, first["refresh_token"]).json()  # the legitimate client refreshes

    past_the_grace(world)
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
    past_the_grace(world)
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
        assert refresh(client, first["refresh_token"]).status_code == 200  # reused in grace
        past_the_grace(world)
        assert refresh(client, first["refresh_token"]).status_code == 401  # replayed
    (row,) = families(world)
    stored = " ".join(str(getattr(row, c.key)) for c in TokenFamilyRow.__table__.columns)
    assert first["refresh_token"] not in stored and first["access_token"] not in stored
    assert row.family_id == claims(first["refresh_token"])["sid"]
    assert any("reused" in m and row.family_id in m for m in caplog.messages)
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
    past_the_grace(world)
    restarted = world.replica(Registry(url))
    with TestClient(restarted) as client:
        assert refresh(client, first["refresh_token"]).status_code == 401
    # The replay seen by the restarted process revoked the login for the first one too.
    with TestClient(world.app) as client:
        assert refresh(client, second["refresh_token"]).status_code == 401
        assert client.get(ME, headers=bearer(second)).status_code == 401
    restarted.state.services.registry.close()


def _use_at_once(world: World, url: str, *, reuse_grace_s: float) -> tuple[str, list[Rotation]]:
    """Start a login, then present its first refresh token from four processes at once."""
    start = world.now[0]
    sid = world.services.token_families.start(
        "nurse", first_jti="r0", expires_at=start + 3600, now=start
    )
    # Separate registries: separate connections, as separate API processes would have.
    registries = [Registry(url) for _ in range(4)]
    gate = threading.Barrier(len(registries))
    answers: list[Rotation] = []

    def use(i: int) -> None:
        store = TokenFamilies(registries[i].session, reuse_grace_s=reuse_grace_s)
        gate.wait()
        answers.append(store.rotate(sid, spent_jti="r0", next_jti=f"r{i + 1}", now=start))

    threads = [threading.Thread(target=use, args=(i,)) for i in range(len(registries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in registries:
        r.close()
    return sid, answers


def test_without_grace_two_simultaneous_uses_of_one_refresh_token_let_exactly_one_through(
    file_world: tuple[World, str],
) -> None:
    world, url = file_world
    sid, answers = _use_at_once(world, url, reuse_grace_s=0)
    outcomes: list[Outcome] = [a.outcome for a in answers]
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


# -- the reuse grace: the store ------------------------------------------------------------

#: Not a whole second: the grace counts from the successor's ``iat``, a whole second.
T0 = 1_700_000_000.25


@pytest.fixture
def registry() -> Iterator[Registry]:
    use_fast_password_hashing()
    reg = Registry("sqlite://")
    Accounts(reg.session).add_user("nurse", PASSWORD, role="clinician")
    yield reg
    reg.close()


def started(registry: Registry, *, grace_s: float = 30) -> tuple[TokenFamilies, str]:
    """A store with the given grace and one login whose first refresh token is ``r1``."""
    store = TokenFamilies(registry.session, reuse_grace_s=grace_s)
    return store, store.start("nurse", first_jti="r1", expires_at=T0 + 3600, now=T0)


def family_row(registry: Registry, sid: str) -> TokenFamilyRow:
    with registry.session() as session:
        row = session.get(TokenFamilyRow, sid)
        assert row is not None
        return row


def test_within_the_grace_the_token_just_spent_gets_the_same_successor_and_nothing_rotates(
    registry: Registry,
) -> None:
    store, sid = started(registry)
    first = store.rotate(sid, spent_jti="r1", next_jti="r2", now=T0)
    assert first == Rotation("rotated", Successor("r2", int(T0)))
    again = store.rotate(sid, spent_jti="r1", next_jti="r3", now=T0 + 29)
    assert again == Rotation("reused", Successor("r2", int(T0))), "the same successor"
    row = family_row(registry, sid)
    assert (row.current_jti, row.previous_jti, row.rotated_at) == ("r2", "r1", int(T0))
    assert row.revoked_at is None and store.is_active(sid)
    # r3 was never made current: the chain is still r1 -> r2, and r2 rotates as usual.
    assert store.rotate(sid, spent_jti="r2", next_jti="r4", now=T0 + 60).outcome == "rotated"


def test_the_grace_counts_from_the_rotation_not_from_the_last_reuse(registry: Registry) -> None:
    store, sid = started(registry)
    store.rotate(sid, spent_jti="r1", next_jti="r2", now=T0)
    assert store.rotate(sid, spent_jti="r1", next_jti="r3", now=T0 + 20).outcome == "reused"
    late = store.rotate(sid, spent_jti="r1", next_jti="r4", now=int(T0) + 30)
    assert late.outcome == "replayed" and not store.is_active(sid)


@pytest.mark.parametrize("after_s", [30, 31, 3000])
def test_the_token_just_spent_is_a_replay_once_the_grace_is_over(
    registry: Registry, after_s: int
) -> None:
    store, sid = started(registry)
    store.rotate(sid, spent_jti="r1", next_jti="r2", now=T0)
    late = store.rotate(sid, spent_jti="r1", next_jti="r3", now=int(T0) + after_s)
    assert late == Rotation("replayed") and not store.is_active(sid)
    assert store.rotate(sid, spent_jti="r2", next_jti="r4", now=T0 + 3001).outcome == "revoked"


@pytest.mark.parametrize("spent", ["r1", "never-issued"])
def test_a_token_other_than_the_one_just_spent_is_a_replay_even_within_the_grace(
    registry: Registry, spent: str
) -> None:
    store, sid = started(registry)
    store.rotate(sid, spent_jti="r1", next_jti="r2", now=T0)
    store.rotate(sid, spent_jti="r2", next_jti="r3", now=T0 + 1)  # r1 is two rotations old
    assert store.rotate(sid, spent_jti=spent, next_jti="r4", now=T0 + 2).outcome == "replayed"
    assert not store.is_active(sid)


def test_without_grace_a_second_use_even_in_the_same_second_is_a_replay(
    registry: Registry,
) -> None:
    store, sid = started(registry, grace_s=0)
    store.rotate(sid, spent_jti="r1", next_jti="r2", now=T0)
    # Even from a process whose clock runs a second behind the one that rotated.
    assert store.rotate(sid, spent_jti="r1", next_jti="r3", now=T0 - 1).outcome == "replayed"
    assert not store.is_active(sid)


def test_a_revoked_login_refuses_the_token_just_spent_within_the_grace(
    registry: Registry,
) -> None:
    store, sid = started(registry)
    store.rotate(sid, spent_jti="r1", next_jti="r2", now=T0)
    assert store.revoke(sid, now=T0 + 1)
    for spent in ("r1", "r2"):
        assert store.rotate(sid, spent_jti=spent, next_jti="r3", now=T0 + 2).outcome == "revoked"


def test_a_negative_grace_is_refused(registry: Registry) -> None:
    with pytest.raises(ValueError, match="reuse_grace_s"):
        TokenFamilies(registry.session, reuse_grace_s=-1)


def test_with_grace_simultaneous_uses_of_one_refresh_token_all_get_the_one_successor(
    file_world: tuple[World, str],
) -> None:
    world, url = file_world
    sid, answers = _use_at_once(world, url, reuse_grace_s=30)
    outcomes = sorted(a.outcome for a in answers)
    assert outcomes == ["reused", "reused", "reused", "rotated"], answers
    assert len({a.successor for a in answers}) == 1, "one chain, one current token"
    (winner,) = {a.successor for a in answers}
    assert winner is not None and world.services.token_families.is_active(sid)
    assert family_row(world.registry, sid).current_jti == winner.jti


# -- the reuse grace: the token endpoint ---------------------------------------------------


def test_two_refreshes_with_one_token_within_the_grace_both_succeed_on_one_chain(
    world: World, client: TestClient
) -> None:
    first = login(client)
    tab_a = refresh(client, first["refresh_token"])
    world.now[0] += 5  # the second tab, or a retry after the answer was lost
    tab_b = refresh(client, first["refresh_token"])
    assert tab_a.status_code == tab_b.status_code == 200, tab_b.text
    assert tab_b.headers["cache-control"] == "no-store"
    a, b = tab_a.json(), tab_b.json()
    assert a["refresh_token"] == b["refresh_token"], "the same refresh token, to the byte"
    # Both access tokens work and expire together, so both tabs refresh again together.
    assert claims(a["access_token"])["exp"] == claims(b["access_token"])["exp"]
    assert b["expires_in"] == a["expires_in"] - 5
    for pair in (a, b):
        assert client.get(ME, headers=bearer(pair)).status_code == 200
    (row,) = families(world)
    assert row.revoked_at is None and row.current_jti == claims(a["refresh_token"])["jti"]

    # A quarter of an hour on, both tabs' access tokens expire; they refresh seconds apart.
    world.now[0] += 900
    next_a = refresh(client, a["refresh_token"])
    world.now[0] += 3
    next_b = refresh(client, b["refresh_token"])
    assert next_a.status_code == next_b.status_code == 200, next_b.text
    assert next_a.json()["refresh_token"] == next_b.json()["refresh_token"]
    assert next_a.json()["refresh_token"] != a["refresh_token"], "the chain moved on, once"
    assert client.get(ME, headers=bearer(next_b.json())).status_code == 200


def test_a_token_older_than_the_one_just_spent_is_a_replay_within_the_grace(
    world: World, client: TestClient
) -> None:
    first = login(client)
    second = refresh(client, first["refresh_token"]).json()
    world.now[0] += 1
    third = refresh(client, second["refresh_token"]).json()
    world.now[0] += 1
    replay = refresh(client, first["refresh_token"])
    assert replay.status_code == 401
    assert replay.json()["detail"].startswith("refresh token already used")
    (row,) = families(world)
    assert row.revoked_at is not None
    assert client.get(ME, headers=bearer(third)).status_code == 401


def test_after_logout_the_token_just_spent_is_refused_within_the_grace(
    world: World, client: TestClient
) -> None:
    first = login(client)
    second = refresh(client, first["refresh_token"]).json()
    assert client.post(REVOKE, data={"token": second["refresh_token"]}).status_code == 200
    r = refresh(client, first["refresh_token"])
    assert r.status_code == 401 and r.json()["detail"] == "session ended: sign in again"


def test_with_grace_zero_a_second_use_at_once_revokes_the_login_as_before(world: World) -> None:
    strict = world.replica(refresh_reuse_grace_seconds=0)
    with TestClient(strict) as client:
        first = login(client)
        second = refresh(client, first["refresh_token"])
        assert second.status_code == 200
        replay = refresh(client, first["refresh_token"])
        assert replay.status_code == 401
        assert replay.json()["detail"].startswith("refresh token already used")
        assert client.get(ME, headers=bearer(second.json())).status_code == 401
    (row,) = families(world)
    assert row.revoked_at is not None


def test_another_process_answers_a_reuse_within_the_grace_with_the_same_token(
    file_world: tuple[World, str],
) -> None:
    world, url = file_world
    with TestClient(world.app) as client:
        first = login(client)
        a = refresh(client, first["refresh_token"]).json()
    world.now[0] += 3
    other = world.replica(Registry(url))
    with TestClient(other) as client:
        b = refresh(client, first["refresh_token"])
        assert b.status_code == 200, b.text
        assert b.json()["refresh_token"] == a["refresh_token"]
    other.state.services.registry.close()


def test_the_grace_is_read_from_the_environment_and_bounded(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert world.services.token_families.reuse_grace_s == 30, "the default"
    monkeypatch.setenv("VIGIL_REFRESH_REUSE_GRACE_SECONDS", "0")
    assert world.replica().state.services.token_families.reuse_grace_s == 0
    monkeypatch.setenv("VIGIL_REFRESH_REUSE_GRACE_SECONDS", "60")
    assert ApiSettings(_env_file=None).refresh_reuse_grace_seconds == 60
    for bad in ("-1", "61"):
        monkeypatch.setenv("VIGIL_REFRESH_REUSE_GRACE_SECONDS", bad)
        with pytest.raises(ValidationError, match="refresh_reuse_grace_seconds"):
            ApiSettings(_env_file=None)

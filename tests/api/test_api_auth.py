"""Authentication: the token endpoint's three grants, token lifetimes, revocation by account."""

from __future__ import annotations

import base64

import jwt

from tests.api.conftest import TestClient
from tests.api.world import PASSWORD, World

TOKEN = "/api/v1/auth/token"


def login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, object]:
    r = client.post(
        TOKEN, data={"grant_type": "password", "username": username, "password": password}
    )
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_password_login_returns_a_short_lived_bearer_token_and_a_refresh_token(
    world: World, client: TestClient
) -> None:
    body = login(client, "nurse")
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    claims = jwt.decode(str(body["access_token"]), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 900 and claims["sub"] == "nurse"
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["role"] == "clinician" and me.json()["teams"] == ["ward-a"]
    assert "alerts:write" in me.json()["scopes"]
    assert (
        client.post(TOKEN, data={"username": "nurse", "password": PASSWORD}).headers[
            "cache-control"
        ]
        == "no-store"
    )


def test_wrong_password_and_unknown_user_get_the_same_401_problem(client: TestClient) -> None:
    bad = client.post(TOKEN, data={"username": "nurse", "password": "not it at all"})
    unknown = client.post(TOKEN, data={"username": "nobody", "password": "not it at all"})
    for r in (bad, unknown):
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["error"] == "invalid_grant"
    assert bad.json()["detail"] == unknown.json()["detail"]


def test_a_refresh_token_buys_a_new_pair_but_an_access_token_is_not_one(client: TestClient) -> None:
    first = login(client, "nurse")
    r = client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert r.status_code == 200 and r.json()["access_token"] != first["access_token"]
    misuse = client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": first["access_token"]}
    )
    assert misuse.status_code == 400 and misuse.json()["error"] == "invalid_grant"


def test_an_expired_access_token_gets_401(world: World, client: TestClient) -> None:
    headers = world.auth("nurse")
    assert client.get("/api/v1/alerts", headers=headers).status_code == 200
    world.now[0] += 901
    r = client.get("/api/v1/alerts", headers=headers)
    assert r.status_code == 401 and r.json()["detail"] == "token expired"


def test_disabling_a_user_revokes_their_live_tokens_and_refresh(
    world: World, client: TestClient
) -> None:
    pair = login(client, "nurse")
    world.accounts.set_active("nurse", False)
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    assert client.get("/api/v1/alerts", headers=headers).status_code == 401
    r = client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    )
    assert r.status_code == 400
    assert client.post(TOKEN, data={"username": "nurse", "password": PASSWORD}).status_code == 401


def test_client_credentials_via_basic_auth_or_form_get_a_scoped_token_without_refresh(
    world: World, client: TestClient
) -> None:
    basic = base64.b64encode(f"telemed:{world.app_secret}".encode()).decode()
    r = client.post(
        TOKEN,
        data={"grant_type": "client_credentials", "scope": "vitals:read"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "vitals:read" and r.json()["refresh_token"] is None
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert client.get("/api/v1/patients/P1/vitals/latest", headers=headers).status_code == 200
    assert client.get("/api/v1/alerts", headers=headers).status_code == 403
    form = client.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "client_id": "telemed",
            "client_secret": world.app_secret,
        },
    )
    assert form.status_code == 200 and "alerts:read" in form.json()["scope"].split()


def test_client_credentials_refuse_a_bad_secret_and_scopes_beyond_the_grant(
    world: World, client: TestClient
) -> None:
    bad = client.post(
        TOKEN,
        data={"grant_type": "client_credentials", "client_id": "telemed", "client_secret": "x"},
    )
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    greedy = client.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "client_id": "telemed",
            "client_secret": world.app_secret,
            "scope": "alerts:read admin",
        },
    )
    assert greedy.status_code == 400 and greedy.json()["error"] == "invalid_scope"


def test_passwords_and_client_secrets_are_stored_as_argon2id_hashes(world: World) -> None:
    from sqlalchemy import select

    from api.accounts.schema import AppClientRow, UserRow

    with world.registry.session() as session:
        hashes = list(session.scalars(select(UserRow.password_hash)))
        hashes += list(session.scalars(select(AppClientRow.secret_hash)))
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert not any(PASSWORD in h or world.app_secret in h for h in hashes)


def test_refreshing_does_not_extend_the_session_past_its_login_lifetime(
    world: World, client: TestClient
) -> None:
    refresh = login(client, "nurse")["refresh_token"]
    hours = world.services.settings.refresh_token_hours
    for _ in range(3):  # a client that refreshes every few hours, as the dashboard does
        world.now[0] += hours * 3600 / 3 - 60
        r = client.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": refresh})
        assert r.status_code == 200, r.text
        refresh = r.json()["refresh_token"]
    world.now[0] += 181  # now past the login's refresh_token_hours
    r = client.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": refresh})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_a_token_from_a_replica_whose_clock_is_slightly_ahead_is_accepted(
    world: World, client: TestClient
) -> None:
    # replicas' clocks differ by a little: a token another process minted "in the future" of
    # this one's clock is its fresh token, not a forgery; far in the future it is refused
    from api.security import IAT_LEEWAY_S, issue_token

    def me(ahead_s: float) -> int:
        token = issue_token(
            world.services.keys,
            subject="nurse",
            kind="user",
            token_type="access",
            ttl_s=900,
            now=world.now[0] + ahead_s,
        )
        r = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        return r.status_code

    assert me(2.0) == 200 and me(IAT_LEEWAY_S) == 200
    assert me(IAT_LEEWAY_S + 2.0) == 401

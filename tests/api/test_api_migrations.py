"""An API started on a registry database an older Vigil made: the missing columns are added.

``create_all`` never alters a table that exists, so without the upgrade every refresh on such
a database fails in SQL (a 500). Old logins keep working across the upgrade, and API processes
starting together on one database do not trip over each other's ``ALTER TABLE``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, inspect, text
from sqlalchemy.exc import DBAPIError

from api.accounts.migrations import ADDED_COLUMNS, add_columns, missing_columns, upgrade_schema
from api.accounts.schema import TokenFamilyRow
from api.security import issue_token
from ingest.registry import Registry
from ingest.registry.schema import UTCDateTime
from tests.api.conftest import TestClient
from tests.api.world import build_world

TOKEN = "/api/v1/auth/token"
NOW = datetime.now(UTC).replace(microsecond=0).timestamp()

#: ``token_families`` as it first shipped, before the reuse grace.
OLD_TOKEN_FAMILIES = Table(
    "token_families",
    MetaData(),
    Column("family_id", String(64), primary_key=True),
    Column("username", String(64), nullable=False),
    Column("current_jti", String(64), nullable=False),
    Column("expires_at", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)


def make_old(engine: Engine) -> None:
    """Turn ``engine``'s token_families back into the old shape (with no rows)."""
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS token_families"))
    OLD_TOKEN_FAMILIES.create(engine)


def columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("token_families")}


def test_an_api_on_an_older_database_adds_the_columns_and_old_logins_still_refresh(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    old = Registry(url)
    make_old(old.engine)
    old.close()

    world = build_world(registry_url=url)  # the new API starts on the old database
    try:
        assert {"previous_jti", "rotated_at"} <= columns(world.registry.engine)
        # A login from before the upgrade: its row has no previous token nor rotation time.
        with world.registry.engine.begin() as conn:
            conn.execute(
                OLD_TOKEN_FAMILIES.insert().values(
                    family_id="old-login",
                    username="nurse",
                    current_jti="r1",
                    expires_at=int(NOW) + 3600,
                    created_at=datetime.fromtimestamp(NOW - 60, UTC),
                )
            )
        world.now[0] = NOW
        token = issue_token(
            world.services.keys,
            subject="nurse",
            kind="user",
            token_type="refresh",  # noqa: S106 - a token kind
            ttl_s=3600,
            now=NOW - 60,
            token_id="r1",
            session_id="old-login",
        )
        form = {"grant_type": "refresh_token", "refresh_token": token}
        with TestClient(world.app) as client:
            first = client.post(TOKEN, data=form)
            assert first.status_code == 200, first.text
            again = client.post(TOKEN, data=form)  # and the grace works on it too
            assert again.status_code == 200, again.text
            assert again.json()["refresh_token"] == first.json()["refresh_token"]
        with world.registry.session() as session:
            row = session.get(TokenFamilyRow, "old-login")
            assert row is not None and row.previous_jti == "r1" and row.revoked_at is None
    finally:
        world.store.close()
        world.registry.close()


def test_the_upgrade_adds_each_missing_column_once(tmp_path: Path) -> None:
    reg = Registry(f"sqlite:///{tmp_path / 'registry.sqlite3'}")
    make_old(reg.engine)
    assert upgrade_schema(reg.engine) == [f"{t}.{c}" for t, c in ADDED_COLUMNS]
    assert upgrade_schema(reg.engine) == []
    assert missing_columns(reg.engine) == []
    reg.close()


def test_a_column_another_process_added_meanwhile_is_skipped(tmp_path: Path) -> None:
    reg = Registry(f"sqlite:///{tmp_path / 'registry.sqlite3'}")
    make_old(reg.engine)
    seen_missing = missing_columns(reg.engine)  # this process looks ...
    assert len(seen_missing) == 2
    upgrade_schema(reg.engine)  # ... another one adds them first ...
    assert add_columns(reg.engine, seen_missing) == []  # ... and this one carries on
    reg.close()


def test_a_table_the_database_lacks_is_left_to_create_all_and_other_failures_raise(
    tmp_path: Path,
) -> None:
    reg = Registry(f"sqlite:///{tmp_path / 'registry.sqlite3'}")
    with reg.engine.begin() as conn:
        conn.execute(text("DROP TABLE token_families"))
    assert missing_columns(reg.engine) == []
    column = TokenFamilyRow.__table__.c.rotated_at
    with pytest.raises(DBAPIError):
        add_columns(reg.engine, [column])
    reg.close()

"""The registry: patients, devices, enrolments over time, revocation, credentials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import String, inspect
from sqlalchemy.orm import Mapped, mapped_column

from ingest.exceptions import RegistryError
from ingest.registry import Registry, RegistryBase, verify_password

T0 = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture
def registry(tmp_path):
    reg = Registry(f"sqlite:///{tmp_path / 'sub' / 'registry.sqlite3'}")
    reg.add_patient("p1", name="Ada")
    reg.add_patient("p2")
    yield reg
    reg.close()


def test_device_password_is_shown_once_and_only_its_hash_is_stored(registry):
    creds = registry.add_device("w1", "p1", since=T0)
    stored = registry.broker_credentials()["w1"]
    assert creds.password not in stored
    assert stored.startswith("$7$")
    assert verify_password(creds.password, stored)
    assert "***" in repr(creds) and creds.password not in repr(creds)


def test_samples_are_attributed_to_the_patient_enrolled_at_their_time(registry):
    registry.add_device("w1", "p1", since=T0)
    registry.enroll("w1", "p2", since=T0 + timedelta(days=2))
    record = registry.device_record("w1")
    assert record is not None
    assert record.patient_at((T0 + timedelta(days=1)).timestamp()) == "p1"
    assert record.patient_at((T0 + timedelta(days=3)).timestamp()) == "p2"
    assert record.patient_at((T0 - timedelta(seconds=1)).timestamp()) is None
    assert [d.patient_id for d in registry.list_devices()] == ["p2"]


def test_revoked_device_loses_broker_access_and_its_open_enrolment(registry):
    registry.add_device("w1", "p1", since=T0)
    registry.add_device("w2", "p2", since=T0)
    registry.revoke_device("w1", at=T0 + timedelta(days=1))
    assert set(registry.broker_credentials()) == {"w2"}
    record = registry.device_record("w1")
    assert record is not None and record.revoked
    assert record.patient_at((T0 + timedelta(hours=12)).timestamp()) == "p1"
    assert record.patient_at((T0 + timedelta(days=2)).timestamp()) is None
    with pytest.raises(RegistryError):
        registry.enroll("w1", "p2")


def test_rotating_credentials_invalidates_the_old_password(registry):
    old = registry.add_device("w1", "p1", since=T0)
    new = registry.rotate_credentials("w1")
    stored = registry.broker_credentials()["w1"]
    assert verify_password(new.password, stored) and not verify_password(old.password, stored)


@pytest.mark.parametrize(
    "action",
    [
        lambda r: r.add_patient("p1"),
        lambda r: r.add_patient("bad/id"),
        lambda r: r.add_device("w9", "nobody"),
        lambda r: r.add_device("vigil-gateway", "p1"),
        lambda r: r.add_device("a+b", "p1"),
        lambda r: r.revoke_device("missing"),
        lambda r: r.enroll("missing", "p1"),
        lambda r: r.add_device("w1", "p1", since=datetime(2024, 1, 1)),  # noqa: DTZ001 - naive
    ],
    ids=[
        "duplicate-patient",
        "slash-in-id",
        "unknown-patient",
        "reserved-prefix",
        "wildcard-in-id",
        "revoke-unknown",
        "enroll-unknown",
        "naive-time",
    ],
)
def test_invalid_registry_operations_raise_registry_error(registry, action):
    with pytest.raises(RegistryError):
        action(registry)


def test_duplicate_device_is_refused(registry):
    registry.add_device("w1", "p1")
    with pytest.raises(RegistryError, match="already exists"):
        registry.add_device("w1", "p2")


def test_enrolment_cannot_start_before_an_existing_one(registry):
    registry.add_device("w1", "p1", since=T0)
    with pytest.raises(RegistryError):
        registry.enroll("w1", "p2", since=T0 - timedelta(days=1))


def test_other_modules_extend_the_same_schema(tmp_path):
    metadata = RegistryBase.metadata
    name = "test_ingest_registry_extension"
    if name not in metadata.tables:

        class Extension(RegistryBase):
            __tablename__ = name
            username: Mapped[str] = mapped_column(String(64), primary_key=True)

    reg = Registry(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    try:
        assert name in inspect(reg.engine).get_table_names()
    finally:
        reg.close()
        metadata.remove(metadata.tables[name])


def test_bulk_snapshot_matches_single_lookups(registry):
    registry.add_device("w1", "p1", since=T0)
    registry.add_device("w2", "p2", since=T0)
    registry.revoke_device("w2")
    snapshot = registry.device_records()
    assert snapshot == {d: registry.device_record(d) for d in ("w1", "w2")}
    assert registry.device_record("nope") is None

"""The demo's seeded people and devices: who can log in and whom they see."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.accounts.users import Accounts
from ingest.registry import Registry, verify_password
from vigil.demo.accounts import DEMO_LOGINS, DemoEnrolment, seed

SINCE = datetime(2025, 1, 1, tzinfo=UTC)
Seeded = tuple[Registry, Accounts, DemoEnrolment]


@pytest.fixture
def seeded() -> Seeded:
    registry = Registry("sqlite://")
    enrolment = seed(registry, patients=5, enrolled_since=SINCE)
    return registry, Accounts(registry.session), enrolment


def test_every_demo_login_authenticates_with_its_printed_password(seeded: Seeded) -> None:
    _, accounts, _ = seeded
    for username, password, role in DEMO_LOGINS:
        user = accounts.authenticate_user(username, password)
        assert user is not None and user.role == role
        assert accounts.authenticate_user(username, password + "x") is None


def test_nurse_sees_every_demo_patient_and_patient1_only_p0001(seeded: Seeded) -> None:
    _, accounts, enrolment = seeded
    assert enrolment.patient_ids == ["P0001", "P0002", "P0003", "P0004", "P0005"]
    nurse = accounts.principal("user", "nurse")
    patient = accounts.principal("user", "patient1")
    admin = accounts.principal("user", "admin")
    assert nurse is not None and nurse.visible_patients == frozenset(enrolment.patient_ids)
    assert patient is not None and patient.visible_patients == frozenset({"P0001"})
    assert admin is not None and admin.role == "admin"


def test_each_device_is_enrolled_to_its_patient_from_the_given_time_with_a_working_secret(
    seeded: Seeded,
) -> None:
    registry, _, enrolment = seeded
    hashes = registry.broker_credentials()
    for i, (device_id, secret) in enumerate(enrolment.device_passwords.items()):
        record = registry.device_record(device_id)
        assert record is not None
        assert record.patient_at(SINCE.timestamp() + 1) == f"P{i + 1:04d}"
        assert record.patient_at(SINCE.timestamp() - 1) is None
        assert verify_password(secret, hashes[device_id])

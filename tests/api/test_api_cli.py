"""``vigil users``, ``vigil teams``, ``vigil clients`` and ``vigil api --help``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.accounts.users import Accounts
from api.settings import get_api_settings
from ingest.registry import Registry
from ingest.settings import get_ingest_settings
from tests.api.world import use_fast_password_hashing
from vigil.cli import app

runner = CliRunner()


@pytest.fixture
def registry_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    monkeypatch.setenv("VIGIL_REGISTRY_URL", url)
    monkeypatch.delenv("VIGIL_MQTT_PASSWORD_FILE", raising=False)
    use_fast_password_hashing()
    for cached in (get_api_settings, get_ingest_settings):
        cached.cache_clear()
    yield url
    for cached in (get_api_settings, get_ingest_settings):
        cached.cache_clear()


def vigil(*args: str, stdin: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def test_an_operator_sets_up_a_ward_from_the_command_line(registry_url: str) -> None:
    vigil("patients", "add", "P1")
    vigil("teams", "add", "ward-a")
    assert "assigned" in vigil("teams", "assign", "ward-a", "P1")
    out = vigil(
        "users",
        "add",
        "nurse",
        "--role",
        "clinician",
        "--team",
        "ward-a",
        "--password-stdin",
        stdin="a good passphrase\n",
    )
    assert "user nurse added" in out
    vigil(
        "users",
        "add",
        "patient1",
        "--role",
        "patient",
        "--patient",
        "P1",
        "--password-stdin",
        stdin="another passphrase\n",
    )
    accounts = Accounts(Registry(registry_url).session)
    nurse = accounts.authenticate_user("nurse", "a good passphrase")
    assert nurse is not None and nurse.teams == ("ward-a",)
    principal = accounts.principal("user", "nurse")
    assert principal is not None and principal.visible_patients == frozenset({"P1"})
    patient = accounts.principal("user", "patient1")
    assert patient is not None and patient.patient_id == "P1"


def test_app_clients_get_a_secret_printed_once(registry_url: str) -> None:
    vigil("patients", "add", "P1")
    out = vigil("clients", "add", "telemed", "--scope", "alerts:read", "--patient", "P1")
    secret = next(
        line.split("=", 1)[1] for line in out.splitlines() if line.startswith("client_secret=")
    )
    client = Accounts(Registry(registry_url).session).authenticate_client("telemed", secret)
    assert client is not None and client.scopes == frozenset({"alerts:read"})


@pytest.mark.parametrize(
    "args",
    [
        ("users", "add", "x", "--role", "wizard", "--password-stdin"),
        ("users", "add", "x", "--role", "patient", "--password-stdin"),  # no --patient
        ("teams", "assign", "nowhere", "P1"),
    ],
)
def test_mistakes_exit_non_zero_with_a_message(registry_url: str, args: tuple[str, ...]) -> None:
    result = runner.invoke(app, list(args), input="a good passphrase\n")
    assert result.exit_code == 1 and "error:" in result.output


def test_vigil_api_takes_host_and_port() -> None:
    out = vigil("api", "--help")
    assert "--host" in out and "--port" in out

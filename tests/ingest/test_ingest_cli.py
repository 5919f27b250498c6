"""Admin commands: patients, devices (credentials shown once, broker file kept in sync)."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from ingest import cli
from ingest.registry import verify_password
from ingest.settings import get_ingest_settings


@pytest.fixture
def app(tmp_path, monkeypatch):
    passwd = tmp_path / "passwd"
    passwd.write_text("vigil-gateway:$7$101$abc$def\n")
    monkeypatch.setenv("VIGIL_REGISTRY_URL", f"sqlite:///{tmp_path / 'registry.sqlite3'}")
    monkeypatch.setenv("VIGIL_MQTT_PASSWORD_FILE", str(passwd))
    monkeypatch.setenv("VIGIL_MQTT_RELOAD_COMMAND", f"touch {tmp_path / 'reloaded'}")
    get_ingest_settings.cache_clear()
    application = typer.Typer()
    cli.register(application)
    yield application, passwd
    get_ingest_settings.cache_clear()


def test_device_enrolment_prints_credentials_once_and_updates_the_broker(app, tmp_path):
    application, passwd = app
    runner = CliRunner()
    assert runner.invoke(application, ["patients", "add", "p1", "--name", "Ada"]).exit_code == 0
    result = runner.invoke(application, ["devices", "add", "w1", "--patient", "p1", "--json"])
    assert result.exit_code == 0, result.output
    creds = json.loads(result.output)
    assert creds["mqtt_username"] == "w1" and creds["topic"] == "vigil/v1/devices/w1/vitals"
    line = next(x for x in passwd.read_text().splitlines() if x.startswith("w1:"))
    assert verify_password(creds["mqtt_password"], line.split(":", 1)[1])
    assert (tmp_path / "reloaded").exists()
    listing = runner.invoke(application, ["devices", "list"]).output
    assert "w1\tp1\tactive" in listing and creds["mqtt_password"] not in listing

    assert runner.invoke(application, ["devices", "revoke", "w1"]).exit_code == 0
    assert not any(x.startswith("w1:") for x in passwd.read_text().splitlines())
    assert passwd.read_text().startswith("vigil-gateway:")


def test_enrolling_a_device_for_an_unknown_patient_fails_cleanly(app):
    application, _ = app
    result = CliRunner().invoke(application, ["devices", "add", "w1", "--patient", "nobody"])
    assert result.exit_code == 1
    assert "unknown patient" in result.output

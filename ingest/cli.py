"""Ingest commands: ``vigil patients``, ``vigil devices``, ``vigil broker``, ``vigil topics``,
``vigil gateway``.

Admin commands change the registry (:mod:`ingest.registry`) and then push the active device
credentials to Mosquitto (:mod:`ingest.broker_auth`) when ``VIGIL_MQTT_PASSWORD_FILE`` is
set, so a new device can connect and a revoked one cannot, without a manual step.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from ingest.registry import Registry

__all__ = ["register"]

logger = logging.getLogger(__name__)

patients_app = typer.Typer(help="Register and list patients.", no_args_is_help=True)
devices_app = typer.Typer(help="Enrol, list and revoke devices.", no_args_is_help=True)
broker_app = typer.Typer(help="Broker authentication from the registry.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)


def _registry() -> Registry:
    from ingest.registry import Registry  # imported lazily: SQLAlchemy is slow to import
    from ingest.settings import get_ingest_settings

    return Registry(get_ingest_settings().registry_database_url)


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=1)


def _parse_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not ISO-8601: {text!r}") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _sync_broker(registry: Registry) -> None:
    from ingest.broker_auth import BrokerAuthSync
    from ingest.settings import get_ingest_settings

    sync = BrokerAuthSync.from_settings(get_ingest_settings())
    if sync is None:
        typer.echo("note: VIGIL_MQTT_PASSWORD_FILE not set; broker not updated", err=True)
        return
    sync.sync(registry.broker_credentials())


@patients_app.command("add")
def patients_add(
    patient_id: str = typer.Argument(..., help="Pseudonymous patient id."),
    name: str | None = typer.Option(None, "--name", help="Display name."),
) -> None:
    """Register a patient."""
    from ingest.exceptions import RegistryError

    try:
        _registry().add_patient(patient_id, name=name)
    except RegistryError as exc:
        raise _fail(exc) from exc
    typer.echo(f"patient {patient_id} added")


@patients_app.command("list")
def patients_list() -> None:
    """List patients."""
    for p in _registry().list_patients():
        typer.echo(f"{p.patient_id}\t{p.name or ''}\t{p.created_at.isoformat()}")


@devices_app.command("add")
def devices_add(
    device_id: str = typer.Argument(..., help="Device id (also its MQTT username)."),
    patient: str = typer.Option(..., "--patient", help="Patient the device is enrolled to."),
    since: str | None = typer.Option(None, "--since", help="Enrolment start, ISO-8601 (now)."),
    as_json: bool = typer.Option(False, "--json", help="Print the credentials as JSON."),
) -> None:
    """Register a device for a patient and print its MQTT credentials (shown only once)."""
    from ingest.exceptions import RegistryError
    from ingest.payload import device_topic

    registry = _registry()
    try:
        creds = registry.add_device(device_id, patient, since=_parse_time(since))
    except RegistryError as exc:
        raise _fail(exc) from exc
    _sync_broker(registry)
    topic = device_topic(device_id)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "device_id": device_id,
                    "patient_id": patient,
                    "mqtt_username": creds.username,
                    "mqtt_password": creds.password,
                    "topic": topic,
                }
            )
        )
    else:
        typer.echo(f"device {device_id} enrolled to patient {patient}")
        typer.echo(f"MQTT username: {creds.username}")
        typer.echo(f"MQTT password: {creds.password}   (shown once; store it on the device)")
        typer.echo(f"publish to:    {topic}")


@devices_app.command("enroll")
def devices_enroll(
    device_id: str = typer.Argument(...),
    patient: str = typer.Option(..., "--patient", help="The device's new patient."),
    since: str | None = typer.Option(None, "--since", help="Hand-over time, ISO-8601 (now)."),
) -> None:
    """Hand a device to another patient from ``--since`` on."""
    from ingest.exceptions import RegistryError

    try:
        _registry().enroll(device_id, patient, since=_parse_time(since))
    except RegistryError as exc:
        raise _fail(exc) from exc
    typer.echo(f"device {device_id} enrolled to patient {patient}")


@devices_app.command("revoke")
def devices_revoke(device_id: str = typer.Argument(...)) -> None:
    """Revoke a device: its credentials stop working and its enrolment ends now."""
    from ingest.exceptions import RegistryError

    registry = _registry()
    try:
        registry.revoke_device(device_id)
    except RegistryError as exc:
        raise _fail(exc) from exc
    _sync_broker(registry)
    typer.echo(f"device {device_id} revoked")


@devices_app.command("list")
def devices_list() -> None:
    """List devices with their current patient."""
    for d in _registry().list_devices():
        state = f"revoked {d.revoked_at.isoformat()}" if d.revoked_at else "active"
        typer.echo(f"{d.device_id}\t{d.patient_id or '-'}\t{state}")


@broker_app.command("sync")
def broker_sync() -> None:
    """Rewrite the broker's password file from the registry and reload the broker."""
    _sync_broker(_registry())
    typer.echo("broker credentials in sync with the registry")


@topics_app.command("create")
def topics_create(
    partitions: int | None = typer.Option(
        None, "--partitions", min=1, help="Partitions of vigil.vitals (VIGIL_VITALS_PARTITIONS)."
    ),
    replication: int = typer.Option(1, "--replication-factor", min=1),
) -> None:
    """Create Vigil's Kafka topics that do not exist yet (idempotent)."""
    from ingest.settings import get_ingest_settings
    from ingest.topics import TopicNames, create_topics, topic_specs

    logging.getLogger("kafka").setLevel(logging.WARNING)
    settings = get_ingest_settings()
    specs = topic_specs(
        TopicNames(settings.topic_prefix),
        vitals_partitions=partitions or settings.vitals_partitions,
    )
    result = create_topics(settings.kafka_bootstrap, specs, replication_factor=replication)
    for name, state in result.items():
        typer.echo(f"{name}\t{state}")


def gateway() -> None:
    """Run the MQTT -> Kafka gateway until SIGTERM (drains in-flight messages first)."""
    from ingest.exceptions import IngestError
    from ingest.gateway import run_gateway
    from ingest.settings import get_ingest_settings

    try:
        code = run_gateway(get_ingest_settings())
    except IngestError as exc:
        raise _fail(exc) from exc
    raise typer.Exit(code=code)


def register(app: typer.Typer) -> None:
    """Add the ingest commands to the ``vigil`` command."""
    app.add_typer(patients_app, name="patients")
    app.add_typer(devices_app, name="devices")
    app.add_typer(broker_app, name="broker")
    app.add_typer(topics_app, name="topics")
    app.command("gateway")(gateway)

"""API commands: ``vigil api`` (serve), ``vigil users``, ``vigil teams``, ``vigil clients``.

Accounts live in the registry database (``VIGIL_REGISTRY_URL``), next to patients and
devices. Passwords are read from standard input (``--password-stdin``, for scripts) or
prompted for without echo; never taken from the command line, where ``ps`` and shell history
would keep them.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from api.accounts.users import Accounts

__all__ = ["register"]

logger = logging.getLogger(__name__)

users_app = typer.Typer(help="People who log in to the API and dashboard.", no_args_is_help=True)
teams_app = typer.Typer(help="Care teams and the patients they look after.", no_args_is_help=True)
clients_app = typer.Typer(help="App clients (OAuth2 client credentials).", no_args_is_help=True)


def _accounts() -> Accounts:
    # Imported lazily: SQLAlchemy and argon2 are slow to import for `vigil --help`.
    from api.accounts import schema  # noqa: F401 - registers the API's tables
    from api.accounts.users import Accounts
    from api.settings import get_api_settings
    from ingest.registry import Registry

    registry = Registry(get_api_settings().registry_database_url)
    return Accounts(registry.session)


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=1)


def serve(
    host: str | None = typer.Option(None, "--host", help="Interface (VIGIL_API_HOST, 127.0.0.1)."),
    port: int | None = typer.Option(None, "--port", help="Port (VIGIL_API_PORT, 8000)."),
) -> None:
    """Serve the API (uvicorn) with InfluxDB, Kafka and the registry from VIGIL_* settings."""
    import uvicorn

    from api.main import create_app
    from api.settings import get_api_settings

    settings = get_api_settings()
    app = create_app(settings)
    typer.echo(f"Vigil API on http://{host or settings.api_host}:{port or settings.api_port}")
    uvicorn.run(
        app,
        host=host or settings.api_host,
        port=port or settings.api_port,
        proxy_headers=False,
        # Live-stream clients never hang up by themselves; give them 5 s at shutdown.
        timeout_graceful_shutdown=5,
        log_level="info",
    )


@users_app.command("add")
def users_add(
    username: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(..., "--role", help="admin, clinician or patient."),
    patient: str | None = typer.Option(
        None, "--patient", help="The patient record (role patient)."
    ),
    team: Annotated[
        list[str] | None, typer.Option("--team", help="Care team to join (repeatable).")
    ] = None,
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
) -> None:
    """Create a user."""
    from api.exceptions import ApiError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = _accounts().add_user(
            username, password, role=role, patient_id=patient, teams=team or ()
        )
    except ApiError as exc:
        raise _fail(exc) from exc
    teams = ", ".join(user.teams) or "-"
    typer.echo(f"user {user.username} added (role {user.role}, teams {teams})")


@users_app.command("list")
def users_list() -> None:
    """List users."""
    for u in _accounts().list_users():
        state = "active" if u.active else "disabled"
        typer.echo(
            f"{u.username}\t{u.role}\t{u.patient_id or '-'}\t{','.join(u.teams) or '-'}\t{state}"
        )


@users_app.command("disable")
def users_disable(username: str = typer.Argument(..., help="Login name.")) -> None:
    """Disable a user: their tokens stop working at once."""
    from api.exceptions import ApiError

    try:
        _accounts().set_active(username, False)
    except ApiError as exc:
        raise _fail(exc) from exc
    typer.echo(f"user {username} disabled")


@teams_app.command("add")
def teams_add(team: str = typer.Argument(..., help="Team id, e.g. ward-a.")) -> None:
    """Create a care team."""
    from api.exceptions import ApiError

    try:
        _accounts().add_team(team)
    except ApiError as exc:
        raise _fail(exc) from exc
    typer.echo(f"team {team} added")


@teams_app.command("assign")
def teams_assign(
    team: str = typer.Argument(..., help="Team id."),
    patient_id: str = typer.Argument(..., help="Patient id."),
) -> None:
    """Put a patient in the care of a team."""
    from api.exceptions import ApiError

    try:
        _accounts().assign_patient(team, patient_id)
    except ApiError as exc:
        raise _fail(exc) from exc
    typer.echo(f"patient {patient_id} assigned to team {team}")


@teams_app.command("join")
def teams_join(
    team: str = typer.Argument(..., help="Team id."),
    username: str = typer.Argument(..., help="User to add."),
) -> None:
    """Make a user a member of a team."""
    from api.exceptions import ApiError

    try:
        _accounts().add_member(team, username)
    except ApiError as exc:
        raise _fail(exc) from exc
    typer.echo(f"user {username} joined team {team}")


@teams_app.command("list")
def teams_list() -> None:
    """List teams with members and patients."""
    for t in _accounts().list_teams():
        members, patients = ",".join(t.members) or "-", ",".join(t.patients) or "-"
        typer.echo(f"{t.team_id}\tmembers: {members}\tpatients: {patients}")


@clients_app.command("add")
def clients_add(
    client_id: Annotated[str, typer.Argument(help="Client id.")],
    scope: Annotated[list[str], typer.Option("--scope", help="Granted scope (repeatable).")],
    patient: Annotated[
        list[str] | None, typer.Option("--patient", help="Readable patient (repeatable).")
    ] = None,
    team: Annotated[
        list[str] | None, typer.Option("--team", help="Readable team's patients (repeatable).")
    ] = None,
) -> None:
    """Register an app client and print its secret (shown only once)."""
    from api.exceptions import ApiError

    try:
        client, secret = _accounts().add_client(
            client_id, scopes=scope, patients=patient or (), teams=team or ()
        )
    except ApiError as exc:
        raise _fail(exc) from exc
    typer.echo(f"client_id={client.client_id}")
    typer.echo(f"client_secret={secret}")
    typer.echo("The secret is shown only now: store it in the app's secret manager.", err=True)


def register(app: typer.Typer) -> None:
    """Add the API's commands to the ``vigil`` command line."""
    app.command("api")(serve)
    app.add_typer(users_app, name="users")
    app.add_typer(teams_app, name="teams")
    app.add_typer(clients_app, name="clients")

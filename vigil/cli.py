"""The ``vigil`` command line.

Each package contributes its commands through a ``register(app)`` function in its own
``cli`` module, so this file stays a table of contents. Heavy imports (Faust, Kafka, River)
happen inside the commands, keeping ``vigil --help`` fast.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

app = typer.Typer(
    name="vigil",
    help="Vigil: remote patient monitoring from wearables.",
    no_args_is_help=True,
    add_completion=False,
)

#: Modules that add commands; each defines ``register(app: typer.Typer) -> None``.
COMMAND_MODULES = (
    "ingest.cli",
    "stream.cli",
    "stream.worker_cli",
    "alerts.cli",
    "api.cli",
    "vigil.demo",
)


@app.callback()
def _main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that package has no commands yet
                continue
            raise
        module.register(app)


_register_all()

#: Client errors that mean "Kafka is not there", as kafka-python and aiokafka name them.
_KAFKA_UNREACHABLE = frozenset(
    {"KafkaConnectionError", "KafkaTimeoutError", "NoBrokersAvailable", "MetadataEmptyBrokerList"}
)


def unreachable(exc: BaseException) -> str | None:
    """A one-line explanation if ``exc`` says a service is unreachable, else ``None``.

    >>> class KafkaTimeoutError(Exception):
    ...     __module__ = "kafka.errors"
    >>> unreachable(KafkaTimeoutError("Unable to bootstrap from 127.0.0.1:1"))[:26]
    'cannot reach Kafka at 127.'
    >>> unreachable(ValueError("a bug")) is None
    True
    """
    kind = type(exc)
    if kind.__module__.split(".")[0] in ("kafka", "aiokafka") and kind.__name__ in (
        _KAFKA_UNREACHABLE
    ):
        from vigil.settings import get_settings

        bootstrap = get_settings().kafka_bootstrap
        detail = str(exc) if str(exc).startswith(kind.__name__) else f"{kind.__name__}: {exc}"
        return (
            f"cannot reach Kafka at {bootstrap} (VIGIL_KAFKA_BOOTSTRAP): {detail}. "
            "Is it running? `deploy/local/stack up` starts a local one."
        )
    return None


def misconfigured(exc: BaseException) -> str | None:
    """One line naming the ``VIGIL_*`` settings at fault if ``exc`` refused them, else ``None``.

    >>> from vigil.settings import Settings
    >>> try:
    ...     Settings(_env_file=None, vitals_partitions=0)
    ... except Exception as exc:
    ...     print(misconfigured(exc))
    invalid settings: VIGIL_VITALS_PARTITIONS: Input should be greater than or equal to 1
    >>> misconfigured(ValueError("a bug")) is None
    True
    """
    from pydantic import ValidationError

    from vigil.exceptions import ConfigurationError
    from vigil.settings import Settings

    if isinstance(exc, ConfigurationError):
        return f"invalid settings: {exc}"
    if not isinstance(exc, ValidationError):
        return None
    classes: list[type[Settings]] = [Settings]
    for cls in classes:
        classes.extend(cls.__subclasses__())
    if exc.title not in {cls.__name__ for cls in classes}:
        return None  # another model refused its input: a bug, shown with its traceback
    problems = "; ".join(
        f"VIGIL_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)
    )
    return f"invalid settings: {problems}"


def main() -> None:
    """The ``vigil`` script: an unreachable service or bad settings is one line, no traceback.

    Exit status 1 for an unreachable service, 2 for settings that were refused.
    """
    try:
        app(prog_name="vigil")
    except Exception as exc:
        if (message := unreachable(exc)) is not None:
            print(f"error: {message}", file=sys.stderr)
            sys.exit(1)
        if (message := misconfigured(exc)) is not None:
            print(f"error: {message}", file=sys.stderr)
            sys.exit(2)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()

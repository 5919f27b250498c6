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


def main() -> None:
    """The ``vigil`` script: a service that cannot be reached is one line, not a traceback."""
    try:
        app(prog_name="vigil")
    except Exception as exc:
        message = unreachable(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()

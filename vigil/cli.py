"""The ``vigil`` command line.

Each package contributes its commands through a ``register(app)`` function in its own
``cli`` module, so this file stays a table of contents. Heavy imports (Faust, Kafka, River)
happen inside the commands, keeping ``vigil --help`` fast.
"""

from __future__ import annotations

import importlib
import logging

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

if __name__ == "__main__":  # pragma: no cover
    app()

"""``python -m vigil``: the same command line as the ``vigil`` script."""

from vigil.cli import app

app(prog_name="vigil")

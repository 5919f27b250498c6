"""``python -m vigil``: the same command line as the ``vigil`` script."""

from vigil.cli import main

main()

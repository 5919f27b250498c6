"""The local development stack's connection settings, as ``deploy/local/stack env`` prints them.

Tests and benchmarks that talk to the real Kafka, Mosquitto and InfluxDB read the stack's
``VIGIL_*`` settings through here (the script prints them as shell ``export`` lines).

Examples
--------
>>> parse_stack_env("export VIGIL_KAFKA_BOOTSTRAP=127.0.0.1:9092\\n# a comment\\n"
...                 "export VIGIL_INFLUX_TOKEN='a b'\\n")
{'VIGIL_KAFKA_BOOTSTRAP': '127.0.0.1:9092', 'VIGIL_INFLUX_TOKEN': 'a b'}
"""

from __future__ import annotations

import logging
import shlex
import subprocess
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["STACK", "parse_stack_env", "stack_env"]

#: The script that installs, starts and describes the local stack (a source checkout's).
STACK = Path(__file__).resolve().parents[1] / "deploy" / "local" / "stack"


def parse_stack_env(text: str) -> dict[str, str]:
    """Parse ``stack env`` output (``export KEY=VALUE`` lines, shell-quoted)."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, value = words[1].split("=", 1)
            env[key] = value
    return env


def stack_env(timeout: float = 60.0) -> dict[str, str]:
    """Run ``deploy/local/stack env`` and return its settings.

    Raises
    ------
    subprocess.CalledProcessError
        If the script fails (e.g. the stack was never installed).
    """
    out = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [str(STACK), "env"], capture_output=True, text=True, check=True, timeout=timeout
    )
    return parse_stack_env(out.stdout)

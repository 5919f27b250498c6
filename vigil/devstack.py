"""The local development stack's settings and hygiene, for tests and benchmarks.

Tests and benchmarks that talk to the real Kafka, Mosquitto and InfluxDB read the stack's
``VIGIL_*`` settings through here (``deploy/local/stack env`` prints them as shell ``export``
lines), and clean up after themselves here: every run works in topics under its own scratch
prefix (:data:`SCRATCH_TOPIC`), which :func:`drop_scratch_topics` deletes. Left behind, they
pile up in the broker's data directory run after run (thousands of partitions: Kafka then
needs minutes to start).

Examples
--------
>>> parse_stack_env("export VIGIL_KAFKA_BOOTSTRAP=127.0.0.1:9092\\n# a comment\\n"
...                 "export VIGIL_INFLUX_TOKEN='a b'\\n")
{'VIGIL_KAFKA_BOOTSTRAP': '127.0.0.1:9092', 'VIGIL_INFLUX_TOKEN': 'a b'}
"""

from __future__ import annotations

import logging
import re
import shlex
import subprocess
from pathlib import Path
from typing import Final

logger = logging.getLogger(__name__)

__all__ = ["SCRATCH_TOPIC", "STACK", "drop_scratch_topics", "parse_stack_env", "stack_env"]

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


#: Topic prefixes of test and benchmark runs (``t<10 hex>.``, ``t-api-<8 hex>.``,
#: ``it-<8 hex>.``, ``bench-<8 hex>.``): never a deployment's topics.
SCRATCH_TOPIC: Final = re.compile(
    r"^(?:t[0-9a-f]{10}|t-api-[0-9a-f]{8}|it-[0-9a-f]{8}|bench-[0-9a-f]{8})\."
)


def drop_scratch_topics(bootstrap: str, prefix: str | None = None, *, batch: int = 200) -> int:
    """Delete scratch topics on the broker at ``bootstrap``; return how many were deleted.

    With ``prefix`` (a run's own, which must match :data:`SCRATCH_TOPIC`), only that run's
    topics; without, every scratch topic (what earlier runs left behind).

    >>> drop_scratch_topics("127.0.0.1:9092", prefix="vigil.")
    Traceback (most recent call last):
    ...
    ValueError: not a scratch prefix: 'vigil.'
    """
    if prefix is not None and not SCRATCH_TOPIC.match(prefix):
        raise ValueError(f"not a scratch prefix: {prefix!r}")
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vigil-devstack")
    try:
        names = sorted(
            t
            for t in admin.list_topics()
            if (t.startswith(prefix) if prefix is not None else SCRATCH_TOPIC.match(t))
        )
        for i in range(0, len(names), batch):
            # raise_errors=False: a topic another sweep deleted meanwhile is not an error
            admin.delete_topics(names[i : i + batch], timeout_ms=60_000, raise_errors=False)
    finally:
        admin.close()
    if names:
        logger.info("deleted %d scratch topics%s", len(names), f" of {prefix}" if prefix else "")
    return len(names)

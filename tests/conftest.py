"""Shared pytest fixtures for the whole test tree."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.devstack import STACK, drop_scratch_topics, parse_stack_env

# --------------------------------------------------------------------------
# Local stack (deploy/local/stack): Kafka, Mosquitto, InfluxDB on 127.0.0.1.
# --------------------------------------------------------------------------
REPO_ROOT = Path(__file__).resolve().parents[1]

# `up` may have to build influxd from source on a fresh machine (~20 min on
# 2 cores); later runs start from the cache in well under a minute.
STACK_UP_TIMEOUT_S = 3600


def run_stack(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run deploy/local/stack with ARGS (in ``env``, else this process's); never raises on a
    non-zero exit."""
    return subprocess.run(
        [str(STACK), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def stack_env(pytestconfig: pytest.Config) -> Iterator[dict[str, str]]:
    """Ensure the local stack is up; yield its VIGIL_* connection settings.

    Starts it with `deploy/local/stack up` only when `status` reports a
    service down, so a stack someone already runs is reused as is. The
    variables are also exported into os.environ for the session.
    """
    status = run_stack("status", timeout=60)
    if status.returncode != 0:
        up = run_stack("up", timeout=STACK_UP_TIMEOUT_S)
        if up.returncode != 0:
            pytest.fail(
                f"`deploy/local/stack up` failed (exit {up.returncode}):\n"
                f"{up.stdout[-2000:]}\n{up.stderr[-4000:]}",
                pytrace=False,
            )
        status = run_stack("status", timeout=60)
        if status.returncode != 0:
            pytest.fail(f"stack still not healthy after up:\n{status.stdout}", pytrace=False)

    # Name the service versions in the test log (bypassing output capture).
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.ensure_newline()
            for line in status.stdout.splitlines():
                reporter.write_line(f"[local stack] {line}")

    out = run_stack("env", timeout=60)
    if out.returncode != 0:
        pytest.fail(f"`deploy/local/stack env` failed:\n{out.stderr}", pytrace=False)
    env = parse_stack_env(out.stdout)
    # Every run's topics live under a scratch prefix; drop what earlier runs left (a crash,
    # a killed run) and, at the end, this run's own: left behind they pile up run after run
    # and Kafka needs minutes to start.
    bootstrap = env["VIGIL_KAFKA_BOOTSTRAP"]
    drop_scratch_topics(bootstrap)

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        drop_scratch_topics(bootstrap)
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old

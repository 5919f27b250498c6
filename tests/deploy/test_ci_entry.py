""".ci/run and the Makefile never let a failure pass."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("status", [1, 2, 5])  # 5: pytest collected no tests
def test_ci_run_exits_with_make_tests_status_and_shows_the_stack(
    tmp_path: Path, status: int
) -> None:
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "make").write_text(f'#!/bin/sh\necho "make $*" >&2\nexit {status}\n')
    (stub / "make").chmod(0o755)
    state = tmp_path / "state"
    (state / "kafka" / "logs").mkdir(parents=True)
    (state / "kafka" / "logs" / "server.log").write_text("ERROR broker said why\n")
    env = {
        **os.environ,
        "PATH": f"{stub}:{os.environ['PATH']}",
        "VIGIL_STATE_DIR": str(state),
        "VIGIL_CACHE_DIR": str(tmp_path / "cache"),
    }
    result = subprocess.run(
        [str(REPO_ROOT / ".ci" / "run")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert result.returncode == status, result.stderr
    assert "make test\n" in result.stderr
    assert f"make test failed (exit {status})" in result.stderr
    assert "ERROR broker said why" in result.stderr


def test_make_recipes_fail_on_a_failing_pipe_stage() -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "--eval", "pipecheck: ; @false | cat", "pipecheck"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0, "a recipe `false | cat` passed: no pipefail in .SHELLFLAGS"

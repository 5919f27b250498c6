"""The pure core of the alerts package imports no I/O library (STYLE.md: pure core, thin edges)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE = [
    "alerts/lifecycle.py",
    "alerts/records.py",
    "alerts/topics.py",
    "alerts/backoff.py",
    "alerts/store/base.py",
    "alerts/store/schema.py",
    "alerts/store/flux.py",
    "stream/rollup.py",
]
BANNED = {
    "faust",
    "kafka",
    "aiokafka",
    "paho",
    "influxdb_client",
    "fastapi",
    "sqlalchemy",
    "httpx",
    "amqtt",
    "sqlite3",
}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_no_io_library(module: str) -> None:
    assert imported_roots(ROOT / module) & BANNED == set()

"""Fixtures of the API tests: a wired app over embedded stores, and an HTTP client for it."""

from __future__ import annotations

import socket
import threading
import time
import warnings
from collections.abc import Generator, Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from tests.api.world import World, build_world

with warnings.catch_warnings():
    # Starlette asks for its httpx fork ("httpx2"); the client works with httpx as installed.
    warnings.simplefilter("ignore")
    # kafka-python 3 reads its protocol schemas with the deprecated importlib.resources
    # read_text, and pytest runs with filterwarnings=error: import it once, quietly, here.
    import kafka  # noqa: F401
    import kafka.admin  # noqa: F401
    from starlette.testclient import TestClient as TestClient


@pytest.fixture
def world() -> Iterator[World]:
    """A fresh world per test (tests that change state)."""
    w = build_world()
    yield w
    w.store.close()
    w.registry.close()


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    """An in-process HTTP client with the app's lifespan running."""
    with TestClient(world.app) as c:
        yield c


@pytest.fixture(scope="module")
def shared_world() -> Iterator[World]:
    """One world per module, for tests that only read."""
    w = build_world()
    yield w
    w.store.close()
    w.registry.close()


@pytest.fixture(scope="module")
def shared_client(shared_world: World) -> Iterator[TestClient]:
    with TestClient(shared_world.app) as c:
        yield c


@dataclass
class LiveServer:
    """The app served by uvicorn on 127.0.0.1 in a background thread."""

    base_url: str
    server: uvicorn.Server

    def tokens(self, username: str = "nurse") -> dict[str, str]:
        """Sign ``username`` in (the test world's password); return the token response."""
        from tests.api.world import PASSWORD

        r = httpx.post(
            f"{self.base_url}/api/v1/auth/token", data={"username": username, "password": PASSWORD}
        )
        r.raise_for_status()
        body: dict[str, str] = r.json()
        return body


def serve_in_thread(app: FastAPI) -> Generator[LiveServer, None, None]:
    """Serve ``app`` on a free port until the generator is closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        # Open SSE streams would otherwise hold shutdown forever.
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_server(world: World) -> Iterator[LiveServer]:
    """The per-test world's app on a real socket (for SSE and streaming clients)."""
    yield from serve_in_thread(world.app)


@pytest.fixture(scope="module")
def shared_live_server(shared_world: World) -> Iterator[LiveServer]:
    """The module's shared world on a real socket (for tests that only read or are refused)."""
    yield from serve_in_thread(shared_world.app)

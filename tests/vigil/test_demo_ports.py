"""``vigil demo``'s ports and data directory: refused clearly before anything starts."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from vigil.demo.cli import register
from vigil.demo.exceptions import DemoError
from vigil.demo.runtime import _require_free


def _listening() -> socket.socket:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    return srv


def test_a_port_another_server_listens_on_is_refused_with_the_option_to_change() -> None:
    with _listening() as srv:
        port = srv.getsockname()[1]
        with pytest.raises(DemoError, match=f"127.0.0.1:{port} is taken: HTTP.*--port"):
            _require_free("127.0.0.1", port, "--port", "HTTP")


def test_a_port_whose_last_connections_linger_in_time_wait_is_free_for_a_restart() -> None:
    # A demo stopped with a dashboard open: the server closes its connections first, so
    # they linger in TIME_WAIT on its port for a minute; the servers would bind it again.
    srv = _listening()
    port = srv.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = srv.accept()
    conn.close()
    srv.close()
    time.sleep(0.05)
    client.close()
    _require_free("127.0.0.1", port, "--port", "HTTP")
    with _listening() as again:  # (what uvicorn then does)
        again.close()


@pytest.mark.parametrize(
    "args",
    [["--port", "70000"], ["--port", "0"], ["--mqtt-port", "65536"], ["--mqtt-port", "-1"]],
)
def test_a_port_out_of_range_is_a_usage_error_not_a_traceback(args: list[str]) -> None:
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    result = CliRunner().invoke(app, ["demo", *args])
    assert result.exit_code == 2, result.output
    assert args[0] in result.output


def test_a_data_dir_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    taken = tmp_path / "file"
    taken.write_text("")
    result = CliRunner().invoke(app, ["demo", "--data-dir", str(taken)])
    assert result.exit_code == 2, result.output
    assert "is a file" in " ".join(result.output.replace("│", " ").split())

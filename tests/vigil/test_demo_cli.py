"""``vigil demo`` as a user runs it: even ``-v`` logs no vitals and no device password."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_verbose_demo_logs_neither_payloads_nor_passwords() -> None:
    cmd = [sys.executable, "-m", "vigil", "-v", "demo", "--patients", "3", "--speed", "300",
           "--port", str(free_port()), "--mqtt-port", str(free_port())]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(12)  # the fleet sends its warm-up backlog and live samples meanwhile
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert "Vigil demo is running" in out and "DEBUG" in err  # -v took effect
    banner_password = re.search(r"-P '([^']+)'", out)
    assert banner_password is not None
    assert banner_password.group(1) not in err
    assert "password=" not in err and '"hr"' not in err and "b'{" not in err

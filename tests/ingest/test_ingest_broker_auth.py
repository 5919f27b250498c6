"""The broker password file: the registry's section is rewritten, everything else is kept."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from ingest.broker_auth import BrokerAuthSync, PasswordFile, reload_broker
from ingest.exceptions import RegistryError

GATEWAY_LINE = "vigil-gateway:$7$101$abc$def"


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "passwd"
    p.write_text(GATEWAY_LINE + "\n")
    p.chmod(0o640)
    return p


def test_section_is_replaced_and_foreign_lines_survive(path):
    pf = PasswordFile(path)
    pf.write_section({"w1": "$7$1$a$b", "w2": "$7$1$c$d"})
    pf.write_section({"w2": "$7$1$c$d", "w3": "$7$1$e$f"})
    lines = path.read_text().splitlines()
    assert lines[0] == GATEWAY_LINE
    assert pf.section_entries() == {"w2": "$7$1$c$d", "w3": "$7$1$e$f"}
    assert not any(line.startswith("w1:") for line in lines)


def test_two_registries_keep_separate_sections(path):
    a, b = PasswordFile(path, "reg-a"), PasswordFile(path, "reg-b")
    a.write_section({"a1": "$7$1$a$b"})
    b.write_section({"b1": "$7$1$c$d"})
    a.write_section({"a2": "$7$1$e$f"})
    assert a.section_entries() == {"a2": "$7$1$e$f"}
    assert b.section_entries() == {"b1": "$7$1$c$d"}
    assert b.remove_section() and PasswordFile(path, "reg-b").section_entries() == {}


def test_device_named_like_a_foreign_account_is_refused(path):
    with pytest.raises(RegistryError, match="outside"):
        PasswordFile(path).write_section({"vigil-gateway": "$7$1$a$b"})


def test_rewrite_keeps_file_mode_and_reports_no_change_when_equal(path):
    pf = PasswordFile(path)
    assert pf.write_section({"w1": "$7$1$a$b"})
    assert not pf.write_section({"w1": "$7$1$a$b"})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_markers_are_lines_mosquitto_passwd_accepts(path):
    # mosquitto_passwd calls a line without "user:password" shape corrupt and the local stack
    # runs it on every start; the broker itself skips '#' lines.
    PasswordFile(path).write_section({"w1": "$7$1$a$b"})
    for line in path.read_text().splitlines():
        user, _, rest = line.partition(":")
        assert user and rest.strip(), line


def test_sync_reloads_only_on_change(path, tmp_path):
    marker = tmp_path / "reloaded"
    sync = BrokerAuthSync(PasswordFile(path), reload_command=f"touch {marker}")
    assert sync.sync({"w1": "$7$1$a$b"}) and marker.exists()
    marker.unlink()
    assert not sync.sync({"w1": "$7$1$a$b"}) and not marker.exists()


def test_reload_with_a_stale_pid_file_raises(tmp_path):
    pid_file = tmp_path / "pid"
    pid_file.write_text("999999999\n")
    with pytest.raises(RegistryError):
        reload_broker(pid_file=pid_file)
    assert reload_broker() is False


def test_a_reload_by_signal_is_repeated_once_for_a_sighup_lost_mid_reload(tmp_path):
    # Mosquitto drops a SIGHUP that lands while it is reloading: the second one catches it.
    counter = (
        "import signal, sys, time\n"
        "n = 0\n"
        "def hup(*_):\n"
        "    global n\n"
        "    n += 1\n"
        "signal.signal(signal.SIGHUP, hup)\n"
        "print('ready', flush=True)\n"
        "time.sleep(3)\n"
        "print(n, flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", counter], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    pid_file = tmp_path / "pid"
    pid_file.write_text(f"{proc.pid}\n")
    assert reload_broker(pid_file=pid_file)
    out, _ = proc.communicate(timeout=10)
    assert out.strip() == "2"

"""deploy/local/stack's own failure handling: caches, ports, secrets, restarts, leftovers.

The tests without a marker need no service: they run the script against a private cache and
state dir in tmp_path, with a stub `mvn` standing in for Maven Central, so they are quick
and hermetic. The integration ones start their own Mosquitto (private state dir, free
port) or look at the shared stack without changing it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_stack

REPO_ROOT = Path(__file__).resolve().parents[2]
STACK = REPO_ROOT / "deploy" / "local" / "stack"
PROBE = REPO_ROOT / "deploy" / "local" / "stack_probe.py"
KAFKA_TEST_VERSION = "0.0.1-test"
MAIN_JAR = f"kafka_2.13-{KAFKA_TEST_VERSION}.jar"
CLIENTS_JAR = f"kafka-clients-{KAFKA_TEST_VERSION}.jar"

# Stands in for `mvn dependency:copy-dependencies`: counts its calls, then fails (mode fail),
# writes two good jars (mode ok), or copies them from a fake local repository, "downloading"
# (writing a good one) only what is not there yet (mode m2).
STUB_MVN = r"""#!/usr/bin/env python3
import os, sys, zipfile
from pathlib import Path
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("-D") and "=" in a)
with open(os.environ["STUB_CALLS"], "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\n")
mode = os.environ.get("STUB_MVN_MODE", "ok")
if mode == "fail":
    print("[ERROR] Could not transfer artifact org.apache.kafka:kafka_2.13: connection refused")
    sys.exit(1)
out = Path(args["outputDirectory"])
out.mkdir(parents=True, exist_ok=True)
version = args["kafka.version"]
for name in (f"kafka_2.13-{version}.jar", f"kafka-clients-{version}.jar"):
    src = Path(os.environ["VIGIL_MAVEN_REPO"]) / name if mode == "m2" else None
    if src is not None and not src.exists():
        with zipfile.ZipFile(src, "w") as z:
            z.writestr("org/apache/kafka/Dummy.class", b"\xca\xfe\xba\xbe" * 64)
    if src is not None:
        (out / name).write_bytes(src.read_bytes())
    else:
        with zipfile.ZipFile(out / name, "w") as z:
            z.writestr("org/apache/kafka/Dummy.class", b"\xca\xfe\xba\xbe" * 64)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_stack(*args, timeout=timeout, env=env)


@pytest.fixture
def private_env(tmp_path: Path) -> dict[str, str]:
    """The script's environment with its own cache and state dir and a stub mvn first on PATH."""
    stub_bin = tmp_path / "bin"
    stub_bin.mkdir()
    mvn = stub_bin / "mvn"
    mvn.write_text(STUB_MVN.replace("/usr/bin/env python3", sys.executable, 1))
    mvn.chmod(0o755)
    (tmp_path / "m2").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        PATH=f"{stub_bin}:{env['PATH']}",
        VIGIL_CACHE_DIR=str(tmp_path / "cache"),
        VIGIL_STATE_DIR=str(tmp_path / "state"),
        VIGIL_KAFKA_VERSION=KAFKA_TEST_VERSION,
        VIGIL_MAVEN_REPO=str(tmp_path / "m2"),
        STUB_CALLS=str(tmp_path / "mvn-calls"),
    )
    return env


def mvn_calls(env: dict[str, str]) -> int:
    calls = Path(env["STUB_CALLS"])
    return len(calls.read_text().splitlines()) if calls.exists() else 0


def kafka_libs(env: dict[str, str]) -> Path:
    return Path(env["VIGIL_CACHE_DIR"]) / "kafka" / KAFKA_TEST_VERSION / "libs"


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:40])


# ------------------------------------------------------------ Kafka cache --
def test_kafka_download_failure_is_reported_with_its_log(private_env: dict[str, str]) -> None:
    private_env["STUB_MVN_MODE"] = "fail"
    result = run(private_env, "install", "kafka")
    assert result.returncode == 1, result.stderr
    home = kafka_libs(private_env).parent
    assert f"downloading Kafka {KAFKA_TEST_VERSION} jars failed" in result.stderr
    assert f"see {home}/install.log" in result.stderr
    assert "Could not transfer artifact" in (home / "install.log").read_text()
    assert not (home / ".complete").exists(), "a failed install must not be marked complete"


def test_kafka_install_is_idempotent_and_replaces_a_truncated_jar(
    private_env: dict[str, str],
) -> None:
    assert run(private_env, "install", "kafka").returncode == 0
    assert run(private_env, "install", "kafka").returncode == 0
    assert mvn_calls(private_env) == 1, "an intact cache must not be downloaded again"

    truncate(kafka_libs(private_env) / CLIENTS_JAR)  # a download cut short, a full disk
    result = run(private_env, "install", "kafka")
    assert result.returncode == 0, result.stderr
    assert "cache corrupt" in result.stderr and CLIENTS_JAR in result.stderr, result.stderr
    assert mvn_calls(private_env) == 2
    with zipfile.ZipFile(kafka_libs(private_env) / CLIENTS_JAR) as z:
        assert z.testzip() is None


def test_kafka_install_is_redone_when_the_main_jar_is_missing(
    private_env: dict[str, str],
) -> None:
    assert run(private_env, "install", "kafka").returncode == 0
    (kafka_libs(private_env) / MAIN_JAR).unlink()
    result = run(private_env, "install", "kafka")
    assert result.returncode == 0, result.stderr
    assert f"{MAIN_JAR} (missing)" in result.stderr
    assert (kafka_libs(private_env) / MAIN_JAR).is_file()


def test_kafka_install_is_redone_when_pom_changed(private_env: dict[str, str]) -> None:
    assert run(private_env, "install", "kafka").returncode == 0
    complete = kafka_libs(private_env).parent / ".complete"
    assert "pom" in complete.read_text()
    complete.write_text("kafka 0.0.1-test pom 0123\n")  # as if installed from an older pom.xml
    result = run(private_env, "install", "kafka")
    assert result.returncode == 0, result.stderr
    assert "installed from another deploy/local/kafka/pom.xml" in result.stderr
    assert mvn_calls(private_env) == 2


def test_kafka_jar_broken_in_the_maven_repo_is_downloaded_again(
    private_env: dict[str, str],
) -> None:
    private_env["STUB_MVN_MODE"] = "m2"
    m2 = Path(private_env["VIGIL_MAVEN_REPO"])
    with zipfile.ZipFile(m2 / CLIENTS_JAR, "w") as z:
        z.writestr("x.class", b"x" * 512)
    truncate(m2 / CLIENTS_JAR)  # what Maven would copy into libs/ again and again
    result = run(private_env, "install", "kafka")
    assert result.returncode == 0, result.stderr
    assert "removing them from" in result.stderr
    assert mvn_calls(private_env) == 2
    with zipfile.ZipFile(kafka_libs(private_env) / CLIENTS_JAR) as z:
        assert z.testzip() is None


def test_verify_jars_names_each_bad_jar(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "good.jar", "w") as z:
        z.writestr("a.class", b"a")
    (tmp_path / "cut.jar").write_bytes(b"PK\x03\x04 cut short")
    result = subprocess.run(
        [sys.executable, str(PROBE), "verify-jars", str(tmp_path), "need.jar"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert sorted(result.stdout.split("\n")[:-1]) == ["bad cut.jar", "bad need.jar"]
    assert "need.jar (missing)" in result.stderr and "cut.jar (BadZipFile" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run(
        [sys.executable, str(PROBE), "verify-jars", str(empty)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1 and "no jars in" in result.stderr


# ---------------------------------------------------------- InfluxDB cache --
def test_cached_influxd_that_does_not_run_is_rebuilt(private_env: dict[str, str]) -> None:
    version = "0.0.1-test"
    cache = Path(private_env["VIGIL_CACHE_DIR"]) / "influxdb" / version
    cache.mkdir(parents=True)
    influxd = cache / "influxd"
    influxd.write_bytes(b"\x7fELF truncated")
    influxd.chmod(0o755)
    # GOPROXY=off: the rebuild fails at once (no such version), without the network.
    private_env.update(VIGIL_INFLUX_VERSION=version, GOPROXY="off", GOFLAGS="-mod=mod")
    result = run(private_env, "install", "influxdb")
    assert result.returncode == 1, result.stderr
    assert "does not run" in result.stderr and "rebuilding" in result.stderr, result.stderr
    assert "influxd build failed (exit 1) after" in result.stderr
    assert f"see {cache}/build.log" in result.stderr
    assert not influxd.exists(), "the broken binary must not be kept"


# ---------------------------------------------------------------- secrets --
def test_secrets_file_missing_a_key_is_named(private_env: dict[str, str]) -> None:
    state = Path(private_env["VIGIL_STATE_DIR"])
    state.mkdir()
    (state / "secrets.env").write_text("MQTT_GATEWAY_PASSWORD=x\nINFLUX_TOKEN=y\n")
    result = run(private_env, "env")
    assert result.returncode == 1
    assert "has no INFLUX_ADMIN_PASSWORD" in result.stderr, result.stderr


def test_relative_and_slashed_state_dirs_are_made_absolute(
    private_env: dict[str, str], tmp_path: Path
) -> None:
    private_env["VIGIL_STATE_DIR"] = "state//"
    result = subprocess.run(
        [str(STACK), "env"],
        cwd=tmp_path,
        env=private_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"VIGIL_MQTT_PASSWORD_FILE={tmp_path}/state/mosquitto/passwd\n" in result.stdout


# ------------------------------------------------------------------ probe --
def test_probe_reports_a_non_http_answer_in_one_line() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def answer_garbage() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

        t = threading.Thread(target=answer_garbage, daemon=True)
        t.start()
        result = subprocess.run(
            [sys.executable, str(PROBE), "influx-health", f"http://127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        t.join(5)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("influx-health: "), result.stderr


# ------------------------------------------------------ with real services --
@pytest.fixture
def own_mosquitto(stack_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """A second Mosquitto of our own: private state dir, free port; nothing of it left after.

    Depends on stack_env only so Mosquitto is installed; the shared broker is not touched.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    state = tmp_path / "state"
    env.update(VIGIL_STATE_DIR=str(state), VIGIL_STACK_MQTT_PORT=str(free_port()))
    try:
        yield env
    finally:
        run(env, "down", timeout=120)
        left = subprocess.run(
            ["pgrep", "-af", str(state)], capture_output=True, text=True, check=False
        ).stdout
        assert not left, f"processes left after down:\n{left}"


@pytest.mark.integration
def test_port_taken_by_another_process_is_named(
    own_mosquitto: dict[str, str],
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(own_mosquitto["VIGIL_STACK_MQTT_PORT"])))
        squatter.listen()
        result = run(own_mosquitto, "start", "mosquitto")
    assert result.returncode == 1
    port = own_mosquitto["VIGIL_STACK_MQTT_PORT"]
    assert f"port 127.0.0.1:{port} is already in use by another process" in result.stderr
    assert f"pid={os.getpid()}" in result.stderr, result.stderr  # who holds it
    assert "VIGIL_STACK_MQTT_PORT=<port>" in result.stderr


@pytest.mark.integration
def test_start_between_a_crash_and_the_restart_succeeds(own_mosquitto: dict[str, str]) -> None:
    start = run(own_mosquitto, "start", "mosquitto")
    assert start.returncode == 0, start.stderr
    assert "log: " in start.stderr and "mosquitto.log" in start.stderr
    pid_file = Path(own_mosquitto["VIGIL_STATE_DIR"]) / "mosquitto" / "mosquitto.pid"
    os.kill(int(pid_file.read_text()), signal.SIGSEGV)
    time.sleep(0.2)  # the supervisor waits 1 s before restarting it: start inside that window
    again = run(own_mosquitto, "start", "mosquitto")
    assert again.returncode == 0, again.stderr
    assert "already running under its supervisor" in again.stderr, again.stderr


@pytest.mark.integration
def test_state_dirs_sharing_a_prefix_do_not_stop_each_other(
    own_mosquitto: dict[str, str],
) -> None:
    # .../state and .../state2: a marker matched as a mere prefix would stop both.
    other = dict(own_mosquitto)
    other.update(
        VIGIL_STATE_DIR=own_mosquitto["VIGIL_STATE_DIR"] + "2",
        VIGIL_STACK_MQTT_PORT=str(free_port()),
    )
    try:
        assert run(other, "start", "mosquitto").returncode == 0
        # The same dir spelled with a trailing slash is the same stack.
        slashed = dict(own_mosquitto, VIGIL_STATE_DIR=own_mosquitto["VIGIL_STATE_DIR"] + "/")
        assert run(slashed, "start", "mosquitto").returncode == 0
        assert run(own_mosquitto, "stop", "mosquitto").returncode == 0
        assert re.search(r"^mosquitto\s.*\sdown\s", run(own_mosquitto, "status").stdout, re.M)
        status = run(other, "status").stdout
        assert re.search(r"^mosquitto\s.*\shealthy\s", status, re.M), status
    finally:
        run(other, "down", timeout=120)


@pytest.mark.integration
def test_up_twice_is_idempotent_and_names_the_logs(stack_env: dict[str, str]) -> None:
    before = run(dict(os.environ), "status").stdout
    up = run(dict(os.environ), "up", timeout=600)
    assert up.returncode == 0, up.stderr
    for svc in ("kafka", "mosquitto", "influxdb"):
        assert re.search(rf"^\[stack\] {svc} already running", up.stderr, re.M), up.stderr
        assert re.search(rf"^\[stack\] {svc} log: /\S+", up.stderr, re.M), up.stderr
    assert "formatting Kafka storage" not in up.stderr
    pids = re.compile(r"^(\w+)\s.*pid (\d+)", re.M)
    assert pids.findall(run(dict(os.environ), "status").stdout) == pids.findall(before)


@pytest.mark.integration
def test_influx_setup_refuses_a_token_of_other_secrets(stack_env: dict[str, str]) -> None:
    def setup(token: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(PROBE), "influx-setup", stack_env["VIGIL_INFLUX_URL"]]
            + ["vigil-admin", "unused", stack_env["VIGIL_INFLUX_ORG"]]
            + [stack_env["VIGIL_INFLUX_BUCKET"], token],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    ok = setup(stack_env["VIGIL_INFLUX_TOKEN"])
    assert (ok.returncode, ok.stdout) == (0, "already-onboarded\n"), ok.stderr
    # secrets.env regenerated while the InfluxDB data was kept: `up` used to pass, then 401s.
    wrong = setup("0" * 48)
    assert wrong.returncode == 1
    assert "token in secrets.env is refused" in wrong.stderr, wrong.stderr

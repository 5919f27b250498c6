#!/usr/bin/env python3
"""Stdlib-only protocol probes and small helpers for deploy/local/stack.

Kept dependency-free on purpose: the stack must be checkable before any
project virtualenv exists. Each probe exits 0 when the service answers
correctly and non-zero (with a one-line reason on stderr) otherwise.

  kafka HOST PORT                 Kafka Metadata request (v4) answered
  mqtt HOST PORT USER PASSWORD    MQTT 3.1.1 CONNECT -> CONNACK accepted
  influx-health URL               GET /health -> status "pass"; prints version
  influx-setup URL USER PASS ORG BUCKET TOKEN   onboard if not yet done; if already
                                  onboarded, check TOKEN still reads BUCKET
  verify-jars DIR [--full] [JAR...]  every DIR/*.jar opens as a zip (--full: CRCs too)
                                  and each named JAR exists; names the bad ones
  secret hex|kafka-cluster-id     print a fresh random secret
"""

# A CLI talking to fixed loopback http:// URLs: printing is its output.
# ruff: noqa: T201, S310
from __future__ import annotations

import base64
import http.client
import json
import secrets
import socket
import struct
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from pathlib import Path
from typing import Any

TIMEOUT = 5.0


def fail(msg: str) -> None:
    print(msg, file=sys.stderr)
    sys.exit(1)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by peer")
        buf += chunk
    return buf


# ------------------------------------------------------------------ Kafka --
def kafka_probe(host: str, port: int) -> None:
    """Send MetadataRequest v4 (all topics) and parse brokers + cluster id.

    v4 is non-flexible (no tagged fields) and still valid in Kafka 4.x
    (MetadataRequest validVersions 0-13), so the wire format stays simple.
    """
    client_id = b"vigil-stack-probe"
    corr = 0x5EED
    # body: topics = null (-1 => all topics), allow_auto_topic_creation=false
    body = struct.pack(">ib", -1, 0)
    header = struct.pack(">hhih", 3, 4, corr, len(client_id)) + client_id
    req = header + body
    with socket.create_connection((host, port), timeout=TIMEOUT) as s:
        s.sendall(struct.pack(">i", len(req)) + req)
        (size,) = struct.unpack(">i", recv_exact(s, 4))
        resp = recv_exact(s, size)
    got_corr, _throttle, nbrokers = struct.unpack_from(">iii", resp, 0)
    if got_corr != corr:
        fail(f"kafka: correlation id mismatch ({got_corr} != {corr})")
    off = 12
    brokers = []
    for _ in range(nbrokers):
        node_id, hlen = struct.unpack_from(">ih", resp, off)
        off += 6
        host_s = resp[off : off + hlen].decode()
        off += hlen
        (bport, rlen) = struct.unpack_from(">ih", resp, off)
        off += 6 + max(rlen, 0)
        brokers.append(f"{node_id}@{host_s}:{bport}")
    (clen,) = struct.unpack_from(">h", resp, off)
    off += 2
    cluster_id = resp[off : off + clen].decode() if clen >= 0 else None
    if not brokers:
        fail("kafka: metadata answered but no broker registered yet")
    print(f"cluster_id={cluster_id} brokers={','.join(brokers)}")


# ------------------------------------------------------------------- MQTT --
def _mqtt_str(b: bytes) -> bytes:
    return struct.pack(">H", len(b)) + b


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


CONNACK_CODES = {
    1: "unacceptable protocol version",
    2: "identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


def mqtt_probe(host: str, port: int, user: str, password: str) -> None:
    flags = 0x02  # clean session
    payload = _mqtt_str(b"vigil-stack-probe-" + secrets.token_hex(4).encode())
    if user:
        flags |= 0x80
        payload += _mqtt_str(user.encode())
    if password:
        flags |= 0x40
        payload += _mqtt_str(password.encode())
    var = _mqtt_str(b"MQTT") + bytes([4, flags]) + struct.pack(">H", 10)
    pkt = bytes([0x10]) + _remaining_length(len(var) + len(payload)) + var + payload
    with socket.create_connection((host, port), timeout=TIMEOUT) as s:
        s.sendall(pkt)
        ack = recv_exact(s, 4)
        if ack[0] != 0x20:
            fail(f"mqtt: expected CONNACK, got packet type 0x{ack[0]:02x}")
        rc = ack[3]
        if rc != 0:
            fail(f"mqtt: CONNACK refused: {CONNACK_CODES.get(rc, rc)}")
        s.sendall(b"\xe0\x00")  # DISCONNECT
    print("connack=accepted")


# --------------------------------------------------------------- InfluxDB --
def _http(
    method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"{}")
        except ValueError:
            return e.code, {}


def influx_health(url: str) -> None:
    status, doc = _http("GET", url.rstrip("/") + "/health")
    if status != 200 or doc.get("status") != "pass":
        fail(f"influxdb: /health returned {status} {doc}")
    print(doc.get("version", "unknown"))


def influx_setup(url: str, user: str, pw: str, org: str, bucket: str, token: str) -> None:
    base = url.rstrip("/")
    status, doc = _http("GET", base + "/api/v2/setup")
    if status != 200:
        fail(f"influxdb: GET /api/v2/setup returned {status} {doc}")
    if not doc.get("allowed"):
        # Onboarded earlier: by us with this token, unless secrets.env was regenerated (or
        # someone else onboarded it) since. Then every client would get 401 while `up` and
        # `status` said healthy, so say so here.
        query = urllib.parse.urlencode({"org": org, "name": bucket})
        status, doc = _http("GET", f"{base}/api/v2/buckets?{query}", token=token)
        if status == 401:
            fail(
                "influxdb: already onboarded, but the token in secrets.env is refused (401):"
                " the InfluxDB data was set up with other secrets. Restore the old"
                " secrets.env, or delete the influxdb state dir to re-onboard (loses its data)"
            )
        if status != 200 or not doc.get("buckets"):
            fail(
                f"influxdb: already onboarded, but bucket {bucket!r} of org {org!r} is not"
                f" readable with the token in secrets.env: GET /api/v2/buckets returned"
                f" {status} {doc}"
            )
        print("already-onboarded")
        return
    status, doc = _http(
        "POST",
        base + "/api/v2/setup",
        {"username": user, "password": pw, "org": org, "bucket": bucket, "token": token},
    )
    if status != 201:
        fail(f"influxdb: POST /api/v2/setup returned {status} {doc}")
    print("onboarded")


# ------------------------------------------------------------ Kafka jars --
def verify_jars(directory: str, rest: list[str]) -> None:
    """Fail naming every jar in DIRECTORY that is not a readable zip, or a required one missing.

    A download cut short (disk full, Ctrl-C, a killed CI job) leaves a jar without its
    central directory, which the JVM only reports as a ClassNotFoundException at start.
    Opening each jar checks that in ~0.3 s for Kafka's ~50 jars; --full also checks every
    entry's CRC (~2 s), done once right after an install. Prints each bad jar's file name
    on stdout as "bad NAME" (for the caller to fetch again) and the reasons on stderr.
    """
    full = "--full" in rest
    required = [a for a in rest if a != "--full"]
    root = Path(directory)
    jars = sorted(root.glob("*.jar"))
    bad = {name: "missing" for name in required if not (root / name).is_file()}
    for jar in jars:
        try:
            with zipfile.ZipFile(jar) as z:
                broken = z.testzip() if full else None
        except (OSError, zipfile.BadZipFile, EOFError, ValueError) as e:
            bad[jar.name] = f"{type(e).__name__}: {e}"
            continue
        if broken is not None:
            bad[jar.name] = f"bad CRC in {broken}"
    if not jars:
        fail(f"no jars in {directory}")
    if bad:
        for name in bad:
            print(f"bad {name}")
        fail("bad jars: " + "; ".join(f"{name} ({why})" for name, why in bad.items()))
    print(f"{len(jars)} jars ok")


def main(argv: list[str]) -> None:
    if not argv:
        fail(__doc__ or "usage")
    cmd, args = argv[0], argv[1:]
    try:
        if cmd == "kafka":
            kafka_probe(args[0], int(args[1]))
        elif cmd == "mqtt":
            mqtt_probe(args[0], int(args[1]), args[2], args[3])
        elif cmd == "influx-health":
            influx_health(args[0])
        elif cmd == "influx-setup":
            influx_setup(*args[:6])
        elif cmd == "verify-jars":
            verify_jars(args[0], args[1:])
        elif cmd == "secret":
            if args and args[0] == "kafka-cluster-id":
                # Kafka wants a base64url (no padding) encoded 16-byte UUID.
                print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))
            else:
                print(secrets.token_hex(24))
        else:
            fail(f"unknown probe {cmd!r}")
    except (OSError, struct.error, ValueError, http.client.HTTPException) as e:
        fail(f"{cmd}: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Device credentials: generated secrets and their Mosquitto-compatible PBKDF2 hashes.

A device authenticates to Mosquitto with its id as username and a generated password. The
registry keeps only the hash, in the format Mosquitto 2's password file reads
(``$7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512>``, what ``mosquitto_passwd``
writes), so the broker's password file can be regenerated from the registry at any time and
no second hash of the same secret is needed.

The secrets are 256 random bits, not human passwords, so guessing them is hopeless at any
iteration count; the count stays modest because Mosquitto runs the KDF in its single event
loop on every device CONNECT (a fleet reconnecting after a broker restart pays it per device).

Examples
--------
>>> hashed = hash_password("s3cret", salt=bytes(12), iterations=1000)
>>> hashed.startswith("$7$1000$AAAAAAAAAAAAAAAA$")
True
>>> verify_password("s3cret", hashed), verify_password("wrong", hashed)
(True, False)
>>> len(generate_password())
43
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

__all__ = ["PBKDF2_ITERATIONS", "generate_password", "hash_password", "verify_password"]

#: PBKDF2-SHA512 rounds for generated device secrets (see the module docstring for why).
PBKDF2_ITERATIONS = 1000
#: Mosquitto's salt length for ``$7$`` hashes.
SALT_BYTES = 12


def generate_password() -> str:
    """Return a new URL-safe device secret with 256 bits of entropy."""
    return secrets.token_urlsafe(32)


def hash_password(
    password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS
) -> str:
    """Hash ``password`` in Mosquitto's ``$7$`` PBKDF2-HMAC-SHA512 format."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """Return whether ``password`` matches a ``$7$`` hash (constant-time comparison)."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[0] or parts[1] != "7":
        return False
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except (ValueError, binascii.Error):
        return False
    if not 0 < iterations <= 10_000_000:
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return hmac.compare_digest(digest, expected)

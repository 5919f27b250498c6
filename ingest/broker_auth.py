"""Broker-enforced device identity: the Mosquitto password file, regenerated from the registry.

Mosquitto checks every CONNECT against its password file and every PUBLISH against its ACL
file, whose ``pattern write vigil/v1/devices/%u/vitals`` line lets a device write only under
its own id. The ACL is static; what changes is the set of devices and their hashes, so the
registry owns one delimited section of the password file and rewrites it, leaving every other
line (the gateway's own account, operators' accounts, other sections) as it was::

    vigil-gateway:$7$101$...
    # BEGIN vigil-registry: generated from the Vigil registry, edits here are overwritten
    watch-01:$7$1000$...
    # END vigil-registry: end of the generated section

The file is replaced atomically under an advisory lock and Mosquitto is told to reload it
(SIGHUP to its pid, or a configured command). Nothing here is specific to the local stack:
production points the same settings at its own files.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "passwd"
>>> _ = path.write_text("vigil-gateway:$7$1$a$b\\n")
>>> pf = PasswordFile(path)
>>> pf.write_section({"watch-1": "$7$1000$c$d"})
True
>>> print(path.read_text(), end="")
vigil-gateway:$7$1$a$b
# BEGIN vigil-registry: generated from the Vigil registry, edits here are overwritten
watch-1:$7$1000$c$d
# END vigil-registry: end of the generated section
>>> pf.write_section({"watch-1": "$7$1000$c$d"}), pf.section_entries()
(False, {'watch-1': '$7$1000$c$d'})
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shlex
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from ingest.exceptions import RegistryError
from ingest.settings import IngestSettings

__all__ = ["BrokerAuthSync", "PasswordFile", "reload_broker"]

logger = logging.getLogger(__name__)


class PasswordFile:
    """One named section of a Mosquitto password file.

    Parameters
    ----------
    path
        The file Mosquitto's ``password_file`` option names.
    section
        The section this registry owns; several registries (tests) may share one file.
    """

    def __init__(self, path: Path | str, section: str = "vigil-registry") -> None:
        if not section or any(c.isspace() for c in section):
            raise ValueError("section names are non-empty and without spaces")
        self.path = Path(path)
        self.section = section
        # The markers carry a ':' and text after it: mosquitto_passwd (which the local stack
        # runs on every start) calls a line without them corrupt; the broker skips '#' lines.
        self._begin = f"# BEGIN {section}:"
        self._end = f"# END {section}:"

    def section_entries(self) -> dict[str, str]:
        """``{username: hash}`` currently in this section."""
        _, inside = self._split(self._read_lines())
        return dict(_entry(line) for line in inside)

    def write_section(self, entries: Mapping[str, str]) -> bool:
        """Make the section hold exactly ``entries``; return whether the file changed.

        Raises RegistryError when a username is also defined outside the section (the
        broker would pick one of the two hashes arbitrarily).
        """
        for username, hashed in entries.items():
            if not username or ":" in username or "\n" in username or "\n" in hashed:
                raise RegistryError(f"invalid broker account {username!r}")
        with self._locked():
            lines = self._read_lines()
            outside, inside = self._split(lines)
            foreign = {_entry(line)[0] for line in outside if _is_entry(line)}
            clash = sorted(foreign & set(entries))
            if clash:
                raise RegistryError(f"broker accounts defined outside section: {clash[:5]}")
            block = (
                [f"{self._begin} generated from the Vigil registry, edits here are overwritten"]
                + [f"{user}:{hashed}" for user, hashed in sorted(entries.items())]
                + [f"{self._end} end of the generated section"]
                if entries
                else []
            )
            if outside + block == lines:
                return False
            self._replace(outside + block)
            return True

    def remove_section(self) -> bool:
        """Drop the section entirely; return whether the file changed."""
        return self.write_section({})

    def _split(self, lines: list[str]) -> tuple[list[str], list[str]]:
        outside: list[str] = []
        inside: list[str] = []
        in_section = False
        for line in lines:
            if line.startswith(self._begin):
                in_section = True
            elif in_section and line.startswith(self._end):
                in_section = False
            elif in_section:
                if _is_entry(line):
                    inside.append(line)
            else:
                outside.append(line)
        return outside, inside

    def _read_lines(self) -> list[str]:
        try:
            return self.path.read_text().splitlines()
        except FileNotFoundError:
            return []

    def _replace(self, lines: list[str]) -> None:
        """Atomically replace the file, keeping its mode (Mosquitto must still read it)."""
        try:
            mode = self.path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o600
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w") as f:
                f.write("".join(f"{line}\n" for line in lines))
            os.chmod(tmp, mode)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.path.with_name(f".{self.path.name}.lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _is_entry(line: str) -> bool:
    return bool(line) and not line.startswith("#") and ":" in line


def _entry(line: str) -> tuple[str, str]:
    user, _, hashed = line.partition(":")
    return user, hashed


#: Seconds after a SIGHUP reload at which a second SIGHUP follows (see :func:`reload_broker`).
RELOAD_AGAIN_S = 1.0


def _sighup_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGHUP)


def reload_broker(*, pid_file: Path | None = None, command: str = "") -> bool:
    """Ask Mosquitto to re-read its password and ACL files; return whether anything was done.

    ``command`` wins when both are given (e.g. ``systemctl reload mosquitto`` or
    ``deploy/local/stack reload mosquitto``); otherwise SIGHUP goes to the pid in ``pid_file``.
    """
    if command:
        subprocess.run(shlex.split(command), check=True, capture_output=True, timeout=30)  # noqa: S603
        return True
    if pid_file is not None:
        try:
            pid = int(Path(pid_file).read_text().strip())
        except (FileNotFoundError, ValueError) as exc:
            raise RegistryError(f"cannot read broker pid from {pid_file}: {exc}") from exc
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError as exc:
            raise RegistryError(f"broker pid {pid} from {pid_file} is not running") from exc
        # Mosquitto only raises a flag on SIGHUP and clears it after reloading: a SIGHUP that
        # lands while an earlier reload runs (two enrolments a few ms apart) is lost, and the
        # newer credential refused until the next reload. A second one shortly after closes
        # that window (a reload is cheap).
        again = threading.Timer(RELOAD_AGAIN_S, _sighup_quietly, (pid,))
        again.daemon = True
        again.start()
        return True
    logger.warning("no broker pid file or reload command configured: reload Mosquitto yourself")
    return False


class BrokerAuthSync:
    """Push the registry's active device credentials to the broker and reload it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "passwd"
    >>> sync = BrokerAuthSync(PasswordFile(path))
    >>> sync.sync({"watch-1": "$7$1000$c$d"})
    True
    >>> sync.sync({"watch-1": "$7$1000$c$d"})
    False
    """

    def __init__(
        self, password_file: PasswordFile, *, pid_file: Path | None = None, reload_command: str = ""
    ) -> None:
        self.password_file = password_file
        self.pid_file = pid_file
        self.reload_command = reload_command

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> BrokerAuthSync | None:
        """The sync ``settings`` configure, or ``None`` without a password file."""
        if settings.mqtt_password_file is None:
            return None
        return cls(
            PasswordFile(settings.mqtt_password_file, settings.mqtt_registry_section),
            pid_file=settings.mqtt_pid_file,
            reload_command=settings.mqtt_reload_command,
        )

    def sync(self, credentials: Mapping[str, str]) -> bool:
        """Write ``credentials`` (``{username: $7$ hash}``); reload the broker if they changed."""
        changed = self.password_file.write_section(credentials)
        if changed:
            logger.info(
                "broker password file %s now holds %d device accounts in section %s",
                self.password_file.path,
                len(credentials),
                self.password_file.section,
            )
            if self.pid_file is not None or self.reload_command:
                reload_broker(pid_file=self.pid_file, command=self.reload_command)
        return changed

"""A worker's own state directory: the first free numbered slot, held by a file lock.

Faust keeps each worker's RocksDB files under its ``datadir``, and RocksDB refuses a
directory another process has open. Each worker therefore locks the first free slot
``ROOT/0``, ``ROOT/1``, ... for its lifetime (an advisory ``flock``, released by the kernel
when the process dies, SIGKILL included). Several workers on one host need no flags, and a
restarted worker usually gets its old slot back, with its RocksDB files: recovery then reads
only the changelog written since.

Examples
--------
>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> a, b = StateSlot.acquire(root), StateSlot.acquire(root)
>>> a.path.name, b.path.name
('0', '1')
>>> a.release()
>>> StateSlot.acquire(root).path.name
'0'
"""

from __future__ import annotations

import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["StateSlot"]

logger = logging.getLogger(__name__)

#: More slots than workers one host could sensibly run.
MAX_SLOTS = 256


@dataclass
class StateSlot:
    """A locked state directory; the lock lives as long as this object's file descriptor."""

    path: Path
    fd: int

    @classmethod
    def acquire(cls, root: Path) -> StateSlot:
        """Lock and return the first free slot under ``root`` (created as needed).

        Raises
        ------
        OSError
            If all :data:`MAX_SLOTS` slots are taken.
        """
        root.mkdir(parents=True, exist_ok=True)
        for n in range(MAX_SLOTS):
            path = root / str(n)
            path.mkdir(exist_ok=True)
            fd = os.open(path / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            logger.debug("state slot %s locked", path)
            return cls(path, fd)
        raise OSError(f"no free state slot under {root}")

    def release(self) -> None:
        """Unlock the slot (the process exiting does the same)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

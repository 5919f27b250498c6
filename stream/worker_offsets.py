"""Keeping a partition's records contiguous: what the worker does when offsets jump ahead.

A partition's state holds every record before its next offset (:mod:`stream.checkpoint`), so
the next record it is given must be exactly that offset. Kafka does not guarantee the
consumer gets it: Faust clears its stream buffers whenever it resumes flow, and it resumes
flow once more after seeking a freshly assigned partition to its committed offset
(``Recovery.on_recovery_completed``), so records fetched in between are dropped while the
fetch position has moved past them, never to be fetched again. A table restored from a
changelog that is behind the committed offset would jump ahead the same way. Either way,
handling the next record would silently give the partition a state that lacks records.

:class:`OffsetGuard` is the rule the worker applies to each record: at or behind the next
offset, handle it (the processor skips records behind it); ahead of it, seek back to the next
offset and drop the partition's records until the missing ones come. Records that were
already buffered keep coming after the seek, ahead of the next offset: each batch of them
seeks back again (cheap; Faust may have passed more of them on after the seek, which moves
its read offset past the records fetched again), until the re-fetched records arrive. Only
if the first record past
the jump comes *again* after a seek back is the jump real (offsets that compaction or a
transaction marker left out of the log): then it is accepted, loudly. A partition that
cannot be made contiguous stops the worker rather than run on with a state that lacks
records.

Examples
--------
>>> guard = OffsetGuard()
>>> guard.check(0, expected=10, offset=10, now=0.0)
'handle'
>>> guard.check(0, expected=11, offset=40, now=0.0)  # 11..39 lost on the way: fetch again
'rewind'
>>> guard.check(0, expected=11, offset=95, now=0.1)  # more of what was buffered before
'rewind'
>>> guard.check(0, expected=11, offset=11, now=0.2)  # fetched again
'handle'
>>> [guard.check(1, expected=5, offset=9, now=0.0) for _ in "ab"]  # 5..8 are not in the log
['rewind', 'accept']
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from stream.exceptions import StreamError

__all__ = ["OffsetGuard", "Verdict"]

logger = logging.getLogger(__name__)

#: ``handle`` the record, ``rewind`` (seek back to the expected offset and drop the
#: partition's records until it comes) or ``accept`` a jump that seeking back does not mend.
Verdict = Literal["handle", "rewind", "accept"]


@dataclass
class _Jump:
    expected: int
    #: The first offset past the gap that was delivered.
    first: int
    #: When the jump was first seen (the caller's clock).
    since: float
    seeks: int = 0


class OffsetGuard:
    """Per-partition check that each handled record is the partition's next one.

    Parameters
    ----------
    give_up_after_s
        Seconds of seeking back to one offset without getting it before giving up
        (:class:`~stream.exceptions.StreamError`); draining a full stream buffer a batch at a
        time takes seconds.
    """

    def __init__(self, give_up_after_s: float = 300.0) -> None:
        self.give_up_after_s = give_up_after_s
        #: Partitions waiting for records after a jump: :meth:`check` every record of these.
        self.pending: dict[int, _Jump] = {}
        #: Records turned back for being ahead (the worker's log line; most cause a seek).
        self.rewinds = 0

    def check(self, partition: int, expected: int, offset: int, *, now: float) -> Verdict:
        """What to do with the record at ``offset`` when the state's next offset is ``expected``.

        ``now`` is the caller's clock (seconds). Raises :class:`~stream.exceptions.StreamError`
        once seeking back has not brought ``expected`` for ``give_up_after_s``.
        """
        jump = self.pending.get(partition)
        if offset <= expected:
            if jump is not None and offset == expected:
                del self.pending[partition]
                logger.info(
                    "partition %d: offsets from %d fetched again after %d seeks back",
                    partition, offset, jump.seeks,
                )  # fmt: skip
            return "handle"
        if jump is None or jump.expected != expected:
            jump = self.pending[partition] = _Jump(expected, offset, now)
            logger.warning(
                "partition %d: got offset %d, expected %d: records %d..%d never reached the "
                "worker; seeking back to %d",
                partition, offset, expected, expected, offset - 1, expected,
            )  # fmt: skip
        elif offset == jump.first:  # past the jump again, from the log itself
            del self.pending[partition]
            logger.error(
                "partition %d: offsets %d..%d are not in the log (a seek back to %d "
                "fetched offset %d again): the state goes on without them",
                partition, expected, offset - 1, expected, offset,
            )  # fmt: skip
            return "accept"
        if now - jump.since > self.give_up_after_s:
            raise StreamError(
                f"partition {partition}: {jump.seeks} seeks back to offset {expected} in "
                f"{now - jump.since:.0f} s did not bring it (offset {offset} came instead); "
                "stopping rather than skip records"
            )
        jump.seeks += 1
        self.rewinds += 1
        return "rewind"

    def forget(self, partition: int) -> None:
        """Drop what is known of ``partition`` (revoked or reloaded)."""
        self.pending.pop(partition, None)

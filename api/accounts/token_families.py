"""Refresh-token rotation with reuse detection and a reuse grace: one token family per login.

Every password login starts a family (its id is the tokens' ``sid`` claim). The family row
holds the ``jti`` of the one refresh token that may still be used; using it swaps in the
``jti`` of its successor, so each refresh token works once. A refresh token of the family
that is not the current one has been used already: presenting it again is a replay (someone
holds a copy), and the whole family is revoked, so the thief and the legitimate client both
have to log in again (RFC 9700 section 4.14.2). Logout revokes the family the same way.

**Reuse grace.** Two tabs of one dashboard session, or a client whose refresh response was
lost on the network, present the same refresh token twice within seconds; taken as theft, that
signs a nurse out mid-shift. So for ``reuse_grace_s`` seconds after a rotation (counted from
the successor's ``iat``), presenting the token that rotation spent, and only that immediate
predecessor, is not a replay: :meth:`TokenFamilies.rotate` answers ``reused`` with the
successor the rotation made, and the token endpoint mints that same refresh token again (same
``jti``, ``sid``, ``iat`` and ``exp``: the same bytes) with an access token expiring when the
rotation's did. Nothing rotates, so one refresh token stays current at any time (the
predecessor, for those seconds, only leads back to it and cannot move the chain), both holders
converge on it, and their next refreshes fall together again. Returning a new
successor instead (Auth0's reuse interval does) would leave two tokens live or strand the
first tab's. An older token, the predecessor after the interval, and every token of a revoked
family behave as without grace; ``reuse_grace_s=0`` turns it off. The price is the window
itself: a thief who replays the predecessor within those seconds gets the current token too,
which is why the interval is short (the API caps it at 60 s, as Amazon Cognito caps its retry
grace period); the legitimate holder and the thief then share one chain, and the first
refresh of it that the other misses by more than the interval revokes the family.

The rows live in the registry database beside the users, so every API process sharing that
database sees a spent token as spent, and a restart forgets nothing. Only identifiers and
times are stored, never a token. The swap is one conditional ``UPDATE``: of two concurrent
uses of one token, exactly one rotates. Whoever loses reads the row locked (``SELECT ... FOR
UPDATE`` on PostgreSQL; on SQLite the failed ``UPDATE`` already holds the database's write
lock) and decides reuse, replay or revoked from it in the same transaction, so no rotation can
slip in between what was read and what is answered. A family is pruned once its session's
absolute end has passed: by then every token of it has expired anyway.

Examples
--------
>>> from ingest.registry import Registry
>>> from api.accounts.users import Accounts
>>> reg = Registry("sqlite://")
>>> _ = Accounts(reg.session).add_user("nurse", "correct horse", role="clinician")
>>> families = TokenFamilies(reg.session, reuse_grace_s=30)
>>> sid = families.start("nurse", first_jti="r1", expires_at=3600, now=0)
>>> families.rotate(sid, spent_jti="r1", next_jti="r2", now=60)
Rotation(outcome='rotated', successor=Successor(jti='r2', issued_at=60))
>>> families.rotate(sid, spent_jti="r1", next_jti="r3", now=75)  # r1 again, 15 s later
Rotation(outcome='reused', successor=Successor(jti='r2', issued_at=60))
>>> families.rotate(sid, spent_jti="r2", next_jti="r4", now=900).outcome
'rotated'
>>> families.rotate(sid, spent_jti="r2", next_jti="r5", now=960).outcome  # 60 s: too late
'replayed'
>>> families.rotate(sid, spent_jti="r4", next_jti="r6", now=961).outcome, families.is_active(sid)
('revoked', False)
>>> families.prune(now=3601)
1

References
----------
RFC 9700, OAuth 2.0 Security Best Current Practice (2025), section 4.14 (refresh tokens).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, delete, update
from sqlalchemy.orm import Session

from api.accounts.schema import TokenFamilyRow
from api.security import new_token_id

__all__ = ["Outcome", "Rotation", "Successor", "TokenFamilies"]

logger = logging.getLogger(__name__)

#: What :meth:`TokenFamilies.rotate` did: ``rotated`` (the token was current and is now
#: spent), ``reused`` (it was spent by the last rotation, within the grace interval: nothing
#: changed), ``replayed`` (it was spent otherwise: the family is now revoked), ``revoked``
#: (the family was revoked before), ``unknown`` (no such family: pruned, or never issued here).
Outcome = Literal["rotated", "reused", "replayed", "revoked", "unknown"]


@dataclass(frozen=True, slots=True)
class Successor:
    """The family's current refresh token: its ``jti`` and its ``iat`` (epoch seconds)."""

    jti: str
    issued_at: int


@dataclass(frozen=True, slots=True)
class Rotation:
    """The outcome of presenting a refresh token, and the token to answer with (if any).

    ``successor`` is set for ``rotated`` and ``reused``: the refresh token the client gets
    back, the same one for both.
    """

    outcome: Outcome
    successor: Successor | None = None


def _at(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def _rowcount(result: object) -> int:
    # DML through Session.execute returns a CursorResult; its type says only Result.
    return cast(CursorResult[Any], result).rowcount


class TokenFamilies:
    """The refresh-token families of every login, in the registry database.

    Parameters
    ----------
    sessions
        Session factory bound to the registry engine (e.g. ``Registry.session``).
    reuse_grace_s
        Seconds after a rotation during which the token it spent may be presented again
        (``VIGIL_REFRESH_REUSE_GRACE_SECONDS``); 0, the default here, makes every second use
        a replay.
    """

    def __init__(self, sessions: Callable[[], Session], *, reuse_grace_s: float = 0) -> None:
        if reuse_grace_s < 0:
            raise ValueError("reuse_grace_s must be >= 0")
        self._sessions = sessions
        self.reuse_grace_s = reuse_grace_s

    def start(self, username: str, *, first_jti: str, expires_at: float, now: float) -> str:
        """Open a family for a new login whose first refresh token is ``first_jti``; return
        its id. The session ends at ``expires_at`` (epoch seconds) whatever the rotations.

        Families whose sessions are over are pruned here, so the table holds about one row
        per login of the last ``refresh_token_hours``.
        """
        family_id = new_token_id()
        with self._sessions() as session, session.begin():
            pruned = self._prune(session, now)
            session.add(
                TokenFamilyRow(
                    family_id=family_id,
                    username=username,
                    current_jti=first_jti,
                    expires_at=int(expires_at),
                    created_at=_at(now),
                )
            )
        if pruned:
            logger.info("pruned %d ended token families", pruned)
        return family_id

    def rotate(self, family_id: str, *, spent_jti: str, next_jti: str, now: float) -> Rotation:
        """Spend refresh token ``spent_jti`` of ``family_id`` and make ``next_jti`` current.

        The successor is issued at ``int(now)``: mint its token with that ``iat``. A
        ``spent_jti`` that the last rotation spent less than ``reuse_grace_s`` ago is
        ``reused``: nothing changes and the current token is the successor. Any other
        ``spent_jti`` that is not the family's current token is a replay: the family is
        revoked in the same transaction.
        """
        issued_at = int(now)
        with self._sessions() as session, session.begin():
            swapped = session.execute(
                update(TokenFamilyRow)
                .where(
                    TokenFamilyRow.family_id == family_id,
                    TokenFamilyRow.current_jti == spent_jti,
                    TokenFamilyRow.revoked_at.is_(None),
                )
                .values(current_jti=next_jti, previous_jti=spent_jti, rotated_at=issued_at)
                .execution_options(synchronize_session=False)
            )
            if _rowcount(swapped) == 1:
                return Rotation("rotated", Successor(next_jti, issued_at))
            # Locked until commit: no other rotation may move the chain under this decision.
            row = session.get(TokenFamilyRow, family_id, with_for_update=True)
            if row is None:
                return Rotation("unknown")
            if row.revoked_at is not None:
                return Rotation("revoked")
            successor = self._reusable(row, spent_jti, now)
            if successor is not None:
                logger.info("refresh token reused within the grace: token family %s", family_id)
                return Rotation("reused", successor)
            row.revoked_at = _at(now)
        logger.warning("refresh token replayed: revoked token family %s", family_id)
        return Rotation("replayed")

    def _reusable(self, row: TokenFamilyRow, spent_jti: str, now: float) -> Successor | None:
        """The current token if ``spent_jti`` is the one the last rotation spent, less than
        ``reuse_grace_s`` ago; else ``None`` (a replay)."""
        if (
            self.reuse_grace_s <= 0
            or row.previous_jti != spent_jti
            or row.rotated_at is None
            or now - row.rotated_at >= self.reuse_grace_s
        ):
            return None
        return Successor(row.current_jti, row.rotated_at)

    def revoke(self, family_id: str, *, now: float) -> bool:
        """Revoke every token of ``family_id`` (logout); return whether it was live."""
        with self._sessions() as session, session.begin():
            result = session.execute(
                update(TokenFamilyRow)
                .where(TokenFamilyRow.family_id == family_id, TokenFamilyRow.revoked_at.is_(None))
                .values(revoked_at=_at(now))
                .execution_options(synchronize_session=False)
            )
            return _rowcount(result) == 1

    def is_active(self, family_id: str) -> bool:
        """Whether ``family_id`` exists and is not revoked (one primary-key read)."""
        with self._sessions() as session:
            row = session.get(TokenFamilyRow, family_id)
            return row is not None and row.revoked_at is None

    def prune(self, *, now: float) -> int:
        """Delete the families whose sessions ended before ``now``; return how many."""
        with self._sessions() as session, session.begin():
            return self._prune(session, now)

    @staticmethod
    def _prune(session: Session, now: float) -> int:
        result = session.execute(
            delete(TokenFamilyRow)
            .where(TokenFamilyRow.expires_at < now)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result)

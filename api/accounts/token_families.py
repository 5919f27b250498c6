"""Refresh-token rotation with reuse detection: one token family per login.

Every password login starts a family (its id is the tokens' ``sid`` claim). The family row
holds the ``jti`` of the one refresh token that may still be used; using it swaps in the
``jti`` of its successor, so each refresh token works once. A refresh token of the family
that is not the current one has been used already: presenting it again is a replay (someone
holds a copy), and the whole family is revoked, so the thief and the legitimate client both
have to log in again (RFC 9700 section 4.14.2). Logout revokes the family the same way.

The rows live in the registry database beside the users, so every API process sharing that
database sees a spent token as spent, and a restart forgets nothing. The swap is one
conditional ``UPDATE``: of two concurrent uses of one token, exactly one wins and the other
counts as a replay. Only identifiers are stored, never a token. A family is pruned once its
session's absolute end has passed: by then every token of it has expired anyway.

Examples
--------
>>> from ingest.registry import Registry
>>> from api.accounts.users import Accounts
>>> reg = Registry("sqlite://")
>>> _ = Accounts(reg.session).add_user("nurse", "correct horse", role="clinician")
>>> families = TokenFamilies(reg.session)
>>> sid = families.start("nurse", first_jti="r1", expires_at=3600, now=0)
>>> families.rotate(sid, spent_jti="r1", next_jti="r2", now=60)
'rotated'
>>> families.rotate(sid, spent_jti="r1", next_jti="r3", now=120)  # r1 again: a replay
'replayed'
>>> families.rotate(sid, spent_jti="r2", next_jti="r4", now=180), families.is_active(sid)
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
from datetime import UTC, datetime
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, delete, update
from sqlalchemy.orm import Session

from api.accounts.schema import TokenFamilyRow
from api.security import new_token_id

__all__ = ["Rotation", "TokenFamilies"]

logger = logging.getLogger(__name__)

#: What :meth:`TokenFamilies.rotate` did: ``rotated`` (the token was current and is now
#: spent), ``replayed`` (it was already spent: the family is now revoked), ``revoked`` (the
#: family was revoked before), ``unknown`` (no such family: pruned, or never issued here).
Rotation = Literal["rotated", "replayed", "revoked", "unknown"]


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
    """

    def __init__(self, sessions: Callable[[], Session]) -> None:
        self._sessions = sessions

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

        A ``spent_jti`` that is not the family's current token is a replay: the family is
        revoked in the same transaction.
        """
        with self._sessions() as session, session.begin():
            swapped = session.execute(
                update(TokenFamilyRow)
                .where(
                    TokenFamilyRow.family_id == family_id,
                    TokenFamilyRow.current_jti == spent_jti,
                    TokenFamilyRow.revoked_at.is_(None),
                )
                .values(current_jti=next_jti)
                .execution_options(synchronize_session=False)
            )
            if _rowcount(swapped) == 1:
                return "rotated"
            row = session.get(TokenFamilyRow, family_id)
            if row is None:
                return "unknown"
            if row.revoked_at is not None:
                return "revoked"
            row.revoked_at = _at(now)
        logger.warning("refresh token replayed: revoked token family %s", family_id)
        return "replayed"

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

"""One action at a time per alert across processes, on InfluxDB: claims in server-time order.

Two clinicians acknowledging the same alert at once must get one acknowledgement and one
refusal (409). InfluxDB 2 has no transactions and no compare-and-set, and several API
processes share one server, so an in-process lock is not enough. :class:`ClaimLock` orders
the actions on an alert by *claims* written to InfluxDB itself::

    alert_claims   tags   shard (first two characters of alert_id, as alerts_by_id)
                   fields alert_id, token (random), kind (claim | release)
                   time   stamped by the server on receipt (the line carries no time)

To act on an alert a process

1. writes a ``claim`` point with a fresh token (synchronously: when the write returns the
   point is readable by every later query, :ref:`influxdb-writes`);
2. reads the alert's recent claims and the server's ``now()`` (:func:`claims_query`). If its
   own claim was not readable until :data:`SETTLE_S` or more after its stamp, the claim is
   *late*: it is released and the process starts again with a new one;
3. once the server clock is past its stamp + ``SETTLE_S``, reads again: every claim ahead of
   it (earlier stamp, then smaller token) that is neither released nor older than
   :data:`LEASE_S` must finish first (it polls). With none left it *holds* the alert: the
   store checks the action against the alert's state and records it, and then the process
   writes a ``release`` point with its token. A claim that would come to hold with less
   than ``SETTLE_S`` left before its :attr:`Hold.deadline` (too little for the store's
   query and write) is released instead, and the process claims again with a fresh deadline.

Why two processes never hold the same alert: say claims 1 and 2 both hold, 1 ahead of 2
(``t1 <= t2``). Claim 1 was not late, so it was readable before a query stamped
``now < t1 + SETTLE``; claim 2 held at a query stamped ``now >= t2 + SETTLE >= t1 + SETTLE``,
later on the one server clock, so that query saw claim 1, unreleased. It held anyway only if
claim 1 was older than ``LEASE_S`` by then; but a holder writes only until half its lease
has passed (:attr:`Hold.deadline`, on the local monotonic clock started *before* its claim
was sent) and a write then times out within the other half, so claim 1's writes had all
returned. The second holder therefore reads every effect of the first and its check refuses
a second ``ack`` exactly as the SQLite store's lock does.

A process that dies holding a claim delays the alert's next action by at most ``LEASE_S``.
Every action waits ``SETTLE_S`` (the price of ordering by a clock), and claims stay in the
alerts bucket (two small points per action; the bucket keeps everything).

Assumptions: one InfluxDB server whose clock does not step backwards, and clocks that tick
at the same rate (NTP slews). Two points of one ``shard`` stamped in the same nanosecond
overwrite each other: the overwritten claim's writer no longer finds its token and starts
again; a claim overwritten only after its writer came to hold (its rival's write then took
longer than ``SETTLE_S``) could let a later claim through. That needs a nanosecond tie and a
stalled write at once.

.. _influxdb-writes: https://docs.influxdata.com/influxdb/v2/write-data/troubleshoot/

Examples
--------
>>> rows = [{"kind": "now", "token": "", "ns": "2000"},
...         {"kind": "claim", "token": "b", "ns": "900"},
...         {"kind": "claim", "token": "a", "ns": "1000"}]
>>> decide(rows, "a", fresh=False, settle_ns=500, lease_ns=10_000)
Verdict(state='wait', wait_s=0.05)
>>> decide(rows + [{"kind": "release", "token": "b", "ns": "1900"}], "a", fresh=False,
...        settle_ns=500, lease_ns=10_000)
Verdict(state='held', wait_s=0.0)
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, Literal

from alerts.exceptions import StoreError, StoreUnavailable
from alerts.store.flux import FAR_FUTURE_NS, string
from alerts.store.projections import alert_shard
from alerts.store.schema import line_protocol, string_field

__all__ = [
    "ATTEMPTS",
    "CLAIMS",
    "LEASE_S",
    "POLL_S",
    "SETTLE_S",
    "ClaimLock",
    "Hold",
    "Verdict",
    "claim_line",
    "claims_query",
    "decide",
]

logger = logging.getLogger(__name__)

CLAIMS: Final = "alert_claims"
#: How soon after its stamp a claim must be readable, how long every claim waits before
#: it may hold, and how much time a hold must leave its holder before the deadline: a write
#: and a query's round trip, with a wide margin for a busy server (a slower claim is only
#: retried, never trusted). Must be under a quarter of the lease.
SETTLE_S: Final = 0.5
#: How long an unreleased claim blocks the ones behind it (a crashed writer's claim). Must be
#: at least twice the store's HTTP timeout (see :attr:`Hold.deadline`).
LEASE_S: Final = 30.0
#: How often a claim waiting behind another reads the claims again.
POLL_S: Final = 0.05
#: Claims a process writes for one action before it answers "unavailable" (503).
ATTEMPTS: Final = 5

Kind = Literal["claim", "release"]


def claim_line(alert_id: str, token: str, kind: Kind = "claim") -> str:
    """Line protocol of a claim (or its release), with no time: the server stamps it.

    Examples
    --------
    >>> claim_line("4f1e", "9c2b")
    'alert_claims,shard=4f alert_id="4f1e",token="9c2b",kind="claim"'
    """
    fields = {
        "alert_id": string_field(alert_id),
        "token": string_field(token),
        "kind": string_field(kind),
    }
    return line_protocol(CLAIMS, {"shard": alert_shard(alert_id)}, fields, None)


def claims_query(bucket: str, alert_id: str, lease_ns: int) -> str:
    """The alert's claims and releases of the last lease, and a ``now`` row (server time).

    Every row has ``kind`` (claim, release or now), ``token`` and ``ns`` (epoch ns).
    """
    shard = string(alert_shard(alert_id))
    return f"""import "array"

claims = from(bucket: {string(bucket)})
  |> range(start: -{lease_ns}ns, stop: time(v: {FAR_FUTURE_NS}))
  |> filter(fn: (r) => r._measurement == "{CLAIMS}" and r.shard == {shard})
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> filter(fn: (r) => r.alert_id == {string(alert_id)})
  |> map(fn: (r) => ({{r with ns: int(v: r._time)}}))
  |> keep(columns: ["kind", "token", "ns"])
  |> group()
clock = array.from(rows: [{{kind: "now", token: "", ns: int(v: now())}}])
union(tables: [claims, clock])"""


@dataclass(frozen=True)
class Verdict:
    """What a claim's writer does next: ``held``, ``wait`` (``wait_s``), or ``retry``."""

    state: Literal["held", "wait", "retry"]
    wait_s: float = 0.0


def decide(
    rows: Sequence[Mapping[str, str]],
    token: str,
    *,
    fresh: bool,
    settle_ns: int,
    lease_ns: int,
    poll_s: float = POLL_S,
) -> Verdict:
    """Whether the claim ``token`` holds its alert, given one :func:`claims_query` answer.

    ``fresh`` marks the first read after the claim's write returned: the one that tells
    whether the claim became readable in time (else ``retry``). A claim that is missing
    (overwritten) is retried too.

    Examples
    --------
    >>> rows = [{"kind": "now", "token": "", "ns": "1000"},
    ...         {"kind": "claim", "token": "a", "ns": "900"}]
    >>> decide(rows, "a", fresh=True, settle_ns=500, lease_ns=10_000)
    Verdict(state='wait', wait_s=4e-07)
    >>> decide(rows, "a", fresh=True, settle_ns=50, lease_ns=10_000).state  # late
    'retry'
    """
    clock = [int(r["ns"]) for r in rows if r["kind"] == "now"]
    if not clock:
        raise StoreError("influxdb claims: the answer has no server time")
    now_ns = clock[0]
    claims = {r["token"]: int(r["ns"]) for r in rows if r["kind"] == "claim"}
    released = {r["token"] for r in rows if r["kind"] == "release"}
    if token not in claims:
        return Verdict("retry")
    mine = (claims[token], token)
    if fresh and now_ns - mine[0] >= settle_ns:
        return Verdict("retry")
    if now_ns < mine[0] + settle_ns:
        return Verdict("wait", (mine[0] + settle_ns - now_ns) / 1e9)
    ahead = [
        other
        for other, ns in claims.items()
        if (ns, other) < mine and other not in released and ns + lease_ns > now_ns
    ]
    return Verdict("wait", poll_s) if ahead else Verdict("held")


@dataclass(frozen=True)
class Hold:
    """A held alert: ``token`` of the claim, and the monotonic time after which the holder
    must not start a write (half the lease after its claim was sent)."""

    alert_id: str
    token: str
    deadline: float


class ClaimLock:
    """Per-alert mutual exclusion between processes sharing one InfluxDB.

    Parameters
    ----------
    write
        Writes line protocol synchronously (the store's, with its error translation).
    query
        Runs a Flux query and returns its rows; must not share answers between callers.
    bucket
        Where claims are kept (the alerts bucket).
    settle_s, lease_s, poll_s, attempts
        See :data:`SETTLE_S`, :data:`LEASE_S`, :data:`POLL_S`, :data:`ATTEMPTS`.
    sleep, monotonic
        The clock (tests may speed it up).
    """

    def __init__(
        self,
        *,
        write: Callable[[list[str]], None],
        query: Callable[[str], list[dict[str, str]]],
        bucket: str,
        settle_s: float = SETTLE_S,
        lease_s: float = LEASE_S,
        poll_s: float = POLL_S,
        attempts: int = ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < settle_s < lease_s / 4:
            raise ValueError("settle_s must be positive and under a quarter of lease_s")
        self._write = write
        self._query = query
        self.bucket = bucket
        self.settle_s = settle_s
        self.settle_ns = round(settle_s * 1e9)
        self.lease_s = lease_s
        self.lease_ns = round(lease_s * 1e9)
        self.poll_s = poll_s
        self.attempts = attempts
        self._sleep = sleep
        self._monotonic = monotonic
        self._held = threading.local()  # the calling thread's Hold while its body runs

    @contextmanager
    def hold(self, alert_id: str) -> Iterator[Hold]:
        """Hold ``alert_id`` for the body, then release it.

        Raises
        ------
        StoreUnavailable
            If no claim came to hold in :data:`ATTEMPTS` tries, or InfluxDB failed.
        """
        held = None
        for _ in range(self.attempts):
            held = self._acquire(alert_id)
            if held is not None:
                break
        if held is None:
            raise StoreUnavailable(f"influxdb: alert {alert_id} stayed busy; try again")
        self._held.hold = held
        try:
            yield held
        finally:
            self._held.hold = None
            self._release(alert_id, held.token)

    def check_write(self) -> None:
        """Refuse a write of the calling thread's held action once its deadline has passed.

        Past half its lease another process may soon treat the claim as expired, while a
        write started now could still land. Nothing is written; the client may try again.

        Raises
        ------
        StoreUnavailable
            If the calling thread holds an alert and its :attr:`Hold.deadline` has passed.
        """
        held: Hold | None = getattr(self._held, "hold", None)
        if held is not None and self._monotonic() >= held.deadline:
            raise StoreUnavailable(f"influxdb write: claim on alert {held.alert_id} ran out")

    def _acquire(self, alert_id: str) -> Hold | None:
        """One claim: its hold, or ``None`` if it was late, lost or waited too long."""
        token = secrets.token_hex(8)
        deadline = self._monotonic() + self.lease_s / 2  # before the claim leaves
        self._write([claim_line(alert_id, token)])
        try:
            return self._await(alert_id, token, deadline)
        except BaseException:
            self._release(alert_id, token)  # do not leave it blocking others for a lease
            raise

    def _await(self, alert_id: str, token: str, deadline: float) -> Hold | None:
        fresh = True
        while True:
            rows = self._query(claims_query(self.bucket, alert_id, self.lease_ns))
            verdict = decide(
                rows,
                token,
                fresh=fresh,
                settle_ns=self.settle_ns,
                lease_ns=self.lease_ns,
                poll_s=self.poll_s,
            )
            fresh = False
            # A hold must leave the body its query and its write (what SETTLE_S budgets):
            # one that came with less would only have its write refused (check_write).
            last_start = deadline - self.settle_s
            if verdict.state == "held" and self._monotonic() < last_start:
                return Hold(alert_id, token, deadline)
            if verdict.state != "wait" or self._monotonic() + verdict.wait_s >= last_start:
                logger.info("claim on alert %s not held (%s); claiming again", alert_id, verdict)
                self._release(alert_id, token)
                return None
            self._sleep(verdict.wait_s)

    def _release(self, alert_id: str, token: str) -> None:
        try:
            self._write([claim_line(alert_id, token, "release")])
        except StoreError:
            # The claim then blocks the alert until its lease ends; the action itself stands.
            logger.warning("could not release claim on alert %s", alert_id)

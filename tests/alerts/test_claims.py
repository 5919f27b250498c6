"""The claim protocol's decisions (pure): who holds an alert, who waits, who claims again.

The protocol against the real InfluxDB is tested in ``test_store_influx.py``.
"""

from __future__ import annotations

import pytest

from alerts.exceptions import StoreError
from alerts.store.claims import ClaimLock, Verdict, claim_line, claims_query, decide

SETTLE = 500
LEASE = 10_000


def rows(
    now: int, *claims: tuple[str, int], released: tuple[str, ...] = ()
) -> list[dict[str, str]]:
    out = [{"kind": "now", "token": "", "ns": str(now)}]
    out += [{"kind": "claim", "token": token, "ns": str(ns)} for token, ns in claims]
    out += [{"kind": "release", "token": token, "ns": str(now - 1)} for token in released]
    return out


def verdict(answer: list[dict[str, str]], claim: str = "mine", *, fresh: bool = False) -> Verdict:
    return decide(answer, claim, fresh=fresh, settle_ns=SETTLE, lease_ns=LEASE, poll_s=0.05)


def test_a_lone_settled_claim_holds() -> None:
    assert verdict(rows(2000, ("mine", 1000))) == Verdict("held")


def test_a_claim_not_yet_settled_waits_until_its_stamp_plus_settle() -> None:
    assert verdict(rows(1200, ("mine", 1000)), fresh=True) == Verdict("wait", 300 / 1e9)


def test_a_claim_readable_only_after_settle_is_late_and_claims_again() -> None:
    # Its writer cannot know that an earlier reader missed it: it must not be trusted.
    assert verdict(rows(1500, ("mine", 1000)), fresh=True).state == "retry"


def test_a_claim_that_is_missing_claims_again() -> None:
    assert verdict(rows(2000, ("other", 1000))).state == "retry"


def test_an_earlier_unreleased_claim_goes_first() -> None:
    assert verdict(rows(2000, ("other", 900), ("mine", 1000))) == Verdict("wait", 0.05)


def test_an_earlier_released_or_expired_claim_no_longer_blocks() -> None:
    assert verdict(rows(2000, ("other", 900), ("mine", 1000), released=("other",))).state == "held"
    assert verdict(rows(900 + LEASE, ("other", 900), ("mine", 1000))).state == "held"


def test_later_claims_do_not_block_and_equal_stamps_are_ordered_by_token() -> None:
    assert verdict(rows(2000, ("mine", 1000), ("other", 1001))).state == "held"
    assert verdict(rows(2000, ("a", 1000), ("mine", 1000))).state == "wait"
    assert verdict(rows(2000, ("z", 1000), ("mine", 1000))).state == "held"


def test_claims_of_every_decision_agree_on_one_holder() -> None:
    answer = rows(5000, ("c", 1300), ("a", 1200), ("b", 1200))
    holders = [t for t in "abc" if verdict(answer, t).state == "held"]
    assert holders == ["a"]


def test_claim_lines_carry_no_time_so_the_server_stamps_them() -> None:
    line = claim_line("4f1e", "9c2b", "release")
    assert line == 'alert_claims,shard=4f alert_id="4f1e",token="9c2b",kind="release"'


def test_the_claims_query_quotes_the_alert_id() -> None:
    text = claims_query("vigil", 'a"b', LEASE)
    assert 'r.alert_id == "a\\"b"' in text and "now()" in text


def test_a_settle_time_of_half_the_lease_or_more_is_refused() -> None:
    def never(*_: object) -> list[dict[str, str]]:
        raise AssertionError("not called")

    with pytest.raises(ValueError, match="settle_s"):
        ClaimLock(write=never, query=never, bucket="b", settle_s=5.0, lease_s=10.0)


def test_an_answer_without_the_server_clock_is_a_store_error() -> None:
    with pytest.raises(StoreError):
        verdict([{"kind": "claim", "token": "mine", "ns": "1000"}])


class FakeServer:
    """The claims of one alert on a server whose clock is the test's (pure, no I/O)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.points: list[dict[str, str]] = []

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def write(self, lines: list[str]) -> None:
        for line in lines:
            token = line.split('token="')[1].split('"')[0]
            kind = line.split('kind="')[1].split('"')[0]
            self.points.append({"kind": kind, "token": token, "ns": str(round(self.now * 1e9))})

    def query(self, _: str) -> list[dict[str, str]]:
        self.now += 0.01  # a round trip
        return [{"kind": "now", "token": "", "ns": str(round(self.now * 1e9))}, *self.points]


def test_a_claim_that_would_hold_too_near_its_deadline_claims_again() -> None:
    # A crashed writer's claim expires 1.8 s in; the first claim's deadline is at 2.0 s,
    # which leaves too little for the action's own query and write: it claims afresh.
    server = FakeServer()
    server.points.append({"kind": "claim", "token": "dead", "ns": str(round(-2.2e9))})
    lock = ClaimLock(
        write=server.write,
        query=server.query,
        bucket="b",
        settle_s=0.5,
        lease_s=4.0,
        sleep=server.sleep,
        monotonic=lambda: server.now,
    )
    with lock.hold("4f1e") as held:
        assert held.deadline - server.now >= 0.5
        lock.check_write()  # the body's write is allowed
    claims = [p["token"] for p in server.points if p["kind"] == "claim"]
    released = [p["token"] for p in server.points if p["kind"] == "release"]
    assert claims[0] == "dead" and len(claims) == 3 and released == claims[1:]

"""LoginThrottle, the pure part of password-guess throttling (no hub, the time is passed)."""

from __future__ import annotations

import pytest

from ircd.irc import throttle
from ircd.irc.throttle import LoginThrottle


def test_pair_lockout_doubles_and_is_forgotten_after_success() -> None:
    t = LoginThrottle(per_minute=3, account_per_minute=100)
    for i in range(3):
        assert t.blocked(i, "a", "acct") == 0
        t.failed(i, "a", "acct")
    assert t.blocked(3, "a", "acct") == 2 + 60  # locked a minute from the third failure
    assert t.blocked(3, "b", "acct") == 0 and t.blocked(3, "a", "other") == 0
    for i in range(3):
        t.failed(70 + i, "a", "acct")
    assert t.blocked(73, "a", "acct") == 72 + 120  # the second lockout lasts twice as long
    t.succeeded("a", "acct")
    assert t.blocked(74, "a", "acct") == 0


def test_account_wide_limit_spares_addresses_that_never_failed() -> None:
    t = LoginThrottle(per_minute=100, account_per_minute=4)
    for i in range(4):
        t.failed(10, f"10.0.0.{i}", "acct")
    assert t.blocked(11, "10.0.0.1", "acct") == 70
    assert t.blocked(11, "10.9.9.9", "acct") == 0
    assert t.blocked(71, "10.0.0.1", "acct") == 0  # the minute is over


def test_records_are_pruned_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    t = LoginThrottle(per_minute=5, account_per_minute=5)
    t.failed(0, "a", "x")
    t.prune(throttle.FORGET_AFTER + 1)
    assert t.blocked(throttle.FORGET_AFTER + 1, "a", "x") == 0
    assert not t._pairs and not t._accounts
    limit = 100
    monkeypatch.setattr(throttle, "MAX_RECORDS", limit)
    for i in range(3 * limit):
        t.failed(float(i), f"10.{i}", f"acct{i}")
    assert len(t._pairs) <= limit

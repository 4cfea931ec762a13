"""Throttling of password guesses (logins, SASL, OPER), per account and per address.

Two rules, so that an address is never locked out of every account and an account's owner is
never locked out by someone else's guesses:

- per (address, account): after ``per_minute`` failures within a minute that address is
  refused for that account, for a minute, doubling with each lockout up to an hour;
- per account: after ``account_per_minute`` failures within a minute from all addresses
  together, addresses that have already failed for that account are refused until the minute
  has passed. An address with no failures for it is still checked, so the right password from
  elsewhere works.

Refused attempts are not checked at all (no password hashing is spent on them). Pure: the
caller passes the time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

WINDOW = 60.0
FIRST_LOCKOUT = 60.0
MAX_LOCKOUT = 3600.0
FORGET_AFTER = 3600.0  # a record with no failure for this long is dropped
MAX_RECORDS = 50_000  # beyond this, the stalest records are dropped


@dataclass(slots=True)
class _Record:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    lockouts: int = 0
    last: float = 0.0


class LoginThrottle:
    def __init__(self, per_minute: int, account_per_minute: int) -> None:
        self.per_minute = per_minute
        self.account_per_minute = account_per_minute
        self._pairs: dict[tuple[str, str], _Record] = {}
        self._accounts: dict[str, deque[float]] = {}

    def blocked(self, now: float, address: str, account: str) -> float:
        """0 if an attempt may be checked now; else the time when one may."""
        rec = self._pairs.get((address, account))
        if rec is None:
            return 0.0  # never failed for this account from here: always checked
        if rec.locked_until > now:
            return rec.locked_until
        times = self._accounts.get(account)
        if times is not None:
            _expire(times, now)
            if len(times) >= self.account_per_minute:
                return times[0] + WINDOW
        return 0.0

    def failed(self, now: float, address: str, account: str) -> None:
        rec = self._pairs.get((address, account))
        if rec is None:
            if len(self._pairs) >= MAX_RECORDS:
                self.prune(now, force=True)
            rec = self._pairs[(address, account)] = _Record()
        rec.last = now
        rec.failures.append(now)
        _expire(rec.failures, now)
        if len(rec.failures) >= self.per_minute:
            rec.locked_until = now + min(MAX_LOCKOUT, FIRST_LOCKOUT * 2**rec.lockouts)
            rec.lockouts += 1
            rec.failures.clear()
        times = self._accounts.setdefault(account, deque())
        times.append(now)
        _expire(times, now)

    def succeeded(self, address: str, account: str) -> None:
        self._pairs.pop((address, account), None)

    def prune(self, now: float, force: bool = False) -> None:
        """Forget what no longer matters (called now and then, and when the table is full)."""
        for key, rec in list(self._pairs.items()):
            if now - rec.last > FORGET_AFTER and rec.locked_until <= now:
                del self._pairs[key]
        if force and len(self._pairs) >= MAX_RECORDS:
            stalest = sorted(self._pairs.items(), key=lambda kv: kv[1].last)
            for key, _ in stalest[: len(stalest) // 2]:
                del self._pairs[key]
        for account, times in list(self._accounts.items()):
            _expire(times, now)
            if not times:
                del self._accounts[account]


def _expire(times: deque[float], now: float) -> None:
    while times and now - times[0] >= WINDOW:
        times.popleft()

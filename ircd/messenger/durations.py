"""Parsing of user-typed durations and times (pure functions)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from .errors import InvalidDuration

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"([0-9]+)([dhms])")
_MAX_LEN = 32  # far beyond any sensible duration; keeps int() away from huge digit strings
# The times a client may name (epoch seconds): 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
# Every time in between can be shown in ISO-8601 (server-time) and by datetime; one outside
# (year 1 with a +23:59 offset is in year 0 in UTC) cannot.
MIN_TIME = 0.0
MAX_TIME = 253402300799.0
_MAX_ISO_LEN = 64  # '2026-05-01T12:05:00.000000+00:00' is 32


def parse_duration(text: str) -> int:
    """``"5"`` (minutes, as in the original client), ``"90s"``, ``"15m"``, ``"2h"``, ``"1h30m"``,
    ``"1d"`` -> seconds. Raises InvalidDuration for anything else."""
    s = text.strip().lower()
    if len(s) > _MAX_LEN or not s.isascii():
        raise InvalidDuration(f"{text[:_MAX_LEN]!r}: use minutes (5) or units like 90s, 15m, 2h")
    if s.isdigit():
        minutes = int(s)
        if minutes <= 0:
            raise InvalidDuration(f"{text!r}: must be at least 1 minute")
        return minutes * 60
    if not s or not s[0].isdigit():
        raise InvalidDuration(f"{text!r}: use minutes (5) or units like 90s, 15m, 2h, 1h30m, 1d")
    pos = 0
    total = 0
    seen: set[str] = set()
    for m in _PART.finditer(s):
        if m.start() != pos or m.group(2) in seen:
            break
        seen.add(m.group(2))
        total += int(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise InvalidDuration(f"{text!r}: use minutes (5) or units like 90s, 15m, 2h, 1h30m, 1d")
    if total <= 0:
        raise InvalidDuration(f"{text!r}: must be longer than zero")
    return total


def parse_iso_time(text: str) -> float:
    """An ISO-8601 time -> epoch seconds. A time without a zone is taken as UTC. Raises
    InvalidDuration for anything else, and for a time outside MIN_TIME..MAX_TIME."""
    s = text.strip()
    if len(s) > _MAX_ISO_LEN or not s.isascii():
        raise InvalidDuration(
            f"{text[:_MAX_ISO_LEN]!r}: not an ISO-8601 time like 2026-05-01T12:05Z"
        )
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise InvalidDuration(f"{text!r}: not an ISO-8601 time like 2026-05-01T12:05Z") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        ts = dt.timestamp()
    except (OverflowError, ValueError):  # beyond what the platform can count
        ts = -1.0
    if not MIN_TIME <= ts <= MAX_TIME:
        raise InvalidDuration(f"{text!r}: must be between 1970 and 9999 (UTC)")
    return ts


def format_duration(seconds: float) -> str:
    """3725 -> '1h2m5s'; 0 -> '0s'."""
    s = max(0, round(seconds))
    out = []
    for unit, size in _UNITS.items():
        if s >= size:
            out.append(f"{s // size}{unit}")
            s %= size
    return "".join(out) or "0s"

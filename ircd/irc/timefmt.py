"""Times as the adapter shows them: ``iso_time`` (server-time tags, read markers),
``human_time`` and ``short_time`` (texts for people), all UTC and never raising, whatever time
is stored (``showable``)."""

from __future__ import annotations

from datetime import datetime, timezone

from ..messenger.durations import MAX_TIME, MIN_TIME


def showable(ts: float) -> float:
    """``ts`` brought into the range a time can be shown in (1970 to 9999; NaN: 1970). Times
    from clients are checked where they are parsed (parse_iso_time); this keeps a stored value
    from before that check (a read marker of year 1) from breaking every line that shows it."""
    try:
        ts = float(ts)
    except (TypeError, ValueError):
        return MIN_TIME
    if MIN_TIME <= ts <= MAX_TIME:
        return ts
    return MAX_TIME if ts > MAX_TIME else MIN_TIME


def iso_time(ts: float) -> str:
    """UTC with milliseconds, as server-time wants: 2026-05-01T10:00:00.000Z. Never raises."""
    ms = round(showable(ts) * 1000)
    dt = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def human_time(ts: float) -> str:
    """An unambiguous UTC time for people: '2026-05-01 14:05 UTC'."""
    dt = datetime.fromtimestamp(showable(ts), tz=timezone.utc)
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC")


def short_time(ts: float) -> str:
    return datetime.fromtimestamp(showable(ts), tz=timezone.utc).strftime("%Y-%m-%d %H:%M")

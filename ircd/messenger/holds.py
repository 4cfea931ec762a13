"""Unread ranges kept below a user's delivery cursor ("holds").

A user's ``delivered_seq`` says: every post relevant to the user up to this seq reached a client.
A connection that was only told how many messages were waiting (``set backlog off``, a client
that pulls history itself) acknowledges the live posts it got, but not what was waiting when it
connected: that range stays unread as a hold ``(lo, hi]`` while the cursor moves past it. An
acknowledgement of a connection that did get everything (a plain ack) clears the holds.

Pure functions on plain data, shared by the engine's live path and its replay of the journal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# A user who never pulls keeps at most this many separate ranges; beyond it the two closest are
# merged (the posts between them count as unread again: a repeat, never a loss).
MAX_HOLDS = 16

Hold = tuple[int, int]


def add_hold(holds: list[Hold], lo: int, hi: int) -> None:
    """Add the range (lo, hi] to ``holds`` (sorted, disjoint, not touching), in place."""
    if hi <= lo:
        return
    merged: list[Hold] = []
    for a, b in holds:
        if b < lo or a > hi:  # apart (touching ranges are merged: (1, 3] + (3, 5] = (1, 5])
            merged.append((a, b))
        else:
            lo, hi = min(lo, a), max(hi, b)
    merged.append((lo, hi))
    merged.sort()
    while len(merged) > MAX_HOLDS:
        gaps = [(merged[i + 1][0] - merged[i][1], i) for i in range(len(merged) - 1)]
        _, i = min(gaps)
        merged[i : i + 2] = [(merged[i][0], merged[i + 1][1])]
    holds[:] = merged


def cut_holds(holds: list[Hold], upto: int) -> None:
    """Drop what ``holds`` cover up to ``upto`` (a plain ack of a client that confirmed up
    to there), in place: a range reaching past it keeps (upto, hi]."""
    holds[:] = [(max(lo, upto), hi) for lo, hi in holds if hi > upto]


def in_holds(holds: Iterable[Hold], seq: int) -> bool:
    return any(lo < seq <= hi for lo, hi in holds)


def parse_hold(v: Any) -> Hold:
    """A journaled or snapshotted hold ``[lo, hi]``; ValueError if it is not one."""
    if (
        not isinstance(v, (list, tuple))
        or len(v) != 2
        or any(type(x) is not int or x < 0 for x in v)
        or v[0] > v[1]
    ):
        raise ValueError(f"a hold must be [lo, hi] with 0 <= lo <= hi, not {v!r}")
    return int(v[0]), int(v[1])


def parse_holds(v: Any) -> list[Hold]:
    if not isinstance(v, list):
        raise ValueError(f"holds must be a list, not {type(v).__name__}")
    holds: list[Hold] = []
    for item in v:
        lo, hi = parse_hold(item)
        add_hold(holds, lo, hi)
    return holds

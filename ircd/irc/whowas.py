"""WHOWAS history (Modern IRC, WHOWAS: https://modern.ircdocs.horse/#whowas-message): the nicks
that were given up, by QUIT (or a closed connection) or by NICK, most recent first.

Bounded: at most ``limit`` entries in all (``server.whowas_history``); the oldest goes first.
In memory only, like other servers' WHOWAS. The hub owns one (``hub.whowas``); the command is in
commands/queries.py.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from ..wire import casefold, glob_match, has_wildcards
from .session import Session


@dataclass(frozen=True, slots=True)
class Was:
    nick: str
    user: str
    host: str
    realname: str
    account: str | None
    when: float  # when the nick was given up (clock time)


class WhowasLog:
    def __init__(self, limit: int) -> None:
        self.entries: deque[Was] = deque(maxlen=limit)  # oldest first

    def record(self, s: Session, when: float) -> None:
        """``s`` gives up its current nick (it quits or takes another)."""
        self.entries.append(Was(s.nick, s.user, s.host, s.realname, s.account, when))

    def find(self, mask: str, count: int = 0) -> Iterator[Was]:
        """Entries whose nick matches ``mask`` (a nick or a wildcard mask), most recent first;
        at most ``count`` of them (0 or less: all)."""
        if has_wildcards(mask):

            def hit(w: Was) -> bool:
                return glob_match(mask, w.nick)
        else:
            key = casefold(mask)

            def hit(w: Was) -> bool:
                return casefold(w.nick) == key

        found = 0
        for w in reversed(self.entries):
            if hit(w):
                yield w
                found += 1
                if found == count:
                    return

"""MONITOR (IRCv3 monitor, https://ircv3.net/specs/extensions/monitor): who watches which nick,
and the 730/731 notices when a watched nick comes online or goes offline; extended-monitor
(https://ircv3.net/specs/extensions/extended-monitor): the watchers that also get a watched
user's AWAY/ACCOUNT/SETNAME/CHGHOST lines although they share no channel with it.

The hub owns one ``Monitors`` (``hub.monitor``) and calls it where a nick changes hands:
``online`` when a registered connection takes a nick (registration, NICK), ``offline`` when it
lets it go (QUIT, a closed connection, NICK), ``forget`` when a watcher's connection ends;
``foreign.py`` calls ``online``/``offline``/``notify`` for the users of other nodes (their
presence records). The MONITOR command is in commands/queries.py. In memory only: a client
sends its list again on every connection (gamja, WeeChat, irssi's notify list do).

Sans-I/O; imports only the wire and the session.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..wire import Numeric, casefold, format_line
from .session import Session

EXTENDED = "extended-monitor"
DRAFT_EXTENDED = "draft/extended-monitor"  # the name before ratification (irctest, older gamja)

_TARGETS_BYTES = 400  # targets per 730/731/732 line, as a comma list (the rest of 512 is ours)


def chunks(targets: Iterable[str], size: int = _TARGETS_BYTES) -> Iterator[str]:
    """Comma lists of ``targets`` of at most ``size`` characters each (a longer one alone)."""
    part: list[str] = []
    used = 0
    for t in targets:
        if part and used + len(t) + 1 > size:
            yield ",".join(part)
            part, used = [], 0
        part.append(t)
        used += len(t) + 1
    if part:
        yield ",".join(part)


def wants_extended(s: Session) -> bool:
    return EXTENDED in s.caps or DRAFT_EXTENDED in s.caps


class Monitors:
    def __init__(self, limit: int) -> None:
        self.limit = limit  # targets per connection (ISUPPORT MONITOR=)
        self.watchers: dict[str, set[Session]] = {}  # casefolded nick -> who watches it
        # connection -> its targets: casefolded nick -> the nick as the client wrote it
        self.lists: dict[Session, dict[str, str]] = {}

    def targets(self, s: Session) -> dict[str, str]:
        return self.lists.get(s, {})

    def add(self, s: Session, target: str) -> bool:
        """Watch ``target`` for ``s``; False if its list is full (already there: True)."""
        key = casefold(target)
        mine = self.lists.setdefault(s, {})
        if key in mine:
            return True
        if len(mine) >= self.limit:
            if not mine:
                del self.lists[s]
            return False
        mine[key] = target
        self.watchers.setdefault(key, set()).add(s)
        return True

    def remove(self, s: Session, target: str) -> None:
        key = casefold(target)
        mine = self.lists.get(s)
        if mine is None or mine.pop(key, None) is None:
            return
        if not mine:
            del self.lists[s]
        self._unwatch(s, key)

    def forget(self, s: Session) -> None:
        """``s`` watches nothing any more (MONITOR C, or its connection ended)."""
        for key in self.lists.pop(s, {}):
            self._unwatch(s, key)

    def _unwatch(self, s: Session, key: str) -> None:
        who = self.watchers.get(key)
        if who is not None:
            who.discard(s)
            if not who:
                del self.watchers[key]

    # ------------------------------------------------------------------ notifications

    def online(self, server: str, s: Session) -> None:
        """``s`` now holds its nick: 730 with its mask to everyone watching that nick."""
        for w in self.watchers.get(s.nick_key, ()):
            if w.registered:
                w.send(format_line(Numeric.RPL_MONONLINE.value, (w.nick, s.mask), server))

    def offline(self, server: str, nick: str) -> None:
        """Nobody holds ``nick`` any more: 731 (the nick as it was last spelled)."""
        for w in self.watchers.get(casefold(nick), ()):
            if w.registered:
                w.send(format_line(Numeric.RPL_MONOFFLINE.value, (w.nick, nick), server))

    def extended_watchers(self, s: Session, cap: str) -> Iterator[Session]:
        """Who watches ``s``'s nick with extended-monitor and ``cap`` (away-notify,
        account-notify, setname, chghost): they get that notification for ``s`` too."""
        for w in self.watchers.get(s.nick_key, ()):
            if w is not s and w.registered and cap in w.caps and wants_extended(w):
                yield w


def notify(peers: Iterable[Session], monitors: Monitors, s: Session, cap: str, line: str) -> None:
    """Send ``line`` (a change of ``s``: AWAY, ACCOUNT, SETNAME, CHGHOST) to its ``peers``
    (who share a channel with it) that negotiated ``cap``, and to its extended-monitor
    watchers with ``cap``; each gets it once."""
    sent: set[Session] = set()
    for peer in peers:
        if cap in peer.caps:
            peer.send(line)
            sent.add(peer)
    for w in monitors.extended_watchers(s, cap):
        if w not in sent:
            w.send(line)

"""Delivery acknowledgements: when a post written to an account's connection counts as received.

The rule (README, "Unread on reconnect"):

* **PING barrier.** After writing posts to a connection, the server sends ``PING :ack-<seq>``
  behind them; the client's PONG confirms everything written before it (soju's approach). One
  such PING is outstanding per connection at a time, and it is sent only when the client has
  sent nothing for ``ACK_QUIET`` (5) seconds: at once when posts reach a quiet client,
  otherwise as soon as it falls quiet, and after ``ACK_MAX_WAIT`` (30) seconds even if it never
  does. irssi counts every PONG as a line of its own flood control, which queues its user's
  lines once it counts 5 recent ones and then sends one per 2.2 s without any other: with a
  PING after every delivery on a busy channel, what the user typed never left (measured in
  tmux: 8 lines typed 2.5 s apart, #general busy with a line every 0.5 s, none delivered in
  15 s each); with this rule 7 went out within 0.4 s, as with no PINGs at all, and one in
  1.9 s (behind the 30 s ceiling's PING).
* **QUIT.** When the client sends QUIT, what its TCP stack had acknowledged when that line
  arrived counts as received: the server asks the kernel how many written bytes are not
  acknowledged yet (``Session.peer_unacked``, given by the server; SIOCOUTQ on Linux) and maps
  the byte count back to posts (``Delivery.marks``). A client that reads its socket promptly
  (irssi, WeeChat, HexChat, pydle) has shown those lines by the time it quits.
* **Otherwise** (a connection closed without QUIT, dropped, timed out) only PONGs count. Posts that
  were written but not confirmed stay unread, and the next replay marks them ``[repeat?]``:
  at-least-once, and the user can tell which lines may have been shown already
  (``Hub.shown``, kept in memory per account).

A connection that was not pushed the unread waiting for it (``set backlog off``, a client that
pulls history) acknowledges with a *hold* (``held_upto``): the live posts are received, what
was waiting stays unread until the user pulls it (see messenger/holds.py).

Sans-I/O like the rest of the adapter: the server calls ``take`` for the bytes it writes and
``peer_done`` when the client quits; time comes from the hub's clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..messenger.model import Post
    from .hub import Hub
    from .session import Session

# an ack PING waits until the client has sent nothing for this long: irssi's flood control
# lets its user's lines out at once while it counts fewer than 5 recent lines, and forgets one
# every 0.5 s once 2.2 s passed without any; after 5 quiet seconds it counts none, so the
# PONG (a line to it) never holds back what its user types next...
ACK_QUIET = 5.0
ACK_MAX_WAIT = 30.0  # ...or this long since the last one
MAX_MARKS = 256  # byte offsets kept per connection for the graceful-end credit
MAX_ASKED = 8  # ack PINGs in flight per connection (normally one)
MAX_SHOWN = 16  # ranges of written-but-unconfirmed posts kept per account

Range = tuple[int, int]  # (lo, hi]: the seqs lo+1 .. hi


@dataclass(slots=True)
class Delivery:
    """One connection's delivery state (``Session.delivery``)."""

    landed: bool = False  # joined and given (or told) its unread: posts reach it from now on
    sent: int = 0  # bytes handed to the transport so far
    # (bytes written through, seq, hold): after that many bytes, every post up to seq relevant
    # to the user had been written; hold is the held_upto of an ack for it (None: plain)
    marks: deque[tuple[int, int, int | None]] = field(default_factory=deque)
    written: int = -1  # seq of the last mark
    replayed_from: int | None = None  # unread replayed since the last write: lowest seq - 1
    asked: deque[tuple[int, int | None]] = field(default_factory=deque)  # (seq, hold) PINGs
    asked_at: float = 0.0  # when the last ack PING was sent (or the connection landed)
    confirmed: int = -1  # highest seq confirmed (PONG or graceful end)
    plain_due: bool = False  # held posts were pulled: a plain ack must follow
    sent_at_input: int = 0  # ``sent`` when the client's last line arrived
    # (sent, unacknowledged bytes) when a QUIT arrived that waits for the network's turn
    # before it is handled (several nodes): what the client had received then counts
    quit_arrived: tuple[int, int | None] | None = None


def hold_of(s: Session) -> int | None:
    """The ``held_upto`` for an ack of what is written now (None: a plain ack)."""
    return s.landed_seq if s.catching_up else None


def landed(hub: Hub, s: Session) -> None:
    """``s`` has joined its channels; its unread replay (if any) is queued next."""
    d = s.delivery
    d.landed = True
    d.written = s.landed_seq  # later posts reach it live; earlier ones only if replayed
    d.asked_at = hub.clock.now()


def replayed(s: Session, posts: Sequence[Post]) -> None:
    """Unread ``posts`` were queued to ``s`` (written at the next flush)."""
    if posts:
        lo = min(p.seq for p in posts) - 1
        d = s.delivery
        d.replayed_from = lo if d.replayed_from is None else min(d.replayed_from, lo)


def pulled(s: Session) -> None:
    """The user pulled the unread held for this connection: the next ack must be plain."""
    if s.catching_up:
        s.catching_up = False
        s.delivery.plain_due = True


def take(hub: Hub, s: Session) -> bytes:
    """``s``'s queued output, for the server to write: notes what it carries (for the
    graceful-end credit and for marking repeats) and adds an ack PING when one is due."""
    return written(hub, s, s.take_output())


def written(hub: Hub, s: Session, data: bytes) -> bytes:
    """``data`` is written to ``s`` now, bypassing its queue (``take`` for what was queued):
    the same notes, and the same ack PING added when one is due. For a connection without an
    account that is only ``Delivery.sent`` (the direct fan-out, ``fanout.RoomLog.deliver``,
    counts that itself)."""
    d = s.delivery
    if data and d.landed and s.account:
        seq = hub.messenger.seq
        if seq > d.written or d.replayed_from is not None:
            lo = d.written if d.replayed_from is None else min(d.written, d.replayed_from)
            _note_shown(hub, s.user_key, lo, seq)
            d.written, d.replayed_from = max(d.written, seq), None
            if should_ask(hub, s, polite=True):
                data += _ping(hub, s)
            d.marks.append((d.sent + len(data), d.written, hold_of(s)))
            if len(d.marks) > MAX_MARKS:
                d.marks.popleft()  # only costs credit for the oldest bytes, never adds any
    d.sent += len(data)
    return data


def should_ask(hub: Hub, s: Session, polite: bool) -> bool:
    """Is an ack PING due? ``polite``: only if the client is quiet (or was asked long ago)."""
    d = s.delivery
    if not (s.registered and s.account and d.landed) or s.closing is not None:
        return False
    if d.written <= d.confirmed and not d.plain_due:
        return False  # everything written is confirmed
    now = hub.clock.now()
    waited = now - d.asked_at
    if d.asked and waited < ACK_MAX_WAIT:
        return False  # one at a time: its PONG confirms the rest of what is written by then
    # polite: irssi's flood control counts our PING's PONG as a line of its user's
    return not (polite and now - s.last_active < ACK_QUIET and waited < ACK_MAX_WAIT)


def request(hub: Hub, s: Session, polite: bool) -> None:
    """Queue an ack PING behind what is queued to ``s`` now, if one is due."""
    if should_ask(hub, s, polite):
        s.send_bytes(_ping(hub, s))  # not captured by a labeled reply


def _ping(hub: Hub, s: Session) -> bytes:
    d = s.delivery
    seq = hub.messenger.seq
    d.asked.append((seq, hold_of(s)))
    if len(d.asked) > MAX_ASKED:
        d.asked.popleft()
    d.asked_at = hub.clock.now()
    if hold_of(s) is None:
        d.plain_due = False
    return f"PING :ack-{seq}\r\n".encode()


def pong(hub: Hub, s: Session, seq: int) -> None:
    """The client answered ``PING :ack-<seq>``: what was written before it is received."""
    d = s.delivery
    while d.asked and d.asked[0][0] < seq:
        d.asked.popleft()  # PINGs it did not answer (PONGs come in order)
    if not d.asked or d.asked[0][0] != seq:
        return  # not a PING of ours (stale, or made up)
    _, hold = d.asked.popleft()
    _confirm(hub, s, seq, hold)
    if d.plain_due:  # the user pulled held posts after that PING: ask again for them
        request(hub, s, polite=False)


def peer_done(hub: Hub, s: Session) -> None:
    """The client sent QUIT: what its TCP stack had acknowledged when that line arrived reached
    it (bytes written after the QUIT arrived are not counted, even if acknowledged since)."""
    d = s.delivery
    if not (s.account and d.landed) or s.peer_unacked is None:
        return
    if d.quit_arrived is not None:  # it waited for the turn: counted as it arrived
        sent, unacked = d.quit_arrived
        if unacked is None:
            return
        got = sent - unacked
    else:
        unacked = s.peer_unacked()
        if unacked is None:
            return
        got = min(d.sent - unacked, d.sent_at_input)
    best: tuple[int, int | None] | None = None
    for end, seq, hold in d.marks:
        if end > got:
            break
        best = (seq, hold)
    if best is not None:
        _confirm(hub, s, *best)


def quit_arrives(s: Session) -> None:
    """A QUIT from ``s`` arrived and waits (for the network's turn) before it is handled:
    note what the client's TCP stack had acknowledged now, for ``peer_done`` (by the time the
    QUIT is handled the client may have closed the connection, and the kernel can no longer
    tell)."""
    if s.peer_unacked is not None and s.delivery.quit_arrived is None:
        s.delivery.quit_arrived = (s.delivery.sent, s.peer_unacked())


def is_quit(line: str) -> bool:
    """Whether a raw line is a QUIT (without parsing it: tags and a source are skipped)."""
    if line.startswith("@"):
        line = line.partition(" ")[2].lstrip(" ")
    if line.startswith(":"):
        line = line.partition(" ")[2].lstrip(" ")
    return line[:4].upper() == "QUIT" and line[4:5] in ("", " ")


def _confirm(hub: Hub, s: Session, seq: int, hold: int | None) -> None:
    d = s.delivery
    d.confirmed = max(d.confirmed, seq)
    hub.messenger.ack(s.user_key, seq, held_upto=hold)
    while d.marks and d.marks[0][1] <= seq and (hold is None or d.marks[0][2] is not None):
        d.marks.popleft()
    _prune_shown(hub, s.user_key)


# ---------------------------------------------------------------------- marking repeats


def _note_shown(hub: Hub, user: str, lo: int, hi: int) -> None:
    if hi <= lo:
        return
    ranges = hub.shown.setdefault(user, [])
    merged: list[Range] = []
    for a, b in ranges:
        if b < lo or a > hi:
            merged.append((a, b))
        else:
            lo, hi = min(lo, a), max(hi, b)
    merged.append((lo, hi))
    merged.sort()
    # beyond the bound the oldest ranges go: their lines lose the mark, none gains it wrongly
    ranges[:] = merged[-MAX_SHOWN:]


def _prune_shown(hub: Hub, user: str) -> None:
    """Forget ranges that can no longer be unread (everything in them is delivered)."""
    ranges = hub.shown.get(user)
    u = hub.messenger.user(user)
    if ranges is None or u is None:
        return
    floor = min([u.delivered_seq, *(lo for lo, _ in u.holds)])
    ranges[:] = [(a, b) for a, b in ranges if b > floor]
    if not ranges:
        del hub.shown[user]


def maybe_seen(hub: Hub, user: str) -> Callable[[int], bool]:
    """A test for unread posts that were written to a connection of ``user`` that ended before
    confirming them: they may have been shown already."""
    _prune_shown(hub, user)
    ranges = list(hub.shown.get(user, ()))
    return lambda seq: any(a < seq <= b for a, b in ranges)

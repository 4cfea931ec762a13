"""Replay: stored posts sent to a connection, and the unread memory.

``replay`` sends posts by capability tier (a chathistory batch; server-time tags between two
notices; a text time prefix between two notices), with dates on lines from another day and
``[repeat?]`` on lines that may have been shown before. ``push_unread_on_connect`` is what a
connection gets when it lands (the first visit's backlog, or what the account missed);
``send_unread`` is the one UNREAD (the verb and ``/msg Messenger unread``); ``push_unread``
sends an account's unread posts and asks the client to confirm them. ``history_line`` is a
stored post as one connection sees it (replays and CHATHISTORY). ``request_ack`` and
``on_pong`` are the adapter's side of the delivery-ack barrier (acks.py holds its state
machine: what was written, what the client confirmed, what a later replay marks [repeat?]).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from ..messenger.model import Post, Unread
from ..wire import format_line, parse_uint
from . import acks
from .hub import Hub
from .lines import batch, stored_line
from .session import Session
from .timefmt import short_time, showable

# marks a replayed line that was written to a connection which ended before confirming it
REPEAT_MARK = "[repeat?] "


def repeat_note(k: int, n: int) -> str:
    """Says that ``k`` of ``n`` replayed lines may have been shown before."""
    which = "it" if n == 1 else ("all of them" if k == n else f"{k} of them")
    return f"{which} may have reached you before (marked {REPEAT_MARK.strip()})"


def _utc_day(ts: float) -> int:
    return int(showable(ts) // 86400)


def wants_push(hub: Hub, s: Session) -> bool:
    """Whether stored messages are pushed to this connection (not for history-pulling clients,
    bots, or users who turned backlog off)."""
    if "draft/chathistory" in s.caps or s.bot:
        return False
    return hub.messenger.setting(s.user_key, "backlog", "on") != "off"


def replay(
    hub: Hub,
    s: Session,
    target: str,
    posts: Sequence[Post],
    what: str,
    private: bool,
    maybe_seen: Callable[[int], bool] | None = None,
) -> None:
    """Send stored posts by capability tier: a chathistory batch (batch + server-time), time
    tags between two notices (server-time), or a text time prefix between two notices.

    A line from another day (UTC) than today always gets the ``[YYYY-MM-DD HH:MM]`` prefix
    (clients show a server-time tag as a time of day only), unless the user said ``set
    timestamps never``. Lines ``maybe_seen`` says were written to a connection that ended
    before confirming them are marked ``[repeat?]`` (acks.py)."""
    if not posts:
        return
    stamps = hub.messenger.setting(s.user_key, "timestamps", "auto")
    frame_to = s.nick if private else target
    peer_name = target
    today = _utc_day(hub.clock.now())
    repeats = {p.seq for p in posts if maybe_seen is not None and maybe_seen(p.seq)}

    def prefix(p: Post, always: bool) -> str:
        dated = stamps != "never" and (always or _utc_day(p.time) != today)
        mark = REPEAT_MARK if p.seq in repeats else ""
        return (f"[{short_time(p.time)}] " if dated else "") + mark

    if "batch" in s.caps and "server-time" in s.caps:
        always = stamps == "always"
        lines = (history_line(hub, s, p, prefix(p, always)) for p in posts)
        for line in batch(hub.name, hub.batch_id(), "chathistory", (peer_name,), lines):
            s.send(line)
        return
    since = short_time(posts[0].time)
    n = len(posts)
    plural = "message" if n == 1 else "messages"
    head = f"*** Replaying {n} {what} {plural} (since {since} UTC)"
    if private:
        head = f"*** Replaying {n} {what} private {plural} from {target} (since {since} UTC)"
    if repeats:
        head += f"; {repeat_note(len(repeats), n)}"
    s.send(format_line("NOTICE", (frame_to, head), hub.name))
    # irssi asks for server-time but hides it unless show_server_time is on; it is the
    # client that pairs server-time with znc.in/self-message and no batch, so it gets the
    # visible prefix too (HexChat shows the tag's time itself)
    irssi_like = "znc.in/self-message" in s.caps and "batch" not in s.caps
    with_prefix = (
        "server-time" not in s.caps or stamps == "always" or (stamps == "auto" and irssi_like)
    )
    for p in posts:
        s.send(history_line(hub, s, p, prefix(p, with_prefix)))
    s.send(format_line("NOTICE", (frame_to, "*** End of replay"), hub.name))


def push_unread_on_connect(hub: Hub, s: Session, first_time: bool) -> None:
    """After the JOINs of a new connection: the backlog (guests, an account's first visit) or
    the account's unread; then ask the client to acknowledge (acks.py)."""
    m = hub.messenger
    s.landed_seq = m.seq  # later posts reach this connection live
    acks.landed(hub, s)
    if s.account is not None:
        m.mark_seen(s.user_key)  # next time: its unread, even if this ends before any ack
    general = hub.config.chat.general_channel
    if s.account is None or first_time:
        # guests and new accounts: the last N messages of the general channel, and for a new
        # account the private messages already waiting for it
        if wants_push(hub, s):
            if hub.general_key:  # (auto_join off: nobody is put into a channel)
                posts = m.backlog(hub.general_key, hub.config.chat.backlog_on_join)
                room = m.rooms.get(hub.general_key)
                replay(hub, s, room.name if room else general, posts, "recent", private=False)
            if s.account is not None:
                for peer_key, dms in m.unread(s.user_key).private.items():
                    peer = hub.display_nick(peer_key, dms[-1].sender_name)
                    replay(hub, s, peer, dms, "unread", private=True)
                    acks.replayed(s, dms)
        request_ack(hub, s)
        return
    unread = m.unread(s.user_key)
    if "draft/chathistory" in s.caps:
        # its acks leave these unread until it sends UNREAD (a hold; see acks.py); what it
        # does not pull in time is pushed (push_unpulled)
        s.catching_up = unread.total > 0
        if unread.total and s.account is not None:
            s.pull_deadline = hub.clock.now() + hub.config.chat.unpulled_push_seconds
        hub.note(
            s,
            "UNREAD",
            "PENDING",
            str(unread.total),
            text=summary(hub, unread) + " Send UNREAD to receive them, or use CHATHISTORY.",
        )
        request_ack(hub, s)
        return
    if not wants_push(hub, s):
        # told, not given: they stay unread until pulled ("unread" replays them)
        s.catching_up = unread.total > 0
        if unread.total:
            hub.notice(s, summary(hub, unread) + " (backlog is off: /msg Messenger unread)")
        request_ack(hub, s)
        return
    push_unread(hub, s, unread)


def push_unread(hub: Hub, s: Session, unread: Unread) -> None:
    """Replay everything the user has not received, each target in its own block, then a
    summary; then ask the client to acknowledge. Lines that may have been shown before (on a
    connection that ended before confirming them) are marked."""
    m = hub.messenger
    if unread.total == 0:
        hub.notice(s, "No unread messages since your last visit.")
        acks.pulled(s)
        request_ack(hub, s)
        return
    if unread.omitted:
        hub.notice(
            s,
            f"{unread.omitted} older unread messages were left out "
            f"(at most {m.rules.max_unread_replay} are replayed)",
        )
    seen = acks.maybe_seen(hub, s.user_key)
    for room_key, posts in unread.rooms.items():
        room = m.rooms[room_key]
        replay(hub, s, room.name, posts, "unread", private=False, maybe_seen=seen)
        acks.replayed(s, posts)
    for peer_key, posts in unread.private.items():
        peer = hub.display_nick(peer_key, posts[-1].sender_name)
        replay(hub, s, peer, posts, "unread", private=True, maybe_seen=seen)
        acks.replayed(s, posts)
    hub.notice(s, summary(hub, unread, seen))
    acks.pulled(s)
    request_ack(hub, s)


def push_unpulled(hub: Hub, s: Session) -> None:
    """A history-pulling client's time to pull its unread is up (``Session.pull_deadline``):
    the conversations it did not pull history of are pushed, in its replay tier, and then
    all of its unread counts as pulled (acks.py)."""
    s.pull_deadline = 0.0
    if not s.catching_up or s.account is None:
        return
    unread = hub.messenger.unread(s.user_key, upto=s.landed_seq)
    left = dataclasses.replace(
        unread,
        rooms={k: v for k, v in unread.rooms.items() if k not in s.pulled},
        private={k: v for k, v in unread.private.items() if k not in s.pulled},
        omitted=0,
    )
    if left.total:
        push_unread(hub, s, left)
    else:
        acks.pulled(s)
        request_ack(hub, s)


def summary(hub: Hub, unread: Unread, seen: Callable[[int], bool] | None = None) -> str:
    if unread.total == 0:
        return "No unread messages since your last visit."
    parts = []
    for room_key, posts in unread.rooms.items():
        parts.append(f"{len(posts)} in {hub.messenger.rooms[room_key].name}")
    for peer_key, posts in unread.private.items():
        peer = hub.display_nick(peer_key, posts[-1].sender_name)
        parts.append(f"{len(posts)} private from {peer}")
    n = unread.total + unread.omitted
    text = f"You had {n} unread message{'s' if n != 1 else ''}: {', '.join(parts)}."
    if seen is not None:
        posts = [p for lst in (*unread.rooms.values(), *unread.private.values()) for p in lst]
        k = sum(1 for p in posts if seen(p.seq))
        if k:
            text = text[:-1] + f"; {repeat_note(k, unread.total)}."
    return text


def send_unread(hub: Hub, s: Session, from_service: bool) -> None:
    """UNREAD (``from_service`` False: FAIL for guests) and ``/msg Messenger unread`` (the
    service answers, so clients show it where it was asked, HexChat): what the account has not
    read yet, up to when this connection landed."""
    if s.account is None:
        if from_service:
            hub.service_notice(s, "Guests have no unread memory; connect with a password.")
        else:
            hub.fail(
                s,
                "UNREAD",
                "ACCOUNT_REQUIRED",
                text="Guests have no unread memory; connect with a password to get one",
            )
        return
    s.pull_deadline = 0.0  # it pulls
    unread = hub.messenger.unread(s.user_key, upto=s.landed_seq)
    if from_service and not (unread.total or unread.omitted):
        acks.pulled(s)
        hub.service_notice(s, "You have no unread messages.")
        request_ack(hub, s)
        return
    push_unread(hub, s, unread)


def history_line(hub: Hub, s: Session, p: Post, prefix: str = "") -> str:
    """A stored post as this session should see it (original source, time and msgid)."""
    if p.room is None:
        # private: to us from the peer, or (our own) from us to the peer
        target = s.nick if p.sender != s.user_key else hub.display_nick(p.to or "", p.to_name or "")
    else:
        room = hub.messenger.rooms.get(p.room)
        target = room.name if room is not None else p.room
    return stored_line(p, s.tagbits, target, prefix)


def request_ack(hub: Hub, s: Session, periodic: bool = False) -> None:
    """Ask the client to confirm it has everything written to it (``PING :ack-<seq>``, soju's
    barrier), if anything is unconfirmed. ``periodic`` (the ticker) asks only once the client
    has been quiet for a while: irssi counts each PONG as a line of its flood control (see
    acks.py for the whole rule)."""
    acks.request(hub, s, polite=periodic)


def on_pong(hub: Hub, s: Session, token: str) -> None:
    """A PONG: ``ack-<seq>`` confirms what was written up to ``seq`` (acks.py)."""
    seq = parse_uint(token[4:]) if token.startswith("ack-") else None
    if seq is not None:
        acks.pong(hub, s, seq)

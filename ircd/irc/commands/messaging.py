"""PRIVMSG, NOTICE and TAGMSG to channels and nicks (private 1-to-1)."""

from __future__ import annotations

import math
import secrets

from ...messenger.errors import (
    Banned,
    CannotSend,
    Flooding,
    NoSuchRoom,
    NoSuchUser,
    NotMember,
    RateLimited,
)
from ...messenger.model import Post
from ...wire import MAX_BODY, Message, Numeric, casefold, format_line
from ..caps import SERVICE_KEY
from ..fanout import relay_private, relay_room
from ..hub import Hub
from ..lines import add_tag, post_line, safe_line
from ..registry import command
from ..replies import reply_error
from ..service import service_command
from ..session import Session
from ..timefmt import human_time, iso_time

MAX_TARGETS = 4


def client_tags(msg: Message) -> dict[str, str] | None:
    """Client-only tags (``+name``) to relay; server tags from clients are dropped."""
    if not msg.tags:
        return None
    out = {k: v for k, v in msg.tags.items() if k.startswith("+")}
    return out or None


def _fits(hub: Hub, s: Session, target: str, text: str) -> bool:
    """Would the relayed line (with our source) fit in 512 bytes?"""
    overhead = len(s.mask.encode()) + len(target.encode()) + 14 + 2  # ":mask PRIVMSG target :"
    return len(text.encode()) + overhead <= MAX_BODY  # (+ CRLF), all in bytes


def _ban_text(until: float, reason: str) -> str:
    why = f" ({reason})" if reason else ""
    return f"You are muted until {human_time(until)}{why}"


@command("PRIVMSG", min_params=1)
def privmsg(hub: Hub, s: Session, msg: Message) -> None:
    _message(hub, s, msg, "PRIVMSG")


@command("NOTICE", min_params=1)
def notice(hub: Hub, s: Session, msg: Message) -> None:
    _message(hub, s, msg, "NOTICE")


def _message(hub: Hub, s: Session, msg: Message, kind: str) -> None:
    quiet = kind == "NOTICE"  # errors to NOTICE are not answered, except the essential ones
    if len(msg.params) < 2 or not msg.params[1]:
        if not quiet:
            if len(msg.params) < 2 and msg.params[0].startswith(":"):
                hub.reply(s, Numeric.ERR_NORECIPIENT, f"No recipient given ({kind})")
            else:
                hub.reply(s, Numeric.ERR_NOTEXTTOSEND, "No text to send")
        return
    text = msg.params[1]
    tags = client_tags(msg)
    targets = [t for t in msg.params[0].split(",") if t][:MAX_TARGETS]
    for target in targets:
        if target.startswith("#"):
            _to_room(hub, s, target, text, kind, tags)
        elif target[:1] in STATUS_PREFIXES and target[1:2] == "#":
            _to_status(hub, s, target[0], target[1:], text, kind, tags)
        else:
            _to_nick(hub, s, target, text, kind, tags)


def _to_room(
    hub: Hub, s: Session, name: str, text: str, kind: str, tags: dict[str, str] | None
) -> None:
    m = hub.messenger
    key = casefold(name)
    if not _fits(hub, s, name, text):
        hub.reply(s, Numeric.ERR_INPUTTOOLONG, "Message too long to relay; split it")
        return
    try:
        post = m.post_room(s.user_key, s.nick, s.mask, key, text, kind, tags)
    except NoSuchRoom as e:
        reply_error(hub, s, e, name)
        return
    except NotMember:
        hub.reply(s, Numeric.ERR_CANNOTSENDTOCHAN, name, "You're not on that channel (JOIN it)")
        return
    except Banned as e:
        text_ = f"Message not sent: {_ban_text(e.until, e.reason)}"
        hub.reply(s, Numeric.ERR_CANNOTSENDTOCHAN, name, text_)
        return
    except CannotSend as e:
        hub.reply(s, Numeric.ERR_CANNOTSENDTOCHAN, name, f"Message not sent: {e}")
        return
    except RateLimited as e:
        per = _period(e.period)
        text_ = (
            f"Message not sent. Rate limit: {e.limit} messages per {per} in channels; "
            f"resets at {human_time(e.reset_at)}"
        )
        if "standard-replies" in s.caps:
            hub.fail(s, kind, "RATE_LIMITED", name, str(int(e.reset_at)), text=text_)
        else:
            hub.reply(s, Numeric.ERR_CANNOTSENDTOCHAN, name, text_)
        return
    room = m.rooms[key]
    relay_room(hub, post, room, s)


STATUS_PREFIXES = "@+"  # ISUPPORT STATUSMSG: to a channel's operators, to its voiced and operators


def _to_status(
    hub: Hub,
    s: Session,
    prefix: str,
    name: str,
    text: str,
    kind: str,
    tags: dict[str, str] | None,
) -> None:
    """``PRIVMSG @#chan`` / ``+#chan`` (Modern IRC: STATUSMSG parameter): to the channel's
    operators, or to its voiced members and operators, with the target as sent. Whoever
    may speak in the channel may send one; it is not kept in the channel's history (the
    others may read that)."""
    m = hub.messenger

    def refuse(numeric: Numeric, *params: str) -> None:
        if kind != "NOTICE":  # a NOTICE never triggers an automatic reply (RFC 2812 3.3.2)
            hub.reply(s, numeric, *params)

    room = m.room(casefold(name))
    if room is None:
        refuse(Numeric.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    target = prefix + room.name
    if not _fits(hub, s, target, text):
        refuse(Numeric.ERR_INPUTTOOLONG, "Message too long to relay; split it")
        return
    try:
        m.check_room_send(s.user_key, room.key, origin=s.mask)
    except (NoSuchRoom, NotMember):
        refuse(Numeric.ERR_CANNOTSENDTOCHAN, name, "You're not on that channel (JOIN it)")
        return
    except Banned as e:
        refuse(
            Numeric.ERR_CANNOTSENDTOCHAN,
            name,
            f"Message not sent: {_ban_text(e.until, e.reason)}",
        )
        return
    except CannotSend as e:
        refuse(Numeric.ERR_CANNOTSENDTOCHAN, name, f"Message not sent: {e}")
        return
    u = m.user(s.user_key)
    post = Post(
        0,
        f"{m.server_id}-s{secrets.token_hex(6)}",
        hub.clock.now(),
        kind,
        s.user_key,
        s.nick,
        s.mask,
        u.name if u is not None and u.is_account else None,
        room.key,
        None,
        None,
        text,
        tags,
    )
    wanted = room.ops if prefix == "@" else room.ops | room.voiced
    for key in wanted:
        peer = hub.by_user.get(key)
        if peer is not None and peer is not s:
            peer.send(post_line(post, peer.tagbits, target))
    if "echo-message" in s.caps:
        s.send(post_line(post, s.tagbits, target))


def _period(seconds: int) -> str:
    if seconds % 3600 == 0:
        h = seconds // 3600
        return "hour" if h == 1 else f"{h} hours"
    if seconds % 60 == 0:
        mins = seconds // 60
        return "minute" if mins == 1 else f"{mins} minutes"
    return f"{seconds} seconds"


def _to_nick(
    hub: Hub, s: Session, nick: str, text: str, kind: str, tags: dict[str, str] | None
) -> None:
    if casefold(nick) == SERVICE_KEY:
        if kind == "PRIVMSG":  # the service never answers NOTICEs (no bot loops)
            service_command(hub, s, text, via="privmsg")
        return
    resolved = hub.resolve_user(nick)
    if resolved is None:
        hub.reply(s, Numeric.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    user_key, display = resolved
    if not _fits(hub, s, display, text):
        hub.reply(s, Numeric.ERR_INPUTTOOLONG, "Message too long to relay; split it")
        return
    m = hub.messenger
    try:
        post = m.post_private(s.user_key, s.nick, s.mask, user_key, text, kind, tags)
    except NoSuchUser:
        hub.reply(s, Numeric.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    except Banned as e:
        _not_sent(hub, s, display, kind, "Message not sent: " + _ban_text(e.until, e.reason))
        return
    except Flooding as e:
        wait = max(1, math.ceil(e.retry_after))
        text_ = f"Message not sent: you are sending private messages too fast; wait {wait}s"
        _not_sent(hub, s, display, kind, text_)
        return
    online = relay_private(hub, post, s)
    if online:
        s.told_offline.discard(user_key)
    target_session = hub.by_user.get(user_key)
    if target_session is not None and target_session.away and kind == "PRIVMSG":
        hub.reply(s, Numeric.RPL_AWAY, target_session.nick, target_session.away)
    if not online and kind == "PRIVMSG" and user_key not in s.told_offline:
        s.told_offline.add(user_key)  # once per recipient and connection, not per message
        hub.note(
            s,
            kind,
            "STORED",
            display,
            text=f"{display} is offline; your message will be delivered when they connect",
        )


def _not_sent(hub: Hub, s: Session, display: str, kind: str, text: str) -> None:
    """A private message to ``display`` was refused. 531 names the target, but irssi and
    WeeChat show that numeric in the status window, while the message stays in the query
    window looking sent (without echo-message a client shows what was typed). So such
    clients also get the reason as a server notice addressed to that nick, which irssi shows
    in the query window with it."""
    hub.reply(s, Numeric.ERR_CANTSENDTOUSER, display, text)
    if kind == "PRIVMSG" and "echo-message" not in s.caps:
        s.send(safe_line("NOTICE", (display, text), hub.name))  # an operator's reason: any length


def _tagmsg_lines(hub: Hub, s: Session, target: str, tags: dict[str, str]) -> tuple[str, str]:
    """A relayed TAGMSG with a fresh msgid: (without, with) the server-time tag."""
    tagged = {**tags, "msgid": f"{hub.messenger.server_id}-t{secrets.token_hex(6)}"}
    line = format_line("TAGMSG", (target,), s.mask, tagged)
    return line, add_tag(line, "time=" + iso_time(hub.clock.now()))


@command("TAGMSG", min_params=1)
def tagmsg(hub: Hub, s: Session, msg: Message) -> None:
    tags = client_tags(msg)
    if not tags:
        return
    for target in msg.params[0].split(",")[:MAX_TARGETS]:
        if target.startswith("#"):
            room = hub.messenger.room(casefold(target))
            if room is None:
                hub.reply(s, Numeric.ERR_NOSUCHCHANNEL, target, "No such channel")
                continue
            try:
                hub.messenger.check_room_send(s.user_key, room.key, origin=s.mask)
            except NotMember:
                hub.reply(s, Numeric.ERR_CANNOTSENDTOCHAN, target, "You're not on that channel")
                continue
            except (Banned, CannotSend):
                continue  # dropped silently
            line, timed = _tagmsg_lines(hub, s, room.name, tags)
            for peer in hub.room_sessions(room):
                if "message-tags" in peer.caps and (peer is not s or "echo-message" in s.caps):
                    peer.send(timed if "server-time" in peer.caps else line)
        else:
            peer_s = hub.session_by_nick(target)
            if peer_s is None:
                hub.reply(s, Numeric.ERR_NOSUCHNICK, target, "No such nick/channel")
                continue
            if hub.messenger.ban_of(s.user_key) is not None:
                continue
            line, timed = _tagmsg_lines(hub, s, peer_s.nick, tags)
            if "message-tags" in peer_s.caps:
                peer_s.send(timed if "server-time" in peer_s.caps else line)
            if "echo-message" in s.caps and "message-tags" in s.caps and peer_s is not s:
                s.send(timed if "server-time" in s.caps else line)

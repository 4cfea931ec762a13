"""Channels: JOIN, PART, TOPIC, NAMES, LIST, KICK, MODE (channel and user modes)."""

from __future__ import annotations

from ...messenger.errors import Banned, NoSuchRoom, NoSuchUser, NotMember, NotOperator
from ...messenger.model import Room
from ...wire import Message, Numeric, casefold, format_line, is_channel_name, truncate_utf8
from .. import elist
from ..fanout import names_changed
from ..hub import Hub
from ..lines import safe_line
from ..registry import command
from ..replies import reply_error
from ..rooms import join_room, send_names, send_topic
from ..session import Session


@command("JOIN", min_params=1)
def join(hub: Hub, s: Session, msg: Message) -> None:
    if msg.params[0] == "0":
        for room in hub.rooms_of(s):
            _part(hub, s, room, "Left all channels")
        return
    u = hub.messenger.user(s.user_key)
    for name in msg.params[0].split(","):
        if not name:
            continue
        if not is_channel_name(name):
            hub.reply(s, Numeric.ERR_NOSUCHCHANNEL, name, "No such channel")
            continue
        key = casefold(name)
        existing = hub.messenger.room(key)
        if existing is not None and s.user_key in existing.members:
            continue  # already there: ignore silently (autojoin lists, bots)
        if u is not None and len(u.rooms) >= hub.config.server.max_channels_per_user:
            hub.reply(s, Numeric.ERR_TOOMANYCHANNELS, name, "You have joined too many channels")
            continue
        join_room(hub, s, key, name, backlog=True)


def _part(hub: Hub, s: Session, room: Room, reason: str) -> None:
    names_changed(hub)
    params = (room.name, reason) if reason else (room.name,)
    line = safe_line("PART", params, s.mask)
    for peer in hub.room_sessions(room):
        peer.send(line)
    hub.messenger.part(s.user_key, room.key)


@command("PART", min_params=1)
def part(hub: Hub, s: Session, msg: Message) -> None:
    reason = truncate_utf8(msg.params[1], 300) if len(msg.params) > 1 else ""  # in bytes
    for name in msg.params[0].split(","):
        room = hub.messenger.room(casefold(name))
        if room is None:
            hub.reply(s, Numeric.ERR_NOSUCHCHANNEL, name, "No such channel")
        elif s.user_key not in room.members:
            hub.reply(s, Numeric.ERR_NOTONCHANNEL, name, "You're not on that channel")
        else:
            _part(hub, s, room, reason)


@command("TOPIC", min_params=1)
def topic(hub: Hub, s: Session, msg: Message) -> None:
    name = msg.params[0]
    room = hub.messenger.room(casefold(name))
    if room is None:
        hub.reply(s, Numeric.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    if len(msg.params) < 2:
        send_topic(hub, s, room)
        return
    try:
        hub.messenger.set_topic(
            s.user_key, s.mask, room.key, truncate_utf8(msg.params[1], 390), privileged=s.oper
        )
    except (NotMember, NotOperator, Banned) as e:
        reply_error(hub, s, e, room.name)
        return
    line = safe_line("TOPIC", (room.name, room.topic), s.mask)
    for peer in hub.room_sessions(room):
        peer.send(line)


@command("NAMES")
def names(hub: Hub, s: Session, msg: Message) -> None:
    """Modern IRC, NAMES: for each channel named, its 353 lines and a 366 naming it (also for
    a channel that does not exist); without a parameter, every channel with someone in it, and
    one 366 for "*"."""
    if not msg.params:
        for each in sorted(hub.messenger.rooms.values(), key=lambda r: r.key):
            send_names(hub, s, each)
        hub.reply(s, Numeric.RPL_ENDOFNAMES, "*", "End of /NAMES list")
        return
    for name in msg.params[0].split(","):
        if not name:
            continue
        room = hub.messenger.room(casefold(name))
        if room is not None:
            send_names(hub, s, room)
        hub.reply(s, Numeric.RPL_ENDOFNAMES, name, "End of /NAMES list")


@command("LIST")
def list_(hub: Hub, s: Session, msg: Message) -> None:
    """Modern IRC, LIST, with the ELIST=CMNTU conditions (elist.py) in either parameter; the
    second may also name this server (RFC 1459's target)."""
    params = msg.params[:2]
    if len(params) == 2 and casefold(params[1]) == casefold(hub.name):
        params = params[:1]
    try:
        query = elist.parse(params)
    except elist.ElistError as e:
        hub.fail(
            s,
            "LIST",
            "INVALID_PARAMS",
            str(e)[:50],
            text="Unknown LIST condition; use #channel, a mask, !mask, >n, <n, C<n, C>n, T<n "
            "or T>n (minutes)",
        )
        hub.reply(s, Numeric.RPL_LISTEND, "End of /LIST")
        return
    now = hub.clock.now()
    hub.reply(s, Numeric.RPL_LISTSTART, "Channel", "Users  Name")
    for room in sorted(hub.messenger.rooms.values(), key=lambda r: r.key):
        count = sum(1 for _ in hub.room_sessions(room))
        if count == 0 and room.key != hub.general_key and room.key not in query.names:
            continue  # a room nobody is in now is listed only when asked for by name
        if query.matches(room.name, count, room.created, room.topic_time, now):
            hub.reply(s, Numeric.RPL_LIST, room.name, str(count), room.topic)
    hub.reply(s, Numeric.RPL_LISTEND, "End of /LIST")


@command("KICK", min_params=2)
def kick(hub: Hub, s: Session, msg: Message) -> None:
    name, nick = msg.params[0], msg.params[1]
    reason = truncate_utf8(msg.params[2], 300) if len(msg.params) > 2 else s.nick
    room = hub.messenger.room(casefold(name))
    if room is None:
        hub.reply(s, Numeric.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    target = hub.session_by_nick(nick)
    if target is None:
        hub.reply(s, Numeric.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    line = safe_line("KICK", (room.name, target.nick, reason), s.mask)
    members = list(hub.room_sessions(room))
    try:
        hub.messenger.kick(s.user_key, room.key, target.user_key, privileged=s.oper)
        names_changed(hub)
    except (NotMember, NotOperator) as e:
        reply_error(hub, s, e, room.name)
        return
    except NoSuchUser:
        hub.reply(s, Numeric.ERR_USERNOTINCHANNEL, nick, room.name, "They aren't on that channel")
        return
    for peer in members:
        peer.send(line)


@command("MODE", min_params=1)
def mode(hub: Hub, s: Session, msg: Message) -> None:
    target = msg.params[0]
    if not target.startswith("#"):
        _user_mode(hub, s, msg)
        return
    for name in target.split(","):
        _channel_mode(hub, s, name, msg.params[1:])


def _channel_mode(hub: Hub, s: Session, name: str, args: tuple[str, ...]) -> None:
    room = hub.messenger.room(casefold(name))
    if room is None:
        hub.reply(s, Numeric.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    if not args:
        modes = "+nt" if hub.messenger.topic_protected(room) else "+n"
        hub.reply(s, Numeric.RPL_CHANNELMODEIS, room.name, modes)
        hub.reply(s, Numeric.RPL_CREATIONTIME, room.name, str(int(room.created)))
        return
    modes = args[0]
    if modes.lstrip("+-") in ("b", "e", "I") and len(args) == 1:
        end = {
            "b": (Numeric.RPL_ENDOFBANLIST, "End of channel ban list"),
            "e": (Numeric.RPL_ENDOFBANLIST, "End of channel exception list"),
            "I": (Numeric.RPL_ENDOFBANLIST, "End of channel invite list"),
        }[modes.lstrip("+-")]
        if modes.lstrip("+-") == "b":
            hub.reply(s, end[0], room.name, end[1])
        else:
            hub.reply(s, Numeric.ERR_UNKNOWNMODE, modes.lstrip("+-"), "is unknown mode char to me")
        return
    sign = True
    argi = 1
    applied: list[tuple[bool, str, str]] = []
    for ch in modes:
        if ch in "+-":
            sign = ch == "+"
            continue
        if ch in "nt":
            # n is always set, t as topic_protected says: neither can be changed, but only
            # those who may change modes hear nothing about it (Modern IRC: MODE, 482)
            if not (s.oper or s.user_key in room.ops):
                hub.reply(s, Numeric.ERR_CHANOPRIVSNEEDED, room.name, "You're not channel operator")
                return
            continue
        if ch in "ov":
            if argi >= len(args):
                continue
            nick = args[argi]
            argi += 1
            if ch == "v":
                continue  # voice has no meaning here (nobody is moderated per channel)
            who = hub.session_by_nick(nick)
            if who is None:
                hub.reply(s, Numeric.ERR_NOSUCHNICK, nick, "No such nick/channel")
                continue
            try:
                hub.messenger.set_op(s.user_key, room.key, who.user_key, sign, privileged=s.oper)
                names_changed(hub)
            except NotOperator as e:
                reply_error(hub, s, e, room.name)
                return
            except (NoSuchUser, NoSuchRoom):
                hub.reply(
                    s, Numeric.ERR_USERNOTINCHANNEL, nick, room.name, "They aren't on that channel"
                )
                continue
            applied.append((sign, "o", who.nick))
        else:
            hub.reply(s, Numeric.ERR_UNKNOWNMODE, ch, "is unknown mode char to me")
    if applied:
        text = ""
        last = None
        for on, ch, _ in applied:
            if on != last:
                text += "+" if on else "-"
                last = on
            text += ch
        line = format_line("MODE", (room.name, text, *(n for _, _, n in applied)), s.mask)
        for peer in hub.room_sessions(room):
            peer.send(line)


def _user_mode(hub: Hub, s: Session, msg: Message) -> None:
    target = msg.params[0]
    if casefold(target) != s.nick_key:
        if hub.session_by_nick(target) is None:
            hub.reply(s, Numeric.ERR_NOSUCHNICK, target, "No such nick/channel")
        else:
            hub.reply(s, Numeric.ERR_USERSDONTMATCH, "Can't change mode for other users")
        return
    if len(msg.params) < 2:
        hub.reply(s, Numeric.RPL_UMODEIS, "+i" + ("B" if s.bot else "") + ("o" if s.oper else ""))
        return
    sign = True
    changed = ""
    for ch in msg.params[1]:
        if ch in "+-":
            sign = ch == "+"
        elif ch == "B":
            if s.bot != sign:
                s.bot = sign
                changed += ("+" if sign else "-") + "B"
        elif ch == "o" and not sign and s.oper:
            s.oper = False
            hub.opers.discard(s)
            changed += "-o"
        elif ch in "iwo":
            continue
        else:
            hub.reply(s, Numeric.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
    if changed:
        s.send(format_line("MODE", (s.nick, changed), s.mask))

"""Channels: JOIN, PART, TOPIC, NAMES, LIST, KICK, MODE (channel and user modes)."""

from __future__ import annotations

from ...messenger.errors import (
    AlreadyMember,
    Banned,
    InvalidMode,
    KeySet,
    ListFull,
    NoSuchUser,
    NotMember,
    NotOperator,
)
from ...messenger.model import Room
from ...wire import (
    Message,
    Numeric,
    casefold,
    escape_tag_value,
    format_line,
    is_channel_name,
    truncate_utf8,
)
from .. import elist
from ..hub import MODES_PER_COMMAND, Hub
from ..lines import add_tag, safe_line
from ..operators import tell_network
from ..registry import command
from ..replies import reply_error
from ..rooms import join_room, send_names, send_topic, visible_to
from ..session import Session


@command("JOIN", min_params=1)
def join(hub: Hub, s: Session, msg: Message) -> None:
    if msg.params[0] == "0":
        for room in hub.rooms_of(s):
            _part(hub, s, room, "Left all channels")
        return
    u = hub.messenger.user(s.user_key)
    keys = msg.params[1].split(",") if len(msg.params) > 1 else []
    for i, name in enumerate(msg.params[0].split(",")):
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
        join_room(hub, s, key, name, backlog=True, password=keys[i] if i < len(keys) else "")


def _part(hub: Hub, s: Session, room: Room, reason: str) -> None:
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
    a channel that does not exist or is secret to ``s``); without a parameter, every channel
    with someone in it that ``s`` may see, and one 366 for "*"."""
    if not msg.params:
        for each in sorted(hub.messenger.rooms.values(), key=lambda r: r.key):
            if visible_to(hub, s, each):
                send_names(hub, s, each)
        hub.reply(s, Numeric.RPL_ENDOFNAMES, "*", "End of /NAMES list")
        return
    for name in msg.params[0].split(","):
        if not name:
            continue
        room = hub.messenger.room(casefold(name))
        if room is not None and visible_to(hub, s, room):
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
        if not visible_to(hub, s, room):
            continue
        count = sum(1 for _ in hub.room_users(room))
        if count == 0 and room.key != hub.general_key and room.key not in query.names:
            continue  # a room nobody is in now is listed only when asked for by name
        if query.matches(room.name, count, room.created, room.topic_time, now):
            hub.reply(s, Numeric.RPL_LIST, room.name, str(count), room.topic)
    hub.reply(s, Numeric.RPL_LISTEND, "End of /LIST")


@command("KICK", min_params=2)
def kick(hub: Hub, s: Session, msg: Message) -> None:
    """``KICK #c a,b :reason`` kicks each of a and b from #c; ``KICK #c,#d a,b`` kicks a from
    #c and b from #d (Modern IRC: KICK). One KICK line per user kicked."""
    chans = [c for c in msg.params[0].split(",") if c]
    nicks = [n for n in msg.params[1].split(",") if n][:MAX_KICK_TARGETS]
    reason = truncate_utf8(msg.params[2], 300) if len(msg.params) > 2 else s.nick
    if len(chans) == 1:
        pairs = [(chans[0], n) for n in nicks]
    elif len(chans) == len(nicks):
        pairs = list(zip(chans, nicks, strict=True))
    else:
        hub.reply(s, Numeric.ERR_NEEDMOREPARAMS, "KICK", "Give one channel, or one per user")
        return
    refused: set[str] = set()  # channels where the kicker may not kick: told once
    for name, nick in pairs:
        if casefold(name) not in refused and not _kick_one(hub, s, name, nick, reason):
            refused.add(casefold(name))


def _kick_one(hub: Hub, s: Session, name: str, nick: str, reason: str) -> bool:
    """Kick one user; False when the kicker may not kick in that channel at all."""
    room = hub.messenger.room(casefold(name))
    if room is None:
        hub.reply(s, Numeric.ERR_NOSUCHCHANNEL, name, "No such channel")
        return True
    resolved = hub.resolve_user(nick)
    if resolved is None:
        hub.reply(s, Numeric.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return True
    target_key, display = resolved
    line = safe_line("KICK", (room.name, display, reason), s.mask)
    members = list(hub.room_sessions(room))
    try:
        hub.messenger.kick(s.user_key, room.key, target_key, privileged=s.oper)
    except (NotMember, NotOperator) as e:
        reply_error(hub, s, e, room.name)
        return False
    except NoSuchUser:
        hub.reply(
            s, Numeric.ERR_USERNOTINCHANNEL, display, room.name, "They aren't on that channel"
        )
        return True
    for peer in members:
        peer.send(line)
    if s not in members:  # a server operator kicking from outside
        s.send(line)
    # its members elsewhere: the KICK, and not the PART of the kicked user's leaving
    tell_network(hub, {"t": "~say", "r": room.key, "line": line, "kick": target_key})
    return True


@command("INVITE")
def invite(hub: Hub, s: Session, msg: Message) -> None:
    """``INVITE nick #channel`` (Modern IRC: INVITE): 341 to the inviter, INVITE to the
    invited user, and to the members with invite-notify who could have invited them
    themselves (IRCv3 invite-notify). ``INVITE`` alone lists one's invitations (336/337)."""
    if not msg.params:
        for invited in hub.messenger.invitations(s.user_key):
            hub.reply(s, Numeric.RPL_INVITELIST, invited.name)
        hub.reply(s, Numeric.RPL_ENDOFINVITELIST, "End of /INVITE list")
        return
    if len(msg.params) < 2:
        hub.reply(s, Numeric.ERR_NEEDMOREPARAMS, "INVITE", "Not enough parameters")
        return
    nick, name = msg.params[0], msg.params[1]
    target = hub.session_by_nick(nick)
    if target is None:
        hub.reply(s, Numeric.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    room = hub.messenger.room(casefold(name))
    if room is None:
        hub.reply(s, Numeric.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    try:
        hub.messenger.invite(s.user_key, room.key, target.user_key, privileged=s.oper)
    except (NotMember, NotOperator) as e:
        reply_error(hub, s, e, room.name)
        return
    except AlreadyMember as e:
        reply_error(hub, s, e, target.nick, room.name)
        return
    except NoSuchUser:
        hub.reply(s, Numeric.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    hub.reply(s, Numeric.RPL_INVITING, target.nick, room.name)
    if target.away:
        hub.reply(s, Numeric.RPL_AWAY, target.nick, target.away)
    line = safe_line("INVITE", (target.nick, room.name), s.mask)
    # account-tag: "the account tag ... on any message" from a logged-in user (INVITE too)
    tagged = add_tag(line, f"account={escape_tag_value(s.account)}") if s.account else line

    def line_for(peer: Session) -> str:
        return tagged if "account-tag" in peer.caps else line

    to_devices = hub.sessions_of(target.user_key) or [target]
    for device in to_devices:
        device.send(line_for(device))
    invite_only = "i" in room.flags
    for peer in hub.room_sessions(room):
        if peer is s or peer in to_devices or "invite-notify" not in peer.caps:
            continue
        if invite_only and peer.user_key not in room.ops and not peer.oper:
            continue  # in a +i channel only those who may invite hear of invitations
        peer.send(line_for(peer))


@command("MODE", min_params=1)
def mode(hub: Hub, s: Session, msg: Message) -> None:
    target = msg.params[0]
    if not target.startswith("#"):
        _user_mode(hub, s, msg)
        return
    for name in target.split(","):
        _channel_mode(hub, s, name, msg.params[1:])


MAX_KICK_TARGETS = 4  # ISUPPORT TARGMAX KICK:4
# list mode -> (entry numeric, end numeric, end text)
LISTS = {
    "b": (Numeric.RPL_BANLIST, Numeric.RPL_ENDOFBANLIST, "End of channel ban list"),
    "e": (Numeric.RPL_EXCEPTLIST, Numeric.RPL_ENDOFEXCEPTLIST, "End of channel exception list"),
    "I": (
        Numeric.RPL_INVEXLIST,
        Numeric.RPL_ENDOFINVEXLIST,
        "End of channel invite exception list",
    ),
}


def channel_modes(hub: Hub, room: Room, show_key: bool) -> tuple[str, ...]:
    """324's mode string and parameters: ``+iklnt key 10`` (the key only to members). "t"
    shows while the topic is protected: a +t room whose operators all left is open to its
    members (Messenger.topic_protected)."""
    letters = set(room.flags)
    if not hub.messenger.topic_protected(room):
        letters.discard("t")
    params: list[tuple[str, str]] = []
    if room.join_key:
        params.append(("k", room.join_key if show_key else "*"))
    if room.limit:
        params.append(("l", str(room.limit)))
    letters.update(ch for ch, _ in params)
    ordered = sorted(letters, key=str.lower)
    by_letter = dict(params)
    return ("+" + "".join(ordered), *(by_letter[ch] for ch in ordered if ch in by_letter))


def _channel_mode(hub: Hub, s: Session, name: str, args: tuple[str, ...]) -> None:
    """MODE on a channel (Modern IRC: MODE, channel modes): without a mode string 324 and 329;
    a list mode without a parameter lists it (367/368, 348/349, 346/347); changes are made one
    by one by the engine and the ones made broadcast once, combined, to the channel."""
    room = hub.messenger.room(casefold(name))
    if room is None:
        hub.reply(s, Numeric.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    if not args:
        show_key = s.user_key in room.members or s.oper
        hub.reply(s, Numeric.RPL_CHANNELMODEIS, room.name, *channel_modes(hub, room, show_key))
        hub.reply(s, Numeric.RPL_CREATIONTIME, room.name, str(int(room.created)))
        return
    changes: list[tuple[bool, str, str]] = []
    queries: list[str] = []
    rest = list(args[1:])
    sign = True
    with_param = 0
    for ch in args[0]:
        if ch in "+-":
            sign = ch == "+"
            continue
        if ch in LISTS and not rest:
            if ch not in queries:
                queries.append(ch)
            continue
        takes = ch in "beIov" or (ch == "k" and (sign or bool(rest))) or (ch == "l" and sign)
        if ch not in "beIovklimnst":
            hub.reply(s, Numeric.ERR_UNKNOWNMODE, ch, "is unknown mode char to me")
            continue
        if not takes:
            changes.append((sign, ch, ""))
            continue
        if not rest:
            sign_ch = "+" if sign else "-"
            hub.reply(s, Numeric.ERR_NEEDMOREPARAMS, "MODE", f"{sign_ch}{ch} needs a parameter")
            continue
        arg = rest.pop(0)
        with_param += 1
        if with_param <= MODES_PER_COMMAND:
            changes.append((sign, ch, arg))
    for ch in queries:
        _send_list(hub, s, room, ch)
    applied = _apply_modes(hub, s, room, changes)
    if not applied:
        return
    text, last, params = "", None, []
    for on, ch, arg in applied:
        if on != last:
            text += "+" if on else "-"
            last = on
        text += ch
        if arg:
            params.append(arg)
    line = safe_line("MODE", (room.name, text, *params), s.mask)
    members = list(hub.room_sessions(room))
    for peer in members:
        peer.send(line)
    if s not in members:  # a server operator changing a channel from outside
        s.send(line)
    tell_network(hub, {"t": "~say", "r": room.key, "line": line})  # its members elsewhere


def _apply_modes(
    hub: Hub, s: Session, room: Room, changes: list[tuple[bool, str, str]]
) -> list[tuple[bool, str, str]]:
    """Make the changes through the engine; the ones made, with their parameters as applied."""
    m = hub.messenger
    applied: list[tuple[bool, str, str]] = []
    for on, ch, arg in changes:
        try:
            if ch in "ov":
                resolved = hub.resolve_user(arg)
                if resolved is None:
                    hub.reply(s, Numeric.ERR_NOSUCHNICK, arg, "No such nick/channel")
                    continue
                key, display = resolved
                setter = m.set_op if ch == "o" else m.set_voice
                try:
                    if setter(s.user_key, room.key, key, on, privileged=s.oper):
                        applied.append((on, ch, display))
                except NoSuchUser:
                    hub.reply(
                        s,
                        Numeric.ERR_USERNOTINCHANNEL,
                        display,
                        room.name,
                        "They aren't on that channel",
                    )
                continue
            got = m.set_mode(s.user_key, s.nick, room.key, on, ch, arg, privileged=s.oper)
            if got is not None:
                applied.append((on, ch, got))
        except NotOperator as e:  # (and GeneralRoomRule): nothing more is tried
            reply_error(hub, s, e, room.name)
            break
        except KeySet as e:
            reply_error(hub, s, e, room.name)
        except InvalidMode as e:
            hub.reply(s, Numeric.ERR_INVALIDMODEPARAM, room.name, e.mode, e.arg, e.text)
        except ListFull as e:
            hub.reply(s, Numeric.ERR_BANLISTFULL, room.name, arg, f"Channel +{e.mode} list is full")
    return applied


def _send_list(hub: Hub, s: Session, room: Room, ch: str) -> None:
    """A list mode's entries (mask, who set it, when) and its end. Bans are for everyone to
    see; exceptions and invite exceptions for the channel's and the server's operators."""
    entry, end, text = LISTS[ch]
    if ch != "b" and s.user_key not in room.ops and not s.oper:
        hub.reply(s, Numeric.ERR_CHANOPRIVSNEEDED, room.name, "You're not channel operator")
        return
    for e in room.lists.get(ch, {}).values():
        hub.reply(s, entry, room.name, e.mask, e.by or hub.name, str(int(e.time)))
    hub.reply(s, end, room.name, text)


def _user_mode(hub: Hub, s: Session, msg: Message) -> None:
    target = msg.params[0]
    if casefold(target) != s.nick_key:
        if hub.session_by_nick(target) is None:
            hub.reply(s, Numeric.ERR_NOSUCHNICK, target, "No such nick/channel")
        else:
            hub.reply(s, Numeric.ERR_USERSDONTMATCH, "Can't change mode for other users")
        return
    if len(msg.params) < 2:
        modes = "+i" + ("B" if s.bot else "") + ("o" if s.oper else "") + ("w" if s.wallops else "")
        hub.reply(s, Numeric.RPL_UMODEIS, modes)
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
        elif ch == "w":
            if s.wallops != sign:
                s.wallops = sign
                changed += ("+" if sign else "-") + "w"
        elif ch in "io":
            continue
        else:
            hub.reply(s, Numeric.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
    if changed:
        s.send(format_line("MODE", (s.nick, changed), s.mask))

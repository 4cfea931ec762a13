"""Queries and small commands: WHO, WHOIS, WHOWAS, ISON, USERHOST, AWAY, MOTD, LUSERS, VERSION,
TIME, OPER (HELP, INFO and LINKS are in server_info.py)."""

from __future__ import annotations

import logging

from ...messenger.passwords import hash_password, verify_password
from ...wire import Message, Numeric, casefold, format_line, parse_uint, truncate_utf8
from .. import welcome
from ..caps import SERVICE_KEY, SERVICE_NICK, VERSION
from ..dispatch import defer
from ..hub import Hub
from ..lines import safe_line
from ..registry import command
from ..rooms import prefix, visible_to
from ..session import Session
from ..timefmt import human_time

log = logging.getLogger(__name__)


def _flags(who: Session, op: bool) -> str:
    flags = ("G" if who.away else "H") + ("*" if who.oper else "") + ("@" if op else "")
    return flags + ("B" if who.bot else "")


def _who_line(hub: Hub, s: Session, channel: str, who: Session, op: bool) -> None:
    hub.reply(
        s,
        Numeric.RPL_WHOREPLY,
        channel,
        who.user,
        who.host,
        hub.name,
        who.nick,
        _flags(who, op),
        f"0 {who.realname or who.nick}",
    )


# WHOX fields, in the order their values are sent (ircv3 "whox" / modern-irc RPL_WHOSPCRPL)
WHOX_ORDER = "tcuihsnfdlaor"


def _whox_line(
    hub: Hub, s: Session, fields: str, token: str, channel: str, who: Session, op: bool
) -> None:
    values = {
        "t": token or "0",
        "c": channel,
        "u": who.user,
        "i": who.ip,
        "h": who.host,
        "s": hub.name,
        "n": who.nick,
        "f": _flags(who, op),
        "d": "0",
        "l": str(int(hub.clock.now() - who.last_active)),
        "a": who.account or "0",
        "o": "n/a",
        "r": who.realname or who.nick,
    }
    params = [values[f] for f in WHOX_ORDER if f in fields and (f != "t" or token)]
    if not params:
        return
    hub.reply(s, Numeric.RPL_WHOSPCRPL, *params)


@command("WHO")
def who(hub: Hub, s: Session, msg: Message) -> None:
    mask = msg.params[0] if msg.params else "*"
    whox = len(msg.params) > 1 and msg.params[1].startswith("%")
    fields, token = "", ""
    if whox:
        spec = msg.params[1][1:]
        fields, _, token = spec.partition(",")
        token = token[:3] if parse_uint(token) is not None else ""

    def line(channel: str, member: Session, op: bool) -> None:
        if whox:
            _whox_line(hub, s, fields, token, channel, member, op)
        else:
            _who_line(hub, s, channel, member, op)

    if mask.startswith("#"):
        room = hub.messenger.room(casefold(mask))
        if room is not None:
            for member in hub.room_users(room):  # one line per user, however many devices
                line(room.name, member, member.user_key in room.ops)
    else:
        target = hub.session_by_nick(mask)
        if target is not None:
            line("*", target, False)
    hub.reply(s, Numeric.RPL_ENDOFWHO, mask, "End of /WHO list")


@command("WHOIS", min_params=1)
def whois(hub: Hub, s: Session, msg: Message) -> None:
    nick = msg.params[-1].split(",")[0]
    if casefold(nick) == SERVICE_KEY:
        hub.reply(
            s,
            Numeric.RPL_WHOISUSER,
            SERVICE_NICK,
            "service",
            hub.name,
            "*",
            "Messenger service: /msg Messenger help",
        )
        hub.reply(s, Numeric.RPL_WHOISSERVER, SERVICE_NICK, hub.name, hub.config.server.network)
        hub.reply(s, Numeric.RPL_WHOISBOT, SERVICE_NICK, "is a bot on this network")
        hub.reply(s, Numeric.RPL_ENDOFWHOIS, SERVICE_NICK, "End of /WHOIS list")
        return
    target = hub.session_by_nick(nick)
    if target is None:
        hub.reply(s, Numeric.ERR_NOSUCHNICK, nick, "No such nick/channel")
        hub.reply(s, Numeric.RPL_ENDOFWHOIS, nick, "End of /WHOIS list")
        return
    hub.reply(s, Numeric.RPL_WHOISUSER, target.nick, target.user, target.host, "*", target.realname)
    chans = []
    multi = "multi-prefix" in s.caps
    for room in hub.rooms_of(target):
        if visible_to(hub, s, room):  # a secret channel only to its members
            chans.append(prefix(room, target.user_key, multi) + room.name)
    if chans:
        hub.reply(s, Numeric.RPL_WHOISCHANNELS, target.nick, " ".join(sorted(chans)))
    hub.reply(s, Numeric.RPL_WHOISSERVER, target.nick, hub.name, hub.config.server.network)
    if target.away:
        hub.reply(s, Numeric.RPL_AWAY, target.nick, target.away)
    devices = hub.sessions_of(target.user_key) or [target]  # one user, however many
    if any(d.oper for d in devices):
        hub.reply(s, Numeric.RPL_WHOISOPERATOR, target.nick, "is an IRC operator")
    if target.bot:
        hub.reply(s, Numeric.RPL_WHOISBOT, target.nick, "is a bot on this network")
    if target.account:
        hub.reply(s, Numeric.RPL_WHOISACCOUNT, target.nick, target.account, "is logged in as")
    if target.user_key == s.user_key and len(devices) > 1:  # told to the user only
        hub.reply(
            s, Numeric.RPL_WHOISSPECIAL, target.nick, f"is connected from {len(devices)} devices"
        )
    now = hub.clock.now()
    hub.reply(
        s,
        Numeric.RPL_WHOISIDLE,
        target.nick,
        str(int(now - max(d.last_active for d in devices))),
        str(int(target.created)),
        "seconds idle, signon time",
    )
    hub.reply(s, Numeric.RPL_ENDOFWHOIS, target.nick, "End of /WHOIS list")


@command("WHOWAS", min_params=1)
def whowas(hub: Hub, s: Session, msg: Message) -> None:
    nick = msg.params[0]  # echoed: hub.reply makes "WHOWAS :a b" sendable
    hub.reply(s, Numeric.ERR_WASNOSUCHNICK, nick, "There was no such nickname")
    hub.reply(s, Numeric.RPL_ENDOFWHOWAS, nick, "End of WHOWAS")


@command("ISON", min_params=1)
def ison(hub: Hub, s: Session, msg: Message) -> None:
    online = []
    for word in " ".join(msg.params).split():
        if casefold(word) == SERVICE_KEY:
            online.append(SERVICE_NICK)
        elif (t := hub.session_by_nick(word)) is not None:
            online.append(t.nick)
    hub.reply(s, Numeric.RPL_ISON, " ".join(online))


@command("USERHOST", min_params=1)
def userhost(hub: Hub, s: Session, msg: Message) -> None:
    out = []
    for word in msg.params[:5]:
        t = hub.session_by_nick(word)
        if t is not None:
            out.append(f"{t.nick}{'*' if t.oper else ''}={'-' if t.away else '+'}{t.user}@{t.host}")
    hub.reply(s, Numeric.RPL_USERHOST, " ".join(out))


@command("AWAY")
def away(hub: Hub, s: Session, msg: Message) -> None:
    given = truncate_utf8(msg.params[0], 200) if msg.params else ""  # AWAYLEN, in bytes
    text = given or None
    for device in hub.sessions_of(s.user_key) or [s]:
        device.away = text  # the user's: the same on each of its devices
    if text:
        hub.reply(s, Numeric.RPL_NOWAWAY, "You have been marked as being away")
    else:
        hub.reply(s, Numeric.RPL_UNAWAY, "You are no longer marked as being away")
    line = safe_line("AWAY", (text,) if text else (), s.mask)
    for peer in hub.peers_of(s):
        if "away-notify" in peer.caps:
            peer.send(line)


@command("MOTD")
def motd(hub: Hub, s: Session, msg: Message) -> None:
    welcome.motd(hub, s)


@command("LUSERS")
def lusers(hub: Hub, s: Session, msg: Message) -> None:
    welcome.lusers(hub, s)


@command("VERSION")
def version(hub: Hub, s: Session, msg: Message) -> None:
    hub.reply(s, Numeric.RPL_VERSION, VERSION, hub.name, "A messenger server that speaks IRC")
    tokens = hub.isupport
    for i in range(0, len(tokens), 12):
        hub.reply(s, Numeric.RPL_ISUPPORT, *tokens[i : i + 12], "are supported by this server")


@command("TIME")
def time_(hub: Hub, s: Session, msg: Message) -> None:
    hub.reply(s, Numeric.RPL_TIME, hub.name, human_time(hub.clock.now()))


@command("USERS")
def users(hub: Hub, s: Session, msg: Message) -> None:
    s.send(format_line("446", (s.nick, "USERS has been disabled"), hub.name))


_DUMMY_HASH: list[str] = []  # checked against for unknown operator names (made once)


def _oper_check(password: str, stored: str | None) -> bool:
    """Off the event loop: an unknown name costs the same scrypt as a wrong password."""
    if stored is None:
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(hash_password("not an operator password"))
        verify_password(password, _DUMMY_HASH[0])
        return False
    return verify_password(password, stored)


@command("OPER", min_params=2)
def oper(hub: Hub, s: Session, msg: Message) -> None:
    name, password = msg.params[0], msg.params[1]
    key = casefold(name)
    throttle_key = "oper:" + key  # OPER guesses are throttled like logins
    now = hub.clock.now()
    until = hub.throttle.blocked(now, s.ip, throttle_key)
    if until:
        wait = int(until - now) + 1
        hub.reply(s, Numeric.ERR_PASSWDMISMATCH, f"Too many failed attempts; try again in {wait}s")
        return
    stored = hub.operators.get(key)

    def checked(good: bool) -> None:
        if not good:
            hub.throttle.failed(hub.clock.now(), s.ip, throttle_key)
            hub.client_log(s, log.warning, "failed OPER as %s by %s (%s)", name, s.nick, s.ip)
            hub.reply(s, Numeric.ERR_PASSWDMISMATCH, "Password incorrect")
            return
        hub.throttle.succeeded(s.ip, throttle_key)
        s.oper = True
        hub.opers.add(s)
        hub.messenger.record_oper(s.user_key, key)  # its account is an operator's, even offline
        hub.client_log(s, log.info, "%s (%s) is now an operator as %s", s.nick, s.ip, name)
        hub.reply(s, Numeric.RPL_YOUREOPER, "You are now an IRC operator")
        s.send(format_line("MODE", (s.nick, "+o"), s.mask))

    defer(hub, s, lambda: _oper_check(password, stored), checked)

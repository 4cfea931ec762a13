"""Queries and small commands: WHO, WHOIS, WHOWAS, MONITOR, ISON, USERHOST, AWAY, MOTD, LUSERS,
VERSION, TIME, OPER (HELP, INFO and LINKS are in server_info.py)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ...messenger.passwords import hash_password, verify_password
from ...wire import (
    Message,
    Numeric,
    casefold,
    format_line,
    glob_match,
    has_wildcards,
    is_channel_name,
    is_valid_nick,
    parse_uint,
    truncate_utf8,
)
from .. import monitor, welcome
from ..caps import SERVICE_KEY, SERVICE_NICK, VERSION
from ..dispatch import defer
from ..hub import Hub
from ..lines import safe_line
from ..registry import command
from ..rooms import prefix, visible_to
from ..session import Session
from ..timefmt import human_time

log = logging.getLogger(__name__)


def _flags(who: Session, prefix: str) -> str:
    """WHO's flags field (Modern IRC, RPL_WHOREPLY): H here or G gone (away), * an IRC
    operator, the channel prefix (@ or +, both with multi-prefix) when the reply names a
    channel, B a bot (draft bot-mode; ``Session.bot``, set by user mode +B)."""
    flags = ("G" if who.away else "H") + ("*" if who.oper else "") + prefix
    return flags + ("B" if who.bot else "")


def _who_line(hub: Hub, s: Session, channel: str, who: Session, prefix: str) -> None:
    hub.reply(
        s,
        Numeric.RPL_WHOREPLY,
        channel,
        who.user,
        who.host,
        hub.name,
        who.nick,
        _flags(who, prefix),
        f"0 {who.realname or who.nick}",
    )


# WHOX fields, in the order their values are sent (ircv3 "whox" / modern-irc RPL_WHOSPCRPL)
WHOX_ORDER = "tcuihsnfdlaor"


def _whox_line(
    hub: Hub, s: Session, fields: str, token: str, channel: str, who: Session, prefix: str
) -> None:
    values = {
        "t": token or "0",
        "c": channel,
        "u": who.user,
        "i": who.ip,
        "h": who.host,
        "s": hub.name,
        "n": who.nick,
        "f": _flags(who, prefix),
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


def _matches(mask: str, who: Session, server: str) -> bool:
    """A WHO mask against a user (Modern IRC, WHO: the mask is matched against the nick, the
    username, the host, the server and the realname; with ! or @ in it, against the whole
    nick!user@host)."""
    if "!" in mask or "@" in mask:
        return glob_match(mask, who.mask)
    return any(
        glob_match(mask, field)
        for field in (who.nick, who.user, who.host, server, who.realname or who.nick)
    )


def _visible(hub: Hub, s: Session) -> set[Session]:
    """Who a WHO mask may list for ``s``: everyone counts as invisible (user mode +i, as
    MODE shows it), so the users sharing a channel with ``s`` and ``s`` itself; everyone for
    an IRC operator."""
    if s.oper:
        return set(hub.nicks.values())
    # one connection per user: the one that speaks for it (a user with several devices is one)
    seen = {hub.by_user.get(p.user_key, p) for p in hub.peers_of(s)}
    seen.add(hub.by_user.get(s.user_key, s))
    return seen


@command("WHO")
def who(hub: Hub, s: Session, msg: Message) -> None:
    mask = msg.params[0] if msg.params else "*"
    options = msg.params[1] if len(msg.params) > 1 else ""
    flags, whox, spec = options.partition("%")
    only_opers = "o" in flags
    fields, token = "", ""
    if whox:
        fields, _, token = spec.partition(",")
        token = token[:3] if parse_uint(token) is not None else ""

    def line(channel: str, member: Session, prefix: str) -> None:
        if only_opers and not member.oper:
            return
        if whox:
            _whox_line(hub, s, fields, token, channel, member, prefix)
        else:
            _who_line(hub, s, channel, member, prefix)

    if is_channel_name(mask):
        room = hub.messenger.room(casefold(mask))
        if room is not None and visible_to(hub, s, room):  # a secret channel: its members
            multi = "multi-prefix" in s.caps
            for member in hub.room_users(room):  # one line per user, however many devices
                line(room.name, member, prefix(room, member.user_key, multi))
    elif (target := hub.session_by_nick(mask)) is not None:
        line("*", target, "")  # a nick asked for by name: shown whatever its modes
    elif mask in ("0", "*") or has_wildcards(mask) or "@" in mask or "." in mask:
        pattern = "*" if mask == "0" else mask
        for member in sorted(_visible(hub, s), key=lambda m: m.nick_key):
            if _matches(pattern, member, hub.name):
                line("*", member, "")
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
    """Modern IRC, WHOWAS: for each nick (or wildcard mask) the history, most recent first,
    each entry as 314 (330 when it was logged in) 312; 406 for a nick with none; one 369
    naming the nicks as sent. ``count``: at most that many entries per nick (0 or negative:
    all)."""
    targets = msg.params[0]  # echoed: hub.reply makes "WHOWAS :a b" sendable
    count = 0
    if len(msg.params) > 1:
        arg = msg.params[1]
        number = parse_uint(arg.removeprefix("-"))
        count = 0 if number is None or arg.startswith("-") else number
    for nick in targets.split(",")[:4]:  # MAXTARGETS
        if not nick:
            continue
        found = False
        for was in hub.whowas.find(nick, count):
            found = True
            hub.reply(s, Numeric.RPL_WHOWASUSER, was.nick, was.user, was.host, "*", was.realname)
            if was.account:
                hub.reply(s, Numeric.RPL_WHOISACCOUNT, was.nick, was.account, "was logged in as")
            hub.reply(s, Numeric.RPL_WHOISSERVER, was.nick, hub.name, human_time(was.when))
        if not found:
            hub.reply(s, Numeric.ERR_WASNOSUCHNICK, nick, "There was no such nickname")
    hub.reply(s, Numeric.RPL_ENDOFWHOWAS, targets, "End of WHOWAS")


@command("MONITOR", min_params=1)
def monitor_(hub: Hub, s: Session, msg: Message) -> None:
    """IRCv3 monitor (https://ircv3.net/specs/extensions/monitor): ``+ targets`` adds and
    answers 730/731 for them (734 for those beyond the list's limit), ``- targets`` removes,
    ``C`` clears, ``L`` lists (732, 733), ``S`` shows each target's status (730/731)."""
    sub = msg.params[0].upper()
    if sub in ("+", "-"):
        if len(msg.params) < 2 or not msg.params[1].strip(","):
            hub.reply(s, Numeric.ERR_NEEDMOREPARAMS, "MONITOR", "Not enough parameters")
            return
        targets = [t for t in msg.params[1].split(",") if t]
        if sub == "-":
            for target in targets:
                hub.monitor.remove(s, target)
            return
        added, never = [], []
        for i, target in enumerate(targets):
            if not is_valid_nick(target):
                # a mask or a non-nick never comes online (the spec allows nicks only): told
                # offline, and not kept
                never.append(target)
                continue
            if not hub.monitor.add(s, target):
                rest = ",".join(targets[i:])
                limit = str(hub.monitor.limit)
                hub.reply(s, Numeric.ERR_MONLISTFULL, limit, rest, "Monitor list is full")
                break
            added.append(target)
        _monitor_status(hub, s, added, never)
    elif sub == "C":
        hub.monitor.forget(s)
    elif sub == "L":
        for part in monitor.chunks(hub.monitor.targets(s).values()):
            hub.reply(s, Numeric.RPL_MONLIST, part)
        hub.reply(s, Numeric.RPL_ENDOFMONLIST, "End of MONITOR list")
    elif sub == "S":
        _monitor_status(hub, s, list(hub.monitor.targets(s).values()))
    else:
        hub.reply(
            s, Numeric.ERR_UNKNOWNCOMMAND, "MONITOR", f"Unknown MONITOR subcommand: {sub[:20]}"
        )


def _monitor_status(hub: Hub, s: Session, targets: list[str], never: Sequence[str] = ()) -> None:
    online, offline = [], list(never)
    for target in targets:
        if casefold(target) == SERVICE_KEY:
            online.append(f"{SERVICE_NICK}!service@{hub.name}")
        elif (who := hub.session_by_nick(target)) is not None:
            online.append(who.mask)
        else:
            offline.append(target)
    for part in monitor.chunks(online):
        hub.reply(s, Numeric.RPL_MONONLINE, part)
    for part in monitor.chunks(offline):
        hub.reply(s, Numeric.RPL_MONOFFLINE, part)


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
    monitor.notify(hub.peers_of(s), hub.monitor, s, "away-notify", line)


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

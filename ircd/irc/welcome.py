"""The welcome burst and the landing: 001-005, LUSERS and the MOTD (the parts that are the
same for everyone formatted once per server), then, on the client's next line, #general and the
user's other channels, and what the user missed. Used at registration
(commands/registration.py), by dispatch.py (the landing) and by MOTD/LUSERS (commands/queries.py).
"""

from __future__ import annotations

from collections.abc import Callable

from ..wire import Numeric, format_line
from .caps import VERSION
from .hub import Hub
from .replay import push_unread_on_connect
from .rooms import join_room
from .session import Session
from .timefmt import human_time


def welcome(hub: Hub, s: Session) -> None:
    cfg = hub.config.server
    hub.reply(s, Numeric.RPL_WELCOME, f"Welcome to the {cfg.network} Network, {s.mask}")
    # 002-005 and the MOTD are the same for everyone but the nick: formatted once per server
    _send_block(s, _static_burst(hub, "info", server_info), s.nick)
    lusers(hub, s)
    _send_block(s, _static_burst(hub, "motd", motd), s.nick)
    if s.bot:
        s.send(format_line("MODE", (s.nick, "+B"), s.mask))


def server_info(hub: Hub, s: Session) -> None:
    """002-005."""
    hub.reply(s, Numeric.RPL_YOURHOST, f"Your host is {hub.name}, running version {VERSION}")
    hub.reply(s, Numeric.RPL_CREATED, f"This server was created {human_time(hub.started)}")
    channel_modes, with_param = _myinfo_modes(hub.isupport)
    s.send(
        format_line(
            Numeric.RPL_MYINFO.value,
            (s.nick, hub.name, VERSION, "iBow", channel_modes, with_param),
            hub.name,
        )
    )
    tokens = hub.isupport
    for i in range(0, len(tokens), 12):
        hub.reply(s, Numeric.RPL_ISUPPORT, *tokens[i : i + 12], "are supported by this server")


_NICK_SLOT = "\x01"  # stands for the nick in a cached burst (never valid in a nick)


def _static_burst(hub: Hub, name: str, build: Callable[[Hub, Session], None]) -> str:
    """The lines ``build`` sends, formatted once with a placeholder nick."""
    text = hub.burst_cache.get(name)
    if text is None:
        probe = Session(ip="", dirty=set(), nick=_NICK_SLOT, registered=True)
        probe.capture = []
        build(hub, probe)
        text = hub.burst_cache[name] = "".join(line + "\r\n" for line in probe.capture)
    return text


def _send_block(s: Session, text: str, nick: str) -> None:
    text = text.replace(f" {_NICK_SLOT} ", f" {nick} ")
    if s.capture is not None:  # a labeled command: each line goes into the labeled reply
        for line in text.split("\r\n")[:-1]:
            s.send(line)
    else:
        s.send_bytes(text.encode())


def lusers(hub: Hub, s: Session) -> None:
    n = len(hub.nicks)  # users: an account with several devices counts once
    unknown = len(hub.sessions) - sum(map(len, hub.devices.values()))
    opers = len(hub.opers)  # kept by the hub: this runs on every registration
    hub.reply(s, Numeric.RPL_LUSERCLIENT, f"There are {n} users and 0 invisible on 1 servers")
    hub.reply(s, Numeric.RPL_LUSEROP, str(opers), "operator(s) online")
    hub.reply(s, Numeric.RPL_LUSERUNKNOWN, str(max(0, unknown)), "unknown connection(s)")
    hub.reply(s, Numeric.RPL_LUSERCHANNELS, str(len(hub.messenger.rooms)), "channels formed")
    hub.reply(s, Numeric.RPL_LUSERME, f"I have {n} clients and 0 servers")
    top = str(max(hub.max_users_seen, n))
    hub.reply(s, Numeric.RPL_LOCALUSERS, str(n), top, f"Current local users {n}, max {top}")
    hub.reply(s, Numeric.RPL_GLOBALUSERS, str(n), top, f"Current global users {n}, max {top}")


def motd(hub: Hub, s: Session) -> None:
    text = hub.config.server.motd
    if not text:
        hub.reply(s, Numeric.ERR_NOMOTD, "MOTD File is missing")
        return
    hub.reply(s, Numeric.RPL_MOTDSTART, f"- {hub.name} Message of the day - ")
    for line in text.splitlines() or [""]:
        while True:
            hub.reply(s, Numeric.RPL_MOTD, f"- {line[:400]}")
            line = line[400:]
            if not line:
                break
    hub.reply(s, Numeric.RPL_ENDOFMOTD, "End of /MOTD command.")


# The landing waits. After the welcome burst the client's next line lands it; a client that
# says nothing for LANDING_QUIET seconds is sent a PING (dispatch.ping_landing, on the
# server's timer; the tick is the fallback), and its PONG lands it. pydle handles each line
# in a task of its own, and its 001 handler learns the client's own nick only once its WHOIS
# of a placeholder nick is answered; a JOIN handled before that is taken for someone else's
# and the channel is lost (and, once WHOX is offered, pydle no longer delays its JOIN handler
# behind a WHOIS of its own). A query sent first (pydle's WHOIS) is answered before the
# landing; any other line (a pipelined JOIN or PRIVMSG, a PING sent to wait for the burst) is
# handled after it, as if the landing had come at once.
LANDING_PING = format_line("PING", ("welcome",))
# how long a welcomed client may stay silent before the landing PING: long enough for pydle's
# tasks to have sent their WHOIS (a line in flight arrives before the PONG), short enough that
# a client that waits for the server (a bot, a load generator) lands at once
LANDING_QUIET = 0.1
ANSWERED_BEFORE_LANDING = frozenset(
    {"PONG", "WHOIS", "WHO", "WHOWAS", "USERHOST", "ISON", "MONITOR", "CAP"}
)


def expect_landing(hub: Hub, s: Session) -> None:
    """Registration is complete and the burst sent: land on the client's next line (the tick
    sends LANDING_PING to a client that stays silent for LANDING_QUIET seconds)."""
    s.landing_due = True
    when = hub.clock.now() + LANDING_QUIET
    hub.landing.append((when, s))
    hub.wake_at(when)


def land_due(hub: Hub, s: Session) -> None:
    """Land ``s`` now if it is still waiting for it."""
    if s.landing_due and s.registered and s.closing is None:
        s.landing_due = False
        land(hub, s)


def land(hub: Hub, s: Session) -> None:
    """After the welcome: join #general (unless chat.auto_join is off) and, for a returning
    account, its other channels, then push what the user has not seen yet."""
    m = hub.messenger
    u = m.user(s.user_key)
    assert u is not None
    first_time = not u.seen_before
    rooms = sorted(k for k in u.rooms if k != hub.general_key)
    if hub.general_key:
        rooms.insert(0, hub.general_key)
    general_name = hub.config.chat.general_channel
    for key in rooms:
        room = m.rooms.get(key)
        name = room.name if room is not None else general_name
        join_room(hub, s, key, name, backlog=False)
    push_unread_on_connect(hub, s, first_time)
    ban = m.ban_of(s.user_key)
    if ban is not None:
        why = f" ({ban.reason})" if ban.reason else ""
        hub.service_notice(
            s, f"You are muted until {human_time(ban.until)}{why}: you can read but not send."
        )


def _myinfo_modes(isupport: list[str]) -> tuple[str, str]:
    """004's channel modes and those of them that take a parameter, from the CHANMODES and
    PREFIX tokens of ISUPPORT (one source for both): lists, key and limit take one, and so do
    the status modes."""
    tokens = dict(t.split("=", 1) for t in isupport if "=" in t)
    lists, key, limit, plain = (tokens.get("CHANMODES", "") + ",,,").split(",")[:4]
    status = tokens.get("PREFIX", "()").split(")")[0].lstrip("(")
    every = sorted(set(lists + key + limit + plain + status), key=lambda c: (c.lower(), c))
    takes = set(lists + key + limit + status)
    return "".join(every), "".join(c for c in every if c in takes)

"""Several nodes as one network (the "redis" storage backend): what this node does with the
stream entries of the other nodes, and the presence records it adds to its own.

Every node applies, in stream order, every entry of every node. An entry's events are the
engine's durable events (``ircd/messenger/events.py``), applied with ``Messenger.replay``, plus
**presence records**, tagged ``~...``, which the engine never sees: who is connected on which
node and, for guests (whose state is not durable), their nick and channels:

``{"t": "~on", "o": origin, "u": user key, "n": nick, "m": nick!user@host, "a": account,
"r": [room keys], "w": away text, "rn": real name}``
    a user registered on node ``o`` (a guest's rooms are joined here too)
``{"t": "~nick", "o", "u", "n", "m"}``, ``{"t": "~join"/"~part", "o", "u", "r": room key,
"rname": room name}``
    a guest changed nick, joined or left a channel (``~on`` has the names of its rooms too,
    in ``"rnames"``: a room made by a guest is not journaled, the other nodes make it from
    these)
``{"t": "~away", "o", "u", "w": away text ("" = back)}``
    a user set or cleared its away message
``{"t": "~name", "o", "u", "rn": real name}``
    a user changed its real name (SETNAME)
``{"t": "~key", "o", "u", "k": new user key, "a": account}``
    a guest registered or logged in: it is that account now
``{"t": "~off", "o", "u", "why": reason}``
    the user's connection on ``o`` closed
``{"t": "~gone", "o": origin}``
    node ``o`` stopped heartbeating: each of its users quits
``{"t": "~host", "o", "u", "h": host}``, ``{"t": "~kill", "o", "u", "by": operator mask,
"r": reason, "why": quit reason}``, ``{"t": "~wallops", "o", "line": the WALLOPS line}``
    an operator on ``o`` changed the user's host (CHGHOST), killed it (its nodes close its
    connections) or sent a WALLOPS (``operators.py``; the commands queue them in
    ``Hub.network``)
``{"t": "~say", "o", "r": room key, "line": the line, "kick": user key (a KICK)}``
    a line node ``o`` sent to a channel's members for a change the events do not show (MODE,
    KICK: the kicked user's Part that follows is not shown as a PART)
``{"t": "~why", "o", "u", "r": room key, "why": reason}``
    the reason of a PART on ``o``: the Part event or ``~part`` after it in the entry is shown
    as a PART with it
``~redact``, ``~invite``, ``~tag``, ``~notice``
    lines no event shows, relayed to the clients here (``relayed.py``)
``{"t": "~hello", "o": origin}``
    node ``o`` started: every other node announces its users again (``~on``), so the new node
    knows who is online where

An account connected on several nodes is one user with devices here and stand-ins for its
devices elsewhere (``Hub.devices``): its nick, host, away and real name change on all of them,
its joins and parts, read markers and private messages it sent are shown to its devices here.

A user on another node is a **remote session** here: a ``Session`` with ``node`` set, no link
and ``closing = ""``, so everything that looks users up (NAMES, WHO, WHOIS, nick in use, private
delivery, JOIN/PART/QUIT to peers, MONITOR status) sees it, and nothing is ever queued to it
(its own node delivers to it, from the same entries). This node delivers to its own connections
what the applied events show: channel and private posts, joins, parts, topics, quits, and to
its MONITOR watchers 730/731 (a remote nick taken or let go) and the extended-monitor AWAY,
ACCOUNT, SETNAME and CHGHOST lines (https://ircv3.net/specs/extensions/extended-monitor).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..messenger.errors import MessengerError
from ..messenger.events import Join, Marked, Muted, NewPost, Part, TopicSet
from ..messenger.model import Post, Scheduled
from ..wire import casefold, format_line
from .fanout import relay_private, relay_room
from .lines import safe_line
from .monitor import notify
from .operators import change_host, kill_here, wallops_here
from .relayed import apply_relayed
from .rooms import show_to_device
from .session import Session
from .timefmt import human_time, iso_time

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)

PRESENCE = "~"  # the first character of a presence record's type


def is_presence(ev: dict[str, Any]) -> bool:
    t = ev.get("t")
    return type(t) is str and t.startswith(PRESENCE)


@dataclass
class Announced:
    """What the other nodes were last told about one of this node's sessions."""

    nick: str
    mask: str
    rooms: frozenset[str]
    user: str  # the user key (a guest that registers or logs in becomes its account)
    away: str | None = None
    realname: str = ""


@dataclass
class Presence:
    """This node's side of presence: its origin and what it announced; the remote sessions."""

    origin: str
    announced: dict[Session, Announced] = field(default_factory=dict)
    remote: dict[str, dict[str, Session]] = field(default_factory=dict)  # origin -> user -> s
    # (room key, user key) kicked on another node: its Part is shown as that KICK (``~say``)
    kicked: set[tuple[str, str]] = field(default_factory=set)
    # (room key, user key) -> the reason of a PART on another node (``~why``), for its Part
    # or ``~part`` later in the same entry
    reasons: dict[tuple[str, str], str] = field(default_factory=dict)


# ---------------------------------------------------------------------- this node's records


def presence_changes(hub: Hub, p: Presence) -> list[dict[str, Any]]:
    """The presence records for what changed among this node's sessions since the last call:
    registrations, nick changes, a guest's joins and parts, closed connections."""
    out: list[dict[str, Any]] = [{**r, "o": p.origin} for r in hub.network]
    hub.network.clear()
    m = hub.messenger
    for s in list(p.announced):
        if s.registered and s in hub.sessions:
            continue
        del p.announced[s]
        out.append({"t": "~off", "o": p.origin, "u": s.user_key, "why": s.closing or "Quit"})
    for s in hub.sessions:
        if not s.registered or s.closing is not None or not s.user_key:
            continue
        u = m.users.get(s.user_key)
        rooms = frozenset(u.rooms) if u is not None else frozenset()
        known = p.announced.get(s)
        if known is not None and known.user != s.user_key:
            k = {"t": "~key", "o": p.origin, "u": known.user, "k": s.user_key}
            out.append({**k, "a": s.account or ""})
            known.user = s.user_key
        if known is None:
            p.announced[s] = Announced(s.nick, s.mask, rooms, s.user_key, s.away, s.realname)
            out.append(
                {
                    "t": "~on",
                    "o": p.origin,
                    "u": s.user_key,
                    "n": s.nick,
                    "m": s.mask,
                    "a": s.account or "",
                    "r": sorted(rooms),
                    "rnames": [_room_name(hub, r) for r in sorted(rooms)],  # (to make a guest's)
                    "w": s.away or "",
                    "rn": s.realname,
                }
            )
            continue
        if known.away != s.away:
            out.append({"t": "~away", "o": p.origin, "u": s.user_key, "w": s.away or ""})
            known.away = s.away
        if known.realname != s.realname:
            out.append({"t": "~name", "o": p.origin, "u": s.user_key, "rn": s.realname})
            known.realname = s.realname
        if known.nick != s.nick or known.mask != s.mask:
            out.append({"t": "~nick", "o": p.origin, "u": s.user_key, "n": s.nick, "m": s.mask})
            known.nick, known.mask = s.nick, s.mask
        if known.rooms != rooms:
            if s.account is None:  # an account's joins and parts are engine events
                for r in sorted(rooms - known.rooms):
                    j = {"t": "~join", "o": p.origin, "u": s.user_key, "r": r}
                    out.append({**j, "rname": _room_name(hub, r)})
                for r in sorted(known.rooms - rooms):
                    out.append({"t": "~part", "o": p.origin, "u": s.user_key, "r": r})
            known.rooms = rooms
    return out


# ---------------------------------------------------------------------- other nodes' entries


def apply_entry(hub: Hub, p: Presence, origin: str, events: list[dict[str, Any]]) -> bool:
    """Apply another node's stream entry: its events in order, each shown to this node's
    connections as it would be had it happened here. True when this node must announce its
    users again (a node started and asked with ``~hello``)."""
    m = hub.messenger
    again = False
    # a scheduled message that fired there is no live post: its author's devices see it as
    # they would here (``relay_private``); any other post was sent by a device on ``origin``
    fired = any(ev.get("t") == "unsched" for ev in events)
    ended = [  # scheduled messages that end in this entry (fired, cancelled, dropped)
        item
        for ev in events
        if ev.get("t") == "unsched" and (item := m.scheduled.get(ev.get("id", -1))) is not None
    ]
    for ev in events:
        if is_presence(ev):
            if ev.get("t") == "~hello" and ev.get("o") != p.origin:
                p.announced.clear()  # the next append says who is here, again
                again = True
            else:
                _presence(hub, p, ev)
            continue
        try:
            typed = m.replay_one(ev)
        except Exception:
            log.exception("entry of %s: event %r not applied", origin, ev.get("t"))
            continue
        try:
            _show(hub, p, typed, origin if not fired else "")
            if isinstance(typed, NewPost):
                _fired(hub, typed.post, ended)
        except Exception:
            log.exception("entry of %s: event %r not shown", origin, ev.get("t"))
    p.reasons.clear()  # (a reason whose PART was not shown here)
    return again


def _fired(hub: Hub, post: Post, ended: list[Scheduled]) -> None:
    """A scheduled message fired on another node: its author's devices here are told, as
    those on that node are (scheduler.py)."""
    for item in ended:
        if item.owner == post.sender and item.text == post.text:
            target = post.room if post.room is not None else post.to
            if target == item.target:
                ended.remove(item)
                text = f"Scheduled message #{item.id} to {item.target_name} was sent."
                for device in _here(hub, item.owner):
                    hub.service_notice(device, text)
                return


def _show(hub: Hub, p: Presence, ev: Any, origin: str) -> None:
    """Show an applied event of node ``origin`` ("": a scheduled message that fired there) to
    this node's connections, the devices here of the user who acted included."""
    m = hub.messenger
    if isinstance(ev, NewPost):
        post = ev.post
        if post.room is not None:
            room = m.rooms.get(post.room)
            if room is not None:
                if room.history and room.history[-1].seq == post.seq:
                    post = room.history[-1]
                relay_room(hub, post, room, None)
        else:
            # sent from a device on ``origin``: the sender's devices here get a copy, as its
            # other devices on one node do
            live = bool(origin) and any(d.node == origin for d in hub.sessions_of(post.sender))
            relay_private(hub, post, None, from_device=live)
    elif isinstance(ev, Join):
        room = m.rooms.get(ev.room)
        if room is not None:
            _to_room(hub, room.key, format_line("JOIN", (room.name,), _mask(hub, ev.user)), ev.user)
            for device in _here(hub, ev.user):  # the account joined from another node
                show_to_device(hub, device, room)
    elif isinstance(ev, Part):
        if (ev.room, ev.user) in p.kicked:
            p.kicked.discard((ev.room, ev.user))  # shown as the KICK already
            return
        room = m.rooms.get(ev.room)
        name = room.name if room is not None else ev.room
        line = _part_line(p, ev.room, ev.user, name, _mask(hub, ev.user))
        _to_room(hub, ev.room, line, ev.user)
        for device in _here(hub, ev.user):
            device.send(line)
    elif isinstance(ev, Marked):
        # ircv3.net/specs/extensions/read-marker ("Command flows"): a read marker moved on a
        # device on another node goes to the user's devices here that negotiated it
        room = m.rooms.get(ev.target)
        if room is not None:
            shown = room.name
        else:
            who = hub.resolve_user(ev.target)
            shown = who[1] if who is not None else ev.target
        line = format_line("MARKREAD", (shown, f"timestamp={iso_time(ev.time)}"), hub.name)
        for device in _here(hub, ev.user):
            if "draft/read-marker" in device.caps:
                device.send(line)
    elif isinstance(ev, Muted):
        for target in _here(hub, ev.user):  # muted elsewhere: each of its devices here
            hub.service_notice(
                target,
                f"You have been muted until {human_time(ev.until)}: "
                "you can read but not send messages until then.",
            )
    elif isinstance(ev, TopicSet):
        room = m.rooms.get(ev.room)
        if room is not None:
            line = safe_line("TOPIC", (room.name, ev.text), ev.by or hub.name)
            _to_room(hub, room.key, line, "")


def _part_line(p: Presence, room_key: str, user: str, name: str, mask: str) -> str:
    """Modern IRC "PART message": ``:mask PART #channel [:reason]``, with the reason given
    on the user's node (``~why``)."""
    reason = p.reasons.pop((room_key, user), "")
    return safe_line("PART", (name, reason) if reason else (name,), mask)


def _here(hub: Hub, user: str) -> list[Session]:
    """The devices of ``user`` connected to this node."""
    return [d for d in hub.sessions_of(user) if not d.node]


def _mask(hub: Hub, user: str) -> str:
    s = hub.by_user.get(user)
    if s is not None:
        return s.mask
    u = hub.messenger.users.get(user)
    name = u.name if u is not None else user
    return f"{name}!{name}@{hub.name}"


def _to_room(hub: Hub, room_key: str, line: str, actor: str) -> None:
    """``line`` to this node's connections in the room (not to ``actor``'s own)."""
    room = hub.messenger.rooms.get(room_key)
    targets = list(hub.room_sessions(room)) if room is not None else []
    for s in targets:
        if s.node or s.user_key == actor:
            continue
        s.send(line)


def _remote(hub: Hub, p: Presence, origin: str, user: str) -> Session | None:
    return p.remote.get(origin, {}).get(user)


def _presence(hub: Hub, p: Presence, ev: dict[str, Any]) -> None:
    t, origin = ev.get("t"), str(ev.get("o", ""))
    user = str(ev.get("u", ""))
    if origin == p.origin:
        return
    m = hub.messenger
    if apply_relayed(hub, ev):
        return
    if t == "~why":
        p.reasons[(str(ev.get("r")), user)] = str(ev.get("why") or "")
    elif t == "~on":
        _arrive(hub, p, origin, user, str(ev.get("n")), str(ev.get("m")), str(ev.get("a") or ""))
        s = _remote(hub, p, origin, user)
        if s is not None:
            keys, names = ev.get("r") or [], ev.get("rnames") or []
            for i, r in enumerate(keys):
                _join_guest(hub, s, str(r), str(names[i]) if i < len(names) else "")
            s.away = str(ev.get("w") or "") or None
            s.realname = str(ev.get("rn") or "")
    elif t == "~name":
        s = _remote(hub, p, origin, user)
        name = str(ev.get("rn") or "")
        if s is not None and name and name != s.realname:
            # ircv3.net/specs/extensions/setname (and extended-monitor): one real name on
            # every device of the user; its devices here that negotiated setname are told
            line = safe_line("SETNAME", (name,), s.mask)
            for d in _devices(hub, s):
                d.realname = name
                if p.announced.get(d) is not None:
                    p.announced[d].realname = name  # (nothing to announce: it came from there)
                if not d.node and "setname" in d.caps:
                    d.send(line)
            notify(_local_peers(hub, s), hub.monitor, s, "setname", line)
    elif t == "~away":
        s = _remote(hub, p, origin, user)
        if s is not None:
            away = str(ev.get("w") or "") or None
            for d in _devices(hub, s):  # the user's: the same on each of its devices
                d.away = away
                if p.announced.get(d) is not None:
                    p.announced[d].away = away
            line = safe_line("AWAY", (away,) if away else (), s.mask)
            notify(_local_peers(hub, s), hub.monitor, s, "away-notify", line)
    elif t == "~host":
        s = hub.by_user.get(user)
        host = str(ev.get("h") or "")
        if s is not None and host and host != s.host:
            change_host(hub, s, host)  # an operator's CHGHOST on another node
    elif t == "~kill":
        kill_here(hub, user, str(ev.get("by")), str(ev.get("r")), str(ev.get("why")))
    elif t == "~say":
        # a line the node of ``o`` sent to a channel's members (MODE, KICK): to those here
        room = m.rooms.get(str(ev.get("r")))
        if room is not None:
            line = str(ev.get("line"))
            for s in list(hub.room_sessions(room)):
                if not s.node:
                    s.send(line)
            kicked = str(ev.get("kick") or "")
            u = m.users.get(kicked)
            if u is not None and not u.is_account and kicked in room.members:
                # a guest's leaving is no event: it leaves here too (on its own node too,
                # which tells the others with a ~part they no longer need)
                with contextlib.suppress(MessengerError):
                    m.part(kicked, room.key)
            elif kicked:
                p.kicked.add((room.key, kicked))  # its Part event follows in this entry
    elif t == "~wallops":
        wallops_here(hub, str(ev.get("line")), None)
    elif t == "~key":
        s = _remote(hub, p, origin, user)
        if s is not None:
            _rekeyed(hub, p, s, str(ev.get("k")), str(ev.get("a") or ""))
    elif t == "~nick":
        s = _remote(hub, p, origin, user)
        if s is not None:
            _renamed(hub, p, s, str(ev.get("n")), str(ev.get("m")))
    elif t == "~join":
        s = _remote(hub, p, origin, user)
        if s is not None:
            _join_guest(hub, s, str(ev.get("r")), str(ev.get("rname") or ""))
    elif t == "~part":
        s = _remote(hub, p, origin, user)
        room = m.rooms.get(str(ev.get("r")))
        if s is not None and room is not None and user in room.members:
            line = _part_line(p, room.key, user, room.name, s.mask)
            if (room.key, user) in p.kicked:
                p.kicked.discard((room.key, user))  # shown as the KICK already
            else:
                _to_room(hub, room.key, line, user)
            with contextlib.suppress(MessengerError):
                m.part(user, room.key)
    elif t == "~off":
        s = _remote(hub, p, origin, user)
        if s is not None:
            _leave(hub, p, s, str(ev.get("why") or "Quit"))
    elif t == "~gone":
        gone = p.remote.pop(origin, {})
        if gone:
            log.warning("node %s is gone: %d of its users quit", origin, len(gone))
        p.remote[origin] = gone
        for s in list(gone.values()):
            _leave(hub, p, s, "Node gone")
        p.remote.pop(origin, None)


def _arrive(
    hub: Hub, p: Presence, origin: str, user: str, nick: str, mask: str, account: str
) -> None:
    m = hub.messenger
    old = p.remote.get(origin, {}).get(user)
    if old is not None:  # announced again (a node started): the same user, maybe renamed
        if old.nick != nick:
            _renamed(hub, p, old, nick, mask)
        return
    nick_key = casefold(nick)
    user_part, _, host = mask.partition("!")[2].partition("@")
    s = Session(ip=host or origin, dirty=hub.dirty, nick=nick, nick_key=nick_key, host=host)
    s.user = user_part
    s.user_key = user
    s.account = account or None
    s.registered = True
    s.created = s.last_active = hub.clock.now()  # (WHOIS: idle and signon as seen from here)
    s.node = origin
    s.closing = ""  # nothing is ever queued to it: its own node delivers
    p.remote.setdefault(origin, {})[user] = s
    was_online = nick_key in hub.nicks
    _add_device(hub, s)
    if not was_online and hub.nicks.get(nick_key) is s:
        hub.monitor.online(hub.name, s)  # its watchers here: 730
    if hub.by_user.get(user) is s:
        if not account:
            with contextlib.suppress(MessengerError):
                m.attach_guest(user, nick)
        m.connected(user)


def _add_device(hub: Hub, s: Session) -> None:
    """``s`` is one more device of its user here (the first speaks for it: ``Hub.devices``)."""
    devices = hub.devices.setdefault(s.user_key, [])
    devices.append(s)
    hub.devices_version += 1
    if len(devices) == 1:
        hub.by_user[s.user_key] = s
        if s.nick_key not in hub.nicks or hub.nicks[s.nick_key].node:
            hub.nicks[s.nick_key] = s


def _drop_device(hub: Hub, s: Session) -> bool:
    """Forget the device ``s``; True when it was its user's last one here."""
    devices = hub.devices.get(s.user_key)
    if devices is not None and s in devices:
        devices.remove(s)
        hub.devices_version += 1
        if devices:
            if hub.by_user.get(s.user_key) is s:
                hub.by_user[s.user_key] = devices[0]
            if hub.nicks.get(s.nick_key) is s:
                hub.nicks[s.nick_key] = devices[0]
            return False
        del hub.devices[s.user_key]
    if hub.nicks.get(s.nick_key) is s:
        del hub.nicks[s.nick_key]
    if hub.by_user.get(s.user_key) is s:
        del hub.by_user[s.user_key]
        return True
    return False


def _room_name(hub: Hub, key: str) -> str:
    room = hub.messenger.rooms.get(key)
    return room.name if room is not None else key


def _join_guest(hub: Hub, s: Session, room_key: str, name: str = "") -> None:
    """A guest of another node joined a room: here too (a room a guest made, which exists
    only while someone is in it and is not journaled, is made here as it was there: with the
    guest as its operator)."""
    m = hub.messenger
    room = m.rooms.get(room_key)
    if room is not None and s.user_key in room.members:
        return
    if room is None and (not name or casefold(name) != room_key):
        return
    try:
        room, _new = m.join(s.user_key, room_key, room.name if room is not None else name)
    except MessengerError:
        return
    _to_room(hub, room_key, format_line("JOIN", (room.name,), s.mask), s.user_key)


def _rekeyed(hub: Hub, p: Presence, s: Session, key: str, account: str) -> None:
    """A remote guest registered or logged in: it is its account from now on."""
    m = hub.messenger
    users = p.remote.get(s.node, {})
    users.pop(s.user_key, None)
    if _drop_device(hub, s):
        m.disconnected(s.user_key)
    changed = (account or None) != s.account
    s.user_key, s.account = key, account or None
    users[key] = s
    _add_device(hub, s)  # the same nick: its watchers see no change of presence
    if hub.by_user.get(key) is s:
        m.connected(key)
    if changed:  # ircv3.net/specs/extensions/account-notify (and extended-monitor)
        line = format_line("ACCOUNT", (s.account or "*",), s.mask)
        notify(_local_peers(hub, s), hub.monitor, s, "account-notify", line)


def _renamed(hub: Hub, p: Presence, s: Session, nick: str, mask: str) -> None:
    """A remote user changed nick (NICK to its peers here; 731 for the old nick and 730 for
    the new one to their watchers, not for a change of case only) or, with the same nick, was
    shown with another user or host (an operator's CHGHOST: CHGHOST to its peers and
    extended-monitor watchers that negotiated chghost, as on its own node). The nick and mask
    are the user's: each of its devices here changes with it (its connections here get the
    NICK, or the CHGHOST if they negotiated chghost)."""
    old, old_nick, old_key = s.mask, s.nick, s.nick_key
    if nick == old_nick and mask == old:
        return
    devices = _devices(hub, s)
    first = hub.nicks.get(old_key)
    held = first in devices
    if held:
        del hub.nicks[old_key]
    key = casefold(nick)
    user_part, _, host = mask.partition("!")[2].partition("@")
    for d in devices:
        d.nick, d.nick_key, d.user, d.host = nick, key, user_part, host
        known = p.announced.get(d)
        if known is not None:  # (nothing to announce: it came from there)
            known.nick, known.mask = nick, d.mask
    if key not in hub.nicks:
        hub.nicks[key] = first if held and first is not None else devices[0]
    u = hub.messenger.users.get(s.user_key)
    if u is not None and not u.is_account:
        u.name = nick
    here = [d for d in devices if not d.node]
    if nick == old_nick:
        line = format_line("CHGHOST", (s.user, s.host), old)
        notify(_local_peers(hub, s), hub.monitor, s, "chghost", line)
        for d in here:
            if "chghost" in d.caps:
                d.send(line)
        return
    line = format_line("NICK", (nick,), old)
    for peer in [*here, *_local_peers(hub, s)]:
        peer.send(line)
    hub.messenger.shown_changed(s.user_key)  # its rooms' NAMES lists show the new nick
    if key != old_key:  # a change of case only is the same nick: no 731/730
        if held and old_key not in hub.nicks:
            hub.monitor.offline(hub.name, old_nick)
        if hub.nicks.get(key) in devices:
            hub.monitor.online(hub.name, hub.nicks[key])


def _devices(hub: Hub, s: Session) -> list[Session]:
    """Every device of ``s``'s user on this node and as stand-ins (``s`` among them)."""
    devices = hub.sessions_of(s.user_key)
    return list(devices) if s in devices else [s, *devices]


def _leave(hub: Hub, p: Presence, s: Session, why: str) -> None:
    m = hub.messenger
    p.remote.get(s.node, {}).pop(s.user_key, None)
    peers = _local_peers(hub, s)
    held = hub.nicks.get(s.nick_key) is s
    left = _drop_device(hub, s)  # False: another device stays, nobody sees a change
    if left:
        line = safe_line("QUIT", (why,), s.mask)
        for peer in peers:
            peer.send(line)
    if held and s.nick_key not in hub.nicks:
        hub.monitor.offline(hub.name, s.nick)  # its watchers here: 731
    if left:
        m.disconnected(s.user_key)


def _local_peers(hub: Hub, s: Session) -> list[Session]:
    """This node's connections sharing a channel with ``s`` (in a stable order)."""
    return sorted((p for p in hub.peers_of(s) if not p.node), key=lambda p: p.id)

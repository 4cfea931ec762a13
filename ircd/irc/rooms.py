"""Being in a room, as the JOIN and the welcome show it: the JOIN broadcast, the topic, the
NAMES lists (from the hub's NAMES cache when it is fresh), the read marker and the backlog.

Shared by JOIN (commands/channels.py), the landing after registration (welcome.py) and the
history commands (``wants_push``).
"""

from __future__ import annotations

from operator import attrgetter

from ..messenger.errors import CannotJoin
from ..messenger.model import Room
from ..wire import Numeric, format_line
from .fanout import NamesCache, broadcast_join, device_joined, note_joined
from .hub import Hub
from .lines import safe_line
from .replay import replay, wants_push
from .replies import reply_error
from .session import Session
from .timefmt import iso_time


def prefix(room: Room, user_key: str, multi: bool) -> str:
    """A member's status prefix in NAMES and WHOIS: "@" for an operator, "+" for a voiced
    member; with multi-prefix (IRCv3) both, highest first."""
    if user_key in room.ops:
        return "@+" if multi and user_key in room.voiced else "@"
    return "+" if user_key in room.voiced else ""


def visible_to(hub: Hub, s: Session, room: Room) -> bool:
    """Whether ``s`` may see who is in ``room``: a secret (+s) channel shows only to its
    members and server operators (NAMES, LIST, WHOIS)."""
    return "s" not in room.flags or s.user_key in room.members or s.oper


def send_names(hub: Hub, s: Session, room: Room) -> None:
    uhnames = "userhost-in-names" in s.caps
    # the cache holds single prefixes: a multi-prefix client sees the same while nobody is
    # both operator and voiced
    multi = "multi-prefix" in s.caps and bool(room.ops & room.voiced)
    cache = None if uhnames or multi else hub.names_cache.get(room.key)
    if cache is not None and cache.version == room.version:
        if cache.chunks:
            _send_names_lines(hub, s, room, cache.chunks)
        return
    # every joiner of a big channel gets this: built with C-level list operations (no Python
    # code per member); same names and order as iterating hub.room_sessions
    members = list(filter(None, map(hub.by_user.get, room.members)))
    names = list(map(_MASK if uhnames else _NICK, members))
    if room.ops or room.voiced:
        names = [prefix(room, m.user_key, multi) + n for m, n in zip(members, names, strict=True)]
    if not names:
        return
    # 353 must have exactly 4 params (pydle); split long lists over several lines of at most
    # 380 characters of names (each name counted with its separating space)
    text = " ".join(names) + " "
    chunks = []
    i, end = 0, len(text)
    while i < end:
        j = text.rfind(" ", i, i + 380) + 1
        if j <= i:  # a single name longer than the limit goes alone
            j = text.index(" ", i) + 1
        chunks.append(text[i : j - 1])
        i = j
    if not uhnames and not multi:
        cache = hub.names_cache[room.key] = NamesCache(room.version)
        cache.chunks = chunks
        cache.last_size = len(chunks[-1]) + 1
    _send_names_lines(hub, s, room, chunks)


def _send_names_lines(hub: Hub, s: Session, room: Room, chunks: list[str]) -> None:
    if s.capture is not None:
        for chunk in chunks:
            hub.reply(s, Numeric.RPL_NAMREPLY, "@" if "s" in room.flags else "=", room.name, chunk)
        return
    # exactly what hub.reply formats, for all the lines at once
    kind = "@" if "s" in room.flags else "="  # a secret channel
    head = format_line(Numeric.RPL_NAMREPLY.value, (s.nick, kind, room.name, "x"), hub.name)[:-1]
    body = head + ("\r\n" + head).join(chunks) + "\r\n"
    s.send_bytes(body.encode("utf-8", "replace"))


_NICK = attrgetter("nick")
_MASK = attrgetter("mask")


def send_topic(hub: Hub, s: Session, room: Room, *, joining: bool = False) -> None:
    """332 and 333 when the room has a topic. Without one, a TOPIC query gets 331 and a JOIN
    nothing (modern.ircdocs.horse, JOIN: "The channel's topic (with RPL_TOPIC (332) and
    optionally RPL_TOPICWHOTIME (333)), and no message if the channel does not have a
    topic"; TOPIC: "If the topic is not set, RPL_NOTOPIC")."""
    if room.topic:
        hub.reply(s, Numeric.RPL_TOPIC, room.name, room.topic)
        hub.reply(s, Numeric.RPL_TOPICWHOTIME, room.name, room.topic_by, str(int(room.topic_time)))
    elif not joining:
        hub.reply(s, Numeric.RPL_NOTOPIC, room.name, "No topic is set")


def join_room(hub: Hub, s: Session, key: str, name: str, backlog: bool, password: str = "") -> bool:
    """Join (or re-show, for a returning account) a room: JOIN to the member and the others,
    topic, names, read marker, and the backlog when asked. Every device of the user is shown
    the room; a device of an account that is in the room already (through another device) is
    shown it alone, and nobody else sees a JOIN. False, with the numeric that says why
    (471/473/474/475), when the channel's modes keep ``s`` out (``password``: the key it
    gave)."""
    m = hub.messenger
    known = m.rooms.get(key)
    devices = hub.sessions_of(s.user_key)
    if known is not None and s.user_key in known.members and (len(devices) > 1 or s.further_device):
        device_joined(hub, known, s)
        s.send(_join_line(known, s, "extended-join" in s.caps))
        _show_room(hub, s, known, backlog)
        return True
    try:
        room, _new = m.join(s.user_key, key, name, mask=s.mask, password=password)
    except CannotJoin as e:
        existing = m.room(key)
        reply_error(hub, s, e, existing.name if existing is not None else name)
        return False
    line = _join_line(room, s, False)
    # ircv3.net/specs/extensions/extended-join: "JOIN <channel> <account> :<realname>"
    extended = _join_line(room, s, True)
    away_line = safe_line("AWAY", (s.away,), s.mask) if s.away else None
    if away_line is None and s.capture is None:
        # every join to a big channel is a broadcast: encoded once, and batched per pass
        encoded = (line + "\r\n").encode("utf-8", "replace")
        broadcast_join(hub, room, s, encoded, (extended + "\r\n").encode("utf-8", "replace"))
    else:
        note_joined(hub, room, s)
        mine = set(devices)
        for peer in hub.room_sessions(room):
            peer.send(extended if "extended-join" in peer.caps else line)
            if away_line and peer not in mine and "away-notify" in peer.caps:
                peer.send(away_line)
    for device in devices or (s,):
        _show_room(hub, device, room, backlog)
    return True


def show_to_device(hub: Hub, s: Session, room: Room) -> None:
    """The user of ``s`` joined ``room`` from a device on another node: ``s`` is shown the
    room as the user's devices on one node are (its JOIN, topic, names, read marker)."""
    device_joined(hub, room, s)
    s.send(_join_line(room, s, "extended-join" in s.caps))
    _show_room(hub, s, room, False)


def _join_line(room: Room, s: Session, extended: bool) -> str:
    if extended:
        return safe_line("JOIN", (room.name, s.account or "*", s.realname or s.nick), s.mask)
    return format_line("JOIN", (room.name,), s.mask)


def _show_room(hub: Hub, s: Session, room: Room, backlog: bool) -> None:
    """What a member is shown after its JOIN: topic, names, read marker, the backlog."""
    send_topic(hub, s, room, joining=True)
    send_names(hub, s, room)
    if "draft/read-marker" in s.caps:
        marker = hub.messenger.read_marker(s.user_key, room.key)
        value = f"timestamp={iso_time(marker)}" if marker is not None else "*"
        s.send(format_line("MARKREAD", (room.name, value), hub.name))
    hub.reply(s, Numeric.RPL_ENDOFNAMES, room.name, "End of /NAMES list")
    if backlog and wants_push(hub, s):
        n = hub.config.chat.backlog_on_join
        replay(hub, s, room.name, hub.messenger.backlog(room.key, n), "recent", private=False)

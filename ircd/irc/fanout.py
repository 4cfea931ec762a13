"""Fan-out: a post or a JOIN to every member of a room, and private posts to their two ends.

Room broadcasts of one event-loop pass are batched in a ``RoomLog`` per room (on ``Hub.logs``;
the hub's ``deliver_logs`` hands them out at flush): each member gets one piece per pass, in the
order it would have had with immediate sends, and a post is formatted once per capability
variant (``post_line``). The NAMES lists of a room are cached (``NamesCache`` on
``Hub.names_cache``) for the room's version (``Room.version``: the engine counts every change of
who is shown in a room: a join, a part, a status, a member coming online or going offline, a
nick). A cache of another version is stale and is not used, except that a JOIN broadcast adds
its joiner to a cache that is exactly that one arrival behind (``broadcast_join``), so each of
many joiners of a big channel costs O(lines), not O(members).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..messenger.model import Post, Room
from . import acks
from .lines import post_line
from .session import EXTJOIN, Session

if TYPE_CHECKING:
    from .hub import Hub


class NamesCache:
    """A room's RPL_NAMREPLY name lists (plain nicks) as of the room's ``version``."""

    __slots__ = ("chunks", "last_size", "version")

    def __init__(self, version: int) -> None:
        self.version = version  # the Room.version these lists show
        self.chunks: list[str] = []  # space-separated names, at most 380 characters each
        self.last_size = 0  # characters in the last chunk, each name counted with a space

    def add(self, name: str) -> None:
        size = len(name) + 1
        if self.chunks and self.last_size + size <= 380:
            self.chunks[-1] += " " + name
            self.last_size += size
        else:
            self.chunks.append(name)
            self.last_size = size


class Audience:
    """Every device of every online member of a room (``Hub.room_sessions``), as of the room's
    ``version`` and the hub's ``devices_version``: a broadcast to a big room walks one list
    instead of looking up each member's devices."""

    __slots__ = ("devices", "sessions", "version")

    def __init__(self, version: int, devices: int) -> None:
        self.version = version  # the Room.version ...
        self.devices = devices  # ... and the Hub.devices_version this is for
        self.sessions: list[Session] | None = None  # made by its second use (see audience)


def audience(hub: Hub, room: Room) -> list[Session] | None:
    """``room``'s devices from the cache (``Audience``), or None when it has changed since the
    last broadcast (the caller walks ``Hub.room_sessions`` then): the list is made only when
    a second broadcast finds nothing changed, so a join storm, which changes the room every
    pass, makes no list it would use once."""
    got = hub.audiences.get(room.key)
    if got is not None and got.version == room.version and got.devices == hub.devices_version:
        if got.sessions is None:
            got.sessions = list(hub.room_sessions(room))
        return got.sessions
    hub.audiences[room.key] = Audience(room.version, hub.devices_version)
    return None


class RoomLog:
    """One room's broadcasts (channel posts and JOIN lines) in one event-loop pass, delivered
    to each member once per pass (one piece of output per member per pass, not one per line).

    Entries are encoded lines (the same for everyone) or posts (formatted once per capability
    variant, when first needed). A member takes the entries from its cursor on (0: all of them)
    when anything else is sent to it (``Session.catch_up``) and at flush (``deliver``), so its
    output has exactly the order it would have had with immediate sends."""

    __slots__ = ("cursor", "entries", "full", "hub", "parts", "room")

    def __init__(self, hub: Hub, room: Room) -> None:
        self.hub = hub
        self.room = room
        # a line the same for everyone, a JOIN as (plain, extended-join), or a post
        self.entries: list[bytes | tuple[bytes, bytes] | Post] = []
        self.cursor: dict[Session, int] = {}  # next entry for a member (absent: 0)
        self.parts: dict[int, list[bytes]] = {}  # tagbits -> entries rendered so far
        self.full: dict[int, tuple[int, bytes]] = {}  # tagbits -> (entries, all joined)

    def render(self, bits: int, start: int) -> bytes:
        entries = self.entries
        parts = self.parts.get(bits)
        if parts is None:
            parts = self.parts[bits] = []
        if len(parts) < len(entries):
            target = self.room.name
            for e in entries[len(parts) :]:
                if isinstance(e, bytes):
                    parts.append(e)
                elif isinstance(e, tuple):
                    parts.append(e[1] if bits & EXTJOIN else e[0])
                else:
                    parts.append((post_line(e, bits, target) + "\r\n").encode())
        if start:
            return b"".join(parts[start:])
        got = self.full.get(bits)
        if got is None or got[0] != len(parts):
            got = self.full[bits] = (len(parts), b"".join(parts))
        return got[1]

    def catch_up(self, s: Session) -> None:
        n = len(self.entries)
        start = self.cursor.get(s, -1)
        if start < 0:
            if not s.delivery.landed:
                return  # not joined yet: what came before its JOIN is in its replay
            start = 0
        if start >= n or s.closing is not None:
            return
        if s.user_key not in self.room.members or not s.registered:
            return
        self.cursor[s] = n
        s.push(self.render(s.tagbits, start))

    def deliver(self, direct: list[Session] | None = None, sendq: int = 0) -> int:
        """Queue each member's share (on each of its devices) of this pass's entries.

        ``direct`` (the outbox passes it when the pass's events are durable already and
        nothing is held: ``Outbox.end_pass``): a device with nothing else queued this pass is
        written its share at once, through its link, as its one write of the pass, instead of
        queuing it for ``Outbox.collect``; devices whose link reports a buffer over ``sendq``
        are added to ``direct``, to be dropped once the pass is collected (as ``Outbox._write``
        drops them). Returns the bytes written so."""
        n = len(self.entries)
        if not n:
            return 0
        hub = self.hub
        get_start = self.cursor.get
        render = self.render
        whole: dict[int, bytes] = {}  # tagbits -> every entry rendered (most members)
        bits = -1  # the variant of the device before (most are the same)
        data = b""
        size = 0
        written = 0
        room = self.room
        sessions = audience(hub, room)
        for s in hub.room_sessions(room) if sessions is None else sessions:
            if s.closing is not None:
                continue
            d = s.delivery
            start = get_start(s, -1)
            if start < 0:
                if not d.landed:
                    continue  # not joined yet (see catch_up)
                start = 0
            elif start >= n:
                continue
            if start:
                bits = -1
                data = render(s.tagbits, start)
                size = len(data)
            elif s.tagbits != bits:
                bits = s.tagbits
                if (got := whole.get(bits)) is None:
                    got = whole[bits] = render(bits, 0)
                data = got
                size = len(data)
            link = s.link
            if direct is None or link is None or s.out or size > s.sendq_limit:
                s.push(data)  # with the rest of its output of the pass (Outbox.collect)
                continue
            if s.account:
                out = acks.written(hub, s, data)  # (may add an ack PING)
                written += len(out)
                if link.send(out) > sendq:
                    direct.append(s)
                continue
            d.sent += size
            written += size
            if link.send(data) > sendq:
                direct.append(s)
        return written


def room_log(hub: Hub, room: Room) -> RoomLog:
    """This pass's broadcast log for ``room``. Only one room has a log at a time (another
    room's is delivered first), so each member's output keeps the order of events."""
    log_ = hub.logs.get(room.key)
    if log_ is None or log_.room is not room:  # (a room that emptied, ceased and was made anew)
        if hub.logs:
            hub.deliver_logs()
        log_ = hub.logs[room.key] = RoomLog(hub, room)
    return log_


def broadcast_join(hub: Hub, room: Room, s: Session, data: bytes, extended: bytes) -> None:
    """Queue a JOIN line (already encoded; ``extended``: its extended-join form) to every
    member of ``room``, ``s`` included, who just joined: batched, so a burst of joins costs
    each member one write per pass."""
    log_ = room_log(hub, room)
    for device in hub.sessions_of(s.user_key) or (s,):
        log_.cursor[device] = len(log_.entries)  # the joiner gets its JOIN and what follows only
    log_.entries.append((data, extended))
    names = hub.names_cache.get(room.key)
    if names is not None and names.version != room.version:
        if names.version == room.before and room.arrived == s.user_key:
            names.add(("@" if s.user_key in room.ops else "") + s.nick)  # just this arrival
            names.version = room.version
        else:
            del hub.names_cache[room.key]


def prune_names(hub: Hub) -> None:
    """Forget cached NAMES lists and audiences that are stale or of rooms that ceased (the
    periodic tick): a stale audience would keep closed sessions alive."""
    rooms = hub.messenger.rooms
    for key, names in list(hub.names_cache.items()):
        room = rooms.get(key)
        if room is None or room.version != names.version:
            del hub.names_cache[key]
    for key, aud in list(hub.audiences.items()):
        room = rooms.get(key)
        if room is None or room.version != aud.version or aud.devices != hub.devices_version:
            del hub.audiences[key]


def note_joined(hub: Hub, room: Room, s: Session) -> None:
    """``s`` joined ``room`` without broadcast_join: its devices get no earlier batched lines."""
    log_ = hub.logs.get(room.key)
    if log_ is not None:
        for device in hub.sessions_of(s.user_key) or (s,):
            log_.cursor[device] = len(log_.entries)


def device_joined(hub: Hub, room: Room, s: Session) -> None:
    """A further device of a member is shown ``room``: it gets no earlier batched lines (its
    replay has them), and the room's names do not change."""
    log_ = hub.logs.get(room.key)
    if log_ is not None:
        log_.cursor[s] = len(log_.entries)


def relay_room(hub: Hub, post: Post, room: Room, sender: Session | None) -> None:
    """Deliver a channel post to every online member: formatted once per variant, and
    batched, so each member gets all of a pass's posts in one piece."""
    target = room.name
    log_ = room_log(hub, room)
    if sender is not None:
        log_.catch_up(sender)
    log_.entries.append(post)
    if sender is not None:
        log_.cursor[sender] = len(log_.entries)  # not to the sender itself
    if sender is not None and "echo-message" in sender.caps:
        sender.send(post_line(post, sender.tagbits, target))
    elif sender is None and post.sender not in room.members:
        # a scheduled post: the author sees it when it is sent, if online
        for owner in hub.sessions_of(post.sender):
            owner.send(post_line(post, owner.tagbits, target))


_SELF_CAPS = frozenset(("echo-message", "znc.in/self-message"))


def relay_private(
    hub: Hub, post: Post, sender: Session | None, *, from_device: bool = False
) -> bool:
    """Deliver a private post to every device of the recipient, then to the sender's devices
    (``private_ends``); returns whether the recipient was online."""
    ends, online = private_ends(hub, post, sender, from_device)
    for to, target, side_effect in ends:
        line = post_line(post, to.tagbits, target)
        if side_effect:
            to.send_side_effect(line)  # to oneself: the delivery is no response (labels)
        else:
            to.send(line)
    return online


End = tuple[Session, str, bool]  # a connection, the target its line names, a side effect?


def private_ends(
    hub: Hub, post: Post, sender: Session | None, from_device: bool = False
) -> tuple[list[End], bool]:
    """Where a private post goes, in order, and whether its recipient is online: every device
    of the recipient (the delivery; to the sending connection itself, a side effect), then the
    sender's devices. The one it came from gets its echo (echo-message); every other one
    gets a copy, as its own message to the peer (znc.in/self-message), whether or not it
    negotiated a capability: each device shows the whole conversation. A scheduled post (no
    sending device) reaches those of them that show their own messages. ``from_device``: no
    sender here, but the post was sent from a device on another node (every device here is
    one of its other devices). The same for every post of a run from one connection to one
    user (``messaging._nick_run``)."""
    recipients = hub.sessions_of(post.to or "")
    ends: list[End] = [(to, to.nick, to is sender) for to in recipients]
    target_nick = recipients[0].nick if recipients else (post.to_name or "")
    for owner in hub.sessions_of(post.sender) or ([sender] if sender is not None else []):
        if owner is sender:
            # the echo, also for a message to oneself: then it arrives twice, as the echo and
            # as the delivery (ircv3.net echo-message: the echo is sent "in addition to" it)
            wanted = "echo-message" in owner.caps
        elif post.to == post.sender:
            wanted = False  # to oneself: each device got it once already, as the recipient
        elif sender is None and not from_device:
            wanted = bool(owner.caps & _SELF_CAPS)  # a scheduled post: its author sees it
        else:
            wanted = True  # another device of the sender: a copy, as its own message
        if wanted:
            ends.append((owner, target_nick, False))
    return ends, bool(recipients)

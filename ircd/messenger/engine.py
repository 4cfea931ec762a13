"""The messenger engine: rooms, posts, accounts, unread cursors, quotas, complaints, bans and
scheduled posts.

Pure domain logic: no IRC, no asyncio, no files. The clock is injected. The engine is
event-sourced: every durable change is a JSON-ready dict that goes through ``_apply`` and is
queued for the journal (``take_events``); ``to_dict``/``from_dict`` give the compacted snapshot,
and ``replay`` applies journaled events after a snapshot on start.
"""

from __future__ import annotations

import heapq
import math
import secrets
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from ..clock import Clock
from .errors import (
    AccountExists,
    AccountRequired,
    BadPassword,
    Banned,
    CannotComplain,
    Flooding,
    InvalidDuration,
    InvalidTarget,
    NameTaken,
    NoSuchAccount,
    NoSuchRoom,
    NoSuchUser,
    NotMember,
    NotOperator,
    RateLimited,
    TooManyScheduled,
    UnknownScheduled,
)
from .model import (
    Ban,
    BanEnded,
    ComplaintResult,
    Fired,
    Post,
    Room,
    RoomKey,
    Rules,
    Scheduled,
    Unread,
    User,
    UserKey,
)
from .passwords import hash_password, verify_password

SNAPSHOT_VERSION = 1


def pair_key(a: UserKey, b: UserKey) -> str:
    return f"{a}\t{b}" if a <= b else f"{b}\t{a}"


class Messenger:
    def __init__(self, clock: Clock, rules: Rules | None = None) -> None:
        self.clock = clock
        self.rules = rules or Rules()
        self.server_id = secrets.token_hex(3)
        self.seq = 0
        self.users: dict[UserKey, User] = {}
        self.rooms: dict[RoomKey, Room] = {}
        self.dms: dict[str, deque[Post]] = {}
        self._dm_index: dict[UserKey, set[str]] = {}
        self.windows: dict[UserKey, list[float]] = {}  # key -> [window start, count]
        self.complaints: dict[UserKey, dict[UserKey, str]] = {}
        self.bans: dict[UserKey, Ban] = {}
        self.scheduled: dict[int, Scheduled] = {}
        self._due_heap: list[tuple[float, int]] = []
        self.next_sched_id = 1
        self.online: set[UserKey] = set()
        self._buckets: dict[UserKey, list[float]] = {}  # private anti-flood [tokens, stamp]
        self._events: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ events and persistence

    def take_events(self) -> list[dict[str, Any]]:
        """The durable events since the last call, for the journal."""
        ev, self._events = self._events, []
        return ev

    @property
    def has_events(self) -> bool:
        return bool(self._events)

    def _emit(self, ev: dict[str, Any], durable: bool = True) -> None:
        self._apply(ev)
        if durable:
            self._events.append(ev)

    def pin_server_id(self) -> None:
        """Journal the server id on a fresh state, so msgids keep their prefix after a restart
        that finds no snapshot yet."""
        self._emit({"t": "sid", "id": self.server_id})

    def replay(self, events: Iterable[dict[str, Any]]) -> None:
        for ev in events:
            self._apply(ev)

    def _apply(self, ev: dict[str, Any]) -> None:
        t = ev["t"]
        if t == "post":
            self._apply_post(Post.from_dict(ev["p"]))
        elif t == "ack":
            u = self.users.get(ev["u"])
            if u is not None and ev["s"] > u.delivered_seq:
                u.delivered_seq = ev["s"]
            if u is not None:
                u.seen_before = True
        elif t == "acct":
            # a guest becoming an account is re-inserted, so the order of users is the same
            # live and after a replay (where the guest never existed)
            self.users.pop(ev["k"], None)
            s = ev.get("s", self.seq)
            self.users[ev["k"]] = User(
                key=ev["k"],
                name=ev["n"],
                password_hash=ev["pw"],
                created=ev["ts"],
                delivered_seq=s,
                since_seq=ev.get("since", s),
            )
        elif t == "room":
            if ev["r"] not in self.rooms:
                self.rooms[ev["r"]] = Room(key=ev["r"], name=ev["n"], created=ev["ts"])
        elif t == "join":
            room = self.rooms[ev["r"]]
            room.members.add(ev["u"])
            if ev.get("op"):
                room.ops.add(ev["u"])
            u = self.users.get(ev["u"])
            if u is not None:
                u.rooms[ev["r"]] = ev.get("s", self.seq)
        elif t == "part":
            room = self.rooms[ev["r"]]
            room.members.discard(ev["u"])
            room.ops.discard(ev["u"])
            u = self.users.get(ev["u"])
            if u is not None:
                u.rooms.pop(ev["r"], None)
        elif t == "op":
            room = self.rooms[ev["r"]]
            if ev["on"]:
                room.ops.add(ev["u"])
            else:
                room.ops.discard(ev["u"])
        elif t == "topic":
            room = self.rooms[ev["r"]]
            room.topic, room.topic_by, room.topic_time = ev["text"], ev["by"], ev["ts"]
        elif t == "mark":
            u = self.users.get(ev["u"])
            if u is not None:
                u.read_markers[ev["target"]] = ev["ts"]
        elif t == "set":
            u = self.users.get(ev["u"])
            if u is not None:
                u.settings[ev["k"]] = ev["v"]
        elif t == "pw":
            u = self.users.get(ev["u"])
            if u is not None:
                u.password_hash = ev["pw"]
        elif t == "cmp":
            self.complaints.setdefault(ev["target"], {})[ev["by"]] = ev.get("why", "")
        elif t == "ban":
            self.bans[ev["u"]] = Ban(until=ev["until"], reason=ev.get("why", ""))
            self.complaints.pop(ev["u"], None)
        elif t == "unban":
            self.bans.pop(ev["u"], None)
        elif t == "sched":
            item = Scheduled.from_dict(ev["item"])
            self.scheduled[item.id] = item
            heapq.heappush(self._due_heap, (item.due, item.id))
            self.next_sched_id = max(self.next_sched_id, item.id + 1)
        elif t == "unsched":
            self.scheduled.pop(ev["id"], None)
        elif t == "resched":
            moved = self.scheduled.get(ev["id"])
            if moved is not None:
                moved.due = ev["due"]
                heapq.heappush(self._due_heap, (moved.due, moved.id))
        elif t == "sid":
            self.server_id = ev["id"]
        elif t == "rename":
            self._rename(ev["old"], ev["new"], ev["n"])
        else:
            raise ValueError(f"unknown event type {t!r}")

    def _apply_post(self, post: Post) -> None:
        self.seq = max(self.seq, post.seq)
        if post.room is not None:
            room = self.rooms.get(post.room)
            if room is None:
                room = self.rooms[post.room] = Room(
                    key=post.room, name=post.room, created=post.time
                )
            room.history.append(post)
            if len(room.history) > self.rules.history_per_room:
                room.history.popleft()
            self._count_public(post.sender, post.time)
        else:
            assert post.to is not None
            pk = pair_key(post.sender, post.to)
            hist = self.dms.get(pk)
            if hist is None:
                hist = self.dms[pk] = deque()
                self._dm_index.setdefault(post.sender, set()).add(pk)
                self._dm_index.setdefault(post.to, set()).add(pk)
            hist.append(post)
            if len(hist) > self.rules.history_per_private:
                hist.popleft()

    def _window_start(self, now: float) -> float:
        p = self.rules.period_seconds
        return math.floor(now / p) * p

    def _count_public(self, user: UserKey, when: float) -> None:
        start = self._window_start(when)
        w = self.windows.get(user)
        if w is None or w[0] != start:
            self.windows[user] = [start, 1]
        else:
            w[1] += 1

    def to_dict(self) -> dict[str, Any]:
        """A fresh, plain, JSON-ready copy of all durable state (guests are not durable)."""
        accounts = {k for k, u in self.users.items() if u.is_account}
        return {
            "schema": SNAPSHOT_VERSION,
            "server_id": self.server_id,
            "seq": self.seq,
            "next_sched_id": self.next_sched_id,
            "users": [
                {
                    "key": u.key,
                    "name": u.name,
                    "pw": u.password_hash,
                    "created": u.created,
                    "delivered": u.delivered_seq,
                    "seen": u.seen_before,
                    "rooms": dict(u.rooms),
                    "settings": dict(u.settings),
                    "markers": dict(u.read_markers),
                    "since": u.since_seq,
                }
                for u in self.users.values()
                if u.is_account
            ],
            "rooms": [
                {
                    "key": r.key,
                    "name": r.name,
                    "created": r.created,
                    "topic": r.topic,
                    "topic_by": r.topic_by,
                    "topic_time": r.topic_time,
                    "members": sorted(r.members & accounts),
                    "ops": sorted(r.ops & accounts),
                    "history": [p.to_dict() for p in r.history],
                }
                for r in self.rooms.values()
            ],
            "private": {k: [p.to_dict() for p in h] for k, h in self.dms.items()},
            "windows": {k: list(w) for k, w in self.windows.items()},
            "complaints": {k: dict(v) for k, v in self.complaints.items()},
            "bans": {k: [b.until, b.reason] for k, b in self.bans.items()},
            "scheduled": [s.to_dict() for s in self.scheduled.values() if s.owner in accounts],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], clock: Clock, rules: Rules | None = None) -> Messenger:
        if data.get("schema") != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported state schema {data.get('schema')!r}")
        m = cls(clock, rules)
        m.server_id = data["server_id"]
        m.seq = data["seq"]
        m.next_sched_id = data["next_sched_id"]
        for d in data["users"]:
            m.users[d["key"]] = User(
                key=d["key"],
                name=d["name"],
                password_hash=d["pw"],
                created=d["created"],
                delivered_seq=d["delivered"],
                seen_before=d["seen"],
                rooms=dict(d["rooms"]),
                settings=dict(d["settings"]),
                read_markers=dict(d["markers"]),
                since_seq=d.get("since", 0),
            )
        for d in data["rooms"]:
            room = Room(
                key=d["key"],
                name=d["name"],
                created=d["created"],
                topic=d["topic"],
                topic_by=d["topic_by"],
                topic_time=d["topic_time"],
                members=set(d["members"]),
                ops=set(d["ops"]),
                history=_tail(map(Post.from_dict, d["history"]), m.rules.history_per_room),
            )
            m.rooms[room.key] = room
        for k, posts in data["private"].items():
            m.dms[k] = _tail(map(Post.from_dict, posts), m.rules.history_per_private)
            a, b = k.split("\t")
            m._dm_index.setdefault(a, set()).add(k)
            m._dm_index.setdefault(b, set()).add(k)
        m.windows = {k: list(v) for k, v in data["windows"].items()}
        m.complaints = {k: dict(v) for k, v in data["complaints"].items()}
        m.bans = {k: Ban(until=v[0], reason=v[1]) for k, v in data["bans"].items()}
        for d in data["scheduled"]:
            item = Scheduled.from_dict(d)
            m.scheduled[item.id] = item
            heapq.heappush(m._due_heap, (item.due, item.id))
        return m

    # ------------------------------------------------------------------ accounts and presence

    def user(self, key: UserKey) -> User | None:
        return self.users.get(key)

    def _is_account(self, key: UserKey) -> bool:
        u = self.users.get(key)
        return u is not None and u.is_account

    def account(self, key: UserKey) -> User | None:
        u = self.users.get(key)
        return u if u is not None and u.is_account else None

    def login(self, key: UserKey, name: str, password: str) -> tuple[User, bool]:
        """Log in to the account ``key``; with auto_register, create it when free.
        Returns (user, created)."""
        u = self.users.get(key)
        if u is not None and u.is_account:
            assert u.password_hash is not None
            if not verify_password(password, u.password_hash):
                raise BadPassword("wrong password")
            return u, False
        if u is not None and key in self.online:
            raise NameTaken(f"{name} is in use by a guest")
        if not self.rules.auto_register:
            raise NoSuchAccount(f"no account {name}")
        return self._create_account(key, name, password), True

    def register(self, key: UserKey, name: str, password: str) -> User:
        """Turn a name (typically the caller's guest nick) into an account."""
        u = self.users.get(key)
        if u is not None and u.is_account:
            raise AccountExists(f"{name} is already registered")
        guest = u
        user = self._create_account(
            key, name, password, since=None if guest is None else guest.since_seq
        )
        if guest is not None:
            # carry the guest's live memberships, settings and markers over to the account
            for room_key in list(self.rooms):
                room = self.rooms[room_key]
                if key in room.members:
                    self._emit(
                        {
                            "t": "join",
                            "u": key,
                            "r": room_key,
                            "op": key in room.ops,
                            "s": guest.rooms.get(room_key, self.seq),
                        }
                    )
            for k, v in guest.settings.items():
                self._emit({"t": "set", "u": key, "k": k, "v": v})
            for target, ts in guest.read_markers.items():
                self._emit({"t": "mark", "u": key, "target": target, "ts": ts})
            for item in self.list_scheduled(key):
                self._emit({"t": "sched", "item": item.to_dict()})  # durable from now on
        return user

    def _create_account(
        self, key: UserKey, name: str, password: str, since: int | None = None
    ) -> User:
        now = self.clock.now()
        ev: dict[str, Any] = {
            "t": "acct",
            "k": key,
            "n": name,
            "pw": hash_password(password),
            "ts": now,
            "s": self.seq,
        }
        if since is not None and since != self.seq:
            ev["since"] = since  # a guest registering keeps its current conversations
        self._emit(ev)
        return self.users[key]

    def attach_guest(self, key: UserKey, name: str) -> User:
        if not self.rules.allow_guests:
            raise AccountRequired("this server needs a password: set one as the server password")
        u = self.users.get(key)
        if u is not None and u.is_account:
            raise NameTaken(f"{name} is a registered account")
        if u is None:
            u = self.users[key] = User(
                key=key,
                name=name,
                password_hash=None,
                created=self.clock.now(),
                # not its business: what earlier guests with this nick said privately
                since_seq=self.seq,
            )
        return u

    def connected(self, key: UserKey) -> None:
        self.online.add(key)

    def disconnected(self, key: UserKey) -> None:
        """A user's last connection closed. A guest vanishes: its memberships and pending
        scheduled messages go (the next guest with this nick is someone else); its quota
        window, complaints and ban stay with the nick."""
        self.online.discard(key)
        u = self.users.get(key)
        if u is not None and not u.is_account:
            for room in self.rooms.values():
                room.members.discard(key)
                room.ops.discard(key)
            del self.users[key]
            self._buckets.pop(key, None)
            for item in self.list_scheduled(key):
                self._emit({"t": "unsched", "id": item.id}, durable=False)

    def rename_guest(self, old: UserKey, new: UserKey, name: str) -> None:
        """A guest changed its nick: its quota, complaints and ban follow it."""
        if new != old and new in self.users and self.users[new].is_account:
            raise NameTaken(f"{name} is a registered account")
        # durable: the quota, complaints and ban follow the nick even across a restart
        self._emit({"t": "rename", "old": old, "new": new, "n": name})

    def _rename(self, old: UserKey, new: UserKey, name: str) -> None:
        if old == new:
            u = self.users.get(old)
            if u is not None and not u.is_account:
                u.name = name
            return
        u = self.users.pop(old, None)
        if u is not None and not u.is_account:
            u.key, u.name = new, name
            u.since_seq = self.seq  # private messages to an earlier holder of ``new`` stay hidden
            self.users[new] = u
            for room in self.rooms.values():
                if old in room.members:
                    room.members.discard(old)
                    room.members.add(new)
                if old in room.ops:
                    room.ops.discard(old)
                    room.ops.add(new)
            if old in self.online:
                self.online.discard(old)
                self.online.add(new)
        elif u is not None:
            self.users[old] = u
        if old in self.windows:
            self.windows[new] = self.windows.pop(old)
        if old in self.complaints:
            self.complaints[new] = self.complaints.pop(old)
        if old in self.bans:
            self.bans[new] = self.bans.pop(old)
        for item in self.scheduled.values():
            if item.owner == old:
                item.owner, item.owner_name = new, name

    def set_setting(self, user: UserKey, key: str, value: str) -> None:
        u = self.users.get(user)
        if u is None:
            raise NoSuchUser(user)
        self._emit({"t": "set", "u": user, "k": key, "v": value}, durable=u.is_account)

    def setting(self, user: UserKey, key: str, default: str) -> str:
        u = self.users.get(user)
        if u is None:
            return default
        return u.settings.get(key, default)

    # ------------------------------------------------------------------ rooms

    def room(self, key: RoomKey) -> Room | None:
        return self.rooms.get(key)

    def ensure_room(self, key: RoomKey, name: str) -> Room:
        room = self.rooms.get(key)
        if room is None:
            self._emit({"t": "room", "r": key, "n": name, "ts": self.clock.now()})
            room = self.rooms[key]
        return room

    def join(self, user: UserKey, key: RoomKey, name: str) -> tuple[Room, bool]:
        """Returns (room, newly joined). The first member of an empty room becomes operator,
        except in the general room, which belongs to everyone."""
        room = self.ensure_room(key, name)
        if user in room.members:
            return room, False
        u = self.users.get(user)
        op = not room.members and key != self.rules.general_room
        self._emit(
            {"t": "join", "u": user, "r": key, "op": op, "s": self.seq},
            durable=u is not None and u.is_account,
        )
        return room, True

    def part(self, user: UserKey, key: RoomKey) -> Room:
        room = self.rooms.get(key)
        if room is None:
            raise NoSuchRoom(key)
        if user not in room.members:
            raise NotMember(key)
        u = self.users.get(user)
        self._emit({"t": "part", "u": user, "r": key}, durable=u is not None and u.is_account)
        return room

    def kick(self, by: UserKey, key: RoomKey, target: UserKey) -> Room:
        room = self.rooms.get(key)
        if room is None:
            raise NoSuchRoom(key)
        if by not in room.members:
            raise NotMember(key)
        if by not in room.ops:
            raise NotOperator(key)
        if target not in room.members:
            raise NoSuchUser(target)
        return self.part(target, key)

    def set_op(self, by: UserKey, key: RoomKey, target: UserKey, on: bool) -> None:
        room = self.rooms.get(key)
        if room is None:
            raise NoSuchRoom(key)
        if by not in room.ops:
            raise NotOperator(key)
        if target not in room.members:
            raise NoSuchUser(target)
        u = self.users.get(target)
        self._emit(
            {"t": "op", "u": target, "r": key, "on": on}, durable=u is not None and u.is_account
        )

    def set_topic(self, by: UserKey, by_name: str, key: RoomKey, text: str) -> Room:
        room = self.rooms.get(key)
        if room is None:
            raise NoSuchRoom(key)
        if by not in room.members:
            raise NotMember(key)
        if room.ops and by not in room.ops:
            raise NotOperator(key)
        self._check_ban(by, self.clock.now())
        self._emit({"t": "topic", "r": key, "text": text, "by": by_name, "ts": self.clock.now()})
        return room

    # ------------------------------------------------------------------ posting

    def ban_of(self, user: UserKey, now: float | None = None) -> Ban | None:
        ban = self.bans.get(user)
        if ban is None:
            return None
        if ban.until <= (self.clock.now() if now is None else now):
            return None  # expired; release_due emits the unban and the notice
        return ban

    def _check_ban(self, user: UserKey, now: float) -> None:
        ban = self.ban_of(user, now)
        if ban is not None:
            raise Banned(ban.until, ban.reason)

    def _check_quota(self, user: UserKey, now: float) -> None:
        start = self._window_start(now)
        w = self.windows.get(user)
        if w is not None and w[0] == start and w[1] >= self.rules.messages_per_period:
            raise RateLimited(
                start + self.rules.period_seconds,
                self.rules.messages_per_period,
                self.rules.period_seconds,
            )

    def quota_left(self, user: UserKey) -> tuple[int, float]:
        now = self.clock.now()
        start = self._window_start(now)
        w = self.windows.get(user)
        used = int(w[1]) if w is not None and w[0] == start else 0
        return max(0, self.rules.messages_per_period - used), start + self.rules.period_seconds

    def _check_flood(self, user: UserKey, now: float) -> None:
        rate, burst = self.rules.private_per_second, float(self.rules.private_burst)
        b = self._buckets.get(user)
        if b is None:
            b = self._buckets[user] = [burst, now]
        tokens = min(burst, b[0] + (now - b[1]) * rate)
        if tokens < 1:
            b[0], b[1] = tokens, now
            raise Flooding((1 - tokens) / rate)
        b[0], b[1] = tokens - 1, now

    def _new_post(
        self,
        sender: UserKey,
        sender_name: str,
        origin: str,
        kind: str,
        text: str,
        tags: dict[str, str] | None,
        now: float,
        room: RoomKey | None = None,
        to: UserKey | None = None,
        to_name: str | None = None,
    ) -> Post:
        seq = self.seq + 1
        u = self.users.get(sender)
        post = Post(
            seq=seq,
            msgid=f"{self.server_id}-{seq}",
            time=now,
            kind=kind,
            sender=sender,
            sender_name=sender_name,
            origin=origin,
            account=u.name if u is not None and u.is_account else None,
            room=room,
            to=to,
            to_name=to_name,
            text=text,
            tags=tags or None,
        )
        self._apply_post(post)
        self._events.append({"t": "post", "p": post.to_dict()})
        return post

    def post_room(
        self,
        user: UserKey,
        name: str,
        origin: str,
        key: RoomKey,
        text: str,
        kind: str = "PRIVMSG",
        tags: dict[str, str] | None = None,
    ) -> Post:
        now = self.clock.now()
        self.check_room_send(user, key, now)
        self._check_quota(user, now)
        return self._new_post(user, name, origin, kind, text, tags, now, room=key)

    def check_room_send(self, user: UserKey, key: RoomKey, now: float | None = None) -> None:
        """The checks of post_room but the quota, without posting (also for TAGMSG)."""
        now = self.clock.now() if now is None else now
        room = self.rooms.get(key)
        if room is None:
            raise NoSuchRoom(key)
        if user not in room.members:
            raise NotMember(key)
        self._check_ban(user, now)

    def post_private(
        self,
        user: UserKey,
        name: str,
        origin: str,
        to: UserKey,
        text: str,
        kind: str = "PRIVMSG",
        tags: dict[str, str] | None = None,
    ) -> Post:
        now = self.clock.now()
        target = self.users.get(to)
        if target is None:
            raise NoSuchUser(to)
        self._check_ban(user, now)
        self._check_flood(user, now)
        return self._new_post(user, name, origin, kind, text, tags, now, to=to, to_name=target.name)

    # ------------------------------------------------------------------ delivery cursors

    def ack(self, user: UserKey, seq: int) -> None:
        """Everything relevant to ``user`` up to ``seq`` reached a client."""
        u = self.users.get(user)
        if u is None or not u.is_account:
            return
        seq = min(seq, self.seq)
        if seq > u.delivered_seq or not u.seen_before:
            self._emit({"t": "ack", "u": user, "s": max(seq, u.delivered_seq)})

    def mark_read(self, user: UserKey, target: str, ts: float) -> float:
        """Move a read marker forward only (clamped to now); returns the stored value."""
        u = self.users.get(user)
        if u is None:
            raise NoSuchUser(user)
        ts = min(ts, self.clock.now())
        cur = u.read_markers.get(target)
        if cur is not None and ts <= cur:
            return cur
        self._emit({"t": "mark", "u": user, "target": target, "ts": ts}, durable=u.is_account)
        return ts

    def read_marker(self, user: UserKey, target: str) -> float | None:
        u = self.users.get(user)
        return None if u is None else u.read_markers.get(target)

    def unread(self, user: UserKey, upto: int | None = None) -> Unread:
        """What ``user`` has not been delivered, per target, oldest first; with ``upto``, only
        posts up to that seq (later ones reached the user's live connection)."""
        u = self.users.get(user)
        if u is None:
            raise NoSuchUser(user)
        floor = u.delivered_seq
        top = self.seq if upto is None else upto
        rooms: dict[RoomKey, list[Post]] = {}
        general = self.rules.general_room
        for rk in sorted(u.rooms, key=lambda k: (k != general, k)):
            room = self.rooms.get(rk)
            if room is None:
                continue
            lo = max(floor, u.rooms[rk])
            got = [p for p in _newer_than(room.history, lo) if p.sender != user and p.seq <= top]
            if got:
                rooms[rk] = got
        private: dict[UserKey, list[Post]] = {}
        for pk in sorted(self._dm_index.get(user, ())):
            a, b = pk.split("\t")
            peer = b if a == user else a
            lo = max(floor, u.since_seq)
            got = [p for p in _newer_than(self.dms[pk], lo) if p.sender != user and p.seq <= top]
            if got:
                private[peer] = got
        total = sum(map(len, rooms.values())) + sum(map(len, private.values()))
        omitted = max(0, total - self.rules.max_unread_replay)
        if omitted:
            everything = sorted(
                (p for lst in (*rooms.values(), *private.values()) for p in lst),
                key=lambda p: p.seq,
            )
            cutoff = everything[omitted].seq if omitted < len(everything) else self.seq + 1
            rooms = {k: [p for p in v if p.seq >= cutoff] for k, v in rooms.items()}
            private = {k: [p for p in v if p.seq >= cutoff] for k, v in private.items()}
            rooms = {k: v for k, v in rooms.items() if v}
            private = {k: v for k, v in private.items() if v}
        return Unread(rooms=rooms, private=private, omitted=omitted, newest_seq=self.seq)

    def backlog(self, key: RoomKey, n: int) -> list[Post]:
        room = self.rooms.get(key)
        if room is None or n <= 0:
            return []
        h = room.history
        return list(h)[-n:] if len(h) > n else list(h)

    def history(self, user: UserKey, target: str, private: bool) -> Sequence[Post]:
        """All stored posts of a target the user may read, oldest first."""
        if private:
            return self._private_history(user, pair_key(user, target))
        room = self.rooms.get(target)
        if room is None:
            raise NoSuchRoom(target)
        if user not in room.members:
            raise NotMember(target)
        return room.history

    def conversations(self, user: UserKey) -> list[tuple[str, bool, Sequence[Post]]]:
        """(target, private, posts) for every target the user may read."""
        out: list[tuple[str, bool, Sequence[Post]]] = []
        for room in self.rooms.values():
            if user in room.members:
                out.append((room.key, False, room.history))
        for pk in self._dm_index.get(user, ()):
            posts = self._private_history(user, pk)
            if posts:
                a, b = pk.split("\t")
                out.append((b if a == user else a, True, posts))
        return out

    def _private_history(self, user: UserKey, pk: str) -> Sequence[Post]:
        """The posts of a private conversation this holder of the name may read: not those
        an earlier guest with the same nick exchanged."""
        posts = self.dms.get(pk)
        if not posts:
            return ()
        u = self.users.get(user)
        if u is None:
            return ()
        if posts[0].seq > u.since_seq:
            return posts
        return _newer_than(posts, u.since_seq)

    # ------------------------------------------------------------------ complaints and bans

    def complain(self, by: UserKey, target: UserKey, reason: str = "") -> ComplaintResult:
        now = self.clock.now()
        complainer = self.users.get(by)
        if complainer is None:
            raise NoSuchUser(by)
        if self.rules.complaints_require_account and not complainer.is_account:
            raise CannotComplain("ACCOUNT_REQUIRED", "Only registered users can complain")
        if target == by:
            raise CannotComplain("CANNOT_COMPLAIN_SELF", "You cannot complain about yourself")
        tu = self.users.get(target)
        if tu is None:
            raise NoSuchUser(target)
        if self.ban_of(by, now) is not None:
            raise CannotComplain("BANNED", "You cannot complain while you are muted")
        ban = self.ban_of(target, now)
        if ban is not None:
            raise CannotComplain("ALREADY_BANNED", f"{tu.name} is already muted")
        if by in self.complaints.get(target, {}):
            raise CannotComplain(
                "ALREADY_COMPLAINED", f"You have already complained about {tu.name}"
            )
        self._emit({"t": "cmp", "by": by, "target": target, "why": reason[:300]})
        count = len(self.complaints.get(target, {}))
        banned = None
        if count >= self.rules.complaints_to_ban:
            banned = self.ban(target, self.rules.ban_seconds, f"{count} complaints")
        return ComplaintResult(target=target, target_name=tu.name, count=count, banned=banned)

    def ban(self, target: UserKey, seconds: float, reason: str) -> Ban:
        until = self.clock.now() + seconds
        self._emit({"t": "ban", "u": target, "until": until, "why": reason})
        return self.bans[target]

    def lift_ban(self, target: UserKey) -> bool:
        ban = self.bans.get(target)
        if ban is None:
            return False
        self._emit({"t": "unban", "u": target})
        # scheduled posts held by the ban were moved to its end: they may go now
        now = self.clock.now()
        for item in self.list_scheduled(target):
            if item.due == ban.until and item.due > now:
                self._emit(
                    {"t": "resched", "id": item.id, "due": now}, durable=self._is_account(target)
                )
        return True

    # ------------------------------------------------------------------ scheduled posts

    def schedule(
        self,
        owner: UserKey,
        owner_name: str,
        origin: str,
        target: str,
        target_name: str,
        private: bool,
        text: str,
        due: float,
    ) -> Scheduled:
        now = self.clock.now()
        # 1s minimum; the slack covers the caller's earlier clock read ("DELAY 1s" = now + 1)
        if due - now < 0.9:
            raise InvalidDuration("the time must be in the future")
        if due - now > self.rules.max_delay_seconds:
            raise InvalidDuration(
                f"at most {self.rules.max_delay_seconds // 86400}d ahead"
                if self.rules.max_delay_seconds % 86400 == 0
                else f"at most {self.rules.max_delay_seconds}s ahead"
            )
        if private:
            if target not in self.users:
                raise NoSuchUser(target)
        else:
            room = self.rooms.get(target)
            if room is None:
                raise InvalidTarget(f"no channel {target_name}")
            if owner not in room.members:
                raise NotMember(target)
        mine = sum(1 for s in self.scheduled.values() if s.owner == owner)
        if mine >= self.rules.max_delayed_per_user:
            raise TooManyScheduled(self.rules.max_delayed_per_user)
        item = Scheduled(
            id=self.next_sched_id,
            owner=owner,
            owner_name=owner_name,
            target=target,
            target_name=target_name,
            private=private,
            text=text,
            created=now,
            due=due,
            origin=origin,
        )
        self._emit({"t": "sched", "item": item.to_dict()}, durable=self._is_account(owner))
        return item

    def list_scheduled(self, owner: UserKey) -> list[Scheduled]:
        return sorted(
            (s for s in self.scheduled.values() if s.owner == owner), key=lambda s: (s.due, s.id)
        )

    def cancel_scheduled(self, owner: UserKey, item_id: int) -> Scheduled:
        item = self.scheduled.get(item_id)
        if item is None or item.owner != owner:
            raise UnknownScheduled(f"no scheduled message #{item_id} of yours")
        self._emit({"t": "unsched", "id": item_id}, durable=self._is_account(owner))
        return item

    def next_due(self) -> float | None:
        """When release_due next has something to do (a scheduled post or a ban ending)."""
        while self._due_heap:
            due, sid = self._due_heap[0]
            item = self.scheduled.get(sid)
            if item is None or item.due != due:
                heapq.heappop(self._due_heap)  # cancelled, fired or rescheduled
                continue
            break
        times = [b.until for b in self.bans.values()]
        if self._due_heap:
            times.append(self._due_heap[0][0])
        return min(times) if times else None

    def release_due(self, late_after: float = 30.0) -> tuple[list[Fired], list[BanEnded]]:
        """Lift bans that ended and send scheduled posts that fell due, in due order."""
        now = self.clock.now()
        ended: list[BanEnded] = []
        for key, ban in sorted(self.bans.items(), key=lambda kv: kv[1].until):
            if ban.until <= now:
                self._emit({"t": "unban", "u": key})
                u = self.users.get(key)
                ended.append(BanEnded(user=key, name=u.name if u else key))
        fired: list[Fired] = []
        while self._due_heap and self._due_heap[0][0] <= now:
            due, sid = heapq.heappop(self._due_heap)
            item = self.scheduled.get(sid)
            if item is None or item.due != due:
                continue
            fired.append(self._fire(item, now, late=now - due > late_after))
        return fired, ended

    def _fire(self, item: Scheduled, now: float, late: bool) -> Fired:
        keep = self._is_account(item.owner)  # a guest's schedules are not durable
        ban = self.ban_of(item.owner, now)
        if ban is not None:
            self._emit({"t": "resched", "id": item.id, "due": ban.until}, durable=keep)
            return Fired(item, "held", reason="muted", late=late, until=ban.until)
        u = self.users.get(item.owner)
        try:
            if item.private:
                if item.target not in self.users:
                    raise NoSuchUser(item.target_name)
                post = self._new_post(
                    item.owner,
                    item.owner_name if u is None else u.name,
                    item.origin,
                    "PRIVMSG",
                    item.text,
                    None,
                    now,
                    to=item.target,
                    to_name=self.users[item.target].name,
                )
            else:
                room = self.rooms.get(item.target)
                if room is None or item.owner not in room.members:
                    raise NotMember(item.target_name)
                self._check_quota(item.owner, now)
                post = self._new_post(
                    item.owner,
                    item.owner_name if u is None else u.name,
                    item.origin,
                    "PRIVMSG",
                    item.text,
                    None,
                    now,
                    room=item.target,
                )
        except RateLimited as e:
            self._emit({"t": "resched", "id": item.id, "due": e.reset_at}, durable=keep)
            return Fired(item, "postponed", reason="rate limited", late=late, until=e.reset_at)
        except (NoSuchUser, NotMember) as e:
            self._emit({"t": "unsched", "id": item.id}, durable=keep)
            what = "recipient is gone" if item.private else "you are no longer in the channel"
            return Fired(item, "dropped", reason=f"{what} ({e})", late=late)
        self._emit({"t": "unsched", "id": item.id}, durable=keep)
        return Fired(item, "posted", post=post, late=late)


def _tail(posts: Iterable[Post], limit: int) -> deque[Post]:
    """The last ``limit`` posts (the retention rule may have shrunk since the snapshot), in a
    deque without a maxlen: the engine trims on append itself."""
    return deque(deque(posts, maxlen=max(0, limit)))


def _newer_than(history: Sequence[Post], seq: int) -> list[Post]:
    """Posts with seq > ``seq`` from a seq-ordered history, scanning from the newest end."""
    out: list[Post] = []
    for p in reversed(history):
        if p.seq <= seq:
            break
        out.append(p)
    out.reverse()
    return out

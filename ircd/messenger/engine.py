"""The messenger engine: rooms, posts, accounts, unread cursors, quotas, complaints, bans and
scheduled posts.

Pure domain logic: no IRC, no asyncio, no files. The clock is injected. The engine is
event-sourced: every durable change is a typed event (events.py) that ``_emit`` applies through
the apply table ``APPLY`` (one function per event class) and queues, in its JSON form, for the
journal (``take_events``); ``to_dict``/``from_dict`` give the compacted snapshot, and ``replay``
applies journaled events after a snapshot on start, through the same table. Every post, live or
scheduled, is made by ``_post``, with the same checks.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
import secrets
from collections.abc import Callable, Generator, Iterable, Sequence
from sys import intern
from typing import Any

from ..clock import Clock
from . import masks, snapshot
from .errors import (
    AccountExists,
    AccountRequired,
    AlreadyMember,
    BadKey,
    Banned,
    BannedFromRoom,
    CannotComplain,
    CannotSend,
    Flooding,
    GeneralRoomRule,
    InvalidDuration,
    InvalidMode,
    InvalidTarget,
    InviteOnly,
    KeySet,
    ListFull,
    NameTaken,
    NoSuchAccount,
    NoSuchRoom,
    NoSuchUser,
    NotMember,
    NotOperator,
    RateLimited,
    RedactForbidden,
    RoomFull,
    TooManyAccounts,
    TooManyScheduled,
    UnknownMessage,
    UnknownScheduled,
)
from .events import (
    AccountCreated,
    Ack,
    Adopted,
    Complaint,
    Event,
    Gone,
    Invited,
    Join,
    LegacyRename,
    ListSet,
    Marked,
    ModeSet,
    Muted,
    NewPost,
    OperSeen,
    OpSet,
    Part,
    PasswordSet,
    PrivateDropped,
    Redacted,
    Renamed,
    Rescheduled,
    RoomCreated,
    RoomDropped,
    ScheduledAdded,
    ScheduledRemoved,
    Seen,
    ServerId,
    Setting,
    TopicSet,
    Unmuted,
    VoiceSet,
    from_json,
)
from .holds import add_hold, cut_holds, in_holds
from .model import (
    DEFAULT_FLAGS,
    LIST_MODES,
    MAX_LIST_ENTRIES,
    Ban,
    BanEnded,
    ComplaintResult,
    Fired,
    History,
    ListEntry,
    Post,
    Room,
    RoomKey,
    Rules,
    Scheduled,
    Unread,
    User,
    UserKey,
    stored_post,
)
from .snapshot import SNAPSHOT_VERSION
from .validate import StateError, check_event, check_snapshot

# NewPost(post, quota), made through its slots: a frozen dataclass's __init__ sets each field
# with object.__setattr__, which costs more than the rest of the event (as wire.parse does for
# its Message; NewPost.__new__ is object.__new__ interpreted, mypyc's own when events.py is
# compiled, and neither runs __init__). vars(): mypyc refuses NewPost.__dict__ on the class.
_new_event: Callable[[type[NewPost]], NewPost] = NewPost.__new__
_ev_slots: Any = vars(NewPost)
_set_ev_post = _ev_slots["post"].__set__
_set_ev_quota = _ev_slots["quota"].__set__


def _new_post_event(post: Post, quota: UserKey | None) -> NewPost:
    ev: NewPost = _new_event(NewPost)
    _set_ev_post(ev, post)
    _set_ev_quota(ev, quota)
    return ev


def pair_key(a: UserKey, b: UserKey) -> str:
    return f"{a}\t{b}" if a <= b else f"{b}\t{a}"


class Messenger:
    def __init__(self, clock: Clock, rules: Rules | None = None) -> None:
        self.clock = clock
        self.rules = rules or Rules()
        self.server_id = secrets.token_hex(3)
        self._msgid_prefix = ""  # "<server_id>-", interned: the msgid of each post made here
        self.seq = 0
        self.users: dict[UserKey, User] = {}
        self.rooms: dict[RoomKey, Room] = {}
        self.dms: dict[str, History] = {}
        self._dm_index: dict[UserKey, set[str]] = {}
        # seqs of posts deleted (REDACT) since the last snapshot: a store with segments
        # removes them from its files with the next one (snapshot.dump_segmented)
        self.deleted: set[int] = set()
        self.windows: dict[UserKey, list[float]] = {}  # key -> [window start, count]
        self.complaints: dict[UserKey, dict[UserKey, str]] = {}
        # target -> complainer -> the address its complaint counts together with others from
        # (a young account's creation address, when same_address_counts_once)
        self.complaint_groups: dict[UserKey, dict[UserKey, str]] = {}
        self.bans: dict[UserKey, Ban] = {}
        self.scheduled: dict[int, Scheduled] = {}
        self._due_heap: list[tuple[float, int]] = []
        self.next_sched_id = 1
        self.online: set[UserKey] = set()
        self._buckets: dict[UserKey, list[float]] = {}  # private anti-flood [tokens, stamp]
        self._addresses: dict[UserKey, str] = {}  # online user -> its connection's address
        self._ip_bans: dict[str, UserKey] = {}  # address -> the muted user whose mute it carries
        self._created_from: dict[str, list[float]] = {}  # address -> recent account creations
        self._events: list[dict[str, Any]] = []  # the JSON form of the durable events

    # ------------------------------------------------------------------ events and persistence

    def take_events(self) -> list[dict[str, Any]]:
        """The durable events since the last call, for the journal."""
        ev, self._events = self._events, []
        return ev

    @property
    def has_events(self) -> bool:
        return bool(self._events)

    def _emit(self, ev: Event, durable: bool = True) -> None:
        """Apply ``ev``; a durable one goes to the journal (in its JSON form, made now: the
        values it refers to may change later)."""
        APPLY[type(ev)](self, ev)
        if durable:
            self._events.append(ev.to_json())

    def pin_server_id(self) -> None:
        """Journal the server id on a fresh state, so msgids keep their prefix after a restart
        that finds no snapshot yet."""
        self._emit(ServerId(self.server_id))

    def replay(self, events: Iterable[Any]) -> None:
        """Apply journaled events. ``StateError`` (one line) for an event that is malformed or
        does not fit the state; the events before it stay applied. (Each event is ``Any``, not
        a dict, on purpose: it is untrusted JSON that ``check_event`` checks, and a module
        compiled with mypyc, scripts/compile.sh, would refuse a non-dict with a ``TypeError``
        before that check could say what is wrong.)"""
        on_post = self._on_post
        for ev in events:
            check_event(ev, self.rooms)
            try:
                if ev["t"] == "post":  # most of a journal: from_json's NewPost, made directly
                    on_post(_new_post_event(Post.from_dict(ev["p"]), ev.get("q")))
                    continue
                self._apply(from_json(ev))
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
                what = f"missing {e}" if type(e) is KeyError else f"{type(e).__name__}: {e}"
                raise StateError(f"{ev.get('t')!r} event: cannot apply it ({what})") from e

    def replay_one(self, ev: Any) -> Event:
        """Apply one journaled event (as ``replay``) and return it typed (another node's
        event, applied and then shown: decoded once). ``ev: Any``: untrusted, as in ``replay``."""
        check_event(ev, self.rooms)
        try:
            if ev["t"] == "post":
                post = _new_post_event(Post.from_dict(ev["p"]), ev.get("q"))
                self._on_post(post)
                return post
            typed = from_json(ev)
            self._apply(typed)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            what = f"missing {e}" if type(e) is KeyError else f"{type(e).__name__}: {e}"
            raise StateError(f"{ev.get('t')!r} event: cannot apply it ({what})") from e
        return typed

    def _apply(self, ev: Event) -> None:
        APPLY[type(ev)](self, ev)

    # The apply functions, one per event type (the table APPLY below the class maps them).
    # They run live (through _emit) and on replay, so they depend only on the event and the
    # state, never on the clock.

    def _on_ack(self, ev: Ack) -> None:
        u = self.users.get(ev.user)
        if u is not None:
            if ev.hold is not None:  # what was waiting when that connection landed stays unread
                add_hold(u.holds, *ev.hold)
            elif ev.upto is not None:  # that client got what the holds cover up to there
                cut_holds(u.holds, ev.upto)
            else:
                u.holds.clear()
            if ev.seq > u.delivered_seq:
                u.delivered_seq = ev.seq
            u.seen_before = True

    def _on_seen(self, ev: Seen) -> None:
        u = self.users.get(ev.user)
        if u is not None:
            u.seen_before = True

    def _on_account(self, ev: AccountCreated) -> None:
        # a guest becoming an account is re-inserted, so the order of users is the same
        # live and after a replay (where the guest never existed)
        self.users.pop(ev.key, None)
        s = self.seq if ev.seq is None else ev.seq
        self.users[ev.key] = User(
            key=ev.key,
            name=ev.name,
            password_hash=ev.password_hash,
            created=ev.created,
            delivered_seq=s,
            since_seq=s if ev.since is None else ev.since,
            address=ev.address,
        )
        self._note_created(ev.address, ev.created)

    def _on_room(self, ev: RoomCreated) -> None:
        room = self.rooms.pop(ev.room, None)  # (re)journaled: it goes last, as on replay
        if room is None:
            room = Room(key=ev.room, name=ev.name, created=ev.created)
        self.rooms[ev.room] = room

    def _on_join(self, ev: Join) -> None:
        room = self.rooms[ev.room]
        room.add_member(ev.user, ev.op)
        room.invited.discard(ev.user)  # an invitation is good for one join
        u = self.users.get(ev.user)
        if u is not None:
            u.rooms[ev.room] = self.seq if ev.seq is None else ev.seq

    def _on_part(self, ev: Part) -> None:
        room = self.rooms[ev.room]
        room.remove_member(ev.user)
        u = self.users.get(ev.user)
        if u is not None:
            u.rooms.pop(ev.room, None)  # (its read marker stays: markers only move forward)

    def _on_unroom(self, ev: RoomDropped) -> None:
        self.rooms.pop(ev.room, None)

    def _on_undm(self, ev: PrivateDropped) -> None:
        self._drop_dm(ev.pair)

    def _on_op(self, ev: OpSet) -> None:
        self.rooms[ev.room].set_op(ev.user, ev.on)

    def _on_voice(self, ev: VoiceSet) -> None:
        self.rooms[ev.room].set_voice(ev.user, ev.on)

    def _on_cmode(self, ev: ModeSet) -> None:
        room = self.rooms[ev.room]
        if ev.mode == "k":
            room.join_key = ev.arg if ev.on else ""
        elif ev.mode == "l":
            room.limit = int(ev.arg) if ev.on and ev.arg else 0
        elif ev.on:
            room.flags.add(ev.mode)
        else:
            room.flags.discard(ev.mode)

    def _on_clist(self, ev: ListSet) -> None:
        room = self.rooms[ev.room]
        entries = room.lists.setdefault(ev.kind, {})
        folded = masks.fold(ev.mask)
        if ev.on:
            entries[folded] = ListEntry(ev.mask, ev.by, ev.time)
        else:
            entries.pop(folded, None)
            if not entries:
                del room.lists[ev.kind]

    def _on_invite(self, ev: Invited) -> None:
        self.rooms[ev.room].invited.add(ev.user)

    def _on_topic(self, ev: TopicSet) -> None:
        room = self.rooms[ev.room]
        room.topic, room.topic_by, room.topic_time = ev.text, ev.by, ev.time

    def _on_mark(self, ev: Marked) -> None:
        u = self.users.get(ev.user)
        if u is not None:
            _set_marker(u.read_markers, ev.target, ev.time, self.rules.max_read_markers)

    def _on_setting(self, ev: Setting) -> None:
        u = self.users.get(ev.user)
        if u is not None:
            u.settings[ev.key] = ev.value

    def _on_password(self, ev: PasswordSet) -> None:
        u = self.users.get(ev.user)
        if u is not None:
            u.password_hash = ev.password_hash

    def _on_complaint(self, ev: Complaint) -> None:
        self.complaints.setdefault(ev.target, {})[ev.by] = ev.reason
        groups = self.complaint_groups.setdefault(ev.target, {})
        if ev.group:
            groups[ev.by] = ev.group
        else:
            groups.pop(ev.by, None)

    def _on_oper(self, ev: OperSeen) -> None:
        u = self.users.get(ev.user)
        if u is not None:
            u.oper = ev.name

    def _on_mute(self, ev: Muted) -> None:
        self._set_ban(ev.user, Ban(ev.until, ev.reason, name=ev.name, ip=ev.ip))
        self.complaints.pop(ev.user, None)
        self.complaint_groups.pop(ev.user, None)

    def _on_unmute(self, ev: Unmuted) -> None:
        gone = self.bans.pop(ev.user, None)
        if gone is not None and gone.ip and self._ip_bans.get(gone.ip) == ev.user:
            del self._ip_bans[gone.ip]

    def _on_adopt(self, ev: Adopted) -> None:
        self._adopt(ev.old, ev.new, ev.quota)

    def _on_gone(self, ev: Gone) -> None:
        self.complaints.pop(ev.user, None)
        self.complaint_groups.pop(ev.user, None)

    def _on_sched(self, ev: ScheduledAdded) -> None:
        item = dataclasses.replace(ev.item)  # the engine's own copy (the event stays as it was)
        self.scheduled[item.id] = item
        heapq.heappush(self._due_heap, (item.due, item.id))
        self.next_sched_id = max(self.next_sched_id, item.id + 1)

    def _on_unsched(self, ev: ScheduledRemoved) -> None:
        self.scheduled.pop(ev.id, None)

    def _on_resched(self, ev: Rescheduled) -> None:
        moved = self.scheduled.get(ev.id)
        if moved is not None:
            moved.due = ev.due
            heapq.heappush(self._due_heap, (moved.due, moved.id))

    def _on_server_id(self, ev: ServerId) -> None:
        self.server_id = ev.server_id

    def _on_rename(self, ev: Renamed) -> None:
        self._rename(ev.user, ev.name, ev.quota, ev.old_quota)

    def _on_legacy_rename(self, ev: LegacyRename) -> None:
        self._legacy_rename(ev.old, ev.new)

    def _on_post(self, ev: NewPost) -> None:
        post = ev.post
        self.seq = max(self.seq, post.seq)
        if post.room is not None:
            room = self.rooms.get(post.room)
            if room is None:
                room = self.rooms[post.room] = Room(
                    key=post.room, name=post.room, created=post.time
                )
            room.history.append_bounded(post, self.rules.history_per_room)
            self._count_public(ev.quota or post.sender, post.time)
        else:
            assert post.to is not None
            pk = pair_key(post.sender, post.to)
            hist = self.dms.get(pk)
            if hist is None:
                hist = self.dms[pk] = History()
                self._dm_index.setdefault(post.sender, set()).add(pk)
                self._dm_index.setdefault(post.to, set()).add(pk)
            hist.append_bounded(post, self.rules.history_per_private)

    def _on_redact(self, ev: Redacted) -> None:
        if ev.room is not None:
            room = self.rooms.get(ev.room)
            hist = room.history if room is not None else None
        else:
            hist = self.dms.get(ev.pair or "")
        if hist:
            i = _find_seq(hist, ev.seq)
            if i is not None:
                del hist[i]
                self.deleted.add(ev.seq)

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
        """A fresh, plain, JSON-ready copy of all durable state (snapshot.py)."""
        return snapshot.dump(self)

    def to_segmented(self, stored_rows: int) -> snapshot.SegmentedDump:
        """A snapshot for a store with segments: the state without posts and the posts the
        segments (holding ``stored_rows`` rows) lack (snapshot.py)."""
        return snapshot.dump_segmented(self, stored_rows)

    @classmethod
    def from_dict(
        cls,
        data: Any,
        clock: Clock,
        rules: Rules | None = None,
        rows: Iterable[Sequence[Any]] = (),
    ) -> Messenger:
        """The engine of a snapshot; a segmented one (``segmented`` in ``data``) takes its
        posts from ``rows``, the segments' rows in chunks, oldest first. (``data: Any``:
        untrusted JSON, checked here; see ``replay`` on compiled modules.)"""
        check_snapshot(data, SNAPSHOT_VERSION)  # StateError (a ValueError) saying where
        m = cls(clock, rules)
        snapshot.load(m, data)
        refs = data.get("segmented")
        if refs is not None:
            snapshot.load_rows(m, refs, rows)
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

    def new_account_blocked(self, address: str, now: float | None = None) -> float | None:
        """None if one more account may be created from ``address`` now; else the time when
        it may (rules.accounts_per_address per rules.accounts_window_seconds)."""
        limit = self.rules.accounts_per_address
        times = self._created_from.get(address) if address and limit > 0 else None
        if not times or len(times) < limit:
            return None
        now = self.clock.now() if now is None else now
        window = self.rules.accounts_window_seconds
        oldest = times[-limit]  # the limit-th newest creation
        return oldest + window if now - oldest < window else None

    def _note_created(self, address: str, when: float) -> None:
        if not address or self.rules.accounts_per_address <= 0:
            return
        times = self._created_from.setdefault(address, [])
        times.append(when)
        if len(times) > self.rules.accounts_per_address:
            del times[0]

    def create_account(
        self, key: UserKey, name: str, password_hash: str, address: str = "", auto: bool = False
    ) -> User:
        """A new account with an already computed password hash (the adapter hashes off the
        event loop, so the state may have changed meanwhile: every check is made here).
        ``auto``: created by a first login (accounts.auto_register)."""
        u = self.users.get(key)
        if u is not None and u.is_account:
            raise AccountExists(f"{name} is already registered")
        if u is not None:
            raise NameTaken(f"{name} is in use by a guest")
        if auto and not self.rules.auto_register:
            raise NoSuchAccount(f"no account {name}")
        retry = self.new_account_blocked(address)
        if retry is not None:
            raise TooManyAccounts(retry)
        return self._create_account(key, name, password_hash, address)

    def register(
        self, guest: UserKey, key: UserKey, name: str, password_hash: str, address: str = ""
    ) -> User:
        """Turn the connected guest ``guest`` into the account ``key``: its memberships,
        settings, read markers, scheduled messages, rate window and mute go with it. Its
        private conversations stay with the guest (they were not the account's)."""
        u = self.users.get(key)
        if u is not None and u.is_account:
            raise AccountExists(f"{name} is already registered")
        if u is not None and key != guest:
            raise NameTaken(f"{name} is in use by a guest")
        retry = self.new_account_blocked(address)
        if retry is not None:
            raise TooManyAccounts(retry)
        g = self.users.get(guest)
        if g is not None and g.is_account:
            raise AccountExists(f"{g.name} is already an account")
        same = g is not None and guest == key
        user = self._create_account(
            key, name, password_hash, address, since=g.since_seq if same and g else None
        )
        if g is None:
            return user
        if not same:
            self._emit(Adopted(guest, key, g.quota))
        # the guest's live state, made durable under the account
        for room_key, room in list(self.rooms.items()):
            if guest in room.members or (same and key in room.members):
                was_op = guest in room.ops or key in room.ops
                was_voiced = guest in room.voiced or key in room.voiced
                if not same:
                    room.remove_member(guest)
                # a room of guests only is in no snapshot: journal it before the account joins
                self._emit(RoomCreated(room_key, room.name, room.created))
                if room.topic:
                    self._emit(TopicSet(room_key, room.topic, room.topic_by, room.topic_time))
                self._journal_modes(room)
                self._emit(Join(key, room_key, was_op, g.rooms.get(room_key, self.seq)))
                if was_voiced:
                    self._emit(VoiceSet(key, room_key, True))
            if guest in room.invited and room_key in self.rooms:
                room.invited.discard(guest)
                self._emit(Invited(key, room_key))
        for k, v in g.settings.items():
            self._emit(Setting(key, k, v))
        for target, ts in g.read_markers.items():
            self._emit(Marked(key, target, ts))
        for item in self.list_scheduled(guest):
            item.owner = key
            self._emit(ScheduledAdded(item))  # durable from now on
        return user

    def _journal_modes(self, room: Room) -> None:
        """Journal a room's modes and lists again (a room of guests only is in no snapshot,
        so its state is written once an account joins it)."""
        default = set(DEFAULT_FLAGS)
        for flag in sorted(room.flags ^ default):
            self._emit(ModeSet(room.key, flag, flag in room.flags))
        if room.join_key:
            self._emit(ModeSet(room.key, "k", True, room.join_key))
        if room.limit:
            self._emit(ModeSet(room.key, "l", True, str(room.limit)))
        for kind, entries in sorted(room.lists.items()):
            for e in list(entries.values()):
                self._emit(ListSet(room.key, kind, e.mask, True, e.by, e.time))

    def _adopt(self, old: UserKey, new: UserKey, quota: UserKey | None) -> None:
        """A guest became the account ``new``: what was kept under its key moves over."""
        q = quota or old
        if q in self.windows:
            w = self.windows.pop(q)
            cur = self.windows.get(new)
            if cur is None or cur < w:
                self.windows[new] = w
        if old in self.bans:
            ban = self.bans.pop(old)
            self._set_ban(new, ban)
        if old in self.complaints:
            self.complaints[new] = {**self.complaints.pop(old), **self.complaints.get(new, {})}
        if old in self.complaint_groups:
            moved = self.complaint_groups.pop(old)
            self.complaint_groups[new] = {**moved, **self.complaint_groups.get(new, {})}
        if old in self.online:
            self.online.discard(old)
            self.online.add(new)
        if old in self._addresses:
            self._addresses[new] = self._addresses.pop(old)
        if old in self._buckets:
            self._buckets[new] = self._buckets.pop(old)
        g = self.users.get(old)
        if g is not None and not g.is_account:
            del self.users[old]

    def _create_account(
        self,
        key: UserKey,
        name: str,
        password_hash: str,
        address: str = "",
        since: int | None = None,
    ) -> User:
        if since == self.seq:
            since = None  # (a guest registering keeps its current conversations)
        now = self.clock.now()
        self._emit(AccountCreated(key, name, password_hash, now, self.seq, address, since))
        return self.users[key]

    def attach_guest(
        self, key: UserKey, name: str, *, address: str = "", quota_key: str = ""
    ) -> User:
        """A guest under ``key`` (the adapter gives every guest connection a key of its own,
        so nothing of an earlier guest with the same nick reaches it). ``quota_key``: where
        its channel posts are counted (the adapter passes one derived from the nick)."""
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
                address=address,
                quota_key=quota_key,
            )
        return u

    def connected(self, key: UserKey, address: str = "") -> None:
        if key not in self.online:
            self.online.add(key)
            self.shown_changed(key, arrived=True)
        if address:
            self._addresses[key] = address

    def shown_changed(self, key: UserKey, arrived: bool = False) -> None:
        """How ``key`` is shown in the rooms it is a member of changed: it came online
        (``arrived``), went offline, or changed nick (``Room.shown_changed``)."""
        u = self.users.get(key)
        if u is None:
            return
        for room_key in u.rooms:
            room = self.rooms.get(room_key)
            if room is not None and key in room.members:
                room.shown_changed(key if arrived else None)

    def disconnected(self, key: UserKey) -> None:
        """A user's last connection closed. A guest vanishes: its memberships, pending
        scheduled messages and the complaints about it go (the next guest is someone else);
        its rate window stays with its nick, and a mute with its address."""
        self.online.discard(key)
        self._addresses.pop(key, None)
        u = self.users.get(key)
        if u is not None and u.is_account:
            self.shown_changed(key)
        if u is not None and not u.is_account:
            for room in self.rooms.values():
                if key in room.members:
                    room.remove_member(key)
                room.invited.discard(key)
            self.drop_empty_rooms()
            del self.users[key]
            self._drop_orphan_dms(self._dm_index.get(key, ()))
            self._buckets.pop(key, None)
            for item in self.list_scheduled(key):
                self._emit(ScheduledRemoved(item.id), durable=False)
            if key in self.complaints:
                self._emit(Gone(key))

    def rename_guest(self, key: UserKey, name: str, quota_key: str = "") -> None:
        """A guest changed its nick: its rate window follows it to the new nick."""
        u = self.users.get(key)
        if u is None or u.is_account:
            raise NoSuchUser(key)
        # durable: the rate window follows the nick even across a restart
        self._emit(Renamed(key, name, quota_key, u.quota_key))

    def _rename(self, key: UserKey, name: str, quota: str, old_quota: str) -> None:
        u = self.users.get(key)
        if u is not None and not u.is_account:
            u.name, u.quota_key = name, quota
        if old_quota and quota and old_quota != quota and old_quota in self.windows:
            w = self.windows.pop(old_quota)
            cur = self.windows.get(quota)
            if cur is None or cur < w:
                self.windows[quota] = w

    def _legacy_rename(self, old: UserKey, new: UserKey) -> None:
        """A 0.1 journal's guest rename (guests were keyed by nick): move what was durable."""
        if old == new:
            return
        if old in self.windows:
            self.windows[new] = self.windows.pop(old)
        if old in self.complaints:
            self.complaints[new] = self.complaints.pop(old)
        if old in self.bans:
            self._set_ban(new, self.bans.pop(old))

    def set_setting(self, user: UserKey, key: str, value: str) -> None:
        u = self.users.get(user)
        if u is None:
            raise NoSuchUser(user)
        self._emit(Setting(user, key, value), durable=u.is_account)

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
            self._emit(RoomCreated(key, name, self.clock.now()))
            room = self.rooms[key]
        return room

    def is_general(self, key: RoomKey) -> bool:
        """Whether ``key`` is the general room everyone is put into (rules.auto_join): it has
        no operator, never ceases and is always +t. With auto_join off there is none."""
        return self.rules.auto_join and key == self.rules.general_room

    def join(
        self,
        user: UserKey,
        key: RoomKey,
        name: str,
        mask: str | None = None,
        password: str = "",
    ) -> tuple[Room, bool]:
        """Returns (room, newly joined). The first member of an empty room becomes operator,
        except in the general room, which belongs to everyone. With ``mask`` (the user's
        ``nick!user@host``), the channel's modes decide first (``check_join``)."""
        existing = self.rooms.get(key)
        if existing is not None and user in existing.members:
            return existing, False
        if mask is not None and existing is not None:
            self.check_join(user, existing, mask, password)
        room = self.ensure_room(key, name)
        u = self.users.get(user)
        op = not room.members and not self.is_general(key)
        self._emit(Join(user, key, op, self.seq), durable=u is not None and u.is_account)
        return room, True

    def check_join(self, user: UserKey, room: Room, mask: str, password: str = "") -> None:
        """Whether ``user`` (``mask``: its ``nick!user@host``) may join ``room``: an
        invitation lets it in once; otherwise a ban (+b, unless an exception +e matches),
        +i (unless an invite exception +I matches), +k (``password``) and +l keep it out."""
        if user in room.invited:
            return
        if room.lists and self.banned_in(room, user, mask):
            raise BannedFromRoom(room.key)
        if "i" in room.flags and not self._listed(room, "I", user, mask):
            raise InviteOnly(room.key)
        if room.join_key and password != room.join_key:
            raise BadKey(room.key)
        if room.limit and len(room.members) >= room.limit:
            raise RoomFull(room.key)

    def _account_of(self, user: UserKey) -> str | None:
        u = self.users.get(user)
        return masks.fold(u.name) if u is not None and u.is_account else None

    def _listed(self, room: Room, kind: str, user: UserKey, mask: str, mute: bool = False) -> bool:
        """Whether an entry of the list ``kind`` matches the user: join bans (``mute`` False)
        or mutes (``m:`` entries, ``mute`` True). In +e, a plain entry exempts from both."""
        entries = room.lists.get(kind)
        if not entries:
            return False
        nickmask, account = masks.fold(mask), self._account_of(user)
        for folded in entries:
            is_mute = masks.is_mute(folded)
            if (is_mute == mute or (kind == "e" and not is_mute)) and masks.matches(
                folded, nickmask, account
            ):
                return True
        return False

    def banned_in(self, room: Room, user: UserKey, mask: str) -> bool:
        """A ban (+b, not a mute) matches the user and no exception (+e) does."""
        return self._listed(room, "b", user, mask) and not self._listed(room, "e", user, mask)

    def muted_in(self, room: Room, user: UserKey, mask: str) -> bool:
        """A mute (+b m:...) matches the user and no exception (+e, plain or m:) does."""
        return self._listed(room, "b", user, mask, mute=True) and not self._listed(
            room, "e", user, mask, mute=True
        )

    def part(self, user: UserKey, key: RoomKey) -> Room:
        room = self.rooms.get(key)
        if room is None:
            raise NoSuchRoom(key)
        if user not in room.members:
            raise NotMember(key)
        u = self.users.get(user)
        self._emit(Part(user, key), durable=u is not None and u.is_account)
        self._drop_if_empty(room)
        return room

    def _drop_if_empty(self, room: Room) -> None:
        """A room nobody is a member of any more ceases to exist, with its history and topic,
        as an empty IRC channel does. An offline account is still a member: it keeps the room
        and the history it will read when it returns. The general room always stays."""
        if room.members or self.is_general(room.key):
            return
        if self.rooms.get(room.key) is room:
            self._emit(RoomDropped(room.key))

    def drop_empty_rooms(self) -> None:
        """Drop every room nobody is in."""
        for room in [r for r in self.rooms.values() if not r.members]:
            self._drop_if_empty(room)

    def drop_unreachable(self) -> None:
        """Drop what nobody can read any more: rooms nobody is in, and private conversations
        between guests who are all gone. The server calls this once the state is loaded
        (the guests of the last run are gone; older state files kept empty rooms)."""
        self.drop_empty_rooms()
        self._drop_orphan_dms(list(self.dms))

    def _drop_orphan_dms(self, pairs: Iterable[str]) -> None:
        """Drop the private conversations among ``pairs`` whose two sides are both gone
        (guests that left: an account always stays, and keeps what was said to it)."""
        for pk in sorted(pairs):
            if not any(k in self.users for k in pk.split("\t")):
                self._emit(PrivateDropped(pk))

    def _drop_dm(self, pk: str) -> None:
        if self.dms.pop(pk, None) is None:
            return
        for k in set(pk.split("\t")):
            index = self._dm_index.get(k)
            if index is not None:
                index.discard(pk)
                if not index:
                    del self._dm_index[k]

    def kick(self, by: UserKey, key: RoomKey, target: UserKey, privileged: bool = False) -> Room:
        """``privileged``: ``by`` is a server operator (the adapter knows; the engine does
        not), who may act as a channel operator in every room."""
        room = self.rooms.get(key)
        if room is None:
            raise NoSuchRoom(key)
        if by not in room.members:
            raise NotMember(key)
        if by not in room.ops and not privileged:
            raise NotOperator(key)
        if target not in room.members:
            raise NoSuchUser(target)
        return self.part(target, key)

    def set_op(
        self, by: UserKey, key: RoomKey, target: UserKey, on: bool, privileged: bool = False
    ) -> bool:
        """Give or take channel operator status; False when it was so already. A server
        operator (``privileged``) may do it in every room: that is how the general room, which
        has no operator, gets one (and only server operators change the general room's modes)."""
        room = self._moderated_room(by, key, privileged)
        if target not in room.members:
            raise NoSuchUser(target)
        if (target in room.ops) == on:
            return False
        u = self.users.get(target)
        self._emit(OpSet(target, key, on), durable=u is not None and u.is_account)
        return True

    def set_voice(
        self, by: UserKey, key: RoomKey, target: UserKey, on: bool, privileged: bool = False
    ) -> bool:
        """+v/-v: a voiced member may speak in a moderated (+m) room, and despite a ban or a
        mute. False when it was so already."""
        room = self._moderated_room(by, key, privileged)
        if target not in room.members:
            raise NoSuchUser(target)
        if (target in room.voiced) == on:
            return False
        u = self.users.get(target)
        self._emit(VoiceSet(target, key, on), durable=u is not None and u.is_account)
        return True

    def _moderated_room(self, by: UserKey, key: RoomKey, privileged: bool) -> Room:
        """The room whose modes ``by`` changes, if it may: a channel operator, or a server
        operator (``privileged``); in the general room only a server operator."""
        room = self.rooms.get(key)
        if room is None:
            raise NoSuchRoom(key)
        if privileged:
            return room
        if self.is_general(key):
            raise GeneralRoomRule(key)
        if by not in room.ops:
            raise NotOperator(key)
        return room

    def set_mode(
        self,
        by: UserKey,
        by_name: str,
        key: RoomKey,
        on: bool,
        mode: str,
        arg: str = "",
        privileged: bool = False,
    ) -> str | None:
        """Set (``on``) or unset one channel mode: a flag out of "imnst", the key "k", the
        limit "l", or an entry ``arg`` of the list "b", "e" or "I". Returns the parameter as
        applied ("" for none: the key removed shows as "*"), or None when nothing changed.
        The general room, open to everyone, cannot be +i, +k or +l, nor ban everyone."""
        room = self._moderated_room(by, key, privileged)
        general = self.is_general(key)
        if mode in "imnst" and len(mode) == 1:
            if on and mode == "i" and general:
                raise InvalidMode(mode, "", f"{room.name} is open to everyone: it cannot be +i")
            if (mode in room.flags) == on:
                return None
            self._emit(ModeSet(key, mode, on))
            return ""
        if mode == "k":
            if not on:
                if not room.join_key:
                    return None
                self._emit(ModeSet(key, "k", False))
                return "*"
            if general:
                raise InvalidMode(mode, arg, f"{room.name} is open to everyone: it has no key")
            if not _valid_key(arg):  # (not echoed: it may be long, or a passphrase)
                raise InvalidMode(
                    mode, "*", "A key is 1 to 32 characters, without spaces, commas or ':' first"
                )
            if room.join_key == arg:
                return None
            if room.join_key:
                raise KeySet(key)
            self._emit(ModeSet(key, "k", True, arg))
            return arg
        if mode == "l":
            if not on:
                if not room.limit:
                    return None
                self._emit(ModeSet(key, "l", False))
                return ""
            if general:
                raise InvalidMode(mode, arg, f"{room.name} is open to everyone: it has no limit")
            limit = int(arg) if arg.isdigit() and arg.isascii() and len(arg) <= 7 else 0
            if limit < 1:
                raise InvalidMode(mode, arg, "The limit is a number of users from 1 to 9999999")
            if room.limit == limit:
                return None
            self._emit(ModeSet(key, "l", True, str(limit)))
            return str(limit)
        if mode in LIST_MODES and len(mode) == 1:
            return self._set_list(room, by_name, on, mode, arg, general)
        raise InvalidMode(mode, arg, f"{mode} is not a channel mode")

    def _set_list(
        self, room: Room, by_name: str, on: bool, kind: str, arg: str, general: bool
    ) -> str | None:
        entries = room.lists.get(kind, {})
        if not on:
            found = entries.get(masks.fold(arg))
            if found is None:
                norm = masks.normalise(arg)
                found = entries.get(masks.fold(norm)) if norm is not None else None
            if found is None:
                return None
            self._emit(ListSet(room.key, kind, found.mask, False))
            return found.mask
        norm = masks.normalise(arg)
        if norm is None or (kind == "I" and masks.is_mute(norm)):
            raise InvalidMode(kind, arg, "Not a valid mask (nick!user@host, a:account, m:mask)")
        if general and kind == "b" and not masks.is_mute(norm) and masks.matches_everyone(norm):
            raise InvalidMode(kind, arg, f"Nobody can ban everyone from {room.name}")
        if masks.fold(norm) in entries:
            return None
        if len(entries) >= MAX_LIST_ENTRIES:
            raise ListFull(kind, MAX_LIST_ENTRIES)
        self._emit(ListSet(room.key, kind, norm, True, by_name, self.clock.now()))
        return norm

    def invite(self, by: UserKey, key: RoomKey, target: UserKey, privileged: bool = False) -> Room:
        """``by`` invites ``target``: it may then join once despite +i, +k, +l and bans. Only
        members invite; in a +i room only its operators (and server operators)."""
        room = self.rooms.get(key)
        if room is None:
            raise NoSuchRoom(key)
        if by not in room.members and not privileged:
            raise NotMember(key)
        if target in room.members:
            raise AlreadyMember(key)
        if "i" in room.flags and by not in room.ops and not privileged:
            raise NotOperator(key)
        if target not in self.users:
            raise NoSuchUser(target)
        if target not in room.invited:
            self._emit(Invited(target, key), durable=self._is_account(target))
        return room

    def invitations(self, user: UserKey) -> list[Room]:
        """The rooms ``user`` is invited to and not yet in."""
        return [r for r in self.rooms.values() if user in r.invited]

    def topic_protected(self, room: Room) -> bool:
        """Whether only the room's channel operators (and server operators) may set the topic:
        while it is +t and has an operator (a room whose operators all left is open to its
        members), and always in the general room while it is +t."""
        if "t" not in room.flags:
            return False
        return bool(room.ops) or self.is_general(room.key)

    def set_topic(
        self, by: UserKey, by_name: str, key: RoomKey, text: str, privileged: bool = False
    ) -> Room:
        """``privileged``: ``by`` is a server operator, who may set the topic of any room
        it is in."""
        room = self.rooms.get(key)
        if room is None:
            raise NoSuchRoom(key)
        if by not in room.members:
            raise NotMember(key)
        if self.topic_protected(room) and by not in room.ops and not privileged:
            raise NotOperator(key)
        self._check_ban(by, self.clock.now())
        self._emit(TopicSet(key, text, by_name, self.clock.now()))
        return room

    # ------------------------------------------------------------------ posting

    def _set_ban(self, user: UserKey, ban: Ban) -> None:
        self.bans[user] = ban
        if ban.ip:
            held = self._ip_bans.get(ban.ip)
            if held is None or held not in self.bans or self.bans[held].until <= ban.until:
                self._ip_bans[ban.ip] = user

    def ban_of(self, user: UserKey, now: float | None = None) -> Ban | None:
        """The user's mute; for a guest also a mute that came with its address (a muted
        guest does not escape by reconnecting under another nick)."""
        ban = self.bans.get(user)
        if ban is None:
            if not self._ip_bans:  # (first: this runs for every post)
                return None
            u = self.users.get(user)
            if u is None or u.is_account or not u.address:
                return None
            holder = self._ip_bans.get(u.address)
            ban = self.bans.get(holder) if holder is not None else None
            if ban is None:
                return None
        if ban.until <= (self.clock.now() if now is None else now):
            return None  # expired; release_due emits the unban and the notice
        return ban

    def _check_ban(self, user: UserKey, now: float) -> None:
        ban = self.ban_of(user, now)
        if ban is not None:
            raise Banned(ban.until, ban.reason)

    def _quota_of(self, user: UserKey) -> UserKey:
        u = self.users.get(user)
        return u.quota if u is not None else user

    def _check_quota(self, quota: UserKey, now: float) -> None:
        """Raise RateLimited when the rate window ``quota`` (a user's ``User.quota``) is full."""
        start = self._window_start(now)
        w = self.windows.get(quota)
        if w is not None and w[0] == start and w[1] >= self.rules.messages_per_period:
            raise RateLimited(
                start + self.rules.period_seconds,
                self.rules.messages_per_period,
                self.rules.period_seconds,
            )

    def quota_left(self, user: UserKey) -> tuple[int, float]:
        now = self.clock.now()
        start = self._window_start(now)
        w = self.windows.get(self._quota_of(user))
        used = int(w[1]) if w is not None and w[0] == start else 0
        return max(0, self.rules.messages_per_period - used), start + self.rules.period_seconds

    def _new_msgid_prefix(self) -> str:
        """``_msgid_prefix`` made anew for the current ``server_id`` (set after construction,
        e.g. by a node's identity): the checks stay inline on the hot paths, the making here."""
        self._msgid_prefix = intern(f"{self.server_id}-")
        return self._msgid_prefix

    def _check_flood(self, user: UserKey, now: float) -> None:
        rate, burst = self.rules.private_per_second, float(self.rules.private_burst)
        b = self._buckets.get(user)
        if b is None:
            b = self._buckets[user] = [burst, now]
        tokens = b[0] + (now - b[1]) * rate
        if tokens > burst:
            tokens = burst
        if tokens < 1:
            b[0], b[1] = tokens, now
            raise Flooding((1 - tokens) / rate)
        b[0], b[1] = tokens - 1, now

    def _post(
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
        item: Scheduled | None = None,
    ) -> Post:
        """The one way a post is made: live (post_room, post_private) and when a scheduled
        post falls due (_fire, which passes the ``item``), with the same checks. A channel
        post needs the room, membership, no mute and the quota; a private post needs its
        recipient, no mute and, typed live, the flood allowance (a scheduled one is not
        typed now: at most rules.max_delayed_per_user of them wait). A scheduled post's
        errors name its target as the owner wrote it, and a room that is gone is one the
        owner is no longer in."""
        u = self.users.get(sender)
        # where a channel post counts (User.quota and User.is_account, spelled out below)
        quota = (u.quota_key or u.key) if u is not None else sender
        if room is not None:
            self._check_room_send(sender, room, now, item, origin)
            self._check_quota(quota, now)
            to_name = None
        else:
            assert to is not None
            target = self.users.get(to)
            if target is None:
                raise NoSuchUser(to if item is None else item.target_name)
            self._check_ban(sender, now)
            if item is None:
                self._check_flood(sender, now)
            to_name = target.name
        seq = self.seq + 1
        # positional arguments (keywords cost twice as much on this, the hottest path)
        prefix = self._msgid_prefix
        if prefix[:-1] != self.server_id:
            prefix = self._new_msgid_prefix()
        post = stored_post(
            seq,
            prefix,  # the msgid is "<server id>-<seq>"
            now,  # time
            # interned: the same few strings in every post, not a copy each (a mask is built
            # per line by the adapter, a kind and a room name parsed per line)
            intern(kind),
            sender,
            sender_name,
            intern(origin),
            u.name if u is not None and u.password_hash is not None else None,  # account
            None if room is None else intern(room),
            to,
            to_name,
            text,
            tags or None,
        )
        # a guest's channel posts count under its nick
        ev = _new_post_event(post, None if quota == sender else quota)
        self._on_post(ev)  # _emit(ev), spelled out (APPLY[NewPost]; this path is the hottest)
        self._events.append(ev.to_json())
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
        return self._post(user, name, origin, kind, text, tags, self.clock.now(), room=key)

    def check_room_send(
        self, user: UserKey, key: RoomKey, now: float | None = None, origin: str = ""
    ) -> None:
        """The checks of post_room but the quota, without posting (also for TAGMSG and the
        messages to a channel's operators or voiced members, STATUSMSG). ``origin``: the
        sender's ``nick!user@host``, which the channel's bans are matched against."""
        self._check_room_send(user, key, self.clock.now() if now is None else now, None, origin)

    def _check_room_send(
        self, user: UserKey, key: RoomKey, now: float, item: Scheduled | None, origin: str
    ) -> None:
        """A member may speak, and with -n so may others; a muted user not; in a +m room only
        its voiced members and operators; a ban or a mute (+b) matching the sender keeps it
        quiet unless it is voiced or an operator."""
        room = self.rooms.get(key)
        if room is None or (user not in room.members and ("n" in room.flags or item is not None)):
            if item is not None:
                raise NotMember(item.target_name)
            raise NoSuchRoom(key) if room is None else NotMember(key)
        self._check_ban(user, now)
        if user in room.ops or user in room.voiced:
            return
        if "m" in room.flags:
            raise CannotSend("the channel is moderated (+m): only voiced members speak")
        if room.lists and (self.banned_in(room, user, origin) or self.muted_in(room, user, origin)):
            raise CannotSend("you are banned or muted in this channel")

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
        return self._post(user, name, origin, kind, text, tags, self.clock.now(), to=to)

    def private_posts(
        self,
        user: UserKey,
        name: str,
        origin: str,
        to: UserKey,
        kind: str = "PRIVMSG",
        tags: dict[str, str] | None = None,
    ) -> Generator[Post | Flooding | None, str, None]:
        """``post_private`` for a run of texts from ``user`` to ``to`` (the lines of one read),
        as one call: a generator, primed with ``next`` (which checks nothing yet), then sent
        each text in turn; it answers each with its ``Post``, made, applied and journaled as
        ``post_private`` makes it (one NewPost event each, the same seq, msgid and journal
        form), or with the ``Flooding`` refusal of a text the flood allowance does not let
        through (counted and refused as ``post_private`` would). A text not sent is not
        posted, so the caller may stop after any of them. The first send raises
        ``NoSuchUser`` or ``Banned`` as ``post_private`` would, before posting anything.

        The run is made at one instant (the clock read at the first send), as the per-text
        calls are when the clock does not move between them: the mute and the recipient are
        checked once, the allowance does not grow within the run, so once one text is
        refused, every later one is too."""
        text = yield None  # primed: the checks wait for the first text
        now = self.clock.now()
        target = self.users.get(to)
        if target is None:
            raise NoSuchUser(to)
        self._check_ban(user, now)
        u = self.users.get(user)
        account = u.name if u is not None and u.password_hash is not None else None
        # the event's quota, as _post gives it (a guest's: its nick), though a private post
        # does not count in one
        quota = (u.quota_key or u.key) if u is not None else user
        q = None if quota == user else quota
        to_name = target.name
        prefix = self._msgid_prefix
        if prefix[:-1] != self.server_id:
            prefix = self._new_msgid_prefix()
        kind = intern(kind)
        origin = intern(origin)
        tags = tags or None
        simple = account is None and tags is None  # (see the journal's dict below)
        rules = self.rules
        rate, burst = rules.private_per_second, float(rules.private_burst)
        limit = rules.history_per_private
        bucket = self._buckets.get(user)
        if bucket is None:
            bucket = self._buckets[user] = [burst, now]
        pk = pair_key(user, to)
        hist: History | None = None
        while True:
            # _check_flood, spelled out
            tokens = bucket[0] + (now - bucket[1]) * rate
            if tokens > burst:
                tokens = burst
            if tokens < 1:
                bucket[0], bucket[1] = tokens, now
                text = yield Flooding((1 - tokens) / rate)
                continue
            bucket[0], bucket[1] = tokens - 1, now
            seq = self.seq + 1
            post = stored_post(
                seq, prefix, now, kind, user, name, origin, account, None, to, to_name, text, tags
            )
            # _on_post's private branch (APPLY[NewPost]), spelled out
            self.seq = seq
            if hist is None:
                hist = self.dms.get(pk)
                if hist is None:
                    hist = self.dms[pk] = History()
                    self._dm_index.setdefault(user, set()).add(pk)
                    self._dm_index.setdefault(to, set()).add(pk)
            hist.append_bounded(post, limit)
            # NewPost(post, q).to_json(), with Post.to_dict's dict of a guest's private post
            # made here when it is one
            if simple:
                p = {
                    "seq": seq,
                    "id": f"{prefix}{seq}",
                    "ts": now,
                    "k": kind,
                    "s": user,
                    "sn": name,
                    "o": origin,
                    "txt": text,
                    "to": to,
                    "tn": to_name,
                }
            else:
                p = post.to_dict()
            self._events.append(
                {"t": "post", "p": p} if q is None else {"t": "post", "p": p, "q": q}
            )
            text = yield post

    def room_posts(
        self,
        user: UserKey,
        name: str,
        origin: str,
        key: RoomKey,
        kind: str = "PRIVMSG",
        tags: dict[str, str] | None = None,
    ) -> Generator[Post | RateLimited | None, str, None]:
        """``post_room`` for a run of texts from ``user`` to room ``key``, as ``private_posts``
        is for ``post_private``: primed with ``next``, then sent each text; it answers with
        the ``Post`` (one NewPost event each, as ``post_room`` makes it) or the
        ``RateLimited`` refusal of a text the rate window does not let through. The first send
        raises what ``post_room``'s room checks raise (no such room, not a member, muted,
        moderated, banned), before posting anything. At one instant: once the window is full,
        every later text is refused too."""
        text = yield None  # primed: the checks wait for the first text
        now = self.clock.now()
        u = self.users.get(user)
        quota = (u.quota_key or u.key) if u is not None else user
        self._check_room_send(user, key, now, None, origin)
        room = self.rooms[key]
        account = u.name if u is not None and u.password_hash is not None else None
        prefix = self._msgid_prefix
        if prefix[:-1] != self.server_id:
            prefix = self._new_msgid_prefix()
        kind = intern(kind)
        origin = intern(origin)
        rkey = intern(key)
        tags = tags or None
        q = None if quota == user else quota
        limit = self.rules.history_per_room
        while True:
            # the yield outside the except: a compiled generator (scripts/compile.sh) suspended
            # in an except block leaves the exception as the thread's one being handled, so
            # every later exception got it as its __context__
            refused: RateLimited | None = None
            try:
                self._check_quota(quota, now)
            except RateLimited as e:
                refused = e
            if refused is not None:
                text = yield refused
                continue
            seq = self.seq + 1
            post = stored_post(
                seq, prefix, now, kind, user, name, origin, account, rkey, None, None, text, tags
            )
            # _on_post's room branch (APPLY[NewPost]), spelled out
            self.seq = seq
            room.history.append_bounded(post, limit)
            self._count_public(quota, now)
            p = post.to_dict()
            self._events.append(
                {"t": "post", "p": p} if q is None else {"t": "post", "p": p, "q": q}
            )
            text = yield post

    # ------------------------------------------------------------------ redaction

    def redact(
        self,
        by: UserKey,
        target: str,
        msgid: str,
        *,
        private: bool,
        privileged: bool = False,
        reason: str = "",
    ) -> Post:
        """Delete a stored post (draft/message-redaction): it leaves the history, so nobody
        gets it again as backlog, unread or CHATHISTORY. ``target`` is a room key, or for a
        private post (``private``) the key of the other side. Its sender may delete it, and
        so may an operator of its room; a server operator (``privileged``, told by the
        adapter) may delete any post, in a room it is not in or a private conversation of
        ``target`` with anyone (what was complained about).

        InvalidTarget: no such room, or not a member (unless it is the sender: a -n room
        takes posts from outside); UnknownMessage: no post with that id there;
        RedactForbidden: someone else's post, and not an operator."""
        if private:
            if privileged:
                pairs = sorted(self._dm_index.get(target, ()))
                found = next(
                    (
                        (pk, p)
                        for pk in pairs
                        if (p := _find_msgid(self.dms[pk], msgid)) is not None
                    ),
                    None,
                )
            else:
                pk = pair_key(by, target)
                p = _find_msgid(self._private_history(by, pk), msgid)
                found = (pk, p) if p is not None else None
            if found is None:
                raise UnknownMessage(msgid)
            pk, post = found
            if post.sender != by and not privileged:
                raise RedactForbidden(msgid)
            self._emit(Redacted(post.seq, by, pair=pk, reason=reason[:300]))
            return post
        room = self.rooms.get(target)
        if room is None:
            raise InvalidTarget(target)
        post_ = _find_msgid(room.history, msgid)
        # someone outside may delete what it sent (to a -n room); about anything else it
        # learns nothing, not even whether the id exists
        outside = by not in room.members and not privileged
        if outside and (post_ is None or post_.sender != by):
            raise InvalidTarget(target)
        if post_ is None:
            raise UnknownMessage(msgid)
        if post_.sender != by and by not in room.ops and not privileged:
            raise RedactForbidden(msgid)
        self._emit(Redacted(post_.seq, by, room=room.key, reason=reason[:300]))
        return post_

    def posts_by(
        self, user: UserKey, limit: int, peers: Iterable[UserKey] = (), scan: int = 500
    ) -> list[Post]:
        """The ``limit`` newest stored posts ``user`` sent to rooms, and privately to
        ``peers`` (no other private ones), oldest first, looking at the ``scan`` newest
        posts of each conversation: what an operator reading the complaints about ``user``
        (``peers``: the complainers) may want to delete."""
        found: list[Post] = []
        hists: list[Sequence[Post]] = [r.history for r in self.rooms.values()]
        pairs = {pair_key(user, peer) for peer in peers} & self._dm_index.get(user, set())
        hists += [self.dms[pk] for pk in sorted(pairs)]
        for hist in hists:
            for n, p in enumerate(reversed(hist)):
                if n >= scan:
                    break
                if p.sender == user:
                    found.append(p)
        found.sort(key=lambda p: p.seq)
        return found[-limit:] if limit > 0 else []

    # ------------------------------------------------------------------ delivery cursors

    def ack(self, user: UserKey, seq: int, held_upto: int | None = None) -> None:
        """Everything relevant to ``user`` up to ``seq`` reached a client. With ``held_upto``
        (the seq when that connection landed), except what was still unread then: the
        connection was told about it but not given it, so it stays unread (a hold)."""
        u = self.users.get(user)
        if u is None or not u.is_account:
            return
        seq = min(seq, self.seq)
        hold = None
        upto = None
        if held_upto is not None:
            # a held ack keeps the holds there are (an empty range adds none)
            if seq <= u.delivered_seq:
                return  # nothing new
            hold = (u.delivered_seq, max(u.delivered_seq, min(held_upto, seq)))
        else:
            # a plain ack clears the holds up to its seq only: with several devices, another
            # one may have moved the cursor past a hold this client did not get all of
            left = list(u.holds)
            cut_holds(left, seq)
            if seq <= u.delivered_seq and left == u.holds and u.seen_before:
                return  # nothing new
            upto = seq if left else None
        self._emit(Ack(user, max(seq, u.delivered_seq), hold, upto))

    def mark_seen(self, user: UserKey) -> None:
        """The account has landed (joined its channels and been given or told its unread):
        from now on it gets its unread, not the first-visit backlog, even if that connection
        ends before it acknowledged anything."""
        u = self.users.get(user)
        if u is not None and u.is_account and not u.seen_before:
            self._emit(Seen(user))

    def mark_read(self, user: UserKey, target: str, ts: float, private: bool = False) -> float:
        """Move a read marker forward only (clamped to now); returns the stored value.
        A room's marker needs membership (it goes when the user leaves); private ones are
        kept for the rules.max_read_markers most recent targets."""
        u = self.users.get(user)
        if u is None:
            raise NoSuchUser(user)
        if not private:
            room = self.rooms.get(target)
            if room is None:
                raise NoSuchRoom(target)
            if user not in room.members:
                raise NotMember(target)
        ts = min(ts, self.clock.now())
        cur = u.read_markers.get(target)
        if cur is not None and ts <= cur:
            return cur
        self._emit(Marked(user, target, ts), durable=u.is_account)
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
        holds = u.holds  # ranges below the floor that are still unread
        scan = min([floor, *(lo for lo, _ in holds)])  # nothing at or below this is unread

        def unseen(p: Post) -> bool:
            return (
                p.sender != user
                and p.seq <= top
                and (p.seq > floor or (bool(holds) and in_holds(holds, p.seq)))
            )

        rooms: dict[RoomKey, list[Post]] = {}
        general = self.rules.general_room
        for rk in sorted(u.rooms, key=lambda k: (k != general, k)):
            room = self.rooms.get(rk)
            if room is None:
                continue
            lo = max(scan, u.rooms[rk])
            got = [p for p in _newer_than(room.history, lo) if unseen(p)]
            if got:
                rooms[rk] = got
        private: dict[UserKey, list[Post]] = {}
        for pk in sorted(self._dm_index.get(user, ())):
            a, b = pk.split("\t")
            peer = b if a == user else a
            lo = max(scan, u.since_seq)
            got = [p for p in _newer_than(self.dms[pk], lo) if unseen(p)]
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
        return list(h[max(0, len(h) - n) :])

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

    def complain(
        self, by: UserKey, target: UserKey, reason: str = "", target_is_operator: bool = False
    ) -> ComplaintResult:
        """``by`` complains about ``target``; at rules.complaints_to_ban voices (see
        complaint_count) the target is muted for rules.ban_seconds, unless it is a server
        operator (``target_is_operator``, told by the adapter) and rules.operators_immune."""
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
        young = now - complainer.created < self.rules.complaint_min_account_age
        # a young account counts once with the others from its address (see below)
        g = complainer.address if self.rules.same_address_counts_once and young else ""
        self._emit(Complaint(by, target, reason[:300], g))
        count = self.complaint_count(target)
        group = self.complaint_groups.get(target, {})
        together = sum(1 for k, a in group.items() if g and a == g and k != by)
        immune = target_is_operator and self.rules.operators_immune
        banned = None
        if count >= self.rules.complaints_to_ban and not immune:
            banned = self.ban(target, self.rules.ban_seconds, f"{count} complaints")
        return ComplaintResult(
            target=target,
            target_name=tu.name,
            count=count,
            banned=banned,
            needed=self.rules.complaints_to_ban,
            together=together,
            immune=immune,
        )

    def complaint_count(self, target: UserKey) -> int:
        """How many complainers about ``target`` count towards a mute: each one once, except
        that accounts younger than rules.complaint_min_account_age when they complained, and
        created from the same address, count once together (so a burst of throw-away
        accounts from one place is one voice)."""
        groups = self.complaint_groups.get(target, {})
        voices = {
            ("address", groups[k]) if k in groups else ("user", k)
            for k in self.complaints.get(target, ())
        }
        return len(voices)

    def record_oper(self, user: UserKey, name: str) -> None:
        """``user`` authenticated as the server operator ``name`` (OPER). Kept for accounts,
        so that an operator's account is known as such even while it is offline (the adapter,
        which knows the configured operators, decides what that is worth)."""
        u = self.users.get(user)
        if u is not None and u.is_account and u.oper != name:
            self._emit(OperSeen(user, name))

    def ban(self, target: UserKey, seconds: float, reason: str) -> Ban:
        """Mute ``target``. Guests connecting from its current address are muted with it."""
        until = self.clock.now() + seconds
        u = self.users.get(target)
        guest_ip = u.address if u is not None and not u.is_account else ""
        ip = self._addresses.get(target) or guest_ip
        self._emit(Muted(target, until, reason, u.name if u is not None else "", ip))
        return self.bans[target]

    def lift_ban(self, target: UserKey) -> bool:
        ban = self.bans.get(target)
        if ban is None:
            return False
        self._emit(Unmuted(target))
        # scheduled posts held by the ban were moved to its end: they may go now
        now = self.clock.now()
        for item in self.list_scheduled(target):
            if item.due == ban.until and item.due > now:
                self._emit(Rescheduled(item.id, now), durable=self._is_account(target))
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
        self._emit(ScheduledAdded(item), durable=self._is_account(owner))
        return item

    def list_scheduled(self, owner: UserKey) -> list[Scheduled]:
        return sorted(
            (s for s in self.scheduled.values() if s.owner == owner), key=lambda s: (s.due, s.id)
        )

    def cancel_scheduled(self, owner: UserKey, item_id: int) -> Scheduled:
        item = self.scheduled.get(item_id)
        if item is None or item.owner != owner:
            raise UnknownScheduled(f"no scheduled message #{item_id} of yours")
        self._emit(ScheduledRemoved(item_id), durable=self._is_account(owner))
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
                self._emit(Unmuted(key))
                u = self.users.get(key)
                ended.append(BanEnded(user=key, name=u.name if u else ban.name or key))
        fired: list[Fired] = []
        while self._due_heap and self._due_heap[0][0] <= now:
            due, sid = heapq.heappop(self._due_heap)
            item = self.scheduled.get(sid)
            if item is None or item.due != due:
                continue
            fired.append(self._fire(item, now, late=now - due > late_after))
        return fired, ended

    def _fire(self, item: Scheduled, now: float, late: bool) -> Fired:
        """Post a due item through _post, like a live post; a muted owner's item waits for
        the mute's end (checked first: a held item is not dropped)."""
        keep = self._is_account(item.owner)  # a guest's schedules are not durable
        ban = self.ban_of(item.owner, now)
        if ban is not None:
            self._emit(Rescheduled(item.id, ban.until), durable=keep)
            return Fired(item, "held", reason="muted", late=late, until=ban.until)
        u = self.users.get(item.owner)
        name = item.owner_name if u is None else u.name
        room, to = (None, item.target) if item.private else (item.target, None)
        try:
            post = self._post(
                item.owner, name, item.origin, "PRIVMSG", item.text, None, now, room, to, item
            )
        except RateLimited as e:
            self._emit(Rescheduled(item.id, e.reset_at), durable=keep)
            return Fired(item, "postponed", reason="rate limited", late=late, until=e.reset_at)
        except (NoSuchUser, NotMember) as e:
            self._emit(ScheduledRemoved(item.id), durable=keep)
            what = "recipient is gone" if item.private else "you are no longer in the channel"
            return Fired(item, "dropped", reason=f"{what} ({e})", late=late)
        except CannotSend as e:  # the channel is +m, or bans or mutes the owner
            self._emit(ScheduledRemoved(item.id), durable=keep)
            return Fired(item, "dropped", reason=str(e), late=late)
        self._emit(ScheduledRemoved(item.id), durable=keep)
        return Fired(item, "posted", post=post, late=late)


def _set_marker(markers: dict[str, float], target: str, ts: float, limit: int) -> None:
    """Set one read marker; beyond ``limit`` markers the oldest others go (ties: by name, so
    that a replay drops the same ones)."""
    markers[target] = ts
    while len(markers) > max(1, limit):
        oldest = min((k for k in markers if k != target), key=lambda k: (markers[k], k))
        del markers[oldest]


def _find_seq(history: Sequence[Post], seq: int) -> int | None:
    """The index of the post ``seq`` in a seq-ordered history (binary search), or None."""
    lo, hi = 0, len(history)
    while lo < hi:
        mid = (lo + hi) // 2
        if history[mid].seq < seq:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < len(history) and history[lo].seq == seq else None


def _find_msgid(history: Sequence[Post], msgid: str) -> Post | None:
    """The post with id ``msgid`` in a seq-ordered history (msgids end in ``-<seq>``)."""
    tail = msgid.rpartition("-")[2]
    if not tail.isdecimal() or not tail.isascii() or len(tail) > 18:
        return None
    i = _find_seq(history, int(tail))
    if i is None:
        return None
    p = history[i]
    return p if p.msgid == msgid else None


def _newer_than(history: Sequence[Post], seq: int) -> list[Post]:
    """Posts with seq > ``seq`` from a seq-ordered history, scanning from the newest end."""
    out: list[Post] = []
    for p in reversed(history):
        if p.seq <= seq:
            break
        out.append(p)
    out.reverse()
    return out


def _valid_key(key: str) -> bool:
    """A channel key one can type in a JOIN: 1 to 32 characters, no space, comma or control
    character, not starting with ':'."""
    return (
        0 < len(key) <= 32 and key[0] != ":" and all(c.isprintable() and c not in " ," for c in key)
    )


# event class -> the function that applies it (live and on replay); one entry per event type
APPLY: dict[type[Event], Callable[[Messenger, Any], None]] = {
    NewPost: Messenger._on_post,
    Redacted: Messenger._on_redact,
    Ack: Messenger._on_ack,
    Seen: Messenger._on_seen,
    Marked: Messenger._on_mark,
    AccountCreated: Messenger._on_account,
    PasswordSet: Messenger._on_password,
    Setting: Messenger._on_setting,
    OperSeen: Messenger._on_oper,
    Adopted: Messenger._on_adopt,
    Renamed: Messenger._on_rename,
    LegacyRename: Messenger._on_legacy_rename,
    ServerId: Messenger._on_server_id,
    RoomCreated: Messenger._on_room,
    RoomDropped: Messenger._on_unroom,
    Join: Messenger._on_join,
    Part: Messenger._on_part,
    OpSet: Messenger._on_op,
    TopicSet: Messenger._on_topic,
    VoiceSet: Messenger._on_voice,
    ModeSet: Messenger._on_cmode,
    ListSet: Messenger._on_clist,
    Invited: Messenger._on_invite,
    PrivateDropped: Messenger._on_undm,
    Complaint: Messenger._on_complaint,
    Gone: Messenger._on_gone,
    Muted: Messenger._on_mute,
    Unmuted: Messenger._on_unmute,
    ScheduledAdded: Messenger._on_sched,
    ScheduledRemoved: Messenger._on_unsched,
    Rescheduled: Messenger._on_resched,
}

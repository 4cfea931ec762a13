"""Values of the domain: users, rooms, posts, scheduled posts, and the engine's rules."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, overload

from .fullid import FullId as _FullId

# Keys are casefolded names, produced by the adapter; the engine never folds names itself.
UserKey = str
RoomKey = str


@dataclass(frozen=True, slots=True)
class Rules:
    """The messenger's policy knobs. The server builds them from the config: each field is fed
    by the one setting that names it in the schema of ``ircd/config.py`` (``rules_from``), which
    documents them. The defaults here are the engine's own (for tests and tools); a test checks
    they are what the default config gives."""

    general_room: str = "#general"
    # everyone is put into the general room, which is everyone's: no operator, never ceases,
    # always +t. Off: the general room is an ordinary room
    auto_join: bool = True
    max_unread_replay: int = 1000
    history_per_room: int = 10000
    history_per_private: int = 2000
    messages_per_period: int = 20
    period_seconds: int = 3600
    private_burst: int = 10
    private_per_second: float = 2.0
    max_delayed_per_user: int = 25
    max_delay_seconds: int = 7 * 86400
    complaints_to_ban: int = 3
    ban_seconds: int = 4 * 3600
    complaints_require_account: bool = True
    # complainers younger than this (seconds) when they complain, created from the same
    # address, count once together (with same_address_counts_once)
    complaint_min_account_age: int = 86400
    same_address_counts_once: bool = True
    operators_immune: bool = True  # complaints never mute a server operator
    max_read_markers: int = 200  # per user, the most recently set (kept after a PART)
    auto_register: bool = True
    allow_guests: bool = True
    # at most this many accounts created from one address per accounts_window_seconds (0: any)
    accounts_per_address: int = 10
    accounts_window_seconds: int = 3600


_POST_FIELDS = ("seq", "msgid", "time", "kind", "sender", "sender_name", "origin", "account",
                "room", "to", "to_name", "text", "tags")  # fmt: skip


class Post:
    """One stored message. ``room`` is set for channel posts, ``to`` for private ones.

    A msgid ``<prefix>-<seq>`` (every stored post's: the server id, then the seq) is kept
    as its prefix only, interned, so the million posts of a big history share one string
    instead of holding 64 bytes each; ``msgid`` puts it together when asked for."""

    __slots__ = ("_mid", "account", "kind", "origin", "room", "sender", "sender_name", "seq",
                 "tags", "text", "time", "to", "to_name")  # fmt: skip

    seq: int
    time: float
    kind: str  # "PRIVMSG" or "NOTICE"
    sender: UserKey
    sender_name: str
    origin: str  # opaque display form of the author, as given by the adapter
    account: str | None
    room: RoomKey | None
    to: UserKey | None
    to_name: str | None
    text: str
    tags: dict[str, str] | None

    def __init__(
        self,
        seq: int,
        msgid: str,
        time: float,
        kind: str,
        sender: UserKey,
        sender_name: str,
        origin: str,
        account: str | None,
        room: RoomKey | None,
        to: UserKey | None,
        to_name: str | None,
        text: str,
        tags: dict[str, str] | None = None,
    ) -> None:
        self.seq = seq
        tail = str(seq)
        cut = len(msgid) - len(tail)
        if cut > 0 and msgid[cut - 1] == "-" and msgid.endswith(tail):
            self._mid: str = _intern(msgid[:cut])  # "<prefix>-"
        else:
            self._mid = _FullId(msgid)
        self.time = time
        self.kind = kind
        self.sender = sender
        self.sender_name = sender_name
        self.origin = origin
        self.account = account
        self.room = room
        self.to = to
        self.to_name = to_name
        self.text = text
        self.tags = tags

    @property
    def msgid(self) -> str:
        mid = self._mid
        return str.__str__(mid) if type(mid) is _FullId else f"{mid}{self.seq}"

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in _POST_FIELDS)

    def __eq__(self, other: object) -> bool:
        if type(other) is not Post:
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        return "Post(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in _POST_FIELDS) + ")"

    def to_dict(self) -> dict[str, Any]:
        if self.room is None and self.account is None and not self.tags and self.to is not None:
            # a guest's private post, the commonest: the same dict in one go
            return {
                "seq": self.seq,
                "id": self.msgid,
                "ts": self.time,
                "k": self.kind,
                "s": self.sender,
                "sn": self.sender_name,
                "o": self.origin,
                "txt": self.text,
                "to": self.to,
                "tn": self.to_name,
            }
        d: dict[str, Any] = {
            "seq": self.seq,
            "id": self.msgid,
            "ts": self.time,
            "k": self.kind,
            "s": self.sender,
            "sn": self.sender_name,
            "o": self.origin,
            "txt": self.text,
        }
        if self.account is not None:
            d["a"] = self.account
        if self.room is not None:
            d["r"] = self.room
        if self.to is not None:
            d["to"] = self.to
            d["tn"] = self.to_name
        if self.tags:
            d["tags"] = dict(self.tags)  # a copy: snapshots and events may be written elsewhere
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Post:
        # The strings every post of a room or a sender repeats are interned: the decoder makes
        # a new str for each field of each post, ~55 B apiece, kept for as long as the post.
        a, r, to, tn = d.get("a"), d.get("r"), d.get("to"), d.get("tn")
        return cls(
            d["seq"],
            d["id"],
            d["ts"],
            _intern(d["k"]),
            _intern(d["s"]),
            _intern(d["sn"]),
            _intern(d["o"]),
            None if a is None else _intern(a),
            None if r is None else _intern(r),
            None if to is None else _intern(to),
            None if tn is None else _intern(tn),
            d["txt"],
            dict(d["tags"]) if d.get("tags") else None,
        )


_intern = sys.intern
# stored_post makes a Post without running its __init__ when it can: interpreted, with
# object.__new__. A Post compiled with mypyc (scripts/compile.sh) refuses object.__new__, and its
# own __new__ runs __init__, so there stored_post goes through __init__, which is C there.
_new = object.__new__
_BARE_NEW = Post.__new__ is object.__new__


def stored_post(
    seq: int,
    mid: str,
    time: float,
    kind: str,
    sender: UserKey,
    sender_name: str,
    origin: str,
    account: str | None,
    room: RoomKey | None,
    to: UserKey | None,
    to_name: str | None,
    text: str,
    tags: dict[str, str] | None = None,
) -> Post:
    """A ``Post`` from its parts as it keeps them (no msgid to take apart): ``mid`` is the
    msgid's prefix ``"<server id>-"`` (interned by the caller), or a ``full_id``."""
    if _BARE_NEW:
        p: Post = _new(Post)
    else:  # compiled: through __init__ (C), with a msgid it takes whole; then set as kept
        p = Post(seq, "", time, kind, sender, sender_name, origin, account, room, to, to_name, text)
    p.seq = seq
    p._mid = mid
    p.time = time
    p.kind = kind
    p.sender = sender
    p.sender_name = sender_name
    p.origin = origin
    p.account = account
    p.room = room
    p.to = to
    p.to_name = to_name
    p.text = text
    p.tags = tags
    return p


def full_id(msgid: str) -> str:
    """A msgid to keep whole in a ``stored_post`` (one not of the form ``<prefix>-<seq>``)."""
    return _FullId(msgid)


def id_part(p: Post) -> str | None:
    """The msgid prefix ``p`` keeps (``"<server id>-"``), or None when it keeps it whole."""
    mid = p._mid
    return None if type(mid) is _FullId else mid


class History(Sequence["Post"]):
    """A seq-ordered history: a list with a moving head, so that indexing, bisecting and
    slicing are O(1) / O(log n) / O(k) at any depth (a deque indexes in O(n/64) and cannot be
    sliced), while trimming the oldest post stays amortised O(1) (the dropped head is cut off
    in one go once it is half of the list).

    For segmented snapshots (snapshot.py) it also remembers ``written``, the newest seq of
    its posts already in the store's append-only segments (a post never changes once
    stored, so a snapshot writes only the newer ones), and ``holes``, the seqs deleted from
    it (REDACT), which a segment may still hold."""

    __slots__ = ("_head", "_items", "holes", "written")

    def __init__(self, posts: Iterable[Post] = ()) -> None:
        self._items: list[Post | None] = list(posts)
        self._head = 0
        self.written = 0
        self.holes: set[int] = set()

    def __len__(self) -> int:
        return len(self._items) - self._head

    @overload
    def __getitem__(self, i: int) -> Post: ...
    @overload
    def __getitem__(self, i: slice) -> list[Post]: ...
    def __getitem__(self, i: int | slice) -> Post | list[Post]:
        n = len(self._items) - self._head
        if isinstance(i, slice):
            start, stop, step = i.indices(n)
            h = self._head
            return self._items[start + h : stop + h : step]  # type: ignore[return-value]
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("history index out of range")
        return self._items[i + self._head]  # type: ignore[return-value]

    def __delitem__(self, i: int) -> None:
        n = len(self._items) - self._head
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("history index out of range")
        post = self._items[i + self._head]
        if post is not None:
            self.holes.add(post.seq)
        del self._items[i + self._head]

    def __iter__(self) -> Iterator[Post]:
        return itertools.islice(self._items, self._head, None)  # type: ignore[arg-type]

    def __reversed__(self) -> Iterator[Post]:
        items = self._items
        return itertools.islice(reversed(items), len(items) - self._head)  # type: ignore[arg-type]

    def __bool__(self) -> bool:
        return len(self._items) > self._head

    def __repr__(self) -> str:
        return f"History({list(self)!r})"

    def append(self, post: Post) -> None:
        self._items.append(post)

    def append_bounded(self, post: Post, limit: int) -> None:
        """``append``, then drop the oldest post if there are more than ``limit``."""
        items = self._items
        items.append(post)
        if len(items) - self._head > limit:
            self.popleft()

    def popleft(self) -> Post:
        if self._head >= len(self._items):
            raise IndexError("pop from an empty history")
        post = self._items[self._head]
        self._items[self._head] = None  # released now, cut off below
        self._head += 1
        if self._head >= 64 and self._head * 2 >= len(self._items):
            del self._items[: self._head]
            self._head = 0
        return post  # type: ignore[return-value]


@dataclass(slots=True)
class User:
    key: UserKey
    name: str
    password_hash: str | None  # None: a guest, kept only while connected
    created: float
    delivered_seq: int = 0  # every relevant post with seq <= this reached a client (acked)
    seen_before: bool = False  # has landed (connected and joined) at least once
    # ranges (lo, hi] below delivered_seq that are still unread: a connection that was not
    # pushed them (backlog off, a history-pulling client) acknowledged later posts (holds.py)
    holds: list[tuple[int, int]] = field(default_factory=list)
    rooms: dict[RoomKey, int] = field(default_factory=dict)  # room -> seq when joined
    settings: dict[str, str] = field(default_factory=dict)
    read_markers: dict[str, float] = field(default_factory=dict)
    # private messages with seq <= this predate this holder of the name (an earlier guest
    # with the same nick); they are not shown to it
    since_seq: int = 0
    # accounts: the address the account was created from ("" when unknown); guests: the
    # address of their connection
    address: str = ""
    # whose rate window the user's channel posts count in: an account's own key; for a guest
    # its nick (set by the adapter), so reconnecting under the same nick does not reset it
    quota_key: str = ""
    # accounts: the server operator name it last authenticated as with OPER ("": never)
    oper: str = ""

    @property
    def is_account(self) -> bool:
        return self.password_hash is not None

    @property
    def quota(self) -> UserKey:
        return self.quota_key or self.key


# room versions are unique in the process: a room made anew under an old key never has the
# version a cache of the old room recorded
_VERSIONS = itertools.count(1)


@dataclass(slots=True)
class Room:
    key: RoomKey
    name: str
    created: float
    topic: str = ""
    topic_by: str = ""
    topic_time: float = 0.0
    members: set[UserKey] = field(default_factory=set)
    ops: set[UserKey] = field(default_factory=set)
    history: History = field(default_factory=lambda: History())
    voiced: set[UserKey] = field(default_factory=set)
    # the channel modes without a parameter that are set, out of "imnst" (a new room is +nt,
    # as is every room of a journal written before modes could change)
    flags: set[str] = field(default_factory=lambda: set(DEFAULT_FLAGS))
    join_key: str = ""  # +k, the channel key ("": none)
    limit: int = 0  # +l (0: none)
    # the list modes: "b" (bans), "e" (ban exceptions), "I" (invite exceptions); each maps the
    # folded mask (masks.fold) to the entry
    lists: dict[str, dict[str, ListEntry]] = field(default_factory=dict)
    invited: set[UserKey] = field(default_factory=set)  # may join once despite +i/+k/+l/+b

    # Who is shown in the room (its NAMES) changes only through the methods below, which count
    # the changes: ``version`` (not persisted, unique in the process) lets a cache of the name
    # lists know it is current, and ``arrived`` names the user whose arrival (a join, or coming
    # online as a member) made the last change, so such a cache may add just that one name.
    version: int = field(default_factory=lambda: next(_VERSIONS), compare=False)
    before: int = field(default=0, compare=False)  # the version before the last change
    arrived: UserKey | None = field(default=None, compare=False)

    def add_member(self, user: UserKey, op: bool = False) -> None:
        new = user not in self.members
        self.members.add(user)
        if op:
            self.ops.add(user)
        self.shown_changed(user if new else None)

    def remove_member(self, user: UserKey) -> None:
        self.members.discard(user)
        self.ops.discard(user)
        self.voiced.discard(user)
        self.shown_changed()

    def set_op(self, user: UserKey, on: bool) -> None:
        if on:
            self.ops.add(user)
        else:
            self.ops.discard(user)
        self.shown_changed()

    def set_voice(self, user: UserKey, on: bool) -> None:
        if on:
            self.voiced.add(user)
        else:
            self.voiced.discard(user)
        self.shown_changed()

    def shown_changed(self, arrived: UserKey | None = None) -> None:
        """Who is shown in the room, or how, changed: a member came or went, came online or
        went offline, got or lost a status, or changed nick. ``arrived``: the one user that
        came (and nothing else changed)."""
        self.before, self.version = self.version, next(_VERSIONS)
        self.arrived = arrived


DEFAULT_FLAGS = "nt"
LIST_MODES = "beI"
MAX_LIST_ENTRIES = 100  # per list mode and channel (ISUPPORT MAXLIST)


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One entry of a channel's ban, exception or invite-exception list."""

    mask: str  # as stored (normalised, e.g. "bob!*@*"), shown in 367/346/348
    by: str  # who set it ("" when unknown)
    time: float


@dataclass(slots=True)
class Scheduled:
    id: int
    owner: UserKey
    owner_name: str
    target: str  # a room key, or a user key for a private message
    target_name: str
    private: bool
    text: str
    created: float
    due: float
    origin: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "owner": self.owner,
            "owner_name": self.owner_name,
            "target": self.target,
            "target_name": self.target_name,
            "private": self.private,
            "text": self.text,
            "created": self.created,
            "due": self.due,
            "origin": self.origin,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scheduled:
        # keys this version does not know (written by a newer one) are ignored
        return cls(**{k: v for k, v in d.items() if k in _SCHEDULED_FIELDS})


_SCHEDULED_FIELDS = frozenset(f.name for f in fields(Scheduled))


@dataclass(frozen=True, slots=True)
class Ban:
    until: float
    reason: str
    name: str = ""  # the muted user's name when muted (guests leave; their key means nothing)
    ip: str = ""  # guests connecting from this address are muted too ("": none)


@dataclass(frozen=True, slots=True)
class Unread:
    """What a returning user missed, grouped per target, oldest first."""

    rooms: dict[RoomKey, list[Post]]
    private: dict[UserKey, list[Post]]  # keyed by the peer
    omitted: int
    newest_seq: int

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.rooms.values()) + sum(len(v) for v in self.private.values())


@dataclass(frozen=True, slots=True)
class ComplaintResult:
    target: UserKey
    target_name: str
    count: int  # the voices that count now (see Messenger.complaint_count)
    banned: Ban | None
    needed: int = 0  # voices that mute (rules.complaints_to_ban)
    together: int = 0  # other complainers this one counts as one voice with (same address)
    immune: bool = False  # the target is a server operator: complaints do not mute it


@dataclass(frozen=True, slots=True)
class Fired:
    """A scheduled post that fell due: posted, postponed, held or dropped."""

    item: Scheduled
    outcome: str  # "posted" | "postponed" | "held" | "dropped"
    post: Post | None = None
    reason: str = ""
    late: bool = False
    until: float = 0.0  # postponed/held: when it will be tried again


@dataclass(frozen=True, slots=True)
class BanEnded:
    user: UserKey
    name: str

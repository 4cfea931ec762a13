"""The messenger's snapshot: all durable state as one plain, JSON-ready dict (the compacted
state the journal's events follow), and back. ``Messenger.to_dict``/``from_dict`` use these;
validate.check_snapshot checks a snapshot before ``load`` builds on it.
"""

from __future__ import annotations

import heapq
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .holds import parse_holds
from .masks import fold
from .model import (
    DEFAULT_FLAGS,
    Ban,
    History,
    ListEntry,
    Post,
    Room,
    Scheduled,
    User,
    id_part,
    stored_post,
)
from .validate import (
    MAX_TIME,
    POST_KINDS,
    SEGMENTED_SCHEMA,
    StateError,
    bad_word,
    check_post,
)

if TYPE_CHECKING:
    from .engine import Messenger

SNAPSHOT_VERSION = 1


def dump(m: Messenger) -> dict[str, Any]:
    """A fresh, plain, JSON-ready copy of all durable state (guests are not durable)."""
    return _dump(m, _inline)


def _inline(h: History) -> list[dict[str, Any]]:
    return [p.to_dict() for p in h]


def _none(h: History) -> list[dict[str, Any]]:
    return []


def _dump(m: Messenger, posts: Callable[[History], list[dict[str, Any]]]) -> dict[str, Any]:
    accounts = {k for k, u in m.users.items() if u.is_account}
    return {
        "schema": SNAPSHOT_VERSION,
        "server_id": m.server_id,
        "seq": m.seq,
        "next_sched_id": m.next_sched_id,
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
                **({"address": u.address} if u.address else {}),
                **({"oper": u.oper} if u.oper else {}),
                **({"holds": [list(h) for h in u.holds]} if u.holds else {}),
            }
            for u in m.users.values()
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
                "history": posts(r.history),
                **_room_modes(r, accounts),
            }
            for r in m.rooms.values()
        ],
        "private": {k: posts(h) for k, h in m.dms.items()},
        "windows": {
            k: list(w)
            for k, w in m.windows.items()
            if w[0] >= m._window_start(m.clock.now())  # older ones count nothing
        },
        "complaints": {k: dict(v) for k, v in m.complaints.items()},
        "complaint_groups": {
            k: {by: g for by, g in v.items() if by in m.complaints.get(k, ())}
            for k, v in m.complaint_groups.items()
            if set(v) & set(m.complaints.get(k, ()))
        },
        "bans": {k: [b.until, b.reason, b.name, b.ip] for k, b in m.bans.items()},
        "scheduled": [s.to_dict() for s in m.scheduled.values() if s.owner in accounts],
    }


def _room_modes(r: Room, accounts: set[str]) -> dict[str, Any]:
    """A room's modes, lists, voices and invitations, where they differ from a new room's."""
    out: dict[str, Any] = {}
    if r.flags != set(DEFAULT_FLAGS):
        out["modes"] = "".join(sorted(r.flags))
    if r.join_key:
        out["chan_key"] = r.join_key
    if r.limit:
        out["limit"] = r.limit
    if r.lists:
        out["lists"] = {
            kind: [[e.mask, e.by, e.time] for e in entries.values()]
            for kind, entries in r.lists.items()
        }
    voiced = sorted(r.voiced & accounts)
    if voiced:
        out["voiced"] = voiced
    invited = sorted(r.invited & accounts)
    if invited:
        out["invited"] = invited
    return out


def load(m: Messenger, data: dict[str, Any]) -> None:
    """Fill the fresh engine ``m`` from a checked snapshot (validate.check_snapshot)."""
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
            address=d.get("address", ""),
            oper=d.get("oper", ""),
            holds=parse_holds(d.get("holds", [])),
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
            voiced=set(d.get("voiced", ())),
            flags=set(d.get("modes", DEFAULT_FLAGS)),
            join_key=d.get("chan_key", ""),
            limit=d.get("limit", 0),
            lists={
                kind: {fold(e[0]): ListEntry(e[0], e[1], e[2]) for e in entries}
                for kind, entries in d.get("lists", {}).items()
                if entries
            },
            invited=set(d.get("invited", ())),
        )
        m.rooms[room.key] = room
    for k, posts in data["private"].items():
        m.dms[k] = _tail(map(Post.from_dict, posts), m.rules.history_per_private)
        a, b = k.split("\t")
        m._dm_index.setdefault(a, set()).add(k)
        m._dm_index.setdefault(b, set()).add(k)
    m.windows = {k: list(v) for k, v in data["windows"].items()}
    m.complaints = {k: dict(v) for k, v in data["complaints"].items()}
    m.complaint_groups = {k: dict(v) for k, v in data.get("complaint_groups", {}).items()}
    for k, v in data["bans"].items():
        m._set_ban(k, Ban(v[0], v[1], *v[2:4]))
    for u in sorted(m.users.values(), key=lambda u: u.created):
        if u.address:
            m._note_created(u.address, u.created)
    for d in data["scheduled"]:
        item = Scheduled.from_dict(d)
        m.scheduled[item.id] = item
        heapq.heappush(m._due_heap, (item.due, item.id))


_intern = sys.intern


def _tail(posts: Iterable[Post], limit: int) -> History:
    """The last ``limit`` posts (the retention rule may have shrunk since the snapshot), in a
    History without a bound: the engine trims on append itself."""
    return History(deque(posts, maxlen=max(0, limit)))


# ---------------------------------------------------------------------- segmented snapshots
#
# History is append-only (a post never changes once stored; it only leaves, by REDACT, the
# retention trim or its room ceasing), so a store with segments (FileStore) keeps the posts in
# immutable files written once, and a snapshot is the small changing state plus, for each
# history, which of the stored posts are its: ``[lo, hi, n, holes]`` (its posts are those of
# the segments with ``lo <= seq <= hi``, but for the deleted ``holes``; ``n`` of them). Each
# snapshot writes only the posts newer than what the segments hold (``History.written``), so
# its cost follows what changed, not what is stored.

SEGMENT_CHUNK = 512  # posts per encoded line of a segment (one short encoder call each)


def post_row(p: Post) -> list[Any]:
    """A post as a segment row: ``[seq, id, ts, k, s, sn, o, a, r, to, tn, txt(, tags)]``
    where ``id`` is the msgid's prefix when the msgid is ``<prefix><seq>`` (the prefix ends
    in "-"; the same in every row), else ``[msgid]``."""
    prefix = id_part(p)
    mid: Any = [p.msgid] if prefix is None else prefix
    row: list[Any] = [p.seq, mid, p.time, p.kind, p.sender, p.sender_name, p.origin,
                      p.account, p.room, p.to, p.to_name, p.text]  # fmt: skip
    if p.tags:
        row.append(dict(p.tags))
    return row


@dataclass
class SegmentedDump:
    """A snapshot for a store with segments, taken on the loop: ``state`` (JSON-ready, small:
    no posts), ``posts`` (the posts to append to the segments, in each history's order),
    ``rewrite`` (``posts`` are all the stored posts: the old segments may go). ``commit()``
    once the snapshot is durable (then those posts count as written)."""

    state: dict[str, Any]
    posts: list[Post]
    rewrite: bool
    marks: list[tuple[History, int]]
    # seqs of posts deleted since the last snapshot: the segments holding them are written
    # anew without them (a deleted message leaves the disk with the next snapshot)
    purge: frozenset[int] = frozenset()
    engine: Messenger | None = None

    def chunks(self) -> Iterator[list[list[Any]]]:
        """The rows of ``posts`` in chunks (run in the writer thread)."""
        posts = self.posts
        for i in range(0, len(posts), SEGMENT_CHUNK):
            yield [post_row(p) for p in posts[i : i + SEGMENT_CHUNK]]

    def commit(self) -> None:
        for hist, seq in self.marks:
            hist.written = max(hist.written, seq)
        if self.engine is not None:
            self.engine.deleted -= self.purge


def live_posts(m: Messenger) -> int:
    return sum(len(r.history) for r in m.rooms.values()) + sum(len(h) for h in m.dms.values())


def dump_segmented(m: Messenger, stored_rows: int) -> SegmentedDump:
    """The state without posts, and the posts the segments do not hold yet. When the segments
    hold more dead posts (trimmed, deleted, of dropped rooms) than live ones (and at least
    10 000), all live posts are written anew and the old segments dropped: each post is then
    rewritten only after as many others died, so the cost per change stays bounded."""
    live = live_posts(m)
    # (no segments at all, e.g. after a whole-state snapshot: every post is written)
    rewrite = stored_rows == 0 or stored_rows - live >= max(live, 10000)
    state = _dump(m, _none)
    refs: dict[str, dict[str, list[Any]]] = {"rooms": {}, "private": {}}
    posts: list[Post] = []
    marks: list[tuple[History, int]] = []
    for kind, hists in (("rooms", ((r.key, r.history) for r in m.rooms.values())),
                        ("private", m.dms.items())):  # fmt: skip
        out = refs[kind]
        for key, h in hists:
            if not h:
                continue
            lo, hi = h[0].seq, h[-1].seq
            holes = sorted(x for x in h.holes if lo < x < hi)
            if len(holes) != len(h.holes):
                h.holes = set(holes)  # those outside [lo, hi] are excluded anyway
            out[key] = [lo, hi, len(h), holes]
            if rewrite:
                posts.extend(h)
            else:
                new = []
                for p in reversed(h):
                    if p.seq <= h.written:
                        break
                    new.append(p)
                new.reverse()
                posts.extend(new)
            marks.append((h, hi))
    state["schema"] = SEGMENTED_SCHEMA
    state["segmented"] = refs
    return SegmentedDump(state, posts, rewrite, marks, frozenset(m.deleted), m)


class _Target:
    """A history being filled from the segments, with what of it the snapshot keeps."""

    __slots__ = ("hi", "hist", "holes", "last", "lo", "n", "private")

    def __init__(self, hist: History, ref: list[Any], private: bool) -> None:
        self.hist = hist
        self.lo, self.hi, self.n = ref[0], ref[1], ref[2]
        self.holes = set(ref[3])
        self.last = 0  # the newest seq taken
        self.private = private


def load_rows(m: Messenger, refs: dict[str, Any], chunks: Iterable[Sequence[Any]]) -> None:
    """Fill the histories of ``m`` (loaded from a segmented snapshot's state, so empty) from
    the rows of the segments, oldest segment first: each history takes its posts
    (``[lo, hi, n, holes]`` in ``refs``); the rest are dead posts, skipped. ``StateError``
    for a malformed row or a history whose posts the segments do not all hold.

    One tight pass builds each ``Post`` as its chunk is decoded (the chunk then goes, so the
    decoded rows never pile up): the strings posts repeat (kind, sender, names, origin,
    room, peer) are checked once and interned, the rest checked in line; a row this pass
    doubts goes through the full check (``post_from_row``), which says what is wrong."""
    rooms: dict[str, _Target] = {}
    for key, ref in refs["rooms"].items():
        room = m.rooms.get(key)
        if room is None:
            raise StateError(f"segmented.rooms[{key!r}]: no such room")
        rooms[key] = _Target(room.history, ref, False)
    private: dict[str, _Target] = {}
    for key, ref in refs["private"].items():
        hist = m.dms.get(key)
        if hist is None:
            raise StateError(f"segmented.private[{key!r}]: no such conversation")
        private[key] = _Target(hist, ref, True)
    top = m.seq
    words: dict[Any, str] = {}  # a checked word -> its interned str
    known = words.get
    kinds = {k: _intern(k) for k in POST_KINDS}
    rows = 0

    def word(w: Any) -> str | None:
        c = known(w)
        if c is None and type(w) is str and not bad_word(w):
            c = words[w] = _intern(w)
        return c

    for chunk in chunks:
        for row in chunk:
            rows += 1
            post = None
            try:
                if type(row) is list and len(row) == 12:
                    seq, mid, ts, k, sd, sn, o, a, r, to, tn, txt = row
                    k = kinds.get(k)
                    sd = known(sd) or word(sd)
                    sn = known(sn) or word(sn)
                    o = known(o) or word(o)
                    if a is not None:
                        a = known(a) or word(a) or 0
                    if r is not None:
                        r = known(r) or word(r) or 0
                    if to is not None:
                        to = known(to) or word(to) or 0
                    if tn is not None:
                        tn = known(tn) or word(tn) or 0
                    if (
                        type(seq) is int
                        and 1 <= seq <= top
                        and type(ts) in (float, int)
                        and 0 <= ts <= MAX_TIME
                        and k is not None
                        and sd is not None
                        and sn is not None
                        and o is not None
                        and a != 0
                        and r != 0
                        and to != 0
                        and tn != 0
                        and (r is None) != (to is None)
                        and (mid := known(mid) or word(mid)) is not None
                        and mid[-1] == "-"
                        and type(txt) is str
                        and "\r" not in txt
                        and "\n" not in txt
                        and "\0" not in txt
                    ):
                        post = stored_post(seq, mid, ts, k, sd, sn, o, a, r, to, tn, txt)
            except TypeError:  # an unhashable value: the full check says which
                post = None
            if post is None:
                post = post_from_row(row, f"segment row {rows}")
                if post.seq > top:
                    raise StateError(
                        f"segment row {rows}: seq {post.seq} is after the snapshot's {top}"
                    )
            if post.room is not None:
                t = rooms.get(post.room)
            else:
                assert post.to is not None
                t = private.get(pair_key(post.sender, post.to))
            if t is None:
                continue  # a post of a room or conversation that is gone
            seq = post.seq
            if seq < t.lo or seq > t.hi or seq <= t.last or seq in t.holes:
                continue  # trimmed, deleted, or written twice (a snapshot that failed late)
            t.hist.append(post)
            t.last = seq
    for key, t in [*rooms.items(), *private.items()]:
        hist = t.hist
        if len(hist) != t.n:
            kind = "private" if t.private else "rooms"
            raise StateError(
                f"segmented.{kind}[{key!r}]: {t.n} posts expected, the segments hold {len(hist)}"
            )
        hist.written = t.hi
        hist.holes = {x for x in t.holes if t.lo < x < t.hi}
        limit = m.rules.history_per_private if t.private else m.rules.history_per_room
        while len(hist) > max(0, limit):
            hist.popleft()


def pair_key(a: str, b: str) -> str:
    """engine.pair_key (which imports this module)."""
    return f"{a}\t{b}" if a <= b else f"{b}\t{a}"


_ROW_KEYS = ("seq", "id", "ts", "k", "s", "sn", "o", "a", "r", "to", "tn", "txt", "tags")


def post_from_row(row: Any, where: str) -> Post:
    """The ``Post`` of a segment row (``post_row``), through the snapshot's full post check
    (``StateError`` saying what is wrong)."""
    if type(row) is not list or not 12 <= len(row) <= 13:
        raise StateError(f"{where}: expected a post row of 12 or 13 values, got {row!r:.60}")
    d = {k: v for k, v in zip(_ROW_KEYS, row, strict=False) if v is not None}
    mid = d.get("id")
    if type(mid) is str and mid.endswith("-"):  # (a bad seq is told by check_post)
        d["id"] = f"{mid}{d['seq']}"
    elif type(mid) is list and len(mid) == 1:
        d["id"] = mid[0]
    elif mid is not None:
        raise StateError(f"{where}.id: expected a msgid prefix or [msgid], got {mid!r:.60}")
    check_post(d, where)
    return Post.from_dict(d)

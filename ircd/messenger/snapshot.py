"""The messenger's snapshot: all durable state as one plain, JSON-ready dict (the compacted
state the journal's events follow), and back. ``Messenger.to_dict``/``from_dict`` use these;
validate.check_snapshot checks a snapshot before ``load`` builds on it.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .holds import parse_holds
from .masks import fold
from .model import DEFAULT_FLAGS, Ban, History, ListEntry, Post, Room, Scheduled, User

if TYPE_CHECKING:
    from .engine import Messenger

SNAPSHOT_VERSION = 1


def dump(m: Messenger) -> dict[str, Any]:
    """A fresh, plain, JSON-ready copy of all durable state (guests are not durable)."""
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
                "history": [p.to_dict() for p in r.history],
                **_room_modes(r, accounts),
            }
            for r in m.rooms.values()
        ],
        "private": {k: [p.to_dict() for p in h] for k, h in m.dms.items()},
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


def _tail(posts: Iterable[Post], limit: int) -> History:
    """The last ``limit`` posts (the retention rule may have shrunk since the snapshot), in a
    History without a bound: the engine trims on append itself."""
    return History(deque(posts, maxlen=max(0, limit)))

"""The engine's checks of persisted state (ircd/messenger/validate.py): a snapshot or journal
event is either refused with a one-line ``StateError`` or gives an engine that works, the IRC
lines it will produce included. Never another exception, never a state that fails later.

The sweep replaces every value of a full snapshot (and every key of its maps) with values of
the wrong type or out of range, and deletes every key, one at a time.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from ircd.clock import FakeClock
from ircd.irc.hub import human_time, iso_time
from ircd.messenger import Messenger, Rules
from ircd.messenger.validate import StateError
from ircd.wire import format_line

from .sample_state import T0, base_events, base_state, post

WRONG: list[Any] = [
    None,
    True,
    -1,
    0,
    1.5,
    2**60,
    float("nan"),
    float("inf"),
    -1e300,
    "",
    "a b",
    ":x",
    "x\r\nQUIT :gone",
    "nul\0",
    [],
    [1, 2],
    {},
    {"k": "v"},
]
BAD_KEYS = ["", "a b", "x\r\ny", ":x"]


def paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value inside ``value`` (containers included)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*at, k)
            yield from paths(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*at, i)
            yield from paths(v, (*at, i))


def parent(data: Any, path: tuple[Any, ...]) -> Any:
    for k in path[:-1]:
        data = data[k]
    return data


def variants(base: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path in paths(base):
        for value in WRONG:
            data = copy.deepcopy(base)
            parent(data, path)[path[-1]] = value
            yield f"{path} = {value!r}", data
        holder = parent(base, path)
        if isinstance(holder, dict):
            data = copy.deepcopy(base)
            del parent(data, path)[path[-1]]
            yield f"del {path}", data
            for bad in BAD_KEYS:
                data = copy.deepcopy(base)
                h = parent(data, path)
                h[bad] = h.pop(path[-1])
                yield f"{path} renamed {bad!r}", data


def rules() -> Rules:
    return Rules()


def exercise(m: Messenger) -> None:
    """What the server and the adapter do with a loaded state; raises if something breaks."""
    d = m.to_dict()
    text = json.dumps(d, allow_nan=False)
    Messenger.from_dict(json.loads(text), FakeClock(T0), rules())
    for u in list(m.users.values()):
        m.unread(u.key)
        m.conversations(u.key)
        m.quota_left(u.key)
        m.list_scheduled(u.key)
        m.ban_of(u.key)
        format_line("NICK", (u.name,), f"{u.name}!u@host")
        for target, ts in u.read_markers.items():
            format_line("MARKREAD", (target, f"timestamp={iso_time(ts)}"))
        for setting in u.settings.values():
            format_line("NOTICE", (u.name, setting))
    for r in m.rooms.values():
        format_line("JOIN", (r.name,), "x!u@host")
        format_line("353", ("me", "=", r.name, " ".join(sorted(r.members))))
        format_line("329", ("me", r.name, str(int(r.created))))
        if r.topic:
            format_line("332", ("me", r.name, r.topic))
            format_line("333", ("me", r.name, r.topic_by, str(int(r.topic_time))))
        for p in r.history:
            post_lines(p, r.name)
    for h in m.dms.values():
        for p in h:
            post_lines(p, p.to_name or p.to or "x")
    for item in m.scheduled.values():
        format_line("NOTICE", (item.owner_name, f"#{item.id} {human_time(item.due)} {item.text}"))
        format_line("PRIVMSG", (item.target_name, item.text), item.origin)
    for ban in m.bans.values():
        format_line("NOTICE", ("me", f"muted until {human_time(ban.until)}: {ban.reason}"))
    for complaints in m.complaints.values():
        for why in complaints.values():
            format_line("NOTICE", ("me", why))
    m.next_due()
    assert isinstance(m.clock, FakeClock)
    m.clock.advance(30 * 86400)
    m.release_due()
    json.dumps(m.to_dict(), allow_nan=False)


def post_lines(p: Any, target: str) -> None:
    tags = dict(p.tags or {})
    tags["time"] = iso_time(p.time)
    tags["msgid"] = p.msgid
    if p.account:
        tags["account"] = p.account
    format_line(p.kind, (target, p.text), p.origin, tags)
    format_line(p.kind, (target, f"[{human_time(p.time)}] {p.text}"), p.origin)


def load(data: Any) -> Messenger | StateError:
    try:
        return Messenger.from_dict(data, FakeClock(T0), rules())
    except StateError as e:
        return e


def test_the_sample_state_loads_and_works() -> None:
    m = load(base_state())
    assert isinstance(m, Messenger)
    assert m.seq == 5 and len(m.scheduled) == 2 and m.rooms["#x"].topic == "all about x"
    assert m.users["alice"].rooms == {"#general": 0, "#x": 2}
    exercise(m)


def test_every_corruption_of_a_snapshot_is_refused_or_harmless() -> None:
    base = base_state()
    refused = accepted = 0
    for what, data in variants(base):
        got = load(data)
        if isinstance(got, StateError):
            msg = str(got)
            assert msg and "\n" not in msg and "\r" not in msg, (what, msg)
            refused += 1
            continue
        try:
            exercise(got)
        except Exception as e:
            raise AssertionError(f"accepted {what}, then: {type(e).__name__}: {e}") from e
        accepted += 1
    # most corruptions are refused; the rest (a different but valid value) work
    print(f"{refused} refused, {accepted} accepted")
    assert refused > 1500 and accepted > 100, (refused, accepted)


# Objects whose keys are data (a user's rooms, a post's tags...), not field names.
MAPS = ("rooms", "settings", "markers", "tags", "private", "windows", "complaints", "bans")


def is_record(data: Any, at: tuple[Any, ...]) -> bool:
    holder = parent(data, (*at, None))
    if not isinstance(holder, dict):
        return False
    if at and at[-1] in MAPS and not (len(at) == 1 and at[0] == "rooms"):
        return False
    return not (len(at) >= 2 and at[-2] == "complaints")


def test_extra_keys_are_ignored_everywhere() -> None:
    base = base_state()
    for path in paths(base):
        data = copy.deepcopy(base)
        holder = parent(data, path)
        if is_record(data, path[:-1]):
            holder["x-future-field"] = {"any": ["thing"]}
            got = load(data)
            assert isinstance(got, Messenger), (path, got)
    data = copy.deepcopy(base)
    data["x-future-field"] = 1
    assert isinstance(load(data), Messenger)


def test_a_messages_says_where_and_what() -> None:
    data = base_state()
    data["rooms"][1]["history"][0]["ts"] = "noon"
    got = load(data)
    assert isinstance(got, StateError)
    assert str(got) == (
        "rooms[1].history[0].ts: expected a time (seconds since 1970, up to year 9999), "
        "got the string 'noon'"
    )


def test_snapshot_not_an_object() -> None:
    assert str(load([])) == "expected an object, got a list"


# -- journal events ----------------------------------------------------------------------------


def replay_one(ev: Any) -> StateError | None:
    m = load(base_state())
    assert isinstance(m, Messenger)
    try:
        m.replay([ev])
    except StateError as e:
        return e
    exercise(m)
    return None


def test_the_sample_events_replay() -> None:
    m = load(base_state())
    assert isinstance(m, Messenger)
    m.replay(base_events())
    exercise(m)
    assert m.rooms["#x"].topic == "still x"


def test_every_corruption_of_an_event_is_refused_or_harmless() -> None:
    events = [
        *base_events(),
        {"t": "join", "u": "carol", "r": "#x", "op": True, "s": 5},
        {"t": "part", "u": "bob", "r": "#x"},
        {"t": "ack", "u": "alice", "s": 5},
        {"t": "set", "u": "bob", "k": "backlog", "v": "off"},
        {"t": "cmp", "target": "carol", "by": "dave", "why": "rude"},
        {"t": "ban", "u": "carol", "until": T0 + 60, "why": "3 complaints"},
        {"t": "unban", "u": "dave"},
        {"t": "resched", "id": 1, "due": T0 + 60},
        {"t": "unsched", "id": 2},
        {"t": "op", "u": "bob", "r": "#x", "on": True},
        {"t": "post", "p": post(6, "bob", "dm", to="alice")},
        {"t": "room", "r": "#new", "n": "#New", "ts": T0},
        {"t": "sid", "id": "def456"},
        {
            "t": "sched",
            "item": {
                "id": 3,
                "owner": "carol",
                "owner_name": "Carol",
                "target": "#general",
                "target_name": "#general",
                "private": False,
                "text": "t",
                "created": T0,
                "due": T0 + 5,
                "origin": "carol!u@host",
            },
        },
    ]
    refused = 0
    for ev in events:
        assert replay_one(ev) is None, ev  # the event itself is fine
        for path in paths(ev):
            if path == ("t",):
                continue  # another type: a different event, checked with its own fields
            for value in WRONG:
                bad = copy.deepcopy(ev)
                parent(bad, path)[path[-1]] = value
                try:
                    got = replay_one(bad)
                except Exception as e:
                    raise AssertionError(f"{bad}: {type(e).__name__}: {e}") from e
                if got is not None:
                    assert "\n" not in str(got)
                    refused += 1
    print(f"{refused} refused")
    assert refused > 500, refused


@pytest.mark.parametrize(
    ("ev", "message"),
    [
        ([], "event: expected an object, got a list"),
        ({"t": None}, "event type 't': expected a string, got null"),
        ({"t": "nope"}, "'nope' event: cannot apply it (ValueError: unknown event type 'nope')"),
        ({"t": "join", "u": "bob", "r": "#gone"}, "'join' event: unknown room '#gone'"),
        ({"t": "ack", "u": "bob"}, "'ack' event: missing 's'"),
        ({"t": "mark", "u": "bob", "target": "#x", "ts": "1"}, "'mark' event: ts: expected a time"),
    ],
)
def test_event_messages(ev: Any, message: str) -> None:
    got = replay_one(ev)
    assert got is not None and str(got).startswith(message), got

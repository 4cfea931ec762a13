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
from ircd.irc.timefmt import human_time, iso_time
from ircd.messenger import Messenger, Rules
from ircd.messenger.engine import APPLY
from ircd.messenger.events import TAGS
from ircd.messenger.validate import _EVENTS, StateError, check_event
from ircd.wire import casefold, format_line

from .sample_state import GUEST_IP, HOME, T0, base_events, base_state, every_event, post

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
        casefold(u.oper)  # is_server_operator: a server operator's account, even offline
        m.new_account_blocked(u.address)
        if u.is_account:
            m.mark_seen(u.key)
            m.ack(u.key, m.seq, held_upto=max(0, m.seq - 1))  # a held ack adds to its holds
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
    for key, ban in m.bans.items():
        format_line("NOTICE", ("me", f"muted until {human_time(ban.until)}: {ban.reason}"))
        where = f", and guests from {ban.ip}" if ban.ip else ""  # the service's bans list
        format_line("NOTICE", ("me", f"{ban.name or key}{where}"))
        casefold(ban.name)
        if ban.ip:  # a guest from that address is muted with it
            g = m.attach_guest(f"probe!{len(m.users)}", "Probe", address=ban.ip)
            m.ban_of(g.key)
            m.disconnected(g.key)
    for target, complaints in list(m.complaints.items()):
        for why in complaints.values():
            format_line("NOTICE", ("me", why))
        m.complaint_count(target)
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
MAPS = (
    "rooms",
    "settings",
    "markers",
    "tags",
    "private",
    "windows",
    "complaints",
    "complaint_groups",
    "bans",
)


def is_record(data: Any, at: tuple[Any, ...]) -> bool:
    holder = parent(data, (*at, None))
    if not isinstance(holder, dict):
        return False
    if at and at[-1] in MAPS and not (len(at) == 1 and at[0] == "rooms"):
        return False
    return not (len(at) >= 2 and at[-2] in ("complaints", "complaint_groups"))


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
        *every_event(),
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


# -- every field and event type is checked -----------------------------------------------------


def applied_types() -> set[str]:
    """The event types the engine applies: the tags of its apply table's event classes."""
    return {TAGS[cls] for cls in APPLY}


def test_every_event_type_is_checked_and_in_the_sample() -> None:
    known = applied_types()
    assert len(known) > 20, known
    assert set(_EVENTS) == known  # a new event type needs its check in validate.py
    assert {ev["t"] for ev in every_event()} == known  # ... and a sample in sample_state.py


def test_every_event_replays_after_the_sample_state() -> None:
    m = load(base_state())
    assert isinstance(m, Messenger)
    m.replay([*base_events(), *every_event()])
    alice, bob, erin, hal = (m.users[k] for k in ("alice", "bob", "erin", "hal"))
    assert alice.oper == bob.oper == "root" and erin.oper == ""
    assert erin.address == HOME and erin.holds == [(6, 7)] and erin.delivered_seq == 8
    assert bob.holds == [] and bob.delivered_seq == 8
    assert hal.seen_before and hal.address == "198.51.100.10"
    assert [p.text for p in m.unread("erin").rooms["#x"]] == ["from a guest"]
    assert "#y" not in m.rooms and m.dms.keys() == {"alice\tbob"}
    assert "gus!a1" not in m.complaints and m.bans.keys() == {"dave", "gwen!a2"}
    assert m.windows.keys() == {"alice", "bob", "~gustav"}
    assert m.complaint_count("carol") == 1  # alice and bob: one voice
    assert m.rooms["#x"].topic == "x again" and "bob" not in m.rooms["#x"].members
    guest = m.attach_guest("gwen!b1", "Gwen", address=GUEST_IP)
    assert m.ban_of(guest.key) is not None  # the departed guest's mute holds its address
    exercise(m)


# (what to change in the sample snapshot, the message)
SNAPSHOT_MESSAGES: list[tuple[tuple[Any, ...], Any, str]] = [
    (("users", 0, "oper"), 5, "users[0].oper: expected a non-empty word"),
    (("users", 0, "oper"), "a b", "users[0].oper: expected a non-empty word"),
    (("users", 0, "holds"), {}, "users[0].holds: expected a list, got an object"),
    (("users", 0, "holds"), [5], "users[0].holds[0]: expected a range [lo, hi], got 5"),
    (("users", 0, "holds"), [[1]], "users[0].holds[0]: expected a range [lo, hi], got a list"),
    (("users", 0, "holds", 0), [2, 1], "users[0].holds[0]: a range [lo, hi] needs lo <= hi"),
    (("users", 0, "holds", 0, 1), "2", "users[0].holds[0][1]: expected an integer from 0"),
    (("users", 0, "holds", 0, 0), -1, "users[0].holds[0][0]: expected an integer from 0"),
    (("users", 0, "holds", 0, 1), True, "users[0].holds[0][1]: expected an integer from 0"),
    (("users", 0, "address"), 5, "users[0].address: expected a string without CR, LF or NUL"),
    (("users", 0, "address"), "a\r\nb", "users[0].address: expected a string without CR"),
    (("complaint_groups",), [], "complaint_groups: expected an object, got a list"),
    (("complaint_groups", "carol"), "x", "complaint_groups['carol']: expected an object"),
    (("complaint_groups", "carol", "alice"), 5, "complaint_groups['carol']['alice']: expected"),
    (("complaint_groups", "carol", "alice"), "", "['alice']: expected a non-empty string"),
    (("complaint_groups", "carol", "alice"), "a\nb", "['alice']: expected a non-empty string"),
    (("complaint_groups", "carol", "dave"), HOME, "['dave']: no complaint by 'dave' about"),
    (("complaint_groups", "bob"), {"alice": HOME}, "['bob']['alice']: no complaint by 'alice'"),
    (("complaint_groups", "a b"), {}, "complaint_groups['a b'] (the key): expected a non-empty"),
    (("bans", "gwen!a2", 2), 5, "bans['gwen!a2'][2]: expected a string"),
    (("bans", "gwen!a2", 3), None, "bans['gwen!a2'][3]: expected a string"),
    (("bans", "gwen!a2", 3), "1\r\n", "bans['gwen!a2'][3]: expected a string without CR"),
]


@pytest.mark.parametrize(("path", "value", "message"), SNAPSHOT_MESSAGES)
def test_newer_fields_are_checked(path: tuple[Any, ...], value: Any, message: str) -> None:
    data = base_state()
    parent(data, path)[path[-1]] = value
    got = load(data)
    assert isinstance(got, StateError) and message in str(got), got


def test_newer_fields_are_optional() -> None:
    """Snapshots of older versions: no oper, holds, address, complaint groups, 2-item bans."""
    data = base_state()
    for u in data["users"]:
        for k in ("oper", "holds", "address"):
            u.pop(k, None)
    del data["complaint_groups"]
    data["bans"] = {"dave": data["bans"]["dave"]}
    m = load(data)
    assert isinstance(m, Messenger)
    assert m.users["alice"].oper == "" and m.users["alice"].holds == []
    assert m.complaint_count("carol") == 2 and m.bans["dave"].name == m.bans["dave"].ip == ""
    exercise(m)


def test_bans_of_three_and_four_items_load() -> None:
    data = base_state()
    data["bans"]["dave"].append("Dave")  # a name, no address
    m = load(data)
    assert isinstance(m, Messenger)
    assert m.bans["dave"].name == "Dave" and m.bans["dave"].ip == ""
    assert m.bans["gwen!a2"].name == "Gwen" and m.bans["gwen!a2"].ip == GUEST_IP
    exercise(m)


EVENT_MESSAGES: list[tuple[dict[str, Any], str]] = [
    ({"t": "oper", "u": "bob"}, "'oper' event: missing 'n'"),
    ({"t": "oper", "u": "bob", "n": 5}, "'oper' event: n: expected a non-empty word"),
    ({"t": "oper", "u": None, "n": "root"}, "'oper' event: u: expected a non-empty word"),
    ({"t": "seen"}, "'seen' event: missing 'u'"),
    ({"t": "seen", "u": ["bob"]}, "'seen' event: u: expected a non-empty word"),
    ({"t": "undm", "pk": []}, "'undm' event: pk: expected two user keys separated by a tab"),
    ({"t": "undm", "pk": "alicebob"}, "'undm' event: pk: expected two user keys"),
    ({"t": "unroom", "r": 5}, "'unroom' event: r: expected a non-empty word"),
    ({"t": "gone", "u": ""}, "'gone' event: u: expected a non-empty word"),
    ({"t": "adopt", "old": "g!1", "new": 5}, "'adopt' event: new: expected a non-empty word"),
    ({"t": "adopt", "old": "g!1", "new": "g", "q": 5}, "'adopt' event: q: expected a non-empty"),
    ({"t": "ack", "u": "bob", "s": 5, "hold": "1-2"}, "'ack' event: hold: expected a range"),
    ({"t": "ack", "u": "bob", "s": 5, "hold": [3, 2]}, "'ack' event: hold: a range [lo, hi] needs"),
    ({"t": "ack", "u": "bob", "s": 5, "hold": [1, 2.5]}, "'ack' event: hold[1]: expected an int"),
    ({"t": "cmp", "target": "carol", "by": "dave", "g": 5}, "'cmp' event: g: expected a string"),
    ({"t": "cmp", "target": "carol", "by": "dave", "g": None}, "'cmp' event: g: expected a str"),
    ({"t": "acct", "k": "z", "n": "Z", "pw": "", "ts": T0, "ip": 5}, "'acct' event: ip: expected"),
    # a quota key becomes a key of the snapshot's windows: a word, as those are
    (
        {"t": "post", "p": post(6, "bob", "x", room="#general"), "q": "a b"},
        "'post' event: q: expected a non-empty word",
    ),
    (
        {"t": "rename", "u": "g!1", "n": "G", "q": "~g", "oq": "x\r\n"},
        "'rename' event: oq: expected a non-empty word",
    ),
    ({"t": "rename", "u": "g!1", "q": "~g"}, "'rename' event: missing 'n'"),
    ({"t": "rename", "old": "g", "new": "h", "n": 5}, "'rename' event: n: expected a non-empty"),
    ({"t": "rename", "old": "g"}, "'rename' event: missing 'new'"),
]


@pytest.mark.parametrize(("ev", "message"), EVENT_MESSAGES)
def test_newer_events_are_checked(ev: dict[str, Any], message: str) -> None:
    with pytest.raises(StateError) as info:
        check_event(ev, {"#general", "#x"})
    assert str(info.value).startswith(message), info.value
    assert replay_one(ev) is not None  # and the engine refuses it the same way

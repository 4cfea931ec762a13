"""State that uses every field and every event type the engine writes (operators, delivery
holds, complaint groups, bans of departed guests, dropped rooms and conversations, guests who
registered, renamed or left) is accepted by the checks of validate.py, rebuilds the same state
from the snapshot, from the journal, and from a snapshot plus the journal after it, and the
rebuilt engines behave as the live one. And every value the engine writes is type-checked:
a wrong type anywhere in its snapshot or its journal is refused with a one-line message.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from ircd.clock import FakeClock
from ircd.messenger import Messenger
from ircd.messenger.validate import _EVENTS, StateError, check_event, check_snapshot

from .helpers import (
    clock_of,
    dm,
    durable,
    fast_hash,
    make,
    reloaded,
    replayed,
    say,
    sched,
    via_json,
)

HOME = "203.0.113.7"  # alice, bob and erin: young accounts made from one place
GUEST_IP = "198.51.100.9"
GUS, GWEN, HAL = "gus!1", "gwen!2", "hal!3"  # guests' keys, as Hub.guest_key makes them
# event types no live call writes: "pw" (no password change yet) is only replayed
REPLAY_ONLY = {"pw"}


def engine() -> Messenger:
    return make(
        complaints_to_ban=3,
        ban_seconds=4 * 3600,
        accounts_per_address=3,
        messages_per_period=50,
    )


def new_account(m: Messenger, key: str, address: str = "") -> None:
    m.create_account(key, key.capitalize(), fast_hash("pw"), address=address)
    m.connected(key, address)


def new_guest(m: Messenger, key: str, address: str) -> None:
    nick = key.split("!")[0]
    m.attach_guest(key, nick.capitalize(), address=address, quota_key=f"~{nick}")
    m.connected(key, address)


def scenario(m: Messenger, checkpoint: list[dict[str, Any]] | None = None) -> None:
    """Every kind of durable change. With ``checkpoint``, a snapshot is taken half-way and the
    journal restarts there (as the store does when it compacts)."""
    c = clock_of(m)
    m.pin_server_id()
    new_account(m, "carol")  # created before the others: carol has unread when she lands
    new_account(m, "dave")
    new_account(m, "frank")
    for k in ("carol", "dave", "frank"):
        m.join(k, "#general", "#general")
    c.advance(3 * 86400)
    for k in ("alice", "bob", "erin"):
        new_account(m, k, HOME)
        m.join(k, "#general", "#general")
    m.join("alice", "#x", "#X")
    m.join("bob", "#x", "#x")
    m.set_op("alice", "#x", "bob", True)
    m.set_topic("alice", "Alice", "#x", "the x room")
    # channel modes, lists, a voice and an invitation
    for on, mode, arg in [
        (True, "m", ""),
        (False, "t", ""),
        (True, "k", "sesame"),
        (True, "l", "10"),
        (True, "b", "spam*"),
        (True, "b", "m:loud!*@*"),
        (False, "b", "loud!*@*"),  # no such entry: nothing changes
        (False, "b", "m:loud!*@*"),
        (True, "e", "a:frank"),
        (True, "I", "dave!*@*"),
    ]:
        m.set_mode("alice", "Alice", "#x", on, mode, arg)
    m.set_voice("alice", "#x", "bob", True)
    m.invite("alice", "#x", "carol")
    m.set_setting("dave", "backlog", "off")
    say(m, "alice", "#general", "one")
    say(m, "bob", "#x", "two")
    m.mark_read("alice", "#general", c.now())
    landed = m.seq  # what was waiting when carol's history-pulling client connected
    m.mark_seen("carol")
    m.mark_seen("dave")
    say(m, "alice", "#general", "three")
    m.ack("carol", m.seq, held_upto=landed)  # "one" and "two" stay unread: a hold
    m.ack("alice", m.seq)
    # bob on two devices: one pulls history (a hold up to "two"), the other confirmed only up
    # to "one": what the hold covers after that stays held (an ack with "upto")
    m.ack("bob", m.seq, held_upto=landed)
    m.ack("bob", landed - 1)
    assert m.user("bob").holds == [(landed - 1, landed)]  # type: ignore[union-attr]
    m.record_oper("bob", "root")
    m.join("alice", "#tmp", "#tmp")
    m.part("alice", "#tmp")  # the room ceases to exist
    # guests: one posts, renames, chats privately with another, is complained about, leaves
    new_guest(m, GUS, "198.51.100.20")
    new_guest(m, GWEN, GUEST_IP)
    m.join(GUS, "#general", "#general")
    m.join(GUS, "#gus", "#Gus")  # a room of guests only: gone when they are
    say(m, GUS, "#general", "hi from a guest")  # counted under its nick
    m.rename_guest(GUS, "Gustav", "~gustav")
    say(m, GUS, "#general", "renamed")
    dm(m, GUS, GWEN, "psst")
    dm(m, GWEN, GUS, "hush")
    dm(m, GUS, "alice", "for an account: it stays")
    oops = say(m, "alice", "#general", "oops")
    m.redact("alice", "#general", oops.msgid, private=False)  # her own
    m.redact(
        "bob",
        "#general",
        say(m, GUS, "#general", "spam").msgid,
        private=False,
        privileged=True,
        reason="spam",
    )  # a server operator's
    m.redact(GWEN, GUS, dm(m, GWEN, GUS, "sorry").msgid, private=True)
    c.advance(60)
    if checkpoint is not None:
        m.take_events()
        checkpoint.append(via_json(m.to_dict()))
    m.complain("alice", GUS, "flood")
    m.disconnected(GUS)  # the complaints about it go with it
    m.ban(GWEN, 3600, "muted by an operator")  # its address is muted with it
    m.disconnected(GWEN)  # their private conversation goes
    # young accounts from one address are one voice
    m.complain("alice", "dave", "rude")
    m.complain("bob", "dave")
    m.complain("carol", "dave")
    sched(m, "carol", "#general", "held by a mute", 30)
    m.complain("alice", "carol", "spam")
    m.complain("bob", "carol")
    m.complain("erin", "carol")
    m.complain("dave", "carol")
    m.complain("frank", "carol")  # three voices: carol is muted
    assert m.ban_of("carol") is not None
    m.ban("frank", 20, "cooling off")
    c.advance(31)
    m.release_due()  # frank's mute ends; carol's message waits for the end of hers
    sched(m, "alice", "bob", "private, later", 600, private=True)
    gone = sched(m, "alice", "#general", "cancelled", 60)
    m.cancel_scheduled("alice", gone)
    # a guest registers under its nick: what it had goes with it
    new_guest(m, HAL, "198.51.100.30")
    m.join(HAL, "#general", "#general")
    say(m, HAL, "#general", "about to register")
    sched(m, HAL, "#general", "hal's", 900)
    m.register(HAL, "hal", "Hal", fast_hash("pw"), "198.51.100.30")
    m.ack("hal", m.seq)
    say(m, "dave", "#general", "after it all")
    c.advance(5)


def run(checkpoint: list[dict[str, Any]] | None = None) -> tuple[Messenger, list[dict[str, Any]]]:
    m = engine()
    m.server_id = "abc123"  # journaled by pin_server_id: msgids are the same in every run
    scenario(m, checkpoint)
    return m, m.take_events()


def test_the_scenario_writes_every_event_type_and_every_new_field() -> None:
    m, events = run()
    assert {e["t"] for e in events} == set(_EVENTS) - REPLAY_ONLY
    with_field = {(e["t"], k) for e in events for k in e if k != "t"}
    for field in [
        ("post", "q"),
        ("ack", "hold"),
        ("ack", "upto"),
        ("cmp", "g"),
        ("acct", "ip"),
        ("adopt", "q"),
        ("ban", "n"),
        ("ban", "ip"),
        ("rename", "q"),
        ("rename", "oq"),
        ("cmode", "arg"),
        ("clist", "by"),
        ("clist", "ts"),
    ]:
        assert field in with_field, field
    d = m.to_dict()
    users = {u["key"]: u for u in d["users"]}
    assert users["bob"]["oper"] == "root" and users["alice"]["address"] == HOME
    assert users["carol"]["holds"] == [[users["carol"]["holds"][0][0], 2]]
    assert d["complaint_groups"] == {"dave": {"alice": HOME, "bob": HOME}}
    assert d["bans"][GWEN] == [d["bans"][GWEN][0], "muted by an operator", "Gwen", GUEST_IP]
    assert "#tmp" not in m.rooms and "#gus" not in m.rooms
    assert list(d["private"]) == [f"alice\t{GUS}"]
    assert m.complaints.get(GUS) is None and m.user("hal") is not None
    x = {r["key"]: r for r in d["rooms"]}["#x"]
    assert (x["modes"], x["chan_key"], x["limit"], x["voiced"]) == ("mn", "sesame", 10, ["bob"])
    assert x["invited"] == ["carol"]
    assert [e[0] for e in x["lists"]["b"]] == ["spam*!*@*"]
    assert {k: [e[0] for e in v] for k, v in x["lists"].items() if k != "b"} == {
        "e": ["a:frank"],
        "I": ["dave!*@*"],
    }


def test_snapshot_journal_and_both_rebuild_the_same_state() -> None:
    m, events = run()
    check_snapshot(via_json(m.to_dict()), 1)
    expected = durable(m)
    assert durable(reloaded(m)) == expected
    assert durable(replayed(events, m)) == expected  # replay checks every event first
    checkpoint: list[dict[str, Any]] = []
    m2, tail = run(checkpoint)
    restored = Messenger.from_dict(checkpoint[0], clock_of(m2), m2.rules)
    restored.replay(via_json(tail))
    assert durable(restored) == durable(m2) == expected


def behaviour(e: Messenger) -> dict[str, Any]:
    """What users notice of the state, now and later."""
    c = clock_of(e)
    out: dict[str, Any] = {}
    accounts = sorted(k for k, u in e.users.items() if u.is_account)
    for k in accounts:
        un = e.unread(k)
        out[f"unread {k}"] = (
            {r: [p.seq for p in v] for r, v in un.rooms.items()},
            {r: [p.seq for p in v] for r, v in un.private.items()},
        )
        out[f"quota {k}"] = e.quota_left(k)
        out[f"ban {k}"] = e.ban_of(k)
        out[f"oper {k}"] = e.users[k].oper
        out[f"scheduled {k}"] = [(s.id, s.text, s.due) for s in e.list_scheduled(k)]
    out["voices"] = {t: e.complaint_count(t) for t in sorted(e.complaints)}
    out["blocked"] = e.new_account_blocked(HOME)
    # a new guest from the muted guest's address is muted; one under the renamed nick shares
    # its channel quota
    e.attach_guest("gwen!9", "Gwen", address=GUEST_IP, quota_key="~gwen")
    e.attach_guest("gus!9", "Gustav", address="192.0.2.1", quota_key="~gustav")
    out["guest ban"] = e.ban_of("gwen!9")
    out["guest quota"] = e.quota_left("gus!9")
    # a complaint from erin (young, from alice's and bob's address) adds no voice about dave
    res = e.complain("erin", "dave")
    out["erin's complaint"] = (res.count, res.together, res.banned)
    c.advance(5 * 3600)
    fired, ended = e.release_due()
    out["fired"] = [(f.item.text, f.outcome) for f in fired]
    out["ended"] = [(b.user, b.name) for b in ended]
    out["after"] = durable(e)
    return out


def test_rebuilt_engines_behave_as_the_live_one() -> None:
    m, events = run()
    checkpoint: list[dict[str, Any]] = []
    m2, tail = run(checkpoint)
    t = clock_of(m).t
    from_tail = Messenger.from_dict(checkpoint[0], FakeClock(t), m2.rules)
    from_tail.replay(via_json(tail))
    clones = [reloaded(m, FakeClock(t)), replayed(events, m, FakeClock(t)), from_tail]
    # the live engine's guests are still in memory; a restarted server drops what only they
    # could read (Server.__init__ does the same)
    for e in (m, *clones):
        for k in [k for k, u in e.users.items() if not u.is_account]:
            e.disconnected(k)
        e.drop_unreachable()
        e.take_events()
    expected = behaviour(m)
    assert expected["unread carol"][0]["#general"][:1] == [1]  # the hold: "one" is unread
    assert expected["guest ban"] is not None and expected["oper bob"] == "root"
    assert expected["erin's complaint"][:2] == (2, 2)  # alice, bob and erin: one voice
    assert ("held by a mute", "posted") in expected["fired"]
    assert ("carol", "Carol") in expected["ended"]
    for clone in clones:
        assert behaviour(clone) == expected


def paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*at, k)
            yield from paths(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*at, i)
            yield from paths(v, (*at, i))


def replaced(data: Any, path: tuple[Any, ...]) -> Any:
    """A copy of ``data`` with the value at ``path`` replaced by one of another type."""
    out = copy.deepcopy(data)
    holder = out
    for k in path[:-1]:
        holder = holder[k]
    holder[path[-1]] = 5 if isinstance(holder[path[-1]], str) else "5"
    return out


def test_every_value_of_the_snapshot_is_checked() -> None:
    m, _ = run()
    snap = via_json(m.to_dict())
    checked = 0
    for path in paths(snap):
        with pytest.raises(StateError) as info:
            check_snapshot(replaced(snap, path), 1)
        assert "\n" not in str(info.value)
        checked += 1
    assert checked > 250, checked


def test_every_value_of_every_event_is_checked() -> None:
    m, events = run()
    rooms = {*m.rooms, "#tmp", "#gus"}
    checked = 0
    for ev in via_json(events):
        for path in paths(ev):
            if path == ("t",):
                continue
            with pytest.raises(StateError) as info:
                check_event(replaced(ev, path), rooms)
            assert str(info.value).startswith(f"{ev['t']!r} event: "), info.value
            checked += 1
    assert checked > 300, checked

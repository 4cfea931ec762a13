"""A snapshot (to_dict/from_dict) and the journal (take_events/replay) must rebuild the same
durable state, and so must a snapshot followed by the journal written after it."""

from __future__ import annotations

import json

import pytest

from ircd.clock import FakeClock
from ircd.messenger import Messenger
from ircd.messenger.engine import SNAPSHOT_VERSION

from .helpers import (
    T0,
    account,
    clock_of,
    dm,
    durable,
    fast_hash,
    guest,
    make,
    reloaded,
    replayed,
    say,
    sched,
    via_json,
)


def scenario(m: Messenger, checkpoint: list[dict[str, object]] | None = None) -> None:
    """A bit of everything, with time passing. With ``checkpoint``, a snapshot is taken
    half-way (and the journal restarts there, as the store does on compaction)."""
    c = clock_of(m)
    for k in ("alice", "bob", "carol", "dave", "erin"):
        account(m, k)
        m.join(k, "#general", "#general")
    guest(m, "gus")
    m.join("gus", "#general", "#general")
    m.join("gus", "#gus", "#Gus")  # a room created by a guest
    m.join("alice", "#x", "#X")
    m.join("bob", "#x", "#x")
    m.join("carol", "#x", "#x")
    m.set_op("alice", "#x", "bob", True)
    m.set_topic("alice", "Alice", "#x", "the x room")
    m.set_topic("gus", "Gus", "#gus", "guests can talk")
    m.set_topic("alice", "Alice", "#general", "set by a server operator", privileged=True)
    m.join("dave", "#gone", "#gone")  # a room that ceases to exist when its last member leaves
    say(m, "dave", "#gone", "lost with the room")
    m.mark_read("dave", "#gone", c.now())
    m.part("dave", "#gone")
    c.advance(10)
    say(m, "alice", "#general", "hello", kind="NOTICE")
    say(m, "gus", "#general", "hi from a guest")
    say(m, "bob", "#x", "x1")
    m.post_room("bob", "Bob", "bob!u@h", "#x", "tagged", tags={"+draft/reply": "abc"})
    dm(m, "alice", "bob", "private a->b")
    dm(m, "gus", "alice", "private from a guest")
    m.ack("alice", m.seq)
    m.ack("bob", 2)
    m.mark_read("alice", "#general", c.now() - 1)
    m.set_setting("bob", "backlog", "off")
    m.kick("alice", "#x", "carol")
    m.part("erin", "#general")
    c.advance(100)
    if checkpoint is not None:
        m.take_events()
        checkpoint.append(via_json(m.to_dict()))
    m.complain("alice", "carol", "spam")
    m.complain("bob", "carol")
    m.complain("dave", "carol")  # banned now
    m.complain("alice", "dave")
    for k in ("new1", "new2"):  # young accounts from one address: one voice about dave
        m.create_account(k, k.capitalize(), fast_hash("pw"), address="203.0.113.7")
        m.complain(k, "dave")
    m.record_oper("bob", "root")  # bob is an operator's account, even offline
    sched(m, "alice", "#general", "pending", 3600)
    cancelled = sched(m, "alice", "bob", "cancelled", 60, private=True)
    m.cancel_scheduled("alice", cancelled)
    sched(m, "bob", "#general", "fires", 30)
    sched(m, "carol", "#general", "held", 30)
    c.advance(30)
    m.release_due()
    sched(m, "gus", "#general", "guest's", 7200)  # not durable until gus registers
    m.rename_guest("gus", "Gustav", "~gustav")
    m.register("gus", "gustav", "Gustav", fast_hash("pw"), "10.0.0.8")
    m.disconnected("gustav")
    guest(m, "temp")
    m.join("temp", "#general", "#general")
    say(m, "temp", "#general", "a passing guest")
    m.disconnected("temp")
    for i in range(3):
        say(m, "erin" if i == 99 else "dave", "#general", f"d{i}")
    c.advance(5)


def test_snapshot_and_journal_rebuild_the_same_state() -> None:
    m = make(messages_per_period=5)
    scenario(m)
    events = m.take_events()
    expected = durable(m)
    from_snapshot = reloaded(m)
    from_journal = replayed(events, m)
    assert durable(from_snapshot) == expected
    assert durable(from_journal) == expected
    assert from_snapshot.server_id == m.server_id
    # and the state itself is what the scenario did
    assert m.ban_of("carol") is not None
    assert [s.text for s in m.scheduled.values()] == ["pending", "held", "guest's"]
    assert m.scheduled[5].owner == "gustav"
    assert m.account("gustav") is not None
    assert m.rooms["#x"].members == {"alice", "bob"} and m.rooms["#x"].ops == {"alice", "bob"}
    assert m.rooms["#gus"].members == {"gustav"} and m.user("gus") is None
    assert "#gone" not in m.rooms
    assert list(m.user("dave").read_markers) == ["#gone"]  # a marker outlives the room
    assert m.rooms["#general"].topic == "set by a server operator"
    assert m.complaint_count("dave") == 2 and len(m.complaints["dave"]) == 3
    assert expected["complaint_groups"] == {"dave": {"new1": "203.0.113.7", "new2": "203.0.113.7"}}
    assert from_journal.user("bob").oper == from_snapshot.user("bob").oper == "root"
    assert {u["key"] for u in expected["users"]} == {
        "alice",
        "bob",
        "carol",
        "dave",
        "erin",
        "gustav",
        "new1",
        "new2",
    }


def test_snapshot_plus_journal_tail() -> None:
    m = make(messages_per_period=5)
    checkpoint: list[dict[str, object]] = []
    scenario(m, checkpoint)
    tail = m.take_events()
    restored = Messenger.from_dict(checkpoint[0], clock_of(m), m.rules)
    restored.replay(via_json(tail))
    assert durable(restored) == durable(m)


def test_restored_engines_behave_the_same() -> None:
    m = make(messages_per_period=5)
    scenario(m)
    events = m.take_events()
    clones = [reloaded(m, FakeClock(clock_of(m).t)), replayed(events, m, FakeClock(clock_of(m).t))]
    # the msgid prefix is per instance and not journaled; give the journal-only clone the same
    # one so new msgids compare equal (they are unique either way: seq keeps growing)
    clones[1].server_id = m.server_id
    for e in (m, *clones):
        clock_of(e).advance(4 * 3600)
        fired, ended = e.release_due()
        assert [(f.item.text, f.outcome) for f in fired] == [
            ("pending", "posted"),
            ("guest's", "posted"),
            ("held", "posted"),
        ]
        assert [b.user for b in ended] == ["carol"]
        assert say(e, "carol", "#general", "unmuted").seq == m.seq
        assert e.unread("alice").total == m.unread("alice").total
        assert e.quota_left("dave") == m.quota_left("dave")
    assert durable(clones[0]) == durable(m)
    assert durable(clones[1]) == durable(m)


def test_snapshot_is_plain_json_and_a_fresh_copy() -> None:
    m = make()
    scenario(m)
    d = m.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["schema"] == SNAPSHOT_VERSION
    # mutating the snapshot does not touch the engine (it may be serialized in another thread)
    for room in d["rooms"]:
        for p in room["history"]:
            if "tags" in p:
                p["tags"]["x"] = "y"
        room["members"].append("intruder")
    d["users"][0]["rooms"]["#evil"] = 0
    assert durable(m) == durable(reloaded(m))
    assert all("x" not in (p.tags or {}) for r in m.rooms.values() for p in r.history)


def test_events_are_plain_json() -> None:
    m = make()
    scenario(m)
    events = m.take_events()
    assert json.loads(json.dumps(events)) == events
    assert m.take_events() == []
    assert not m.has_events


def test_snapshot_of_a_fresh_engine() -> None:
    m = make()
    d = m.to_dict()
    assert d["seq"] == 0 and d["users"] == [] and d["rooms"] == []
    assert durable(reloaded(m)) == durable(m)


def test_unknown_schema_is_refused() -> None:
    m = make()
    d = m.to_dict()
    d["schema"] = SNAPSHOT_VERSION + 1
    with pytest.raises(ValueError):
        Messenger.from_dict(d, FakeClock(T0))


def test_unknown_event_is_refused() -> None:
    with pytest.raises(ValueError):
        make().replay([{"t": "bogus"}])


def test_retention_limits_apply_on_load() -> None:
    m = make()
    account(m, "alice")
    account(m, "bob")
    m.join("alice", "#general", "#general")
    for i in range(10):
        say(m, "alice", "#general", str(i))
        dm(m, "alice", "bob", str(i))
    smaller = make(history_per_room=3, history_per_private=2)
    restored = Messenger.from_dict(via_json(m.to_dict()), clock_of(m), smaller.rules)
    assert [p.text for p in restored.rooms["#general"].history] == ["7", "8", "9"]
    assert [p.text for p in restored.history("bob", "alice", private=True)] == ["8", "9"]


def test_ids_continue_after_a_restart() -> None:
    m = make()
    account(m, "alice")
    m.join("alice", "#general", "#general")
    say(m, "alice", "#general", "one")
    events = m.take_events()
    for restored in (reloaded(m), replayed(events, m)):
        p = say(restored, "alice", "#general", "two")
        assert p.seq == 2
        assert p.msgid == f"{restored.server_id}-2"


def test_snapshots_of_the_previous_version_still_load() -> None:
    m = make()
    account(m, "alice")
    account(m, "bob")
    dm(m, "bob", "alice", "old")
    d = via_json(m.to_dict())
    for u in d["users"]:
        del u["since"]  # written before the field existed
    restored = Messenger.from_dict(d, clock_of(m), m.rules)
    assert restored.user("alice").since_seq == 0
    assert [p.text for p in restored.history("alice", "bob", private=True)] == ["old"]

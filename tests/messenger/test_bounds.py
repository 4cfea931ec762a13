"""State one user can grow with commands stays bounded: rooms cease to exist when nobody is in
them, read markers are kept only where they mean something and at most so many, stale rate
windows are not written (engine tier, fake clock)."""

from __future__ import annotations

import pytest

from ircd.messenger import Messenger
from ircd.messenger.errors import NoSuchRoom, NotMember

from .helpers import (
    T0,
    account,
    clock_of,
    dm,
    durable,
    guest,
    make,
    reloaded,
    replayed,
    say,
    via_json,
)


@pytest.fixture
def m() -> Messenger:
    m = make()
    m.ensure_room("#general", "#general")
    for k in ("alice", "bob"):
        account(m, k)
        m.join(k, "#general", "#general")
    return m


def same_after_restart(m: Messenger) -> None:
    """Live, from the snapshot and from the journal alone: the same durable state."""
    events = m.take_events()
    assert durable(reloaded(m)) == durable(m)
    assert durable(replayed(events, m)) == durable(m)


def test_a_room_ceases_to_exist_when_its_last_member_leaves(m: Messenger) -> None:
    m.join("alice", "#tmp", "#Tmp")
    m.join("bob", "#tmp", "#tmp")
    m.set_topic("alice", "Alice", "#tmp", "for now")
    say(m, "alice", "#tmp", "hello")
    m.part("alice", "#tmp")
    assert "#tmp" in m.rooms  # bob is still in it
    m.part("bob", "#tmp")
    assert "#tmp" not in m.rooms
    assert "#tmp" not in {k for u in m.users.values() for k in u.rooms}
    # made anew by the next joiner: operator, no topic, no history
    room, new = m.join("bob", "#tmp", "#TMP")
    assert new and room.ops == {"bob"} and room.topic == "" and not room.history
    assert room.name == "#TMP"
    same_after_restart(m)


def test_a_kick_can_empty_a_room_only_of_others(m: Messenger) -> None:
    m.join("alice", "#k", "#k")
    m.join("bob", "#k", "#k")
    m.kick("alice", "#k", "bob")
    assert m.rooms["#k"].members == {"alice"}
    m.part("alice", "#k")
    assert "#k" not in m.rooms
    same_after_restart(m)


def test_an_offline_account_keeps_its_room_and_history(m: Messenger) -> None:
    m.join("alice", "#keep", "#keep")
    say(m, "alice", "#keep", "for later")
    m.disconnected("alice")
    assert m.rooms["#keep"].members == {"alice"}
    restored = reloaded(m)
    assert [p.text for p in restored.rooms["#keep"].history] == ["for later"]
    restored.drop_empty_rooms()  # what the server does after loading
    assert "#keep" in restored.rooms


def test_the_general_room_stays_even_when_empty(m: Messenger) -> None:
    say(m, "alice", "#general", "kept")
    m.part("alice", "#general")
    m.part("bob", "#general")
    assert m.rooms["#general"].members == set()
    m.drop_empty_rooms()
    assert [p.text for p in m.rooms["#general"].history] == ["kept"]
    same_after_restart(m)


def test_a_room_only_a_guest_was_in_goes_with_the_guest(m: Messenger) -> None:
    guest(m, "gus")
    m.join("gus", "#gus", "#gus")
    say(m, "gus", "#gus", "anyone?")
    m.join("gus", "#general", "#general")
    m.disconnected("gus")
    assert "#gus" not in m.rooms
    assert "#general" in m.rooms
    same_after_restart(m)


def test_rooms_only_guests_were_in_are_dropped_after_a_restart(m: Messenger) -> None:
    guest(m, "gus")
    m.join("gus", "#gus", "#gus")
    say(m, "gus", "#gus", "anyone?")
    m.join("alice", "#both", "#both")
    m.join("gus", "#both", "#both")
    events = m.take_events()
    snapshot = via_json(m.to_dict())
    # the server stops without the guest leaving first (a crash): its room is in the state
    for restored in (reloaded(m), replayed(events, m)):
        assert restored.rooms["#gus"].members == set()
        restored.drop_empty_rooms()
        assert "#gus" not in restored.rooms and "#both" in restored.rooms
    # and it is journaled: the snapshot plus what the server journaled at start agree
    restored = Messenger.from_dict(snapshot, clock_of(m), m.rules)
    restored.drop_empty_rooms()
    tail = restored.take_events()
    assert tail == [{"t": "unroom", "r": "#gus"}]
    again = Messenger.from_dict(snapshot, clock_of(m), m.rules)
    again.replay(via_json(tail))
    assert durable(again) == durable(restored)


def test_older_state_files_with_empty_rooms_are_cleaned_on_load(m: Messenger) -> None:
    d = via_json(m.to_dict())
    d["rooms"] += [
        {
            "key": f"#old{i}",
            "name": f"#old{i}",
            "created": T0,
            "topic": "",
            "topic_by": "",
            "topic_time": 0.0,
            "members": [],
            "ops": [],
            "history": [],
        }
        for i in range(5)
    ]
    restored = Messenger.from_dict(d, clock_of(m), m.rules)
    assert len(restored.rooms) == 6
    restored.drop_empty_rooms()
    assert list(restored.rooms) == ["#general"]
    assert [e["t"] for e in restored.take_events()] == ["unroom"] * 5


def test_join_part_of_many_new_channels_leaves_nothing_behind(m: Messenger) -> None:
    """The issue's attack: 1,500 JOIN/PART of new channels (with read markers set) used to
    leave 1,501 rooms and 1,500 markers in the snapshot."""
    c = clock_of(m)
    for i in range(1500):
        key = f"#spam{i}"
        m.join("alice", key, key)
        m.mark_read("alice", key, c.now())
        m.part("alice", key)
        c.advance(0.01)
    assert list(m.rooms) == ["#general"]
    # markers outlive a PART (they only move forward), but only the newest are kept
    cap = m.rules.max_read_markers
    assert list(m.user("alice").read_markers) == [f"#spam{i}" for i in range(1500 - cap, 1500)]
    snap = m.to_dict()
    assert [r["key"] for r in snap["rooms"]] == ["#general"]
    assert all(len(u["markers"]) <= cap for u in snap["users"])
    same_after_restart(m)


def test_a_channel_marker_needs_membership_and_outlives_a_part(m: Messenger) -> None:
    """ircv3.net read-marker: the server stores the last read timestamp of a target and it
    only moves forward; leaving a channel does not forget it."""
    with pytest.raises(NoSuchRoom):
        m.mark_read("alice", "#nowhere", T0)
    m.join("bob", "#x", "#x")
    with pytest.raises(NotMember):
        m.mark_read("alice", "#x", T0)
    m.join("alice", "#x", "#x")
    assert m.mark_read("alice", "#x", T0 - 5) == T0 - 5
    m.part("alice", "#x")
    with pytest.raises(NotMember):
        m.mark_read("alice", "#x", T0)  # setting one still needs membership
    m.join("alice", "#x", "#x")
    assert m.read_marker("alice", "#x") == T0 - 5  # what was read stays read
    assert m.mark_read("alice", "#x", T0 - 10) == T0 - 5  # and it never moves back
    same_after_restart(m)


def test_private_markers_are_bounded_oldest_first() -> None:
    m = make(max_read_markers=3)
    m.ensure_room("#general", "#general")
    account(m, "alice")
    m.join("alice", "#general", "#general")
    for peer in ("p1", "p2", "p3", "p4"):
        account(m, peer)
        dm(m, peer, "alice", "hi")
    m.mark_read("alice", "#general", T0 - 50)
    m.mark_read("alice", "p1", private=True, ts=T0 - 40)
    m.mark_read("alice", "p2", private=True, ts=T0 - 30)
    m.mark_read("alice", "p3", private=True, ts=T0 - 10)  # the oldest, #general's, goes
    assert m.user("alice").read_markers == {"p1": T0 - 40, "p2": T0 - 30, "p3": T0 - 10}
    # a marker set to an older time than every other one is still kept: it was just set
    m.mark_read("alice", "p4", private=True, ts=T0 - 100)
    assert m.user("alice").read_markers == {"p2": T0 - 30, "p3": T0 - 10, "p4": T0 - 100}
    same_after_restart(m)


def test_stale_rate_windows_are_not_written() -> None:
    m = make(messages_per_period=5, period_seconds=60)
    m.ensure_room("#general", "#general")
    for k in ("alice", "bob"):
        account(m, k)
        m.join(k, "#general", "#general")
    say(m, "alice", "#general", "old")
    clock_of(m).advance(60)
    say(m, "bob", "#general", "current")
    assert set(m.to_dict()["windows"]) == {"bob"}
    for restored in (reloaded(m), replayed(m.take_events(), m)):
        assert restored.quota_left("alice") == m.quota_left("alice") == (5, T0 + 120)
        assert restored.quota_left("bob") == m.quota_left("bob")


def test_a_conversation_between_guests_goes_when_both_have_left(m: Messenger) -> None:
    """Guests are their connections: once both sides are gone nobody can read what they said
    privately (reconnecting guests would otherwise pile up conversations without end)."""
    guest(m, "g1")
    guest(m, "g2")
    dm(m, "g1", "g2", "psst")
    dm(m, "g1", "alice", "to an account")
    m.disconnected("g1")
    assert len(m.dms) == 2  # g2 is still here and may read it; alice keeps hers
    m.disconnected("g2")
    assert [p.text for p in m.history("alice", "g1", private=True)] == ["to an account"]
    assert len(m.dms) == 1 and "g2" not in m._dm_index
    same_after_restart(m)


def test_conversations_of_the_last_runs_guests_are_dropped_on_load(m: Messenger) -> None:
    guest(m, "g1")
    guest(m, "g2")
    dm(m, "g1", "g2", "psst")
    dm(m, "g2", "bob", "hello bob")
    m.join("g1", "#g", "#g")
    events = m.take_events()
    for restored in (reloaded(m), replayed(events, m)):  # a crash: the guests never left
        restored.drop_unreachable()
        assert list(restored.dms) == ["bob\tg2"]
        assert "#g" not in restored.rooms
        assert sorted(e["t"] for e in restored.take_events()) == ["undm", "unroom"]

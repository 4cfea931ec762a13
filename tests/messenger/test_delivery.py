"""Delivery cursors with holds (issue 9, "unread means unread"), as pure engine tests:

* a connection that was only told how many messages were waiting (``set backlog off``, a client
  that pulls history) acknowledges what it got live, and what was waiting stays unread (a hold);
* a plain acknowledgement (the connection got everything, waiting messages included) clears
  the holds;
* an account is "seen" once it has landed, so a first visit that ended before any ack is
  followed by its unread, not by the first-visit backlog;
* holds survive a restart from the snapshot and from the journal alike;
* with several devices (issue 13), a plain ack clears the holds only up to its own seq: another
  device may have moved the cursor past a range this one was not written all of.
"""

from __future__ import annotations

import pytest

from ircd.messenger import Messenger
from ircd.messenger.holds import MAX_HOLDS, add_hold, cut_holds, in_holds, parse_holds
from ircd.messenger.validate import StateError

from .helpers import account, durable, make, reloaded, replayed, say, texts


def setup() -> Messenger:
    m = make(messages_per_period=1000)
    for k in ("alice", "bob"):
        account(m, k)
        m.join(k, "#general", "#general")
    m.mark_seen("alice")
    m.ack("alice", m.seq)
    return m


def unread(m: Messenger, user: str = "alice", upto: int | None = None) -> list[str]:
    u = m.unread(user, upto=upto)
    return [p.text for posts in (*u.rooms.values(), *u.private.values()) for p in posts]


def test_a_held_ack_keeps_what_was_waiting_and_delivers_what_came_live() -> None:
    m = setup()
    say(m, "bob", "#general", "while away 1")
    say(m, "bob", "#general", "while away 2")
    landed = m.seq  # alice connects with backlog off: told "2 unread", shown none of them
    say(m, "bob", "#general", "live 1")
    m.ack("alice", m.seq, held_upto=landed)  # her client acknowledged the live line
    assert m.user("alice").delivered_seq == m.seq
    assert unread(m) == ["while away 1", "while away 2"]
    # in the same session, "unread" replays exactly the waiting ones
    assert unread(m, upto=landed) == ["while away 1", "while away 2"]
    say(m, "bob", "#general", "later")
    assert unread(m) == ["while away 1", "while away 2", "later"]


def test_a_plain_ack_clears_the_holds() -> None:
    m = setup()
    say(m, "bob", "#general", "waiting")
    landed = m.seq
    say(m, "bob", "#general", "live")
    m.ack("alice", m.seq, held_upto=landed)
    assert unread(m) == ["waiting"]
    m.take_events()
    # she pulled them ("/msg Messenger unread") and her client acknowledged the replay
    m.ack("alice", m.seq)
    assert unread(m) == []
    assert m.user("alice").holds == []
    assert m.take_events() == [{"t": "ack", "u": "alice", "s": m.seq}]


def test_a_plain_ack_of_another_device_clears_the_holds_only_up_to_its_seq() -> None:
    m = setup()
    events = m.take_events()
    say(m, "bob", "#general", "m0")
    laptop_ping = m.seq  # the laptop was written m0 and asked to confirm it
    say(m, "bob", "#general", "m1")  # written to the laptop too, not confirmed
    landed = m.seq  # the phone, a pulling client, lands: told about m0 and m1
    say(m, "bob", "#general", "m2")
    m.ack("alice", m.seq, held_upto=landed)  # the phone confirms m2: m0, m1 held
    assert unread(m) == ["m0", "m1"]
    events += m.take_events()
    m.ack("alice", laptop_ping)  # the laptop's late PONG: m0 only
    assert unread(m) == ["m1"]
    late = m.take_events()
    assert late == [{"t": "ack", "u": "alice", "s": m.seq, "upto": laptop_ping}]
    # the same after a restart, from the journal and from the snapshot
    assert unread(replayed(events + late, m)) == unread(reloaded(m)) == ["m1"]
    m.ack("alice", laptop_ping)  # said again: nothing new, nothing journaled
    assert m.take_events() == []
    m.ack("alice", m.seq)  # a device that got everything clears them
    assert unread(m) == [] and m.user("alice").holds == []


def test_cut_holds_keeps_what_lies_past_the_seq() -> None:
    holds = [(1, 3), (5, 9), (10, 12)]
    cut_holds(holds, 6)
    assert holds == [(6, 9), (10, 12)]
    cut_holds(holds, 12)
    assert holds == []


def test_held_acks_of_several_sessions_keep_every_waiting_range() -> None:
    m = setup()
    say(m, "bob", "#general", "a")
    landed = m.seq
    say(m, "bob", "#general", "live 1")
    m.ack("alice", m.seq, held_upto=landed)
    # next session, still backlog off: "b" waited, "live 2" came live
    say(m, "bob", "#general", "b")
    landed = m.seq
    say(m, "bob", "#general", "live 2")
    m.ack("alice", m.seq, held_upto=landed)
    assert unread(m) == ["a", "b"]
    # an ack that moves nothing (and adds no hold) journals nothing
    m.take_events()
    m.ack("alice", m.seq, held_upto=landed)
    assert m.take_events() == []
    assert unread(m) == ["a", "b"]


def test_a_held_ack_with_nothing_waiting_keeps_earlier_holds() -> None:
    m = setup()
    say(m, "bob", "#general", "old")
    landed = m.seq
    say(m, "bob", "#general", "live")
    m.ack("alice", m.seq, held_upto=landed)
    landed = m.seq  # connects again: only "old" is waiting, and it is held
    say(m, "bob", "#general", "live 2")
    m.ack("alice", m.seq, held_upto=landed)
    assert unread(m) == ["old"]


def test_holds_survive_snapshot_and_journal() -> None:
    m = setup()
    events = m.take_events()
    say(m, "bob", "#general", "waiting")
    landed = m.seq
    say(m, "bob", "#general", "live")
    m.ack("alice", m.seq, held_upto=landed)
    events += m.take_events()
    for restored in (reloaded(m), replayed(events, m)):
        assert restored.user("alice").holds == [(landed - 1, landed)]
        assert texts(restored.unread("alice").rooms["#general"]) == ["waiting"]
        assert durable(restored) == durable(m)


def test_first_visit_that_ended_before_any_ack_is_followed_by_unread() -> None:
    m = make(messages_per_period=1000)
    account(m, "bob")
    m.join("bob", "#general", "#general")
    account(m, "dora")
    m.join("dora", "#general", "#general")
    assert not m.user("dora").seen_before  # her first visit: the backlog
    m.mark_seen("dora")  # she landed; her connection dropped before any ack
    m.disconnected("dora")
    say(m, "bob", "#general", "while dora was away")
    u = m.user("dora")
    assert u.seen_before and u.delivered_seq < m.seq
    assert unread(m, "dora") == ["while dora was away"]
    assert reloaded(m).user("dora").seen_before
    m.take_events()
    m.mark_seen("dora")  # once only
    assert m.take_events() == []


def test_add_hold_merges_and_is_bounded() -> None:
    holds: list[tuple[int, int]] = []
    add_hold(holds, 5, 7)
    add_hold(holds, 1, 3)
    add_hold(holds, 3, 4)  # touches (1, 3]
    add_hold(holds, 6, 9)  # overlaps (5, 7]
    add_hold(holds, 9, 9)  # empty
    assert holds == [(1, 4), (5, 9)]
    assert in_holds(holds, 2) and in_holds(holds, 9)
    assert not in_holds(holds, 1) and not in_holds(holds, 5) and not in_holds(holds, 10)
    for i in range(MAX_HOLDS + 5):
        add_hold(holds, 100 + 10 * i, 101 + 10 * i)
    assert len(holds) == MAX_HOLDS
    # merging only ever widens: every seq held before is still held
    assert in_holds(holds, 2) and in_holds(holds, 9) and in_holds(holds, 101)


@pytest.mark.parametrize("bad", [[[1]], [[2, 1]], [["a", 2]], [[-1, 2]], [[True, 2]], {"a": 1}])
def test_bad_holds_in_a_snapshot_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_holds(bad)


def test_a_bad_hold_in_the_journal_is_a_state_error() -> None:
    m = setup()
    with pytest.raises(StateError):
        m.replay([{"t": "ack", "u": "alice", "s": 1, "hold": [3, 1]}])

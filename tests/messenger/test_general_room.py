"""The general room's own rules hold only while everyone is put into it (rules.auto_join)."""

from __future__ import annotations

from tests.messenger.helpers import account, make


def test_the_general_room_is_everyones_with_auto_join() -> None:
    m = make()
    account(m, "ann")
    room, _ = m.join("ann", "#general", "#general")
    assert m.is_general("#general")
    assert room.ops == set()  # nobody becomes its operator by joining first
    assert m.topic_protected(room)
    m.part("ann", "#general")
    assert "#general" in m.rooms  # it always stays


def test_without_auto_join_the_general_room_is_an_ordinary_room() -> None:
    m = make(auto_join=False)
    account(m, "ann")
    account(m, "ben")
    assert not m.is_general("#general")
    room, _ = m.join("ann", "#general", "#general")
    m.join("ben", "#general", "#general")
    assert room.ops == {"ann"}  # the first joiner is its operator
    assert m.topic_protected(room)
    m.part("ann", "#general")
    assert not m.topic_protected(room)  # no operator left: open
    m.part("ben", "#general")
    assert "#general" not in m.rooms  # nobody in it: it ceases

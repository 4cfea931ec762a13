from __future__ import annotations

import pytest

from ircd.messenger import Messenger
from ircd.messenger.errors import Banned, NoSuchRoom, NoSuchUser, NotMember, NotOperator

from .helpers import T0, account, clock_of, guest, make, reloaded


@pytest.fixture
def m() -> Messenger:
    m = make()
    for k in ("alice", "bob", "carol"):
        account(m, k)
    return m


def test_join_creates_room_and_first_joiner_is_op(m: Messenger) -> None:
    room, new = m.join("alice", "#x", "#X")
    assert new is True
    assert (room.key, room.name, room.created) == ("#x", "#X", T0)
    assert room.members == {"alice"} and room.ops == {"alice"}
    room2, new2 = m.join("bob", "#x", "#x")
    assert room2 is room and new2 is True
    assert room.ops == {"alice"}
    assert room.name == "#X"  # the creator's spelling stays
    assert m.join("bob", "#x", "#x") == (room, False)
    assert m.user("alice").rooms == {"#x": 0}


def test_join_records_the_seq_at_join_time(m: Messenger) -> None:
    m.join("alice", "#x", "#x")
    m.post_room("alice", "Alice", "a!u@h", "#x", "one")
    m.post_room("alice", "Alice", "a!u@h", "#x", "two")
    m.join("bob", "#x", "#x")
    assert m.user("bob").rooms == {"#x": 2}


def test_general_room_has_no_op(m: Messenger) -> None:
    room, _ = m.join("alice", "#general", "#general")
    m.join("bob", "#general", "#general")
    assert room.ops == set()


def test_general_room_follows_the_rules(m: Messenger) -> None:
    m2 = make(general_room="#lobby")
    account(m2, "alice")
    assert m2.join("alice", "#general", "#general")[0].ops == {"alice"}
    assert m2.join("alice", "#lobby", "#lobby")[0].ops == set()


def test_part(m: Messenger) -> None:
    m.join("alice", "#x", "#x")
    m.join("bob", "#x", "#x")
    m.part("alice", "#x")
    room = m.rooms["#x"]
    assert room.members == {"bob"} and room.ops == set()
    assert "#x" not in m.user("alice").rooms
    with pytest.raises(NotMember):
        m.part("alice", "#x")
    with pytest.raises(NoSuchRoom):
        m.part("alice", "#nowhere")


def test_an_emptied_room_gives_op_to_the_next_first_joiner(m: Messenger) -> None:
    m.join("alice", "#x", "#x")
    m.part("alice", "#x")
    m.join("bob", "#x", "#x")
    assert m.rooms["#x"].ops == {"bob"}


def test_kick_rules(m: Messenger) -> None:
    m.join("alice", "#x", "#x")
    m.join("bob", "#x", "#x")
    with pytest.raises(NotOperator):
        m.kick("bob", "#x", "alice")
    with pytest.raises(NotMember):
        m.kick("carol", "#x", "bob")
    with pytest.raises(NoSuchUser):
        m.kick("alice", "#x", "carol")
    with pytest.raises(NoSuchRoom):
        m.kick("alice", "#nowhere", "bob")
    room = m.kick("alice", "#x", "bob")
    assert room.members == {"alice"}
    assert "#x" not in m.user("bob").rooms
    assert reloaded(m).rooms["#x"].members == {"alice"}


def test_nobody_kicks_in_general(m: Messenger) -> None:
    m.join("alice", "#general", "#general")
    m.join("bob", "#general", "#general")
    with pytest.raises(NotOperator):
        m.kick("alice", "#general", "bob")


def test_set_op(m: Messenger) -> None:
    m.join("alice", "#x", "#x")
    m.join("bob", "#x", "#x")
    m.join("carol", "#x", "#x")
    with pytest.raises(NotOperator):
        m.set_op("bob", "#x", "bob", True)
    with pytest.raises(NoSuchRoom):
        m.set_op("alice", "#nowhere", "bob", True)
    m.set_op("alice", "#x", "bob", True)
    assert m.rooms["#x"].ops == {"alice", "bob"}
    m.kick("bob", "#x", "carol")  # bob can act as op now
    with pytest.raises(NoSuchUser):
        m.set_op("alice", "#x", "carol", True)
    m.set_op("bob", "#x", "alice", False)
    assert m.rooms["#x"].ops == {"bob"}
    with pytest.raises(NotOperator):
        m.kick("alice", "#x", "bob")
    assert reloaded(m).rooms["#x"].ops == {"bob"}


def test_topic_rules(m: Messenger) -> None:
    m.join("alice", "#x", "#x")
    m.join("bob", "#x", "#x")
    with pytest.raises(NotOperator):
        m.set_topic("bob", "Bob", "#x", "mine")
    with pytest.raises(NotMember):
        m.set_topic("carol", "Carol", "#x", "mine")
    with pytest.raises(NoSuchRoom):
        m.set_topic("alice", "Alice", "#nowhere", "t")
    clock_of(m).advance(5)
    room = m.set_topic("alice", "Alice", "#x", "Welcome")
    assert (room.topic, room.topic_by, room.topic_time) == ("Welcome", "Alice", T0 + 5)
    r = reloaded(m).rooms["#x"]
    assert (r.topic, r.topic_by, r.topic_time) == ("Welcome", "Alice", T0 + 5)


def test_only_operators_set_the_topic_of_general(m: Messenger) -> None:
    """#general has no channel operator (nobody becomes one by joining first), yet it is +t:
    its topic is set by server operators (``privileged``) and by whom they make operator."""
    m.join("alice", "#general", "#general")
    m.join("bob", "#general", "#general")
    assert m.topic_protected(m.rooms["#general"])
    with pytest.raises(NotOperator):
        m.set_topic("bob", "Bob", "#general", "hello")
    assert m.rooms["#general"].topic == ""
    assert m.set_topic("alice", "Alice", "#general", "hi", privileged=True).topic == "hi"
    with pytest.raises(NotOperator):
        m.set_op("bob", "#general", "bob", True)
    m.set_op("alice", "#general", "bob", True, privileged=True)
    assert m.set_topic("bob", "Bob", "#general", "hello").topic == "hello"
    assert reloaded(m).rooms["#general"].ops == {"bob"}


def test_a_room_whose_operators_left_is_open_to_its_members(m: Messenger) -> None:
    m.join("alice", "#x", "#x")
    m.join("bob", "#x", "#x")
    assert m.topic_protected(m.rooms["#x"])
    m.part("alice", "#x")
    assert not m.topic_protected(m.rooms["#x"])
    assert m.set_topic("bob", "Bob", "#x", "ours now").topic == "ours now"


def test_a_server_operator_acts_as_channel_operator(m: Messenger) -> None:
    m.join("alice", "#x", "#x")
    m.join("bob", "#x", "#x")
    m.join("carol", "#x", "#x")
    with pytest.raises(NotOperator):
        m.kick("bob", "#x", "carol")
    m.kick("bob", "#x", "carol", privileged=True)
    assert m.rooms["#x"].members == {"alice", "bob"}
    m.set_op("bob", "#x", "alice", False, privileged=True)
    assert m.rooms["#x"].ops == set()


def test_a_banned_member_cannot_set_the_topic(m: Messenger) -> None:
    m.join("alice", "#x", "#x")
    m.ban("alice", 60, "test")
    with pytest.raises(Banned):
        m.set_topic("alice", "Alice", "#x", "hello")


def test_guest_memberships_are_not_durable_but_account_ones_are(m: Messenger) -> None:
    guest(m, "dave")
    m.take_events()
    m.join("dave", "#x", "#x")
    assert [e["t"] for e in m.take_events()] == ["room"]
    m.join("alice", "#x", "#x")
    assert [e["t"] for e in m.take_events()] == ["join"]
    assert m.rooms["#x"].ops == {"dave"}

from __future__ import annotations

import pytest

from ircd.messenger import Messenger
from ircd.messenger.errors import NoSuchRoom, NoSuchUser, NotMember

from .helpers import T0, account, clock_of, dm, guest, make, reloaded, replayed, say, texts


def setup(**rules: object) -> Messenger:
    m = make(messages_per_period=1000, **rules)
    for k in ("alice", "bob", "carol"):
        account(m, k)
        m.join(k, "#general", "#general")
    m.join("bob", "#x", "#x")
    m.join("alice", "#x", "#x")
    return m


def unread_texts(m: Messenger, user: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    u = m.unread(user)
    return (
        {k: texts(v) for k, v in u.rooms.items()},
        {k: texts(v) for k, v in u.private.items()},
    )


# ---------------------------------------------------------------------- delivery cursor


def test_ack_moves_the_cursor_forward_only() -> None:
    m = setup()
    for i in range(5):
        say(m, "bob", "#general", str(i))
    m.take_events()
    m.ack("alice", 4)
    assert m.user("alice").delivered_seq == 4
    assert m.take_events() == [{"t": "ack", "u": "alice", "s": 4}]
    m.ack("alice", 2)
    assert m.user("alice").delivered_seq == 4
    assert m.take_events() == []
    m.ack("alice", 99)  # clamped to the newest seq
    assert m.user("alice").delivered_seq == 5
    m.ack("gus", 5)  # unknown: ignored
    guest(m, "gus")
    m.ack("gus", 5)  # guests have no durable cursor
    assert [e["u"] for e in m.take_events()] == ["alice"]


def test_first_ack_marks_the_user_as_seen() -> None:
    m = setup()
    alice = m.user("alice")
    assert alice is not None and alice.seen_before is False
    m.ack("alice", 0)
    assert alice.seen_before is True
    assert reloaded(m).user("alice").seen_before is True


def test_unread_groups_per_room_and_peer_oldest_first_without_own_posts() -> None:
    m = setup()
    m.ack("alice", m.seq)
    m.disconnected("alice")
    say(m, "bob", "#x", "x1")
    say(m, "bob", "#general", "g1")
    dm(m, "carol", "alice", "from carol 1")
    say(m, "carol", "#general", "g2")
    dm(m, "bob", "alice", "from bob")
    dm(m, "alice", "bob", "alice's own reply")  # from another session: not unread
    say(m, "alice", "#general", "alice's own post")
    dm(m, "carol", "alice", "from carol 2")
    dm(m, "bob", "carol", "not for alice")
    rooms, private = unread_texts(m, "alice")
    assert rooms == {"#general": ["g1", "g2"], "#x": ["x1"]}
    assert list(rooms) == ["#general", "#x"]  # the general room first
    assert private == {"bob": ["from bob"], "carol": ["from carol 1", "from carol 2"]}
    u = m.unread("alice")
    assert (u.total, u.omitted, u.newest_seq) == (6, 0, m.seq)
    m.ack("alice", u.newest_seq)
    assert m.unread("alice").total == 0


def test_unread_respects_the_join_seq() -> None:
    m = setup()
    say(m, "bob", "#x", "before carol joined")
    m.join("carol", "#x", "#x")
    say(m, "bob", "#x", "after carol joined")
    m.part("carol", "#x")
    say(m, "bob", "#x", "while carol was away")
    m.join("carol", "#x", "#x")
    say(m, "bob", "#x", "after she came back")
    assert unread_texts(m, "carol")[0] == {"#x": ["after she came back"]}


def test_unread_of_a_room_left_is_gone() -> None:
    m = setup()
    say(m, "bob", "#x", "x")
    m.part("alice", "#x")
    assert unread_texts(m, "alice")[0] == {}


def test_unread_is_capped_at_the_newest() -> None:
    m = setup(max_unread_replay=3)
    m.ack("alice", m.seq)
    say(m, "bob", "#general", "g1")  # oldest: left out
    dm(m, "bob", "alice", "d1")  # left out
    say(m, "bob", "#x", "x1")
    dm(m, "carol", "alice", "d2")
    say(m, "bob", "#general", "g2")
    u = m.unread("alice")
    assert (u.total, u.omitted) == (3, 2)
    assert unread_texts(m, "alice") == ({"#general": ["g2"], "#x": ["x1"]}, {"carol": ["d2"]})


def test_unread_cap_of_zero_omits_everything() -> None:
    m = setup(max_unread_replay=0)
    m.ack("alice", m.seq)
    say(m, "bob", "#general", "g1")
    dm(m, "bob", "alice", "d1")
    u = m.unread("alice")
    assert (u.total, u.omitted, u.rooms, u.private) == (0, 2, {}, {})


def test_offline_private_messages_are_unread() -> None:
    m = setup()
    m.ack("alice", m.seq)
    m.disconnected("alice")
    dm(m, "bob", "alice", "while you were out")
    assert unread_texts(m, "alice")[1] == {"bob": ["while you were out"]}
    for restored in (reloaded(m), replayed(m.take_events(), m)):
        assert unread_texts(restored, "alice")[1] == {"bob": ["while you were out"]}


def test_a_new_account_has_nothing_unread_from_before_it_existed() -> None:
    m = setup()
    say(m, "bob", "#general", "old news")
    dm(m, "bob", "carol", "old private")
    account(m, "erin")
    m.join("erin", "#general", "#general")
    u = m.unread("erin")
    assert (u.total, u.omitted) == (0, 0)
    assert m.user("erin").delivered_seq == m.seq
    say(m, "bob", "#general", "new")
    assert unread_texts(m, "erin") == ({"#general": ["new"]}, {})


def test_unread_of_unknown_user() -> None:
    with pytest.raises(NoSuchUser):
        setup().unread("nobody")


def test_cursor_survives_snapshot_and_journal() -> None:
    m = setup()
    say(m, "bob", "#general", "seen")
    m.ack("alice", m.seq)
    say(m, "bob", "#general", "unseen")
    events = m.take_events()
    for restored in (reloaded(m), replayed(events, m)):
        assert restored.user("alice").delivered_seq == 1
        assert unread_texts(restored, "alice")[0] == {"#general": ["unseen"]}


# ---------------------------------------------------------------------- history


def test_backlog_gives_the_last_n() -> None:
    m = setup()
    for i in range(1, 26):
        say(m, "bob", "#general", str(i))
    assert texts(m.backlog("#general", 20)) == [str(i) for i in range(6, 26)]
    assert texts(m.backlog("#general", 100)) == [str(i) for i in range(1, 26)]
    assert m.backlog("#general", 0) == []
    assert m.backlog("#general", -1) == []
    assert m.backlog("#nowhere", 20) == []
    assert [p.seq for p in m.backlog("#general", 2)] == [24, 25]


def test_backlog_keeps_original_sender_time_and_msgid() -> None:
    m = setup()
    p = say(m, "bob", "#general", "hi")
    clock_of(m).advance(3600)
    (q,) = reloaded(m).backlog("#general", 1)
    assert (q.sender_name, q.time, q.msgid, q.account) == ("Bob", T0, p.msgid, "Bob")


def test_history_access_control() -> None:
    m = setup()
    say(m, "bob", "#x", "x")
    assert texts(m.history("alice", "#x", private=False)) == ["x"]
    with pytest.raises(NotMember):
        m.history("carol", "#x", private=False)
    with pytest.raises(NoSuchRoom):
        m.history("carol", "#nowhere", private=False)
    dm(m, "bob", "alice", "private")
    assert texts(m.history("alice", "bob", private=True)) == ["private"]
    assert list(m.history("carol", "bob", private=True)) == []  # only one's own conversations


def test_conversations_lists_what_the_user_may_read() -> None:
    m = setup()
    m.join("carol", "#y", "#y")
    dm(m, "bob", "alice", "d")
    convs = {(t, private): texts(p) for t, private, p in m.conversations("alice")}
    assert convs == {("#general", False): [], ("#x", False): [], ("bob", True): ["d"]}


def test_read_markers_move_forward_only_and_are_clamped_to_now() -> None:
    m = setup()
    assert m.read_marker("alice", "#general") is None
    assert m.mark_read("alice", "#general", T0 - 100) == T0 - 100
    assert m.mark_read("alice", "#general", T0 - 200) == T0 - 100  # backwards: unchanged
    assert m.mark_read("alice", "#general", T0 - 100) == T0 - 100
    assert m.mark_read("alice", "#general", T0 + 3600) == T0  # the future: clamped to now
    assert m.read_marker("alice", "#general") == T0
    assert m.read_marker("alice", "#x") is None
    assert m.read_marker("nobody", "#x") is None
    with pytest.raises(NoSuchUser):
        m.mark_read("nobody", "#x", T0)
    events = m.take_events()
    assert [e["ts"] for e in events if e["t"] == "mark"] == [T0 - 100, T0]
    for restored in (reloaded(m), replayed(events, m)):
        assert restored.read_marker("alice", "#general") == T0


def test_guest_read_markers_are_not_durable() -> None:
    m = setup()
    guest(m, "gus")
    m.join("gus", "#general", "#general")
    m.take_events()
    assert m.mark_read("gus", "#general", T0) == T0
    assert m.read_marker("gus", "#general") == T0
    assert m.take_events() == []

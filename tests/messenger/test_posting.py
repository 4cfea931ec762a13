from __future__ import annotations

import math

import pytest

from ircd.messenger import Messenger
from ircd.messenger.errors import Flooding, NoSuchRoom, NoSuchUser, NotMember, RateLimited

from .helpers import (
    H15,
    H16,
    T0,
    account,
    clock_of,
    dm,
    guest,
    make,
    reloaded,
    replayed,
    say,
    texts,
)


def room_for(m: Messenger, *users: str, room: str = "#general") -> None:
    for u in users:
        if m.user(u) is None:
            account(m, u)
        m.join(u, room, room)


# ---------------------------------------------------------------------- posts


def test_post_room_stores_and_numbers_posts() -> None:
    m = make()
    room_for(m, "alice")
    guest(m, "dave")
    m.join("dave", "#general", "#general")
    p1 = say(m, "alice", "#general", "hello")
    clock_of(m).advance(2)
    p2 = say(m, "dave", "#general", "hi", kind="NOTICE")
    assert (p1.seq, p1.msgid, p1.time, p1.kind) == (1, f"{m.server_id}-1", T0, "PRIVMSG")
    assert (p1.sender, p1.sender_name, p1.origin, p1.room, p1.to) == (
        "alice",
        "Alice",
        "alice!u@host",
        "#general",
        None,
    )
    assert p1.account == "Alice" and p2.account is None  # guests have no account tag
    assert (p2.seq, p2.time, p2.kind) == (2, T0 + 2, "NOTICE")
    assert list(m.rooms["#general"].history) == [p1, p2]
    assert m.seq == 2
    assert [e["t"] for e in m.take_events() if e["t"] == "post"] == ["post", "post"]


def test_post_room_requires_membership() -> None:
    m = make()
    room_for(m, "alice")
    account(m, "bob")
    with pytest.raises(NotMember):
        say(m, "bob", "#general", "hi")
    with pytest.raises(NoSuchRoom):
        say(m, "alice", "#nowhere", "hi")
    m.check_room_send("alice", "#general")
    with pytest.raises(NotMember):
        m.check_room_send("bob", "#general")
    assert m.seq == 0 and not m.rooms["#general"].history


def test_post_private() -> None:
    m = make()
    account(m, "alice")
    account(m, "bob", online=False)
    p = dm(m, "alice", "bob", "psst")
    assert (p.seq, p.room, p.to, p.to_name, p.text) == (1, None, "bob", "Bob", "psst")
    assert list(m.history("bob", "alice", private=True)) == [p]
    assert list(m.history("alice", "bob", private=True)) == [p]
    with pytest.raises(NoSuchUser):
        dm(m, "alice", "nobody", "hi")


def test_history_retention_per_room_and_per_pair() -> None:
    m = make(history_per_room=3, history_per_private=2)
    room_for(m, "alice", "bob")
    for i in range(5):
        say(m, "alice", "#general", f"r{i}")
        dm(m, "alice", "bob", f"d{i}")
    assert texts(m.rooms["#general"].history) == ["r2", "r3", "r4"]
    assert texts(m.history("bob", "alice", private=True)) == ["d3", "d4"]
    r = reloaded(m)
    assert texts(r.rooms["#general"].history) == ["r2", "r3", "r4"]
    assert texts(r.history("bob", "alice", private=True)) == ["d3", "d4"]


# ---------------------------------------------------------------------- quota


def quota_messenger(limit: int = 3, period: int = 3600) -> Messenger:
    m = make(messages_per_period=limit, period_seconds=period)
    room_for(m, "alice", "bob")
    return m


def test_the_nth_plus_one_message_is_refused_until_the_window_ends() -> None:
    m = quota_messenger()
    for i in range(3):
        say(m, "alice", "#general", f"m{i}")
    assert m.quota_left("alice") == (0, H16)
    m.take_events()
    with pytest.raises(RateLimited) as e:
        say(m, "alice", "#general", "m3")
    assert (e.value.reset_at, e.value.limit, e.value.period) == (H16, 3, 3600)
    # refused: not stored, not numbered, not journaled
    assert texts(m.rooms["#general"].history) == ["m0", "m1", "m2"]
    assert m.seq == 3 and m.take_events() == []


def test_windows_are_aligned_to_period_boundaries() -> None:
    m = quota_messenger()
    c = clock_of(m)
    assert T0 == H15 + 1200
    for i in range(3):
        say(m, "alice", "#general", f"m{i}")
    # 40 minutes after the first message, not 60: the window is 15:00-16:00
    for before in (H16 - 0.001, math.nextafter(H16, 0)):
        c.t = before
        with pytest.raises(RateLimited):
            say(m, "alice", "#general", "late")
    c.t = H16  # exactly at the boundary: a new window
    say(m, "alice", "#general", "next window")
    assert m.quota_left("alice") == (2, H16 + 3600)


def test_the_first_second_of_a_window_counts_in_that_window() -> None:
    m = quota_messenger(limit=1, period=60)
    c = clock_of(m)
    c.t = H15 + 59.999
    say(m, "alice", "#general", "last moment of 15:00")
    c.t = H15 + 60
    say(m, "alice", "#general", "first moment of 15:01")
    with pytest.raises(RateLimited) as e:
        say(m, "alice", "#general", "over")
    assert e.value.reset_at == H15 + 120


def test_quota_is_per_user_and_across_rooms() -> None:
    m = quota_messenger()
    room_for(m, "alice", room="#x")
    say(m, "alice", "#general", "1")
    say(m, "alice", "#x", "2")
    say(m, "alice", "#general", "3", kind="NOTICE")
    with pytest.raises(RateLimited):
        say(m, "alice", "#x", "4")
    say(m, "bob", "#general", "bob is not limited by alice")
    assert m.quota_left("bob") == (2, H16)


def test_quota_left_without_posts() -> None:
    m = quota_messenger(limit=20)
    assert m.quota_left("alice") == (20, H16)


def test_private_messages_do_not_count() -> None:
    m = quota_messenger()
    for i in range(3):
        say(m, "alice", "#general", f"m{i}")
    p = dm(m, "alice", "bob", "still fine")
    assert p.to == "bob"
    assert m.quota_left("alice") == (0, H16)


def test_quota_survives_snapshot_and_journal() -> None:
    m = quota_messenger()
    for i in range(3):
        say(m, "alice", "#general", f"m{i}")
    say(m, "bob", "#general", "b")
    events = m.take_events()
    for restored in (reloaded(m), replayed(events, m)):
        with pytest.raises(RateLimited) as e:
            say(restored, "alice", "#general", "after restart")
        assert e.value.reset_at == H16
        assert restored.quota_left("bob") == (2, H16)
        clock_of(restored).t = H16
        say(restored, "alice", "#general", "next window")
        clock_of(restored).t = T0


def test_snapshot_then_journal_tail_counts_each_post_once() -> None:
    m = quota_messenger()
    say(m, "alice", "#general", "1")
    m.take_events()
    snapshot = m.to_dict()
    say(m, "alice", "#general", "2")
    restored = Messenger.from_dict(snapshot, m.clock, m.rules)
    restored.replay(m.take_events())
    assert restored.quota_left("alice") == (1, H16)


def test_guest_quota_survives_a_reconnect() -> None:
    m = quota_messenger()
    guest(m, "dave")
    m.join("dave", "#general", "#general")
    for i in range(3):
        say(m, "dave", "#general", f"m{i}")
    m.disconnected("dave")
    guest(m, "dave")
    m.join("dave", "#general", "#general")
    with pytest.raises(RateLimited):
        say(m, "dave", "#general", "again")


# ---------------------------------------------------------------------- anti-flood


def test_private_flood_bucket_refills_with_time() -> None:
    m = make(private_burst=10, private_per_second=2.0)
    account(m, "alice")
    account(m, "bob")
    c = clock_of(m)
    for i in range(10):
        dm(m, "alice", "bob", f"d{i}")
    with pytest.raises(Flooding) as e:
        dm(m, "alice", "bob", "too fast")
    assert e.value.retry_after == pytest.approx(0.5)
    assert len(m.history("bob", "alice", private=True)) == 10  # the refused one is not stored
    dm(m, "bob", "alice", "bob has his own bucket")
    c.advance(0.5)
    dm(m, "alice", "bob", "one token back")
    with pytest.raises(Flooding):
        dm(m, "alice", "bob", "and gone again")
    c.advance(60)  # refills to the burst, not beyond
    for i in range(10):
        dm(m, "alice", "bob", f"e{i}")
    with pytest.raises(Flooding):
        dm(m, "alice", "bob", "burst is 10")


def test_flood_limit_does_not_touch_channel_posts() -> None:
    m = make(private_burst=1, private_per_second=0.1, messages_per_period=100)
    room_for(m, "alice", "bob")
    dm(m, "alice", "bob", "one")
    with pytest.raises(Flooding):
        dm(m, "alice", "bob", "two")
    for i in range(20):
        say(m, "alice", "#general", str(i))

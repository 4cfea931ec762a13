from __future__ import annotations

import pytest

from ircd.clock import FakeClock
from ircd.messenger import Messenger
from ircd.messenger.errors import (
    InvalidDuration,
    InvalidTarget,
    NoSuchUser,
    NotMember,
    TooManyScheduled,
    UnknownScheduled,
)
from ircd.messenger.model import BanEnded

from .helpers import (
    H16,
    T0,
    account,
    clock_of,
    fast_hash,
    guest,
    make,
    reloaded,
    replayed,
    say,
    sched,
    texts,
)


@pytest.fixture
def m() -> Messenger:
    m = make(messages_per_period=3, period_seconds=3600, max_delayed_per_user=3)
    for k in ("alice", "bob", "carol"):
        account(m, k)
        m.join(k, "#general", "#general")
    return m


def general(m: Messenger) -> list[str]:
    return texts(m.rooms["#general"].history)


def test_schedule_and_list(m: Messenger) -> None:
    a = sched(m, "alice", "#general", "later", 600)
    b = sched(m, "alice", "bob", "psst", 60, private=True)
    sched(m, "bob", "#general", "bob's", 30)
    assert (a, b) == (1, 2)
    item = m.scheduled[a]
    assert (item.owner, item.target, item.private, item.text, item.created, item.due) == (
        "alice",
        "#general",
        False,
        "later",
        T0,
        T0 + 600,
    )
    assert [s.id for s in m.list_scheduled("alice")] == [2, 1]  # by due time
    assert [s.id for s in m.list_scheduled("bob")] == [3]
    assert m.list_scheduled("carol") == []
    assert m.next_due() == T0 + 30


def test_cancel_only_by_the_owner(m: Messenger) -> None:
    a = sched(m, "alice", "#general", "later", 600)
    with pytest.raises(UnknownScheduled):
        m.cancel_scheduled("bob", a)
    with pytest.raises(UnknownScheduled):
        m.cancel_scheduled("alice", 99)
    assert m.cancel_scheduled("alice", a).text == "later"
    assert m.list_scheduled("alice") == []
    with pytest.raises(UnknownScheduled):
        m.cancel_scheduled("alice", a)
    assert sched(m, "alice", "#general", "again", 600) == 2  # ids are not reused
    assert m.next_due() == T0 + 600
    clock_of(m).advance(600)
    fired, _ = m.release_due()
    assert [f.item.id for f in fired] == [2]


def test_max_pending_per_user(m: Messenger) -> None:
    ids = [sched(m, "alice", "#general", str(i), 60 + i) for i in range(3)]
    with pytest.raises(TooManyScheduled) as e:
        sched(m, "alice", "#general", "one too many", 60)
    assert e.value.limit == 3
    sched(m, "bob", "#general", "others still can", 60)
    m.cancel_scheduled("alice", ids[0])
    sched(m, "alice", "#general", "room again", 60)


def test_horizon_and_past(m: Messenger) -> None:
    week = 7 * 86400
    sched(m, "alice", "#general", "exactly at the limit", week)
    for seconds in (week + 1, 0, -60, 0.5):
        with pytest.raises(InvalidDuration):
            sched(m, "alice", "#general", "x", seconds)
    sched(m, "alice", "#general", "one second", 1)
    assert len(m.list_scheduled("alice")) == 2


def test_bad_targets(m: Messenger) -> None:
    with pytest.raises(InvalidTarget):
        sched(m, "alice", "#nowhere", "x", 60)
    m.join("bob", "#x", "#x")
    with pytest.raises(NotMember):
        sched(m, "alice", "#x", "x", 60)
    with pytest.raises(NoSuchUser):
        sched(m, "alice", "nobody", "x", 60, private=True)
    assert m.scheduled == {}


def test_nothing_fires_before_due_and_due_exactly_fires(m: Messenger) -> None:
    sched(m, "alice", "#general", "hi", 60)
    c = clock_of(m)
    c.advance(59.999)
    assert m.release_due() == ([], [])
    c.t = T0 + 60
    fired, ended = m.release_due()
    assert ended == []
    assert [(f.outcome, f.late, f.item.id) for f in fired] == [("posted", False, 1)]
    post = fired[0].post
    assert post is not None
    assert (post.text, post.sender, post.room, post.time, post.seq) == (
        "hi",
        "alice",
        "#general",
        T0 + 60,  # the delivery time, not the scheduling time
        1,
    )
    assert m.scheduled == {} and m.next_due() is None
    assert general(m) == ["hi"]
    assert m.release_due() == ([], [])


def test_fires_in_due_order(m: Messenger) -> None:
    sched(m, "alice", "#general", "third", 120)
    sched(m, "bob", "#general", "first", 60)
    sched(m, "carol", "#general", "second", 60)  # same due: by id
    sched(m, "alice", "bob", "private, fourth", 180, private=True)
    clock_of(m).advance(600)
    fired, _ = m.release_due()
    assert [f.item.text for f in fired] == ["first", "second", "third", "private, fourth"]
    assert [f.post.seq for f in fired if f.post] == [1, 2, 3, 4]
    assert all(f.late for f in fired)  # more than 30 s after their due time
    assert general(m) == ["first", "second", "third"]
    assert texts(m.history("bob", "alice", private=True)) == ["private, fourth"]


def test_scheduled_posts_count_toward_the_quota(m: Messenger) -> None:
    for i in range(3):
        sched(m, "alice", "#general", str(i), 60)
    clock_of(m).advance(60)
    assert [f.outcome for f in m.release_due()[0]] == ["posted"] * 3
    assert m.quota_left("alice")[0] == 0


def test_a_full_quota_postpones_to_the_window_reset(m: Messenger) -> None:
    c = clock_of(m)
    sid = sched(m, "alice", "#general", "delayed", 600)  # due 15:30
    for i in range(3):
        say(m, "alice", "#general", f"live{i}")
    c.advance(600)
    fired, _ = m.release_due()
    assert [(f.outcome, f.post) for f in fired] == [("postponed", None)]
    assert fired[0].until == H16  # the adapter tells the owner this reset time
    assert m.scheduled[sid].due == H16
    assert [s.id for s in m.list_scheduled("alice")] == [sid]
    assert m.next_due() == H16
    c.t = H16 - 1
    assert m.release_due() == ([], [])
    c.t = H16
    fired, _ = m.release_due()
    assert [(f.outcome, f.late) for f in fired] == [("posted", False)]
    assert general(m) == ["live0", "live1", "live2", "delayed"]
    assert m.scheduled == {}


def test_postponed_items_keep_their_order_and_respect_the_next_window() -> None:
    m = make(messages_per_period=3, period_seconds=3600)
    account(m, "alice")
    m.join("alice", "#general", "#general")
    for i in range(5):
        sched(m, "alice", "#general", f"s{i}", 60)
    clock_of(m).advance(60)
    fired, _ = m.release_due()
    assert [f.outcome for f in fired] == ["posted"] * 3 + ["postponed"] * 2
    clock_of(m).t = H16
    fired, _ = m.release_due()
    assert [(f.outcome, f.item.text) for f in fired] == [("posted", "s3"), ("posted", "s4")]
    assert general(m) == ["s0", "s1", "s2", "s3", "s4"]


def test_private_scheduled_messages_ignore_the_quota(m: Messenger) -> None:
    for i in range(3):
        say(m, "alice", "#general", f"live{i}")
    sched(m, "alice", "bob", "private", 60, private=True)
    clock_of(m).advance(60)
    assert [f.outcome for f in m.release_due()[0]] == ["posted"]


def test_a_banned_owner_is_held_until_the_ban_ends(m: Messenger) -> None:
    sid = sched(m, "carol", "#general", "held", 60)
    m.ban("carol", 600, "test")
    c = clock_of(m)
    c.advance(60)
    fired, _ = m.release_due()
    assert [(f.outcome, f.post) for f in fired] == [("held", None)]
    assert m.scheduled[sid].due == T0 + 600
    assert m.next_due() == T0 + 600
    c.t = T0 + 600
    fired, ended = m.release_due()
    assert ended == [BanEnded("carol", "Carol")]
    assert [f.outcome for f in fired] == ["posted"]
    assert general(m) == ["held"]


def test_a_departed_member_is_dropped(m: Messenger) -> None:
    sid = sched(m, "alice", "#general", "gone", 60)
    m.part("alice", "#general")
    clock_of(m).advance(60)
    fired, _ = m.release_due()
    assert [f.outcome for f in fired] == ["dropped"]
    assert "no longer in the channel" in fired[0].reason
    assert sid not in m.scheduled
    assert general(m) == []


def test_a_vanished_private_recipient_is_dropped(m: Messenger) -> None:
    guest(m, "gus")
    sched(m, "alice", "gus", "for the guest", 60, private=True)
    m.disconnected("gus")
    clock_of(m).advance(60)
    fired, _ = m.release_due()
    assert [f.outcome for f in fired] == ["dropped"]
    assert "recipient is gone" in fired[0].reason


def test_cancel_at_the_exact_moment_it_falls_due(m: Messenger) -> None:
    sid = sched(m, "alice", "#general", "never", 60)
    clock_of(m).advance(60)
    m.cancel_scheduled("alice", sid)
    assert m.release_due() == ([], [])
    assert general(m) == [] and m.seq == 0


def test_cancel_after_it_fired_is_unknown(m: Messenger) -> None:
    sid = sched(m, "alice", "#general", "sent", 60)
    clock_of(m).advance(60)
    m.release_due()
    with pytest.raises(UnknownScheduled):
        m.cancel_scheduled("alice", sid)


def test_cancel_a_postponed_item(m: Messenger) -> None:
    sid = sched(m, "alice", "#general", "postponed", 60)
    for i in range(3):
        say(m, "alice", "#general", str(i))
    clock_of(m).advance(60)
    m.release_due()
    m.cancel_scheduled("alice", sid)
    clock_of(m).t = H16
    assert m.release_due() == ([], [])


def restarts(m: Messenger, later: float) -> list[Messenger]:
    """The two ways a restart rebuilds the engine, on a clock ``later`` seconds ahead."""
    events = m.take_events()
    clock = FakeClock(clock_of(m).t + later)
    return [reloaded(m, clock), replayed(events, m, FakeClock(clock.t))]


def test_schedules_survive_a_restart_and_fire_late(m: Messenger) -> None:
    sched(m, "alice", "#general", "second", 120)
    sched(m, "bob", "#general", "first", 60)
    cancelled = sched(m, "carol", "#general", "cancelled", 90)
    m.cancel_scheduled("carol", cancelled)
    for restored in restarts(m, 3600):
        assert [s.id for s in restored.list_scheduled("alice")] == [1]
        assert restored.next_due() == T0 + 60
        fired, _ = restored.release_due()
        assert [(f.item.text, f.outcome, f.late) for f in fired] == [
            ("first", "posted", True),
            ("second", "posted", True),
        ]
        assert general(restored) == ["first", "second"]
        assert sched(restored, "alice", "#general", "new", 60) == 4  # the counter is restored


def test_schedules_after_a_short_restart_are_not_late(m: Messenger) -> None:
    sched(m, "alice", "#general", "on time", 60)
    for restored in restarts(m, 70):
        fired, _ = restored.release_due()
        assert [(f.outcome, f.late) for f in fired] == [("posted", False)]


def test_postponed_and_held_items_survive_a_restart(m: Messenger) -> None:
    sched(m, "alice", "#general", "postponed", 60)
    sched(m, "carol", "#general", "held", 60)
    for i in range(3):
        say(m, "alice", "#general", str(i))
    m.ban("carol", 7200, "test")
    clock_of(m).advance(60)
    assert [f.outcome for f in m.release_due()[0]] == ["postponed", "held"]
    for restored in restarts(m, 0):
        assert restored.scheduled[1].due == H16
        assert restored.scheduled[2].due == T0 + 7200
        clock_of(restored).t = H16
        assert [f.item.text for f in restored.release_due()[0]] == ["postponed"]
        clock_of(restored).t = T0 + 7200
        assert [f.item.text for f in restored.release_due()[0]] == ["held"]


def test_guest_schedules_stay_with_a_renamed_guest() -> None:
    m = make()
    guest(m, "gus")
    m.join("gus", "#general", "#general")
    sid = sched(m, "gus", "#general", "from gus", 60)
    m.rename_guest("gus", "Gustav", "~gustav")
    assert [s.id for s in m.list_scheduled("gus")] == [sid]
    clock_of(m).advance(60)
    fired, _ = m.release_due()
    assert [f.outcome for f in fired] == ["posted"]


def test_guest_schedules_vanish_with_the_guest() -> None:
    m = make()
    account(m, "alice")
    guest(m, "gus")
    sched(m, "gus", "alice", "from a guest", 60, private=True)
    m.disconnected("gus")
    guest(m, "gus")  # somebody else takes the nick
    assert m.list_scheduled("gus") == []
    clock_of(m).advance(60)
    assert m.release_due() == ([], [])


def test_guest_schedules_are_not_durable_until_the_guest_registers() -> None:
    m = make()
    guest(m, "gus")
    m.join("gus", "#general", "#general")
    events = m.take_events()
    sid = sched(m, "gus", "#general", "from a guest", 60)
    assert m.take_events() == []
    assert m.to_dict()["scheduled"] == []
    m.register("gus", "gus", "Gus", fast_hash("pw"))
    tail = m.take_events()
    assert [e["item"]["id"] for e in tail if e["t"] == "sched"] == [sid]
    events += tail
    for restored in (reloaded(m), replayed(events, m)):
        assert [s.text for s in restored.list_scheduled("gus")] == ["from a guest"]


def test_lifting_a_ban_releases_held_items(m: Messenger) -> None:
    sched(m, "carol", "#general", "held", 60)
    sched(m, "carol", "#general", "later", 7200)
    m.ban("carol", 3600, "test")
    c = clock_of(m)
    c.advance(60)
    assert [f.outcome for f in m.release_due()[0]] == ["held"]
    c.advance(60)
    assert m.lift_ban("carol")
    assert m.next_due() == c.t
    fired, ended = m.release_due()
    assert [(f.item.text, f.outcome) for f in fired] == [("held", "posted")]
    assert ended == []
    assert [s.text for s in m.list_scheduled("carol")] == ["later"]
    for restored in restarts(m, 0):
        assert [s.text for s in restored.list_scheduled("carol")] == ["later"]

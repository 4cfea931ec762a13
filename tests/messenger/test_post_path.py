"""One posting path (Messenger._post): a live post and a scheduled post that falls due pass the
same checks, and what differs is stated: a scheduled private post is not flood-checked (its
owner is not typing now), its errors name the target as the owner wrote it, and a room that
is gone counts as one the owner is no longer in."""

from __future__ import annotations

import pytest

from ircd.messenger.errors import Flooding, NoSuchRoom, NoSuchUser, NotMember, RateLimited

from .helpers import account, clock_of, dm, guest, make, say, sched, texts


def test_live_private_posts_are_flood_checked_scheduled_ones_are_not() -> None:
    m = make(private_burst=2, private_per_second=0.001, max_delayed_per_user=5)
    account(m, "alice")
    account(m, "bob")
    for i in range(4):
        sched(m, "alice", "bob", f"later {i}", 60, private=True)
    dm(m, "alice", "bob", "one")
    dm(m, "alice", "bob", "two")
    with pytest.raises(Flooding):
        dm(m, "alice", "bob", "three")
    clock_of(m).advance(60)
    fired, _ = m.release_due()
    assert [f.outcome for f in fired] == ["posted"] * 4
    assert texts(m.dms["alice\tbob"])[-4:] == [f"later {i}" for i in range(4)]


def test_a_guests_scheduled_channel_posts_count_in_its_nicks_window() -> None:
    m = make(messages_per_period=2)
    m.attach_guest("gus!1", "Gus", quota_key="~gus")
    m.connected("gus!1")
    m.join("gus!1", "#general", "#general")
    say(m, "gus!1", "#general", "live")
    sched(m, "gus!1", "#general", "due one", 60)
    sched(m, "gus!1", "#general", "due two", 60)
    clock_of(m).advance(60)
    fired, _ = m.release_due()
    assert [f.outcome for f in fired] == ["posted", "postponed"]
    assert m.windows["~gus"][1] == 2 and "gus!1" not in m.windows
    with pytest.raises(RateLimited):
        say(m, "gus!1", "#general", "live again")


def test_errors_name_the_target_live_by_key_scheduled_as_written() -> None:
    m = make()
    account(m, "alice")
    guest(m, "gus!1")
    m.join("alice", "#Room", "#Room")
    m.join("gus!1", "#Room", "#Room")
    m.join("gus!1", "#gus", "#Gus")
    with pytest.raises(NotMember, match="#gus"):
        say(m, "alice", "#gus", "hi")  # not joined there
    item = m.schedule("alice", "Alice", "a!u@h", "gus!1", "Gus", True, "hi", m.clock.now() + 60)
    m.disconnected("gus!1")
    with pytest.raises(NoSuchUser, match="gus!1"):
        dm(m, "alice", "gus!1", "hi")
    with pytest.raises(NoSuchRoom):
        say(m, "alice", "#nowhere", "hi")
    m.part("alice", "#Room")  # the room goes with its last member
    assert "#Room" not in m.rooms
    clock_of(m).advance(60)
    fired, _ = m.release_due()
    assert [(f.item.id, f.outcome) for f in fired] == [(item.id, "dropped")]
    assert fired[0].reason == "recipient is gone (Gus)"


def test_a_scheduled_post_to_a_room_that_is_gone_is_dropped() -> None:
    m = make()
    account(m, "alice")
    m.join("alice", "#tmp", "#Tmp")
    sched(m, "alice", "#tmp", "later", 60)
    m.part("alice", "#tmp")
    assert "#tmp" not in m.rooms
    clock_of(m).advance(60)
    fired, _ = m.release_due()
    assert [f.outcome for f in fired] == ["dropped"]
    assert fired[0].reason == "you are no longer in the channel (#tmp)"

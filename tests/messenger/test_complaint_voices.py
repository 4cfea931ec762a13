"""Complaints that cannot be gamed (engine tier, fake clock): accounts created in a burst from
one address are one voice, server operators are not muted by complaints, and all of it is the
same after a restart."""

from __future__ import annotations

from typing import Any

import pytest

from ircd.messenger import Messenger

from .helpers import (
    T0,
    account,
    clock_of,
    durable,
    fast_hash,
    guest,
    make,
    reloaded,
    replayed,
)

DAY = 86400


def engine(**rules: Any) -> Messenger:
    m = make(complaints_to_ban=3, ban_seconds=4 * 3600, accounts_per_address=0, **rules)
    account(m, "carol")  # the target, created long ago (no address recorded)
    return m


def new_account(m: Messenger, key: str, address: str) -> None:
    m.create_account(key, key.capitalize(), fast_hash("pw"), address=address)
    m.connected(key, address)


def test_three_new_accounts_from_one_address_are_one_voice() -> None:
    m = engine()
    for k in ("sock1", "sock2", "sock3"):
        new_account(m, k, "203.0.113.7")
    r1 = m.complain("sock1", "carol")
    assert (r1.count, r1.needed, r1.together, r1.banned) == (1, 3, 0, None)
    r2 = m.complain("sock2", "carol")
    assert (r2.count, r2.together, r2.banned) == (1, 1, None)
    r3 = m.complain("sock3", "carol")
    assert (r3.count, r3.together, r3.banned) == (1, 2, None)
    assert m.ban_of("carol") is None
    assert len(m.complaints["carol"]) == 3  # all kept, for the operators to see
    assert m.complaint_count("carol") == 1


def test_independent_voices_still_mute() -> None:
    m = engine()
    for k in ("sock1", "sock2"):
        new_account(m, k, "203.0.113.7")
    new_account(m, "ann", "198.51.100.1")  # new, but from elsewhere
    account(m, "old")  # an account without a recorded address (older than the feature)
    assert m.complain("sock1", "carol").count == 1
    assert m.complain("sock2", "carol").count == 1
    assert m.complain("ann", "carol").count == 2
    r = m.complain("old", "carol")
    assert r.count == 3 and r.banned is not None
    assert r.banned.reason == "3 complaints"


def test_accounts_older_than_the_age_each_count() -> None:
    m = engine(complaint_min_account_age=DAY)
    for k in ("ann", "ben", "cid"):
        new_account(m, k, "127.0.0.1")
    clock_of(m).advance(DAY)  # exactly the age: no longer young
    assert [m.complain(k, "carol").count for k in ("ann", "ben")] == [1, 2]
    r = m.complain("cid", "carol")
    assert r.count == 3 and r.together == 0 and r.banned is not None


def test_an_old_account_and_new_ones_from_its_address() -> None:
    """The old account is a voice of its own; the new ones from its address are one more."""
    m = engine()
    new_account(m, "home", "192.0.2.5")
    clock_of(m).advance(2 * DAY)
    new_account(m, "kid1", "192.0.2.5")
    new_account(m, "kid2", "192.0.2.5")
    assert [m.complain(k, "carol").count for k in ("home", "kid1", "kid2")] == [1, 2, 2]
    assert m.ban_of("carol") is None


def test_youth_is_judged_when_the_complaint_is_made() -> None:
    """Complaints made by new accounts stay one voice after the accounts age (what the
    complainers were told stays true); a later independent voice adds one."""
    m = engine()
    for k in ("s1", "s2"):
        new_account(m, k, "203.0.113.7")
        m.complain(k, "carol")
    clock_of(m).advance(30 * DAY)
    new_account(m, "s3", "203.0.113.7")
    clock_of(m).advance(2 * DAY)  # s3 is old now: it counts on its own
    r = m.complain("s3", "carol")
    assert (r.count, r.together, r.banned) == (2, 0, None)


def test_the_rule_can_be_turned_off() -> None:
    for rules in ({"complaint_min_account_age": 0}, {"same_address_counts_once": False}):
        m = engine(**rules)
        for k in ("ann", "ben", "cid"):
            new_account(m, k, "127.0.0.1")
        counts = [m.complain(k, "carol").count for k in ("ann", "ben", "cid")]
        assert counts == [1, 2, 3], rules
        assert m.ban_of("carol") is not None


def test_guests_from_one_address_are_one_voice_even_after_they_leave() -> None:
    m = engine(complaints_require_account=False)
    for i in range(3):
        key = f"~guest{i}"
        m.attach_guest(key, f"G{i}", address="203.0.113.9")
        m.connected(key, "203.0.113.9")
        r = m.complain(key, "carol")
        assert (r.count, r.together) == (1, i)
        m.disconnected(key)  # and reconnects as another guest
    assert m.ban_of("carol") is None


def test_a_server_operator_is_not_muted_by_complaints() -> None:
    m = engine(complaint_min_account_age=0)
    for k in ("ann", "ben", "cid"):
        account(m, k)
    results = [m.complain(k, "carol", "abuse", target_is_operator=True) for k in ("ann", "ben")]
    r = m.complain("cid", "carol", target_is_operator=True)
    assert all(x.immune and x.banned is None for x in (*results, r))
    assert r.count == 3
    assert m.ban_of("carol") is None
    assert set(m.complaints["carol"]) == {"ann", "ben", "cid"}  # recorded nonetheless


def test_operators_can_be_made_mutable() -> None:
    m = engine(complaint_min_account_age=0, operators_immune=False)
    for k in ("ann", "ben", "cid"):
        account(m, k)
    rs = [m.complain(k, "carol", target_is_operator=True) for k in ("ann", "ben", "cid")]
    assert not any(r.immune for r in rs)
    assert rs[-1].banned is not None


def test_oper_is_recorded_for_accounts_only_once_and_durably() -> None:
    m = engine()
    m.take_events()
    m.record_oper("carol", "root")
    m.record_oper("carol", "root")  # again: nothing new
    assert [e["t"] for e in m.take_events()] == ["oper"]
    guest(m, "gus")
    m.take_events()
    m.record_oper("gus", "root")  # a guest's connection is what counts (the adapter knows)
    assert m.take_events() == [] and m.user("gus").oper == ""
    m.record_oper("nobody", "root")
    assert m.take_events() == []
    m.record_oper("carol", "admin")
    assert m.user("carol").oper == "admin"


def test_voices_and_operator_records_survive_a_restart() -> None:
    m = engine()
    m.take_events()
    journal: list[dict[str, Any]] = []
    snapshot = m.to_dict()
    for k in ("sock1", "sock2"):
        new_account(m, k, "203.0.113.7")
    account(m, "ann")
    m.complain("sock1", "carol")
    m.complain("sock2", "carol")
    m.complain("sock1", "ann")  # a group of one
    m.record_oper("ann", "root")
    journal += m.take_events()
    assert durable(reloaded(m)) == durable(m)
    from_journal = Messenger.from_dict(snapshot, clock_of(m), m.rules)
    from_journal.replay(journal)
    assert durable(from_journal) == durable(m)
    for restored in (reloaded(m), from_journal):
        assert restored.complaint_count("carol") == 1
        assert restored.user("ann").oper == "root"
        # the third new account from that address still adds nothing
        new_account(restored, "sock3", "203.0.113.7")
        assert restored.complain("sock3", "carol").count == 1


def test_a_mute_clears_the_complaints_and_their_voices() -> None:
    m = engine()
    new_account(m, "sock1", "203.0.113.7")
    m.complain("sock1", "carol")
    m.ban("carol", 60, "by an operator")
    assert "carol" not in m.complaints and "carol" not in m.complaint_groups
    clock_of(m).advance(61)
    m.release_due()
    assert m.complain("sock1", "carol").count == 1  # may complain afresh
    assert (
        durable(replayed(m.take_events(), m))["complaint_groups"] == durable(m)["complaint_groups"]
    )


def test_snapshot_writes_only_voices_of_open_complaints() -> None:
    m = engine()
    new_account(m, "sock1", "203.0.113.7")
    m.complain("sock1", "carol")
    assert m.to_dict()["complaint_groups"] == {"carol": {"sock1": "203.0.113.7"}}
    m.ban("carol", 60, "x")
    assert m.to_dict()["complaint_groups"] == {}


@pytest.mark.parametrize("age", [0, 1, DAY])
def test_created_just_now_is_young_unless_the_age_is_zero(age: int) -> None:
    m = engine(complaint_min_account_age=age)
    for k in ("a1", "a2"):
        new_account(m, k, "10.1.1.1")
    assert clock_of(m).now() == T0
    assert [m.complain(k, "carol").count for k in ("a1", "a2")] == ([1, 2] if age == 0 else [1, 1])

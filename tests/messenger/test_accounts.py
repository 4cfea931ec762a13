from __future__ import annotations

import pytest

from ircd.messenger.errors import (
    AccountExists,
    AccountRequired,
    NameTaken,
    NoSuchAccount,
    NoSuchUser,
    TooManyAccounts,
)
from ircd.messenger.passwords import verify_password

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
)


def test_create_account_stores_the_given_hash() -> None:
    m = make()
    u = m.create_account("alice", "Alice", fast_hash("s3cret"), "10.0.0.1")
    assert (u.key, u.name, u.created, u.is_account, u.address) == (
        "alice",
        "Alice",
        T0,
        True,
        "10.0.0.1",
    )
    assert u.password_hash is not None and verify_password("s3cret", u.password_hash)
    assert m.account("alice") is u and m.user("alice") is u
    events = m.take_events()
    assert [e["t"] for e in events] == ["acct"]
    assert events[0]["ip"] == "10.0.0.1"
    assert reloaded(m).account("alice").address == "10.0.0.1"


def test_create_account_twice_fails() -> None:
    m = make()
    m.create_account("alice", "Alice", fast_hash("s3cret"))
    with pytest.raises(AccountExists):
        m.create_account("alice", "ALICE", fast_hash("other"))
    assert verify_password("s3cret", m.account("alice").password_hash or "")


def test_auto_register_off_refuses_unknown_names() -> None:
    m = make(auto_register=False)
    with pytest.raises(NoSuchAccount):
        m.create_account("alice", "Alice", fast_hash("pw"), auto=True)
    assert m.user("alice") is None
    assert m.take_events() == []
    m.register("alice", "alice", "Alice", fast_hash("pw"))  # explicit registration works
    assert m.account("alice") is not None


def test_accounts_per_address_are_limited_per_window() -> None:
    m = make(accounts_per_address=2, accounts_window_seconds=3600)
    m.create_account("a", "A", fast_hash("pw"), "10.0.0.9")
    clock_of(m).advance(100)
    m.create_account("b", "B", fast_hash("pw"), "10.0.0.9")
    with pytest.raises(TooManyAccounts) as e:
        m.create_account("c", "C", fast_hash("pw"), "10.0.0.9")
    assert e.value.retry_at == T0 + 3600
    m.create_account("c", "C", fast_hash("pw"), "10.0.0.10")  # another address
    with pytest.raises(TooManyAccounts):
        m.register("d", "d", "D", fast_hash("pw"), "10.0.0.9")
    # the limit is derived from the accounts, so it survives a restart
    assert reloaded(m).new_account_blocked("10.0.0.9") == T0 + 3600
    clock_of(m).advance(3500)
    m.create_account("d", "D", fast_hash("pw"), "10.0.0.9")


def test_create_account_over_a_guest_key_is_name_taken() -> None:
    m = make()
    guest(m, "dave")
    with pytest.raises(NameTaken):
        m.create_account("dave", "Dave", fast_hash("pw"))
    assert m.user("dave") is not None and not m.user("dave").is_account


def test_attach_guest() -> None:
    m = make()
    u = m.attach_guest("dave", "Dave")
    assert (u.key, u.name, u.is_account, u.created) == ("dave", "Dave", False, T0)
    assert m.account("dave") is None
    assert m.take_events() == []  # guests are not durable


def test_attach_guest_refuses_a_registered_name() -> None:
    m = make()
    account(m, "alice", online=False)
    with pytest.raises(NameTaken):
        m.attach_guest("alice", "Alice")
    assert m.user("alice").is_account


def test_attach_guest_refused_when_guests_are_not_allowed() -> None:
    m = make(allow_guests=False)
    with pytest.raises(AccountRequired):
        m.attach_guest("dave", "Dave")
    assert m.user("dave") is None


def test_guest_vanishes_on_disconnect() -> None:
    m = make()
    account(m, "alice")
    guest(m, "dave")
    m.join("dave", "#x", "#x")  # first joiner: op
    m.join("alice", "#x", "#x")
    m.join("dave", "#general", "#general")
    say(m, "dave", "#x", "hi")
    assert m.rooms["#x"].ops == {"dave"}
    assert m.user("dave").rooms.keys() == {"#x", "#general"}
    m.disconnected("dave")
    assert m.user("dave") is None
    assert "dave" not in m.online
    assert m.rooms["#x"].members == {"alice"}
    assert m.rooms["#x"].ops == set()
    assert "dave" not in m.rooms["#general"].members
    # what they said stays in the history
    assert [p.sender for p in m.rooms["#x"].history] == ["dave"]


def test_guests_are_not_in_the_snapshot() -> None:
    m = make()
    account(m, "alice")
    guest(m, "dave")
    m.join("dave", "#general", "#general")
    m.join("alice", "#general", "#general")
    d = m.to_dict()
    assert [u["key"] for u in d["users"]] == ["alice"]
    general = next(r for r in d["rooms"] if r["key"] == "#general")
    assert general["members"] == ["alice"]
    restored = reloaded(m)
    assert restored.user("dave") is None
    assert restored.rooms["#general"].members == {"alice"}


def test_account_survives_disconnect() -> None:
    m = make()
    account(m, "alice")
    m.join("alice", "#x", "#x")
    m.disconnected("alice")
    assert "alice" not in m.online
    assert m.user("alice") is not None
    assert m.rooms["#x"].members == {"alice"}
    assert m.rooms["#x"].ops == {"alice"}


def test_register_turns_a_guest_into_an_account_keeping_memberships() -> None:
    m = make()
    account(m, "alice")
    guest(m, "dave")
    m.join("dave", "#x", "#x")
    m.join("alice", "#x", "#x")
    m.join("dave", "#general", "#general")
    m.set_setting("dave", "backlog", "off")
    m.take_events()
    u = m.register("dave", "dave", "Dave", fast_hash("pw"))
    assert u.is_account and m.account("dave") is u
    assert u.rooms.keys() == {"#x", "#general"}
    assert m.rooms["#x"].ops == {"dave"}
    assert m.setting("dave", "backlog", "on") == "off"
    # all of it is durable now
    events = m.take_events()
    assert [e["t"] for e in events][:1] == ["acct"]
    assert {e["r"] for e in events if e["t"] == "join"} == {"#x", "#general"}
    m.disconnected("dave")
    assert m.user("dave") is u
    assert "dave" in m.rooms["#x"].members
    restored = reloaded(m)
    assert restored.user("dave").rooms.keys() == {"#x", "#general"}
    assert restored.rooms["#x"].ops == {"dave"}
    assert restored.setting("dave", "backlog", "on") == "off"
    assert verify_password("pw", restored.account("dave").password_hash or "")


def test_register_an_existing_account_fails() -> None:
    m = make()
    account(m, "alice")
    with pytest.raises(AccountExists):
        m.register("alice", "alice", "Alice", fast_hash("other"))
    assert verify_password("pw", m.account("alice").password_hash or "")  # unchanged


def test_register_keeps_the_guests_conversation_visible() -> None:
    m = make()
    account(m, "alice")
    guest(m, "dave")
    dm(m, "alice", "dave", "hello guest")
    m.register("dave", "dave", "Dave", fast_hash("pw"))
    assert [p.text for p in m.history("dave", "alice", private=True)] == ["hello guest"]


def test_register_snapshot_and_journal_agree() -> None:
    m = make()
    guest(m, "dave")
    account(m, "alice")  # created after the guest appeared
    m.join("dave", "#x", "#x")
    m.register("dave", "dave", "Dave", fast_hash("pw"))
    m.disconnected("dave")
    assert durable(reloaded(m)) == durable(m)
    assert durable(replayed(m.take_events(), m)) == durable(m)


def test_rename_guest_keeps_its_key_and_moves_its_quota_to_the_new_nick() -> None:
    m = make(messages_per_period=2)
    account(m, "alice")
    m.attach_guest("g1", "Dave", quota_key="~dave")
    m.connected("g1", "10.0.0.5")
    m.join("g1", "#general", "#general")
    say(m, "g1", "#general", "1")
    m.ban("g1", 600, "test")
    m.rename_guest("g1", "Dan", "~dan")
    assert m.user("g1").name == "Dan" and "g1" in m.rooms["#general"].members
    assert m.ban_of("g1") is not None
    assert m.quota_left("g1")[0] == 1
    assert "~dave" not in m.windows and m.windows["~dan"][1] == 1
    # the window follows the nick: a later guest called Dan has what is left
    m.disconnected("g1")
    m.attach_guest("g2", "Dan", quota_key="~dan", address="10.0.0.6")
    assert m.quota_left("g2")[0] == 1
    assert m.ban_of("g2") is None  # another address: another person
    with pytest.raises(NoSuchUser):
        m.rename_guest("alice", "Al", "~al")


def test_a_guest_mute_goes_with_its_address_not_its_nick() -> None:
    m = make()
    m.attach_guest("g1", "Spam", address="10.0.0.5", quota_key="~spam")
    m.connected("g1", "10.0.0.5")
    ban = m.ban("g1", 600, "complaints")
    assert (ban.name, ban.ip) == ("Spam", "10.0.0.5")
    m.disconnected("g1")
    # the same address under another nick: still muted
    m.attach_guest("g2", "Ham", address="10.0.0.5", quota_key="~ham")
    assert m.ban_of("g2") == ban
    # the nick from another address: someone else, not muted
    m.attach_guest("g3", "Spam", address="10.0.0.7", quota_key="~spam")
    assert m.ban_of("g3") is None
    # accounts are not muted for their address
    account(m, "alice")
    assert m.ban_of("alice") is None
    # across a restart too, and lifting it frees the address
    assert reloaded(m).ban_of("g1") is not None
    m.lift_ban("g1")
    assert m.ban_of("g2") is None


def test_a_guest_registering_keeps_its_mute_and_quota() -> None:
    m = make(messages_per_period=3)
    m.attach_guest("g1", "Dave", address="10.0.0.5", quota_key="~dave")
    m.connected("g1", "10.0.0.5")
    m.join("g1", "#general", "#general")
    say(m, "g1", "#general", "1")
    m.ban("g1", 600, "x")
    u = m.register("g1", "dave", "Dave", fast_hash("pw"), "10.0.0.5")
    assert m.user("g1") is None and u.key == "dave" and "dave" in m.online
    assert m.ban_of("dave") is not None
    assert m.quota_left("dave")[0] == 2
    assert "dave" in m.rooms["#general"].members and "g1" not in m.rooms["#general"].members
    assert durable(reloaded(m)) == durable(m)
    assert durable(replayed(m.take_events(), m)) == durable(m)


def test_account_created_later_does_not_inherit_an_old_guests_private_messages() -> None:
    m = make()
    account(m, "alice")
    guest(m, "carol")
    dm(m, "alice", "carol", "secret for the guest")
    dm(m, "carol", "alice", "secret from the guest")
    m.disconnected("carol")
    clock_of(m).advance(60)
    # another person takes the nick, first as a guest, then as an account
    guest(m, "carol")
    assert list(m.history("carol", "alice", private=True)) == []
    assert m.conversations("carol") == []
    m.disconnected("carol")
    account(m, "carol")
    assert list(m.history("carol", "alice", private=True)) == []
    assert m.unread("carol").total == 0
    assert all(not private for _, private, _ in m.conversations("carol"))
    # alice still has the whole conversation, and a new one is visible to both
    assert len(m.history("alice", "carol", private=True)) == 2
    dm(m, "alice", "carol", "welcome")
    assert [p.text for p in m.history("carol", "alice", private=True)] == ["welcome"]
    assert [p.text for p in reloaded(m).history("carol", "alice", private=True)] == ["welcome"]


def test_renamed_guest_does_not_see_the_previous_holders_private_messages() -> None:
    m = make()
    account(m, "alice")
    guest(m, "carol")
    guest(m, "dave")
    dm(m, "alice", "dave", "for the first dave")
    m.disconnected("dave")
    m.rename_guest("carol", "Dave", "~dave")  # carol keeps her own key under the new nick
    assert list(m.history("carol", "alice", private=True)) == []
    assert m.conversations("carol") == []

from __future__ import annotations

import pytest

from ircd.messenger.errors import (
    AccountExists,
    AccountRequired,
    BadPassword,
    NameTaken,
    NoSuchAccount,
)
from ircd.messenger.passwords import verify_password

from .helpers import T0, account, clock_of, dm, durable, guest, make, reloaded, replayed, say


def test_login_creates_account_with_auto_register() -> None:
    m = make()
    u, created = m.login("alice", "Alice", "s3cret")
    assert created is True
    assert (u.key, u.name, u.created, u.is_account) == ("alice", "Alice", T0, True)
    assert u.password_hash is not None and u.password_hash != "s3cret"
    assert verify_password("s3cret", u.password_hash)
    assert m.account("alice") is u and m.user("alice") is u
    assert [e["t"] for e in m.take_events()] == ["acct"]


def test_second_login_with_the_right_password() -> None:
    m = make()
    u, _ = m.login("alice", "Alice", "s3cret")
    m.take_events()
    again, created = m.login("alice", "ALICE", "s3cret")
    assert again is u and created is False
    assert again.name == "Alice"  # the registered spelling stays
    assert m.take_events() == []


def test_wrong_password_raises_bad_password() -> None:
    m = make()
    m.login("alice", "Alice", "s3cret")
    for wrong in ("S3cret", "", "s3cret "):
        with pytest.raises(BadPassword):
            m.login("alice", "Alice", wrong)


@pytest.mark.real_hash
def test_login_with_production_hashing() -> None:
    m = make()
    u, _ = m.login("alice", "Alice", "s3cret")
    assert u.password_hash is not None and u.password_hash.startswith("scrypt$16384$8$1$")
    assert m.login("alice", "Alice", "s3cret")[1] is False
    with pytest.raises(BadPassword):
        m.login("alice", "Alice", "nope")


def test_auto_register_off_refuses_unknown_names() -> None:
    m = make(auto_register=False)
    with pytest.raises(NoSuchAccount):
        m.login("alice", "Alice", "pw")
    assert m.user("alice") is None
    assert m.take_events() == []
    m.register("alice", "Alice", "pw")  # explicit registration still works
    assert m.login("alice", "Alice", "pw")[1] is False


def test_login_over_an_online_guest_is_name_taken() -> None:
    m = make()
    guest(m, "dave")
    with pytest.raises(NameTaken):
        m.login("dave", "Dave", "pw")
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
    u = m.register("dave", "Dave", "pw")
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
    assert m.login("dave", "Dave", "pw")[1] is False


def test_register_an_existing_account_fails() -> None:
    m = make()
    account(m, "alice")
    with pytest.raises(AccountExists):
        m.register("alice", "Alice", "other")
    m.login("alice", "Alice", "pw")  # password unchanged


def test_register_keeps_the_guests_conversation_visible() -> None:
    m = make()
    account(m, "alice")
    guest(m, "dave")
    dm(m, "alice", "dave", "hello guest")
    m.register("dave", "Dave", "pw")
    assert [p.text for p in m.history("dave", "alice", private=True)] == ["hello guest"]


def test_register_snapshot_and_journal_agree() -> None:
    m = make()
    guest(m, "dave")
    account(m, "alice")  # created after the guest appeared
    m.join("dave", "#x", "#x")
    m.register("dave", "Dave", "pw")
    m.disconnected("dave")
    assert durable(reloaded(m)) == durable(m)
    assert durable(replayed(m.take_events(), m)) == durable(m)


def test_rename_guest_carries_quota_and_ban() -> None:
    m = make(messages_per_period=2)
    account(m, "alice")
    guest(m, "dave")
    m.join("dave", "#general", "#general")
    say(m, "dave", "#general", "1")
    m.ban("dave", 600, "test")
    m.rename_guest("dave", "dan", "Dan")
    assert m.user("dave") is None
    assert m.user("dan").name == "Dan"
    assert "dan" in m.rooms["#general"].members and "dave" not in m.rooms["#general"].members
    assert "dan" in m.online
    assert m.ban_of("dan") is not None and m.ban_of("dave") is None
    assert m.quota_left("dan")[0] == 1
    with pytest.raises(NameTaken):
        m.rename_guest("dan", "alice", "Alice")


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
    m.rename_guest("carol", "dave", "Dave")
    assert list(m.history("dave", "alice", private=True)) == []

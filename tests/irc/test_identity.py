"""Identity (issue 9 §2): nobody takes a nick another connection holds, a guest's private
messages, scheduled messages and mute belong to that guest's presence (and address), not to
the nick string. Adapter tier: lines in, lines out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ircd.durable import Pending
from ircd.irc.commands import registration
from tests.messenger.helpers import fast_hash

from .harness import Harness, cmds, one, only
from .operators import oper_up, with_operator

REG = "draft/account-registration"


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Accounts hash with tiny scrypt parameters (verification reads them from the hash)."""
    monkeypatch.setattr(registration, "hash_password", fast_hash)


def notices(msgs: list[object]) -> list[str]:
    return [m.params[-1] for m in msgs if m.command == "NOTICE"]  # type: ignore[attr-defined]


# ------------------------------------------------------------------ REGISTER and held nicks


def test_register_before_connect_cannot_take_an_online_guests_nick() -> None:
    """ircv3 account-registration: REGISTER before connection registration; the nick is held
    by a connected guest, so it is not ours to register (FAIL to a client with the cap)."""
    h = Harness()
    bob = h.user("bob")
    thief = h.connect()
    out = thief.send_take("CAP LS 302", f"CAP REQ :{REG}", "NICK bob", "REGISTER bob * stolenpw")
    fail = one(out, "FAIL")
    assert fail.params[:3] == ("REGISTER", "BAD_ACCOUNT_NAME", "bob")
    assert "in use by another connection" in fail.params[-1]
    assert h.messenger.account("bob") is None
    # and registration then finds the nick taken: the guest keeps it and its connection
    out = thief.send_take("USER t 0 * :t", "CAP END")
    assert "433" in cmds(out) and not thief.session.registered
    assert h.hub.session_by_nick("bob") is bob.session and bob.session.closing is None


def test_register_of_a_held_nick_without_the_cap_is_a_notice() -> None:
    h = Harness()
    h.user("bob")
    thief = h.connect()
    out = thief.send_take("NICK bob", "REGISTER bob * stolenpw")
    assert "FAIL" not in cmds(out)
    assert any("in use by another connection" in t for t in notices(out))
    assert h.messenger.account("bob") is None


def test_register_after_connect_is_fine_for_the_holder_itself() -> None:
    h = Harness()
    bob = h.user("bob", REG)
    out = bob.send_take("REGISTER * * bobs-pw")
    assert one(out, "REGISTER").params[:2] == ("SUCCESS", "bob")
    assert bob.session.account == "bob" and bob.session.user_key == "bob"
    assert h.hub.by_user["bob"] is bob.session


def test_a_login_in_flight_holds_the_nick() -> None:
    """While a new account's password is hashed off the loop, nobody else gets the nick."""
    h = Harness()
    queued: list[tuple[Callable[[], Any], Pending[Any]]] = []

    def offload(work: Callable[[], Any]) -> Pending[Any]:
        queued.append((work, Pending()))
        return queued[-1][1]

    h.hub.offload = offload
    a = h.connect()
    a.send("PASS first-pw", "NICK carol", "USER c 0 * :c")
    assert len(queued) == 1 and not a.session.registered
    b = h.connect()
    out = b.send_take("NICK carol", "USER c 0 * :c")
    assert "433" in cmds(out) and not b.session.registered
    c = h.connect()
    out = c.send_take("CAP LS 302", f"CAP REQ :{REG}", "NICK carol", "REGISTER * * other-pw")
    assert one(out, "FAIL").params[1] == "BAD_ACCOUNT_NAME"
    work, pending = queued.pop()
    pending.resolve(work())
    assert a.session.registered and a.session.account == "carol"


# ------------------------------------------------------------------ a guest's private history


def test_an_account_created_later_under_a_guests_nick_reads_nothing_of_the_guest() -> None:
    h = Harness()
    alice = h.user("alice", password="alice-pw")
    guest = h.user("bob")
    alice.send("PRIVMSG bob :a secret for the guest bob")
    guest.send("PRIVMSG alice :a secret from the guest bob")
    guest.quit()
    h.drain(alice)
    # another person creates the account bob
    other = h.connect()
    out = other.register("bob", "draft/chathistory batch server-time", password="bob-pw")
    assert not any("secret" in m.params[-1] for m in out)
    out = other.send_take("CHATHISTORY LATEST alice * 50", "UNREAD")
    assert not any("secret" in m.params[-1] for m in out)
    assert not any(m.command == "PRIVMSG" for m in out)
    # ... also after reconnecting (the replay of unread)
    other.quit()
    again = h.connect()
    out = again.register("bob", password="bob-pw")
    assert not any("secret" in m.params[-1] for m in out)
    # alice still has her own conversation with the guest
    out = alice.send_take("CAP REQ :draft/chathistory batch", "CHATHISTORY LATEST bob * 50")
    assert only(out, "PRIVMSG") == []  # bob is now someone else: a new, empty conversation


def test_a_guest_registering_keeps_its_memberships() -> None:
    h = Harness()
    g = h.user("dora", REG)
    g.send("JOIN #knit")
    out = g.send_take("REGISTER * * dora-pw")
    assert one(out, "REGISTER").params[0] == "SUCCESS"
    assert {"#general", "#knit"} <= set(h.messenger.user("dora").rooms)  # type: ignore[union-attr]
    g.send("PRIVMSG #knit :still here")
    assert [p.text for p in h.messenger.rooms["#knit"].history] == ["still here"]


# ------------------------------------------------------------------ scheduled messages


def test_a_message_scheduled_to_a_guest_never_reaches_the_next_holder_of_the_nick() -> None:
    h = Harness()
    alice = h.user("alice", password="alice-pw")
    guest = h.user("bob")
    out = alice.send_take("DELAY 2m bob :for the guest only")
    assert any("guest" in t and "dropped" in t for t in notices(out)), notices(out)
    guest.quit()
    newcomer = h.user("bob")
    h.drain(alice, newcomer)
    h.advance(120)
    assert not any(m.command == "PRIVMSG" for m in newcomer.take())
    told = notices(alice.take())
    assert any("dropped" in t and "recipient is gone" in t for t in told), told


# ------------------------------------------------------------------ mutes on guests


def test_a_mute_on_a_guest_stays_with_its_address_not_its_nick() -> None:
    h = Harness(with_operator())
    op = h.user("root")
    oper_up(op)
    spam = h.connect("10.9.9.9")
    spam.register("spammer")
    op.send_take("PRIVMSG Messenger :mute spammer 1h flooding")
    out = spam.send_take("PRIVMSG #general :buy now")
    assert one(out, "404").params[1] == "#general"
    spam.quit()
    # the next guest called spammer, from elsewhere, is somebody else
    innocent = h.connect("10.1.1.1")
    innocent.register("spammer")
    out = innocent.send_take("PRIVMSG #general :hello")
    assert "404" not in cmds(out)
    # the muted guest back under another nick, from the same address: still muted
    back = h.connect("10.9.9.9")
    out = back.register("ham")
    assert any("You are muted until" in t for t in notices(out))
    out = back.send_take("PRIVMSG #general :buy now again")
    assert "404" in cmds(out)
    out = back.send_take("PRIVMSG root :psst")
    assert "531" in cmds(out)
    # the operator lifts it by the name it was given
    out = op.send_take("PRIVMSG Messenger :bans")
    assert any("spammer" in t for t in notices(out)), notices(out)
    op.send("PRIVMSG Messenger :unban spammer")
    assert "404" not in cmds(back.send_take("PRIVMSG #general :sorry"))


def test_clients_get_names_not_keys() -> None:
    """A guest's key is internal: nothing sent to clients shows it."""
    h = Harness()
    alice = h.user("alice", password="alice-pw")
    g = h.user("gus")
    key = g.session.user_key
    assert key != "gus" and "!" in key
    g.send("PRIVMSG alice :hi", "NICK gustav", "PRIVMSG alice :again")
    out = alice.take_lines()
    assert out and not any(key in line for line in out)


def test_a_guest_that_registers_and_drops_gets_its_unread_next_time_not_the_backlog() -> None:
    h = Harness()
    alice = h.user("alice", password="alice-pw")
    alice.send("PRIVMSG #general :old news")
    g = h.user("dora", REG)
    assert one(g.send_take("REGISTER * * dora-pw"), "REGISTER").params[0] == "SUCCESS"
    h.hub.close_session(g.session, "Connection reset")  # gone before it acknowledged anything
    alice.send("PRIVMSG #general :fresh")
    back = h.connect()
    texts = [m.params[-1] for m in back.register("dora", password="dora-pw")]
    assert any(t.endswith("fresh") for t in texts)
    assert not any(t.endswith("old news") for t in texts)  # that was the first visit's backlog

"""Channel modes in the engine: who may join and speak (+i/+k/+l/+b/+e/+I, +m/+v, -n, the m:
and a: extbans), invitations, #general's rules, masks, and that modes, lists, voices and
invitations survive a restart from the snapshot and from the journal (old journals, without
mode events, load as +nt)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ircd.messenger import Messenger, masks
from ircd.messenger.errors import (
    AlreadyMember,
    BadKey,
    BannedFromRoom,
    CannotSend,
    GeneralRoomRule,
    InvalidMode,
    InviteOnly,
    KeySet,
    ListFull,
    NotMember,
    NotOperator,
    RoomFull,
)
from ircd.messenger.model import MAX_LIST_ENTRIES

from .helpers import clock_of, durable, fast_hash, make, reloaded, replayed, say


def mask(user: str) -> str:
    return f"{user}!u@host"


def setup() -> Messenger:
    m = make()
    m.ensure_room("#general", "#general")
    for k in ("alice", "bob", "carol"):
        m.create_account(k, k.capitalize(), fast_hash("pw"))
    m.join("alice", "#x", "#x")  # alice is #x's operator
    return m


def test_a_new_room_is_nt_and_the_flags_change_only_by_an_operator() -> None:
    m = setup()
    room = m.rooms["#x"]
    assert room.flags == {"n", "t"}
    m.join("bob", "#x", "#x")
    with pytest.raises(NotOperator):
        m.set_mode("bob", "Bob", "#x", True, "m")
    assert m.set_mode("alice", "Alice", "#x", True, "m") == ""
    assert m.set_mode("alice", "Alice", "#x", True, "m") is None  # no change
    assert m.set_mode("bob", "Bob", "#x", True, "s", privileged=True) == ""
    assert room.flags == {"m", "n", "s", "t"}


def test_join_checks_in_order_and_an_invitation_overrides_them_once() -> None:
    m = setup()
    for mode, arg in [("i", ""), ("k", "sesame"), ("l", "1"), ("b", "bob")]:
        m.set_mode("alice", "Alice", "#x", True, mode, arg)
    with pytest.raises(BannedFromRoom):
        m.join("bob", "#x", "#x", mask=mask("bob"))
    m.set_mode("alice", "Alice", "#x", False, "b", "BOB!*@*")
    with pytest.raises(InviteOnly):
        m.join("bob", "#x", "#x", mask=mask("bob"))
    m.set_mode("alice", "Alice", "#x", True, "I", "*!u@host")
    with pytest.raises(BadKey):
        m.join("bob", "#x", "#x", mask=mask("bob"), password="wrong")
    with pytest.raises(RoomFull):
        m.join("bob", "#x", "#x", mask=mask("bob"), password="sesame")
    m.invite("alice", "#x", "bob")
    _room, joined = m.join("bob", "#x", "#x", mask=mask("bob"))
    assert joined and "bob" not in m.rooms["#x"].invited
    m.kick("alice", "#x", "bob")
    with pytest.raises(BadKey):
        m.join("bob", "#x", "#x", mask=mask("bob"))  # the invitation was used up


def test_invite_rules() -> None:
    m = setup()
    with pytest.raises(NotMember):
        m.invite("bob", "#x", "carol")
    m.join("bob", "#x", "#x")
    with pytest.raises(AlreadyMember):
        m.invite("alice", "#x", "bob")
    m.invite("bob", "#x", "carol")  # not +i: any member
    m.set_mode("alice", "Alice", "#x", True, "i")
    with pytest.raises(NotOperator):
        m.invite("bob", "#x", "carol")
    assert [r.key for r in m.invitations("carol")] == ["#x"]


def test_who_may_speak() -> None:
    m = setup()
    m.join("bob", "#x", "#x")
    with pytest.raises(NotMember):
        say(m, "carol", "#x", "from outside")
    m.set_mode("alice", "Alice", "#x", False, "n")
    say(m, "carol", "#x", "from outside, -n")
    m.set_mode("alice", "Alice", "#x", True, "m")
    with pytest.raises(CannotSend):
        say(m, "bob", "#x", "moderated")
    say(m, "alice", "#x", "operators speak")
    m.set_voice("alice", "#x", "bob", True)
    say(m, "bob", "#x", "voiced")
    m.set_mode("alice", "Alice", "#x", False, "m")
    m.set_voice("alice", "#x", "bob", False)
    m.set_mode("alice", "Alice", "#x", True, "b", "m:bob")
    with pytest.raises(CannotSend):
        say(m, "bob", "#x", "muted")
    m.join("bob", "#y", "#y")  # a mute keeps nobody out
    m.set_mode("alice", "Alice", "#x", True, "e", "m:*!u@*")
    say(m, "bob", "#x", "excepted")


def test_account_extban_matches_accounts_not_nicks() -> None:
    m = setup()
    m.set_mode("alice", "Alice", "#x", True, "b", "a:b*")
    with pytest.raises(BannedFromRoom):
        m.join("bob", "#x", "#x", mask=mask("bob"))
    m.attach_guest("bob!1", "Bobby", address="198.51.100.1")
    m.join("bob!1", "#x", "#x", mask=mask("Bobby"))  # a guest has no account


def test_the_general_rooms_rules() -> None:
    m = setup()
    m.join("bob", "#general", "#general")
    with pytest.raises(GeneralRoomRule):
        m.set_mode("bob", "Bob", "#general", True, "m")
    m.set_op("root", "#general", "bob", True, privileged=True)
    with pytest.raises(GeneralRoomRule):  # its channel operators neither
        m.set_mode("bob", "Bob", "#general", True, "m")
    for mode, arg in [("i", ""), ("k", "x"), ("l", "5"), ("b", "*!*@*"), ("b", "*"), ("b", "a:*")]:
        with pytest.raises(InvalidMode):
            m.set_mode("root", "root", "#general", True, mode, arg, privileged=True)
    assert m.set_mode("root", "root", "#general", True, "b", "spammer", privileged=True)
    assert m.set_mode("root", "root", "#general", True, "b", "m:*!*@*", privileged=True)


def test_key_limit_and_list_errors() -> None:
    m = setup()
    with pytest.raises(InvalidMode):
        m.set_mode("alice", "Alice", "#x", True, "k", "with space")
    m.set_mode("alice", "Alice", "#x", True, "k", "one")
    with pytest.raises(KeySet):
        m.set_mode("alice", "Alice", "#x", True, "k", "two")
    assert m.set_mode("alice", "Alice", "#x", False, "k") == "*"
    with pytest.raises(InvalidMode):
        m.set_mode("alice", "Alice", "#x", True, "l", "0")
    with pytest.raises(InvalidMode):
        m.set_mode("alice", "Alice", "#x", True, "I", "m:bob")
    with pytest.raises(InvalidMode):
        m.set_mode("alice", "Alice", "#x", True, "z")
    for i in range(MAX_LIST_ENTRIES):
        m.set_mode("alice", "Alice", "#x", True, "b", f"spam{i}")
    with pytest.raises(ListFull):
        m.set_mode("alice", "Alice", "#x", True, "b", "one-too-many")


def test_modes_lists_voices_and_invitations_survive_a_restart() -> None:
    m = setup()
    m.join("bob", "#x", "#x")
    for mode, arg in [("i", ""), ("t", ""), ("k", "sesame"), ("l", "9"), ("b", "m:eve")]:
        m.set_mode("alice", "Alice", "#x", mode != "t", mode, arg)
    m.set_mode("alice", "Alice", "#x", True, "e", "a:carol")
    m.set_voice("alice", "#x", "bob", True)
    m.invite("alice", "#x", "carol")
    events = m.take_events()
    expected = durable(m)
    assert durable(reloaded(m)) == expected
    assert durable(replayed(events, m)) == expected
    again = reloaded(m)
    room = again.rooms["#x"]
    assert (room.flags, room.join_key, room.limit) == ({"i", "n"}, "sesame", 9)
    assert room.voiced == {"bob"} and room.invited == {"carol"}
    assert [e.mask for e in room.lists["b"].values()] == ["m:eve!*@*"]


def test_an_old_journal_without_mode_events_loads_as_nt() -> None:
    m = make()
    m.replay(
        [
            {"t": "room", "r": "#old", "n": "#Old", "ts": clock_of(m).now()},
            {"t": "topic", "r": "#old", "text": "hi", "by": "Ann", "ts": clock_of(m).now()},
        ]
    )
    room = m.rooms["#old"]
    assert room.flags == {"n", "t"} and not room.join_key and not room.lists


def test_mask_normal_forms_and_matching() -> None:
    assert masks.normalise("bob") == "bob!*@*"
    assert masks.normalise("*@host") == "*!*@host"
    assert masks.normalise("bob!u") == "bob!u@*"
    assert masks.normalise("m:bob") == "m:bob!*@*"
    assert masks.normalise("m:a:bob") == "m:a:bob"
    assert masks.normalise("*@2001:db8::1") == "*!*@2001:db8::1"  # IPv6: not an extban
    for bad in ("", "a b", "x:bob", "m:m:bob", "m:", ":bob", "a:", "m::x", "q\x01"):
        assert masks.normalise(bad) is None, bad
    assert masks.matches("bob!*@*", "bob!u@host", None)
    assert masks.matches("a:b?b", "", "bob")
    assert not masks.matches("a:bob", "bob!u@host", None)
    assert masks.matches_everyone("*!*@*") and not masks.matches_everyone("*!*@*.example")


@given(st.text(max_size=60))
def test_normalise_gives_a_stored_form_that_is_its_own_normal_form(text: str) -> None:
    """Property: whatever a client sends, the stored mask is a word with a nick!user@host
    shape (or an extban over one), and normalising it again changes nothing."""
    norm = masks.normalise(text)
    if norm is None:
        return
    assert norm and " " not in norm and "," not in norm and not norm.startswith(":")
    assert masks.normalise(norm) == norm
    inner = norm[2:] if norm.startswith("m:") else norm
    assert inner.startswith("a:") or ("!" in inner and "@" in inner)


def test_a_guest_who_registers_keeps_its_voice_invitation_and_the_rooms_modes() -> None:
    """A room of guests only is in no snapshot: when a guest of it registers, the room's modes
    and lists are journaled again with it, and the guest's voice and invitations become the
    account's (a restart from the journal alone has them)."""
    m = make()
    m.ensure_room("#general", "#general")
    m.attach_guest("gus!1", "Gus", address="198.51.100.1")
    m.attach_guest("gwen!2", "Gwen", address="198.51.100.2")
    m.join("gwen!2", "#g", "#g")  # gwen is #g's operator
    m.join("gus!1", "#g", "#g")
    m.set_mode("gwen!2", "Gwen", "#g", True, "m")
    m.set_mode("gwen!2", "Gwen", "#g", True, "b", "m:spam")
    m.set_voice("gwen!2", "#g", "gus!1", True)
    m.join("gwen!2", "#h", "#h")
    m.invite("gwen!2", "#h", "gus!1")
    m.register("gus!1", "gus", "Gus", fast_hash("pw"))
    assert "gus" in m.rooms["#g"].voiced and "gus" in m.rooms["#h"].invited
    events = m.take_events()
    again = replayed(events, m)
    g = again.rooms["#g"]
    assert g.flags == {"m", "n", "t"} and [e.mask for e in g.lists["b"].values()] == ["m:spam!*@*"]
    assert g.voiced == {"gus"} and again.rooms["#h"].invited == {"gus"}

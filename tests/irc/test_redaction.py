"""REDACT, draft/message-redaction (https://ircv3.net/specs/extensions/message-redaction), at the
adapter tier: who may delete what, the relay to clients with the capability only, the FAIL
codes of the spec's "Errors" section, and the message leaving backlog, unread and CHATHISTORY
("Chat history": responses SHOULD exclude it entirely). The cases follow irctest's
server_tests/redact.py."""

from __future__ import annotations

from ircd.wire import Message

from .harness import Client, Harness, cmds, only
from .operators import oper_up, with_operator

CAPS = "message-tags echo-message batch labeled-response draft/message-redaction"


def said(c: Client, target: str, text: str) -> str:
    """``c`` says ``text`` to ``target``; its echo's msgid."""
    out = c.send_take(f"PRIVMSG {target} :{text}")
    echo = [m for m in out if m.command == "PRIVMSG"]
    assert len(echo) == 1, [m.format() for m in out]
    return echo[0].tags["msgid"]


def channel(h: Harness, *clients: Client, name: str = "#chan") -> None:
    for c in clients:  # the first to join is the channel operator
        c.send(f"JOIN {name}")
    h.drain(*clients)


def redacts(out: list[Message]) -> list[tuple[str, ...]]:
    return [(m.source or "", *m.params) for m in out if m.command == "REDACT"]


def test_the_sender_deletes_its_own_message_everyone_with_the_cap_is_told() -> None:
    """Spec "Command": the server SHOULD forward the REDACT "with an appropriate prefix, to
    the target recipients that have negotiated the capability"; no reason, two params."""
    h = Harness()
    alice, bob = h.user("alice", CAPS), h.user("bob", CAPS)
    channel(h, alice, bob)
    mid = said(bob, "#chan", "Hello everyone")
    h.drain(alice)
    out = bob.send_take(f"REDACT #chan {mid}")
    mask = bob.session.mask
    assert redacts(out) == [(mask, "#chan", mid)]
    got = alice.take()
    assert redacts(got) == [(mask, "#chan", mid)]
    # the spec's examples give the REDACT a msgid of its own (message-tags is negotiated)
    assert got[0].tags["msgid"] not in ("", mid) and "time" not in got[0].tags
    timed = h.user("carol", CAPS + " server-time")
    channel(h, timed)
    mid = said(bob, "#chan", "again")
    h.drain(alice, timed)
    bob.send_take(f"REDACT #chan {mid}")
    assert set(timed.take()[0].tags) == {"msgid", "time"}


def test_a_channel_operator_deletes_anothers_message_with_a_reason() -> None:
    h = Harness()
    alice, bob = h.user("alice", CAPS), h.user("bob", CAPS)
    channel(h, alice, bob)
    mid = said(bob, "#chan", "Hi Alice")
    h.drain(alice)
    out = alice.send_take(f"REDACT #chan {mid} :spam")
    assert redacts(out) == [(alice.session.mask, "#chan", mid, "spam")]
    assert redacts(bob.take()) == [(alice.session.mask, "#chan", mid, "spam")]


def test_a_member_cannot_delete_anothers_message() -> None:
    """Spec "Errors": FAIL REDACT REDACT_FORBIDDEN <target> <target-msgid> :..."""
    h = Harness()
    alice, bob = h.user("alice", CAPS), h.user("bob", CAPS)
    channel(h, alice, bob)
    mid = said(alice, "#chan", "Another message")
    h.drain(bob)
    out = bob.send_take(f"REDACT #chan {mid}")
    assert [m.params[:4] for m in out] == [("REDACT", "REDACT_FORBIDDEN", "#chan", mid)]
    assert out[0].command == "FAIL"
    assert alice.take() == []


def test_operator_status_in_one_channel_gives_nothing_in_another() -> None:
    """irctest testOpInOtherChannelCanRedactOwnButNotOthers."""
    h = Harness()
    alice, bob = h.user("alice", CAPS), h.user("bob", CAPS)
    channel(h, alice, name="#alice")
    channel(h, bob, alice, name="#bob")
    mine = said(alice, "#bob", "Hello from alice")
    h.drain(bob)
    assert redacts(alice.send_take(f"REDACT #bob {mine}")) == [(alice.session.mask, "#bob", mine)]
    h.drain(bob)
    his = said(bob, "#bob", "Hello from bob")
    h.drain(alice)
    out = alice.send_take(f"REDACT #bob {his}")
    assert [m.params[1] for m in out] == ["REDACT_FORBIDDEN"]
    out = alice.send_take(f"REDACT #alice {his}")  # not a message of #alice
    assert [m.params[1] for m in out] == ["UNKNOWN_MSGID"]
    assert bob.take() == []


def test_a_server_operator_deletes_in_a_channel_it_is_not_in() -> None:
    """irctest testOperCanRedactInUnjoinedChannel: the REDACT goes to the members and to the
    operator."""
    h = Harness(with_operator())
    alice, bob, root = h.user("alice", CAPS), h.user("bob", CAPS), h.user("root", CAPS)
    channel(h, alice, bob)
    oper_up(root)
    mid = said(bob, "#chan", "Hi Alice")
    h.drain(alice)
    out = root.send_take(f"REDACT #chan {mid} :spam")
    want = [(root.session.mask, "#chan", mid, "spam")]
    assert redacts(out) == want
    assert redacts(alice.take()) == want
    assert redacts(bob.take()) == want


def test_errors_unknown_msgid_invalid_target_and_tagmsg() -> None:
    """Spec "Errors": UNKNOWN_MSGID <target> <msgid>, INVALID_TARGET <target>. A TAGMSG is
    not stored, so its msgid is unknown (irctest testRedactTagmsg accepts that)."""
    h = Harness()
    alice, bob = h.user("alice", CAPS), h.user("bob", CAPS)
    channel(h, alice, bob)
    out = alice.send_take("REDACT #chan nonexistent123")
    assert out[0].command == "FAIL"
    assert out[0].params[:4] == ("REDACT", "UNKNOWN_MSGID", "#chan", "nonexistent123")
    for target in ("#fake", "#general-not", "nosuchnick", "Messenger"):
        out = alice.send_take(f"REDACT {target} somemsgid")
        assert [m.params[:3] for m in out] == [("REDACT", "INVALID_TARGET", target)], target
    h.drain(bob)
    out = alice.send_take("@+draft/react=x TAGMSG #chan")
    tag_id = only(out, "TAGMSG")[0].tags["msgid"]
    h.drain(bob)
    out = alice.send_take(f"REDACT #chan {tag_id}")
    assert [m.params[:4] for m in out] == [("REDACT", "UNKNOWN_MSGID", "#chan", tag_id)]
    assert bob.take() == []
    # in a channel one left: only one's own messages, and about others' nothing is told
    mid = said(alice, "#chan", "before leaving")
    bobs = said(bob, "#chan", "bob's")
    alice.send("PART #chan")
    h.drain(alice, bob)
    for other in (bobs, "nonexistent123"):
        out = alice.send_take(f"REDACT #chan {other}")
        assert [m.params[:3] for m in out] == [("REDACT", "INVALID_TARGET", "#chan")]
    assert redacts(alice.send_take(f"REDACT #chan {mid}")) == [(alice.session.mask, "#chan", mid)]
    assert redacts(bob.take()) == [(alice.session.mask, "#chan", mid)]


def test_not_relayed_to_clients_without_the_capability() -> None:
    """Spec: the server "MUST not forward this REDACT to target recipients that have not
    negotiated this capability"; we send no fallback either (the spec leaves it optional)."""
    h = Harness()
    alice, bob = h.user("alice", CAPS), h.user("bob", "message-tags echo-message")
    channel(h, alice, bob)
    mid = said(alice, "#chan", "Test message")
    h.drain(bob)
    assert redacts(alice.send_take(f"REDACT #chan {mid}")) == [(alice.session.mask, "#chan", mid)]
    assert bob.take() == []


def test_a_client_without_the_cap_may_redact_and_gets_a_notice() -> None:
    """irssi sends it with /quote: it works, and the answer is a notice (errors too)."""
    h = Harness()
    alice = h.user("alice", "message-tags echo-message")
    mid = said(alice, "#general", "typo")
    out = alice.send_take(f"REDACT #general {mid}")
    assert cmds(out) == ["NOTICE"] and mid in out[0].params[1]
    out = alice.send_take(f"REDACT #general {mid}")
    assert cmds(out) == ["NOTICE"] and "does not exist" in out[0].params[1]


def test_the_message_leaves_chathistory_backlog_and_unread() -> None:
    """Spec "Chat history": CHATHISTORY responses SHOULD exclude it entirely (irctest
    testRedactedMessageDisappearsFromChathistory); the backlog of a new joiner and the unread
    of an account that was away no longer have it either."""
    h = Harness()
    ch = CAPS + " server-time draft/chathistory"
    alice = h.user("alice", ch, password="alicepw")
    carol = h.user("carol", password="carolpw")
    carol.quit()
    keep = said(alice, "#general", "keep this")
    mid = said(alice, "#general", "This message will be redacted")
    alice.send_take(f"REDACT #general {mid}")
    out = alice.send_take("CHATHISTORY LATEST #general * 10")
    texts = [m.params[1] for m in out if m.command == "PRIVMSG"]
    assert texts == ["keep this"]
    assert [m.tags["msgid"] for m in out if m.command == "PRIVMSG"] == [keep]
    newcomer = h.connect()
    burst = newcomer.register("dave")
    assert "This message will be redacted" not in " ".join(m.format() for m in burst)
    assert "keep this" in " ".join(m.format() for m in burst)
    back = h.connect()
    burst = back.register("carol", password="carolpw")
    replayed = [m.params[1] for m in burst if m.command == "PRIVMSG"]
    assert any("keep this" in t for t in replayed)
    assert not any("redacted" in t for t in replayed), replayed


def test_private_messages_by_their_sender_both_ends_are_told() -> None:
    """irctest testRedactDirectMessage: the REDACT's target is the PRIVMSG's (the
    recipient), for both ends."""
    h = Harness()
    alice = h.user("alice", CAPS, password="alicepw")
    bob = h.user("bob", CAPS, password="bobpw")
    mid = said(alice, "bob", "Private message")
    h.drain(bob)
    out = bob.send_take(f"REDACT alice {mid}")  # not bob's to delete
    assert [m.params[1] for m in out] == ["REDACT_FORBIDDEN"]
    out = alice.send_take(f"REDACT bob {mid}")
    assert redacts(out) == [(alice.session.mask, "bob", mid)]
    assert redacts(bob.take()) == [(alice.session.mask, "bob", mid)]
    out = bob.send_take("CHATHISTORY LATEST alice * 10")
    assert not only(out, "PRIVMSG")


def test_operators_see_complained_messages_with_their_ids_and_delete_them() -> None:
    """Complaints and redaction together: the operators' complaints list shows the user's
    recent messages (in channels, and to the complainers) with the REDACT that deletes
    each, and that REDACT works."""
    h = Harness(with_operator())
    root = h.user("root", CAPS)
    oper_up(root)
    bob = h.user("bob", CAPS, password="bobpw")
    ann = h.user("ann", CAPS, password="annpw")
    spam = said(bob, "#general", "buy cheap stuff")
    rude = said(bob, "ann", "you are dumb")
    said(bob, "root", "a private word that is not complained about")
    ann.send_take("COMPLAIN bob :spam and insults")
    out = root.send_take("PRIVMSG Messenger :complaints")
    text = [m.params[1] for m in out if m.command == "NOTICE"]
    assert any(f"REDACT #general {spam}" in t and "buy cheap stuff" in t for t in text), text
    assert any(f"REDACT bob {rude}" in t and "to ann" in t for t in text), text
    assert not any("not complained" in t for t in text)
    h.drain(bob, ann)
    assert redacts(root.send_take(f"REDACT #general {spam} :spam")) == [
        (root.session.mask, "#general", spam, "spam")
    ]
    assert redacts(root.send_take(f"REDACT bob {rude}")) == [(root.session.mask, "ann", rude)]
    assert redacts(ann.take()) == [
        (root.session.mask, "#general", spam, "spam"),
        (root.session.mask, "ann", rude),
    ]
    out = root.send_take("PRIVMSG Messenger :complaints")
    assert not any(spam in m.params[1] or rude in m.params[1] for m in out)


def test_the_bans_list_shows_a_muted_users_channel_messages_to_delete() -> None:
    """Complaints that mute a user are cleared by the mute: the operators' bans list then
    shows what the user said in its channels, with the REDACT for each."""
    h = Harness(with_operator(moderation={"complaints_to_ban": 1}))
    root = h.user("root", CAPS)
    oper_up(root)
    bob = h.user("bob", CAPS, password="bobpw")
    ann = h.user("ann", CAPS, password="annpw")
    spam = said(bob, "#general", "buy cheap stuff")
    said(bob, "ann", "private: not listed after the mute")
    ann.send_take("COMPLAIN bob :spam")
    assert bob.h.messenger.ban_of(bob.session.user_key) is not None
    out = root.send_take("PRIVMSG Messenger :bans")
    text = [m.params[1] for m in out if m.command == "NOTICE"]
    assert any(f"REDACT #general {spam}" in t for t in text), text
    assert not any("private" in t for t in text)


def test_a_muted_user_deletes_its_own_message_without_a_reason() -> None:
    """The reason would be text from a muted user to its channels: it is dropped."""
    h = Harness(with_operator())
    root = h.user("root")
    oper_up(root)
    bob, ann = h.user("bob", CAPS), h.user("ann", CAPS)
    mid = said(bob, "#general", "regrettable")
    root.send_take("PRIVMSG Messenger :mute bob 10m")
    h.drain(bob, ann)
    bob.send_take(f"REDACT #general {mid} :buy my stuff at example.com")
    assert redacts(ann.take()) == [(bob.session.mask, "#general", mid)]


def test_no_reason_from_one_who_may_not_speak_in_the_channel() -> None:
    """In a +m channel an unvoiced member may delete its message, without a reason."""
    h = Harness()
    alice, bob = h.user("alice", CAPS), h.user("bob", CAPS)
    channel(h, alice, bob)
    mid = said(bob, "#chan", "before +m")
    alice.send_take("MODE #chan +m")
    h.drain(bob)
    bob.send_take(f"REDACT #chan {mid} :visit example.com")
    assert redacts(alice.take()) == [(bob.session.mask, "#chan", mid)]

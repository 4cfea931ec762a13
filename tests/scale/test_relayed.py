"""Lines no engine event shows reach the clients of every node (docs/scale-out.md): a PART's
reason, REDACT, INVITE and invite-notify, TAGMSG, and the service's notices about a scheduled
message that was postponed, held or dropped on another node, and of a mute's end."""

from __future__ import annotations

from typing import Any

from ircd.wire import Message
from tests.conftest import RawClient
from tests.scale.test_devices import devices_on, two_devices, until
from tests.scale.test_network import Start, clients, nodes

__all__ = ["clients", "nodes"]  # the fixtures

RED = "draft/message-redaction message-tags server-time"


def is_(command: str, *params: str) -> Any:
    return lambda m: m.command == command and m.params == params


async def joined(c: RawClient, channel: str) -> None:
    c.send(f"JOIN {channel}")
    await c.expect(lambda m: m.command == "366" and m.params[1] == channel)


async def test_a_part_reason_reaches_the_other_nodes(nodes: Start, clients: Any) -> None:
    """modern.ircdocs.horse "PART message": ``:nick PART #channel :reason`` to the channel's
    members on every node (a guest's leaving and an account's), and to the account's own
    devices on other nodes."""
    n1, n2 = await nodes(), await nodes()
    carol = await clients(n2)
    await carol.registered_and_joined("carol")
    guest = await clients(n1)
    await guest.registered_and_joined("guest")
    await carol.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("guest!"))
    guest.send("PART #general :off to lunch")
    got = await carol.expect("PART")
    assert (got.source or "").startswith("guest!") and got.params == ("#general", "off to lunch")
    a1, a2 = await two_devices(n1, n2, clients)
    await until(lambda: devices_on(n2, "alice") == 2, "n2 sees two devices")
    a1.send("PART #general :gone fishing")
    for c in (a2, carol):
        got = await c.expect(
            lambda m: m.command == "PART" and (m.source or "").startswith("alice!")
        )
        assert got.params == ("#general", "gone fishing")
    a2.send("JOIN #general")
    await carol.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("alice!"))
    a1.send("PART #general")  # without a reason: none is shown
    got = await carol.expect(
        lambda m: m.command == "PART" and (m.source or "").startswith("alice!")
    )
    assert got.params == ("#general",)


async def test_a_redact_reaches_the_clients_of_other_nodes(nodes: Start, clients: Any) -> None:
    """ircv3.net/specs/extensions/message-redaction: the REDACT goes to the clients that got
    the message and negotiated the capability, on every node (with msgid and server-time
    tags to those with message-tags and server-time); the message leaves every history."""
    n1, n2 = await nodes(), await nodes()
    alice = await clients(n1)
    await alice.registered_and_joined("alice", caps=RED)
    bob = await clients(n2)
    await bob.registered_and_joined("bob", caps=RED)
    plain = await clients(n2)
    await plain.registered_and_joined("plain")
    await until(lambda: "plain" in n1.hub.nicks, "n1 sees plain")
    alice.send("PRIVMSG #general :oops, wrong window")
    msg = await bob.expect(lambda m: m.command == "PRIVMSG" and m.params[-1].startswith("oops"))
    assert msg.tags is not None
    msgid = msg.tags["msgid"]
    alice.send(f"REDACT #general {msgid} :typo")
    got = await bob.expect("REDACT")
    assert (got.source or "").startswith("alice!") and got.params == ("#general", msgid, "typo")
    assert got.tags is not None and "time" in got.tags and got.tags["msgid"] != msgid
    mine = await alice.expect("REDACT")
    assert mine.tags is not None and mine.tags["msgid"] == got.tags["msgid"]
    for srv in (n1, n2):
        room = srv.messenger.rooms[srv.hub.general_key]
        await until(lambda room=room: all(p.msgid != msgid for p in room.history), "gone")
    alice.send("PRIVMSG bob :just for you")
    dm = await bob.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == "just for you")
    assert dm.tags is not None
    alice.send(f"REDACT bob {dm.tags['msgid']}")
    got = await bob.expect("REDACT")
    assert got.params == ("bob", dm.tags["msgid"])
    await plain.sync()
    assert not any(" REDACT " in line for line in plain.lines)


async def test_an_invite_to_a_user_of_another_node(nodes: Start, clients: Any) -> None:
    """modern.ircdocs.horse "INVITE message" and ircv3.net/specs/extensions/invite-notify:
    the invitee on another node gets the INVITE and may join the +i channel there; members
    with invite-notify on other nodes who may invite (in a +i channel its operators) get the
    line, the others do not."""
    n1, n2 = await nodes(), await nodes()
    alice = await clients(n1)
    await alice.registered_and_joined("alice", password="pw")
    bob = await clients(n2)
    await bob.registered_and_joined("bob", password="pw", caps="invite-notify account-tag")
    dave = await clients(n2)
    await dave.registered_and_joined("dave", caps="invite-notify")
    await joined(alice, "#club")
    for c in (bob, dave):
        await joined(c, "#club")
    alice.send("MODE #club +io bob")
    await bob.expect(lambda m: m.command == "MODE" and m.params[0] == "#club")
    await until(lambda: "bob" in n2.messenger.rooms["#club"].ops, "bob is an operator on n2")
    await dave.sync()
    carol = await clients(n2)
    await carol.registered_and_joined("carol")
    await until(lambda: "carol" in n1.hub.nicks, "n1 sees carol")
    carol.send("JOIN #club")
    assert (await carol.expect("473")).params[1] == "#club"  # +i: not without an invitation
    alice.send("INVITE carol #club")
    assert (await alice.expect("341")).params[1:] == ("carol", "#club")
    got = await carol.expect("INVITE")
    assert (got.source or "").startswith("alice!") and got.params == ("carol", "#club")
    note = await bob.expect("INVITE")
    assert note.params == ("carol", "#club") and note.tags == {"account": "alice"}
    carol.send("JOIN #club")
    await carol.expect(lambda m: m.command == "366" and m.params[1] == "#club")
    await alice.expect(lambda m: m.command == "JOIN" and (m.source or "").startswith("carol!"))
    await dave.sync()
    assert not any(" INVITE " in line for line in dave.lines)


async def test_tagmsg_reaches_other_nodes(nodes: Start, clients: Any) -> None:
    """ircv3.net/specs/extensions/message-tags and client-tags/typing: a TAGMSG to a channel
    and to a nick reaches the clients of other nodes that negotiated message-tags, with the
    client-only tags as sent; clients without message-tags get nothing. It is no event."""
    n1, n2 = await nodes(), await nodes()
    alice = await clients(n1)
    await alice.registered_and_joined("alice", caps="message-tags")
    bob = await clients(n2)
    await bob.registered_and_joined("bob", caps="message-tags server-time")
    plain = await clients(n2)
    await plain.registered_and_joined("plain")
    await until(lambda: "plain" in n1.hub.nicks, "n1 sees plain")
    events = n2.messenger.seq
    alice.send("@+typing=active TAGMSG #general")
    got: Message = await bob.expect("TAGMSG")
    assert got.params == ("#general",) and (got.source or "").startswith("alice!")
    assert got.tags is not None and got.tags["+typing"] == "active"
    assert "time" in got.tags and "msgid" in got.tags
    alice.send("@+typing=paused;+draft/reply=x TAGMSG bob")
    got = await bob.expect("TAGMSG")
    assert got.params == ("bob",)
    assert (
        got.tags is not None and got.tags["+typing"] == "paused" and got.tags["+draft/reply"] == "x"
    )
    await plain.sync()
    assert not any(" TAGMSG " in line for line in plain.lines)
    assert n2.messenger.seq == events  # no post: nothing in any history


async def test_a_postponed_scheduled_message_is_told_on_every_device(
    nodes: Start, clients: Any
) -> None:
    """A delayed message (README, Messenger commands) that finds the quota used up is
    postponed: its author's devices on both nodes are told, whichever node fired it."""
    limits = {"limits": {"messages_per_period": 2}}
    n1, n2 = await nodes(**limits), await nodes(**limits)
    a1, a2 = await two_devices(n1, n2, clients)
    for i in range(2):
        a1.send(f"PRIVMSG #general :spent {i}")
    await a2.expect(lambda m: m.command == "PRIVMSG" and m.params[-1] == "spent 1")
    a1.send("PRIVMSG Messenger :delay 1s #general later")
    for device in (a1, a2):
        got = await device.expect(
            lambda m: m.command == "NOTICE" and "is postponed" in m.params[-1], timeout=10
        )
        assert got.params[-1].startswith("Scheduled message #1 to #general is postponed to ")


async def test_a_dropped_scheduled_message_is_told_on_every_device(
    nodes: Start, clients: Any
) -> None:
    """A delayed message to a channel its author has left by then is dropped: its author's
    devices on both nodes are told why."""
    n1, n2 = await nodes(), await nodes()
    a1, a2 = await two_devices(n1, n2, clients)
    a1.send("PRIVMSG Messenger :delay 1s #general never")
    await a1.expect(lambda m: m.command == "NOTICE" and "#1" in m.params[-1])
    a1.send("PART #general")
    await a2.expect("PART")
    for device in (a1, a2):
        got = await device.expect(
            lambda m: m.command == "NOTICE" and "was dropped" in m.params[-1], timeout=10
        )
        assert got.params[-1].startswith(
            "Scheduled message #1 to #general was dropped: you are no longer in the channel"
        )


async def test_a_held_scheduled_message_and_the_mute_end_are_told_on_every_device(
    nodes: Start, clients: Any
) -> None:
    """A delayed message whose author is muted when it falls due is held until the mute ends;
    its author's devices on both nodes are told of the mute, of the hold, of the mute's end
    (whichever node ended it) and that it was sent."""
    mod = {"moderation": {"complaint_min_account_age": 0, "complaints_to_ban": 1, "ban_seconds": 3}}
    n1, n2 = await nodes(**mod), await nodes(**mod)
    a1, a2 = await two_devices(n1, n2, clients, nick="carol")
    ann = await clients(n1)
    await ann.registered_and_joined("ann", password="pw")
    a1.send("PRIVMSG Messenger :delay 1s #general patience")
    await a1.expect(lambda m: m.command == "NOTICE" and "#1" in m.params[-1])
    ann.send("COMPLAIN carol :spam")
    for device in (a1, a2):  # (ann is on n1: a2 is told from the Muted event)
        got = await device.expect(lambda m: m.command == "NOTICE" and "muted until" in m.params[-1])
        assert got.params[-1].startswith("You have been muted until ")
    for device in (a1, a2):
        got = await device.expect(
            lambda m: m.command == "NOTICE" and "is held" in m.params[-1], timeout=10
        )
        assert got.params[-1].startswith("Scheduled message #1 is held until ")
    sent = "Scheduled message #1 to #general was sent."
    ended = "Your mute has ended: you can send messages again."
    for device in (a1, a2):  # (in either order: "was sent" is shown from the events)
        told = set()
        for _ in range(2):
            got = await device.expect(
                lambda m: m.command == "NOTICE" and m.params[-1] in (sent, ended), timeout=10
            )
            told.add(got.params[-1])
        assert told == {sent, ended}

"""Unread for clients that pull history (draft/chathistory, https://ircv3.net/specs/extensions/
chathistory) but not all of it: Kiwi IRC pulls ``CHATHISTORY LATEST`` for the channels it joins
and never asks for private conversations. What such a client has not pulled within
``chat.unpulled_push_seconds`` of connecting is pushed to it (README "When a message counts as
received")."""

from __future__ import annotations

from .harness import Client, Harness, only

CAPS = "batch draft/chathistory server-time message-tags"


def away_then_back(h: Harness) -> Client:
    """alice's account was away while bob wrote in #general and to her; she is back, told."""
    alice = h.user("alice", CAPS, password="pw")
    alice.quit()
    bob = h.user("bob", password="pw2")
    bob.send("PRIVMSG #general :for everyone", "PRIVMSG alice :just for you")
    bob.take()
    back = h.connect()
    burst = back.register("alice", CAPS, password="pw")
    told = [m.params[-1] for m in only(burst, "NOTICE") if "Send UNREAD" in m.params[-1]]
    assert told and told[0].startswith("You had 2 unread messages"), [m.format() for m in burst]
    return back


def privmsgs(msgs: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(m.params[0], m.params[1]) for m in only(msgs, "PRIVMSG")]


def test_private_unread_is_pushed_to_a_client_that_pulls_only_channels() -> None:
    """chathistory: a client pulls the targets it wants. Kiwi asks for #general only; the
    private message is pushed to it once the grace is up, in a chathistory batch (IRCv3
    batch, "chathistory" type) with its original time and msgid."""
    h = Harness()
    back = away_then_back(h)
    got = back.send_take("CHATHISTORY LATEST #general * 50")
    assert privmsgs(got) == [("#general", "for everyone")]
    h.advance(5)
    assert privmsgs(back.take()) == []  # not yet: it may still pull
    h.advance(6)
    got = back.take()
    assert privmsgs(got) == [("alice", "just for you")]
    pm = only(got, "PRIVMSG")[0]
    assert pm.source.startswith("bob!") and "msgid" in pm.tags and "time" in pm.tags
    starts = [m for m in only(got, "BATCH") if m.params[0].startswith("+")]
    assert [m.params[1:] for m in starts] == [("chathistory", "bob")]
    assert any("You had 1 unread message" in m.params[-1] for m in only(got, "NOTICE"))
    h.advance(30)
    assert privmsgs(back.take()) == []  # once


def test_nothing_is_pushed_to_a_client_that_lists_its_conversations() -> None:
    """chathistory TARGETS: a client that lists its conversations (gamja) pulls them itself."""
    h = Harness()
    back = away_then_back(h)
    back.send_take(
        "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z"
        " timestamp=2100-01-01T00:00:00.000Z 50"
    )
    h.advance(11)
    assert privmsgs(back.take()) == []


def test_unread_pulled_in_time_is_not_pushed_again() -> None:
    """The messenger's UNREAD: a client that asks for its unread gets it once."""
    h = Harness()
    back = away_then_back(h)
    got = back.send_take("UNREAD")
    assert sorted(privmsgs(got)) == [("#general", "for everyone"), ("alice", "just for you")]
    h.advance(11)
    assert privmsgs(back.take()) == []


def test_pushed_private_unread_counts_as_received_once_acknowledged() -> None:
    """After the push and the client's PONG to the ack PING, the next visit has no unread."""
    h = Harness()
    back = away_then_back(h)
    back.send_take("CHATHISTORY LATEST #general * 50")
    h.advance(11)
    assert privmsgs(back.take()) == [("alice", "just for you")]
    for _ in range(3):  # answer every ack PING, as clients do, until none is outstanding
        h.advance(6)
        back.take()
        pings = [x for x in back.raw if x.startswith("PING :ack-")]
        for ping in pings:
            back.send("PONG :" + ping.split(":", 1)[1])
        back.raw.clear()
    back.quit()
    again = h.connect()
    burst = again.register("alice", CAPS, password="pw")
    told = [m.params[-1] for m in only(burst, "NOTICE") if "Send UNREAD" in m.params[-1]]
    assert told and told[0].startswith("No unread messages"), [m.format() for m in burst]
